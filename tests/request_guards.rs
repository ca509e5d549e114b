//! What the API refuses before doing anything: bad input is a clear problem document naming
//! the field (wrong values and types, wrong content type, not JSON, an array for an object,
//! unknown fields) and changes nothing; cookie-authenticated writes from another site (or
//! another port) are refused by the cross-site guard, while safe methods and same-origin
//! writes go through.

use serde_json::{json, Value};

use crate::support::assert_problem;
use crate::support::flows::bootstrap;
use crate::support::problem::assert_invalid_field;
use crate::support::server::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD};
use crate::support::{Response, Session, TestServer};

/// Sends `body` as JSON with `method` on a session (cookie + same-origin `Origin`) plus extra
/// headers.
fn send(
    s: &mut Session,
    method: &str,
    path: &str,
    body: &Value,
    extra: &[(&str, &str)],
) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend_from_slice(extra);
    s.request(method, path, &headers, Some(&bytes))
}

#[test]
fn bad_input_is_a_clear_problem() {
    let server = TestServer::start();
    let mut s = bootstrap(&server);
    let prefs = json!({"locale": "en", "timezone": "Europe/Paris", "theme": "light"});
    assert_eq!(s.put_json("/api/v1/me/preferences", &prefs).status, 200);

    let r = s.put_json(
        "/api/v1/me/preferences",
        &json!({"locale": "en", "timezone": "Mars/Olympus", "theme": "light"}),
    );
    assert_invalid_field(&r, "timezone");
    let r = s.put_json(
        "/api/v1/me/preferences",
        &json!({"locale": "english please", "timezone": "UTC", "theme": "light"}),
    );
    assert_invalid_field(&r, "locale");
    let r = s.put_json(
        "/api/v1/me/preferences",
        &json!({"locale": "en", "timezone": "UTC", "theme": "purple"}),
    );
    assert_invalid_field(&r, "theme");
    let r = s.put_json(
        "/api/v1/me/preferences",
        &json!({"locale": "en", "timezone": "UTC"}),
    );
    assert_invalid_field(&r, "theme");
    let r = s.put_json(
        "/api/v1/me/preferences",
        &json!({"locale": "en", "timezone": "UTC", "theme": "dark", "font": "comic"}),
    );
    assert_invalid_field(&r, "font");
    let r = s.put_json(
        "/api/v1/me/preferences",
        &json!({"locale": 7, "timezone": "UTC", "theme": "dark"}),
    );
    assert_invalid_field(&r, "locale");
    // Nothing above changed the stored preferences.
    let got = s.get("/api/v1/me/preferences").json();
    assert_eq!(got["timezone"], "Europe/Paris", "{got}");
    assert_eq!(got["theme"], "light", "{got}");

    let r = s.patch_json(
        "/api/v1/me",
        &json!({"name": "Ok", "is_instance_admin": true}),
    );
    assert_invalid_field(&r, "is_instance_admin");
    let r = s.patch_json("/api/v1/me", &json!({"name": ""}));
    assert_invalid_field(&r, "name");
    let r = s.patch_json("/api/v1/me", &json!({"name": "   "}));
    assert_invalid_field(&r, "name");
    let r = s.patch_json("/api/v1/me", &json!({"name": "x".repeat(10 * 1024)}));
    assert_invalid_field(&r, "name");
    let r = s.patch_json("/api/v1/me", &json!({"name": "a\u{0007}b"}));
    assert_invalid_field(&r, "name");
    assert_eq!(s.get("/api/v1/me").json()["name"], ADMIN_NAME);

    // Wrong content type / not JSON.
    let body = br#"{"name":"Form Name"}"#;
    let r = s.request(
        "PATCH",
        "/api/v1/me",
        &[("Content-Type", "text/plain")],
        Some(body),
    );
    assert_problem(&r, 400, "invalid_json");
    let r = s.request("PATCH", "/api/v1/me", &[], Some(body));
    assert_problem(&r, 400, "invalid_json");
    let r = s.request(
        "PATCH",
        "/api/v1/me",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"name=Form"),
    );
    assert_problem(&r, 400, "invalid_json");
    let r = s.request(
        "PATCH",
        "/api/v1/me",
        &[("Content-Type", "application/json")],
        Some(b"{\"name\": "),
    );
    assert_problem(&r, 400, "invalid_json");
    let r = s.request(
        "PUT",
        "/api/v1/me/preferences",
        &[("Content-Type", "application/json")],
        Some(b""),
    );
    assert_problem(&r, 400, "invalid_json");
    let r = s.request(
        "PATCH",
        "/api/v1/me",
        &[("Content-Type", "application/json")],
        Some(b"\xff\xfe{}"),
    );
    assert_problem(&r, 400, "invalid_json");
    assert_eq!(s.get("/api/v1/me").json()["name"], ADMIN_NAME);

    // An array where an object is expected: a 4xx problem, not a 500.
    for (method, path) in [
        ("PUT", "/api/v1/me/preferences"),
        ("PATCH", "/api/v1/me"),
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/auth/login"),
    ] {
        let r = send(&mut s, method, path, &json!([{"name": "x"}]), &[]);
        assert!(
            (400..500).contains(&r.status),
            "{method} {path} with an array: {} {}",
            r.status,
            r.text()
        );
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("application/problem+json"),
            "{method} {path}"
        );
        assert!(
            matches!(
                r.json()["code"].as_str(),
                Some("validation_failed" | "invalid_json")
            ),
            "{}",
            r.text()
        );
    }
    // Unknown fields in the login body are named too.
    let r = s.post_json(
        "/api/v1/auth/login",
        &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "remember": true}),
    );
    assert_invalid_field(&r, "remember");
}

#[test]
fn cross_site_cookie_requests_are_refused() {
    let server = TestServer::start();
    let mut s = bootstrap(&server);
    let evil = [("Origin", "http://evil.test")];
    let r = send(
        &mut s,
        "PATCH",
        "/api/v1/me",
        &json!({"name": "Evil"}),
        &evil,
    );
    assert_problem(&r, 403, "csrf_failed");
    let r = send(
        &mut s,
        "PATCH",
        "/api/v1/me",
        &json!({"name": "Evil"}),
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_problem(&r, 403, "csrf_failed");
    let r = send(
        &mut s,
        "PATCH",
        "/api/v1/me",
        &json!({"name": "Evil"}),
        &[("Origin", "null")],
    );
    assert_problem(&r, 403, "csrf_failed");
    // A different port on the same host is another origin.
    let port = server.addr().port();
    let other_port = format!(
        "http://127.0.0.1:{}",
        if port == 65535 { 1 } else { port + 1 }
    );
    let r = send(
        &mut s,
        "PATCH",
        "/api/v1/me",
        &json!({"name": "Evil"}),
        &[("Origin", &other_port)],
    );
    assert_problem(&r, 403, "csrf_failed");
    let r = send(
        &mut s,
        "PUT",
        "/api/v1/me/preferences",
        &json!({"locale": "en", "timezone": "UTC", "theme": "dark"}),
        &evil,
    );
    assert_problem(&r, 403, "csrf_failed");
    let r = send(
        &mut s,
        "POST",
        "/api/v1/users",
        &json!({"email": "csrf@example.test", "name": "Csrf"}),
        &evil,
    );
    assert_problem(&r, 403, "csrf_failed");
    // Forced sign-out from another site is refused as well.
    let r = send(&mut s, "POST", "/api/v1/auth/logout", &json!({}), &evil);
    assert_problem(&r, 403, "csrf_failed");

    // Nothing changed, and the session is alive.
    let me = s.get("/api/v1/me");
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["name"], ADMIN_NAME);
    assert!(!s
        .get("/api/v1/users?limit=200")
        .text()
        .contains("csrf@example.test"));
    // Safe methods from anywhere and same-origin writes are fine.
    assert_eq!(
        s.request(
            "GET",
            "/api/v1/me",
            &[("Sec-Fetch-Site", "cross-site")],
            None
        )
        .status,
        200
    );
    let r = send(
        &mut s,
        "PATCH",
        "/api/v1/me",
        &json!({"name": "Same Site"}),
        &[("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
}
