//! SSO domain ownership, account linking and plugins bound to organizations: a
//! domain in an organization's SSO settings does nothing until the
//! organization proves it owns it — a DNS TXT record checked against a real DNS server
//! (dnsmasq on loopback) or an instance administrator's approval (API and CLI); public
//! suffixes and free-mail domains cannot be claimed; an identity links to an existing account
//! only through a verified domain, never to an instance administrator, and the first link is
//! audited and emailed; an invitation sign-up in a verified SSO domain goes through SSO; an
//! organization uses only the plugins an instance administrator allowed it.

use std::net::SocketAddr;

use serde_json::{json, Value};

use crate::support::dns::{free_dns_port, Dnsmasq};
use crate::support::fake_oidc::{FakeOidc, FakeUser};
use crate::support::flows::{binding_cookie, create_org, create_user, login, run_cli, try_login};
use crate::support::forms::{csrf_cookie, post_form_with_csrf};
use crate::support::plugins::{allow_plugins, approve_domain, write_config, PluginEntry};
use crate::support::server::{unique_temp_dir, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::support::{assert_problem, Client, Response, Session, TestServer};

// ------------------------------------------------------------------------------------------
// The world: a server with the sso-oidc and fixture plugins, a fake identity provider
// ------------------------------------------------------------------------------------------

struct World {
    server: TestServer,
    idp: FakeOidc,
    admin: Session,
    org: String,
    dns_port: u16,
    config: String,
}

fn sso_on(admin: &mut Session, org: &str) {
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/features"),
        &json!({"sso": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A server whose organization `acme` may use `oidc` and lists `example.test` (the
/// instance administrator's domain) and `other.test` for SSO, both pending.
fn world() -> World {
    let idp = FakeOidc::start("tenantry-test");
    let dns_port = free_dns_port();
    let dir = unique_temp_dir("tenantry-sso-domains-cfg");
    let config = write_config(
        &dir,
        &[&format!("sso.dns_resolver = \"127.0.0.1:{dns_port}\"")],
        &[
            PluginEntry::new("oidc", "sso-oidc")
                .allow(&idp.host_port())
                .setting("issuer", &idp.issuer())
                .setting("client_id", "tenantry-test"),
            PluginEntry::new("fixture", "fixture"),
        ],
    );
    let server = TestServer::builder()
        .arg("--config")
        .arg(config.display().to_string())
        .start();
    let mut admin = server.bootstrap_admin();
    let org = create_org(&mut admin, "Org acme", "acme", None);
    sso_on(&mut admin, &org);
    allow_plugins(&mut admin, &org, &["oidc"]);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/sso"),
        &json!({"plugin": "oidc", "domains": ["example.test", "other.test"], "join_role": "member"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    World {
        server,
        idp,
        admin,
        org,
        dns_port,
        config: config.display().to_string(),
    }
}

fn settings(w: &mut World) -> Value {
    let r = w.admin.get(&format!("/api/v1/orgs/{}/sso", w.org));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The settings' entry for `domain`.
fn domain_entry(w: &mut World, domain: &str) -> Value {
    let v = settings(w);
    v["domain_verification"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap_or_else(|| panic!("{domain} in {v}"))
        .clone()
}

fn discover(w: &World, email: &str) -> Value {
    let r = w
        .server
        .client()
        .post_json("/api/v1/auth/sso/discover", &json!({"email": email}));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    (authority.parse().expect("host:port"), path.to_string())
}

/// Starts a sign-in for `start_email`, lets the provider vouch for whoever it is set to,
/// and returns the callback's answer and the browser.
fn sign_in(w: &World, start_email: &str) -> (Response, Session) {
    let mut browser = w.server.session();
    let start = format!(
        "/sso/oidc/start?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("email", start_email)
            .finish()
    );
    let r = browser.get(&start);
    assert_eq!(r.status, 303, "start: {}", r.text());
    let binding = binding_cookie(&r);
    let (idp_addr, idp_path) = split_url(r.header("location").unwrap());
    let r = Client::new(idp_addr).get(&idp_path);
    assert_eq!(r.status, 302, "authorize: {}", r.text());
    let (_, callback) = split_url(r.header("location").unwrap());
    let cookie = format!("tenantry_sso={binding}");
    let r = browser.request("GET", &callback, &[("Cookie", &cookie)], None);
    (r, browser)
}

fn audit_actions(w: &mut World) -> Vec<Value> {
    let r = w
        .admin
        .get(&format!("/api/v1/orgs/{}/audit-log?limit=200", w.org));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

/// Adds `email` (a new password account) to the organization as `role`.
fn member(w: &mut World, org: &str, email: &str, role: &str) -> Session {
    let password = "member-password-1";
    create_user(&mut w.admin, email, Some(email), Some(password));
    let r = w.admin.post_json(
        &format!("/api/v1/orgs/{org}/members"),
        &json!({"email": email, "role": role, "company_access": "all"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    login(&w.server, email, password)
}

// ------------------------------------------------------------------------------------------
// Claims
// ------------------------------------------------------------------------------------------

#[test]
fn public_suffixes_and_free_mail_domains_cannot_be_claimed() {
    let mut w = world();
    let path = format!("/api/v1/orgs/{}/sso", w.org);
    for (domain, words) in [
        ("gmail.com", "free email provider"),
        ("co.uk", "public suffix"),
        ("github.io", "public suffix"),
        // Free mail outside the English-speaking world, and a subdomain of one.
        ("yandex.ru", "free email provider"),
        ("mail.web.de", "free email provider"),
    ] {
        let r = w.admin.put_json(
            &path,
            &json!({"plugin": "oidc", "domains": ["acme.test", domain]}),
        );
        let p = assert_problem(&r, 422, "validation_failed");
        assert_eq!(p["errors"][0]["field"], "domains[1]", "{domain}: {p}");
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains(words),
            "{domain}: {p}"
        );
    }
    // Nothing was changed by the refused claims.
    assert_eq!(
        settings(&mut w)["domains"],
        json!(["example.test", "other.test"])
    );
}

#[test]
fn a_pending_domain_routes_refuses_and_links_nothing() {
    let mut w = world();
    let entry = domain_entry(&mut w, "example.test");
    assert_eq!(entry["status"], "pending", "{entry}");
    assert_eq!(entry["txt_name"], "_tenantry-challenge.example.test");
    let value = entry["txt_value"].as_str().unwrap();
    assert!(
        value.starts_with("tenantry-verify=") && value.len() > 30,
        "{entry}"
    );
    // The token is stable until the domain is dropped.
    assert_eq!(domain_entry(&mut w, "example.test")["txt_value"], value);

    create_user(
        &mut w.admin,
        "pat@other.test",
        Some("pat@other.test"),
        Some("pat-password-1"),
    );
    // Not routed: discovery, the SSO start, password sign-in.
    assert_eq!(discover(&w, "pat@other.test")["sso"], false);
    let r = w
        .server
        .session()
        .get("/sso/oidc/start?email=pat%40other.test");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = try_login(&w.server, "pat@other.test", "pat-password-1").1;
    assert_eq!(
        r.status,
        200,
        "a pending domain refuses no password: {}",
        r.text()
    );

    // Not linked: with example.test verified, the provider vouches for an address of the
    // still pending other.test; the account there is left alone.
    approve_domain(&mut w.admin, &w.org.clone(), "example.test");
    assert_eq!(discover(&w, "someone@example.test")["sso"], true);
    w.idp.set_user(FakeUser::new("idp-pat", "pat@other.test"));
    let (r, mut b) = sign_in(&w, "pat@example.test");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("not in a verified domain"),
        "{}",
        r.text()
    );
    assert_eq!(b.get("/api/v1/me").status, 401);
    let r = try_login(&w.server, "pat@other.test", "pat-password-1").1;
    assert_eq!(r.status, 200, "still a password account: {}", r.text());
    assert!(!audit_actions(&mut w)
        .iter()
        .any(|e| e["action"] == "sso.account_linked"));
}

#[test]
fn a_dns_txt_record_with_the_token_verifies_a_domain() {
    let mut w = world();
    let org = w.org.clone();
    let entry = domain_entry(&mut w, "other.test");
    let name = entry["txt_name"].as_str().unwrap().to_string();
    let value = entry["txt_value"].as_str().unwrap().to_string();
    let verify = format!("/api/v1/orgs/{org}/sso/domains/other.test/verify");

    // Only those who may change the settings may ask.
    let mut plain = member(&mut w, &org, "mia@elsewhere.test", "member");
    let r = plain.post_json(&verify, &json!({}));
    assert_problem(&r, 403, "forbidden");
    // A domain the organization did not list.
    let r = w.admin.post_json(
        &format!("/api/v1/orgs/{org}/sso/domains/unlisted.test/verify"),
        &json!({}),
    );
    assert_problem(&r, 404, "not_found");

    // The record carries another organization's token: refused, with what to publish.
    {
        let _dns = Dnsmasq::start(
            w.dns_port,
            &[(name.as_str(), "tenantry-verify=someone-elses-token")],
        );
        let r = w.admin.post_json(&verify, &json!({}));
        let p = assert_problem(&r, 422, "domain_verification_failed");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("does not carry") && detail.contains(&value),
            "{p}"
        );
        assert_eq!(domain_entry(&mut w, "other.test")["status"], "pending");
    }
    // No record at all.
    {
        let _dns = Dnsmasq::start(w.dns_port, &[("_tenantry-challenge.unrelated.test", "x")]);
        let r = w.admin.post_json(&verify, &json!({}));
        assert_problem(&r, 422, "domain_verification_failed");
        assert_eq!(discover(&w, "ann@other.test")["sso"], false);
    }
    // The right token (next to an unrelated TXT record) verifies it.
    let _dns = Dnsmasq::start(
        w.dns_port,
        &[
            (name.as_str(), "v=spf1 -all"),
            (name.as_str(), value.as_str()),
        ],
    );
    let r = w.admin.post_json(&verify, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "verified", "{v}");
    assert_eq!(v["verified_by"], "dns", "{v}");
    assert_eq!(domain_entry(&mut w, "other.test")["status"], "verified");
    assert_eq!(discover(&w, "ann@other.test")["plugin"], "oidc");
    // Now password sign-in in that domain goes to SSO.
    create_user(
        &mut w.admin,
        "bo@other.test",
        Some("bo@other.test"),
        Some("bo-password-1"),
    );
    let r = try_login(&w.server, "bo@other.test", "bo-password-1").1;
    assert_problem(&r, 400, "sso_required");
    let events = audit_actions(&mut w);
    assert!(
        events.iter().any(|e| e["action"] == "sso.domain_verified"
            && e["details"]["domain"] == "other.test"
            && e["details"]["method"] == "dns"),
        "{events:?}"
    );
    // Another organization cannot take a verified domain over.
    let mut admin = w.admin.clone();
    let rival = create_org(&mut admin, "Org rival", "rival", None);
    sso_on(&mut admin, &rival);
    allow_plugins(&mut admin, &rival, &["oidc"]);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{rival}/sso"),
        &json!({"plugin": "oidc", "domains": ["other.test"]}),
    );
    assert_problem(&r, 409, "conflict");
}

/// Each DNS check can hold a worker for seconds, so an organization gets a few in a row and
/// then waits (429 `rate_limited` with Retry-After); callers who may not verify spend none of
/// its attempts, and other organizations are not slowed.
#[test]
fn domain_verification_is_throttled_per_organization() {
    let mut w = world();
    let org = w.org.clone();
    let verify = format!("/api/v1/orgs/{org}/sso/domains/other.test/verify");
    let _dns = Dnsmasq::start(w.dns_port, &[("_tenantry-challenge.unrelated.test", "x")]);

    // A member without the permission cannot use up the organization's attempts.
    let mut plain = member(&mut w, &org, "mo@elsewhere.test", "member");
    for _ in 0..8 {
        assert_problem(&plain.post_json(&verify, &json!({})), 403, "forbidden");
    }
    // Five checks in a row get their answer; the sixth is refused without a lookup.
    for i in 0..5 {
        let r = w.admin.post_json(&verify, &json!({}));
        assert_eq!(r.status, 422, "attempt {i}: {}", r.text());
    }
    let r = w.admin.post_json(&verify, &json!({}));
    assert_problem(&r, 429, "rate_limited");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&wait), "{wait}");
    // The other listed domain of the same organization waits too (the limit is per
    // organization, not per domain).
    let r = w.admin.post_json(
        &format!("/api/v1/orgs/{org}/sso/domains/example.test/verify"),
        &json!({}),
    );
    assert_problem(&r, 429, "rate_limited");

    // Another organization still gets its answer.
    let mut admin = w.admin.clone();
    let rival = create_org(&mut admin, "Org rival", "rival", None);
    sso_on(&mut admin, &rival);
    allow_plugins(&mut admin, &rival, &["oidc"]);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{rival}/sso"),
        &json!({"plugin": "oidc", "domains": ["rival.test"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin.post_json(
        &format!("/api/v1/orgs/{rival}/sso/domains/rival.test/verify"),
        &json!({}),
    );
    assert_problem(&r, 422, "domain_verification_failed");
}

#[test]
fn an_instance_administrator_approves_domains_through_the_api_and_the_cli() {
    let mut w = world();
    let org = w.org.clone();
    // An organization owner cannot approve their own claim.
    let mut owner = member(&mut w, &org, "olga@elsewhere.test", "owner");
    let approve = format!("/api/v1/orgs/{org}/sso/domains/example.test/approve");
    let r = owner.post_json(&approve, &json!({}));
    assert_problem(&r, 403, "forbidden");
    // Someone outside the organization does not even learn it exists.
    let mut admin = w.admin.clone();
    let other = create_org(&mut admin, "Org outsider-org", "outsider-org", None);
    let mut outsider = member(&mut w, &other, "otto@elsewhere.test", "owner");
    let r = outsider.post_json(&approve, &json!({}));
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(discover(&w, "x@example.test")["sso"], false);

    // API.
    let r = w.admin.post_json(&approve, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["verified_by"], "instance_admin", "{}", r.text());
    assert_eq!(discover(&w, "x@example.test")["sso"], true);
    let r = w.admin.post_json(
        &format!("/api/v1/orgs/{org}/sso/domains/unlisted.test/approve"),
        &json!({}),
    );
    assert_problem(&r, 404, "not_found");

    // CLI, against the running server's data directory.
    let data = w.server.data_dir().display().to_string();
    assert_eq!(discover(&w, "x@other.test")["sso"], false);
    let out = run_cli(&[
        "org",
        "sso-approve",
        "--data-dir",
        &data,
        "--org",
        &org,
        "--domain",
        "other.test",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("other.test") && text.contains("verified"),
        "{text}"
    );
    assert_eq!(discover(&w, "x@other.test")["sso"], true);
    let out = run_cli(&[
        "org",
        "sso-approve",
        "--data-dir",
        &data,
        "--org",
        &org,
        "--domain",
        "unlisted.test",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no SSO domain"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = audit_actions(&mut w);
    let methods: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "sso.domain_verified")
        .map(|e| &e["details"]["method"])
        .collect();
    assert_eq!(methods.len(), 2, "{events:?}");
    assert!(methods.iter().all(|m| *m == "instance_admin"), "{events:?}");
}

// ------------------------------------------------------------------------------------------
// Linking
// ------------------------------------------------------------------------------------------

#[test]
fn linking_needs_a_verified_domain_never_takes_an_administrator_and_is_audited_and_emailed() {
    let mut w = world();
    let org = w.org.clone();
    approve_domain(&mut w.admin, &org, "example.test");
    let lee = create_user(
        &mut w.admin,
        "lee@example.test",
        Some("lee@example.test"),
        Some("lee-password-1"),
    );

    // The instance administrator's address is in the verified domain: the provider vouching
    // for it signs nobody in, links nothing and converts nothing.
    w.idp.set_user(FakeUser::new("idp-admin", ADMIN_EMAIL));
    let (r, mut b) = sign_in(&w, ADMIN_EMAIL);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("instance administrator"), "{}", r.text());
    assert_eq!(b.get("/api/v1/me").status, 401);
    let r = try_login(&w.server, ADMIN_EMAIL, ADMIN_PASSWORD).1;
    assert_eq!(
        r.status,
        200,
        "the administrator keeps the password: {}",
        r.text()
    );
    assert_eq!(w.admin.get("/api/v1/me").json()["auth"], "password");

    // An existing account in the verified domain is linked on its first SSO sign-in.
    w.idp.set_user(FakeUser::new("idp-lee", "lee@example.test"));
    let (r, mut lee_browser) = sign_in(&w, "lee@example.test");
    assert_eq!(r.status, 303, "{}", r.text());
    let me = lee_browser.get("/api/v1/me").json();
    assert_eq!(me["id"], lee.as_str(), "{me}");
    assert_eq!(me["auth"], "sso", "{me}");
    let r = try_login(&w.server, "lee@example.test", "lee-password-1").1;
    assert_problem(&r, 400, "sso_required");
    let (r, _) = sign_in(&w, "lee@example.test");
    assert_eq!(r.status, 303, "{}", r.text());

    // Audited once, emailed once (the second sign-in is not a new link).
    let events = audit_actions(&mut w);
    let links: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "sso.account_linked")
        .collect();
    assert_eq!(links.len(), 1, "{events:?}");
    assert_eq!(links[0]["target_id"], lee.as_str());
    assert_eq!(links[0]["details"]["email"], "lee@example.test");
    let outbox = w.admin.get("/dev/outbox");
    assert_eq!(outbox.status, 200, "{}", outbox.text());
    let html = outbox.text();
    assert_eq!(
        html.matches("Your account now signs in with Org acme single sign-on")
            .count(),
        1,
        "{html}"
    );
    assert!(html.contains("to lee@example.test"), "{html}");
    assert!(
        !html.contains(&format!("to {ADMIN_EMAIL} · sso_linked")),
        "{html}"
    );
}

#[test]
fn invitation_sign_up_in_a_verified_sso_domain_goes_through_sso() {
    let mut w = world();
    let org = w.org.clone();
    approve_domain(&mut w.admin, &org, "example.test");
    let r = w.admin.post_json(
        &format!("/api/v1/orgs/{org}/invitations"),
        &json!({"email": "newbie@example.test", "role": "member", "company_access": "all"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let html = w.admin.get("/dev/outbox").text();
    let at = html
        .find("/invite/")
        .expect("an invitation link in the outbox");
    let token: String = html[at + "/invite/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{token}");

    let mut browser = w.server.session();
    let page = browser.get(&format!("/invite/{token}"));
    assert_eq!(page.status, 200, "{}", page.text());
    // The page offers single sign-on, not a password form.
    let html = page.text();
    assert!(html.contains("Continue with single sign-on"), "{html}");
    assert!(!html.contains("name=\"password\""), "{html}");
    let link = html_attr_after(&html, "Continue with single sign-on");
    assert!(
        link.contains("/sso/oidc/start?email=newbie%40example.test")
            && link.contains(&format!("next=%2Finvite%2F{token}")),
        "{link}"
    );
    // The browser got its form token all the same (a stale form posted anyway is sent on).
    let csrf = csrf_cookie(&page).unwrap();
    let r = post_form_with_csrf(
        &mut browser,
        &format!("/invite/{token}/signup"),
        &csrf_cookie(&page).unwrap(),
        &[
            ("csrf_token", &csrf),
            ("name", "Newbie"),
            ("password", "a-long-password-1"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("location").unwrap();
    assert!(
        to.contains("/sso/oidc/start?email=newbie%40example.test")
            && to.contains(&format!("next=%2Finvite%2F{token}")),
        "{to}"
    );
    assert!(r
        .header("set-cookie")
        .is_none_or(|c| !c.contains("tenantry_session")));
    // No password account was created.
    let users = w.admin.get("/api/v1/users?limit=200").json();
    assert!(
        !users.to_string().contains("newbie@example.test"),
        "{users}"
    );
    let r = try_login(&w.server, "newbie@example.test", "a-long-password-1").1;
    assert_problem(&r, 400, "sso_required");

    // An address in a still pending domain signs up with a password as before.
    let r = w.admin.post_json(
        &format!("/api/v1/orgs/{org}/invitations"),
        &json!({"email": "pending@other.test", "role": "member", "company_access": "all"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let html = w.admin.get("/dev/outbox").text();
    let token = last_invite_token(&html);
    let page = w.server.session().get(&format!("/invite/{token}"));
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("name=\"password\""), "{}", page.text());
    assert!(!page.text().contains("Continue with single sign-on"));
}

/// The `href` of the link whose text is `text`, entities decoded.
fn html_attr_after(html: &str, text: &str) -> String {
    let end = html.find(text).expect("link text");
    let start = html[..end].rfind("href=\"").expect("href") + "href=\"".len();
    let raw = &html[start..start + html[start..].find('"').unwrap()];
    raw.replace("&amp;", "&")
        .replace("&#x3D;", "=")
        .replace("&#x2F;", "/")
}

/// The token of the newest invitation link in the outbox page (newest first).
fn last_invite_token(html: &str) -> String {
    let at = html.find("/invite/").expect("an invitation link");
    html[at + "/invite/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

// ------------------------------------------------------------------------------------------
// Plugins bound to organizations
// ------------------------------------------------------------------------------------------

#[test]
fn organizations_use_only_the_plugins_an_instance_administrator_allowed() {
    let mut w = world();
    let mut admin = w.admin.clone();
    // The fixture's `ok` mode is chosen by the slug; it echoes the organization's ID.
    let org = create_org(&mut admin, "Org ok", "ok", None);
    sso_on(&mut admin, &org);
    let plugins = format!("/api/v1/orgs/{org}/plugins");
    assert_eq!(admin.get(&plugins).json(), json!({"allowed": []}));

    // Not allowed: refused, naming the plugin field.
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/billing/source"),
        &json!({"plugin": "fixture"}),
    );
    let p = assert_problem(&r, 409, "conflict");
    assert_eq!(p["errors"][0]["field"], "plugin", "{p}");
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/sso"),
        &json!({"plugin": "oidc", "domains": ["ok.test"]}),
    );
    let p = assert_problem(&r, 409, "conflict");
    assert_eq!(p["errors"][0]["field"], "plugin", "{p}");

    // Who may read and who may decide.
    let mut owner = member(&mut w, &org, "oona@elsewhere.test", "owner");
    let mut reader = member(&mut w, &org, "rita@elsewhere.test", "member");
    assert_eq!(reader.get(&plugins).status, 200);
    let r = owner.put_json(&plugins, &json!({"allowed": ["fixture"]}));
    assert_problem(&r, 403, "forbidden");
    let other = create_org(&mut admin, "Org elsewhere", "elsewhere", None);
    let mut stranger = member(&mut w, &other, "sam@elsewhere.test", "owner");
    assert_eq!(stranger.get(&plugins).status, 404);
    assert_eq!(
        stranger
            .put_json(&plugins, &json!({"allowed": ["fixture"]}))
            .status,
        404
    );
    let r = admin.put_json(&plugins, &json!({"allowed": ["fixture", "nope"]}));
    let p = assert_problem(&r, 409, "conflict");
    assert_eq!(p["errors"][0]["field"], "allowed[1]", "{p}");

    // Allowed: it works, and the plugin is given the organization's ID.
    let r = admin.put_json(&plugins, &json!({"allowed": ["fixture"]}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"allowed": [{"name": "fixture", "worlds": ["sso", "billing-profile", "email-delivery"]}]})
    );
    let r = owner.put_json(
        &format!("/api/v1/orgs/{org}/billing/source"),
        &json!({"plugin": "fixture"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let b = owner.get(&format!("/api/v1/orgs/{org}/billing"));
    assert_eq!(b.status, 200, "{}", b.text());
    assert_eq!(
        b.json()["profile"]["address"],
        format!("1 Fixture Way, {org}"),
        "{}",
        b.text()
    );

    // Denied again (CLI): billing falls back to the stored data, and /me/access says why.
    let data = w.server.data_dir().display().to_string();
    let out = run_cli(&[
        "org",
        "plugins",
        "--config",
        &w.config,
        "--data-dir",
        &data,
        "--org",
        &org,
        "--deny",
        "fixture",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("may use no plugin"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let b = owner.get(&format!("/api/v1/orgs/{org}/billing"));
    assert_eq!(b.status, 200, "{}", b.text());
    assert_ne!(
        b.json()["profile"]["legal_name"],
        "Fixture Ltd",
        "{}",
        b.text()
    );
    let a = owner
        .get(&format!(
            "/api/v1/me/access?org={org}&permission=billing.read"
        ))
        .json();
    assert!(
        a["reasons"]
            .to_string()
            .contains("not allowed for it by the instance administrator"),
        "{a}"
    );
    let r = owner.put_json(
        &format!("/api/v1/orgs/{org}/billing/source"),
        &json!({"plugin": "fixture"}),
    );
    assert_problem(&r, 409, "conflict");

    // Allowed through the CLI; a plugin that is not configured is refused there too.
    let out = run_cli(&[
        "org",
        "plugins",
        "--config",
        &w.config,
        "--data-dir",
        &data,
        "--org",
        &org,
        "--allow",
        "fixture",
        "--allow",
        "oidc",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("may use: fixture, oidc"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let names: Vec<Value> = reader.get(&plugins).json()["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("fixture"), json!("oidc")]);
    let out = run_cli(&[
        "org",
        "plugins",
        "--config",
        &w.config,
        "--data-dir",
        &data,
        "--org",
        &org,
        "--allow",
        "nope",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not configured"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An SSO plugin that stops being allowed stops routing its verified domains.
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/sso"),
        &json!({"plugin": "oidc", "domains": ["ok.test"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    approve_domain(&mut admin, &org, "ok.test");
    assert_eq!(discover(&w, "x@ok.test")["sso"], true);
    allow_plugins(&mut admin, &org, &["fixture"]);
    assert_eq!(discover(&w, "x@ok.test")["sso"], false);
    let s = admin.get(&format!("/api/v1/orgs/{org}/sso")).json();
    assert_eq!(s["plugin_allowed"], false, "{s}");
    let a = owner
        .get(&format!(
            "/api/v1/me/access?org={org}&permission=org.update"
        ))
        .json();
    assert!(
        a["reasons"].to_string().contains("single sign-on plugin"),
        "{a}"
    );

    // SSO plugins are given the organization's ID too (the fixture echoes it in its redirect).
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/sso"),
        &json!({"plugin": "fixture", "domains": ["ok.test"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = w
        .server
        .session()
        .get("/sso/fixture/start?email=ok%40ok.test");
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("location").unwrap();
    assert!(
        to.starts_with("https://idp.fixture.test/authorize?")
            && to.ends_with(&format!("&organization={org}")),
        "{to}"
    );
}

// ------------------------------------------------------------------------------------------
// Attempts around domains, linking and plugins, kept as regression tests
// ------------------------------------------------------------------------------------------

/// A verified domain cannot be claimed again under another spelling — case, a trailing dot,
/// Unicode or punycode — and routes every spelling to its owner; a pending claim of the same
/// domain by two organizations gets two tokens, and one organization's record verifies only
/// that organization.
#[test]
fn regression_domain_variants_and_token_reuse_do_not_bypass_ownership() {
    let mut w = world();
    let org = w.org.clone();
    let r = w.admin.put_json(
        &format!("/api/v1/orgs/{org}/sso"),
        &json!({"plugin": "oidc", "domains": ["example.test", "other.test", "Bücher.TEST", "shared.test"], "join_role": "member"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        settings(&mut w)["domains"],
        json!([
            "example.test",
            "other.test",
            "shared.test",
            "xn--bcher-kva.test"
        ])
    );
    approve_domain(&mut w.admin, &org, "example.test");
    approve_domain(&mut w.admin, &org, "xn--bcher-kva.test");

    let mut admin = w.admin.clone();
    let rival = create_org(&mut admin, "Org rival", "rival", None);
    sso_on(&mut admin, &rival);
    allow_plugins(&mut admin, &rival, &["oidc"]);
    let put = format!("/api/v1/orgs/{rival}/sso");
    for variant in [
        "Example.COM.test",
        "EXAMPLE.TEST",
        " example.test ",
        "bücher.test",
        "BÜCHER.TEST",
        "xn--bcher-kva.test",
        "XN--BCHER-KVA.TEST",
    ] {
        let r = admin.put_json(&put, &json!({"plugin": "oidc", "domains": [variant]}));
        if variant == "Example.COM.test" {
            // A different domain, only pending: accepted, routes nothing.
            assert_eq!(r.status, 200, "{variant}: {}", r.text());
            continue;
        }
        assert_problem(&r, 409, "conflict");
    }
    // A trailing dot is not an email domain: refused outright.
    let r = admin.put_json(
        &put,
        &json!({"plugin": "oidc", "domains": ["example.test."]}),
    );
    assert_problem(&r, 422, "validation_failed");
    for email in ["x@EXAMPLE.test", "x@bücher.test", "x@XN--BCHER-KVA.test"] {
        let d = discover(&w, email);
        assert_eq!(d["plugin"], "oidc", "{email}: {d}");
    }
    assert_eq!(discover(&w, "x@example.com.test")["sso"], false);

    // Both list shared.test, both pending: each has its own token.
    let r = admin.put_json(&put, &json!({"plugin": "oidc", "domains": ["shared.test"]}));
    assert_eq!(r.status, 200, "{}", r.text());
    let rival_value = r.json()["domain_verification"][0]["txt_value"]
        .as_str()
        .unwrap()
        .to_string();
    let acme = domain_entry(&mut w, "shared.test");
    let acme_value = acme["txt_value"].as_str().unwrap().to_string();
    assert_ne!(acme_value, rival_value);
    // The record carries the first organization's token: the rival's check fails, the
    // owner's succeeds, and after that the rival cannot verify it at all.
    let _dns = Dnsmasq::start(
        w.dns_port,
        &[(acme["txt_name"].as_str().unwrap(), acme_value.as_str())],
    );
    let rival_verify = format!("/api/v1/orgs/{rival}/sso/domains/shared.test/verify");
    let r = admin.post_json(&rival_verify, &json!({}));
    assert_problem(&r, 422, "domain_verification_failed");
    let r = w.admin.post_json(
        &format!("/api/v1/orgs/{org}/sso/domains/Shared.TEST./verify"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "verified");
    let r = admin.post_json(&rival_verify, &json!({}));
    assert_problem(&r, 409, "conflict");
    let r = admin.post_json(
        &format!("/api/v1/orgs/{rival}/sso/domains/shared.test/approve"),
        &json!({}),
    );
    assert_problem(&r, 409, "conflict");
    assert_eq!(discover(&w, "y@shared.test")["plugin"], "oidc");
    let rs = admin.get(&put).json();
    assert_eq!(rs["domain_verification"][0]["status"], "pending", "{rs}");
}

/// The join role of SSO sign-ins is a standing grant: an admin cannot make everyone the
/// provider vouches for `billing` or `owner` (roles with rights the admin lacks); an owner
/// can, and an admin may then edit the settings without changing it.
#[test]
fn regression_sso_join_role_passes_the_grant_ceiling() {
    let mut w = world();
    let org = w.org.clone();
    let mut admin_member = member(&mut w, &org, "adele@elsewhere.test", "admin");
    let mut owner = member(&mut w, &org, "otis@elsewhere.test", "owner");
    let put = format!("/api/v1/orgs/{org}/sso");
    for role in ["billing", "owner"] {
        let r = admin_member.put_json(
            &put,
            &json!({"plugin": "oidc", "domains": ["example.test"], "join_role": role}),
        );
        if role == "owner" {
            // `owner` was never a join role.
            assert_problem(&r, 422, "validation_failed");
            continue;
        }
        let p = assert_problem(&r, 403, "forbidden");
        assert!(p["detail"].as_str().unwrap().contains(role), "{p}");
    }
    assert_eq!(settings(&mut w)["join_role"], "member");
    let r = admin_member.put_json(
        &put,
        &json!({"plugin": "oidc", "domains": ["example.test"], "join_role": "admin"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = owner.put_json(
        &put,
        &json!({"plugin": "oidc", "domains": ["example.test"], "join_role": "billing"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin_member.put_json(
        &put,
        &json!({"plugin": "oidc", "domains": ["example.test", "other.test"], "join_role": "billing"}),
    );
    assert_eq!(r.status, 200, "unchanged join role: {}", r.text());
    let r = admin_member.put_json(
        &put,
        &json!({"plugin": "oidc", "domains": ["example.test"], "join_role": null}),
    );
    assert_eq!(r.status, 200, "clearing it grants nothing: {}", r.text());
}

/// A sign-in started before the instance administrator turned the organization's `sso`
/// feature off (or stopped allowing its plugin) signs nobody in when it comes back: the
/// callback checks both again, as the start does.
#[test]
fn regression_a_sign_in_in_flight_stops_when_sso_is_switched_off() {
    let mut w = world();
    let org = w.org.clone();
    approve_domain(&mut w.admin, &org, "example.test");
    for switch_off in ["feature", "plugin"] {
        let email = format!("fly-{switch_off}@example.test");
        w.idp
            .set_user(FakeUser::new(&format!("idp-{switch_off}"), &email));
        let mut browser = w.server.session();
        let r = browser.get(&format!(
            "/sso/oidc/start?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("email", &email)
                .finish()
        ));
        assert_eq!(r.status, 303, "start: {}", r.text());
        let binding = binding_cookie(&r);
        let (idp_addr, idp_path) = split_url(r.header("location").unwrap());
        let r = Client::new(idp_addr).get(&idp_path);
        assert_eq!(r.status, 302, "authorize: {}", r.text());
        let (_, callback) = split_url(r.header("location").unwrap());

        match switch_off {
            "feature" => {
                let r = w.admin.put_json(
                    &format!("/api/v1/orgs/{org}/features"),
                    &json!({"sso": false}),
                );
                assert_eq!(r.status, 200, "{}", r.text());
            }
            _ => allow_plugins(&mut w.admin, &org, &[]),
        }
        let cookie = format!("tenantry_sso={binding}");
        let r = browser.request("GET", &callback, &[("Cookie", &cookie)], None);
        assert_eq!(r.status, 400, "{switch_off}: {}", r.text());
        assert_eq!(browser.get("/api/v1/me").status, 401, "{switch_off}");
        let users = w.admin.get("/api/v1/users?limit=200").json();
        assert!(!users.to_string().contains(&email), "{switch_off}: {users}");
        // Back on for the next round.
        sso_on(&mut w.admin, &org);
        allow_plugins(&mut w.admin, &org, &["oidc"]);
    }
}

/// No API key verifies or approves a domain, or changes the SSO settings: those need
/// `org.update` or an instance administrator, which no key holds.
#[test]
fn regression_keys_neither_verify_nor_approve_domains() {
    let mut w = world();
    let org = w.org.clone();
    let r = w.admin.put_json(
        &format!("/api/v1/orgs/{org}/features"),
        &json!({"api_keys": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut owner = member(&mut w, &org, "kora@elsewhere.test", "owner");
    let r = owner.post_json(
        &format!("/api/v1/orgs/{org}/api-keys"),
        &json!({"name": "everything", "scopes": ["org:read", "members:read", "members:write", "companies:read", "companies:write", "audit:read", "keys:verify"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json()["key"].as_str().unwrap().to_string();
    let auth = format!("Bearer {key}");
    let call = |method: &str, path: &str, body: &Value| {
        let bytes = serde_json::to_vec(body).unwrap();
        w.server.client().request(
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some(&bytes),
        )
    };
    for (method, path, body) in [
        (
            "POST",
            format!("/api/v1/orgs/{org}/sso/domains/example.test/verify"),
            json!({}),
        ),
        (
            "POST",
            format!("/api/v1/orgs/{org}/sso/domains/example.test/approve"),
            json!({}),
        ),
        (
            "PUT",
            format!("/api/v1/orgs/{org}/sso"),
            json!({"plugin": "oidc", "domains": ["example.test"], "join_role": "admin"}),
        ),
    ] {
        let r = call(method, &path, &body);
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
    }
    assert_eq!(domain_entry(&mut w, "example.test")["status"], "pending");
    assert_eq!(settings(&mut w)["join_role"], "member");
}
