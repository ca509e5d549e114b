//! API keys, over HTTP: the create → use → list →
//! rotate-with-overlap → expire lifecycle, revocation under concurrent keep-alive load,
//! cross-organization isolation and privilege limits of key principals, the key format's
//! refusal codes, `POST /keys/verify`, secrets kept out of files and logs, the `api_keys`
//! tenant feature switch, and batched usage bookkeeping flushed at shutdown.
//!
//! Every test starts its own server on its own temp dir; waits are bounded and nothing asserts
//! on timing.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::assert_problem;
use crate::support::flows::{create_org, create_user, login, wait_stderr};
use crate::support::server::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::support::wait::{poll, wait_until};
use crate::support::{Client, KeepAlive, Response, Session, TestServer};
use tenantry::domain::apikey::{self, FormatError};
use tenantry::domain::{CompanyId, KeyId, OrgId, SiteId, UserId};

// ---------------------------------------------------------------------------
// helpers

const ALL_SCOPES: &[&str] = &[
    "org:read",
    "members:read",
    "members:write",
    "companies:read",
    "companies:write",
    "billing:read",
    "audit:read",
    "keys:verify",
];

fn assert_status(resp: &Response, status: u16, what: &str) -> Value {
    assert_eq!(
        resp.status,
        status,
        "{what}: expected {status}, got {} body {:?}",
        resp.status,
        resp.text()
    );
    if resp.body.is_empty() {
        Value::Null
    } else {
        resp.json()
    }
}

/// A request authenticated with `Authorization: Bearer <key>` (no cookie, no Origin).
fn with_key(
    client: &Client,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Response {
    let auth = format!("Bearer {key}");
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let mut headers = vec![("Authorization", auth.as_str())];
    if bytes.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    client.request(method, path, &headers, bytes.as_deref())
}

/// A server with a signed-in instance admin.
fn start(rust_log: Option<&str>) -> (TestServer, Session) {
    let mut b = TestServer::builder();
    if let Some(l) = rust_log {
        b = b.env("RUST_LOG", l);
    }
    let server = b.start();
    let admin = server.bootstrap_admin();
    (server, admin)
}

/// Creates a key; returns (key id, full key).
fn create_key(
    admin: &mut Session,
    org: &str,
    name: &str,
    scopes: &[&str],
    expires_at: Option<&str>,
) -> (String, String) {
    let mut body = json!({"name": name, "scopes": scopes});
    if let Some(e) = expires_at {
        body["expires_at"] = json!(e);
    }
    let r = admin.post_json(&format!("/api/v1/orgs/{org}/api-keys"), &body);
    let v = assert_status(&r, 201, "POST api-keys");
    let id = v["id"].as_str().expect("key id").to_string();
    let key = v["key"]
        .as_str()
        .expect("`key` in the create answer")
        .to_string();
    assert!(id.starts_with("key_"), "{v}");
    assert!(key.starts_with("tnt_"), "{v}");
    assert_eq!(key.len(), apikey::KEY_LEN, "{v}");
    (id, key)
}

fn list_keys(admin: &mut Session, org: &str) -> Vec<Value> {
    let r = admin.get(&format!("/api/v1/orgs/{org}/api-keys?limit=100"));
    let v = assert_status(&r, 200, "GET api-keys");
    v["data"].as_array().expect("data array").clone()
}

fn listed(admin: &mut Session, org: &str, id: &str) -> Value {
    list_keys(admin, org)
        .into_iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("key {id} not in the listing"))
}

fn now_secs() -> i64 {
    tenantry::service::now()
}

fn rfc3339(t: i64) -> String {
    tenantry::domain::user::rfc3339(t)
}

fn parse_time(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    tenantry::service::api_keys::parse_time("t", s)
        .unwrap_or_else(|_| panic!("not an RFC 3339 time: {s}"))
}

fn db_path(server: &TestServer) -> std::path::PathBuf {
    server.data_dir().join("tenantry.db")
}

fn read_lossy(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every file under `dir` (recursively) with its bytes.
fn all_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push((p.clone(), read_lossy(&p)));
        }
    }
    out
}

/// The key with one character of its secret part changed (the checksum no longer matches).
fn typo(key: &str) -> String {
    let mut b = key.as_bytes().to_vec();
    let i = apikey::PREFIX.len() + 26 + 1 + 5; // inside the 32-character secret
    b[i] = if b[i] == b'a' { b'b' } else { b'a' };
    String::from_utf8(b).unwrap()
}

// ---------------------------------------------------------------------------
// 1. lifecycle: create → use → list → rotate with overlap → expire the old key

#[test]
fn create_use_list_rotate_and_expire() {
    let (server, mut admin) = start(None);
    let client = server.client();
    let org = create_org(&mut admin, "Acme", "acme", None);

    let (id, key) = create_key(&mut admin, &org, "ci", &["org:read", "members:read"], None);

    // Use it.
    for _ in 0..3 {
        let r = with_key(&client, "GET", &format!("/api/v1/orgs/{org}"), &key, None);
        let v = assert_status(&r, 200, "GET org with key");
        assert_eq!(v["id"], org.as_str());
    }
    let r = with_key(
        &client,
        "GET",
        &format!("/api/v1/orgs/{org}/members"),
        &key,
        None,
    );
    assert_status(&r, 200, "GET members with members:read");

    // The listing never carries the secret, and shows the traffic.
    let r = admin.get(&format!("/api/v1/orgs/{org}/api-keys"));
    assert_status(&r, 200, "list");
    assert!(
        !r.text().contains(&key),
        "the listing contains the full key"
    );
    let items = list_keys(&mut admin, &org);
    assert!(!items.is_empty());
    for it in &items {
        assert!(
            it.get("key").is_none(),
            "listed item has a `key` field: {it}"
        );
    }
    let it = listed(&mut admin, &org, &id);
    assert_eq!(it["use_count"], 4, "use_count after 4 uses: {it}");
    let last = parse_time(&it["last_used_at"]);
    assert!(
        (now_secs() - last).abs() <= 60,
        "last_used_at {last} not recent: {it}"
    );
    assert_eq!(it["status"], "active", "{it}");

    // Rotate with a one-hour overlap.
    let before = now_secs();
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/api-keys/{id}/rotate"),
        &json!({"expire_old_in_seconds": 3600}),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "rotate: {} {}",
        r.status,
        r.text()
    );
    let v = r.json();
    let new_key = v["new_key"]["key"]
        .as_str()
        .expect("new_key.key")
        .to_string();
    let new_id = v["new_key"]["id"].as_str().expect("new_key.id").to_string();
    assert_ne!(new_key, key);
    assert_ne!(new_id, id);
    assert_eq!(v["new_key"]["rotated_from"], id.as_str(), "{v}");
    assert_eq!(v["old_key"]["id"], id.as_str(), "{v}");
    assert!(
        v["old_key"].get("key").is_none(),
        "old key secret echoed: {v}"
    );
    let old_exp = parse_time(&v["old_key"]["expires_at"]);
    let after = now_secs();
    assert!(
        old_exp >= before + 3600 - 5 && old_exp <= after + 3600 + 5,
        "old_key.expires_at {old_exp} is not ≈ now+1h ({before}..{after}): {v}"
    );
    // The successor keeps name and scopes.
    let scopes: HashSet<&str> = v["new_key"]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(scopes, HashSet::from(["org:read", "members:read"]), "{v}");

    // Both keys work during the overlap.
    for k in [&key, &new_key] {
        let r = with_key(&client, "GET", &format!("/api/v1/orgs/{org}"), k, None);
        assert_status(&r, 200, "both keys work during the overlap");
    }
    // Traffic shows on the new key.
    let it = listed(&mut admin, &org, &new_id);
    assert!(it["use_count"].as_i64().unwrap() >= 1, "{it}");
    assert!(!it["last_used_at"].is_null(), "{it}");

    // End the overlap now.
    let r = admin.patch_json(
        &format!("/api/v1/orgs/{org}/api-keys/{id}"),
        &json!({"expires_at": rfc3339(now_secs())}),
    );
    assert_status(&r, 200, "PATCH expires_at=now");
    let r = with_key(&client, "GET", &format!("/api/v1/orgs/{org}"), &key, None);
    assert_problem(&r, 401, "key_expired");
    let r = with_key(
        &client,
        "GET",
        &format!("/api/v1/orgs/{org}"),
        &new_key,
        None,
    );
    assert_status(&r, 200, "new key after the old one expired");
    let it = listed(&mut admin, &org, &id);
    assert_eq!(it["status"], "expired", "{it}");
}

/// Input checks of create/patch/rotate, natural expiry, and who may manage keys.
#[test]
fn key_management_validates_input_and_needs_owner_or_admin() {
    let mut w = two_orgs();
    let client = w.server.client();
    let org = w.org_a.clone();
    let base = format!("/api/v1/orgs/{org}/api-keys");
    let field_of = |r: &Response| -> String {
        let b = assert_problem(r, 422, "validation_failed");
        b["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let r = w
        .admin
        .post_json(&base, &json!({"name": "x", "scopes": []}));
    assert_eq!(field_of(&r), "scopes");
    let r = w.admin.post_json(
        &base,
        &json!({"name": "x", "scopes": ["org:read", "keys:manage"]}),
    );
    assert_eq!(field_of(&r), "scopes[1]");
    let r = w.admin.post_json(
        &base,
        &json!({"name": "x", "scopes": ["org:read"], "expires_at": rfc3339(now_secs() - 10)}),
    );
    // Well-formed, but already past: a conflict with the present, not an invalid request.
    crate::orgs_matrix::expect_conflict_field(&r, "expires_at", "expiry in the past");
    let r = w.admin.post_json(
        &base,
        &json!({"name": "x", "scopes": ["org:read"], "expires_at": "tomorrow"}),
    );
    assert_eq!(field_of(&r), "expires_at");
    let r = w
        .admin
        .post_json(&base, &json!({"name": "", "scopes": ["org:read"]}));
    assert_eq!(field_of(&r), "name");
    assert!(
        list_keys(&mut w.admin, &org).is_empty(),
        "a refused create left a key"
    );

    let (id, _) = create_key(&mut w.admin, &org, "x", &["org:read"], None);
    for secs in [-1, 7 * 24 * 3600 + 1] {
        let r = w.admin.post_json(
            &format!("{base}/{id}/rotate"),
            &json!({"expire_old_in_seconds": secs}),
        );
        assert_eq!(field_of(&r), "expire_old_in_seconds", "overlap {secs}");
    }
    let r = w
        .admin
        .patch_json(&format!("{base}/{id}"), &json!({"expires_at": 5}));
    assert_eq!(field_of(&r), "expires_at");
    let r = w.admin.delete(&format!("{base}/{id}?force=maybe"));
    assert_eq!(field_of(&r), "force");
    // Unknown / malformed key IDs in the path.
    for bad in [KeyId::generate().to_string(), "key_nope".to_string()] {
        let r = w
            .admin
            .patch_json(&format!("{base}/{bad}"), &json!({"name": "y"}));
        assert_problem(&r, 404, "not_found");
        let r = w.admin.delete(&format!("{base}/{bad}?force=true"));
        assert_problem(&r, 404, "not_found");
    }
    // Another organization's key ID under this organization.
    let r = w
        .admin
        .patch_json(&format!("{base}/{}", w.key_b_id), &json!({"name": "y"}));
    assert_problem(&r, 404, "not_found");
    // A revoked key cannot be rotated.
    assert_status(
        &w.admin.delete(&format!("{base}/{id}?force=true")),
        204,
        "revoke",
    );
    let r = w.admin.post_json(
        &format!("{base}/{id}/rotate"),
        &json!({"expire_old_in_seconds": 0}),
    );
    assert_problem(&r, 409, "conflict");

    // Rotation with no overlap ends the old key at once.
    let (id2, k2) = create_key(&mut w.admin, &org, "y", &["org:read"], None);
    let r = w.admin.post_json(
        &format!("{base}/{id2}/rotate"),
        &json!({"expire_old_in_seconds": 0}),
    );
    let nk = r.json()["new_key"]["key"].as_str().unwrap().to_string();
    let p = format!("/api/v1/orgs/{org}");
    assert_problem(&with_key(&client, "GET", &p, &k2, None), 401, "key_expired");
    assert_status(&with_key(&client, "GET", &p, &nk, None), 200, "successor");

    // A key expires by itself at its expiry time.
    let (_, short) = create_key(
        &mut w.admin,
        &org,
        "short",
        &["org:read"],
        Some(&rfc3339(now_secs() + 2)),
    );
    assert_status(
        &with_key(&client, "GET", &p, &short, None),
        200,
        "before expiry",
    );
    let r = poll(
        Duration::from_secs(10),
        "the key to expire at its expiry time (401)",
        || {
            let r = with_key(&client, "GET", &p, &short, None);
            if r.status == 401 {
                return Some(r);
            }
            assert_eq!(r.status, 200, "{}", r.text());
            None
        },
    );
    assert_problem(&r, 401, "key_expired");

    // Organization members without owner/admin cannot manage keys.
    let mut ann = login(&w.server, "ann@alpha.test", USER_PASSWORD);
    let r = ann.get(&base);
    assert_eq!(r.status, 403, "a `member` listed keys: {}", r.text());
    let r = ann.post_json(&base, &json!({"name": "m", "scopes": ["org:read"]}));
    assert_eq!(r.status, 403, "a `member` created a key: {}", r.text());
    // An admin can.
    let r = w.admin.patch_json(
        &format!("/api/v1/orgs/{org}/members/{}", w.member_a),
        &json!({"role": "admin"}),
    );
    assert_status(&r, 200, "make ann admin");
    let r = ann.post_json(&base, &json!({"name": "a", "scopes": ["org:read"]}));
    let v = assert_status(&r, 201, "admin creates a key");
    assert_eq!(v["created_by"], w.member_a.as_str(), "{v}");
    // Signed-in people without a role in the org see no keys of it.
    let r = ann.get(&format!("/api/v1/orgs/{}/api-keys", w.org_b));
    assert_problem(&r, 404, "not_found");
}

// ---------------------------------------------------------------------------
// 2. revocation: immediate under load, recent-use guard, key_revoked

#[test]
fn revoke_needs_force_when_recently_used_and_then_refuses_the_key() {
    let (server, mut admin) = start(None);
    let client = server.client();
    let org = create_org(&mut admin, "Acme", "acme", None);

    // Never used: no force needed.
    let (unused, unused_key) = create_key(&mut admin, &org, "unused", &["org:read"], None);
    let r = admin.delete(&format!("/api/v1/orgs/{org}/api-keys/{unused}"));
    assert_status(&r, 204, "DELETE an unused key without force");
    let r = with_key(
        &client,
        "GET",
        &format!("/api/v1/orgs/{org}"),
        &unused_key,
        None,
    );
    assert_problem(&r, 401, "key_revoked");

    // Used just now: 409 with last_used_at, the key keeps working.
    let (id, key) = create_key(&mut admin, &org, "busy", &["org:read"], None);
    let r = with_key(&client, "GET", &format!("/api/v1/orgs/{org}"), &key, None);
    assert_status(&r, 200, "use");
    let r = admin.delete(&format!("/api/v1/orgs/{org}/api-keys/{id}"));
    let body = assert_problem(&r, 409, "key_recently_used");
    let last = parse_time(&body["last_used_at"]);
    assert!((now_secs() - last).abs() <= 60, "{body}");
    let r = admin.delete(&format!("/api/v1/orgs/{org}/api-keys/{id}?force=false"));
    assert_problem(&r, 409, "key_recently_used");
    let r = with_key(&client, "GET", &format!("/api/v1/orgs/{org}"), &key, None);
    assert_status(&r, 200, "still works after the refused DELETE");

    // Forced: the very next request fails.
    let r = admin.delete(&format!("/api/v1/orgs/{org}/api-keys/{id}?force=true"));
    assert_status(&r, 204, "forced DELETE");
    let r = with_key(&client, "GET", &format!("/api/v1/orgs/{org}"), &key, None);
    assert_problem(&r, 401, "key_revoked");
    let it = listed(&mut admin, &org, &id);
    assert_eq!(it["status"], "revoked", "{it}");
    assert!(!it["revoked_at"].is_null(), "{it}");
}

const THREADS: usize = 16;
const ROUNDS: usize = 1000;

struct Round {
    key: Mutex<String>,
    revoked: AtomicBool,
    stop: AtomicBool,
    ok_before: AtomicUsize,
    /// Threads that have sent a request after the revoke answer, this round.
    threads_after: AtomicUsize,
}

/// 16 long-lived client threads on keep-alive connections hammer `GET /orgs/{org}` with the
/// round's key; the main thread revokes it (`?force=true`). Every request a worker STARTED
/// after the DELETE answer arrived must fail with 401 `key_revoked`; a round ends once every
/// worker has sent at least one such request. 1 000 rounds, a fresh key each round, a barrier
/// at the start and end of every round.
#[test]
fn revocation_takes_effect_on_the_next_request_under_load() {
    let (server, mut admin) = start(None);
    let org = create_org(&mut admin, "Acme", "acme", None);
    let addr = server.addr();
    let path = format!("/api/v1/orgs/{org}");

    let round = Arc::new(Round {
        key: Mutex::new(String::new()),
        revoked: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        ok_before: AtomicUsize::new(0),
        threads_after: AtomicUsize::new(0),
    });
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let after_count = Arc::new(AtomicUsize::new(0));
    let io_errors = Arc::new(AtomicUsize::new(0));

    let mut handles = Vec::new();
    for t in 0..THREADS {
        let (round, barrier, violations, after_count, io_errors, path) = (
            round.clone(),
            barrier.clone(),
            violations.clone(),
            after_count.clone(),
            io_errors.clone(),
            path.clone(),
        );
        handles.push(thread::spawn(move || {
            let mut conn: Option<KeepAlive> = None;
            for r in 0..ROUNDS {
                barrier.wait(); // start of round
                let auth = format!("Bearer {}", round.key.lock().unwrap());
                let mut sent_after = false;
                while !round.stop.load(Ordering::SeqCst) {
                    if conn.as_ref().is_none_or(KeepAlive::is_closed) {
                        conn = KeepAlive::connect(addr).ok();
                        if conn.is_none() {
                            io_errors.fetch_add(1, Ordering::Relaxed);
                            thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                    }
                    // Read BEFORE sending: was the revoke call already answered?
                    let after = round.revoked.load(Ordering::SeqCst);
                    let resp = conn
                        .as_mut()
                        .unwrap()
                        .send("GET", &path, &[("Authorization", &auth)], None);
                    let resp = match resp {
                        Ok(r) => r,
                        Err(_) => {
                            io_errors.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                            continue;
                        }
                    };
                    if after {
                        after_count.fetch_add(1, Ordering::Relaxed);
                        if !sent_after {
                            sent_after = true;
                            round.threads_after.fetch_add(1, Ordering::SeqCst);
                        }
                        let code = serde_json::from_slice::<Value>(&resp.body)
                            .ok()
                            .and_then(|v| v["code"].as_str().map(str::to_string))
                            .unwrap_or_default();
                        if resp.status != 401 || code != "key_revoked" {
                            violations.lock().unwrap().push(format!(
                                "round {r} thread {t}: request started after the revoke returned got {} {:?}",
                                resp.status,
                                resp.text()
                            ));
                        }
                    } else if resp.status == 200 {
                        round.ok_before.fetch_add(1, Ordering::SeqCst);
                    }
                }
                barrier.wait(); // end of round
            }
        }));
    }

    let started = Instant::now();
    let mut rounds_without_traffic_before = 0;
    for r in 0..ROUNDS {
        let (id, key) = create_key(&mut admin, &org, &format!("k{r}"), &["org:read"], None);
        *round.key.lock().unwrap() = key;
        round.revoked.store(false, Ordering::SeqCst);
        round.stop.store(false, Ordering::SeqCst);
        round.ok_before.store(0, Ordering::SeqCst);
        round.threads_after.store(0, Ordering::SeqCst);
        barrier.wait(); // start of round

        // Let the key carry some traffic first (bounded wait).
        let deadline = Instant::now() + Duration::from_secs(5);
        while round.ok_before.load(Ordering::SeqCst) < THREADS && Instant::now() < deadline {
            thread::sleep(Duration::from_micros(200));
        }
        if round.ok_before.load(Ordering::SeqCst) == 0 {
            rounds_without_traffic_before += 1;
        }
        let resp = admin.delete(&format!("/api/v1/orgs/{org}/api-keys/{id}?force=true"));
        round.revoked.store(true, Ordering::SeqCst);
        assert_status(&resp, 204, "forced DELETE under load");
        // Keep hammering until every worker has tried the revoked key at least once.
        let deadline = Instant::now() + Duration::from_secs(30);
        while round.threads_after.load(Ordering::SeqCst) < THREADS {
            assert!(
                Instant::now() < deadline,
                "round {r}: only {} of {THREADS} workers sent a request after the revoke",
                round.threads_after.load(Ordering::SeqCst)
            );
            thread::sleep(Duration::from_micros(200));
        }
        round.stop.store(true, Ordering::SeqCst);
        barrier.wait(); // end of round

        let v = violations.lock().unwrap();
        assert!(
            v.is_empty(),
            "{} request(s) started after the revoke returned were not refused; first: {}",
            v.len(),
            v[0]
        );
    }
    for h in handles {
        h.join().unwrap();
    }
    let after = after_count.load(Ordering::Relaxed);
    eprintln!(
        "revocation under load: {ROUNDS} rounds x {THREADS} threads in {:?}; {after} requests after revoke, \
         {} I/O errors (reconnects), {rounds_without_traffic_before} rounds without traffic before revoke",
        started.elapsed(),
        io_errors.load(Ordering::Relaxed)
    );
    assert!(
        after >= ROUNDS,
        "too few requests were sent after the revoke calls ({after}); the test proved little"
    );
    assert_eq!(
        rounds_without_traffic_before, 0,
        "some rounds had no successful request before the revoke"
    );
}

// ---------------------------------------------------------------------------
// 3. isolation and privilege limits

struct TwoOrgs {
    server: TestServer,
    admin: Session,
    owner_id: String,
    org_a: String,
    cmp_a: String,
    site_a: String,
    member_a: String,
    org_b: String,
    cmp_b: String,
    site_b: String,
    member_b: String,
    key_b_id: String,
    key_b: String,
}

fn add_member(admin: &mut Session, org: &str, email: &str, role: &str) {
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/members"),
        &json!({"email": email, "role": role, "company_access": "all"}),
    );
    assert_status(&r, 201, "POST members");
}

fn create_company(admin: &mut Session, org: &str, slug: &str) -> String {
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/companies"),
        &json!({"name": slug, "slug": slug}),
    );
    let v = assert_status(&r, 201, "POST companies");
    v["id"].as_str().unwrap().to_string()
}

fn create_site(admin: &mut Session, cmp: &str) -> String {
    let r = admin.post_json(
        &format!("/api/v1/companies/{cmp}/sites"),
        &json!({"name": "HQ", "address": "1 Main St", "timezone": "Europe/Paris"}),
    );
    let v = assert_status(&r, 201, "POST sites");
    v["id"].as_str().unwrap().to_string()
}

const USER_PASSWORD: &str = "a long enough password 123";

fn two_orgs() -> TwoOrgs {
    let (server, mut admin) = start(None);
    let me = assert_status(&admin.get("/api/v1/me"), 200, "GET /me");
    let owner_id = me["id"].as_str().expect("me.id").to_string();
    let org_a = create_org(&mut admin, "Alpha", "alpha", None);
    let org_b = create_org(&mut admin, "Beta", "beta", None);
    let cmp_a = create_company(&mut admin, &org_a, "alpha-co");
    let cmp_b = create_company(&mut admin, &org_b, "beta-co");
    let site_a = create_site(&mut admin, &cmp_a);
    let site_b = create_site(&mut admin, &cmp_b);
    let member_a = create_user(
        &mut admin,
        "ann@alpha.test",
        Some("ann@alpha.test"),
        Some(USER_PASSWORD),
    );
    add_member(&mut admin, &org_a, "ann@alpha.test", "member");
    let member_b = create_user(
        &mut admin,
        "bob@beta.test",
        Some("bob@beta.test"),
        Some(USER_PASSWORD),
    );
    add_member(&mut admin, &org_b, "bob@beta.test", "member");
    let (key_b_id, key_b) = create_key(&mut admin, &org_b, "beta", ALL_SCOPES, None);
    TwoOrgs {
        server,
        admin,
        owner_id,
        org_a,
        cmp_a,
        site_a,
        member_a,
        org_b,
        cmp_b,
        site_b,
        member_b,
        key_b_id,
        key_b,
    }
}

#[test]
fn a_key_never_sees_another_organization() {
    let mut w = two_orgs();
    let client = w.server.client();
    let (_, key_a) = create_key(&mut w.admin, &w.org_a, "alpha", ALL_SCOPES, None);

    // Sanity: the key works in its own organization.
    for p in [
        format!("/api/v1/orgs/{}", w.org_a),
        format!("/api/v1/orgs/{}/members", w.org_a),
        format!("/api/v1/companies/{}", w.cmp_a),
        format!("/api/v1/companies/{}/sites/{}", w.cmp_a, w.site_a),
    ] {
        assert_status(&with_key(&client, "GET", &p, &key_a, None), 200, &p);
    }

    // Random IDs that exist nowhere.
    let (rorg, rcmp, rsite, rusr, rkey) = (
        OrgId::generate().to_string(),
        CompanyId::generate().to_string(),
        SiteId::generate().to_string(),
        UserId::generate().to_string(),
        KeyId::generate().to_string(),
    );
    // (method, path with B's IDs, path with random IDs, body)
    let cases: Vec<(&str, String, String, Option<Value>)> = vec![
        (
            "GET",
            format!("/api/v1/orgs/{}", w.org_b),
            format!("/api/v1/orgs/{rorg}"),
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/orgs/{}", w.org_b),
            format!("/api/v1/orgs/{rorg}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            "DELETE",
            format!("/api/v1/orgs/{}", w.org_b),
            format!("/api/v1/orgs/{rorg}"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/features", w.org_b),
            format!("/api/v1/orgs/{rorg}/features"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/members", w.org_b),
            format!("/api/v1/orgs/{rorg}/members"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/orgs/{}/members", w.org_b),
            format!("/api/v1/orgs/{rorg}/members"),
            Some(json!({"email": "ann@alpha.test", "role": "member", "company_access": "all"})),
        ),
        (
            "PATCH",
            format!("/api/v1/orgs/{}/members/{}", w.org_b, w.member_b),
            format!("/api/v1/orgs/{rorg}/members/{rusr}"),
            Some(json!({"role": "admin"})),
        ),
        (
            "DELETE",
            format!("/api/v1/orgs/{}/members/{}", w.org_b, w.member_b),
            format!("/api/v1/orgs/{rorg}/members/{rusr}"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/companies", w.org_b),
            format!("/api/v1/orgs/{rorg}/companies"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/orgs/{}/companies", w.org_b),
            format!("/api/v1/orgs/{rorg}/companies"),
            Some(json!({"name": "x", "slug": "x"})),
        ),
        (
            "GET",
            format!("/api/v1/companies/{}", w.cmp_b),
            format!("/api/v1/companies/{rcmp}"),
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/companies/{}", w.cmp_b),
            format!("/api/v1/companies/{rcmp}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            "DELETE",
            format!("/api/v1/companies/{}", w.cmp_b),
            format!("/api/v1/companies/{rcmp}"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/companies/{}/sites", w.cmp_b),
            format!("/api/v1/companies/{rcmp}/sites"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/companies/{}/sites", w.cmp_b),
            format!("/api/v1/companies/{rcmp}/sites"),
            Some(json!({"name": "x", "address": "y", "timezone": "UTC"})),
        ),
        (
            "GET",
            format!("/api/v1/companies/{}/sites/{}", w.cmp_b, w.site_b),
            format!("/api/v1/companies/{rcmp}/sites/{rsite}"),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/companies/{}/sites/{}", w.cmp_b, w.site_b),
            format!("/api/v1/companies/{rcmp}/sites/{rsite}"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/companies/{}/data-preferences", w.cmp_b),
            format!("/api/v1/companies/{rcmp}/data-preferences"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/companies/{}/members", w.cmp_b),
            format!("/api/v1/companies/{rcmp}/members"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/audit-log", w.org_b),
            format!("/api/v1/orgs/{rorg}/audit-log"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/api-keys", w.org_b),
            format!("/api/v1/orgs/{rorg}/api-keys"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/orgs/{}/api-keys", w.org_b),
            format!("/api/v1/orgs/{rorg}/api-keys"),
            Some(json!({"name": "x", "scopes": ["org:read"]})),
        ),
        (
            "PATCH",
            format!("/api/v1/orgs/{}/api-keys/{}", w.org_b, w.key_b_id),
            format!("/api/v1/orgs/{rorg}/api-keys/{rkey}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            "POST",
            format!("/api/v1/orgs/{}/api-keys/{}/rotate", w.org_b, w.key_b_id),
            format!("/api/v1/orgs/{rorg}/api-keys/{rkey}/rotate"),
            Some(json!({"expire_old_in_seconds": 0})),
        ),
        (
            "DELETE",
            format!(
                "/api/v1/orgs/{}/api-keys/{}?force=true",
                w.org_b, w.key_b_id
            ),
            format!("/api/v1/orgs/{rorg}/api-keys/{rkey}?force=true"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/billing", w.org_b),
            format!("/api/v1/orgs/{rorg}/billing"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/billing/invoices", w.org_b),
            format!("/api/v1/orgs/{rorg}/billing/invoices"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/data-repository", w.org_b),
            format!("/api/v1/orgs/{rorg}/data-repository"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/orgs/{}/transfer-ownership", w.org_b),
            format!("/api/v1/orgs/{rorg}/transfer-ownership"),
            Some(json!({"user_id": w.member_b})),
        ),
        // B's site under A's own company, and B's member under A's own organization.
        (
            "GET",
            format!("/api/v1/companies/{}/sites/{}", w.cmp_a, w.site_b),
            format!("/api/v1/companies/{}/sites/{rsite}", w.cmp_a),
            None,
        ),
        (
            "PATCH",
            format!("/api/v1/companies/{}/sites/{}", w.cmp_a, w.site_b),
            format!("/api/v1/companies/{}/sites/{rsite}", w.cmp_a),
            Some(json!({"name": "pwned"})),
        ),
    ];
    let mut failures = Vec::new();
    for (method, foreign, random, body) in &cases {
        let f = with_key(&client, method, foreign, &key_a, body.as_ref());
        let r = with_key(&client, method, random, &key_a, body.as_ref());
        if f.status != 404 || f.json()["code"] != "not_found" {
            failures.push(format!("{method} {foreign}: {} {}", f.status, f.text()));
        }
        if (f.status, &f.body) != (r.status, &r.body) {
            failures.push(format!(
                "{method} {foreign} differs from a non-existent ID: {} {} vs {} {}",
                f.status,
                f.text(),
                r.status,
                r.text()
            ));
        }
    }
    // A's key cannot reach B's member through A's organization either.
    for (method, body) in [("PATCH", Some(json!({"role": "admin"}))), ("DELETE", None)] {
        let f = with_key(
            &client,
            method,
            &format!("/api/v1/orgs/{}/members/{}", w.org_a, w.member_b),
            &key_a,
            body.as_ref(),
        );
        let r = with_key(
            &client,
            method,
            &format!("/api/v1/orgs/{}/members/{rusr}", w.org_a),
            &key_a,
            body.as_ref(),
        );
        if (f.status, &f.body) != (r.status, &r.body) || f.status != 404 {
            failures.push(format!(
                "{method} A/members/<B member>: {} {} vs random {} {}",
                f.status,
                f.text(),
                r.status,
                r.text()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "isolation failures:\n{}",
        failures.join("\n")
    );

    // B is untouched.
    let v = assert_status(&w.admin.get(&format!("/api/v1/orgs/{}", w.org_b)), 200, "B");
    assert_eq!(v["name"], "Beta");
    let r = with_key(
        &client,
        "GET",
        &format!("/api/v1/orgs/{}", w.org_b),
        &w.key_b,
        None,
    );
    assert_status(&r, 200, "B's key still works");
    assert_status(
        &w.admin
            .get(&format!("/api/v1/companies/{}/sites/{}", w.cmp_b, w.site_b)),
        200,
        "B's site still exists",
    );
}

#[test]
fn a_key_never_manages_keys_or_owners_and_never_exceeds_its_scopes() {
    let mut w = two_orgs();
    let client = w.server.client();
    let org = w.org_a.clone();
    let (all_id, all) = create_key(&mut w.admin, &org, "all", ALL_SCOPES, None);

    // Keys never manage keys.
    let r = with_key(
        &client,
        "POST",
        &format!("/api/v1/orgs/{org}/api-keys"),
        &all,
        Some(&json!({"name": "child", "scopes": ["org:read"]})),
    );
    assert_eq!(r.status, 403, "a key created a key: {}", r.text());
    for (method, path, body) in [
        ("GET", format!("/api/v1/orgs/{org}/api-keys"), None),
        (
            "PATCH",
            format!("/api/v1/orgs/{org}/api-keys/{all_id}"),
            Some(json!({"expires_at": null})),
        ),
        (
            "POST",
            format!("/api/v1/orgs/{org}/api-keys/{all_id}/rotate"),
            Some(json!({"expire_old_in_seconds": 0})),
        ),
        (
            "DELETE",
            format!("/api/v1/orgs/{org}/api-keys/{all_id}?force=true"),
            None,
        ),
    ] {
        let r = with_key(&client, method, &path, &all, body.as_ref());
        assert_eq!(r.status, 403, "{method} {path} with a key: {}", r.text());
    }
    assert_eq!(
        list_keys(&mut w.admin, &org).len(),
        1,
        "a key changed the key set"
    );

    // Keys never change owners.
    let r = with_key(
        &client,
        "PATCH",
        &format!("/api/v1/orgs/{org}/members/{}", w.owner_id),
        &all,
        Some(&json!({"role": "admin"})),
    );
    assert_eq!(r.status, 403, "a key demoted the owner: {}", r.text());
    let r = with_key(
        &client,
        "POST",
        &format!("/api/v1/orgs/{org}/transfer-ownership"),
        &all,
        Some(&json!({"user_id": w.member_a})),
    );
    assert_eq!(r.status, 403, "a key transferred ownership: {}", r.text());
    let r = with_key(
        &client,
        "PATCH",
        &format!("/api/v1/orgs/{org}/members/{}", w.member_a),
        &all,
        Some(&json!({"role": "owner"})),
    );
    assert_eq!(r.status, 403, "a key made an owner: {}", r.text());
    let r = with_key(
        &client,
        "DELETE",
        &format!("/api/v1/orgs/{org}/members/{}", w.owner_id),
        &all,
        None,
    );
    assert_eq!(r.status, 403, "a key removed the owner: {}", r.text());
    let r = with_key(
        &client,
        "POST",
        &format!("/api/v1/orgs/{org}/members"),
        &all,
        Some(&json!({"email": "bob@beta.test", "role": "owner", "company_access": "all"})),
    );
    assert_eq!(r.status, 403, "a key added an owner: {}", r.text());
    // Nor delete the organization.
    let r = with_key(
        &client,
        "DELETE",
        &format!("/api/v1/orgs/{org}"),
        &all,
        None,
    );
    assert_eq!(r.status, 403, "a key deleted the org: {}", r.text());
    let members = assert_status(
        &w.admin.get(&format!("/api/v1/orgs/{org}/members")),
        200,
        "members",
    );
    let roles: Vec<(String, String)> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        roles.contains(&(w.owner_id.clone(), "owner".into()))
            && roles.contains(&(w.member_a.clone(), "member".into()))
            && roles.len() == 2,
        "roles changed: {roles:?}"
    );

    // Keys never exceed their scopes: 403 insufficient_scope naming the missing scope.
    let (_, ro) = create_key(&mut w.admin, &org, "ro", &["org:read"], None);
    assert_status(
        &with_key(&client, "GET", &format!("/api/v1/orgs/{org}"), &ro, None),
        200,
        "org:read",
    );
    let cmp = w.cmp_a.clone();
    let checks: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "GET",
            format!("/api/v1/orgs/{org}/members"),
            None,
            "members:read",
        ),
        (
            "POST",
            format!("/api/v1/orgs/{org}/members"),
            Some(json!({"email": "bob@beta.test", "role": "member", "company_access": "all"})),
            "members:write",
        ),
        (
            "PATCH",
            format!("/api/v1/orgs/{org}/members/{}", w.member_a),
            Some(json!({"role": "admin"})),
            "members:write",
        ),
        (
            "GET",
            format!("/api/v1/orgs/{org}/companies"),
            None,
            "companies:read",
        ),
        (
            "POST",
            format!("/api/v1/orgs/{org}/companies"),
            Some(json!({"name": "n", "slug": "n"})),
            "companies:write",
        ),
        (
            "GET",
            format!("/api/v1/companies/{cmp}"),
            None,
            "companies:read",
        ),
        (
            "PATCH",
            format!("/api/v1/companies/{cmp}"),
            Some(json!({"name": "n"})),
            "companies:write",
        ),
        (
            "GET",
            format!("/api/v1/companies/{cmp}/sites"),
            None,
            "companies:read",
        ),
        (
            "POST",
            format!("/api/v1/companies/{cmp}/sites"),
            Some(json!({"name": "n", "timezone": "UTC"})),
            "companies:write",
        ),
        (
            "GET",
            format!("/api/v1/orgs/{org}/audit-log"),
            None,
            "audit:read",
        ),
        (
            "GET",
            format!("/api/v1/orgs/{org}/billing"),
            None,
            "billing:read",
        ),
        (
            "POST",
            "/api/v1/keys/verify".to_string(),
            Some(json!({"key": all})),
            "keys:verify",
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, scope) in &checks {
        let r = with_key(&client, method, path, &ro, body.as_ref());
        let ok = r.status == 403
            && r.header("content-type")
                .is_some_and(|c| c.starts_with("application/problem+json"))
            && r.json()["code"] == "insufficient_scope"
            && r.json()["scope"] == *scope;
        if !ok {
            failures.push(format!(
                "{method} {path} with org:read only: expected 403 insufficient_scope `{scope}`, got {} {}",
                r.status,
                r.text()
            ));
        }
    }
    // A read scope does not grant the write.
    let (_, reader) = create_key(
        &mut w.admin,
        &org,
        "reader",
        &["org:read", "members:read", "companies:read"],
        None,
    );
    for (method, path, body, scope) in [
        (
            "PATCH",
            format!("/api/v1/orgs/{org}/members/{}", w.member_a),
            json!({"role": "admin"}),
            "members:write",
        ),
        (
            "POST",
            format!("/api/v1/companies/{cmp}/sites"),
            json!({"name": "n", "timezone": "UTC"}),
            "companies:write",
        ),
    ] {
        let r = with_key(&client, method, &path, &reader, Some(&body));
        if r.status != 403 || r.json()["scope"] != scope {
            failures.push(format!(
                "{method} {path} with read scopes: {} {}",
                r.status,
                r.text()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "scope failures:\n{}",
        failures.join("\n")
    );

    // Personal and instance-admin routes are for people.
    for (method, path, body) in [
        ("GET", "/api/v1/me", None),
        ("PATCH", "/api/v1/me", Some(json!({"name": "Key"}))),
        ("GET", "/api/v1/me/preferences", None),
        ("GET", "/api/v1/me/memberships", None),
        ("GET", "/api/v1/me/sections", None),
        ("GET", "/api/v1/users", None),
        (
            "POST",
            "/api/v1/orgs",
            Some(json!({"name": "K", "slug": "k-org"})),
        ),
    ] {
        let r = with_key(&client, method, path, &all, body.as_ref());
        assert_eq!(r.status, 403, "{method} {path} with a key: {}", r.text());
    }
    // Feature switches are for instance admins.
    let r = with_key(
        &client,
        "PUT",
        &format!("/api/v1/orgs/{org}/features"),
        &all,
        Some(&json!({"billing": true})),
    );
    assert_eq!(r.status, 403, "a key changed features: {}", r.text());
}

// ---------------------------------------------------------------------------
// 4. refusal codes of the key format

#[test]
fn bad_keys_get_distinct_codes_without_a_lookup() {
    let (server, mut admin) = start(Some("trace"));
    let client = server.client();
    let org = create_org(&mut admin, "Acme", "acme", None);
    let (id, key) = create_key(&mut admin, &org, "real", &["org:read"], None);
    let path = format!("/api/v1/orgs/{org}");

    let truncated = key[..key.len() - 1].to_string();
    let bad_checksum = typo(&key);
    let wrong_prefix = format!("sk_live_{}", &key[apikey::PREFIX.len()..]);
    let unknown = apikey::generate(&KeyId::generate()).expose().to_string();
    // The real key's ID with another (well-formed, checksummed) secret.
    let wrong_secret = apikey::generate(&KeyId::parse(&id).unwrap())
        .expose()
        .to_string();
    assert_ne!(wrong_secret, key);

    // Unit level: the format check refuses these before any look-up.
    assert_eq!(
        apikey::parse("tnt_abc-def").unwrap_err(),
        FormatError::Malformed
    );
    assert_eq!(
        apikey::parse(&truncated).unwrap_err(),
        FormatError::Truncated
    );
    assert_eq!(
        apikey::parse(&bad_checksum).unwrap_err(),
        FormatError::BadChecksum
    );
    assert_eq!(
        apikey::parse(&wrong_prefix).unwrap_err(),
        FormatError::WrongPrefix
    );
    assert_eq!(apikey::parse("").unwrap_err(), FormatError::Empty);
    assert_eq!(apikey::parse(&unknown).unwrap().id.as_str().len(), 30);
    assert_eq!(apikey::parse(&key).unwrap().id.as_str(), id);
    // Every single-character change in the secret or checksum is caught by the checksum.
    for i in (apikey::PREFIX.len() + 27)..key.len() {
        let mut b = key.as_bytes().to_vec();
        b[i] = if b[i] == b'Z' { b'Y' } else { b'Z' };
        let k = String::from_utf8(b).unwrap();
        assert_eq!(
            apikey::parse(&k).unwrap_err(),
            FormatError::BadChecksum,
            "pos {i}"
        );
    }

    // Over HTTP.
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed", "tnt_abc-def".into(), "key_malformed"),
        ("truncated", truncated.clone(), "key_truncated"),
        ("bad checksum", bad_checksum.clone(), "key_bad_checksum"),
        ("wrong prefix", wrong_prefix.clone(), "key_wrong_prefix"),
        ("unknown", unknown.clone(), "key_unknown"),
        ("wrong secret", wrong_secret.clone(), "key_unknown"),
    ];
    let mut codes = HashSet::new();
    for (what, k, code) in &cases {
        let r = with_key(&client, "GET", &path, k, None);
        let body = assert_problem(&r, 401, code);
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
        codes.insert(code.to_string());
    }
    // Empty: nothing after `Bearer `.
    let r = client.request("GET", &path, &[("Authorization", "Bearer ")], None);
    assert_problem(&r, 401, "key_empty");
    codes.insert("key_empty".into());
    assert_eq!(codes.len(), 6, "codes are not distinct: {codes:?}");
    // The real key still works.
    assert_status(
        &with_key(&client, "GET", &path, &key, None),
        200,
        "real key",
    );

    // 200 bad-checksum keys: at RUST_LOG=trace, the server logs nothing but the access line
    // for them. (rusqlite itself never logs SQL through `log`, so this cannot show a query
    // directly; the unit-level parse above is the real proof that no look-up happens.)
    // Let the lines of the requests above reach stderr first, so they are not taken for the
    // bad keys' (a settling pause before a baseline, not a wait for a condition).
    thread::sleep(Duration::from_millis(300));
    let before = server.stderr_text().len();
    let mut conn = KeepAlive::connect(server.addr()).unwrap();
    for _ in 0..200 {
        let other = apikey::generate(&KeyId::generate()).expose().to_string();
        let bad = typo(&other);
        if conn.is_closed() {
            conn = KeepAlive::connect(server.addr()).unwrap();
        }
        let auth = format!("Bearer {bad}");
        let r = conn
            .send("GET", &path, &[("Authorization", &auth)], None)
            .unwrap();
        assert_problem(&r, 401, "key_bad_checksum");
    }
    // Wait for the 200 requests' access lines (each request's own lines come before its access
    // line).
    let logs = wait_stderr(&server, Duration::from_secs(30), |logs| {
        logs[before.min(logs.len())..]
            .lines()
            .filter(|l| l.contains("tenantry::access"))
            .count()
            >= 200
    });
    let new = &logs[before.min(logs.len())..];
    let unexpected: Vec<&str> = new
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.contains("tenantry::access"))
        .collect();
    let access = new
        .lines()
        .filter(|l| l.contains("tenantry::access"))
        .count();
    assert!(
        access >= 200,
        "expected ≥200 access-log lines at trace, got {access}:\n{new}"
    );
    let sql_like: Vec<&&str> = unexpected
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("select")
                || l.contains("sql")
                || l.contains("store")
                || l.contains("api_keys")
        })
        .collect();
    assert!(
        sql_like.is_empty(),
        "database activity logged for bad-checksum keys:\n{}",
        sql_like
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------
// 5. POST /keys/verify

fn verify(client: &Client, caller: &str, key: &str) -> Response {
    with_key(
        client,
        "POST",
        "/api/v1/keys/verify",
        caller,
        Some(&json!({"key": key})),
    )
}

fn verify_code(client: &Client, caller: &str, key: &str) -> Value {
    let r = verify(client, caller, key);
    let v = assert_status(&r, 200, "POST /keys/verify");
    assert_eq!(v["valid"], false, "expected valid:false: {v}");
    v["code"].clone()
}

#[test]
fn verify_answers_for_own_keys_and_counts_a_use() {
    let mut w = two_orgs();
    let client = w.server.client();
    let org = w.org_a.clone();
    let (_, caller) = create_key(&mut w.admin, &org, "verifier", &["keys:verify"], None);
    let exp = rfc3339(now_secs() + 86_400);
    let (good_id, good) = create_key(
        &mut w.admin,
        &org,
        "svc",
        &["org:read", "members:read"],
        Some(&exp),
    );

    // Valid.
    let r = verify(&client, &caller, &good);
    let v = assert_status(&r, 200, "verify valid");
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["org"], org.as_str(), "{v}");
    assert_eq!(v["key_id"], good_id.as_str(), "{v}");
    let scopes: HashSet<&str> = v["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(scopes, HashSet::from(["org:read", "members:read"]), "{v}");
    assert_eq!(parse_time(&v["expires_at"]), parse_time(&json!(exp)), "{v}");
    assert!(v.get("code").is_none(), "{v}");
    // No expiry → expires_at null.
    let (_, forever) = create_key(&mut w.admin, &org, "forever", &["org:read"], None);
    let v = assert_status(&verify(&client, &caller, &forever), 200, "verify");
    assert_eq!(v["valid"], true, "{v}");
    assert!(v["expires_at"].is_null(), "{v}");

    // A verify counts as a use of the verified key.
    let before = listed(&mut w.admin, &org, &good_id)["use_count"]
        .as_i64()
        .unwrap();
    assert_eq!(before, 1, "one verify so far");
    for _ in 0..3 {
        assert_eq!(verify(&client, &caller, &good).json()["valid"], true);
    }
    let it = listed(&mut w.admin, &org, &good_id);
    assert_eq!(it["use_count"].as_i64().unwrap(), before + 3, "{it}");
    assert!(!it["last_used_at"].is_null(), "{it}");

    // Revoked, expired, unknown, malformed.
    let (rev_id, revoked) = create_key(&mut w.admin, &org, "rev", &["org:read"], None);
    let r = w
        .admin
        .delete(&format!("/api/v1/orgs/{org}/api-keys/{rev_id}?force=true"));
    assert_status(&r, 204, "revoke");
    let (exp_id, expired) = create_key(&mut w.admin, &org, "exp", &["org:read"], None);
    let r = w.admin.patch_json(
        &format!("/api/v1/orgs/{org}/api-keys/{exp_id}"),
        &json!({"expires_at": rfc3339(now_secs() - 1)}),
    );
    assert_status(&r, 200, "expire");
    let unknown = apikey::generate(&KeyId::generate()).expose().to_string();
    assert_eq!(verify_code(&client, &caller, &revoked), "revoked");
    assert_eq!(verify_code(&client, &caller, &expired), "expired");
    assert_eq!(verify_code(&client, &caller, &unknown), "unknown");
    assert_eq!(verify_code(&client, &caller, "tnt_abc-def"), "malformed");
    assert_eq!(verify_code(&client, &caller, &typo(&good)), "malformed");
    assert_eq!(
        verify_code(&client, &caller, &good[..good.len() - 1]),
        "malformed"
    );
    assert_eq!(verify_code(&client, &caller, "sk_live_abc"), "malformed");
    assert_eq!(verify_code(&client, &caller, ""), "malformed");

    // A key of another organization is unknown.
    assert_eq!(verify_code(&client, &caller, &w.key_b), "unknown");

    // Callers without keys:verify.
    let (_, plain) = create_key(&mut w.admin, &org, "plain", &["org:read"], None);
    let body = assert_problem(&verify(&client, &plain, &good), 403, "insufficient_scope");
    assert_eq!(body["scope"], "keys:verify", "{body}");
    let r = w
        .admin
        .post_json("/api/v1/keys/verify", &json!({"key": good}));
    assert_eq!(r.status, 403, "a session verified a key: {}", r.text());
    let r = w
        .server
        .client()
        .post_json("/api/v1/keys/verify", &json!({"key": good}));
    assert_eq!(r.status, 401, "anonymous verify: {}", r.text());
    // The caller itself must be a valid key.
    let r = verify(&client, &revoked, &good);
    assert_problem(&r, 401, "key_revoked");
}

/// `{valid:false, code:"unknown"}` for a key of another organization must not depend on that
/// key's state: a revoked or expired key of B looks exactly like a key that does not exist.
#[test]
fn verify_of_another_orgs_revoked_or_expired_key_is_unknown() {
    let mut w = two_orgs();
    let client = w.server.client();
    let (_, caller) = create_key(&mut w.admin, &w.org_a, "verifier", &["keys:verify"], None);
    let org_b = w.org_b.clone();
    let (rev_id, rev_b) = create_key(&mut w.admin, &org_b, "rev", &["org:read"], None);
    let r = w.admin.delete(&format!(
        "/api/v1/orgs/{org_b}/api-keys/{rev_id}?force=true"
    ));
    assert_status(&r, 204, "revoke B key");
    let (exp_id, exp_b) = create_key(&mut w.admin, &org_b, "exp", &["org:read"], None);
    let r = w.admin.patch_json(
        &format!("/api/v1/orgs/{org_b}/api-keys/{exp_id}"),
        &json!({"expires_at": rfc3339(now_secs() - 1)}),
    );
    assert_status(&r, 200, "expire B key");
    let mut wrong = Vec::new();
    for (what, k) in [("revoked", &rev_b), ("expired", &exp_b)] {
        let code = verify_code(&client, &caller, k);
        if code != "unknown" {
            wrong.push(format!("{what} key of another org → code {code}"));
        }
    }
    // And with B's api_keys feature off, B's keys are still simply unknown to A.
    let (_, live_b) = create_key(&mut w.admin, &org_b, "live", &["org:read"], None);
    let r = w.admin.put_json(
        &format!("/api/v1/orgs/{org_b}/features"),
        &json!({"api_keys": false}),
    );
    assert_status(&r, 200, "disable B");
    let code = verify_code(&client, &caller, &live_b);
    if code != "unknown" {
        wrong.push(format!(
            "key of another org with api_keys off → code {code}"
        ));
    }
    assert!(
        wrong.is_empty(),
        "verify reveals the state of another organization's keys:\n{}",
        wrong.join("\n")
    );
}

/// A verify answered `unknown` (a key of another organization) leaves no trace on that key:
/// it is not "a use" of it, or org A could move org B's `last_used_at`/`use_count` (and keep
/// B's key "recently used", blocking B's non-forced DELETE).
#[test]
fn verify_of_another_orgs_key_leaves_no_trace_on_it() {
    let mut w = two_orgs();
    let client = w.server.client();
    let (_, caller) = create_key(&mut w.admin, &w.org_a, "verifier", &["keys:verify"], None);
    let org_b = w.org_b.clone();
    let key_b_id = w.key_b_id.clone();
    let before = listed(&mut w.admin, &org_b, &key_b_id);
    assert_eq!(before["use_count"], 0, "{before}");
    assert!(before["last_used_at"].is_null(), "{before}");
    for _ in 0..3 {
        assert_eq!(verify_code(&client, &caller, &w.key_b), "unknown");
    }
    let after = listed(&mut w.admin, &org_b, &key_b_id);
    assert!(
        after["use_count"] == 0 && after["last_used_at"].is_null(),
        "org A's verify calls changed org B's key usage: before {before}, after {after}"
    );
    let r = w
        .admin
        .delete(&format!("/api/v1/orgs/{org_b}/api-keys/{key_b_id}"));
    assert_status(&r, 204, "B's never-used key is revoked without force");
}

// ---------------------------------------------------------------------------
// 6. secrets stay out of files and logs

#[test]
fn full_keys_never_reach_the_database_or_the_logs() {
    let (mut server, mut admin) = start(Some("trace"));
    let client = server.client();
    let org = create_org(&mut admin, "Acme", "acme", None);
    let mut keys = Vec::new();
    let (id1, k1) = create_key(&mut admin, &org, "one", ALL_SCOPES, None);
    let (_, k2) = create_key(&mut admin, &org, "two", &["org:read"], None);
    keys.push(k1.clone());
    keys.push(k2.clone());
    for k in [&k1, &k2] {
        for _ in 0..5 {
            assert_status(
                &with_key(&client, "GET", &format!("/api/v1/orgs/{org}"), k, None),
                200,
                "use",
            );
        }
    }
    assert_eq!(
        verify(&client, &k1, &k2).json()["valid"],
        true,
        "verify with keys:verify"
    );
    // Refused variants go through the same code paths.
    let _ = with_key(
        &client,
        "GET",
        &format!("/api/v1/orgs/{org}"),
        &typo(&k2),
        None,
    );
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/api-keys/{id1}/rotate"),
        &json!({"expire_old_in_seconds": 60}),
    );
    let rotated = r.json()["new_key"]["key"]
        .as_str()
        .expect("new key")
        .to_string();
    keys.push(rotated.clone());
    assert_status(
        &with_key(
            &client,
            "GET",
            &format!("/api/v1/orgs/{org}"),
            &rotated,
            None,
        ),
        200,
        "rotated key",
    );

    // A key in the query string is refused and not logged.
    for q in [
        format!("/api/v1/orgs/{org}?api_key={k2}"),
        format!("/api/v1/orgs/{org}?x=1&token={k2}"),
        format!("/api/v1/orgs/{org}/members?key={k1}"),
    ] {
        let r = client.get(&q);
        assert_problem(&r, 400, "key_in_query");
        // Even alongside a valid bearer key.
        let r = with_key(&client, "GET", &q, &k1, None);
        assert_problem(&r, 400, "key_in_query");
    }

    // Let a usage flush write to the database (the files are searched for keys next).
    wait_until(Duration::from_secs(30), "a usage flush", || {
        db_usage(&server, &id1).0 > 0
    });
    let live_files = all_files(server.data_dir());
    assert!(
        live_files.iter().any(|(p, _)| p.ends_with("tenantry.db")),
        "no tenantry.db in {:?}",
        live_files
            .iter()
            .map(|(p, _)| p.clone())
            .collect::<Vec<_>>()
    );
    let st = server.stop();
    assert!(st.success(), "server exit: {st:?}");
    let stopped_files = all_files(server.data_dir());

    let stdout = server.stdout_text();
    let stderr = server.stderr_text();
    assert!(
        stderr.contains("tenantry::access") || stderr.contains("GET /api/v1/orgs"),
        "expected access-log lines at trace level; stderr:\n{stderr}"
    );
    let mut leaks = Vec::new();
    for k in &keys {
        let secret = &k[apikey::PREFIX.len() + 27..apikey::PREFIX.len() + 27 + 32];
        for (p, bytes) in live_files.iter().chain(stopped_files.iter()) {
            if contains(bytes, k) || contains(bytes, secret) {
                leaks.push(format!("{} contains a key", p.display()));
            }
        }
        if stdout.contains(k.as_str()) || stdout.contains(secret) {
            leaks.push("stdout contains a key".into());
        }
        if stderr.contains(k.as_str()) || stderr.contains(secret) {
            leaks.push("stderr contains a key".into());
        }
    }
    leaks.sort();
    leaks.dedup();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));

    // What is stored is a 32-byte keyed hash.
    let db = rusqlite::Connection::open(db_path(&server)).unwrap();
    let lens: Vec<i64> = db
        .prepare("SELECT length(secret_hash) FROM api_keys")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(lens.len(), 3);
    assert!(lens.iter().all(|l| *l == 32), "{lens:?}");
}

// ---------------------------------------------------------------------------
// 7. the api_keys tenant feature

#[test]
fn disabling_the_feature_stops_every_key_of_the_org_on_the_next_request() {
    let mut w = two_orgs();
    let org = w.org_a.clone();
    let (_, k1) = create_key(&mut w.admin, &org, "one", &["org:read"], None);
    let (_, k2) = create_key(
        &mut w.admin,
        &org,
        "two",
        &["org:read", "keys:verify"],
        None,
    );
    let path = format!("/api/v1/orgs/{org}");
    let mut conn = KeepAlive::connect(w.server.addr()).unwrap();
    let mut get = |k: &str| -> Response {
        if conn.is_closed() {
            conn = KeepAlive::connect(w.server.addr()).unwrap();
        }
        let auth = format!("Bearer {k}");
        conn.send("GET", &path, &[("Authorization", &auth)], None)
            .unwrap()
    };
    for k in [&k1, &k2] {
        assert_status(&get(k), 200, "before");
    }
    // Another org's key is unaffected throughout.
    let client = w.server.client();
    let b_path = format!("/api/v1/orgs/{}", w.org_b);

    for round in 0..2 {
        let r = w.admin.put_json(
            &format!("/api/v1/orgs/{org}/features"),
            &json!({"api_keys": false}),
        );
        let v = assert_status(&r, 200, "PUT features off");
        assert_eq!(v["api_keys"], false, "{v}");
        for k in [&k1, &k2] {
            let body = assert_problem(&get(k), 403, "feature_disabled");
            assert_eq!(body["feature"], "api_keys", "{body}");
        }
        let r = with_key(
            &client,
            "POST",
            "/api/v1/keys/verify",
            &k2,
            Some(&json!({"key": k1})),
        );
        assert_problem(&r, 403, "feature_disabled");
        assert_status(
            &with_key(&client, "GET", &b_path, &w.key_b, None),
            200,
            "B unaffected",
        );
        // The owner's key management is off too.
        let r = w.admin.get(&format!("/api/v1/orgs/{org}/api-keys"));
        assert_problem(&r, 403, "feature_disabled");

        let r = w.admin.put_json(
            &format!("/api/v1/orgs/{org}/features"),
            &json!({"api_keys": true}),
        );
        let v = assert_status(&r, 200, "PUT features on");
        assert_eq!(v["api_keys"], true, "{v}");
        for k in [&k1, &k2] {
            assert_status(&get(k), 200, &format!("re-enabled, round {round}"));
        }
    }
    let r = w.admin.get(&format!("/api/v1/orgs/{org}/features"));
    assert_eq!(assert_status(&r, 200, "features")["api_keys"], true);

    // Only instance admins switch features: an organization member cannot turn keys off.
    let mut ann = login(&w.server, "ann@alpha.test", USER_PASSWORD);
    let r = ann.put_json(
        &format!("/api/v1/orgs/{org}/features"),
        &json!({"api_keys": false}),
    );
    assert_eq!(r.status, 403, "a member switched features: {}", r.text());
    assert_status(&get(&k1), 200, "still on");
}

/// Deleting the organization stops its keys on the next request.
#[test]
fn deleting_the_organization_stops_its_keys() {
    let mut w = two_orgs();
    let org = w.org_a.clone();
    let (_, k) = create_key(&mut w.admin, &org, "one", &["org:read"], None);
    let client = w.server.client();
    let path = format!("/api/v1/orgs/{org}");
    assert_status(&with_key(&client, "GET", &path, &k, None), 200, "before");
    assert_status(&w.admin.delete(&path), 204, "DELETE org");
    let r = with_key(&client, "GET", &path, &k, None);
    assert_eq!(r.status, 401, "a key of a deleted org: {}", r.text());
    assert_status(
        &with_key(
            &client,
            "GET",
            &format!("/api/v1/orgs/{}", w.org_b),
            &w.key_b,
            None,
        ),
        200,
        "other org's key",
    );
}

// ---------------------------------------------------------------------------
// 8. batched usage, flushed at shutdown

fn db_usage(server: &TestServer, id: &str) -> (i64, Option<i64>) {
    let db = rusqlite::Connection::open(db_path(server)).unwrap();
    db.query_row(
        "SELECT use_count, last_used_at FROM api_keys WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn usage_is_batched_and_flushed_at_shutdown() {
    let (mut server, mut admin) = start(None);
    let org = create_org(&mut admin, "Acme", "acme", None);
    let (id, key) = create_key(&mut admin, &org, "counted", &["org:read"], None);
    let (idle_id, _) = create_key(&mut admin, &org, "idle", &["org:read"], None);
    let path = format!("/api/v1/orgs/{org}");
    let auth = format!("Bearer {key}");
    let mut conn = KeepAlive::connect(server.addr()).unwrap();
    let mut send_n = |n: usize| {
        for _ in 0..n {
            if conn.is_closed() {
                conn = KeepAlive::connect(server.addr()).unwrap();
            }
            let r = conn
                .send("GET", &path, &[("Authorization", &auth)], None)
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
        }
    };
    let first = 150;
    send_n(first);
    // Wait for a periodic flush (every 2 s) of these uses.
    wait_until(Duration::from_secs(30), "the periodic usage flush", || {
        db_usage(&server, &id).0 == first as i64
    });
    let second = 37;
    send_n(second);
    let n = (first + second) as i64;
    assert_eq!(
        listed(&mut admin, &org, &id)["use_count"],
        n,
        "listing counts pending uses"
    );
    wait_until(
        Duration::from_secs(30),
        "the next periodic usage flush",
        || db_usage(&server, &id).0 == n,
    );
    let third = 23;
    send_n(third);
    // Stop right away: these last uses are only in memory.
    let st = server.stop();
    assert!(st.success(), "server exit: {st:?}");
    let n = n + third as i64;
    let (count, last) = db_usage(&server, &id);
    assert_eq!(count, n, "use_count in the database after SIGTERM");
    let last = last.expect("last_used_at flushed");
    assert!((now_secs() - last).abs() <= 60, "last_used_at {last}");
    assert_eq!(db_usage(&server, &idle_id), (0, None), "unused key");

    // After a restart (empty cache) the stored usage is what the listing and the
    // recent-use guard see.
    server.restart();
    let mut admin = server.session();
    let r = admin.post_json(
        "/api/v1/auth/login",
        &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    );
    assert_status(&r, 200, "admin login after restart");
    let it = listed(&mut admin, &org, &id);
    assert_eq!(it["use_count"], n, "{it}");
    let r = admin.delete(&format!("/api/v1/orgs/{org}/api-keys/{id}"));
    assert_problem(&r, 409, "key_recently_used");
    let r = with_key(&server.client(), "GET", &path, &key, None);
    assert_status(&r, 200, "the key works after a restart");
    assert_eq!(listed(&mut admin, &org, &id)["use_count"], n + 1);
}

/// Usage is counted exactly even while the key's record is being replaced in the cache
/// (rename/expiry changes) under concurrent traffic.
#[test]
fn usage_is_exact_while_the_key_is_being_updated() {
    let (mut server, mut admin) = start(None);
    let org = create_org(&mut admin, "Acme", "acme", None);
    let (id, key) = create_key(&mut admin, &org, "counted", &["org:read"], None);
    let addr = server.addr();
    let path = format!("/api/v1/orgs/{org}");
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..4 {
        let (stop, ok, path, auth) = (
            stop.clone(),
            ok.clone(),
            path.clone(),
            format!("Bearer {key}"),
        );
        handles.push(thread::spawn(move || {
            let mut conn: Option<KeepAlive> = None;
            while !stop.load(Ordering::SeqCst) {
                if conn.as_ref().is_none_or(KeepAlive::is_closed) {
                    conn = KeepAlive::connect(addr).ok();
                    continue;
                }
                match conn
                    .as_mut()
                    .unwrap()
                    .send("GET", &path, &[("Authorization", &auth)], None)
                {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => panic!("unexpected {} {}", r.status, r.text()),
                    Err(_) => conn = None,
                }
            }
        }));
    }
    for i in 0..60 {
        let r = admin.patch_json(
            &format!("/api/v1/orgs/{org}/api-keys/{id}"),
            &json!({"name": format!("counted-{i}")}),
        );
        assert_status(&r, 200, "PATCH name");
    }
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().unwrap();
    }
    let n = ok.load(Ordering::SeqCst) as i64;
    assert!(n > 0);
    let listed_count = listed(&mut admin, &org, &id)["use_count"].as_i64().unwrap();
    let st = server.stop();
    assert!(st.success(), "server exit: {st:?}");
    let (count, _) = db_usage(&server, &id);
    assert_eq!(
        (listed_count, count),
        (n, n),
        "uses lost while the key's cache entry was replaced ({n} successful requests)"
    );
}
