//! Acceptance tests for the foundation issue, against the real binary over HTTP: first-run
//! setup link, sessions and the personal API, login throttling without account enumeration,
//! input validation and the cross-site guard, instance-admin user routes, crash durability
//! (`kill -9` mid-burst), secrets kept out of logs and files, and the access log.
//!
//! Every test starts its own server on its own temp dir; waits are bounded and nothing asserts
//! on timing.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::{integrity, login};
use crate::support::assert_problem;
use crate::support::client::SESSION_COOKIE;
use crate::support::server::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD};
use crate::support::{Client, Response, Session, TestServer};

// ---------------------------------------------------------------------------
// helpers

/// Waits until the server answers HTTP. tenantry prints the setup link (after a database
/// write, which can take seconds under I/O load) before it starts serving, so once this
/// returns the link is on stdout.
pub(crate) fn ready(server: &TestServer) {
    let r = server.client().get("/healthz");
    assert_eq!(r.status, 200, "GET /healthz: {}", r.text());
}

/// The setup token printed by the current run, if any (see [`ready`]).
pub(crate) fn setup_token(server: &TestServer) -> Option<String> {
    ready(server);
    server.setup_token()
}

/// [`TestServer::bootstrap_admin`] once the setup link is surely printed.
pub(crate) fn bootstrap(server: &TestServer) -> Session {
    ready(server);
    server.bootstrap_admin()
}

/// Asserts a 422 `validation_failed` whose first error names `field`.
fn assert_invalid_field(resp: &Response, field: &str) {
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

/// A raw request with the given cookie value (or none) and headers; no automatic `Origin`.
fn raw(
    client: &Client,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let c = cookie.map(|c| format!("{SESSION_COOKIE}={c}"));
    let mut h: Vec<(&str, &str)> = headers.to_vec();
    if let Some(c) = c.as_deref() {
        h.push(("Cookie", c));
    }
    client.request(method, path, &h, body)
}

/// Waits (bounded) until the server's stderr satisfies `pred`; returns the final text.
fn wait_stderr(server: &TestServer, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = server.stderr_text();
        if pred(&text) || Instant::now() >= deadline {
            return text;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Creates a password user as the admin; returns its JSON.
fn create_user(admin: &mut Session, email: &str, name: &str, password: &str) -> Value {
    let r = admin.post_json(
        "/api/v1/users",
        &json!({"email": email, "name": name, "password": password}),
    );
    assert_eq!(r.status, 201, "create {email}: {}", r.text());
    r.json()
}

const BOB_PW: &str = "bob's long password";

// ---------------------------------------------------------------------------
// 1. first run

#[test]
fn first_run_setup_link_works_once() {
    let mut server = TestServer::start();
    let token = setup_token(&server).expect("a fresh server prints a setup link");
    let link = format!("{}/setup?token={token}", server.base_url());
    assert!(
        server
            .current_stdout_text()
            .lines()
            .any(|l| l.contains(&link)),
        "stdout lacks a line with {link}:\n{}",
        server.current_stdout_text()
    );

    // The generated secret is private.
    let mode = std::fs::metadata(server.data_dir().join("secret.key"))
        .expect("secret.key in the data dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "secret.key mode is {:o}", mode & 0o777);

    // The link shows the form.
    let c = server.client();
    let page = c.get(&format!("/setup?token={token}"));
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        page.headers
    );
    let html = page.text();
    assert!(
        html.contains("<form") && html.contains("name=\"password\""),
        "no setup form:\n{html}"
    );

    // A wrong token is not accepted (page and API).
    assert_eq!(c.get("/setup?token=not-the-token").status, 404);
    assert_eq!(c.get("/setup").status, 404);
    let wrong = c.post_json(
        "/api/v1/setup",
        &json!({"token": "not-the-token", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "name": ADMIN_NAME}),
    );
    assert_problem(&wrong, 404, "setup_token_invalid");

    // The token creates the admin.
    let body = json!({"token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "name": ADMIN_NAME});
    let r = c.post_json("/api/v1/setup", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let admin = r.json();
    assert_eq!(admin["email"], ADMIN_EMAIL);
    assert_eq!(admin["is_instance_admin"], true);
    assert!(
        admin.get("password").is_none() && admin.get("password_hash").is_none(),
        "{admin}"
    );

    // …once.
    let again = c.post_json(
        "/api/v1/setup",
        &json!({"token": token, "email": "second@example.test", "password": ADMIN_PASSWORD, "name": "Second"}),
    );
    assert_problem(&again, 404, "setup_token_invalid");
    let page = c.get(&format!("/setup?token={token}"));
    assert_eq!(page.status, 404, "{}", page.text());
    assert!(page
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    assert!(
        page.text().to_lowercase().contains("not valid"),
        "{}",
        page.text()
    );
    let (_, r) = login(&server, "second@example.test", ADMIN_PASSWORD);
    assert_eq!(r.status, 401, "the reused link created a user");

    // A restart with an admin prints no link.
    server.restart();
    assert_eq!(
        setup_token(&server),
        None,
        "stdout after restart:\n{}",
        server.current_stdout_text()
    );
    assert!(!server.current_stdout_text().contains("/setup?token="));
    let (_, r) = login(&server, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn restart_before_setup_replaces_the_link() {
    let mut server = TestServer::start();
    let first = setup_token(&server).expect("setup link");
    server.restart();
    let second = setup_token(&server).expect("a restart without an admin prints a new link");
    assert_ne!(first, second);
    let c = server.client();
    assert_eq!(c.get(&format!("/setup?token={first}")).status, 404);
    assert_eq!(c.get(&format!("/setup?token={second}")).status, 200);
    let r = c.post_json(
        "/api/v1/setup",
        &json!({"token": first, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "name": ADMIN_NAME}),
    );
    assert_problem(&r, 404, "setup_token_invalid");
    let r = c.post_json(
        "/api/v1/setup",
        &json!({"token": second, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "name": ADMIN_NAME}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn setup_validates_its_fields() {
    let server = TestServer::start();
    let token = setup_token(&server).expect("setup link");
    let c = server.client();
    let r = c.post_json(
        "/api/v1/setup",
        &json!({"token": token, "email": "nope", "password": ADMIN_PASSWORD, "name": "A"}),
    );
    assert_invalid_field(&r, "email");
    let r = c.post_json(
        "/api/v1/setup",
        &json!({"token": token, "email": ADMIN_EMAIL, "password": "short", "name": "A"}),
    );
    assert_invalid_field(&r, "password");
    // Failed attempts did not use the token up.
    let r = c.post_json(
        "/api/v1/setup",
        &json!({"token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "name": "A"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

/// The value of cookie `name` in a response's `Set-Cookie` headers.
fn set_cookie_value(resp: &Response, name: &str) -> Option<String> {
    resp.header_all("set-cookie").into_iter().find_map(|v| {
        v.strip_prefix(&format!("{name}="))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
    })
}

/// The `value` of the HTML input named `name`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = &tag[tag.find("value=\"")? + 7..];
    Some(v[..v.find('"')?].to_string())
}

/// The browser path: the form on `/setup?token=…` creates the admin and signs them in.
#[test]
fn setup_form_creates_the_admin_and_signs_in() {
    let server = TestServer::start();
    let token = setup_token(&server).expect("setup link");
    let c = server.client();
    let page = c.get(&format!("/setup?token={token}"));
    assert_eq!(page.status, 200, "{}", page.text());
    let csrf_cookie =
        set_cookie_value(&page, "tenantry_csrf").expect("the form page sets a CSRF cookie");
    let html = page.text();
    let csrf_field = input_value(&html, "csrf_token").expect("csrf_token field");
    assert_eq!(input_value(&html, "token").as_deref(), Some(token.as_str()));

    let form = |csrf: &str| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("token", &token)
            .append_pair("csrf_token", csrf)
            .append_pair("name", "Form Admin")
            .append_pair("email", ADMIN_EMAIL)
            .append_pair("password", ADMIN_PASSWORD)
            .finish()
    };
    let origin = c.origin();
    let cookie = format!("tenantry_csrf={csrf_cookie}");
    let form_headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", origin.as_str()),
        ("Cookie", cookie.as_str()),
    ];

    // Without the matching CSRF token the form is refused and the link stays usable.
    let body = form("wrong-token");
    let r = c.request("POST", "/setup", &form_headers, Some(body.as_bytes()));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(c.get(&format!("/setup?token={token}")).status, 200);

    let body = form(&csrf_field);
    let r = c.request("POST", "/setup", &form_headers, Some(body.as_bytes()));
    assert_eq!(r.status, 303, "{}", r.text());
    let session = set_cookie_value(&r, SESSION_COOKIE).expect("signed in after setup");
    let me = raw(&c, "GET", "/api/v1/me", Some(&session), &[], None);
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["is_instance_admin"], true);
    assert_eq!(me.json()["name"], "Form Admin");

    // Submitting the same form again does not create anything.
    let r = c.request("POST", "/setup", &form_headers, Some(body.as_bytes()));
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().to_lowercase().contains("not valid"),
        "{}",
        r.text()
    );
}

// ---------------------------------------------------------------------------
// 2. sessions and the personal API

#[test]
fn session_lifecycle_and_personal_api() {
    let server = TestServer::start();
    let token = setup_token(&server).expect("setup link");
    let c = server.client();
    let r = c.post_json(
        "/api/v1/setup",
        &json!({"token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "name": ADMIN_NAME}),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let (mut s, r) = login(&server, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["email"], ADMIN_EMAIL);
    let cookies = r.header_all("set-cookie");
    let sc = cookies
        .iter()
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    let attrs: Vec<String> = sc
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for want in ["path=/", "httponly", "samesite=lax"] {
        assert!(attrs.iter().any(|a| a == want), "cookie lacks {want}: {sc}");
    }
    assert!(
        !attrs.iter().any(|a| a == "secure"),
        "Secure cookie over http: {sc}"
    );
    let cookie = s.cookie.clone().expect("session cookie stored");
    assert!(
        cookie.len() >= 22,
        "session token too short for 128 bits: {cookie}"
    );

    // /me
    let me = s.get("/api/v1/me");
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["name"], ADMIN_NAME);
    assert!(
        me["id"].as_str().is_some_and(|id| id.starts_with("usr_")),
        "{me}"
    );
    assert!(me.get("password_hash").is_none(), "{me}");

    let r = s.patch_json("/api/v1/me", &json!({"name": "  Ada Admin  "}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "Ada Admin");
    assert_eq!(s.get("/api/v1/me").json()["name"], "Ada Admin");

    // preferences
    let prefs = s.get("/api/v1/me/preferences");
    assert_eq!(prefs.status, 200, "{}", prefs.text());
    let want = json!({"locale": "pt-BR", "timezone": "America/Sao_Paulo", "theme": "dark"});
    let r = s.put_json("/api/v1/me/preferences", &want);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = s.get("/api/v1/me/preferences").json();
    for k in ["locale", "timezone", "theme"] {
        assert_eq!(got[k], want[k], "preference {k}: {got}");
    }

    // memberships
    let m = s.get("/api/v1/me/memberships");
    assert_eq!(m.status, 200, "{}", m.text());
    assert_eq!(m.json(), json!({"organizations": [], "companies": []}));

    // A second session is independent of the first.
    let (mut other, r) = login(&server, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(r.status, 200);
    assert_ne!(other.cookie, s.cookie);

    // logout
    let r = s.post_json("/api/v1/auth/logout", &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let cleared = r.header_all("set-cookie");
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with(&format!("{SESSION_COOKIE}=;"))
                || c.to_ascii_lowercase().contains("max-age=0")),
        "logout did not clear the cookie: {cleared:?}"
    );
    let r = raw(&c, "GET", "/api/v1/me", Some(&cookie), &[], None);
    assert_problem(&r, 401, "unauthenticated");
    assert_eq!(
        other.get("/api/v1/me").status,
        200,
        "logout ended another session"
    );

    // Signed out entirely / garbage cookies.
    assert_problem(&c.get("/api/v1/me"), 401, "unauthenticated");
    assert_problem(
        &raw(&c, "GET", "/api/v1/me", Some("garbage"), &[], None),
        401,
        "unauthenticated",
    );
    let forged = "A".repeat(cookie.len());
    assert_problem(
        &raw(&c, "GET", "/api/v1/me", Some(&forged), &[], None),
        401,
        "unauthenticated",
    );
    assert_problem(&c.get("/api/v1/me/preferences"), 401, "unauthenticated");
    assert_problem(&c.get("/api/v1/me/memberships"), 401, "unauthenticated");
}

#[test]
fn session_cookie_is_secure_with_an_https_public_url() {
    let server = TestServer::builder()
        .arg("--public-url")
        .arg("https://example.test")
        .start();
    let token = setup_token(&server).expect("setup link");
    assert!(
        server
            .current_stdout_text()
            .contains(&format!("https://example.test/setup?token={token}")),
        "the link must use public_url: {}",
        server.current_stdout_text()
    );
    let c = server.client();
    let origin = [
        ("Content-Type", "application/json"),
        ("Origin", "https://example.test"),
    ];
    let body = serde_json::to_vec(&json!({"token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "name": ADMIN_NAME})).unwrap();
    let r = c.request("POST", "/api/v1/setup", &origin, Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    let body =
        serde_json::to_vec(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).unwrap();
    let r = c.request("POST", "/api/v1/auth/login", &origin, Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
    let sc = r
        .header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
        .expect("session cookie")
        .to_string();
    let attrs: Vec<String> = sc
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for want in ["secure", "httponly", "samesite=lax", "path=/"] {
        assert!(attrs.iter().any(|a| a == want), "cookie lacks {want}: {sc}");
    }
}

// ---------------------------------------------------------------------------
// 3. login failures: no enumeration, throttling

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

    // After waiting out the back-off, the right password works.
    let mut wait = right
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(retry);
    let mut ok = None;
    for _ in 0..8 {
        thread::sleep(Duration::from_secs(wait) + Duration::from_millis(300));
        let r = attempt(ADMIN_EMAIL, ADMIN_PASSWORD);
        if r.status == 429 {
            wait = r
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            continue;
        }
        ok = Some(r);
        break;
    }
    let ok = ok.expect("still throttled after waiting out Retry-After repeatedly");
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

    let mut wait: u64 = right
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for _ in 0..8 {
        thread::sleep(Duration::from_secs(wait) + Duration::from_millis(300));
        let r = attempt(ADMIN_EMAIL, ADMIN_PASSWORD);
        if r.status == 429 {
            wait = r
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            continue;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        return;
    }
    panic!("the client stayed throttled after waiting out Retry-After repeatedly");
}

// ---------------------------------------------------------------------------
// 4. bad input, cross-site guard, instance-admin routes

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

#[test]
fn instance_admin_user_routes() {
    let server = TestServer::start();
    let mut admin = bootstrap(&server);
    let c = server.client();

    let bob = create_user(&mut admin, "Bob@Example.test", "Bob", BOB_PW);
    assert_eq!(
        bob["email"], "bob@example.test",
        "email not normalised: {bob}"
    );
    assert_eq!(bob["is_instance_admin"], false);
    assert_eq!(bob["disabled"], false);
    assert!(
        bob.get("password").is_none() && bob.get("password_hash").is_none(),
        "{bob}"
    );
    let bob_id = bob["id"].as_str().expect("id").to_string();
    let no_pw = admin.post_json(
        "/api/v1/users",
        &json!({"email": "nopw@example.test", "name": "No Password"}),
    );
    assert_eq!(no_pw.status, 201, "{}", no_pw.text());

    // Duplicates, whatever the case.
    for email in ["bob@example.test", "BOB@EXAMPLE.TEST", " bob@example.test "] {
        let r = admin.post_json(
            "/api/v1/users",
            &json!({"email": email, "name": "Bob again"}),
        );
        assert_problem(&r, 409, "conflict");
    }
    // Field validation.
    assert_invalid_field(
        &admin.post_json("/api/v1/users", &json!({"email": "nope", "name": "X"})),
        "email",
    );
    assert_invalid_field(
        &admin.post_json(
            "/api/v1/users",
            &json!({"email": "x@example.test", "name": ""}),
        ),
        "name",
    );
    assert_invalid_field(
        &admin.post_json(
            "/api/v1/users",
            &json!({"email": "x@example.test", "name": "X", "password": "short"}),
        ),
        "password",
    );
    assert_invalid_field(
        &admin.post_json(
            "/api/v1/users",
            &json!({"email": "x@example.test", "name": "X", "is_instance_admin": true}),
        ),
        "is_instance_admin",
    );

    // Listing with pagination.
    let all = list_all_users(&mut admin, 1);
    let emails: Vec<&str> = all.iter().filter_map(|u| u["email"].as_str()).collect();
    assert_eq!(emails.len(), 3, "{emails:?}");
    for e in [ADMIN_EMAIL, "bob@example.test", "nopw@example.test"] {
        assert!(emails.contains(&e), "{e} not listed: {emails:?}");
    }
    assert_invalid_field(&admin.get("/api/v1/users?limit=0"), "limit");
    assert_invalid_field(&admin.get("/api/v1/users?limit=201"), "limit");
    assert_invalid_field(&admin.get("/api/v1/users?limit=lots"), "limit");

    // A non-admin is forbidden; signed out is unauthenticated.
    let (mut bob_s, r) = login(&server, "bob@example.test", BOB_PW);
    assert_eq!(r.status, 200, "{}", r.text());
    let bob_cookie = bob_s.cookie.clone().unwrap();
    assert_problem(&bob_s.get("/api/v1/users"), 403, "forbidden");
    assert_problem(
        &bob_s.post_json(
            "/api/v1/users",
            &json!({"email": "m@example.test", "name": "M"}),
        ),
        403,
        "forbidden",
    );
    let admin_id = admin.get("/api/v1/me").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_problem(
        &bob_s.patch_json(
            &format!("/api/v1/users/{admin_id}"),
            &json!({"disabled": true}),
        ),
        403,
        "forbidden",
    );
    assert_problem(
        &bob_s.patch_json(
            &format!("/api/v1/users/{bob_id}"),
            &json!({"disabled": false}),
        ),
        403,
        "forbidden",
    );
    assert_problem(&c.get("/api/v1/users"), 401, "unauthenticated");
    let body = serde_json::to_vec(&json!({"email": "m@example.test", "name": "M"})).unwrap();
    assert_problem(
        &c.request(
            "POST",
            "/api/v1/users",
            &[("Content-Type", "application/json")],
            Some(&body),
        ),
        401,
        "unauthenticated",
    );
    let body = serde_json::to_vec(&json!({"disabled": true})).unwrap();
    assert_problem(
        &c.request(
            "PATCH",
            &format!("/api/v1/users/{bob_id}"),
            &[("Content-Type", "application/json")],
            Some(&body),
        ),
        401,
        "unauthenticated",
    );
    assert_eq!(
        admin.get("/api/v1/me").status,
        200,
        "the admin was disabled by a non-admin"
    );

    // Malformed and unknown IDs are 404.
    for id in [
        "not-an-id",
        "usr_short",
        "org_0123456789abcdefghjkmnpqrs",
        "usr_0123456789ABCDEFGHJKMNPQRS",
        "usr_0123456789abcdefghjkmnpqrs",
        "%00",
    ] {
        let r = admin.patch_json(&format!("/api/v1/users/{id}"), &json!({"disabled": true}));
        assert_problem(&r, 404, "not_found");
    }
    assert_invalid_field(
        &admin.patch_json(
            &format!("/api/v1/users/{bob_id}"),
            &json!({"disabled": "yes"}),
        ),
        "disabled",
    );
    // An admin cannot lock themselves out.
    let r = admin.patch_json(
        &format!("/api/v1/users/{admin_id}"),
        &json!({"disabled": true}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(admin.get("/api/v1/me").status, 200);

    // Disabling ends Bob's session and his sign-in.
    let r = admin.patch_json(
        &format!("/api/v1/users/{bob_id}"),
        &json!({"disabled": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["disabled"], true);
    assert_problem(
        &raw(&c, "GET", "/api/v1/me", Some(&bob_cookie), &[], None),
        401,
        "unauthenticated",
    );
    let (_, r) = login(&server, "bob@example.test", BOB_PW);
    assert_problem(&r, 401, "invalid_credentials");
    let (_, wrong) = login(&server, "bob@example.test", "not bob's password");
    assert_eq!(
        r.body, wrong.body,
        "a disabled account is distinguishable from a wrong password"
    );
    // …and re-enabling lets him back in (with a new session; the old one stays dead).
    let r = admin.patch_json(
        &format!("/api/v1/users/{bob_id}"),
        &json!({"disabled": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_problem(
        &raw(&c, "GET", "/api/v1/me", Some(&bob_cookie), &[], None),
        401,
        "unauthenticated",
    );
    let (mut bob2, r) = login(&server, "bob@example.test", BOB_PW);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bob2.get("/api/v1/me").status, 200);
}

/// All users via `GET /api/v1/users?limit=&cursor=` (bounded number of pages).
pub(crate) fn list_all_users(admin: &mut Session, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit={limit}&cursor={c}"),
            None => format!("/api/v1/users?limit={limit}"),
        };
        let r = admin.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let page = r.json();
        let data = page["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no data array: {page}"));
        assert!(data.len() <= limit, "page larger than limit {limit}");
        out.extend(data.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert!(!data.is_empty(), "empty page with a next cursor");
                cursor = Some(c.to_string());
            }
            None => return out,
        }
    }
    panic!("pagination did not end");
}

// ---------------------------------------------------------------------------
// 5. durability

#[test]
fn kill_9_during_a_write_burst_loses_no_acknowledged_write() {
    let mut server = TestServer::start();
    let admin = bootstrap(&server);
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(Mutex::new(Vec::<String>::new()));
    let bad = Arc::new(Mutex::new(Vec::<String>::new()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (stop, created, bad) = (stop.clone(), created.clone(), bad.clone());
            let mut s = admin.clone();
            s.client.timeout = Duration::from_secs(5);
            thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let email = format!("burst-{t}-{i}@example.test");
                    let body = serde_json::to_vec(
                        &json!({"email": email, "name": format!("Burst {t} {i}")}),
                    )
                    .unwrap();
                    match s.try_request(
                        "POST",
                        "/api/v1/users",
                        &[("Content-Type", "application/json")],
                        Some(&body),
                    ) {
                        Ok(r) if (200..300).contains(&r.status) => {
                            created.lock().unwrap().push(email)
                        }
                        Ok(r) => {
                            bad.lock()
                                .unwrap()
                                .push(format!("{email}: {} {}", r.status, r.text()))
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        })
        .collect();

    // Kill once a good number of writes went through, while the others are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while created.lock().unwrap().len() < 80 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("burst thread panicked");
    }
    let created = created.lock().unwrap().clone();
    assert!(
        created.len() >= 80,
        "only {} writes succeeded before the deadline",
        created.len()
    );
    let bad = bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "non-2xx answers during the burst: {bad:?}");

    // After a restart, every acknowledged write is there.
    server.restart();
    let mut admin = admin;
    let listed = list_all_users(&mut admin, 200);
    let emails: std::collections::HashSet<&str> =
        listed.iter().filter_map(|u| u["email"].as_str()).collect();
    let missing: Vec<&String> = created
        .iter()
        .filter(|e| !emails.contains(e.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost after kill -9: {missing:?}",
        missing.len()
    );

    server.stop();
    assert_eq!(integrity(&server.data_dir().join("tenantry.db")), "ok");
}

// ---------------------------------------------------------------------------
// 7. secrets

#[test]
fn secrets_stay_out_of_logs_and_files() {
    let mut server = TestServer::builder().env("RUST_LOG", "trace").start();
    let setup_token = setup_token(&server).expect("setup link");
    let mut admin = bootstrap(&server);
    let cookie = admin.cookie.clone().unwrap();
    let wrong_pw = "Wr0ng-Passw0rd-Marker";
    let bob_pw = "Bobs-Secret-Passw0rd-Marker";

    // A few requests of every kind.
    assert_eq!(admin.get("/api/v1/me").status, 200);
    assert_eq!(
        admin
            .patch_json("/api/v1/me", &json!({"name": "Renamed"}))
            .status,
        200
    );
    assert_eq!(
        admin
            .put_json(
                "/api/v1/me/preferences",
                &json!({"locale": "en", "timezone": "UTC", "theme": "dark"})
            )
            .status,
        200
    );
    create_user(&mut admin, "bob@example.test", "Bob", bob_pw);
    let (mut bob, r) = login(&server, "bob@example.test", bob_pw);
    assert_eq!(r.status, 200);
    let bob_cookie = bob.cookie.clone().unwrap();
    assert_eq!(bob.get("/api/v1/me").status, 200);
    assert_eq!(login(&server, ADMIN_EMAIL, wrong_pw).1.status, 401);
    assert_eq!(login(&server, "ghost@example.test", wrong_pw).1.status, 401);
    assert_eq!(
        server
            .client()
            .get(&format!("/setup?token={setup_token}"))
            .status,
        404
    );
    let c = server.client();
    assert_eq!(
        raw(
            &c,
            "GET",
            &format!("/api/v1/me?session={cookie}"),
            Some(&cookie),
            &[],
            None
        )
        .status,
        200
    );
    assert_eq!(bob.post_json("/api/v1/auth/logout", &json!({})).status, 200);

    let stderr = wait_stderr(&server, Duration::from_secs(10), |t| {
        t.contains("/api/v1/auth/logout")
    });
    assert!(
        stderr.contains("/api/v1/auth/logout"),
        "no access log at trace level:\n{stderr}"
    );
    let secrets = [
        ("admin password", ADMIN_PASSWORD),
        ("bob's password", bob_pw),
        ("a wrong password", wrong_pw),
        ("admin session cookie", cookie.as_str()),
        ("bob session cookie", bob_cookie.as_str()),
        ("setup token", setup_token.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(
            !stderr.contains(secret),
            "{what} appears in the logs (stderr)"
        );
    }
    // Stdout holds the setup link (by design) and nothing else secret.
    let stdout = server.stdout_text();
    assert_eq!(
        stdout.matches(setup_token.as_str()).count(),
        1,
        "setup token printed more than once:\n{stdout}"
    );
    for (what, secret) in &secrets[..5] {
        assert!(!stdout.contains(secret), "{what} appears on stdout");
    }

    // Files in the data dir, while the server runs (WAL present) and after it stopped.
    let data_dir = server.data_dir().to_path_buf();
    let check_files = |when: &str| {
        let mut seen = 0;
        for entry in std::fs::read_dir(&data_dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            seen += 1;
            let bytes = std::fs::read(&path).unwrap();
            for (what, secret) in &secrets[..5] {
                assert!(
                    !contains_bytes(&bytes, secret.as_bytes()),
                    "{what} stored in clear in {} ({when})",
                    path.display()
                );
            }
        }
        assert!(
            seen >= 2,
            "expected the database and secret.key in the data dir"
        );
    };
    assert!(server.data_dir().join("tenantry.db").exists());
    check_files("while serving");
    server.stop();
    check_files("after shutdown");
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// 9. access log

#[test]
fn access_log_has_method_path_status_and_no_query() {
    let server = TestServer::start();
    let mut admin = bootstrap(&server);
    let c = server.client();
    let secret = "SECRETsetupTOKENvalue0123456789";
    assert_eq!(c.get(&format!("/setup?token={secret}")).status, 404);
    assert_eq!(c.get("/healthz").status, 200);
    assert_eq!(
        c.get("/api/v1/users?limit=5&cursor=CURSORmarker").status,
        401
    );
    assert_eq!(admin.get("/api/v1/users?limit=5").status, 200);
    assert_eq!(c.get("/no/such/route?x=QUERYmarker").status, 404);
    assert_eq!(
        admin.patch_json("/api/v1/me", &json!({"name": ""})).status,
        422
    );

    let expected = [
        "GET /setup 404",
        "GET /healthz 200",
        "GET /api/v1/users 401",
        "GET /api/v1/users 200",
        "GET /no/such/route 404",
        "PATCH /api/v1/me 422",
        "POST /api/v1/setup 201",
        "POST /api/v1/auth/login 200",
    ];
    let log = wait_stderr(&server, Duration::from_secs(10), |t| {
        expected.iter().all(|e| t.contains(e))
    });
    for e in expected {
        assert!(
            log.lines().any(|l| l.contains(e)),
            "no access-log line with `{e}`:\n{log}"
        );
    }
    for marker in [secret, "CURSORmarker", "QUERYmarker", "limit=5"] {
        assert!(
            !log.contains(marker),
            "query string `{marker}` leaked into the logs:\n{log}"
        );
    }
}

#[test]
fn json_log_format_writes_one_json_object_per_line() {
    let server = TestServer::builder()
        .env("TENANTRY_LOG_FORMAT", "json")
        .start();
    assert_eq!(server.client().get("/healthz?probe=1").status, 200);
    let log = wait_stderr(&server, Duration::from_secs(10), |t| {
        t.contains("GET /healthz 200")
    });
    let mut found = false;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["msg"].is_string(), "{line}");
        found |= v["msg"].as_str().unwrap().starts_with("GET /healthz 200");
    }
    assert!(found, "no JSON access-log line for GET /healthz:\n{log}");
}
