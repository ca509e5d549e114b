//! The OpenAPI document as a contract a generated client can rely on.
//!
//! - Every undeclared method on a documented path answers 405 with an `Allow` header that
//!   names exactly the documented methods (plus `HEAD` where `GET` is).
//! - The constraints in the document are the server's: the `TimeZone` enum is the tz database
//!   the server validates against.
//! - Schemathesis, an OpenAPI contract fuzzer, runs against a real server over HTTP with a signed-in
//!   owner and seeded data: responses match their schemas, status codes and content types;
//!   schema-valid input is accepted; undeclared methods are 405. Its run is bounded (examples
//!   per operation, a fixed seed) so it stays a few minutes at most.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use tenantry::http::api::system::OPENAPI;

use crate::support::server::{unique_temp_dir, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::support::{Response, Session, TestServer};

/// Methods a client could send to a path; every one the document does not list must be 405.
const METHODS: &[&str] = &[
    "GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE", "HEAD",
];

fn doc() -> Value {
    serde_json::from_str(OPENAPI).expect("src/http/openapi.json is JSON")
}

/// A path template with every `{param}` filled with a value of the right shape.
fn filled(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn documented_methods(item: &Value) -> BTreeSet<String> {
    item.as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .map(|k| k.to_ascii_uppercase())
        .filter(|k| METHODS.contains(&k.as_str()))
        .collect()
}

// An undeclared method on a known path once answered 404 (or ran another route's
// handler: `DELETE /api/v1/invitations/accept` was a revocation of invitation "accept").
#[test]
fn undeclared_methods_answer_405_with_the_documented_methods() {
    let doc = doc();
    let server = TestServer::start();
    let client = server.client();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let declared = documented_methods(item);
        let mut allow: BTreeSet<String> = declared.clone();
        if allow.contains("GET") {
            allow.insert("HEAD".into());
        }
        let url = filled(path);
        for method in METHODS {
            if allow.contains(*method) {
                continue;
            }
            checked += 1;
            let resp = client.request(method, &url, &[], None);
            let got: BTreeSet<String> = resp
                .header("allow")
                .unwrap_or_default()
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            let ct = resp.header("content-type").unwrap_or_default();
            if resp.status != 405 || got != allow || ct != "application/problem+json" {
                wrong.push(format!(
                    "  {method} {url}: {} Allow {:?} ({ct}), want 405 Allow {allow:?}",
                    resp.status,
                    resp.header("allow")
                ));
            } else if method != &"HEAD" {
                assert_eq!(resp.json()["code"], "method_not_allowed", "{method} {url}");
            }
        }
    }
    assert!(checked > 200, "only {checked} undeclared methods tried");
    assert!(
        wrong.is_empty(),
        "{} undeclared method(s) not answered 405 with a true Allow:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_time_zone_enum_is_the_servers_tz_database() {
    let doc = doc();
    let listed: Vec<&str> = doc["components"]["schemas"]["TimeZone"]["enum"]
        .as_array()
        .expect("components.schemas.TimeZone.enum")
        .iter()
        .map(|v| v.as_str().expect("a time zone name"))
        .collect();
    let mut known: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    known.sort_unstable();
    assert_eq!(
        listed, known,
        "components.schemas.TimeZone.enum must list the bundled tz database (chrono-tz), sorted"
    );
}

#[test]
fn the_currency_enum_is_the_servers_list() {
    let doc = doc();
    let listed: Vec<&str> = doc["components"]["schemas"]["Currency"]["enum"]
        .as_array()
        .expect("components.schemas.Currency.enum")
        .iter()
        .map(|v| v.as_str().expect("a currency code"))
        .collect();
    let known: Vec<&str> = tenantry::service::sites::currencies().collect();
    assert_eq!(
        listed, known,
        "components.schemas.Currency.enum must list the codes the server accepts, in its order"
    );
}

/// The schemathesis command line: `TENANTRY_SCHEMATHESIS`, else the virtual environment
/// `scripts/test` installs into `target/schemathesis`.
fn schemathesis() -> PathBuf {
    if let Some(p) = std::env::var_os("TENANTRY_SCHEMATHESIS") {
        return PathBuf::from(p);
    }
    let st = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis/bin/st");
    assert!(
        st.exists(),
        "schemathesis is not installed at {}; run scripts/test (it installs the pinned version \
         from tests/schemathesis/requirements.txt), or set TENANTRY_SCHEMATHESIS to an `st` binary",
        st.display()
    );
    st
}

/// The failures still open (listed in docs/api.md, "The OpenAPI document is a contract"); any other
/// failure fails the run. `TENANTRY_SCHEMATHESIS_BASELINE_UPDATE=1` merges a run's
/// failures into it.
fn baseline() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/baseline.json")
}

fn created(resp: &Response, what: &str) -> Value {
    assert!(
        (200..300).contains(&resp.status),
        "{what}: {} {}",
        resp.status,
        resp.text()
    );
    resp.json()
}

fn id(resp: &Response, what: &str) -> String {
    let v = created(resp, what);
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no id in {v}"))
        .to_string()
}

/// What the fuzzer works on: one organization with a company, a site, members, an API key
/// and an invitation, plus a spare of each thing an operation deletes or gives away.
struct Seed {
    org: String,
    spare_org: String,
    gift_org: String,
    cmp: String,
    spare_cmp: String,
    site: String,
    spare_site: String,
    member: String,
    leaver: String,
    cmp_member: String,
    cmp_leaver: String,
    outsider: String,
    key: String,
    spare_key: String,
    inv: String,
    spare_inv: String,
    spare_session: String,
}

fn user(admin: &mut Session, email: &str) -> String {
    id(
        &admin.post_json(
            "/api/v1/users",
            &json!({"email": email, "name": email, "password": "a long enough password"}),
        ),
        "POST /users",
    )
}

fn org(admin: &mut Session, slug: &str) -> String {
    id(
        &admin.post_json("/api/v1/orgs", &json!({"name": slug, "slug": slug})),
        "POST /orgs",
    )
}

fn seed(server: &TestServer, admin: &mut Session) -> Seed {
    let org_id = org(admin, "fuzz");
    let spare_org = org(admin, "fuzz-spare");
    let gift_org = org(admin, "fuzz-gift");
    // Single sign-on on, so its operations are tried past `feature_disabled`.
    created(
        &admin.put_json(
            &format!("/api/v1/orgs/{org_id}/features"),
            &json!({"sso": true}),
        ),
        "PUT features",
    );
    let member = user(admin, "member@example.test");
    let leaver = user(admin, "leaver@example.test");
    let cmp_member = user(admin, "cmp-member@example.test");
    let cmp_leaver = user(admin, "cmp-leaver@example.test");
    let outsider = user(admin, "outsider@example.test");
    for (o, email) in [
        (&org_id, "member@example.test"),
        (&org_id, "leaver@example.test"),
        (&gift_org, "member@example.test"),
    ] {
        created(
            &admin.post_json(
                &format!("/api/v1/orgs/{o}/members"),
                &json!({"email": email, "role": "member", "company_access": "all"}),
            ),
            "POST members",
        );
    }
    let cmp = id(
        &admin.post_json(
            &format!("/api/v1/orgs/{org_id}/companies"),
            &json!({"name": "Fuzz", "slug": "fuzz"}),
        ),
        "POST companies",
    );
    let spare_cmp = id(
        &admin.post_json(
            &format!("/api/v1/orgs/{org_id}/companies"),
            &json!({"name": "Spare", "slug": "spare"}),
        ),
        "POST companies",
    );
    for email in ["cmp-member@example.test", "cmp-leaver@example.test"] {
        created(
            &admin.post_json(
                &format!("/api/v1/companies/{cmp}/members"),
                &json!({"email": email, "role": "viewer"}),
            ),
            "POST company members",
        );
    }
    let site = id(
        &admin.post_json(
            &format!("/api/v1/companies/{cmp}/sites"),
            &json!({"name": "Plant"}),
        ),
        "POST sites",
    );
    let spare_site = id(
        &admin.post_json(
            &format!("/api/v1/companies/{cmp}/sites"),
            &json!({"name": "Spare plant"}),
        ),
        "POST sites",
    );
    let key = id(
        &admin.post_json(
            &format!("/api/v1/orgs/{org_id}/api-keys"),
            &json!({"name": "fuzz", "scopes": ["org:read"]}),
        ),
        "POST api-keys",
    );
    let spare_key = id(
        &admin.post_json(
            &format!("/api/v1/orgs/{org_id}/api-keys"),
            &json!({"name": "spare", "scopes": ["org:read"]}),
        ),
        "POST api-keys",
    );
    let inv = id(
        &admin.post_json(
            &format!("/api/v1/orgs/{org_id}/invitations"),
            &json!({"email": "invitee@example.test", "role": "member", "company_access": "all"}),
        ),
        "POST invitations",
    );
    let spare_inv = id(
        &admin.post_json(
            &format!("/api/v1/orgs/{org_id}/invitations"),
            &json!({"email": "spare-invitee@example.test", "role": "member", "company_access": "all"}),
        ),
        "POST invitations",
    );
    // A second session of the owner, for `POST /auth/logout` to end.
    let mut other = server.session();
    created(
        &other.post_json(
            "/api/v1/auth/login",
            &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        ),
        "POST /auth/login",
    );
    Seed {
        org: org_id,
        spare_org,
        gift_org,
        cmp,
        spare_cmp,
        site,
        spare_site,
        member,
        leaver,
        cmp_member,
        cmp_leaver,
        outsider,
        key,
        spare_key,
        inv,
        spare_inv,
        spare_session: other.cookie.expect("a session cookie"),
    }
}

/// A TOML basic string.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string")
}

/// The schemathesis configuration: the owner's session on every request, path parameters
/// pinned to the seeded resources, and spares for the operations that delete or give away.
fn config(base: &str, cookie: &str, s: &Seed) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "base-url = {}", q(base));
    let _ = writeln!(c, "workers = 1\nseed = 14\n");
    c.push_str(
        "[generation]\nmax-examples = 12\ndatabase = \"none\"\n\n\
         [phases.stateful]\nenabled = false\n\n\
         [checks]\nenabled = false\n\
         not_a_server_error.enabled = true\n\
         status_code_conformance.enabled = true\n\
         content_type_conformance.enabled = true\n\
         response_headers_conformance.enabled = true\n\
         response_schema_conformance.enabled = true\n\
         positive_data_acceptance.enabled = true\n\
         negative_data_rejection.enabled = true\n\
         unsupported_method.enabled = true\n\
         allow_header_conformance.enabled = true\n\n",
    );
    // The session through the document's own security scheme (not a fixed `Cookie` header),
    // so the fuzzer knows the cookie is the credential and does not count requests it could
    // not make unauthenticated as accepted negative data.
    let _ = writeln!(c, "[auth.openapi.sessionCookie]\napi_key = {}\n", q(cookie));
    let _ = writeln!(
        c,
        "[parameters]\n\"path.org\" = {}\n\"path.cmp\" = {}\n\"path.site\" = {}\n\
         \"path.user\" = {}\n\"path.key\" = {}\n\"path.inv\" = {}\n",
        q(&s.org),
        q(&s.cmp),
        q(&s.site),
        q(&s.member),
        q(&s.key),
        q(&s.inv)
    );
    // Operations that end what the others need work on spares of their own.
    let spares: &[(&str, &[(&str, &str)])] = &[
        (
            "DELETE /api/v1/orgs/{org}",
            &[("path.org", s.spare_org.as_str())],
        ),
        (
            "POST /api/v1/orgs/{org}/transfer-ownership",
            &[("path.org", s.gift_org.as_str())],
        ),
        (
            "PUT /api/v1/orgs/{org}/features",
            &[("path.org", s.gift_org.as_str())],
        ),
        (
            "PATCH /api/v1/users/{user}",
            &[("path.user", s.outsider.as_str())],
        ),
        (
            "DELETE /api/v1/orgs/{org}/members/{user}",
            &[("path.user", s.leaver.as_str())],
        ),
        (
            "DELETE /api/v1/companies/{cmp}",
            &[("path.cmp", s.spare_cmp.as_str())],
        ),
        (
            "DELETE /api/v1/companies/{cmp}/sites/{site}",
            &[("path.site", s.spare_site.as_str())],
        ),
        (
            "PATCH /api/v1/companies/{cmp}/members/{user}",
            &[("path.user", s.cmp_member.as_str())],
        ),
        (
            "DELETE /api/v1/companies/{cmp}/members/{user}",
            &[("path.user", s.cmp_leaver.as_str())],
        ),
        (
            "DELETE /api/v1/orgs/{org}/api-keys/{key}",
            &[("path.key", s.spare_key.as_str())],
        ),
        (
            "DELETE /api/v1/invitations/{inv}",
            &[("path.inv", s.spare_inv.as_str())],
        ),
    ];
    for (name, params) in spares {
        let _ = writeln!(c, "[[operations]]\ninclude-name = {}", q(name));
        c.push_str("[operations.parameters]\n");
        for (k, v) in *params {
            let _ = writeln!(c, "{} = {}", q(k), q(v));
        }
        c.push('\n');
    }
    let _ = writeln!(
        c,
        "[[operations]]\ninclude-name = \"POST /api/v1/auth/logout\"\n\
         headers = {{ Cookie = {} }}\n",
        q(&format!("tenantry_session={}", s.spare_session))
    );
    c
}

#[test]
fn schemathesis_finds_no_contract_violation() {
    let st = schemathesis();
    let server = TestServer::start();
    let mut admin = server.bootstrap_admin();
    let seed = seed(&server, &mut admin);
    let cookie = admin.cookie.clone().expect("the owner's session cookie");

    let dir = unique_temp_dir("tenantry-schemathesis");
    let schema = dir.join("openapi.json");
    std::fs::write(&schema, OPENAPI).expect("write the document");
    let cfg = dir.join("schemathesis.toml");
    std::fs::write(&cfg, config(&server.base_url(), &cookie, &seed)).expect("write the config");

    let out = Command::new(&st)
        .arg("--config-file")
        .arg(&cfg)
        .arg("--no-color")
        .arg("run")
        .arg(&schema)
        .args(["--report", "junit", "--report-dir"])
        .arg(dir.join("report"))
        .arg("--baseline")
        .arg(baseline())
        .args(
            std::env::var_os("TENANTRY_SCHEMATHESIS_BASELINE_UPDATE").map(|_| "--baseline-update"),
        )
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", st.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found contract violations ({:?}); config {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status,
        cfg.display()
    );
    // The owner's session survived the run, so the operations were tried signed in.
    let me = admin.get("/api/v1/me");
    assert_eq!(me.status, 200, "the owner's session ended during the run");
    let _ = std::fs::remove_dir_all(&dir);
}

// serde once read `[null, null]` into a struct of optional fields and `null` into any
// optional field, so requests the document calls invalid were answered 200; and it refused
// `719.0` for an integer, which JSON Schema (and so a generated client) counts as one.
#[test]
fn bodies_follow_the_documents_object_null_and_integer_rules() {
    let server = TestServer::start();
    let mut admin = server.bootstrap_admin();
    let org = org(&mut admin, "contract");
    let cmp = id(
        &admin.post_json(
            &format!("/api/v1/orgs/{org}/companies"),
            &json!({"name": "Contract", "slug": "contract"}),
        ),
        "POST companies",
    );
    let site = id(
        &admin.post_json(
            &format!("/api/v1/companies/{cmp}/sites"),
            &json!({"name": "Plant"}),
        ),
        "POST sites",
    );
    let key = id(
        &admin.post_json(
            &format!("/api/v1/orgs/{org}/api-keys"),
            &json!({"name": "k", "scopes": ["org:read"]}),
        ),
        "POST api-keys",
    );
    // An array where the document says object.
    let r = admin.patch_json(&format!("/api/v1/companies/{cmp}"), &json!([null, null]));
    crate::orgs_matrix::expect_field(&r, "body", "array body");
    // `null` where the schema allows none, at the top level of the body.
    let r = admin.patch_json("/api/v1/me", &json!({"name": null}));
    crate::orgs_matrix::expect_field(&r, "name", "null name");
    let r = admin.patch_json(
        &format!("/api/v1/companies/{cmp}/sites/{site}"),
        &json!({"name": "Plant", "timezone": null}),
    );
    crate::orgs_matrix::expect_field(&r, "timezone", "null time zone");
    // Where the schema allows `null`, it still means what the document says.
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/billing/source"),
        &json!({"plugin": null}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Nothing changed by the refused requests.
    let me = admin.get("/api/v1/me").json();
    assert_eq!(me["name"], "Admin", "{me}");
    // An integer written with a zero fraction is that integer.
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/api-keys/{key}/rotate"),
        &json!({"expire_old_in_seconds": 719.0}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/api-keys/{key}/rotate"),
        &json!({"expire_old_in_seconds": 7.5}),
    );
    crate::orgs_matrix::expect_field(&r, "expire_old_in_seconds", "a real fraction");
}
