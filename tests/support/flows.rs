//! Set-up steps many test modules share: waiting for a fresh server's setup link, signing in
//! over the API, creating users and organizations as the instance administrator, raw requests
//! with a chosen cookie, reading the server's log until a line shows, and paging through the
//! instance's users.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{Client, Response, Session, SESSION_COOKIE};
use super::server::TestServer;
use super::wait::{poll, poll_value};

/// Waits until the server answers HTTP. tenantry prints the setup link (after a database
/// write, which can take seconds under I/O load) before it starts serving, so once this
/// returns the link is on stdout.
pub fn ready(server: &TestServer) {
    let r = server.client().get("/healthz");
    assert_eq!(r.status, 200, "GET /healthz: {}", r.text());
}

/// The setup token printed by the current run, if any (see [`ready`]).
pub fn setup_token(server: &TestServer) -> Option<String> {
    ready(server);
    server.setup_token()
}

/// [`TestServer::bootstrap_admin`] once the setup link is surely printed.
pub fn bootstrap(server: &TestServer) -> Session {
    ready(server);
    server.bootstrap_admin()
}

/// `POST /api/v1/auth/login` on a fresh session; returns the session and the response, for a
/// test that looks at a refusal or at the `mfa_required` step.
pub fn try_login(server: &TestServer, email: &str, password: &str) -> (Session, Response) {
    let mut s = server.session();
    let r = s.post_json(
        "/api/v1/auth/login",
        &json!({"email": email, "password": password}),
    );
    (s, r)
}

/// Signs in with a password on a fresh session; panics unless that gives a session cookie.
pub fn login(server: &TestServer, email: &str, password: &str) -> Session {
    let (s, r) = try_login(server, email, password);
    assert_eq!(r.status, 200, "login {email}: {}", r.text());
    assert!(s.cookie.is_some(), "login {email}: no session cookie");
    s
}

/// A raw request with the given cookie value (or none) and headers; no automatic `Origin`.
pub fn raw(
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

/// Waits (bounded) until the server's stderr satisfies `pred`; returns the final text either
/// way, for the caller's own assertion and message.
pub fn wait_stderr(server: &TestServer, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
    poll_value(timeout, || server.stderr_text(), |t| pred(t))
}

/// All users via `GET /api/v1/users?limit=&cursor=` (bounded number of pages).
pub fn list_all_users(admin: &mut Session, limit: usize) -> Vec<Value> {
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

/// Whether `needle` (non-empty) occurs in `haystack`: for secrets searched in raw files.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Creates a user as the instance administrator `admin`; returns the user's ID. `name`
/// defaults to the address's local part; without a password the account signs in by single
/// sign-on, or sets one through a reset.
pub fn create_user(
    admin: &mut Session,
    email: &str,
    name: Option<&str>,
    password: Option<&str>,
) -> String {
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(email));
    let mut body = json!({"email": email, "name": name});
    if let Some(p) = password {
        body["password"] = json!(p);
    }
    let r = admin.post_json("/api/v1/users", &body);
    assert_eq!(r.status, 201, "create user {email}: {}", r.text());
    id_of(&r, "user")
}

/// Creates an organization as the instance administrator `admin`; returns its ID. With
/// `owner_email` that account owns it; without, `admin` does (checked).
pub fn create_org(
    admin: &mut Session,
    name: &str,
    slug: &str,
    owner_email: Option<&str>,
) -> String {
    let mut body = json!({"name": name, "slug": slug});
    if let Some(owner) = owner_email {
        body["owner_email"] = json!(owner);
    }
    let r = admin.post_json("/api/v1/orgs", &body);
    assert_eq!(r.status, 201, "create org {slug}: {}", r.text());
    if owner_email.is_none() {
        assert_eq!(
            r.json()["role"],
            "owner",
            "the creator should own {slug}: {}",
            r.text()
        );
    }
    id_of(&r, "org")
}

fn id_of(r: &Response, what: &str) -> String {
    r.json()["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {what} id in {}", r.text()))
        .to_string()
}

/// Repeats `attempt` until it is not throttled (429) any more; returns that answer. While a
/// sign-in key is locked an attempt is refused before the password or code is looked at and
/// counts as nothing, so polling does not extend the lock; the deadline is far beyond any
/// back-off the tests cause.
pub fn wait_out_throttle(mut attempt: impl FnMut() -> Response) -> Response {
    poll(
        Duration::from_secs(60),
        "the sign-in throttle to pass",
        || {
            let r = attempt();
            (r.status != 429).then_some(r)
        },
    )
}

/// Runs the `tenantry` binary with `args` (`RUST_LOG=warn`) and waits for it: for commands
/// that end by themselves (`plugin check`, `plugin call`, `domain approve`, …).
pub fn run_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tenantry")
}

/// The SSO binding cookie (`tenantry_sso`) a sign-in start sets.
pub fn binding_cookie(r: &Response) -> String {
    r.header_all("set-cookie")
        .iter()
        .find_map(|v| {
            let (n, val) = v.split(';').next()?.split_once('=')?;
            (n.trim() == "tenantry_sso").then(|| val.trim().to_string())
        })
        .expect("binding cookie")
}
