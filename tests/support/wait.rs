//! Waiting on conditions instead of sleeping: poll with a deadline, fail with what was awaited.
//!
//! A test that needs something to happen (an email to arrive, a flush, a lock to expire)
//! polls for it with a generous deadline here, so it goes on as soon as the thing is true and
//! fails clearly when it never is. A fixed sleep is only for a quiet period that is itself
//! under test, and says so where it stands.

use std::time::{Duration, Instant};

/// How often the helpers below look again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `f` until it returns `Some`; panics naming `what` once `timeout` has passed.
pub fn poll<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Polls `cond` until it holds; panics naming `what` once `timeout` has passed.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    poll(timeout, what, || cond().then_some(()))
}

/// Polls `f` until `done` holds for its value or `timeout` has passed; returns the last value
/// either way (for a caller that asserts on it with its own message).
pub fn poll_value<T>(timeout: Duration, f: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    poll_value_every(timeout, POLL_INTERVAL, f, done)
}

/// [`poll_value`] looking every `interval`, for a look that is itself costly (a restore, a
/// child process).
pub fn poll_value_every<T>(
    timeout: Duration,
    interval: Duration,
    mut f: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let v = f();
        if done(&v) || Instant::now() >= deadline {
            return v;
        }
        std::thread::sleep(interval);
    }
}
