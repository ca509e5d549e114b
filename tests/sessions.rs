//! Sessions and the personal API: signing in gives a session cookie; `/api/v1/me`, the
//! preferences and the memberships of the signed-in person; a second session is independent
//! of the first, signing out ends one, garbage cookies are unauthenticated; the cookie is
//! `Secure` behind an `https` public URL.

use serde_json::json;

use crate::support::assert_problem;
use crate::support::client::SESSION_COOKIE;
use crate::support::flows::{raw, setup_token, try_login};
use crate::support::server::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD};
use crate::support::TestServer;

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

    let (mut s, r) = try_login(&server, ADMIN_EMAIL, ADMIN_PASSWORD);
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
    let (mut other, r) = try_login(&server, ADMIN_EMAIL, ADMIN_PASSWORD);
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
