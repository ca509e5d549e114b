//! First run: the setup link printed at start (works once, replaced by a restart before
//! setup), the setup API's field checks, and the browser's setup form that creates the
//! instance administrator and signs them in.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::support::assert_problem;
use crate::support::client::SESSION_COOKIE;
use crate::support::flows::{raw, setup_token, try_login};
use crate::support::problem::assert_invalid_field;
use crate::support::server::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD};
use crate::support::{Response, TestServer};

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
    let (_, r) = try_login(&server, "second@example.test", ADMIN_PASSWORD);
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
    let (_, r) = try_login(&server, ADMIN_EMAIL, ADMIN_PASSWORD);
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
