//! Domain types with their invariants: IDs, normalised emails, users and their preferences,
//! roles and permissions.
//! No IO lives here.

pub mod apikey;
pub mod audit;
pub mod email;
pub mod entities;
pub mod ids;
pub mod org;
pub mod sso;
pub mod user;

pub use audit::AuditAction;
pub use email::{Email, EmailStatus};
pub use ids::{CompanyId, EventId, InvoiceId, KeyId, OrgId, SiteId, UserId};
pub use org::{
    CompanyAccess, CompanyRole, Feature, FeatureSwitches, InvitationState, InvitationStatus,
    OrgRole, Permission, ScopedRole,
};
pub use sso::{DomainClaimStatus, DomainProof, DomainVerifier, SsoFailure};
pub use user::{Auth, Preferences, Theme, User};
