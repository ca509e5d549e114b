//! JSON API handlers (`/api/v1/…`), thin: parse, authorize, call the service, render.

pub mod auth;
pub mod companies;
pub mod invitations;
pub mod keys;
pub mod me;
pub mod org_plugins;
pub mod orgs;
pub mod passkeys;
pub mod passwords;
pub mod setup;
pub mod sso;
pub mod system;
pub mod two_step;
pub mod users;

use super::request::Req;
use crate::error::{Error, Result};
use crate::service::{PAGE_DEFAULT, PAGE_MAX};

/// Reads `?limit=&cursor=` with bounds.
pub fn page_params(req: &Req) -> Result<(Option<String>, usize)> {
    let limit = match req.query_param("limit") {
        None => PAGE_DEFAULT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=PAGE_MAX).contains(&n) => n,
            _ => {
                return Err(Error::field(
                    "limit",
                    &format!("must be a number from 1 to {PAGE_MAX}"),
                ))
            }
        },
    };
    Ok((req.query_param("cursor").filter(|c| !c.is_empty()), limit))
}
