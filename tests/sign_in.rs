//! Password sign-in refusals: a wrong password, an unknown and a malformed address are
//! indistinguishable; failures are throttled per account and per client (password
//! spraying), even the right password is refused while throttled, and it works again once
//! the back-off has passed.

use serde_json::json;

use crate::support::assert_problem;
use crate::support::flows::{bootstrap, wait_out_throttle};
use crate::support::server::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::support::TestServer;

#[test]
fn login_failures_are_indistinguishable_and_throttled() {
    let server = TestServer::start();
    bootstrap(&server);
    let c = server.client();
    let attempt = |email: &str, pw: &str| {
        c.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": pw}),
        )
    };

    let wrong_pw = attempt(ADMIN_EMAIL, "wrong password 123"); // admin failure 1
    let unknown = attempt("nobody@example.test", "wrong password 123");
    let malformed = attempt("not-an-email", "wrong password 123");
    assert_problem(&wrong_pw, 401, "invalid_credentials");
    assert_eq!(unknown.status, wrong_pw.status);
    assert_eq!(
        unknown.body, wrong_pw.body,
        "unknown user and wrong password differ"
    );
    assert_eq!(malformed.status, wrong_pw.status);
    assert_eq!(
        malformed.body, wrong_pw.body,
        "malformed email and wrong password differ"
    );
    assert!(wrong_pw.header("set-cookie").is_none());

    // Failures 2..=5 are plain 401s; the 6th attempt is throttled.
    for i in 2..=5 {
        let r = attempt(ADMIN_EMAIL, "wrong password 123");
        assert_eq!(r.status, 401, "failure {i}: {}", r.text());
    }
    let sixth = attempt(ADMIN_EMAIL, "wrong password 123");
    assert_problem(&sixth, 429, "rate_limited");
    let retry: u64 = sixth
        .header("retry-after")
        .expect("429 without Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1, "Retry-After {retry}");
    // The account key is case-insensitive: the same account in capitals is throttled too.
    let upper = attempt(&ADMIN_EMAIL.to_uppercase(), "wrong password 123");
    assert_eq!(upper.status, 429, "{}", upper.text());

    // While throttled even the right password is refused.
    let right = attempt(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_problem(&right, 429, "rate_limited");
    assert!(
        right.header("set-cookie").is_none(),
        "a throttled attempt set a cookie"
    );
    // Other accounts are not locked by this one.
    assert_eq!(
        attempt("someone@example.test", "whatever 12345").status,
        401
    );

    // Once the back-off has passed, the right password works.
    let ok = wait_out_throttle(|| attempt(ADMIN_EMAIL, ADMIN_PASSWORD));
    assert_eq!(ok.status, 200, "{}", ok.text());
    // A success clears the account's failures.
    assert_eq!(attempt(ADMIN_EMAIL, "wrong password 123").status, 401);
}

/// Password spraying: one client failing on many different accounts is throttled as a
/// client, and while it is, even a right password from it gets 429.
#[test]
fn login_throttles_a_client_spraying_many_accounts() {
    let server = TestServer::start();
    bootstrap(&server);
    let c = server.client();
    let attempt = |email: &str, pw: &str| {
        c.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": pw}),
        )
    };
    let mut throttled = None;
    for i in 0..40 {
        let r = attempt(&format!("spray{i}@example.test"), "Spring2026!!");
        match r.status {
            401 => continue,
            429 => {
                throttled = Some((i, r));
                break;
            }
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    let (i, r) =
        throttled.expect("40 failures on 40 accounts from one client were never throttled");
    assert!(
        i >= 5,
        "throttled after only {i} failures on distinct accounts"
    );
    assert_problem(&r, 429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    let right = attempt(ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_problem(&right, 429, "rate_limited");

    let ok = wait_out_throttle(|| attempt(ADMIN_EMAIL, ADMIN_PASSWORD));
    assert_eq!(ok.status, 200, "{}", ok.text());
}
