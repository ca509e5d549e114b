//! Observability and proxies: Prometheus metrics at `/metrics` (off by default; a bearer
//! token on the main listener, or a separate listener), parsed by a real Prometheus text
//! parser (Debian's `python3-prometheus-client`); request IDs echoed and carried by every log
//! line of their request; JSON log lines with fields as fields; the access log (method, path
//! and status, never the query string); the client address behind trusted reverse proxies
//! (`http.trusted_proxies`) for throttles and audit, and forwarding headers ignored from
//! anyone else.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::flows::{bootstrap, wait_stderr};
use crate::support::server::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::support::wait::{poll_value, poll_value_every};
use crate::support::{Client, KeepAlive, Response, Session, TestServer};

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// One parsed sample.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses an exposition with `prometheus_client.parser` (Debian's package; /usr/bin/python3
/// so the system module is found whatever venv is on PATH). Returns the family names with
/// their types, and the samples.
fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    const SCRIPT: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
fams, samples = {}, []
for f in text_string_to_metric_families(sys.stdin.read()):
    fams[f.name] = f.type
    for s in f.samples:
        samples.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps({"families": fams, "samples": samples}))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3 (apt: python3-prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let families = v["families"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| (k.clone(), t.as_str().unwrap().to_string()))
        .collect();
    let samples = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Sample {
            name: s["name"].as_str().unwrap().to_string(),
            labels: s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            value: s["value"].as_f64().unwrap_or(f64::NAN),
        })
        .collect();
    (families, samples)
}

/// The value of the sample `name` whose labels include `labels` (None: no such sample).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn scrape(client: &Client, token: Option<&str>) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    client.request("GET", "/metrics", &headers, None)
}

fn login(client: &Client, email: &str, password: &str, headers: &[(&str, &str)]) -> Response {
    let body = json!({"email": email, "password": password}).to_string();
    let origin = client.origin();
    let mut all = vec![
        ("Content-Type", "application/json"),
        ("Origin", origin.as_str()),
    ];
    all.extend_from_slice(headers);
    client.request("POST", "/api/v1/auth/login", &all, Some(body.as_bytes()))
}

#[test]
fn metrics_are_not_served_when_not_configured() {
    let server = TestServer::start();
    let c = server.client();
    let r = scrape(&c, None);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = scrape(&c, Some(TOKEN));
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn metrics_on_the_main_listener_need_the_token_and_parse_as_prometheus_text() {
    let server = TestServer::builder()
        .env("TENANTRY_METRICS_BEARER_TOKEN", TOKEN)
        .env("TENANTRY_HTTP_READ_TIMEOUT_SECS", "1")
        .start();
    let c = server.client();
    // A silent connection is closed at the read deadline (408): a deadline close.
    {
        use std::io::Read;
        let mut silent = std::net::TcpStream::connect(server.addr()).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = silent.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
        let r = scrape(&c, token);
        assert_eq!(r.status, 401, "{token:?}: {}", r.text());
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{:?}",
            r.headers
        );
        assert!(!r.text().contains("tenantry_http_requests"), "{}", r.text());
    }
    for _ in 0..3 {
        assert_eq!(c.get("/healthz").status, 200);
    }
    // A parameterised route is counted under its template, an unknown path as unmatched.
    assert_eq!(c.get("/api/v1/orgs/org_doesnotexist").status, 401);
    assert_eq!(c.get("/no/such/path-4711").status, 404);
    // One failed sign-in (unknown account) and one that succeeds.
    let mut admin = server.bootstrap_admin();
    assert_eq!(
        login(&c, "nobody@example.test", "wrong password 12345", &[]).status,
        401
    );
    // An API key used twice: two look-ups through the key cache.
    let org = create_org(&mut admin, "metered", &[]);
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/api-keys"),
        &json!({"name": "ci", "scopes": ["org:read"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json()["key"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {key}");
    for _ in 0..2 {
        let r = c.request(
            "GET",
            &format!("/api/v1/orgs/{org}"),
            &[("Authorization", bearer.as_str())],
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }

    // A keep-alive connection stays open (and counted) between its requests.
    let mut kept = KeepAlive::connect(server.addr()).unwrap();
    assert_eq!(kept.send("GET", "/readyz", &[], None).unwrap().status, 200);
    let r = scrape(&c, Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.headers
    );
    let text = r.text();
    let (families, samples) = parse_exposition(&text);
    let want_types = [
        ("tenantry_http_requests", "counter"),
        ("tenantry_http_request_duration_seconds", "histogram"),
        ("tenantry_http_open_connections", "gauge"),
        ("tenantry_http_deadline_closes", "counter"),
        ("tenantry_sign_ins", "counter"),
        ("tenantry_password_hasher_queue_depth", "gauge"),
        ("tenantry_outbox_backlog", "gauge"),
        ("tenantry_email_delivery_attempts", "counter"),
        ("tenantry_api_key_cache_lookups", "counter"),
        ("tenantry_sqlite_write_transaction_seconds", "histogram"),
    ];
    for (name, kind) in want_types {
        let found = families
            .get(name)
            .or_else(|| families.get(&format!("{name}_total")));
        assert_eq!(
            found.map(String::as_str),
            Some(kind),
            "{name}: {families:?}"
        );
    }
    let healthz = [("method", "GET"), ("route", "/healthz"), ("status", "200")];
    assert_eq!(
        value(&samples, "tenantry_http_requests_total", &healthz),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "tenantry_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/healthz")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "tenantry_http_requests_total",
            &[("route", "/api/v1/orgs/{org}"), ("status", "401")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "tenantry_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("path-4711") && !text.contains("org_doesnotexist"),
        "raw paths must never become labels:\n{text}"
    );
    assert_eq!(
        value(
            &samples,
            "tenantry_sign_ins_total",
            &[("outcome", "failure")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "tenantry_sign_ins_total",
            &[("outcome", "success")]
        ),
        Some(1.0),
        "{text}"
    );
    let hits = value(
        &samples,
        "tenantry_api_key_cache_lookups_total",
        &[("result", "hit")],
    );
    let misses = value(
        &samples,
        "tenantry_api_key_cache_lookups_total",
        &[("result", "miss")],
    );
    assert_eq!(
        hits.unwrap() + misses.unwrap(),
        2.0,
        "two key uses, two look-ups:\n{text}"
    );
    assert!(
        hits.unwrap() >= 1.0,
        "the second use is a cache hit:\n{text}"
    );
    // Setup, sign-in and session writes went through write transactions.
    let writes = value(
        &samples,
        "tenantry_sqlite_write_transaction_seconds_count",
        &[],
    )
    .unwrap();
    assert!(writes >= 2.0, "{text}");
    drop(kept);
    assert_eq!(
        value(&samples, "tenantry_http_deadline_closes_total", &[]),
        Some(1.0),
        "{text}"
    );
    let open = value(&samples, "tenantry_http_open_connections", &[]).unwrap();
    assert!(open >= 1.0, "{text}");
    assert_eq!(
        value(&samples, "tenantry_password_hasher_queue_depth", &[]),
        Some(0.0)
    );
    // Outcomes not seen yet are there, at zero.
    assert_eq!(
        value(
            &samples,
            "tenantry_sign_ins_total",
            &[("outcome", "throttled")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &samples,
            "tenantry_email_delivery_attempts_total",
            &[("outcome", "retry")]
        ),
        Some(0.0)
    );
    assert!(value(&samples, "tenantry_outbox_backlog", &[]).is_some());
}

/// The address printed by `serve` for the metrics listener.
fn metrics_addr(server: &TestServer) -> SocketAddr {
    let out = server.current_stdout_text();
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("tenantry metrics on http://"))
        .unwrap_or_else(|| panic!("no metrics line on stdout:\n{out}"));
    line.trim_end_matches("/metrics").parse().unwrap()
}

#[test]
fn a_separate_metrics_listener_serves_only_metrics() {
    let server = TestServer::builder()
        .env("TENANTRY_METRICS_LISTEN", "127.0.0.1:0")
        .start();
    let m = Client::new(metrics_addr(&server));
    assert_eq!(server.client().get("/healthz").status, 200);
    // Not on the main listener (no token configured there).
    assert_eq!(scrape(&server.client(), None).status, 404);
    let r = scrape(&m, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let (_, samples) = parse_exposition(&r.text());
    assert_eq!(
        value(
            &samples,
            "tenantry_http_requests_total",
            &[("route", "/healthz"), ("status", "200")]
        ),
        Some(1.0)
    );
    // Nothing else is served there.
    assert_eq!(m.get("/healthz").status, 404);
    assert_eq!(m.request("POST", "/metrics", &[], None).status, 405);

    // With a token, the separate listener wants it too.
    let server = TestServer::builder()
        .env("TENANTRY_METRICS_LISTEN", "127.0.0.1:0")
        .env("TENANTRY_METRICS_BEARER_TOKEN", TOKEN)
        .start();
    let m = Client::new(metrics_addr(&server));
    assert_eq!(scrape(&m, None).status, 401);
    assert_eq!(scrape(&m, Some(TOKEN)).status, 200);
}

/// Waits (10 s at most) until stderr has a line satisfying `pred`, described by `what`, and
/// returns every line as JSON.
fn json_lines_until(server: &TestServer, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let lines = poll_value(
        Duration::from_secs(10),
        || {
            let text = server.stderr_text();
            // A line still being written is left for the next round.
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            complete
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
                })
                .collect::<Vec<Value>>()
        },
        |lines| lines.iter().any(&pred),
    );
    assert!(
        lines.iter().any(&pred),
        "no log line {what} within 10 s: {lines:#?}"
    );
    lines
}

#[test]
fn request_ids_are_echoed_and_on_every_json_log_line_of_their_request() {
    // The real binary: its log lines are read from stderr.
    let server = TestServer::builder()
        .binary()
        .env("TENANTRY_LOG_FORMAT", "json")
        .start();
    let c = server.client();
    let r = c.request(
        "GET",
        "/healthz?token=sekrit-in-query",
        &[("X-Request-Id", "probe-1.a_b:c")],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("probe-1.a_b:c"));
    // Generated when absent, and when the given one is unfit (too long, white space; the
    // server refuses non-ASCII header bytes before any request exists).
    let generated = c.get("/healthz");
    let gen_id = generated.header("x-request-id").expect("an ID").to_string();
    assert!(!gen_id.is_empty() && gen_id.len() <= 128, "{gen_id}");
    assert_ne!(
        c.get("/healthz").header("x-request-id"),
        Some(gen_id.as_str())
    );
    let long = "x".repeat(129);
    for bad in [long.as_str(), "has space"] {
        let r = c.request("GET", "/healthz", &[("X-Request-Id", bad)], None);
        let id = r.header("x-request-id").expect("an ID");
        assert_ne!(id, bad);
        assert!(
            id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()),
            "{id}"
        );
    }
    // Errors carry it too.
    let r = c.request("GET", "/nope", &[("X-Request-Id", "missing-7")], None);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-request-id"), Some("missing-7"));

    // A sign-in logs a line of its own inside the request: it carries the request's ID.
    drop(server.bootstrap_admin());
    let r = login(
        &c,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        &[("X-Request-Id", "login-42")],
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let lines = json_lines_until(&server, "for the sign-in's access", |l| {
        l["request_id"] == "login-42" && l["target"] == "tenantry::access"
    });
    let access = |id: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "tenantry::access" && l["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id}: {lines:#?}"))
            .clone()
    };
    let a = access("probe-1.a_b:c");
    assert_eq!(a["method"], "GET", "{a}");
    assert_eq!(a["path"], "/healthz", "{a}");
    assert_eq!(a["route"], "/healthz", "{a}");
    assert_eq!(a["status"], 200, "{a}");
    assert_eq!(a["client"], "127.0.0.1", "{a}");
    assert!(a["duration_ms"].is_number(), "{a}");
    let ts = a["ts"].as_str().unwrap();
    let ms_utc = ts.len() == "2026-12-03T04:05:06.789Z".len()
        && ts.ends_with('Z')
        && ts.as_bytes()[19] == b'.'
        && ts[20..23].bytes().all(|b| b.is_ascii_digit());
    assert!(ms_utc, "timestamp with milliseconds, UTC: {ts}");
    assert_eq!(access(&gen_id)["path"], "/healthz");
    assert_eq!(access("missing-7")["status"], 404);
    let signed_in = lines.iter().find(|l| {
        l["msg"].as_str().is_some_and(|m| m.contains("signed in")) && l["request_id"] == "login-42"
    });
    assert!(
        signed_in.is_some(),
        "the sign-in's own log line carries the request ID: {lines:#?}"
    );
    assert_eq!(access("login-42")["status"], 200);
    // Lines logged outside any request carry no ID; query strings never reach the log.
    assert!(
        lines.iter().any(|l| l.get("request_id").is_none()),
        "start-up lines have no request ID"
    );
    let all = server.stderr_text();
    assert!(
        !all.contains("sekrit-in-query"),
        "query string in the log:\n{all}"
    );
}

/// Fails sign-ins (each a different unknown account, so only the client throttle counts)
/// from `client` until it is throttled; returns the number of attempts answered 401.
fn fail_until_throttled(c: &Client, headers: &[(&str, &str)]) -> usize {
    for i in 0..40 {
        let email = format!("nobody-{i}-{}@example.test", headers.len());
        let r = login(c, &email, "wrong password 12345", headers);
        match r.status {
            401 => {}
            429 => return i,
            other => panic!("attempt {i}: {other} {}", r.text()),
        }
    }
    panic!("never throttled after 40 failures");
}

#[test]
fn clients_behind_a_trusted_proxy_get_separate_sign_in_throttles() {
    let server = TestServer::builder()
        .env("TENANTRY_HTTP_TRUSTED_PROXIES", "127.0.0.1/32, ::1")
        .start();
    let c = server.client();
    let a = [("X-Forwarded-For", "203.0.113.10")];
    let failures = fail_until_throttled(&c, &a);
    assert!(failures >= 5, "throttled after {failures}");
    // The throttled client is still throttled, whoever it claims to be on the left.
    let spoof = [("X-Forwarded-For", "198.51.100.99, 203.0.113.10")];
    assert_eq!(
        login(&c, "x@example.test", "wrong password 12345", &spoof).status,
        429
    );
    // Another client behind the same proxy is not.
    let b = [("X-Forwarded-For", "203.0.113.11")];
    let r = login(&c, "other@example.test", "wrong password 12345", &b);
    assert_eq!(r.status, 401, "{}", r.text());
    // Nor is the proxy itself (no header: the peer's own address).
    let r = login(&c, "other2@example.test", "wrong password 12345", &[]);
    assert_eq!(r.status, 401, "{}", r.text());
}

#[test]
fn a_spoofed_header_from_an_untrusted_peer_does_not_escape_the_throttle() {
    let server = TestServer::start();
    let c = server.client();
    fail_until_throttled(&c, &[("X-Forwarded-For", "203.0.113.10")]);
    for other in [
        [("X-Forwarded-For", "203.0.113.11")],
        [("Forwarded", "for=203.0.113.12")],
    ] {
        let r = login(&c, "someone@example.test", "wrong password 12345", &other);
        assert_eq!(r.status, 429, "{other:?}: {}", r.text());
    }
}

/// The `ip` of the newest audit event of `org` whose action is `action`.
fn audit_ip(admin: &mut Session, org: &str, action: &str) -> Option<String> {
    let r = admin.get(&format!("/api/v1/orgs/{org}/audit-log"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let events = v["data"]
        .as_array()
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_default();
    events
        .iter()
        .find(|e| e["action"] == action)
        .and_then(|e| e["ip"].as_str().map(str::to_string))
}

fn create_org(admin: &mut Session, slug: &str, headers: &[(&str, &str)]) -> String {
    let body = json!({"name": slug, "slug": slug}).to_string();
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let r = admin.request("POST", "/api/v1/orgs", &all, Some(body.as_bytes()));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_string()
}

fn first_action(admin: &mut Session, org: &str) -> String {
    let r = admin.get(&format!("/api/v1/orgs/{org}/audit-log"));
    let v = r.json();
    let events = v["data"]
        .as_array()
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_default();
    events
        .first()
        .and_then(|e| e["action"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no audit event: {v}"))
}

#[test]
fn audit_records_the_forwarded_address_and_malformed_headers_fall_back_to_the_peer() {
    let server = TestServer::builder()
        .env("TENANTRY_HTTP_TRUSTED_PROXIES", "127.0.0.0/8")
        .start();
    let mut admin = server.bootstrap_admin();
    let org = create_org(
        &mut admin,
        "proxied",
        &[("X-Forwarded-For", "203.0.113.77")],
    );
    let action = first_action(&mut admin, &org);
    assert_eq!(
        audit_ip(&mut admin, &org, &action).as_deref(),
        Some("203.0.113.77")
    );
    let long = "9".repeat(5000);
    for (i, bad) in [
        "garbage",
        "203.0.113.5, junk",
        ",,,",
        "unknown",
        "1.2.3.4:99999",
        long.as_str(),
    ]
    .into_iter()
    .enumerate()
    {
        let slug = format!("bad-{i}");
        let org = create_org(&mut admin, &slug, &[("X-Forwarded-For", bad)]);
        let action = first_action(&mut admin, &org);
        assert_eq!(
            audit_ip(&mut admin, &org, &action).as_deref(),
            Some("127.0.0.1"),
            "{bad:.40}"
        );
    }

    // RFC 7239 `Forwarded`, when that is the configured header.
    let server = TestServer::builder()
        .env("TENANTRY_HTTP_TRUSTED_PROXIES", "127.0.0.1")
        .env("TENANTRY_HTTP_FORWARDED_HEADER", "forwarded")
        .start();
    let mut admin = server.bootstrap_admin();
    let org = create_org(
        &mut admin,
        "rfc7239",
        &[
            ("Forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
            // The other header is not the configured one: ignored.
            ("X-Forwarded-For", "198.51.100.1"),
        ],
    );
    let action = first_action(&mut admin, &org);
    assert_eq!(
        audit_ip(&mut admin, &org, &action).as_deref(),
        Some("2001:db8::7")
    );
    let org = create_org(&mut admin, "rfc7239-bad", &[("Forwarded", "for=;;==\"")]);
    let action = first_action(&mut admin, &org);
    assert_eq!(
        audit_ip(&mut admin, &org, &action).as_deref(),
        Some("127.0.0.1")
    );
}

#[test]
fn plugin_calls_and_email_deliveries_are_counted() {
    use crate::support::plugins::{write_config, PluginEntry};
    let dir = crate::support::server::unique_temp_dir("tenantry-metrics-plugin-cfg");
    let config = write_config(
        &dir,
        &[
            &format!("[metrics]\nbearer_token = \"{TOKEN}\""),
            "[email]",
            "mode = \"plugin\"",
            "plugin = \"fixture\"",
        ],
        &[PluginEntry::new("fixture", "fixture").extra("timeout_ms = 300")],
    );
    let server = TestServer::builder()
        .arg("--config")
        .arg(config.display().to_string())
        .start();
    let mut admin = server.bootstrap_admin();
    let org = create_org(&mut admin, "mailers", &[]);
    for who in ["ok", "retryable", "permanent", "trap"] {
        let r = admin.post_json(
            &format!("/api/v1/orgs/{org}/invitations"),
            &json!({"email": format!("{who}@example.test"), "role": "member", "company_access": "all"}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let c = server.client();
    // Until every message had its first attempt (the assertions below say what was missing
    // after 30 s): ok: sent; permanent: failed; retryable and trap: retried.
    let (text, samples) = poll_value_every(
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let text = scrape(&c, Some(TOKEN)).text();
            let (_, samples) = parse_exposition(&text);
            (text, samples)
        },
        |(_, samples)| {
            let n = |outcome| {
                value(
                    samples,
                    "tenantry_email_delivery_attempts_total",
                    &[("outcome", outcome)],
                )
                .unwrap_or(0.0)
            };
            n("sent") >= 1.0 && n("failed") >= 1.0 && n("retry") >= 2.0
        },
    );
    let n = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels).unwrap_or(0.0);
    let attempts = "tenantry_email_delivery_attempts_total";
    assert!(n(attempts, &[("outcome", "sent")]) >= 1.0, "{text}");
    assert!(n(attempts, &[("outcome", "failed")]) >= 1.0, "{text}");
    assert!(n(attempts, &[("outcome", "retry")]) >= 2.0, "{text}");
    let calls = "tenantry_plugin_calls_total";
    let email = [("plugin", "fixture"), ("hook", "email-delivery")];
    let with = |outcome: &'static str| {
        let mut l = email.to_vec();
        l.push(("outcome", outcome));
        l
    };
    // ok and permanent (and retryable) answered; trap trapped.
    assert!(n(calls, &with("ok")) >= 3.0, "{text}");
    assert!(n(calls, &with("trap")) >= 1.0, "{text}");
    let timed = n("tenantry_plugin_call_duration_seconds_count", &email);
    let counted: f64 = samples
        .iter()
        .filter(|s| {
            s.name == calls && s.labels.get("plugin").map(String::as_str) == Some("fixture")
        })
        .map(|s| s.value)
        .sum();
    assert!(timed >= 4.0, "{text}");
    // Every counted call was timed, at the scrape's instant (a call may land in between the
    // two reads of one scrape, never more than the running ones).
    assert!(
        (timed - counted).abs() <= 1.0,
        "{timed} vs {counted}\n{text}"
    );
    // The two retried messages wait in the outbox.
    assert!(n("tenantry_outbox_backlog", &[]) >= 2.0, "{text}");
}

// ---------------------------------------------------------------------------
// the access log

#[test]
fn access_log_has_method_path_status_and_no_query() {
    // The real binary: the access log is its stderr.
    let server = TestServer::builder().binary().start();
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
    // The real binary: its log lines are read from stderr.
    let server = TestServer::builder()
        .binary()
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
