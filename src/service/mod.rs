//! Use cases, one file per area. Each takes the [`Context`] (defined here, built by the
//! composition root) and, where access is restricted, an access proof from [`authz`] that only
//! that module can build.

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod billing_source;
pub mod companies;
pub mod context;
pub mod dns;
pub mod email_change;
pub mod hooks;
pub mod invitations;
pub mod keycache;
pub mod mail;
pub mod me;
pub mod members;
pub mod org_plugins;
pub mod org_settings;
pub mod orgs;
pub mod passkeys;
pub mod passwords;
pub mod plugin_kv;
pub mod ratelimit;
pub mod setup;
pub mod sites;
pub mod sso;
pub mod sso_domains;
pub mod two_step;
pub mod two_step_policy;
pub mod users;

pub use context::Context;

/// Current unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A page of results with an opaque cursor for the next page.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Cursor for the next page, `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Default and maximum page sizes.
pub const PAGE_DEFAULT: usize = 50;
/// Maximum page size.
pub const PAGE_MAX: usize = 200;

/// Turns `limit + 1` fetched rows into a page whose cursor is the last row's key.
pub fn page_of<T>(mut rows: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page {
        data: rows,
        next_cursor,
    }
}
