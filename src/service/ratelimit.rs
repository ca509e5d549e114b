//! In-memory throttling of failed attempts with exponential back-off, per key (an account or a
//! client address). While a key is locked, every attempt is refused — the right password too.
//!
//! The state is bounded whatever clients send: a key longer than [`MAX_KEY`] bytes is stored
//! as its SHA-256 (a 1 MB "email" costs 64 bytes, not 1 MB), and at most [`MAX_ENTRIES`] keys
//! are kept. When full, keys idle past `forget_after` go first, then unlocked keys, oldest
//! failure first; locked keys are evicted last (only when every kept key is locked).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys up to this many bytes are kept as they are; longer ones are hashed.
pub const MAX_KEY: usize = 128;
/// At most this many keys are kept per limiter.
pub const MAX_ENTRIES: usize = 50_000;

/// The stored form of `key`: itself when short, else a SHA-256 of it (hex).
fn stored_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.len() <= MAX_KEY {
        return std::borrow::Cow::Borrowed(key);
    }
    let d = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut out = String::with_capacity(2 + 64);
    out.push_str("#:");
    for b in d.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    std::borrow::Cow::Owned(out)
}

/// How a [`Limiter`] backs off: the `free_failures`-th failure and each one after it lock the
/// key for `base * 2^(n - free_failures)`, capped at `max` (so with 5, the sixth attempt in a
/// row is refused). A key is forgotten after `forget_after` without failures.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Failures allowed before the first lock.
    pub free_failures: u32,
    /// The first lock's length.
    pub base: Duration,
    /// The longest lock.
    pub max: Duration,
    /// How long a key without failures is remembered.
    pub forget_after: Duration,
}

const MINUTE: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

/// The throttles of one running instance (kept in memory: a restart forgets them).
#[derive(Debug)]
pub struct Limits {
    /// Sign-in failures per account.
    pub login_account: Limiter,
    /// Sign-in failures per client address.
    pub login_client: Limiter,
    /// Password-reset and verification requests per address.
    pub reset: Limiter,
    /// Password-reset requests per client address.
    pub reset_client: Limiter,
    /// Invitation acceptance attempts per client address.
    pub invite: Limiter,
    /// Single sign-on starts per client address (each costs a plugin call and a stored flow).
    pub sso_start: Limiter,
    /// Unsuccessful DNS checks of SSO domains per organization (each can hold a worker for
    /// the whole DNS deadline).
    pub sso_verify: Limiter,
}

impl Default for Limits {
    fn default() -> Self {
        let per_second = |free_failures| {
            Limiter::new(Backoff {
                free_failures,
                base: SECOND,
                max: 15 * MINUTE,
                forget_after: 15 * MINUTE,
            })
        };
        let per_minute = |free_failures| {
            Limiter::new(Backoff {
                free_failures,
                base: MINUTE,
                max: 60 * MINUTE,
                forget_after: 60 * MINUTE,
            })
        };
        Limits {
            login_account: per_second(5),
            login_client: per_second(30),
            reset: per_minute(5),
            reset_client: per_minute(30),
            invite: per_second(20),
            sso_start: per_second(30),
            sso_verify: Limiter::new(Backoff {
                free_failures: super::sso_domains::VERIFY_FREE_ATTEMPTS,
                base: 30 * SECOND,
                max: 15 * MINUTE,
                forget_after: 60 * MINUTE,
            }),
        }
    }
}

/// A back-off limiter.
#[derive(Debug)]
pub struct Limiter {
    free_failures: u32,
    base: Duration,
    max: Duration,
    forget_after: Duration,
    state: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

impl Limiter {
    /// A limiter following `policy`.
    pub fn new(policy: Backoff) -> Self {
        let Backoff {
            free_failures,
            base,
            max,
            forget_after,
        } = policy;
        Limiter {
            free_failures,
            base,
            max,
            forget_after,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` while the key is locked.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let key = stored_key(key);
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.get(key.as_ref()).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err((until - now).as_secs_f64().ceil().max(1.0) as u64),
            _ => Ok(()),
        }
    }

    /// Records a failure; may lock the key.
    pub fn failure(&self, key: &str) {
        let now = Instant::now();
        let key = stored_key(key);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.len() >= MAX_ENTRIES && !state.contains_key(key.as_ref()) {
            self.make_room(&mut state, now);
        }
        let e = state.entry(key.into_owned()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(e.last_failure) > self.forget_after {
            e.failures = 0;
        }
        e.failures += 1;
        e.last_failure = now;
        if e.failures >= self.free_failures {
            let exp = (e.failures - self.free_failures).min(20);
            let wait = self.base.saturating_mul(1u32 << exp).min(self.max);
            e.locked_until = Some(now + wait);
        }
    }

    /// Clears a key after a success.
    pub fn success(&self, key: &str) {
        let key = stored_key(key);
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key.as_ref());
    }

    /// How many keys are kept (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no key is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees at least a tenth of the table: forgotten keys first, then unlocked keys with the
    /// oldest last failure, then (only if still full) the oldest locked keys. Runs once per
    /// `MAX_ENTRIES / 10` new keys at most, so a flood of new keys costs O(1) amortised.
    fn make_room(&self, state: &mut HashMap<String, Entry>, now: Instant) {
        let forget = self.forget_after;
        state.retain(|_, e| now.duration_since(e.last_failure) < forget);
        let target = MAX_ENTRIES - MAX_ENTRIES / 10;
        if state.len() <= target {
            return;
        }
        let mut order: Vec<(bool, Instant, String)> = state
            .iter()
            .map(|(k, e)| {
                let locked = e.locked_until.is_some_and(|u| u > now);
                (locked, e.last_failure, k.clone())
            })
            .collect();
        order.sort_unstable_by_key(|e| (e.0, e.1));
        let excess = state.len() - target;
        for (_, _, k) in order.into_iter().take(excess) {
            state.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 11: 1 MB keys and a flood of distinct keys must not grow the state without bound.
    #[test]
    fn long_keys_are_hashed_and_entries_are_capped() {
        let l = Limiter::new(Backoff {
            free_failures: 5,
            base: Duration::from_secs(600),
            max: Duration::from_secs(600),
            forget_after: Duration::from_secs(3600),
        });
        let big = "x".repeat(1 << 20);
        l.failure(&big);
        let stored: usize = l.state.lock().unwrap().keys().map(String::len).sum();
        assert!(stored <= MAX_KEY, "a 1 MB key is stored as {stored} bytes");
        // The hashed key still identifies the same caller.
        for _ in 0..5 {
            l.failure(&big);
        }
        assert!(l.check(&big).is_err(), "the long key is throttled");
        assert!(
            l.check(&format!("{big}y")).is_ok(),
            "another long key is not"
        );

        // A locked account survives a flood of distinct keys.
        for _ in 0..5 {
            l.failure("victim@example.test");
        }
        assert!(l.check("victim@example.test").is_err());
        for i in 0..(MAX_ENTRIES * 3) {
            l.failure(&format!("{i}-{}", "k".repeat(200)));
            assert!(l.len() <= MAX_ENTRIES, "{} entries after {i} keys", l.len());
        }
        assert!(
            l.check("victim@example.test").is_err(),
            "the flood evicted a locked key before unlocked ones"
        );
    }

    #[test]
    fn locks_after_free_failures_and_backs_off() {
        let l = Limiter::new(Backoff {
            free_failures: 3,
            base: Duration::from_millis(50),
            max: Duration::from_secs(1),
            forget_after: Duration::from_secs(60),
        });
        for _ in 0..2 {
            l.failure("a");
            assert!(l.check("a").is_ok());
        }
        l.failure("a");
        assert!(l.check("a").is_err());
        assert!(l.check("b").is_ok());
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.check("a").is_ok());
        l.success("a");
        assert!(l.check("a").is_ok());
    }
}
