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

/// Asserts a 422 `validation_failed` whose first error names `field` with a message.
pub fn assert_invalid_field(resp: &Response, field: &str) {
    let body = assert_problem(resp, 422, "validation_failed");
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no `errors` array: {body}"));
    assert!(!errors.is_empty(), "empty `errors`: {body}");
    assert_eq!(errors[0]["field"], field, "wrong field named: {body}");
    assert!(
        errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {body}"
    );
}
