//! In-memory throttling of failed attempts with exponential back-off, per key (an account or a
//! client address). While a key is locked, every attempt is refused — the right password too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// The `free_failures`-th failure and each one after it lock the key for
    /// `base * 2^(n - free_failures)`, capped at `max` (so with 5, the sixth attempt in a
    /// row is refused). A key is forgotten after
    /// `forget_after` without failures.
    pub fn new(free_failures: u32, base: Duration, max: Duration, forget_after: Duration) -> Self {
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
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err((until - now).as_secs_f64().ceil().max(1.0) as u64),
            _ => Ok(()),
        }
    }

    /// Records a failure; may lock the key.
    pub fn failure(&self, key: &str) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.len() > 100_000 {
            let forget = self.forget_after;
            state.retain(|_, e| now.duration_since(e.last_failure) < forget);
        }
        let e = state.entry(key.to_string()).or_insert(Entry {
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
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_free_failures_and_backs_off() {
        let l = Limiter::new(
            3,
            Duration::from_millis(50),
            Duration::from_secs(1),
            Duration::from_secs(60),
        );
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
