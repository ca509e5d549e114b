//! Assertions on RFC 9457 problem responses.

use serde_json::Value;

use super::Response;

/// Asserts a problem+json error with the given status and `code`; returns the body.
pub fn assert_problem(resp: &Response, status: u16, code: &str) -> Value {
    assert_eq!(
        resp.status,
        status,
        "expected {status} ({code}), got {} body {:?}",
        resp.status,
        resp.text()
    );
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "expected application/problem+json, got {ct:?} (body {:?})",
        resp.text()
    );
    let body = resp.json();
    assert_eq!(body["status"], status, "problem `status` mismatch: {body}");
    assert_eq!(body["code"], code, "problem `code` mismatch: {body}");
    body
}
