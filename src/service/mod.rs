//! Use cases, one file per area. Each takes the [`App`](crate::app::App) and, where access is
//! restricted, an access proof from [`authz`] that only that module can build.

pub mod auth;
pub mod authz;
pub mod me;
pub mod ratelimit;
pub mod setup;
pub mod users;

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
