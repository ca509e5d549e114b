//! WebAssembly plugins end to end: the server (in this process; the real binary for the tests
//! that read its log) loads components built from `plugins/` and they talk to local fake
//! upstreams (an OIDC provider, a billing API, an email API). Covers SSO sign-in and
//! provisioning, billing from a plugin (and its outage), email delivery through a plugin with
//! retries, the fixture's faults (trap, endless loop, memory bomb, forbidden host, malformed
//! output) and the compile cache across restarts.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::fake_oidc::{FakeOidc, FakeUser};
use crate::support::fake_upstreams::{Blackhole, FakeBilling, FakeEmailApi};
use crate::support::flows::{create_org, run_cli};
use crate::support::forms::{csrf_cookie, input_value, post_form_with_csrf};
use crate::support::plugins::{allow_plugins, approve_domain, wasm, write_config, PluginEntry};
use crate::support::process::proc_status;
use crate::support::server::unique_temp_dir;
use crate::support::wait::wait_until;
use crate::support::{assert_problem, Client, Response, Session, TestServer};

const CONTACT: &str = "billing-help@tenantry.test";

fn start_with(config: &Path) -> TestServer {
    TestServer::builder()
        .arg("--config")
        .arg(config.display().to_string())
        .start()
}

/// [`start_with`] through the real binary, for a test that reads the server's log.
fn start_binary_with(config: &Path) -> TestServer {
    TestServer::builder()
        .binary()
        .arg("--config")
        .arg(config.display().to_string())
        .start()
}

/// Splits an absolute `http://host:port/path?q` URL into an address and the path.
fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    (
        authority.parse().expect("host:port"),
        if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
    )
}

fn cookie_value(r: &Response, name: &str) -> Option<String> {
    r.header_all("set-cookie").iter().find_map(|v| {
        let (n, val) = v.split(';').next()?.split_once('=')?;
        (n.trim() == name).then(|| val.trim().to_string())
    })
}

fn query_param(path: &str, name: &str) -> Option<String> {
    let q = path.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

// ------------------------------------------------------------------------------------------
// SSO
// ------------------------------------------------------------------------------------------

struct SsoWorld {
    server: TestServer,
    idp: FakeOidc,
    org: String,
}

fn sso_world() -> SsoWorld {
    let idp = FakeOidc::start("tenantry-test");
    let dir = unique_temp_dir("tenantry-sso-cfg");
    let config = write_config(
        &dir,
        &[],
        &[PluginEntry::new("oidc", "sso-oidc")
            .allow(&idp.host_port())
            .setting("issuer", &idp.issuer())
            .setting("client_id", "tenantry-test")],
    );
    let server = start_with(&config);
    let mut admin = server.bootstrap_admin();
    let org = create_org(&mut admin, "Org acme", "acme", None);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/features"),
        &json!({"sso": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    allow_plugins(&mut admin, &org, &["oidc"]);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/sso"),
        &json!({"plugin": "oidc", "domains": ["Example.test"], "join_role": "member"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["domains"], json!(["example.test"]), "{v}");
    assert_eq!(v["plugin_ready"], true, "{v}");
    assert_eq!(v["domain_verification"][0]["status"], "pending", "{v}");
    // The domain does nothing until its ownership is proven (here: approved).
    approve_domain(&mut admin, &org, "example.test");
    SsoWorld { server, idp, org }
}

/// The browser's side of a sign-in: the start URL → the provider → the callback. Returns
/// the callback's response and the browser session.
fn browser_sign_in(w: &SsoWorld, email: &str) -> (Response, Session) {
    let mut browser = w.server.session();
    let start = format!(
        "/sso/oidc/start?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("email", email)
            .finish()
    );
    let r = browser.get(&start);
    assert_eq!(r.status, 303, "start: {}", r.text());
    let binding = cookie_value(&r, "tenantry_sso").expect("binding cookie");
    let to_idp = r.header("location").unwrap().to_string();
    assert!(to_idp.starts_with(&w.idp.issuer()), "{to_idp}");
    assert_eq!(query_param(&to_idp, "login_hint").as_deref(), Some(email));
    let (idp_addr, idp_path) = split_url(&to_idp);
    let r = Client::new(idp_addr).get(&idp_path);
    assert_eq!(r.status, 302, "authorize: {}", r.text());
    let back = r.header("location").unwrap().to_string();
    let (_, callback) = split_url(&back);
    assert!(callback.starts_with("/sso/oidc/callback?"), "{callback}");
    let cookie = format!("tenantry_sso={binding}");
    let r = browser.request("GET", &callback, &[("Cookie", &cookie)], None);
    (r, browser)
}

#[test]
fn sso_signs_in_by_domain_and_provisions_the_user() {
    let w = sso_world();
    let mut user = FakeUser::new("idp-user-1", "ann@example.test");
    user.name = Some("Ann Example".into());
    w.idp.set_user(user);

    // The sign-in page sends an address of an SSO domain to its provider.
    let mut browser = w.server.session();
    let page = browser.get("/login");
    let html = page.text();
    let csrf = input_value(&html, "csrf_token").unwrap();
    let r = post_form_with_csrf(
        &mut browser,
        "/login",
        &csrf_cookie(&page).unwrap(),
        &[
            ("csrf_token", &csrf),
            ("email", "Ann@Example.test"),
            ("password", ""),
        ],
    );
    // A page that moves on by itself, not a redirect (see the browser test for why).
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    assert!(
        html.contains("http-equiv=\"refresh\"")
            && html.contains("/sso/oidc/start?email&#x3D;Ann%40Example.test"),
        "{html}"
    );
    // An address elsewhere is not routed (it signs in with a password).
    let r = w.server.client().post_json(
        "/api/v1/auth/sso/discover",
        &json!({"email": "bob@elsewhere.test"}),
    );
    assert_eq!(r.json()["sso"], false, "{}", r.text());
    let r = w.server.client().post_json(
        "/api/v1/auth/sso/discover",
        &json!({"email": "bob@example.test"}),
    );
    assert_eq!(r.json()["plugin"], "oidc", "{}", r.text());

    // The JSON sign-in sends such an address to its SSO too, with or without a password.
    let r = w.server.client().post_json(
        "/api/v1/auth/login",
        &json!({"email": "ann@example.test", "password": "a-long-password"}),
    );
    let p = assert_problem(&r, 400, "sso_required");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("/sso/oidc/start?email=ann%40example.test"),
        "{p}"
    );

    let (r, mut browser) = browser_sign_in(&w, "ann@example.test");
    assert_eq!(r.status, 303, "callback: {}", r.text());
    assert_eq!(r.header("location"), Some("/"));
    assert!(browser.cookie.is_some(), "a session cookie is set");
    let me = browser.get("/api/v1/me");
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["email"], "ann@example.test", "{me}");
    assert_eq!(me["auth"], "sso", "{me}");
    assert_eq!(me["name"], "Ann Example", "{me}");
    // Joined the organization with the configured role.
    let m = browser.get("/api/v1/me/memberships").json();
    let orgs = m["organizations"].as_array().expect("organizations");
    assert!(
        orgs.iter()
            .any(|o| o["id"] == w.org.as_str() && o["role"] == "member"),
        "{m}"
    );
    // SSO users have no password here.
    let r = browser.post_json("/api/v1/me/password-reset", &json!({}));
    assert_problem(&r, 409, "sso_managed");
    // A second sign-in finds the same user through the linked subject.
    let (r, mut again) = browser_sign_in(&w, "ann@example.test");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(again.get("/api/v1/me").json()["id"], me["id"]);
    assert_eq!(w.idp.token_requests(), 2);
}

#[test]
fn sso_refuses_unverified_foreign_and_replayed_sign_ins() {
    let w = sso_world();

    // Unverified email.
    let mut u = FakeUser::new("idp-2", "eve@example.test");
    u.email_verified = false;
    w.idp.set_user(u);
    let (r, mut b) = browser_sign_in(&w, "eve@example.test");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("not verified"), "{}", r.text());
    assert_eq!(b.get("/api/v1/me").status, 401);

    // The provider vouches for an address outside the organization's domains.
    w.idp.set_user(FakeUser::new("idp-3", "mallory@evil.test"));
    let (r, _) = browser_sign_in(&w, "mallory@example.test");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("not in a verified domain"),
        "{}",
        r.text()
    );

    // The ID token carries another nonce: the plugin refuses it.
    w.idp.set_user(FakeUser::new("idp-4", "nina@example.test"));
    w.idp.set_wrong_nonce(true);
    let (r, _) = browser_sign_in(&w, "nina@example.test");
    assert_eq!(r.status, 502, "{}", r.text());
    w.idp.set_wrong_nonce(false);

    // State mismatch: a forged state, a missing binding cookie, and a replayed callback.
    let mut browser = w.server.session();
    let r = browser.get("/sso/oidc/start?email=nina%40example.test");
    let binding = cookie_value(&r, "tenantry_sso").unwrap();
    let (idp_addr, idp_path) = split_url(r.header("location").unwrap());
    let back = Client::new(idp_addr).get(&idp_path);
    let (_, callback) = split_url(back.header("location").unwrap());
    let code = query_param(&callback, "code").unwrap();
    let cookie = format!("tenantry_sso={binding}");
    let forged = format!("/sso/oidc/callback?code={code}&state=forged-state");
    let r = browser.request("GET", &forged, &[("Cookie", &cookie)], None);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = browser.request("GET", &callback, &[], None);
    assert_eq!(r.status, 400, "no binding cookie: {}", r.text());
    // The state was used up by the attempt without the cookie.
    let r = browser.request("GET", &callback, &[("Cookie", &cookie)], None);
    assert_eq!(r.status, 400, "replay: {}", r.text());
    assert_eq!(browser.get("/api/v1/me").status, 401);

    // An address whose domain has no SSO cannot start one.
    let r = browser.get("/sso/oidc/start?email=x%40elsewhere.test");
    assert_eq!(r.status, 400, "{}", r.text());

    // Break-glass: the instance administrator, whose address is in the SSO domain too, still
    // signs in with the right password; a wrong one is sent to SSO like everyone else.
    assert!(crate::support::server::ADMIN_EMAIL.ends_with("@example.test"));
    let mut admin = w.server.session();
    let r = admin.post_json(
        "/api/v1/auth/login",
        &json!({"email": crate::support::server::ADMIN_EMAIL, "password": "not-the-password"}),
    );
    assert_problem(&r, 400, "sso_required");
    let r = admin.post_json(
        "/api/v1/auth/login",
        &json!({"email": crate::support::server::ADMIN_EMAIL, "password": crate::support::server::ADMIN_PASSWORD}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // A disabled account does not sign in through SSO either.
    w.idp.set_user(FakeUser::new("idp-5", "dora@example.test"));
    let (r, _) = browser_sign_in(&w, "dora@example.test");
    assert_eq!(r.status, 303, "{}", r.text());
    let users = admin.get("/api/v1/users?limit=200").json();
    let dora = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "dora@example.test")
        .unwrap_or_else(|| panic!("{users}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin.send_json(
        "PATCH",
        &format!("/api/v1/users/{dora}"),
        &json!({"disabled": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let (r, mut b) = browser_sign_in(&w, "dora@example.test");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("disabled"), "{}", r.text());
    assert_eq!(b.get("/api/v1/me").status, 401);

    // Starting sign-ins is throttled per client (each costs a plugin call and a stored flow).
    let mut limited = None;
    for i in 0..40 {
        let r = browser.get("/sso/oidc/start?email=flood%40example.test");
        if r.status == 429 {
            limited = Some(i);
            assert!(r.header("retry-after").is_some());
            break;
        }
        assert_eq!(r.status, 303, "{}", r.text());
    }
    assert!(
        limited.is_some_and(|i| i >= 25),
        "throttled after {limited:?} starts"
    );

    // Turning the feature off stops routing the domain.
    let r = admin.put_json(
        &format!("/api/v1/orgs/{}/features", w.org),
        &json!({"sso": false}),
    );
    assert_eq!(r.status, 200);
    let r = w.server.client().post_json(
        "/api/v1/auth/sso/discover",
        &json!({"email": "ann@example.test"}),
    );
    assert_eq!(r.json()["sso"], false, "{}", r.text());
}

#[test]
fn sso_settings_are_validated() {
    let w = sso_world();
    let mut admin = w.server.session();
    admin.post_json(
        "/api/v1/auth/login",
        &json!({"email": crate::support::server::ADMIN_EMAIL, "password": crate::support::server::ADMIN_PASSWORD}),
    );
    let path = format!("/api/v1/orgs/{}/sso", w.org);
    // A plugin that is not loaded: a well-formed name the instance's state refuses.
    let r = admin.put_json(&path, &json!({"plugin": "nope", "domains": ["a.test"]}));
    assert_problem(&r, 409, "conflict");
    let r = admin.put_json(
        &path,
        &json!({"plugin": "oidc", "domains": ["not a domain"]}),
    );
    assert_problem(&r, 422, "validation_failed");
    let r = admin.put_json(&path, &json!({"plugin": "oidc", "domains": []}));
    assert_problem(&r, 422, "validation_failed");
    let r = admin.put_json(
        &path,
        &json!({"plugin": "oidc", "domains": ["a.test"], "join_role": "owner"}),
    );
    assert_problem(&r, 422, "validation_failed");
    // A domain already verified by another organization.
    let other = create_org(&mut admin, "Org other", "other", None);
    admin.put_json(
        &format!("/api/v1/orgs/{other}/features"),
        &json!({"sso": true}),
    );
    allow_plugins(&mut admin, &other, &["oidc"]);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{other}/sso"),
        &json!({"plugin": "oidc", "domains": ["example.test"]}),
    );
    assert_problem(&r, 409, "conflict");
    // The sso feature must be on.
    let third = create_org(&mut admin, "Org third", "third", None);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{third}/sso"),
        &json!({"plugin": "oidc", "domains": ["third.test"]}),
    );
    assert_problem(&r, 403, "feature_disabled");
    let r = admin.delete(&path);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(admin.get(&path).json()["configured"], false);
}

// ------------------------------------------------------------------------------------------
// Billing
// ------------------------------------------------------------------------------------------

#[test]
fn billing_comes_from_the_plugin_and_survives_its_outage() {
    let api = FakeBilling::start("billing-token");
    let dir = unique_temp_dir("tenantry-billing-cfg");
    let config = write_config(
        &dir,
        &[&format!("billing_contact_email = \"{CONTACT}\"")],
        &[PluginEntry::new("billing", "billing-http")
            .allow(&api.host_port())
            .setting("base_url", &api.base_url())
            .setting("api_token", "billing-token")],
    );
    let server = start_with(&config);
    let mut admin = server.bootstrap_admin();
    let org = create_org(&mut admin, "Org acme", "acme", None);
    // The billing system keys its data by the organization's ID (stable), not its slug.
    api.set_profile(
        &org,
        json!({"legal_name": "Acme Corp", "billing_email": "ap@acme.test",
               "address": "1 Main St", "tax_id": "DE123", "plan": "scale"}),
    );
    api.add_invoice(
        &org,
        json!({"number": "INV-2", "issued_on": "2026-10-01", "amount_cents": 9900,
               "currency": "EUR", "status": "paid", "url": "https://billing.test/INV-2"}),
    );
    api.add_invoice(
        &org,
        json!({"number": "INV-1", "issued_on": "2026-09-01", "amount_cents": 9900,
               "currency": "EUR", "status": "paid", "url": null}),
    );
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/billing/source"),
        &json!({"plugin": "nope"}),
    );
    assert_problem(&r, 409, "conflict");
    allow_plugins(&mut admin, &org, &["billing"]);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/billing/source"),
        &json!({"plugin": "billing"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["source"], "plugin");

    let b = admin.get(&format!("/api/v1/orgs/{org}/billing"));
    assert_eq!(b.status, 200, "{}", b.text());
    assert_eq!(
        b.json()["profile"]["legal_name"],
        "Acme Corp",
        "{}",
        b.text()
    );
    // billing-http asked for the organization by its ID.
    let lines = api.request_lines();
    assert!(
        lines.contains(&format!("GET /organizations/{org}/profile")),
        "{lines:?}"
    );
    let inv = admin.get(&format!("/api/v1/orgs/{org}/billing/invoices?limit=1"));
    assert_eq!(inv.status, 200, "{}", inv.text());
    let v = inv.json();
    assert_eq!(v["data"][0]["number"], "INV-2", "{v}");
    let next = v["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let v = admin
        .get(&format!(
            "/api/v1/orgs/{org}/billing/invoices?limit=1&cursor={next}"
        ))
        .json();
    assert_eq!(v["data"][0]["number"], "INV-1", "{v}");
    assert_eq!(v["next_cursor"], Value::Null);
    let page = admin.get(&format!("/orgs/{org}/billing"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Acme Corp") && page.text().contains("INV-2"));

    // The plugin's checks run when saving a profile.
    let profile = json!({"legal_name": "Acme Corp", "billing_email": "ap@acme.test",
                         "address": "1 Main St", "tax_id": "INVALID-9", "plan": "scale"});
    let r = admin.put_json(&format!("/api/v1/orgs/{org}/billing/profile"), &profile);
    let p = assert_problem(&r, 422, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "tax_id", "{p}");

    // Billing visibility beyond the roles: a member the billing system names may read (not
    // change) billing; another member may not.
    api.add_viewer(&org, "finance@acme.test");
    let member = |admin: &mut Session, email: &str| -> Session {
        let r = admin.post_json(
            "/api/v1/users",
            &json!({"email": email, "name": email, "password": "member-password-1"}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let r = admin.post_json(
            &format!("/api/v1/orgs/{org}/members"),
            &json!({"email": email, "role": "member", "company_access": "all"}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let mut s = server.session();
        let r = s.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": "member-password-1"}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        s
    };
    let mut finance = member(&mut admin, "finance@acme.test");
    let mut other = member(&mut admin, "other@acme.test");
    let r = finance.get(&format!("/api/v1/orgs/{org}/billing"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["profile"]["legal_name"], "Acme Corp");
    assert_eq!(
        finance
            .get(&format!("/api/v1/orgs/{org}/billing/invoices"))
            .status,
        200
    );
    let r = finance.put_json(&format!("/api/v1/orgs/{org}/billing/profile"), &profile);
    assert_problem(&r, 403, "forbidden");
    let r = other.get(&format!("/api/v1/orgs/{org}/billing"));
    assert_problem(&r, 403, "forbidden");
    // The sections and the access explainer say the same.
    let sections_of = |s: &mut Session| -> Value {
        let v = s.get("/api/v1/me/sections").json();
        v["organizations"][0]["sections"].clone()
    };
    assert!(sections_of(&mut finance)
        .as_array()
        .unwrap()
        .contains(&json!("billing")));
    assert!(!sections_of(&mut other)
        .as_array()
        .unwrap()
        .contains(&json!("billing")));
    let q = format!("/api/v1/me/access?org={org}&permission=billing.read");
    let a = finance.get(&q).json();
    assert_eq!(a["allowed"], true, "{a}");
    assert!(a["reasons"].to_string().contains("billing system"), "{a}");
    assert_eq!(other.get(&q).json()["allowed"], false);

    // The billing API goes down: a clear answer with the contact, never a 500.
    api.set_down(true);
    // Visibility fails closed.
    let r = finance.get(&format!("/api/v1/orgs/{org}/billing"));
    assert_problem(&r, 403, "forbidden");
    let r = admin.get(&format!("/api/v1/orgs/{org}/billing"));
    let p = assert_problem(&r, 503, "billing_unavailable");
    assert_eq!(p["billing_contact_email"], CONTACT, "{p}");
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("temporarily unavailable"));
    let r = admin.get(&format!("/api/v1/orgs/{org}/billing/invoices"));
    assert_problem(&r, 503, "billing_unavailable");
    let page = admin.get(&format!("/orgs/{org}/billing"));
    assert_eq!(page.status, 503);
    let html = page.text();
    assert!(
        html.contains("temporarily unavailable") && html.contains(CONTACT),
        "{html}"
    );
    // And it recovers with the API.
    api.set_down(false);
    assert_eq!(
        admin.get(&format!("/api/v1/orgs/{org}/billing")).status,
        200
    );
}

// ------------------------------------------------------------------------------------------
// Email
// ------------------------------------------------------------------------------------------

#[test]
fn email_goes_through_the_plugin_and_retries_until_the_api_recovers() {
    let api = FakeEmailApi::start("mail-token");
    let dir = unique_temp_dir("tenantry-email-cfg");
    let config = write_config(
        &dir,
        &["[email]", "mode = \"plugin\"", "plugin = \"mailer\""],
        &[PluginEntry::new("mailer", "email-http")
            .allow(&api.host_port())
            .setting("endpoint", &api.endpoint())
            .setting("api_token", "mail-token")
            .setting("brand_name", "Acme")],
    );
    let server = start_with(&config);
    let mut admin = server.bootstrap_admin();
    let org = create_org(&mut admin, "Org acme", "acme", None);
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/invitations"),
        &json!({"email": "new.person@example.test", "role": "member", "company_access": "all"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    wait_until(Duration::from_secs(20), "the invitation email", || {
        !api.messages().is_empty()
    });
    let m = &api.messages()[0];
    assert_eq!(m["to"], "new.person@example.test", "{m}");
    assert!(m["subject"].as_str().unwrap().starts_with("[Acme] "), "{m}");
    assert!(m["text"].as_str().unwrap().contains("/invite/"), "{m}");

    // The API fails: the reset email is retried, then arrives once it recovers.
    api.set_failing(Some(503));
    let before = api.attempts();
    let r = server.client().post_json(
        "/api/v1/auth/password-reset",
        &json!({"email": crate::support::server::ADMIN_EMAIL}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    wait_until(Duration::from_secs(20), "a failed attempt", || {
        api.attempts() > before
    });
    assert_eq!(api.messages().len(), 1, "nothing stored while failing");
    api.set_failing(None);
    wait_until(Duration::from_secs(40), "the retried reset email", || {
        api.messages().len() == 2
    });
    let m = &api.messages()[1];
    assert_eq!(m["to"], crate::support::server::ADMIN_EMAIL, "{m}");
    assert!(m["text"]
        .as_str()
        .unwrap()
        .contains("/reset-password?token="));
}

// ------------------------------------------------------------------------------------------
// The fixture's faults
// ------------------------------------------------------------------------------------------

#[test]
fn plugin_faults_end_the_call_only() {
    let hole = Blackhole::start();
    let dir = unique_temp_dir("tenantry-fixture-cfg");
    let config = write_config(
        &dir,
        &[&format!("billing_contact_email = \"{CONTACT}\"")],
        &[PluginEntry::new("fixture", "fixture")
            .extra("timeout_ms = 400")
            .extra("memory_mib = 16")
            .setting("forbidden_url", &hole.url())
            .setting("greeting", "Hello from settings")],
    );
    let server = start_binary_with(&config);
    let mut admin = server.bootstrap_admin();
    let mut orgs = std::collections::BTreeMap::new();
    for mode in [
        "ok",
        "kv",
        "trap",
        "loop",
        "memory",
        "deep",
        "forbidden",
        "malformed",
    ] {
        let id = create_org(&mut admin, &format!("Org {mode}"), mode, None);
        allow_plugins(&mut admin, &id, &["fixture"]);
        let r = admin.put_json(
            &format!("/api/v1/orgs/{id}/billing/source"),
            &json!({"plugin": "fixture"}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        orgs.insert(mode, id);
    }
    let billing = |admin: &mut Session, mode: &str| {
        admin.get(&format!("/api/v1/orgs/{}/billing", orgs[mode]))
    };

    let ok = billing(&mut admin, "ok");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["profile"]["legal_name"], "Fixture Ltd");
    // The plugin was given the organization's ID (the fixture echoes it).
    assert_eq!(
        ok.json()["profile"]["address"],
        format!("1 Fixture Way, {}", orgs["ok"]),
        "{}",
        ok.text()
    );
    // Storage and settings persist across calls (fresh instances each time).
    let kv1 = billing(&mut admin, "kv").json();
    let kv2 = billing(&mut admin, "kv").json();
    assert_eq!(kv1["profile"]["legal_name"], "Hello from settings", "{kv1}");
    let n = |v: &Value| {
        v["profile"]["plan"]
            .as_str()
            .unwrap()
            .trim_start_matches("calls:")
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(n(&kv2), n(&kv1) + 1, "{kv1} {kv2}");

    // Each fault: a clear error for that call, logged with its typed code.
    for (mode, code) in [
        ("trap", "(plugin_trap)"),
        ("loop", "(plugin_timeout)"),
        ("memory", "(plugin_memory_limit)"),
        // Recursion to the WebAssembly stack limit, on the thread serving the request (its
        // connection's thread): a trap, not a crash of the server.
        ("deep", "call stack exhausted"),
        ("forbidden", "forbidden_host"),
        ("malformed", "(plugin_invalid_output)"),
    ] {
        let t = Instant::now();
        let r = billing(&mut admin, mode);
        let took = t.elapsed();
        let p = assert_problem(&r, 503, "billing_unavailable");
        assert_eq!(p["billing_contact_email"], CONTACT);
        assert!(took < Duration::from_secs(5), "{mode} took {took:?}");
        let log = server.stderr_text();
        assert!(
            log.lines()
                .any(|l| l.contains(&orgs[mode]) && l.contains(code)),
            "no {code} for {mode} in the log:\n{log}"
        );
        // The server keeps serving, and the healthy plugin call still works.
        assert_eq!(server.client().get("/healthz").status, 200);
        assert_eq!(billing(&mut admin, "ok").status, 200);
    }
    assert_eq!(
        hole.connections(),
        0,
        "the forbidden host was never contacted"
    );

    // 1 000 faulty calls later, threads and memory are back near where they were.
    let pid = server.pid().unwrap();
    for _ in 0..20 {
        billing(&mut admin, "memory");
        billing(&mut admin, "trap");
    }
    let threads0 = proc_status(pid, "Threads");
    let rss0 = proc_status(pid, "VmRSS");
    let modes = ["trap", "memory", "forbidden", "malformed"];
    for i in 0..1000 {
        let mode = if i % 100 == 0 {
            "loop"
        } else {
            modes[i % modes.len()]
        };
        let r = billing(&mut admin, mode);
        assert_eq!(r.status, 503, "call {i} ({mode}): {}", r.text());
    }
    assert_eq!(billing(&mut admin, "ok").status, 200);
    let threads1 = proc_status(pid, "Threads");
    let rss1 = proc_status(pid, "VmRSS");
    eprintln!("threads {threads0} → {threads1}, VmRSS {rss0} kB → {rss1} kB");
    assert!(
        threads1 <= threads0 + 2,
        "threads grew: {threads0} → {threads1}"
    );
    assert!(
        rss1 <= rss0 + 32 * 1024,
        "memory grew: {rss0} kB → {rss1} kB"
    );
}

// ------------------------------------------------------------------------------------------
// Compile cache, CLI
// ------------------------------------------------------------------------------------------

#[test]
fn a_restart_with_unchanged_plugins_does_not_recompile() {
    let dir = unique_temp_dir("tenantry-cache-cfg");
    let config = write_config(&dir, &[], &[PluginEntry::new("fixture", "fixture")]);
    // Cold: not given the components other servers of this test run compiled.
    let mut server = TestServer::builder()
        .binary()
        .cold_plugin_cache()
        .arg("--config")
        .arg(config.display().to_string())
        .start();
    let first = server.stderr_text();
    assert!(
        first.contains("plugin fixture: compiled in"),
        "first start compiles:\n{first}"
    );
    server.restart();
    let log = server.stderr_text();
    let second = log.rsplit("----- restart #1 -----").next().unwrap();
    assert!(
        second.contains("plugin fixture: loaded from the compile cache")
            && !second.contains("plugin fixture: compiled in"),
        "restart uses the cache:\n{second}"
    );
    // A damaged cache entry is recompiled, not trusted.
    for e in std::fs::read_dir(server.data_dir().join("plugin-cache")).unwrap() {
        std::fs::write(e.unwrap().path(), b"garbage").unwrap();
    }
    server.restart();
    let log = server.stderr_text();
    let third = log.rsplit("----- restart #2 -----").next().unwrap();
    assert!(third.contains("plugin fixture: compiled in"), "{third}");
    assert!(third.contains("plugin fixture: ready"), "{third}");
}

/// The test servers of a run compile each component once: a server that loads plugins starts
/// with what the run's earlier servers compiled (unless it asks for a cold cache).
#[test]
fn test_servers_take_the_components_the_run_already_compiled() {
    let dir = unique_temp_dir("tenantry-cache-shared-cfg");
    let config = write_config(&dir, &[], &[PluginEntry::new("fixture", "fixture")]);
    let first = start_binary_with(&config);
    assert!(first.stderr_text().contains("plugin fixture: ready"));
    let second = start_binary_with(&config);
    let log = second.stderr_text();
    assert!(
        log.contains("plugin fixture: loaded from the compile cache")
            && !log.contains("plugin fixture: compiled in"),
        "{log}"
    );
}

#[test]
fn plugin_check_and_list() {
    let fixture = wasm("fixture");
    let out = run_cli(&["plugin", "check", fixture.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("worlds:  sso, billing-profile, email-delivery"),
        "{text}"
    );
    assert!(
        text.contains("tenantry:plugin/host@2.0.0  — granted by the host"),
        "{text}"
    );

    let out = run_cli(&[
        "plugin",
        "check",
        "--json",
        wasm("sso-oidc").to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["worlds"], json!(["sso"]), "{v}");

    // Not a component: a clear refusal, exit code 2.
    let dir = unique_temp_dir("tenantry-check");
    let junk = dir.join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").unwrap();
    let out = run_cli(&["plugin", "check", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a WebAssembly component"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `plugin list` shows ready and failed plugins.
    let missing = dir.join("missing.wasm");
    let mut broken = PluginEntry::new("broken", "fixture");
    broken.file = missing;
    let config = write_config(
        &dir,
        &[&format!("data_dir = \"{}\"", dir.join("data").display())],
        &[PluginEntry::new("mailer", "email-http"), broken],
    );
    let out = run_cli(&[
        "plugin",
        "list",
        "--json",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by = |n: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by("mailer")["state"], "ready", "{v}");
    assert_eq!(by("mailer")["worlds"], json!(["email-delivery"]), "{v}");
    assert_eq!(by("broken")["state"], "failed", "{v}");
    assert!(
        by("broken")["error"]
            .as_str()
            .unwrap()
            .contains("cannot read"),
        "{v}"
    );
    // Listing reads the configuration and the plugins only: no database is created.
    assert!(
        !dir.join("data").join("tenantry.db").exists(),
        "`plugin list` created a database"
    );
}

/// The host grants WASI clocks and randomness (so `SystemTime`, `Instant` and `HashMap`
/// work in a plugin) and nothing else of WASI: a file read traps, and `plugin check` says
/// which imports are granted and which trap.
#[test]
fn wasi_clocks_and_random_are_granted_and_files_are_not() {
    let fixture = wasm("fixture");
    let dir = unique_temp_dir("tenantry-wasi-cfg");
    let config = write_config(
        &dir,
        &[&format!("billing_contact_email = \"{CONTACT}\"")],
        &[PluginEntry::new("fixture", "fixture")],
    );
    let server = start_binary_with(&config);
    let mut admin = server.bootstrap_admin();
    let mut orgs = std::collections::BTreeMap::new();
    for mode in ["wasi", "file"] {
        let id = create_org(&mut admin, &format!("Org {mode}"), mode, None);
        allow_plugins(&mut admin, &id, &["fixture"]);
        let r = admin.put_json(
            &format!("/api/v1/orgs/{id}/billing/source"),
            &json!({"plugin": "fixture"}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        orgs.insert(mode, id);
    }
    let plan = |admin: &mut Session| -> Vec<String> {
        let r = admin.get(&format!("/api/v1/orgs/{}/billing", orgs["wasi"]));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["profile"]["legal_name"], "WASI Ltd (2 clocks)", "{v}");
        let plan = v["profile"]["plan"].as_str().unwrap().to_string();
        plan.split(':').map(str::to_string).collect()
    };
    let first = plan(&mut admin);
    let second = plan(&mut admin);
    assert_eq!(first[0], "wasi", "{first:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let plugin_now: u64 = first[1].parse().unwrap();
    assert!(now.abs_diff(plugin_now) < 60, "{plugin_now} vs {now}");
    assert_eq!(first[3], "true", "Instant works: {first:?}");
    assert_ne!(first[2], second[2], "RandomState keys differ per call");

    // A file read traps: a clear error for that call, the trap names the import.
    let r = admin.get(&format!("/api/v1/orgs/{}/billing", orgs["file"]));
    assert_problem(&r, 503, "billing_unavailable");
    let log = server.stderr_text();
    assert!(
        log.lines()
            .any(|l| l.contains(&orgs["file"]) && l.contains("(plugin_trap)")),
        "no trap for the file read in the log:\n{log}"
    );
    assert!(
        log.contains("wasi:filesystem/preopens@0.2.")
            && log.contains("#get-directories` has not been defined"),
        "the trap names the import:\n{log}"
    );
    assert_eq!(plan(&mut admin)[0], "wasi", "the plugin still works");

    // `plugin check` reports each import.
    let out = run_cli(&["plugin", "check", "--json", fixture.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let how = |prefix: &str| -> Vec<String> {
        v["imports"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["name"].as_str().unwrap().starts_with(prefix))
            .map(|i| i["provided_as"].as_str().unwrap().to_string())
            .collect()
    };
    for (prefix, expect) in [
        ("wasi:clocks/wall-clock@0.2.", "granted"),
        ("wasi:random/insecure-seed@0.2.", "granted"),
        ("wasi:filesystem/preopens@0.2.", "trap"),
        ("wasi:filesystem/types@0.2.", "trap"),
        ("wasi:cli/environment@0.2.", "trap"),
        ("tenantry:plugin/host@2.", "granted"),
    ] {
        let found = how(prefix);
        assert!(
            !found.is_empty() && found.iter().all(|h| h == expect),
            "{prefix}: {found:?} in {v}"
        );
    }
    for i in v["imports"].as_array().unwrap() {
        let name = i["name"].as_str().unwrap();
        if name.starts_with("wasi:clocks/monotonic-clock@0.2.") {
            // `now` is granted; `subscribe-*` (waiting) would trap, if imported.
            let traps = i["traps"].as_array().cloned().unwrap_or_default();
            assert!(
                traps
                    .iter()
                    .all(|t| t.as_str().unwrap().starts_with("subscribe-")),
                "{i}"
            );
        }
    }
    let out = run_cli(&["plugin", "check", fixture.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("wasi:filesystem/preopens@0.2.")
                && l.contains("not granted: defined as a trap")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("wasi:clocks/wall-clock@0.2.")
            && l.contains("granted by the host")),
        "{text}"
    );
}

#[test]
fn bad_plugin_config_is_refused_at_start() {
    let dir = unique_temp_dir("tenantry-badcfg");
    let config = dir.join("tenantry.toml");
    for (text, expect) in [
        (
            "[plugins.x]\nallowed_hosts = []\n",
            "`plugins.x.file` is required",
        ),
        (
            "[plugins.x]\nfile = \"a.wasm\"\nallowed_hosts = [\"http://evil\"]\n",
            "allowed_hosts",
        ),
        ("[email]\nmode = \"plugin\"\n", "`email.plugin` is not set"),
        (
            "[email]\nmode = \"plugin\"\nplugin = \"ghost\"\n",
            "no [plugins.ghost] table",
        ),
    ] {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&config, text).unwrap();
        let out = run_cli(&[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{text} → {err}");
    }
}

#[test]
fn email_plugin_faults_are_retried_and_its_verdicts_kept() {
    let dir = unique_temp_dir("tenantry-email-fixture-cfg");
    let config = write_config(
        &dir,
        &["[email]", "mode = \"plugin\"", "plugin = \"fixture\""],
        &[PluginEntry::new("fixture", "fixture").extra("timeout_ms = 300")],
    );
    let server = start_with(&config);
    let mut admin = server.bootstrap_admin();
    let org = create_org(&mut admin, "Org acme", "acme", None);
    for who in ["flaky", "trap", "loop", "permanent", "malformed"] {
        let r = admin.post_json(
            &format!("/api/v1/orgs/{org}/invitations"),
            &json!({"email": format!("{who}@example.test"), "role": "member", "company_access": "all"}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let delivery_of = |admin: &mut Session, who: &str| -> Value {
        let list = admin.get(&format!("/api/v1/orgs/{org}/invitations")).json();
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["email"] == format!("{who}@example.test"))
            .unwrap_or_else(|| panic!("no invitation for {who}: {list}"))["delivery"]
            .clone()
    };
    // flaky: the first attempt is retryable, the retry (5 s later) delivers.
    wait_until(
        Duration::from_secs(30),
        "the flaky message to be delivered",
        || delivery_of(&mut admin, "flaky")["status"] == "sent",
    );
    assert_eq!(delivery_of(&mut admin, "flaky")["attempts"], 2);
    // A plugin's own permanent verdict ends the message.
    let d = delivery_of(&mut admin, "permanent");
    assert_eq!(d["status"], "failed", "{d}");
    // A trap, a timeout, or an answer the host refuses is retried: nothing is lost.
    for (who, code) in [
        ("trap", "plugin_trap"),
        ("loop", "plugin_timeout"),
        ("malformed", "plugin_invalid_output"),
    ] {
        wait_until(
            Duration::from_secs(30),
            &format!("a second attempt for {who}"),
            || {
                delivery_of(&mut admin, who)["attempts"]
                    .as_i64()
                    .unwrap_or(0)
                    >= 2
            },
        );
        let d = delivery_of(&mut admin, who);
        assert_ne!(d["status"], "failed", "{who}: {d}");
        assert!(
            d["last_error"].as_str().unwrap_or_default().contains(code),
            "{who}: {d}"
        );
    }
    assert_eq!(server.client().get("/healthz").status, 200);
}

/// In a real browser: the sign-in form, the identity provider, back to the start page.
/// (Regression: answering the form post with a redirect chain to the provider was stopped by
/// the page's CSP `form-action 'self'`, which Chromium applies to every redirect of a form
/// submission; HTTP-level tests could not see it.)
#[test]
fn sso_in_a_real_browser_from_the_sign_in_page() {
    let w = sso_world();
    let mut user = FakeUser::new("idp-browser-1", "bea@example.test");
    user.name = Some("Bea Browser".into());
    w.idp.set_user(user);
    let browser = crate::support::browser::Browser::start();
    browser.goto(&format!("{}/login", w.server.base_url()));
    browser.type_into("#email", "bea@example.test");
    browser.click("button[type=submit]");
    browser.wait_for(
        "the settings page after signing in through the identity provider",
        Duration::from_secs(20),
        |url, html| {
            url.starts_with(&format!("{}/settings", w.server.base_url()))
                && html.contains("Bea Browser")
        },
    );
    assert!(browser.source().contains("bea@example.test"));
    assert_eq!(w.idp.token_requests(), 1);
}

#[test]
fn a_slow_plugin_cannot_take_every_worker() {
    let hole = Blackhole::start();
    let dir = unique_temp_dir("tenantry-busy-cfg");
    let config = write_config(
        &dir,
        &[],
        &[PluginEntry::new("fixture", "fixture")
            .allow(&hole.host_port())
            .extra("timeout_ms = 3000")
            .extra("http_timeout_ms = 2000")
            .extra("max_concurrent_calls = 1")
            .setting("slow_url", &hole.url())],
    );
    let server = start_binary_with(&config);
    let mut admin = server.bootstrap_admin();
    let mut ids = Vec::new();
    for mode in ["slow", "ok"] {
        let id = create_org(&mut admin, &format!("Org {mode}"), mode, None);
        allow_plugins(&mut admin, &id, &["fixture"]);
        let r = admin.put_json(
            &format!("/api/v1/orgs/{id}/billing/source"),
            &json!({"plugin": "fixture"}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        ids.push(id);
    }
    let (slow, ok) = (ids[0].clone(), ids[1].clone());
    let mut waiting = admin.clone();
    let path = format!("/api/v1/orgs/{slow}/billing");
    let first = std::thread::spawn(move || waiting.get(&path).status);
    wait_until(
        Duration::from_secs(10),
        "the slow call to reach its upstream",
        || hole.connections() >= 1,
    );
    // The plugin's one place is taken: the next call is refused at once, not queued.
    let r = admin.get(&format!("/api/v1/orgs/{ok}/billing"));
    assert_problem(&r, 503, "billing_unavailable");
    assert!(
        server.stderr_text().contains("(plugin_busy)"),
        "{}",
        server.stderr_text()
    );
    assert_eq!(server.client().get("/healthz").status, 200);
    assert_eq!(
        first.join().unwrap(),
        503,
        "the slow call ends at its HTTP timeout"
    );
    // The place is free again.
    assert_eq!(admin.get(&format!("/api/v1/orgs/{ok}/billing")).status, 200);
}
