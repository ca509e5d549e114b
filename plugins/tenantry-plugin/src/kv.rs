//! The plugin's key-value storage on the host (keys of 1 to 256 bytes, values up to
//! 64 KiB, at most 10 000 keys per plugin), and a JSON cache with a time to live on top.
//!
//! ```ignore
//! let keys: Jwks = kv::cached("jwks", 3600, || http::get_json(&jwks_uri))?;
//! ```

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The stored value of `key`.
pub fn get(key: &str) -> Option<Vec<u8>> {
    crate::sys::kv_get(key)
}

/// Stores `value` under `key`; an error `storage_error` when the host refuses (key or value
/// too large, too many keys, storage unavailable).
pub fn set(key: &str, value: &[u8]) -> Result<()> {
    crate::sys::kv_set(key, value)
        .map_err(|why| Error::new("storage_error", format!("kv set {key:?}: {why}")))
}

/// Removes `key` (nothing happens when it is not there).
pub fn delete(key: &str) {
    crate::sys::kv_delete(key)
}

/// How [`set_json`] stores a value: with its expiry.
#[derive(Serialize, Deserialize)]
struct Entry<T> {
    /// Milliseconds since the Unix epoch after which the entry is gone; none = never.
    expires_ms: Option<i64>,
    value: T,
}

/// The JSON value stored by [`set_json`] under `key`; none when it is missing, expired or
/// not a `T` (an expired or unreadable entry is removed).
pub fn get_json<T: DeserializeOwned>(key: &str) -> Option<T> {
    let bytes = get(key)?;
    match serde_json::from_slice::<Entry<T>>(&bytes) {
        Ok(entry)
            if entry
                .expires_ms
                .is_none_or(|e| crate::time::now_unix_ms() < e) =>
        {
            Some(entry.value)
        }
        _ => {
            delete(key);
            None
        }
    }
}

/// Stores `value` as JSON under `key`, for `ttl_secs` seconds (none = until replaced).
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T, ttl_secs: Option<u64>) -> Result<()> {
    let expires_ms = ttl_secs.map(|s| {
        crate::time::now_unix_ms()
            .saturating_add(i64::try_from(s).unwrap_or(i64::MAX / 1000) * 1000)
    });
    let bytes = serde_json::to_vec(&Entry { expires_ms, value }).map_err(|e| {
        Error::new(
            "storage_error",
            format!("kv set {key:?}: cannot encode: {e}"),
        )
    })?;
    set(key, &bytes)
}

/// The value cached under `key`, or else `f()`'s value, stored for `ttl_secs` seconds. A
/// failing `f` is not cached; a value the storage refuses is returned all the same (and
/// the refusal logged).
pub fn cached<T: Serialize + DeserializeOwned>(
    key: &str,
    ttl_secs: u64,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if let Some(hit) = get_json(key) {
        return Ok(hit);
    }
    let value = f()?;
    if let Err(e) = set_json(key, &value, Some(ttl_secs)) {
        log::warn!("not cached: {}", e.message);
    }
    Ok(value)
}
