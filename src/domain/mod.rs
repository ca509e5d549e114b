//! Domain types with their invariants: IDs, normalised emails, users and their preferences.
//! No IO lives here.

pub mod email;
pub mod ids;
pub mod user;

pub use email::Email;
pub use ids::UserId;
pub use user::{Auth, Preferences, Theme, User};
