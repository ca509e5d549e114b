//! Organizations and companies: the persona × endpoint matrix (SPEC §2, §3, §7 "cross-organization
//! access is impossible by construction and is tested as a matrix of personas × endpoints").
//!
//! One server, set up through the API by the instance admin: organization 1 with companies A, B
//! and C and the personas below, and organization 2 (another tenant) with its own company, site
//! and settings. Every cell of [`MATRIX`] states the expected status (and problem `code`); then
//! every route that takes an ID is called with organization 2's IDs and with random well-formed
//! IDs (the two answers must be identical, and `404 not_found` where the ID scopes the route);
//! foreign company IDs inside bodies are refused exactly like unknown ones; and organization 2's
//! data, read by its owner, is unchanged by all of it.
//!
//! The shared helpers (`World`, request and assertion helpers) are also used by `orgs_rules`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use tenantry::http::routes::ROUTES;

use crate::support::flows::{create_org, create_user, login};
use crate::support::{Response, Session, TestServer};

// ---------------------------------------------------------------------------
// shared helpers

/// Password of every user the organization tests create.
pub(crate) const PW: &str = "orgs-test-password-1";

/// A unique lowercase token (slug- and email-safe) for this test process.
pub(crate) fn uniq() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A random, well-formed ID with `prefix` (`org`, `cmp`, `site`, `usr`) that names nothing.
pub(crate) fn random_id(prefix: &str) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut out = format!("{prefix}_");
    let mut h = RandomState::new().build_hasher();
    h.write(uniq().as_bytes());
    let mut x = h.finish() | 1;
    for _ in 0..26 {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(ALPHABET[(x % 32) as usize] as char);
    }
    out
}

/// Sends a request on a session; `body` (when given) as JSON.
pub(crate) fn send(s: &mut Session, method: &str, path: &str, body: Option<&Value>) -> Response {
    match body {
        Some(b) => s.send_json(method, path, b),
        None => s.request(method, path, &[], None),
    }
}

/// Asserts a status; for 2xx answers other than 204 also a JSON body, which it returns.
pub(crate) fn expect(resp: &Response, status: u16, ctx: &str) -> Value {
    assert_eq!(
        resp.status,
        status,
        "{ctx}: expected {status}, got {} body {}",
        resp.status,
        resp.text()
    );
    if resp.status == 204 || resp.body.is_empty() {
        return Value::Null;
    }
    resp.json()
}

/// Asserts an RFC 9457 problem with `status` and `code`; returns its body.
pub(crate) fn expect_problem(resp: &Response, status: u16, code: &str, ctx: &str) -> Value {
    assert_eq!(
        resp.status,
        status,
        "{ctx}: expected {status} {code}, got {} body {}",
        resp.status,
        resp.text()
    );
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "{ctx}: expected application/problem+json, got {ct:?}; body {}",
        resp.text()
    );
    let body = resp.json();
    assert_eq!(body["code"], code, "{ctx}: wrong problem code: {body}");
    assert_eq!(body["status"], status, "{ctx}: problem status: {body}");
    body
}

/// Asserts a 422 `validation_failed` whose `errors` name `field` (each with a message).
pub(crate) fn expect_field(resp: &Response, field: &str, ctx: &str) -> Value {
    expect_field_problem(resp, 422, "validation_failed", field, ctx)
}

/// A well-formed value that conflicts with the current state (a taken slug, an address no
/// account has): 409 `conflict` naming the field.
pub(crate) fn expect_conflict_field(resp: &Response, field: &str, ctx: &str) -> Value {
    expect_field_problem(resp, 409, "conflict", field, ctx)
}

fn expect_field_problem(resp: &Response, status: u16, code: &str, field: &str, ctx: &str) -> Value {
    let body = expect_problem(resp, status, code, ctx);
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}: no `errors` array: {body}"));
    assert!(
        errors.iter().any(|e| e["field"] == field),
        "{ctx}: no error names `{field}`: {body}"
    );
    for e in errors {
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{ctx}: error without a message: {body}"
        );
    }
    body
}

/// Creates a company; returns its ID.
pub(crate) fn create_company(s: &mut Session, org: &str, name: &str, slug: &str) -> String {
    let r = s.post_json(
        &format!("/api/v1/orgs/{org}/companies"),
        &json!({"name": name, "slug": slug}),
    );
    let v = expect(&r, 201, &format!("create company {slug}"));
    v["id"].as_str().expect("company id").to_string()
}

/// Adds an existing user to the admin team directly (`s` must be an instance administrator:
/// everyone else's add is an invitation).
pub(crate) fn add_member(s: &mut Session, org: &str, email: &str, role: &str, access: Value) {
    let r = s.post_json(
        &format!("/api/v1/orgs/{org}/members"),
        &json!({"email": email, "role": role, "company_access": access}),
    );
    expect(&r, 201, &format!("add {email} as {role}"));
}

/// Gives an existing user a direct company role directly (`s` must be an instance
/// administrator: everyone else's add is an invitation).
pub(crate) fn add_company_member(s: &mut Session, cmp: &str, email: &str, role: &str) {
    let r = s.post_json(
        &format!("/api/v1/companies/{cmp}/members"),
        &json!({"email": email, "role": role}),
    );
    expect(&r, 201, &format!("add {email} to {cmp} as {role}"));
}

/// Creates a site; returns its ID.
pub(crate) fn create_site(s: &mut Session, cmp: &str, name: &str) -> String {
    let r = s.post_json(
        &format!("/api/v1/companies/{cmp}/sites"),
        &json!({"name": name, "address": "1 Main Street", "timezone": "Europe/Paris"}),
    );
    let v = expect(&r, 201, &format!("create site {name}"));
    v["id"].as_str().expect("site id").to_string()
}

/// Every item of a cursor-paginated list (`path` must not carry a query other than `limit`).
pub(crate) fn list_all(s: &mut Session, path: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let v = expect(&s.get(&url), 200, &format!("GET {url}"));
        let data = v["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{url}: no data: {v}"));
        assert!(data.len() <= limit, "{url}: page larger than limit: {v}");
        out.extend(data.iter().cloned());
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(v["next_cursor"].is_null(), "{url}: bad next_cursor: {v}");
                return out;
            }
        }
    }
    panic!("{path}: pagination never ended");
}

/// The whole audit log of an organization, newest first.
pub(crate) fn audit_all(s: &mut Session, org: &str) -> Vec<Value> {
    list_all(s, &format!("/api/v1/orgs/{org}/audit-log"), 7)
}

/// The personas of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum P {
    /// Instance admin, not a member of organization 1.
    IA,
    /// Owner of organization 1.
    OW,
    /// Admin (company access `all`).
    AD,
    /// Billing (company access `all`).
    BI,
    /// Member with company access [A, B].
    ME,
    /// Company-only admin: direct `admin` of A, not an organization member.
    CA,
    /// Company-only viewer: direct `viewer` of A.
    CV,
    /// Owner of organization 2 (another tenant).
    OT,
    /// Signed out.
    AN,
}

/// Every persona, in matrix order.
pub(crate) const PERSONAS: [P; 9] = [
    P::IA,
    P::OW,
    P::AD,
    P::BI,
    P::ME,
    P::CA,
    P::CV,
    P::OT,
    P::AN,
];

/// The two organizations and the personas, set up through the API.
pub(crate) struct World {
    pub sessions: HashMap<P, Session>,
    pub emails: HashMap<P, String>,
    pub ids: HashMap<P, String>,
    pub org: String,
    pub org2: String,
    pub a: String,
    pub b: String,
    pub c: String,
    pub x: String,
    pub site_a: String,
    pub site_x: String,
}

impl World {
    /// Builds organization 1 (companies A, B, C, site in A, personas) and organization 2
    /// (owner OT, company X with a site, preferences, data repository, billing profile and an
    /// invoice).
    pub(crate) fn build(server: &TestServer) -> World {
        let mut ia = server.bootstrap_admin();
        let mut emails = HashMap::new();
        let mut ids = HashMap::new();
        let me = expect(&ia.get("/api/v1/me"), 200, "admin /me");
        ids.insert(P::IA, me["id"].as_str().unwrap().to_string());
        emails.insert(P::IA, me["email"].as_str().unwrap().to_string());
        for (p, local) in [
            (P::OW, "owner"),
            (P::AD, "admin"),
            (P::BI, "billing"),
            (P::ME, "member"),
            (P::CA, "cadmin"),
            (P::CV, "cviewer"),
            (P::OT, "other"),
        ] {
            let email = format!("{local}@orgs.test");
            ids.insert(p, create_user(&mut ia, &email, None, Some(PW)));
            emails.insert(p, email);
        }
        let org = create_org(&mut ia, "Org One", "org-one", Some(&emails[&P::OW]));
        let org2 = create_org(&mut ia, "Org Two", "org-two", Some(&emails[&P::OT]));
        let mut sessions = HashMap::new();
        for p in [P::OW, P::AD, P::BI, P::ME, P::CA, P::CV, P::OT] {
            sessions.insert(p, login(server, &emails[&p], PW));
        }
        sessions.insert(P::AN, server.session());

        let ow = sessions.get_mut(&P::OW).unwrap();
        let a = create_company(ow, &org, "Company A", "company-a");
        let b = create_company(ow, &org, "Company B", "company-b");
        let c = create_company(ow, &org, "Company C", "company-c");
        let site_a = create_site(ow, &a, "Site A");
        // Direct adds are for instance administrators (everyone else's add is an invitation).
        add_member(&mut ia, &org, &emails[&P::AD], "admin", json!("all"));
        add_member(&mut ia, &org, &emails[&P::BI], "billing", json!("all"));
        add_member(&mut ia, &org, &emails[&P::ME], "member", json!([a, b]));
        add_company_member(&mut ia, &a, &emails[&P::CA], "admin");
        add_company_member(&mut ia, &a, &emails[&P::CV], "viewer");
        sessions.insert(P::IA, ia);

        let ot = sessions.get_mut(&P::OT).unwrap();
        // Same slug as A: company slugs are unique per organization only.
        let x = create_company(ot, &org2, "Company X", "company-a");
        let site_x = create_site(ot, &x, "Site X");
        expect(
            &ot.put_json(
                &format!("/api/v1/companies/{x}/data-preferences"),
                &json!({"units": "imperial", "timezone": "America/New_York", "currency": "USD",
                        "date_format": "MM/DD/YYYY", "retention_days": 90}),
            ),
            200,
            "org2 data preferences",
        );
        expect(
            &ot.put_json(
                &format!("/api/v1/orgs/{org2}/data-repository"),
                &json!({"kind": "s3", "location": "s3://org-two-bucket", "region": "eu-west-1",
                        "retention_days": 30, "credentials": {"access_key_id": "AKIAORGTWO"}}),
            ),
            200,
            "org2 data repository",
        );
        expect(
            &ot.put_json(
                &format!("/api/v1/orgs/{org2}/billing/profile"),
                &json!({"legal_name": "Org Two Ltd", "billing_email": "accounts@billing-dept.test",
                        "address": "2 Side Street", "tax_id": "GB123", "plan": "pro"}),
            ),
            200,
            "org2 billing profile",
        );
        expect(
            &ot.post_json(
                &format!("/api/v1/orgs/{org2}/billing/invoices"),
                &json!({"invoices": [{"number": "O2-1", "issued_on": "2024-01-31",
                        "amount_cents": 1200, "currency": "EUR", "status": "paid"}]}),
            ),
            200,
            "org2 invoice",
        );
        World {
            sessions,
            emails,
            ids,
            org,
            org2,
            a,
            b,
            c,
            x,
            site_a,
            site_x,
        }
    }

    /// The session of a persona.
    pub(crate) fn s(&mut self, p: P) -> &mut Session {
        self.sessions.get_mut(&p).unwrap()
    }

    /// Organization 2 as its owner sees it: every readable resource.
    pub(crate) fn org2_snapshot(&mut self) -> Vec<(String, Value)> {
        let (org2, x, site_x) = (self.org2.clone(), self.x.clone(), self.site_x.clone());
        let ot = self.s(P::OT);
        let mut out = Vec::new();
        for path in [
            format!("/api/v1/orgs/{org2}"),
            format!("/api/v1/orgs/{org2}/features"),
            format!("/api/v1/orgs/{org2}/members?limit=200"),
            format!("/api/v1/orgs/{org2}/companies?limit=200"),
            format!("/api/v1/orgs/{org2}/data-repository"),
            format!("/api/v1/orgs/{org2}/billing"),
            format!("/api/v1/orgs/{org2}/billing/invoices?limit=200"),
            format!("/api/v1/orgs/{org2}/audit-log?limit=200"),
            format!("/api/v1/companies/{x}"),
            format!("/api/v1/companies/{x}/sites?limit=200"),
            format!("/api/v1/companies/{x}/sites/{site_x}"),
            format!("/api/v1/companies/{x}/data-preferences"),
            format!("/api/v1/companies/{x}/members?limit=200"),
            "/api/v1/me/memberships".to_string(),
            "/api/v1/me/sections".to_string(),
        ] {
            let v = expect(&ot.get(&path), 200, &format!("org2 snapshot {path}"));
            out.push((path, v));
        }
        out
    }
}

// ---------------------------------------------------------------------------
// the matrix

use P::*;

const UN: Option<&str> = Some("unauthenticated");
const FB: Option<&str> = Some("forbidden");
const NOM: Option<&str> = Some("not_org_member");
const NF: Option<&str> = Some("not_found");
const FD: Option<&str> = Some("feature_disabled");

/// One cell: persona, method, path template, body template, expected status, expected code.
///
/// Placeholders: `{org}` `{org2}` `{A}` `{B}` `{C}` `{siteA}` `{owner_id}` (fixed world);
/// `{uniq}` (unique token); and throw-away resources made fresh for the cell by the owner or the
/// instance admin: `{fresh_email}` (a user in no organization), `{tmp_member}` (user ID of a new
/// org-1 `member` with access [A]), `{tmp_cmember}` (user ID of a new direct `member` of A),
/// `{tmp_site}` (a new site of A), `{tmp_cmp}` (a new company of organization 1), `{tmp_inv}`
/// (a pending invitation by the owner: `member` of A), `{tmp_key}` (a new `org:read` key).
type Cell = (
    P,
    &'static str,
    &'static str,
    Option<&'static str>,
    u16,
    Option<&'static str>,
);

const ORG_BODY: &str = r#"{"name":"Tmp {uniq}","slug":"tmp-{uniq}"}"#;
const ORG_BODY_OWNER: &str =
    r#"{"name":"Tmp {uniq}","slug":"tmp-{uniq}","owner_email":"{fresh_email}"}"#;
const RENAME_ORG: &str = r#"{"name":"Org One"}"#;
const FEATURES: &str = r#"{"sso":false}"#;
const ADD_MEMBER: &str = r#"{"email":"{fresh_email}","role":"member","company_access":["{A}"]}"#;
const PATCH_MEMBER: &str = r#"{"role":"billing","company_access":"all"}"#;
const PATCH_MEMBER_ADMIN: &str = r#"{"role":"admin","company_access":"all"}"#;
const INVITE: &str = r#"{"email":"{fresh_email}","role":"member","company_access":["{A}"]}"#;
const CINVITE: &str = r#"{"email":"{fresh_email}","role":"viewer"}"#;
const KEY: &str = r#"{"name":"Key {uniq}","scopes":["org:read"]}"#;
const RENAME_KEY: &str = r#"{"name":"Renamed {uniq}"}"#;
const ROTATE: &str = r#"{"expire_old_in_seconds":0}"#;
const SOURCE: &str = r#"{"plugin":null}"#;
const PLUGINS: &str = r#"{"allowed":[]}"#;
const SSO: &str = r#"{"plugin":"no-such-plugin","domains":["org-one.test"]}"#;
const TRANSFER: &str = r#"{"user_id":"{tmp_member}"}"#;
const COMPANY: &str = r#"{"name":"Tmp {uniq}","slug":"tmp-{uniq}"}"#;
const REPO: &str = r#"{"kind":"embedded","retention_days":365}"#;
const POLICY: &str = r#"{"require_two_step":false,"grace_days":14}"#;
const PROFILE: &str = r#"{"legal_name":"Org One Inc","billing_email":"accounts@billing-dept.test","address":"1 Main Street","plan":"team"}"#;
const INVOICES: &str = r#"{"invoices":[{"number":"INV-{uniq}","issued_on":"2024-02-29","amount_cents":4200,"currency":"EUR","status":"open"}]}"#;
const RENAME_A: &str = r#"{"name":"Company A"}"#;
const SITE: &str = r#"{"name":"Site {uniq}","address":"2 Main Street","timezone":"Europe/Berlin"}"#;
const RENAME_SITE: &str = r#"{"name":"Site A"}"#;
const PREFS: &str = r#"{"units":"metric","timezone":"UTC","currency":"EUR","date_format":"YYYY-MM-DD","retention_days":365}"#;
const ADD_CMEMBER: &str = r#"{"email":"{fresh_email}","role":"viewer"}"#;
const PATCH_CMEMBER: &str = r#"{"role":"viewer"}"#;

#[rustfmt::skip]
pub(crate) static MATRIX: &[Cell] = &[
    // ---- GET /orgs
    (IA, "GET", "/api/v1/orgs", None, 200, None),
    (OW, "GET", "/api/v1/orgs", None, 200, None),
    (AD, "GET", "/api/v1/orgs", None, 200, None),
    (BI, "GET", "/api/v1/orgs", None, 200, None),
    (ME, "GET", "/api/v1/orgs", None, 200, None),
    (CA, "GET", "/api/v1/orgs", None, 200, None),
    (CV, "GET", "/api/v1/orgs", None, 200, None),
    (OT, "GET", "/api/v1/orgs", None, 200, None),
    (AN, "GET", "/api/v1/orgs", None, 401, UN),
    // ---- POST /orgs (allow_org_creation is off: instance admins only)
    (IA, "POST", "/api/v1/orgs", Some(ORG_BODY), 201, None),
    (IA, "POST", "/api/v1/orgs", Some(ORG_BODY_OWNER), 201, None),
    (OW, "POST", "/api/v1/orgs", Some(ORG_BODY), 403, FB),
    (AD, "POST", "/api/v1/orgs", Some(ORG_BODY), 403, FB),
    (BI, "POST", "/api/v1/orgs", Some(ORG_BODY), 403, FB),
    (ME, "POST", "/api/v1/orgs", Some(ORG_BODY), 403, FB),
    (CA, "POST", "/api/v1/orgs", Some(ORG_BODY), 403, FB),
    (CV, "POST", "/api/v1/orgs", Some(ORG_BODY), 403, FB),
    (OT, "POST", "/api/v1/orgs", Some(ORG_BODY), 403, FB),
    (OT, "POST", "/api/v1/orgs", Some(ORG_BODY_OWNER), 403, FB),
    (AN, "POST", "/api/v1/orgs", Some(ORG_BODY), 401, UN),
    // ---- GET /orgs/{org}
    (IA, "GET", "/api/v1/orgs/{org}", None, 200, None),
    (OW, "GET", "/api/v1/orgs/{org}", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}", None, 200, None),
    (CA, "GET", "/api/v1/orgs/{org}", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}", None, 401, UN),
    // ---- PATCH /orgs/{org}
    (IA, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 403, FB),
    (OW, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 200, None),
    (AD, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 200, None),
    (BI, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 403, FB),
    (ME, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 403, FB),
    (CA, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 403, NOM),
    (CV, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 403, NOM),
    (OT, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 404, NF),
    (AN, "PATCH", "/api/v1/orgs/{org}", Some(RENAME_ORG), 401, UN),
    // ---- DELETE /orgs/{org} (the owner's successful delete is in MATRIX_LAST)
    (IA, "DELETE", "/api/v1/orgs/{org}", None, 403, FB),
    (AD, "DELETE", "/api/v1/orgs/{org}", None, 403, FB),
    (BI, "DELETE", "/api/v1/orgs/{org}", None, 403, FB),
    (ME, "DELETE", "/api/v1/orgs/{org}", None, 403, FB),
    (CA, "DELETE", "/api/v1/orgs/{org}", None, 403, NOM),
    (CV, "DELETE", "/api/v1/orgs/{org}", None, 403, NOM),
    (OT, "DELETE", "/api/v1/orgs/{org}", None, 404, NF),
    (AN, "DELETE", "/api/v1/orgs/{org}", None, 401, UN),
    // ---- GET /orgs/{org}/features
    (IA, "GET", "/api/v1/orgs/{org}/features", None, 200, None),
    (OW, "GET", "/api/v1/orgs/{org}/features", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/features", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/features", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}/features", None, 200, None),
    (CA, "GET", "/api/v1/orgs/{org}/features", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/features", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/features", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/features", None, 401, UN),
    // ---- PUT /orgs/{org}/features (instance admins write)
    (IA, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 200, None),
    (OW, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 403, FB),
    (AD, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 403, FB),
    (BI, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 403, FB),
    (ME, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 403, FB),
    (CA, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 403, NOM),
    (CV, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 403, NOM),
    (OT, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 404, NF),
    (AN, "PUT", "/api/v1/orgs/{org}/features", Some(FEATURES), 401, UN),
    // ---- GET /orgs/{org}/members
    (IA, "GET", "/api/v1/orgs/{org}/members", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/members", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/members", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/members", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}/members", None, 200, None),
    (CA, "GET", "/api/v1/orgs/{org}/members", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/members", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/members", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/members", None, 401, UN),
    // ---- POST /orgs/{org}/members
    // Instance administrators add directly (201); everyone else's add is an invitation (202).
    (IA, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 201, None),
    (OW, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 202, None),
    (AD, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 202, None),
    (BI, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/members", Some(ADD_MEMBER), 401, UN),
    // ---- PATCH /orgs/{org}/members/{user}
    (IA, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 403, FB),
    (OW, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 200, None),
    // No grant beyond the grantor: the billing role holds billing rights an admin does not.
    (AD, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 403, FB),
    (AD, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER_ADMIN), 200, None),
    (BI, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 403, FB),
    (ME, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 403, FB),
    (CA, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 403, NOM),
    (CV, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 403, NOM),
    (OT, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 404, NF),
    (AN, "PATCH", "/api/v1/orgs/{org}/members/{tmp_member}", Some(PATCH_MEMBER), 401, UN),
    // ---- DELETE /orgs/{org}/members/{user}
    (IA, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 403, FB),
    (OW, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 204, None),
    (AD, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 204, None),
    (BI, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 403, FB),
    (ME, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 403, FB),
    (CA, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 403, NOM),
    (CV, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 403, NOM),
    (OT, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 404, NF),
    (AN, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}", None, 401, UN),
    // ---- DELETE /orgs/{org}/members/{user}/two-step (owners only; see also tests/two_step.rs)
    (IA, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 403, FB),
    (OW, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 204, None),
    (AD, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 403, FB),
    (BI, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 403, FB),
    (ME, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 403, FB),
    (CA, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 403, NOM),
    (CV, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 403, NOM),
    (OT, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 404, NF),
    (AN, "DELETE", "/api/v1/orgs/{org}/members/{tmp_member}/two-step", None, 401, UN),
    // ---- POST /orgs/{org}/transfer-ownership (the owner's transfer is undone right after)
    (IA, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 403, FB),
    (OW, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 200, None),
    (AD, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 403, FB),
    (BI, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/transfer-ownership", Some(TRANSFER), 401, UN),
    // ---- GET /orgs/{org}/companies
    (IA, "GET", "/api/v1/orgs/{org}/companies", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/companies", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/companies", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/companies", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}/companies", None, 200, None),
    (CA, "GET", "/api/v1/orgs/{org}/companies", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/companies", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/companies", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/companies", None, 401, UN),
    // ---- POST /orgs/{org}/companies
    (IA, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 403, FB),
    (OW, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 201, None),
    (AD, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 201, None),
    (BI, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/companies", Some(COMPANY), 401, UN),
    // ---- GET /orgs/{org}/data-repository
    (IA, "GET", "/api/v1/orgs/{org}/data-repository", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/data-repository", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/data-repository", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/data-repository", None, 403, FB),
    (ME, "GET", "/api/v1/orgs/{org}/data-repository", None, 403, FB),
    (CA, "GET", "/api/v1/orgs/{org}/data-repository", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/data-repository", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/data-repository", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/data-repository", None, 401, UN),
    // ---- PUT /orgs/{org}/data-repository
    (IA, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 403, FB),
    (OW, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 200, None),
    (AD, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 403, FB),
    (BI, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 403, FB),
    (ME, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 403, FB),
    (CA, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 403, NOM),
    (CV, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 403, NOM),
    (OT, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 404, NF),
    (AN, "PUT", "/api/v1/orgs/{org}/data-repository", Some(REPO), 401, UN),
    // ---- GET /orgs/{org}/two-step-policy (everyone who reads the organization)
    (IA, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 200, None),
    (OW, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 200, None),
    (CA, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/two-step-policy", None, 401, UN),
    // ---- PUT /orgs/{org}/two-step-policy (owners; kept off here, see tests/two_step_policy.rs)
    (IA, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 403, FB),
    (OW, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 200, None),
    (AD, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 403, FB),
    (BI, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 403, FB),
    (ME, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 403, FB),
    (CA, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 403, NOM),
    (CV, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 403, NOM),
    (OT, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 404, NF),
    (AN, "PUT", "/api/v1/orgs/{org}/two-step-policy", Some(POLICY), 401, UN),
    // ---- GET /orgs/{org}/billing
    (IA, "GET", "/api/v1/orgs/{org}/billing", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/billing", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/billing", None, 403, FB),
    (BI, "GET", "/api/v1/orgs/{org}/billing", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}/billing", None, 403, FB),
    (CA, "GET", "/api/v1/orgs/{org}/billing", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/billing", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/billing", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/billing", None, 401, UN),
    // ---- PUT /orgs/{org}/billing/profile
    (IA, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 403, FB),
    (OW, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 200, None),
    (AD, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 403, FB),
    (BI, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 200, None),
    (ME, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 403, FB),
    (CA, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 403, NOM),
    (CV, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 403, NOM),
    (OT, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 404, NF),
    (AN, "PUT", "/api/v1/orgs/{org}/billing/profile", Some(PROFILE), 401, UN),
    // ---- GET /orgs/{org}/billing/invoices
    (IA, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 403, FB),
    (BI, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 403, FB),
    (CA, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/billing/invoices", None, 401, UN),
    // ---- POST /orgs/{org}/billing/invoices
    (IA, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 403, FB),
    (OW, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 200, None),
    (AD, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 403, FB),
    (BI, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 200, None),
    (ME, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/billing/invoices", Some(INVOICES), 401, UN),
    // ---- GET /orgs/{org}/audit-log
    (IA, "GET", "/api/v1/orgs/{org}/audit-log", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/audit-log", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/audit-log", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/audit-log", None, 403, FB),
    (ME, "GET", "/api/v1/orgs/{org}/audit-log", None, 403, FB),
    (CA, "GET", "/api/v1/orgs/{org}/audit-log", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/audit-log", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/audit-log", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/audit-log", None, 401, UN),
    // ---- GET /companies/{A}
    (IA, "GET", "/api/v1/companies/{A}", None, 404, NF),
    (OW, "GET", "/api/v1/companies/{A}", None, 200, None),
    (AD, "GET", "/api/v1/companies/{A}", None, 200, None),
    (BI, "GET", "/api/v1/companies/{A}", None, 200, None),
    (ME, "GET", "/api/v1/companies/{A}", None, 200, None),
    (CA, "GET", "/api/v1/companies/{A}", None, 200, None),
    (CV, "GET", "/api/v1/companies/{A}", None, 200, None),
    (OT, "GET", "/api/v1/companies/{A}", None, 404, NF),
    (AN, "GET", "/api/v1/companies/{A}", None, 401, UN),
    // ---- PATCH /companies/{A}
    (IA, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 404, NF),
    (OW, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 200, None),
    (AD, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 200, None),
    (BI, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 403, FB),
    (ME, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 403, FB),
    (CA, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 200, None),
    (CV, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 403, FB),
    (OT, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 404, NF),
    (AN, "PATCH", "/api/v1/companies/{A}", Some(RENAME_A), 401, UN),
    // ---- DELETE /companies/{cmp} (throw-away company, reached by all-access members only)
    (IA, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 404, NF),
    (OW, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 204, None),
    (AD, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 204, None),
    (BI, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 403, FB),
    (ME, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 404, NF),
    (CA, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 404, NF),
    (CV, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 404, NF),
    (OT, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 404, NF),
    (AN, "DELETE", "/api/v1/companies/{tmp_cmp}", None, 401, UN),
    // ---- GET /companies/{A}/sites
    (IA, "GET", "/api/v1/companies/{A}/sites", None, 404, NF),
    (OW, "GET", "/api/v1/companies/{A}/sites", None, 200, None),
    (AD, "GET", "/api/v1/companies/{A}/sites", None, 200, None),
    (BI, "GET", "/api/v1/companies/{A}/sites", None, 200, None),
    (ME, "GET", "/api/v1/companies/{A}/sites", None, 200, None),
    (CA, "GET", "/api/v1/companies/{A}/sites", None, 200, None),
    (CV, "GET", "/api/v1/companies/{A}/sites", None, 200, None),
    (OT, "GET", "/api/v1/companies/{A}/sites", None, 404, NF),
    (AN, "GET", "/api/v1/companies/{A}/sites", None, 401, UN),
    // ---- POST /companies/{A}/sites
    (IA, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 404, NF),
    (OW, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 201, None),
    (AD, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 201, None),
    (BI, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 403, FB),
    (ME, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 403, FB),
    (CA, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 201, None),
    (CV, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 403, FB),
    (OT, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 404, NF),
    (AN, "POST", "/api/v1/companies/{A}/sites", Some(SITE), 401, UN),
    // ---- GET /companies/{A}/sites/{site}
    (IA, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 404, NF),
    (OW, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 200, None),
    (AD, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 200, None),
    (BI, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 200, None),
    (ME, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 200, None),
    (CA, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 200, None),
    (CV, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 200, None),
    (OT, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 404, NF),
    (AN, "GET", "/api/v1/companies/{A}/sites/{siteA}", None, 401, UN),
    // ---- PATCH /companies/{A}/sites/{site}
    (IA, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 404, NF),
    (OW, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 200, None),
    (AD, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 200, None),
    (BI, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 403, FB),
    (ME, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 403, FB),
    (CA, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 200, None),
    (CV, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 403, FB),
    (OT, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 404, NF),
    (AN, "PATCH", "/api/v1/companies/{A}/sites/{siteA}", Some(RENAME_SITE), 401, UN),
    // ---- DELETE /companies/{A}/sites/{site} (throw-away site)
    (IA, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 404, NF),
    (OW, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 204, None),
    (AD, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 204, None),
    (BI, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 403, FB),
    (ME, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 403, FB),
    (CA, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 204, None),
    (CV, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 403, FB),
    (OT, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 404, NF),
    (AN, "DELETE", "/api/v1/companies/{A}/sites/{tmp_site}", None, 401, UN),
    // ---- GET /companies/{A}/data-preferences
    (IA, "GET", "/api/v1/companies/{A}/data-preferences", None, 404, NF),
    (OW, "GET", "/api/v1/companies/{A}/data-preferences", None, 200, None),
    (AD, "GET", "/api/v1/companies/{A}/data-preferences", None, 200, None),
    (BI, "GET", "/api/v1/companies/{A}/data-preferences", None, 200, None),
    (ME, "GET", "/api/v1/companies/{A}/data-preferences", None, 200, None),
    (CA, "GET", "/api/v1/companies/{A}/data-preferences", None, 200, None),
    (CV, "GET", "/api/v1/companies/{A}/data-preferences", None, 200, None),
    (OT, "GET", "/api/v1/companies/{A}/data-preferences", None, 404, NF),
    (AN, "GET", "/api/v1/companies/{A}/data-preferences", None, 401, UN),
    // ---- PUT /companies/{A}/data-preferences
    (IA, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 404, NF),
    (OW, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 200, None),
    (AD, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 200, None),
    (BI, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 403, FB),
    (ME, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 403, FB),
    (CA, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 200, None),
    (CV, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 403, FB),
    (OT, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 404, NF),
    (AN, "PUT", "/api/v1/companies/{A}/data-preferences", Some(PREFS), 401, UN),
    // ---- GET /companies/{A}/members (viewers see sites and preferences only)
    (IA, "GET", "/api/v1/companies/{A}/members", None, 404, NF),
    (OW, "GET", "/api/v1/companies/{A}/members", None, 200, None),
    (AD, "GET", "/api/v1/companies/{A}/members", None, 200, None),
    (BI, "GET", "/api/v1/companies/{A}/members", None, 200, None),
    (ME, "GET", "/api/v1/companies/{A}/members", None, 200, None),
    (CA, "GET", "/api/v1/companies/{A}/members", None, 200, None),
    (CV, "GET", "/api/v1/companies/{A}/members", None, 403, FB),
    (OT, "GET", "/api/v1/companies/{A}/members", None, 404, NF),
    (AN, "GET", "/api/v1/companies/{A}/members", None, 401, UN),
    // ---- POST /companies/{A}/members
    // Instance administrators add directly (201); everyone else's add is an invitation (202).
    (IA, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 201, None),
    (OW, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 202, None),
    (AD, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 202, None),
    (BI, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 403, FB),
    (ME, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 403, FB),
    (CA, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 202, None),
    (CV, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 403, FB),
    (OT, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 404, NF),
    (AN, "POST", "/api/v1/companies/{A}/members", Some(ADD_CMEMBER), 401, UN),
    // ---- PATCH /companies/{A}/members/{user}
    (IA, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 404, NF),
    (OW, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 200, None),
    (AD, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 200, None),
    (BI, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 403, FB),
    (ME, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 403, FB),
    (CA, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 200, None),
    (CV, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 403, FB),
    (OT, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 404, NF),
    (AN, "PATCH", "/api/v1/companies/{A}/members/{tmp_cmember}", Some(PATCH_CMEMBER), 401, UN),
    // ---- DELETE /companies/{A}/members/{user}
    (IA, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 404, NF),
    (OW, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 204, None),
    (AD, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 204, None),
    (BI, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 403, FB),
    (ME, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 403, FB),
    (CA, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 204, None),
    (CV, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 403, FB),
    (OT, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 404, NF),
    (AN, "DELETE", "/api/v1/companies/{A}/members/{tmp_cmember}", None, 401, UN),
    // ---- company B: the member reaches it, the company-only personas do not
    (OW, "GET", "/api/v1/companies/{B}", None, 200, None),
    (AD, "GET", "/api/v1/companies/{B}", None, 200, None),
    (BI, "GET", "/api/v1/companies/{B}", None, 200, None),
    (ME, "GET", "/api/v1/companies/{B}", None, 200, None),
    (CA, "GET", "/api/v1/companies/{B}", None, 404, NF),
    (CV, "GET", "/api/v1/companies/{B}", None, 404, NF),
    (CA, "PATCH", "/api/v1/companies/{B}", Some(RENAME_A), 404, NF),
    (CA, "POST", "/api/v1/companies/{B}/sites", Some(SITE), 404, NF),
    (CA, "POST", "/api/v1/companies/{B}/members", Some(ADD_CMEMBER), 404, NF),
    // ---- company C: outside the member's access
    (OW, "GET", "/api/v1/companies/{C}", None, 200, None),
    (AD, "GET", "/api/v1/companies/{C}", None, 200, None),
    (BI, "GET", "/api/v1/companies/{C}", None, 200, None),
    (ME, "GET", "/api/v1/companies/{C}", None, 404, NF),
    (CA, "GET", "/api/v1/companies/{C}", None, 404, NF),
    (CV, "GET", "/api/v1/companies/{C}", None, 404, NF),
    (ME, "GET", "/api/v1/companies/{C}/sites", None, 404, NF),
    (ME, "GET", "/api/v1/companies/{C}/data-preferences", None, 404, NF),
    (ME, "GET", "/api/v1/companies/{C}/members", None, 404, NF),
    (ME, "PATCH", "/api/v1/companies/{C}", Some(RENAME_A), 404, NF),
    (ME, "DELETE", "/api/v1/companies/{C}", None, 404, NF),
    // ---- GET /orgs/{org}/invitations
    (IA, "GET", "/api/v1/orgs/{org}/invitations", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/invitations", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/invitations", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/invitations", None, 403, FB),
    (ME, "GET", "/api/v1/orgs/{org}/invitations", None, 403, FB),
    (CA, "GET", "/api/v1/orgs/{org}/invitations", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/invitations", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/invitations", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/invitations", None, 401, UN),
    // ---- POST /orgs/{org}/invitations
    (IA, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 403, FB),
    (OW, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 201, None),
    (AD, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 201, None),
    (BI, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/invitations", Some(INVITE), 401, UN),
    // ---- POST /companies/{A}/invitations
    (IA, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 404, NF),
    (OW, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 201, None),
    (AD, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 201, None),
    (BI, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 403, FB),
    (ME, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 403, FB),
    (CA, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 201, None),
    (CV, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 403, FB),
    (OT, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 404, NF),
    (AN, "POST", "/api/v1/companies/{A}/invitations", Some(CINVITE), 401, UN),
    // ---- POST /invitations/{inv}/resend (the owner's invitation: member of A)
    (IA, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 403, FB),
    (OW, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 200, None),
    (AD, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 200, None),
    (BI, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 403, FB),
    (ME, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 403, FB),
    (CA, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 404, NF),
    (CV, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 404, NF),
    (OT, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 404, NF),
    (AN, "POST", "/api/v1/invitations/{tmp_inv}/resend", None, 401, UN),
    // ---- DELETE /invitations/{inv}
    (IA, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 403, FB),
    (OW, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 204, None),
    (AD, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 204, None),
    (BI, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 403, FB),
    (ME, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 403, FB),
    (CA, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 404, NF),
    (CV, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 404, NF),
    (OT, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 404, NF),
    (AN, "DELETE", "/api/v1/invitations/{tmp_inv}", None, 401, UN),
    // ---- GET /orgs/{org}/api-keys
    (IA, "GET", "/api/v1/orgs/{org}/api-keys", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/api-keys", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/api-keys", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/api-keys", None, 403, FB),
    (ME, "GET", "/api/v1/orgs/{org}/api-keys", None, 403, FB),
    (CA, "GET", "/api/v1/orgs/{org}/api-keys", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/api-keys", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/api-keys", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/api-keys", None, 401, UN),
    // ---- POST /orgs/{org}/api-keys
    (IA, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 403, FB),
    (OW, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 201, None),
    (AD, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 201, None),
    (BI, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/api-keys", Some(KEY), 401, UN),
    // ---- PATCH /orgs/{org}/api-keys/{key}
    (IA, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 403, FB),
    (OW, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 200, None),
    (AD, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 200, None),
    (BI, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 403, FB),
    (ME, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 403, FB),
    (CA, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 403, NOM),
    (CV, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 403, NOM),
    (OT, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 404, NF),
    (AN, "PATCH", "/api/v1/orgs/{org}/api-keys/{tmp_key}", Some(RENAME_KEY), 401, UN),
    // ---- POST /orgs/{org}/api-keys/{key}/rotate
    (IA, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 403, FB),
    (OW, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 201, None),
    (AD, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 201, None),
    (BI, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/api-keys/{tmp_key}/rotate", Some(ROTATE), 401, UN),
    // ---- DELETE /orgs/{org}/api-keys/{key} (never used: no force needed)
    (IA, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 403, FB),
    (OW, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 204, None),
    (AD, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 204, None),
    (BI, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 403, FB),
    (ME, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 403, FB),
    (CA, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 403, NOM),
    (CV, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 403, NOM),
    (OT, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 404, NF),
    (AN, "DELETE", "/api/v1/orgs/{org}/api-keys/{tmp_key}", None, 401, UN),
    // ---- GET /orgs/{org}/billing/source
    (IA, "GET", "/api/v1/orgs/{org}/billing/source", None, 403, FB),
    (OW, "GET", "/api/v1/orgs/{org}/billing/source", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/billing/source", None, 403, FB),
    (BI, "GET", "/api/v1/orgs/{org}/billing/source", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}/billing/source", None, 403, FB),
    (CA, "GET", "/api/v1/orgs/{org}/billing/source", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/billing/source", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/billing/source", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/billing/source", None, 401, UN),
    // ---- PUT /orgs/{org}/billing/source
    (IA, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 403, FB),
    (OW, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 200, None),
    (AD, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 403, FB),
    (BI, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 200, None),
    (ME, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 403, FB),
    (CA, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 403, NOM),
    (CV, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 403, NOM),
    (OT, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 404, NF),
    (AN, "PUT", "/api/v1/orgs/{org}/billing/source", Some(SOURCE), 401, UN),
    // ---- GET /orgs/{org}/sso (the `sso` feature is off for organization 1)
    (IA, "GET", "/api/v1/orgs/{org}/sso", None, 403, FD),
    (OW, "GET", "/api/v1/orgs/{org}/sso", None, 403, FD),
    (AD, "GET", "/api/v1/orgs/{org}/sso", None, 403, FD),
    (BI, "GET", "/api/v1/orgs/{org}/sso", None, 403, FD),
    (ME, "GET", "/api/v1/orgs/{org}/sso", None, 403, FD),
    (CA, "GET", "/api/v1/orgs/{org}/sso", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/sso", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/sso", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/sso", None, 401, UN),
    // ---- PUT /orgs/{org}/sso
    (IA, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 403, FB),
    (OW, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 403, FD),
    (AD, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 403, FD),
    (BI, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 403, FB),
    (ME, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 403, FB),
    (CA, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 403, NOM),
    (CV, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 403, NOM),
    (OT, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 404, NF),
    (AN, "PUT", "/api/v1/orgs/{org}/sso", Some(SSO), 401, UN),
    // ---- DELETE /orgs/{org}/sso
    (IA, "DELETE", "/api/v1/orgs/{org}/sso", None, 403, FB),
    (OW, "DELETE", "/api/v1/orgs/{org}/sso", None, 403, FD),
    (AD, "DELETE", "/api/v1/orgs/{org}/sso", None, 403, FD),
    (BI, "DELETE", "/api/v1/orgs/{org}/sso", None, 403, FB),
    (ME, "DELETE", "/api/v1/orgs/{org}/sso", None, 403, FB),
    (CA, "DELETE", "/api/v1/orgs/{org}/sso", None, 403, NOM),
    (CV, "DELETE", "/api/v1/orgs/{org}/sso", None, 403, NOM),
    (OT, "DELETE", "/api/v1/orgs/{org}/sso", None, 404, NF),
    (AN, "DELETE", "/api/v1/orgs/{org}/sso", None, 401, UN),
    // ---- POST /orgs/{org}/sso/test (org.update, like the other SSO settings writes)
    (IA, "POST", "/api/v1/orgs/{org}/sso/test", None, 403, FB),
    (OW, "POST", "/api/v1/orgs/{org}/sso/test", None, 403, FD),
    (AD, "POST", "/api/v1/orgs/{org}/sso/test", None, 403, FD),
    (BI, "POST", "/api/v1/orgs/{org}/sso/test", None, 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/sso/test", None, 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/sso/test", None, 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/sso/test", None, 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/sso/test", None, 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/sso/test", None, 401, UN),
    // ---- POST /orgs/{org}/sso/domains/{domain}/verify (owners and admins; `sso` is off)
    (IA, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 403, FB),
    (OW, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 403, FD),
    (AD, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 403, FD),
    (BI, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/verify", None, 401, UN),
    // ---- POST /orgs/{org}/sso/domains/{domain}/approve (instance administrators only;
    // the domain is not claimed, so even they get "not found")
    (IA, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 404, NF),
    (OW, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 403, FB),
    (AD, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 403, FB),
    (BI, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 403, FB),
    (ME, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 403, FB),
    (CA, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 403, NOM),
    (CV, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 403, NOM),
    (OT, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 404, NF),
    (AN, "POST", "/api/v1/orgs/{org}/sso/domains/org-one.test/approve", None, 401, UN),
    // ---- GET /orgs/{org}/plugins (organization readers)
    (IA, "GET", "/api/v1/orgs/{org}/plugins", None, 200, None),
    (OW, "GET", "/api/v1/orgs/{org}/plugins", None, 200, None),
    (AD, "GET", "/api/v1/orgs/{org}/plugins", None, 200, None),
    (BI, "GET", "/api/v1/orgs/{org}/plugins", None, 200, None),
    (ME, "GET", "/api/v1/orgs/{org}/plugins", None, 200, None),
    (CA, "GET", "/api/v1/orgs/{org}/plugins", None, 403, NOM),
    (CV, "GET", "/api/v1/orgs/{org}/plugins", None, 403, NOM),
    (OT, "GET", "/api/v1/orgs/{org}/plugins", None, 404, NF),
    (AN, "GET", "/api/v1/orgs/{org}/plugins", None, 401, UN),
    // ---- PUT /orgs/{org}/plugins (instance administrators only)
    (IA, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 200, None),
    (OW, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 403, FB),
    (AD, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 403, FB),
    (BI, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 403, FB),
    (ME, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 403, FB),
    (CA, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 403, NOM),
    (CV, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 403, NOM),
    (OT, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 404, NF),
    (AN, "PUT", "/api/v1/orgs/{org}/plugins", Some(PLUGINS), 401, UN),
    // ---- GET /me/sections
    (IA, "GET", "/api/v1/me/sections", None, 200, None),
    (OW, "GET", "/api/v1/me/sections", None, 200, None),
    (AD, "GET", "/api/v1/me/sections", None, 200, None),
    (BI, "GET", "/api/v1/me/sections", None, 200, None),
    (ME, "GET", "/api/v1/me/sections", None, 200, None),
    (CA, "GET", "/api/v1/me/sections", None, 200, None),
    (CV, "GET", "/api/v1/me/sections", None, 200, None),
    (OT, "GET", "/api/v1/me/sections", None, 200, None),
    (AN, "GET", "/api/v1/me/sections", None, 401, UN),
    // ---- GET /me/memberships
    (IA, "GET", "/api/v1/me/memberships", None, 200, None),
    (OW, "GET", "/api/v1/me/memberships", None, 200, None),
    (AD, "GET", "/api/v1/me/memberships", None, 200, None),
    (BI, "GET", "/api/v1/me/memberships", None, 200, None),
    (ME, "GET", "/api/v1/me/memberships", None, 200, None),
    (CA, "GET", "/api/v1/me/memberships", None, 200, None),
    (CV, "GET", "/api/v1/me/memberships", None, 200, None),
    (OT, "GET", "/api/v1/me/memberships", None, 200, None),
    (AN, "GET", "/api/v1/me/memberships", None, 401, UN),
    // ---- GET /me/access?org=…
    (IA, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 200, None),
    (OW, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 200, None),
    (AD, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 200, None),
    (BI, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 200, None),
    (ME, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 200, None),
    (CA, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 200, None),
    (CV, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 200, None),
    (OT, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 404, NF),
    (AN, "GET", "/api/v1/me/access?org={org}&permission=org.read", None, 401, UN),
    // ---- GET /me/access?company=…
    (IA, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 404, NF),
    (OW, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 200, None),
    (AD, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 200, None),
    (BI, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 200, None),
    (ME, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 200, None),
    (CA, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 200, None),
    (CV, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 200, None),
    (OT, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 404, NF),
    (AN, "GET", "/api/v1/me/access?company={A}&permission=company.read", None, 401, UN),
    // ---- GET /me/access?org=<org2> (instance admins oversee every organization)
    (IA, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 200, None),
    (OW, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 404, NF),
    (AD, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 404, NF),
    (BI, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 404, NF),
    (ME, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 404, NF),
    (CA, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 404, NF),
    (CV, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 404, NF),
    (OT, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 200, None),
    (AN, "GET", "/api/v1/me/access?org={org2}&permission=org.read", None, 401, UN),
    // ---- refused deletes of company A, ordered last (a wrong 204 would only hurt what follows)
    (IA, "DELETE", "/api/v1/companies/{A}", None, 404, NF),
    (BI, "DELETE", "/api/v1/companies/{A}", None, 403, FB),
    (ME, "DELETE", "/api/v1/companies/{A}", None, 403, FB),
    (CA, "DELETE", "/api/v1/companies/{A}", None, 403, FB),
    (CV, "DELETE", "/api/v1/companies/{A}", None, 403, FB),
    (OT, "DELETE", "/api/v1/companies/{A}", None, 404, NF),
    (AN, "DELETE", "/api/v1/companies/{A}", None, 401, UN),
];

/// Cells run after the cross-organization checks: the owner deletes organization 1.
#[rustfmt::skip]
pub(crate) static MATRIX_LAST: &[Cell] = &[
    (OW, "DELETE", "/api/v1/orgs/{org}", None, 204, None),
    (OW, "GET", "/api/v1/orgs/{org}", None, 404, NF),
    (IA, "GET", "/api/v1/orgs/{org}", None, 404, NF),
    (AD, "GET", "/api/v1/companies/{A}", None, 404, NF),
    (CA, "GET", "/api/v1/companies/{A}", None, 404, NF),
];

/// Throw-away resources made for one cell.
#[derive(Default)]
struct Fixtures {
    values: HashMap<&'static str, String>,
    /// Email of `{tmp_member}` (it can sign in with [`PW`]).
    tmp_member_email: Option<String>,
}

fn fresh_user(w: &mut World, password: bool) -> (String, String) {
    let email = format!("tmp-{}@orgs.test", uniq());
    let id = create_user(w.s(IA), &email, None, password.then_some(PW));
    (id, email)
}

/// Makes the throw-away resources a template names and substitutes every placeholder.
fn render(w: &mut World, fx: &mut Fixtures, template: &str) -> String {
    const MADE: [&str; 8] = [
        "{uniq}",
        "{tmp_inv}",
        "{tmp_key}",
        "{fresh_email}",
        "{tmp_member}",
        "{tmp_cmember}",
        "{tmp_site}",
        "{tmp_cmp}",
    ];
    for key in MADE {
        if !template.contains(key) || fx.values.contains_key(key) {
            continue;
        }
        let (org, a) = (w.org.clone(), w.a.clone());
        let value = match key {
            "{uniq}" => uniq(),
            "{fresh_email}" => fresh_user(w, false).1,
            "{tmp_member}" => {
                let (id, email) = fresh_user(w, true);
                add_member(w.s(IA), &org, &email, "member", json!([a]));
                fx.tmp_member_email = Some(email);
                id
            }
            "{tmp_cmember}" => {
                let (id, email) = fresh_user(w, false);
                add_company_member(w.s(IA), &a, &email, "member");
                id
            }
            "{tmp_inv}" => {
                let email = fresh_user(w, false).1;
                let r = w.s(OW).post_json(
                    &format!("/api/v1/orgs/{org}/invitations"),
                    &json!({"email": email, "role": "member", "company_access": [a]}),
                );
                expect(&r, 201, "owner invites")["id"]
                    .as_str()
                    .expect("invitation id")
                    .to_string()
            }
            "{tmp_key}" => {
                let r = w.s(OW).post_json(
                    &format!("/api/v1/orgs/{org}/api-keys"),
                    &json!({"name": format!("Tmp {}", uniq()), "scopes": ["org:read"]}),
                );
                expect(&r, 201, "owner creates a key")["id"]
                    .as_str()
                    .expect("key id")
                    .to_string()
            }
            "{tmp_site}" => create_site(w.s(OW), &a, &format!("Tmp site {}", uniq())),
            "{tmp_cmp}" => {
                let u = uniq();
                create_company(w.s(OW), &org, &format!("Tmp {u}"), &format!("tmp-{u}"))
            }
            _ => unreachable!(),
        };
        fx.values.insert(key, value);
    }
    let mut out = template
        .replace("{org2}", &w.org2)
        .replace("{org}", &w.org)
        .replace("{A}", &w.a)
        .replace("{B}", &w.b)
        .replace("{C}", &w.c)
        .replace("{siteA}", &w.site_a)
        .replace("{owner_id}", &w.ids[&OW]);
    for (k, v) in &fx.values {
        out = out.replace(k, v);
    }
    assert!(
        !out.as_bytes()
            .windows(2)
            .any(|w| w[0] == b'{' && w[1].is_ascii_alphabetic()),
        "unrendered placeholder in {out}"
    );
    out
}

fn run_cell(server: &TestServer, w: &mut World, cell: &Cell) {
    let (p, method, path_t, body_t, status, code) = *cell;
    let mut fx = Fixtures::default();
    let path = render(w, &mut fx, path_t);
    let body: Option<Value> = body_t.map(|t| {
        let text = render(w, &mut fx, t);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad body template {t}: {e}"))
    });
    let ctx = format!("{p:?} {method} {path_t}");
    let resp = send(w.s(p), method, &path, body.as_ref());
    match code {
        Some(code) => {
            expect_problem(&resp, status, code, &ctx);
        }
        None => {
            let v = expect(&resp, status, &ctx);
            if status != 204 {
                assert!(
                    resp.header("content-type")
                        .is_some_and(|c| c.starts_with("application/json")),
                    "{ctx}: success without a JSON content type: {:?}",
                    resp.headers
                );
                assert!(v.is_object(), "{ctx}: body is not an object: {v}");
            }
        }
    }
    // Undo the owner's transfer: the new owner hands ownership back.
    if path_t.ends_with("/transfer-ownership") && resp.status == 200 {
        let email = fx.tmp_member_email.clone().expect("transfer target email");
        let mut new_owner = login(server, &email, PW);
        let back = new_owner.post_json(
            &format!("/api/v1/orgs/{}/transfer-ownership", w.org),
            &json!({"user_id": w.ids[&p]}),
        );
        expect(&back, 200, "transfer ownership back");
        let org = w.org.clone();
        let me = expect(
            &w.s(p).get(&format!("/api/v1/orgs/{org}")),
            200,
            "owner again",
        );
        assert_eq!(me["role"], "owner", "ownership did not come back: {me}");
    }
}

/// Asserts two answers are indistinguishable (status, code, whole body).
fn assert_same(a: &Response, b: &Response, ctx: &str) {
    assert_eq!(
        (a.status, a.text()),
        (b.status, b.text()),
        "{ctx}: a foreign ID and a non-existent ID are told apart"
    );
}

/// Every route with an ID in its path, called with organization 2's IDs and with random IDs.
fn cross_org_paths(w: &mut World) {
    // (method, path, body, personas for whom an inner foreign ID is a plain 404)
    // `{org}`/`{cmp}` are the outer (scoping) IDs; `{site}`/`{user}` the inner ones.
    #[rustfmt::skip]
    let routes: &[(&str, &str, Option<Value>, &[P])] = &[
        ("GET", "/api/v1/orgs/{org}", None, &[]),
        ("PATCH", "/api/v1/orgs/{org}", Some(json!({"name": "Hijacked"})), &[]),
        ("DELETE", "/api/v1/orgs/{org}", None, &[]),
        ("GET", "/api/v1/orgs/{org}/features", None, &[]),
        ("PUT", "/api/v1/orgs/{org}/features", Some(json!({"api_keys": false})), &[]),
        ("GET", "/api/v1/orgs/{org}/members", None, &[]),
        ("POST", "/api/v1/orgs/{org}/members", Some(json!({"email": "{fresh}", "role": "member", "company_access": "all"})), &[]),
        ("PATCH", "/api/v1/orgs/{org}/members/{user}", Some(json!({"role": "member"})), &[OW, AD]),
        ("DELETE", "/api/v1/orgs/{org}/members/{user}", None, &[OW, AD]),
        ("DELETE", "/api/v1/orgs/{org}/members/{user}/two-step", None, &[OW]),
        ("POST", "/api/v1/orgs/{org}/transfer-ownership", Some(json!({"user_id": "{me}"})), &[]),
        ("GET", "/api/v1/orgs/{org}/companies", None, &[]),
        ("POST", "/api/v1/orgs/{org}/companies", Some(json!({"name": "Hijack", "slug": "hijack"})), &[]),
        ("GET", "/api/v1/orgs/{org}/data-repository", None, &[]),
        ("PUT", "/api/v1/orgs/{org}/data-repository", Some(json!({"kind": "embedded", "retention_days": 1, "credentials": null})), &[]),
        ("GET", "/api/v1/orgs/{org}/two-step-policy", None, &[]),
        ("PUT", "/api/v1/orgs/{org}/two-step-policy", Some(json!({"require_two_step": true, "grace_days": 0})), &[]),
        ("GET", "/api/v1/orgs/{org}/billing", None, &[]),
        ("PUT", "/api/v1/orgs/{org}/billing/profile", Some(json!({"legal_name": "Hijack", "billing_email": "accounts@billing-dept.test", "address": "x", "plan": "free"})), &[]),
        ("GET", "/api/v1/orgs/{org}/billing/invoices", None, &[]),
        ("POST", "/api/v1/orgs/{org}/billing/invoices", Some(json!({"invoices": [{"number": "O2-1", "issued_on": "2024-01-01", "amount_cents": 1, "currency": "EUR", "status": "void"}]})), &[]),
        ("GET", "/api/v1/orgs/{org}/audit-log", None, &[]),
        ("GET", "/api/v1/companies/{cmp}", None, &[]),
        ("PATCH", "/api/v1/companies/{cmp}", Some(json!({"name": "Hijacked"})), &[]),
        ("DELETE", "/api/v1/companies/{cmp}", None, &[]),
        ("GET", "/api/v1/companies/{cmp}/sites", None, &[]),
        ("POST", "/api/v1/companies/{cmp}/sites", Some(json!({"name": "Hijack"})), &[]),
        ("GET", "/api/v1/companies/{cmp}/sites/{site}", None, &[OW, AD, BI, ME, CA, CV]),
        ("PATCH", "/api/v1/companies/{cmp}/sites/{site}", Some(json!({"name": "Hijacked"})), &[OW, AD, CA]),
        ("DELETE", "/api/v1/companies/{cmp}/sites/{site}", None, &[OW, AD, CA]),
        ("GET", "/api/v1/companies/{cmp}/data-preferences", None, &[]),
        ("PUT", "/api/v1/companies/{cmp}/data-preferences", Some(json!({"units": "metric", "timezone": "UTC", "currency": "EUR", "date_format": "YYYY-MM-DD", "retention_days": 1})), &[]),
        ("GET", "/api/v1/companies/{cmp}/members", None, &[]),
        ("POST", "/api/v1/companies/{cmp}/members", Some(json!({"email": "{fresh}", "role": "admin"})), &[]),
        ("PATCH", "/api/v1/companies/{cmp}/members/{user}", Some(json!({"role": "admin"})), &[OW, AD, CA]),
        ("DELETE", "/api/v1/companies/{cmp}/members/{user}", None, &[OW, AD, CA]),
        ("GET", "/api/v1/me/access?org={org}&permission=org.read", None, &[]),
        ("GET", "/api/v1/me/access?company={cmp}&permission=company.read", None, &[]),
    ];
    let fresh = fresh_user(w, false).1;
    let mut checked = 0;
    for p in [OW, AD, BI, ME, CA, CV] {
        let me_id = w.ids[&p].clone();
        // A real member of org 1 / of company A, as the inner target when the outer ID is foreign.
        let (own_user, own_cmember) = (w.ids[&ME].clone(), w.ids[&CV].clone());
        for (method, path_t, body_t, inner_404) in routes {
            let body = body_t.as_ref().map(|b| {
                let t = b
                    .to_string()
                    .replace("{fresh}", &fresh)
                    .replace("{me}", &me_id);
                serde_json::from_str::<Value>(&t).unwrap()
            });
            let is_company = path_t.contains("{cmp}");
            let fill = |outer: &str, site: &str, user: &str| {
                path_t
                    .replace("{org}", outer)
                    .replace("{cmp}", outer)
                    .replace("{site}", site)
                    .replace("{user}", user)
            };
            let own_inner_user = if is_company { &own_cmember } else { &own_user };
            // Outer ID foreign vs non-existent: always 404, identical.
            let (foreign_outer, random_outer) = if is_company {
                (w.x.clone(), random_id("cmp"))
            } else {
                (w.org2.clone(), random_id("org"))
            };
            let ctx = format!("{p:?} {method} {path_t} (outer ID of org 2)");
            let site_a = w.site_a.clone();
            let foreign = fill(&foreign_outer, &site_a, own_inner_user);
            let random = fill(&random_outer, &site_a, own_inner_user);
            let r1 = send(w.s(p), method, &foreign, body.as_ref());
            let r2 = send(w.s(p), method, &random, body.as_ref());
            expect_problem(&r1, 404, "not_found", &ctx);
            assert_same(&r1, &r2, &ctx);
            // A malformed ID is answered the same way.
            let malformed = fill(
                if is_company { "cmp_x" } else { "not-an-org" },
                &site_a,
                own_inner_user,
            );
            let r3 = send(w.s(p), method, &malformed, body.as_ref());
            assert_same(&r1, &r3, &format!("{ctx} vs a malformed ID"));
            checked += 1;
            // Inner IDs (site, user) of org 2 inside our own org / company.
            if path_t.contains("{site}") || path_t.contains("{user}") {
                let own_outer = if is_company {
                    w.a.clone()
                } else {
                    w.org.clone()
                };
                let ctx = format!("{p:?} {method} {path_t} (inner ID of org 2)");
                let (site_x, other) = (w.site_x.clone(), w.ids[&OT].clone());
                let foreign = fill(&own_outer, &site_x, &other);
                let random = fill(&own_outer, &random_id("site"), &random_id("usr"));
                let r1 = send(w.s(p), method, &foreign, body.as_ref());
                let r2 = send(w.s(p), method, &random, body.as_ref());
                if inner_404.contains(&p) {
                    expect_problem(&r1, 404, "not_found", &ctx);
                } else {
                    assert!(
                        matches!(r1.status, 403 | 404),
                        "{ctx}: expected a refusal, got {} {}",
                        r1.status,
                        r1.text()
                    );
                }
                assert_same(&r1, &r2, &ctx);
                checked += 1;
            }
        }
    }
    assert!(
        checked > 200,
        "only {checked} cross-organization checks ran"
    );
}

/// Company IDs of org 2 inside bodies: refused exactly like unknown IDs, naming the field.
fn cross_org_bodies(w: &mut World) {
    let org = w.org.clone();
    let fresh = fresh_user(w, false).1;
    let member_id = w.ids[&ME].clone();
    let (a, x) = (w.a.clone(), w.x.clone());
    for p in [OW, AD] {
        for (method, path, make) in [
            (
                "POST",
                format!("/api/v1/orgs/{org}/members"),
                (|email: &str, list: Value| json!({"email": email, "role": "member", "company_access": list}))
                    as fn(&str, Value) -> Value,
            ),
            (
                "PATCH",
                format!("/api/v1/orgs/{org}/members/{member_id}"),
                |_: &str, list: Value| json!({"company_access": list}),
            ),
            (
                "PATCH",
                format!("/api/v1/orgs/{org}/members/{member_id}"),
                |_: &str, list: Value| json!({"role": "admin", "company_access": list}),
            ),
        ] {
            for (field, foreign, random) in [
                ("company_access[0]", json!([x]), json!([random_id("cmp")])),
                (
                    "company_access[1]",
                    json!([a, x]),
                    json!([a, random_id("cmp")]),
                ),
            ] {
                let ctx = format!("{p:?} {method} {path} with {foreign}");
                let r1 = send(w.s(p), method, &path, Some(&make(&fresh, foreign.clone())));
                let r2 = send(w.s(p), method, &path, Some(&make(&fresh, random)));
                let body = expect_field(&r1, field, &ctx);
                assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{ctx}: {body}");
                assert_same(&r1, &r2, &ctx);
            }
        }
    }
    // Transfer of ownership to a user of org 2 vs an unknown user.
    let ctx = "OW transfer-ownership to org 2's owner";
    let path = format!("/api/v1/orgs/{org}/transfer-ownership");
    let other = w.ids[&OT].clone();
    let r1 = send(w.s(OW), "POST", &path, Some(&json!({"user_id": other})));
    let r2 = send(
        w.s(OW),
        "POST",
        &path,
        Some(&json!({"user_id": random_id("usr")})),
    );
    expect_field(&r1, "user_id", ctx);
    assert_same(&r1, &r2, ctx);
    // Nothing above changed the member's access or the owner.
    let m = expect(
        &w.s(OW)
            .get(&format!("/api/v1/orgs/{org}/members?limit=200")),
        200,
        "members after refused changes",
    );
    let row = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == member_id.as_str())
        .cloned()
        .expect("member row");
    assert_eq!(row["role"], "member", "{row}");
    let mut got: Vec<String> = row["company_access"]
        .as_array()
        .unwrap_or_else(|| panic!("access changed: {row}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = vec![w.a.clone(), w.b.clone()];
    want.sort();
    assert_eq!(got, want, "member access changed by refused requests");
}

/// Whether a cell's path template (placeholders like `{A}`, `{tmp_member}`; a query is
/// ignored) is a call of a route pattern (`{param}` segments).
fn route_covers(pattern: &str, template: &str) -> bool {
    let path = template.split('?').next().unwrap_or_default();
    let (pat, act): (Vec<&str>, Vec<&str>) =
        (pattern.split('/').collect(), path.split('/').collect());
    pat.len() == act.len()
        && pat.iter().zip(&act).all(|(p, a)| {
            if p.starts_with('{') {
                !a.is_empty()
            } else {
                p == a
            }
        })
}

#[test]
fn persona_endpoint_matrix_and_cross_org_isolation() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let before = w.org2_snapshot();

    for cell in MATRIX {
        run_cell(&server, &mut w, cell);
    }
    // Every route the route table scopes by an organization, company or invitation — and the
    // unscoped ones below — has a cell for every persona: a new route without cells fails here.
    let mut required: Vec<(&str, &str)> = ROUTES
        .iter()
        .filter(|r| !r.page && r.path.starts_with("/api/v1/"))
        .filter(|r| {
            ["{org}", "{cmp}", "{inv}"]
                .iter()
                .any(|x| r.path.contains(x))
        })
        .map(|r| (r.method, r.path))
        .collect();
    assert!(
        required.len() > 40,
        "the route table lost its scoped routes"
    );
    required.extend([
        ("GET", "/api/v1/orgs"),
        ("POST", "/api/v1/orgs"),
        ("GET", "/api/v1/me/sections"),
        ("GET", "/api/v1/me/memberships"),
        ("GET", "/api/v1/me/access"),
    ]);
    for (m, pattern) in required {
        let who: Vec<P> = MATRIX
            .iter()
            .chain(MATRIX_LAST)
            .filter(|c| c.1 == m && route_covers(pattern, c.2))
            .map(|c| c.0)
            .collect();
        for p in PERSONAS {
            assert!(
                who.contains(&p),
                "matrix has no cell for {p:?} {m} {pattern}"
            );
        }
    }

    cross_org_paths(&mut w);
    cross_org_bodies(&mut w);

    let after = w.org2_snapshot();
    for ((path, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(b, a, "organization 2 changed: {path}");
    }

    for cell in MATRIX_LAST {
        run_cell(&server, &mut w, cell);
    }
    let after_delete = w.org2_snapshot();
    for ((path, b), (_, a)) in before.iter().zip(&after_delete) {
        assert_eq!(
            b, a,
            "deleting organization 1 changed organization 2: {path}"
        );
    }
}
