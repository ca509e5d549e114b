//! Domain types with their invariants: IDs, normalised emails, users and their preferences,
//! roles and permissions.
//! No IO lives here.

pub mod apikey;
pub mod email;
pub mod entities;
pub mod ids;
pub mod org;
pub mod user;

pub use email::Email;
pub use ids::{CompanyId, EventId, InvoiceId, KeyId, OrgId, SiteId, UserId};
pub use org::{CompanyAccess, CompanyRole, Feature, OrgRole, Permission};
pub use user::{Auth, Preferences, Theme, User};
