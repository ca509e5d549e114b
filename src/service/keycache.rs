//! The API-key fast path: verification without a disk write or a slow hash per request.
//!
//! - Format and checksum are checked first (no look-up for a typo or a truncated key).
//! - Key records are cached in memory after their first look-up (unknown IDs too, so random
//!   well-formed keys cannot make every request a query). The secret is checked with
//!   HMAC-SHA-256 under the server secret, compared in constant time.
//! - Every mutation that can change a verdict (create, revoke, rotate, expiry change, feature
//!   switch, organization deletion) runs while holding `gate`, and updates the cache before it
//!   returns; cache misses load under the same gate. So a verdict is never staler than the
//!   last mutation that returned: revocation takes effect on the very next request.
//! - Uses are counted in memory (atomics) and flushed in one transaction every
//!   [`FLUSH_EVERY`] and at shutdown, never one write per request. Listings add the counts not
//!   yet flushed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use crate::crypto::Keyring;
use crate::domain::apikey::{self, Scope};
use crate::domain::{KeyId, OrgId};
use crate::error::{Error, Result};
use crate::store::{KeyRow, Store};

/// How often usage is written to the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);
const NEGATIVE_CAP: usize = 100_000;

/// Usage counters of one key. They outlive cache entries: `put` replaces the record but
/// keeps the counters, so a use counted on an entry being replaced is never lost.
#[derive(Debug, Default)]
struct Counters {
    uses: AtomicU64,
    last_used: AtomicI64,
}

#[derive(Debug)]
struct Entry {
    /// `None`: no key has this ID.
    record: Option<KeyRow>,
    counters: Arc<Counters>,
}

/// A verified key.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The key's ID.
    pub key_id: KeyId,
    /// Its organization.
    pub org_id: OrgId,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// Its expiry.
    pub expires_at: Option<i64>,
}

pub use crate::domain::apikey::Refusal;

/// The error for bearer authentication with a refused key.
pub fn refusal_error(r: Refusal) -> Error {
    match r {
        Refusal::Disabled => Error::FeatureDisabled("api_keys"),
        Refusal::Format(_) | Refusal::Unknown | Refusal::Revoked | Refusal::Expired => {
            Error::KeyRejected(r)
        }
    }
}

/// The key cache and usage counters.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<KeyId, Arc<Entry>>>,
    orgs: RwLock<HashMap<OrgId, bool>>,
    gate: Mutex<()>,
    last_flush: Mutex<Option<std::time::Instant>>,
    /// Look-ups answered from memory, and from the database (metrics).
    hits: AtomicU64,
    misses: AtomicU64,
}

fn now() -> i64 {
    crate::service::now()
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serialises a verdict-changing mutation with cache loads; hold it across the database
    /// write and the cache update.
    pub fn gate(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Key look-ups so far: (answered from the cache, loaded from the database).
    pub fn lookups(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn entry(&self, store: &Store, id: &KeyId) -> Result<Arc<Entry>> {
        if let Some(e) = self.keys.read().unwrap_or_else(|e| e.into_inner()).get(id) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(e.clone());
        }
        let _g = self.gate();
        if let Some(e) = self.keys.read().unwrap_or_else(|e| e.into_inner()).get(id) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(e.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let record = store.read(|c| c.api_key(id))?;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if record.is_none() && keys.len() > NEGATIVE_CAP {
            keys.retain(|_, e| e.record.is_some());
        }
        let e = Arc::new(Entry {
            record,
            counters: Arc::default(),
        });
        keys.insert(id.clone(), e.clone());
        Ok(e)
    }

    fn api_keys_enabled(&self, store: &Store, org: &OrgId, defaults: [bool; 3]) -> Result<bool> {
        if let Some(on) = self.orgs.read().unwrap_or_else(|e| e.into_inner()).get(org) {
            return Ok(*on);
        }
        let _g = self.gate();
        let stored = store.read(|c| c.org_features(org))?;
        let on = crate::service::authz::Features::over_defaults(&stored, defaults).api_keys;
        self.orgs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(org.clone(), on);
        Ok(on)
    }

    /// Verifies a presented key and, when valid, counts a use. With `only_org`, a key of any
    /// other organization is `Unknown` whatever its state, and is not counted.
    pub fn verify(
        &self,
        store: &Store,
        keyring: &Keyring,
        defaults: [bool; 3],
        raw: &str,
        only_org: Option<&OrgId>,
    ) -> Result<std::result::Result<Verified, Refusal>> {
        let parsed = match apikey::parse(raw) {
            Ok(p) => p,
            Err(f) => return Ok(Err(Refusal::Format(f))),
        };
        let entry = self.entry(store, &parsed.id)?;
        let Some(rec) = &entry.record else {
            return Ok(Err(Refusal::Unknown));
        };
        if only_org.is_some_and(|o| o != &rec.org_id)
            || !keyring.verify_token(parsed.full, &rec.secret_hash)
        {
            return Ok(Err(Refusal::Unknown));
        }
        let now = now();
        if rec.revoked_at.is_some() {
            return Ok(Err(Refusal::Revoked));
        }
        if rec.expires_at.is_some_and(|t| t <= now) {
            return Ok(Err(Refusal::Expired));
        }
        if !self.api_keys_enabled(store, &rec.org_id, defaults)? {
            return Ok(Err(Refusal::Disabled));
        }
        entry.counters.uses.fetch_add(1, Ordering::Relaxed);
        entry.counters.last_used.fetch_max(now, Ordering::Relaxed);
        Ok(Ok(Verified {
            key_id: rec.id.clone(),
            org_id: rec.org_id.clone(),
            scopes: rec.scopes.clone(),
            expires_at: rec.expires_at,
        }))
    }

    /// Replaces the cached record of a key (call with the gate held, after the write); its
    /// usage counters carry over untouched.
    pub fn put(&self, rec: KeyRow) {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let counters = keys
            .get(&rec.id)
            .map(|e| e.counters.clone())
            .unwrap_or_default();
        keys.insert(
            rec.id.clone(),
            Arc::new(Entry {
                record: Some(rec),
                counters,
            }),
        );
    }

    /// Sets an organization's `api_keys` switch (gate held).
    pub fn set_org_enabled(&self, org: &OrgId, on: bool) {
        self.orgs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(org.clone(), on);
    }

    /// Forgets an organization and its keys (gate held; after deleting it).
    pub fn drop_org(&self, org: &OrgId) {
        self.orgs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(org);
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, e| e.record.as_ref().is_none_or(|r| &r.org_id != org));
    }

    /// Uses not yet flushed for a key: (count, last use).
    pub fn pending(&self, id: &KeyId) -> (u64, i64) {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(|e| {
                (
                    e.counters.uses.load(Ordering::Relaxed),
                    e.counters.last_used.load(Ordering::Relaxed),
                )
            })
            .unwrap_or((0, 0))
    }

    /// Flushes when [`FLUSH_EVERY`] has passed since the last flush.
    pub fn flush_if_due(&self, store: &Store) -> Result<usize> {
        {
            let mut last = self.last_flush.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < FLUSH_EVERY) {
                return Ok(0);
            }
            *last = Some(std::time::Instant::now());
        }
        self.flush(store)
    }

    /// Writes pending usage in one transaction; counts are put back if the write fails.
    pub fn flush(&self, store: &Store) -> Result<usize> {
        let batch: Vec<(Arc<Entry>, KeyId, u64, i64)> = {
            let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
            keys.iter()
                .filter_map(|(id, e)| {
                    let n = e.counters.uses.swap(0, Ordering::Relaxed);
                    (n > 0).then(|| {
                        (
                            e.clone(),
                            id.clone(),
                            n,
                            e.counters.last_used.load(Ordering::Relaxed),
                        )
                    })
                })
                .collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let res = store.write(|tx| {
            for (_, id, n, last) in &batch {
                tx.add_api_key_usage(id.as_str(), *n, *last)?;
            }
            Ok(())
        });
        if let Err(e) = res {
            for (entry, _, n, _) in &batch {
                entry.counters.uses.fetch_add(*n, Ordering::Relaxed);
            }
            return Err(e);
        }
        // The flushed last-use now lives in the database; keep the in-memory value only as a
        // lower bound for listings.
        Ok(batch.len())
    }
}
