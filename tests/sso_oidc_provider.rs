//! Single sign-on with the `sso-oidc` plugin against a real, OpenID-certified provider
//! (`oidc-provider` from npm, run by tests/op/op.mjs on loopback), with the library's
//! defaults: `email` and `email_verified` are released only from UserInfo, the client's
//! registered token endpoint authentication method is enforced, and the provider keeps its
//! own session between sign-ins. The provider's login page is driven over plain HTTP with a
//! cookie jar, as a browser would.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::support::plugins::{allow_plugins, approve_domain, write_config, PluginEntry};
use crate::support::server::unique_temp_dir;
use crate::support::{Client, Response, Session, TestServer};

/// tests/op, where the provider's script and its npm dependencies live.
fn op_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/op")
}

/// Installs the provider's npm dependencies once (`npm ci`) when they are missing.
fn npm_installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if op_dir().join("node_modules/oidc-provider").is_dir() {
            return;
        }
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(op_dir())
            .output()
            .expect("run npm (is Node.js installed?)");
        assert!(
            out.status.success(),
            "npm ci in tests/op failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// The running provider; stopped when dropped.
struct Op {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Op {
    /// Starts the provider; it serves once [`Op::configure`] gave it clients and accounts.
    fn start() -> Op {
        npm_installed();
        let mut child = Command::new("node")
            .arg(op_dir().join("op.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node tests/op/op.mjs");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let port: u16 = read_until(&mut stdout, "port ")
            .parse()
            .expect("provider port");
        Op {
            child,
            stdin,
            stdout,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn host_port(&self) -> String {
        self.addr.to_string()
    }

    fn configure(&mut self, clients: Value, accounts: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(
            stdin,
            "{}",
            json!({"clients": clients, "accounts": accounts})
        )
        .unwrap();
        stdin.flush().unwrap();
        read_until(&mut self.stdout, "ready");
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines until one starts with `prefix`; answers the rest of that line.
fn read_until(r: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).expect("read provider output");
        assert!(n > 0, "the provider exited before printing `{prefix}`");
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

/// A browser's view of the provider: its cookies, kept between sign-ins.
struct OpAgent {
    addr: SocketAddr,
    cookies: BTreeMap<String, String>,
    /// How many login pages this agent was shown.
    login_pages: usize,
}

impl OpAgent {
    fn new(op: &Op) -> Self {
        OpAgent {
            addr: op.addr,
            cookies: BTreeMap::new(),
            login_pages: 0,
        }
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers = vec![("Cookie", cookie.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        let r = Client::new(self.addr).request(method, path, &headers, body);
        for set in r.header_all("set-cookie") {
            let first = set.split(';').next().unwrap_or("");
            if let Some((name, value)) = first.split_once('=') {
                let expired = set
                    .to_ascii_lowercase()
                    .contains("expires=thu, 01 jan 1970");
                if value.is_empty() || expired {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_string(), value.trim().to_string());
                }
            }
        }
        r
    }

    /// Follows the provider's redirects from `url` (signing in as `login` when it shows its
    /// login page) until it sends the browser elsewhere; answers that URL.
    fn authorize(&mut self, url: &str, login: &str) -> String {
        let origin = format!("http://{}", self.addr);
        let mut path = url
            .strip_prefix(&origin)
            .unwrap_or_else(|| panic!("{url} is not at the provider"))
            .to_string();
        for _ in 0..10 {
            let r = self.send("GET", &path, None);
            if r.status == 200 {
                let html = r.text();
                let action = html
                    .split("action=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("no form on the provider's page: {html}"))
                    .to_string();
                self.login_pages += 1;
                let body = format!("login={login}");
                let r = self.send("POST", &action, Some(body.as_bytes()));
                assert_eq!(r.status, 303, "login at the provider: {}", r.text());
                path = r.header("location").unwrap().to_string();
                continue;
            }
            assert!(
                (300..400).contains(&r.status),
                "provider answered {} at {path}: {}",
                r.status,
                r.text()
            );
            let next = r.header("location").unwrap().to_string();
            if let Some(p) = next.strip_prefix(&origin) {
                path = p.to_string();
            } else if next.starts_with('/') {
                path = next;
            } else {
                return next;
            }
        }
        panic!("the provider redirected too often");
    }
}

fn binding_cookie(r: &Response) -> String {
    r.header_all("set-cookie")
        .iter()
        .find_map(|v| {
            let (n, val) = v.split(';').next()?.split_once('=')?;
            (n.trim() == "tenantry_sso").then(|| val.trim().to_string())
        })
        .expect("binding cookie")
}

/// One tenantry server, one provider, and organization `acme` owning `example.test`.
struct World {
    op: Op,
    server: TestServer,
    admin: Session,
    org: String,
}

/// One provider client: (tenantry plugin name, client metadata, plugin settings that replace
/// or add to the defaults).
type ClientSpec<'a> = (&'a str, Value, &'a [(&'a str, &'a str)]);

fn world(clients: &[ClientSpec<'_>], accounts: Value) -> World {
    let mut op = Op::start();
    let dir = unique_temp_dir("tenantry-sso-op-cfg");
    let entries: Vec<PluginEntry> = clients
        .iter()
        .map(|(name, client, settings)| {
            // `allowed_host` in the settings replaces the provider's address (tests of a
            // wrong allowlist); it is not passed on as a setting.
            let allowed = settings
                .iter()
                .find(|(k, _)| *k == "allowed_host")
                .map_or(op.host_port(), |(_, v)| v.to_string());
            let mut e = PluginEntry::new(name, "sso-oidc").allow(&allowed);
            // Defaults from the provider and the client; `settings` replace them.
            let issuer = op.issuer();
            let defaults = [
                ("issuer", Some(issuer.as_str())),
                ("client_id", client["client_id"].as_str()),
                ("client_secret", client["client_secret"].as_str()),
            ];
            for (k, v) in defaults {
                if let Some(v) = v.filter(|_| !settings.iter().any(|(s, _)| *s == k)) {
                    e = e.setting(k, v);
                }
            }
            for (k, v) in settings.iter().filter(|(k, _)| *k != "allowed_host") {
                e = e.setting(k, v);
            }
            e
        })
        .collect();
    let config = write_config(&dir, &[], &entries);
    let server = TestServer::builder()
        .arg("--config")
        .arg(config.display().to_string())
        .start();
    let base = server.base_url();
    let registered: Vec<Value> = clients
        .iter()
        .map(|(name, client, _)| {
            let mut c = client.clone();
            c["redirect_uris"] = json!([format!("{base}/sso/{name}/callback")]);
            c
        })
        .collect();
    op.configure(json!(registered), accounts);

    let mut admin = server.bootstrap_admin();
    let r = admin.post_json("/api/v1/orgs", &json!({"name": "Acme", "slug": "acme"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let org = r.json()["id"].as_str().unwrap().to_string();
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/features"),
        &json!({"sso": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let names: Vec<&str> = clients.iter().map(|(n, _, _)| *n).collect();
    allow_plugins(&mut admin, &org, &names);
    let mut w = World {
        op,
        server,
        admin,
        org,
    };
    w.use_plugin(names[0]);
    let org = w.org.clone();
    approve_domain(&mut w.admin, &org, "example.test");
    w
}

impl World {
    /// The SSO settings' `last_error`, as the organization's owner sees it.
    fn last_error(&mut self) -> Value {
        let r = self.admin.get(&format!("/api/v1/orgs/{}/sso", self.org));
        assert_eq!(r.status, 200, "{}", r.text());
        let last = r.json()["last_error"].clone();
        assert!(last.is_object(), "{}", r.text());
        last
    }

    /// Makes `plugin` the organization's SSO connection for `example.test`.
    fn use_plugin(&mut self, plugin: &str) {
        let r = self.admin.put_json(
            &format!("/api/v1/orgs/{}/sso", self.org),
            &json!({"plugin": plugin, "domains": ["example.test"], "join_role": "member"}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// Signs in through `plugin` as the provider's account `login`, with the provider
    /// cookies of `agent`; answers tenantry's answer to the callback, the browser, and the
    /// callback's path.
    fn sign_in(
        &self,
        plugin: &str,
        agent: &mut OpAgent,
        login: &str,
    ) -> (Response, Session, String) {
        let mut browser = self.server.session();
        let r = browser.get(&format!("/sso/{plugin}/start?email={login}%40example.test"));
        assert_eq!(r.status, 303, "start: {}", r.text());
        let binding = binding_cookie(&r);
        let callback = agent.authorize(r.header("location").unwrap(), login);
        let base = self.server.base_url();
        let path = callback
            .strip_prefix(&base)
            .unwrap_or_else(|| panic!("provider sent the browser to {callback}"))
            .to_string();
        assert!(
            path.starts_with(&format!("/sso/{plugin}/callback?")),
            "{path}"
        );
        let cookie = format!("tenantry_sso={binding}");
        let r = browser.request("GET", &path, &[("Cookie", &cookie)], None);
        (r, browser, path)
    }
}

fn account(email: &str, verified: bool) -> Value {
    json!({"email": email, "email_verified": verified, "name": email.split('@').next()})
}

fn assert_signed_in(r: &Response, browser: &mut Session, email: &str) {
    assert_eq!(r.status, 303, "callback: {}", r.text());
    let me = browser.get("/api/v1/me");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["email"], email, "{}", me.text());
    assert_eq!(me.json()["auth"], "sso", "{}", me.text());
}

#[test]
fn a_certified_provider_signs_people_in_with_each_client_auth_method_and_algorithm() {
    let mut w = world(
        &[
            (
                // client_secret_basic (the OAuth default), chosen from discovery; RS256.
                "op-basic",
                json!({"client_id": "rp-basic", "client_secret": "basic-secret-1",
                       "token_endpoint_auth_method": "client_secret_basic"}),
                &[],
            ),
            (
                // client_secret_post, set explicitly; ID tokens signed ES256.
                "op-post",
                json!({"client_id": "rp-post", "client_secret": "post-secret-1",
                       "token_endpoint_auth_method": "client_secret_post",
                       "id_token_signed_response_alg": "ES256"}),
                &[("token_endpoint_auth_method", "client_secret_post")],
            ),
            (
                // A public client: PKCE alone.
                "op-public",
                json!({"client_id": "rp-public", "token_endpoint_auth_method": "none"}),
                &[],
            ),
            (
                // A client secret the provider does not know.
                "op-wrong-secret",
                json!({"client_id": "rp-wrong", "client_secret": "the-right-secret"}),
                &[("client_secret", "a-wrong-secret")],
            ),
            (
                // The allowlist names the provider's host without its port.
                "op-wrong-host",
                json!({"client_id": "rp-host", "client_secret": "host-secret-1"}),
                &[("allowed_host", "127.0.0.1")],
            ),
            (
                // Plain http:// to a host that is not loopback.
                "op-http",
                json!({"client_id": "rp-http", "client_secret": "http-secret-1"}),
                &[
                    ("issuer", "http://idp.example.test"),
                    ("allowed_host", "idp.example.test"),
                ],
            ),
        ],
        json!({
            "ann": account("ann@example.test", true),
            "bob": account("bob@example.test", true),
            "cat": account("cat@example.test", true),
            "dan": account("dan@example.test", true),
        }),
    );
    // The provider releases the email claims only from UserInfo.
    let doc = Client::new(w.op.addr)
        .get("/.well-known/openid-configuration")
        .json();
    assert!(doc["userinfo_endpoint"].is_string(), "{doc}");
    for (plugin, login, carried) in [
        ("op-basic", "ann", "basic"),
        ("op-post", "bob", "body"),
        ("op-public", "cat", "body"),
    ] {
        w.use_plugin(plugin);
        let mut agent = OpAgent::new(&w.op);
        let (r, mut browser, _) = w.sign_in(plugin, &mut agent, login);
        assert_signed_in(&r, &mut browser, &format!("{login}@example.test"));
        assert_eq!(agent.login_pages, 1, "{plugin}");
        let last = Client::new(w.op.addr).get("/__test/last-token-auth").json();
        assert_eq!(last["last_token_auth"], carried, "{plugin}");
    }
    w.use_plugin("op-wrong-secret");
    let mut agent = OpAgent::new(&w.op);
    let (r, mut browser, _) = w.sign_in("op-wrong-secret", &mut agent, "dan");
    // A configuration problem: the person is told to ask an administrator, who sees why.
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("ask your administrator"), "{}", r.text());
    assert!(!r.text().contains("a-wrong-secret"), "{}", r.text());
    assert_eq!(browser.get("/api/v1/me").status, 401);
    let last = w.last_error();
    assert_eq!(last["kind"], "configuration", "{last}");
    assert_eq!(last["stage"], "finish", "{last}");
    assert_eq!(last["code"], "client_auth_refused", "{last}");
    assert!(
        last["message"].as_str().unwrap().contains("invalid_client"),
        "{last}"
    );

    // A wrong allowlist is named, with the fix, before the person leaves for the provider.
    w.use_plugin("op-wrong-host");
    let mut browser = w.server.session();
    let r = browser.get("/sso/op-wrong-host/start?email=dan%40example.test");
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("ask your administrator"), "{}", r.text());
    let last = w.last_error();
    assert_eq!(last["code"], "host_not_allowed", "{last}");
    assert_eq!(last["stage"], "start", "{last}");
    let fix = format!("add \"{}\" to allowed_hosts", w.op.host_port());
    assert!(last["message"].as_str().unwrap().contains(&fix), "{last}");

    // An http:// issuer off loopback is refused before anything is sent.
    w.use_plugin("op-http");
    let r = browser.get("/sso/op-http/start?email=dan%40example.test");
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("ask your administrator"), "{}", r.text());
    let last = w.last_error();
    assert_eq!(last["code"], "misconfigured", "{last}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("allow_http_issuer"),
        "{last}"
    );

    // A successful sign-in clears the kept error.
    w.use_plugin("op-basic");
    assert_eq!(w.last_error()["plugin"], "op-http");
    let mut agent = OpAgent::new(&w.op);
    let (r, mut browser, _) = w.sign_in("op-basic", &mut agent, "dan");
    assert_signed_in(&r, &mut browser, "dan@example.test");
    let settings = w.admin.get(&format!("/api/v1/orgs/{}/sso", w.org)).json();
    assert!(settings["last_error"].is_null(), "{settings}");
}

#[test]
fn provider_sessions_refused_identities_and_replayed_callbacks() {
    let mut w = world(
        &[
            (
                "op",
                json!({"client_id": "rp", "client_secret": "rp-secret-1"}),
                &[],
            ),
            (
                "op-trusting",
                json!({"client_id": "rp-trusting", "client_secret": "rp-secret-2"}),
                &[("trust_email_without_verified_claim", "true")],
            ),
        ],
        json!({
            "ann": account("ann@example.test", true),
            "uma": account("uma@example.test", false),
            "fay": account("fay@elsewhere.test", true),
            // A provider account without `email_verified` (as Microsoft Entra ID sends).
            "eve": {"email": "eve@example.test", "name": "eve"},
        }),
    );
    let mut agent = OpAgent::new(&w.op);
    let (r, mut browser, callback) = w.sign_in("op", &mut agent, "ann");
    assert_signed_in(&r, &mut browser, "ann@example.test");
    assert_eq!(agent.login_pages, 1);

    // The provider remembers the person: a second sign-in shows no login page.
    let (r, mut browser, _) = w.sign_in("op", &mut agent, "ann");
    assert_signed_in(&r, &mut browser, "ann@example.test");
    assert_eq!(agent.login_pages, 1, "the provider session persisted");

    // A replayed callback does not sign anyone in.
    let mut thief = w.server.session();
    let r = thief.get(&callback);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("already used"), "{}", r.text());
    assert_eq!(thief.get("/api/v1/me").status, 401);

    // An unverified address and a foreign domain are refused.
    let mut fresh = OpAgent::new(&w.op);
    let (r, mut browser, _) = w.sign_in("op", &mut fresh, "uma");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("has not verified"), "{}", r.text());
    assert!(r.text().contains("uma@example.test"), "{}", r.text());
    assert_eq!(browser.get("/api/v1/me").status, 401);

    let mut fresh = OpAgent::new(&w.op);
    let (r, mut browser, _) = w.sign_in("op", &mut fresh, "fay");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("fay@elsewhere.test"), "{}", r.text());
    assert_eq!(browser.get("/api/v1/me").status, 401);

    // No `email_verified` at all: refused by default; accepted only where the operator chose
    // to trust the provider's addresses, which never overrides an explicit `false`.
    let mut fresh = OpAgent::new(&w.op);
    let (r, _, _) = w.sign_in("op", &mut fresh, "eve");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("has not verified"), "{}", r.text());
    w.use_plugin("op-trusting");
    let mut fresh = OpAgent::new(&w.op);
    let (r, mut browser, _) = w.sign_in("op-trusting", &mut fresh, "eve");
    assert_signed_in(&r, &mut browser, "eve@example.test");
    let mut fresh = OpAgent::new(&w.op);
    let (r, _, _) = w.sign_in("op-trusting", &mut fresh, "uma");
    assert_eq!(r.status, 403, "{}", r.text());
    w.use_plugin("op");

    // The provider goes away after the redirect: a temporary failure, "try again".
    let mut browser = w.server.session();
    let r = browser.get("/sso/op/start?email=ann%40example.test");
    assert_eq!(r.status, 303, "{}", r.text());
    let binding = binding_cookie(&r);
    let location = r.header("location").unwrap().to_string();
    let state = location
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("state="))
        .unwrap()
        .to_string();
    let Op { ref mut child, .. } = w.op;
    child.kill().unwrap();
    child.wait().unwrap();
    let cookie = format!("tenantry_sso={binding}");
    let r = browser.request(
        "GET",
        &format!("/sso/op/callback?code=abc&state={state}"),
        &[("Cookie", &cookie)],
        None,
    );
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("try again"), "{}", r.text());
    assert!(!r.text().contains("administrator"), "{}", r.text());
    let last = w.last_error();
    assert_eq!(last["kind"], "temporary", "{last}");
    assert_eq!(last["code"], "upstream_unavailable", "{last}");
}
