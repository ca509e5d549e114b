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

use crate::support::flows::binding_cookie;
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
                let action = action.strip_prefix(&origin).unwrap_or(&action).to_string();
                let hidden = hidden_inputs(&html);
                let body = if hidden.is_empty() {
                    // The provider's login page.
                    self.login_pages += 1;
                    format!("login={login}")
                } else {
                    // A page that posts itself (e.g. ending the previous account's session
                    // when another one signs in): submit it as a browser's script would.
                    let fields: Vec<(&str, &str)> = hidden
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    String::from_utf8(crate::support::forms::form(&fields)).unwrap()
                };
                let r = self.send("POST", &action, Some(body.as_bytes()));
                assert_eq!(r.status, 303, "post to the provider: {}", r.text());
                let next = r.header("location").unwrap().to_string();
                path = next
                    .strip_prefix(&origin)
                    .map_or(next.clone(), str::to_string);
                if !path.starts_with('/') {
                    return path;
                }
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

/// The hidden inputs (`name`, `value`) of a page's form, HTML entities of the values decoded.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let value = rest.split_once("value=\"")?.1.split('"').next()?;
            Some((name.to_string(), unescape(value)))
        })
        .collect()
}

/// One tenantry server, one provider, and organization `acme` owning `example.test`.
struct World {
    op: Op,
    server: TestServer,
    admin: Session,
    org: String,
    /// The server's configuration file.
    config: PathBuf,
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
            // Where the provider may send the browser after a sign-out there.
            c["post_logout_redirect_uris"] = json!([format!("{base}/login")]);
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
        config,
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

/// A page's HTML with the entities the templates escape decoded back.
fn unescape(html: &str) -> String {
    html.replace("&#x3D;", "=")
        .replace("&#x60;", "`")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The configuration test as the organization's owner runs it through the API.
fn config_test(w: &mut World, plugin: Option<&str>) -> Value {
    let body = match plugin {
        Some(p) => json!({ "plugin": p }),
        None => json!({}),
    };
    let r = w
        .admin
        .post_json(&format!("/api/v1/orgs/{}/sso/test", w.org), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The check named `name` of a configuration test's result.
fn check<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {result}"))
}

#[test]
fn the_configuration_test_names_each_check_and_the_allowlist_fix_before_anyone_signs_in() {
    let mut w = world(
        &[
            (
                "op",
                json!({"client_id": "rp", "client_secret": "rp-secret-1",
                       "token_endpoint_auth_method": "client_secret_basic"}),
                &[("sign_out_at_provider", "true")],
            ),
            (
                // The allowlist names the provider's host without its port.
                "op-wrong-host",
                json!({"client_id": "rp-host", "client_secret": "host-secret-1"}),
                &[("allowed_host", "127.0.0.1")],
            ),
            (
                "op-wrong-secret",
                json!({"client_id": "rp-wrong", "client_secret": "the-right-secret"}),
                &[("client_secret", "a-wrong-secret")],
            ),
        ],
        json!({ "ann": account("ann@example.test", true) }),
    );
    let host = w.op.host_port();

    // Nobody has signed in yet; every check passes against the real provider.
    let good = config_test(&mut w, None);
    assert_eq!(good["plugin"], "op", "{good}");
    assert_eq!(good["ok"], true, "{good}");
    for name in [
        "plugin",
        "settings",
        "discovery",
        "issuer",
        "jwks",
        "token_endpoint_auth",
        "token_endpoint",
        "userinfo",
        "end_session",
    ] {
        assert_eq!(check(&good, name)["ok"], true, "{name}: {good}");
    }
    assert!(
        check(&good, "token_endpoint_auth")["detail"]
            .as_str()
            .unwrap()
            .contains("client_secret_basic"),
        "{good}"
    );
    // The test signed nobody in and left no error behind.
    let settings = w.admin.get(&format!("/api/v1/orgs/{}/sso", w.org)).json();
    assert!(settings["last_error"].is_null(), "{settings}");

    // A wrong allowlist: named, with the exact entry to add.
    let bad = config_test(&mut w, Some("op-wrong-host"));
    assert_eq!(bad["ok"], false, "{bad}");
    let discovery = check(&bad, "discovery");
    assert_eq!(discovery["ok"], false, "{bad}");
    assert!(
        discovery["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("host {host} is not in allowed_hosts")),
        "{bad}"
    );
    assert!(
        discovery["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("add `{host}` to this plugin's allowed_hosts")),
        "{bad}"
    );

    // A client secret the provider refuses: found at the token endpoint, before a sign-in.
    let bad = config_test(&mut w, Some("op-wrong-secret"));
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(check(&bad, "discovery")["ok"], true, "{bad}");
    let token = check(&bad, "token_endpoint");
    assert_eq!(token["ok"], false, "{bad}");
    assert!(
        token["detail"].as_str().unwrap().contains("invalid_client"),
        "{bad}"
    );
    assert!(
        token["fix"].as_str().unwrap().contains("client_secret"),
        "{bad}"
    );
    assert!(!bad.to_string().contains("a-wrong-secret"), "{bad}");

    // A plugin the organization may not use is refused.
    let r = w.admin.post_json(
        &format!("/api/v1/orgs/{}/sso/test", w.org),
        &json!({"plugin": "nope"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["errors"][0]["field"], "plugin", "{}", r.text());

    // The settings page: "Test configuration" shows each check and its fix.
    w.use_plugin("op-wrong-host");
    let page = w.admin.get(&format!("/settings/orgs/{}/sso", w.org));
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("Test configuration"), "{html}");
    let csrf = crate::support::forms::input_value(&html, "csrf_token").expect("csrf token");
    let r = w.admin.request(
        "POST",
        &format!("/settings/orgs/{}/sso/test", w.org),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&crate::support::forms::form(&[("csrf_token", &csrf)])),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let html = unescape(&r.text());
    assert!(html.contains("Some checks failed"), "{html}");
    assert!(
        html.contains(&format!("host {host} is not in allowed_hosts")),
        "{html}"
    );
    assert!(
        html.contains(&format!("add {host} to this plugin")),
        "{html}"
    );
    // Spoken to a person: labels, not check names or Markdown.
    assert!(
        html.contains("Failed: Provider discovery document"),
        "{html}"
    );
    assert!(!html.contains('`'), "backticks on the page: {html}");

    // The command line: the same checks; exit code 2 when one fails.
    let config = w.config.display().to_string();
    let data = w.server.data_dir().display().to_string();
    let cwd = w.server.root_dir().to_path_buf();
    let run = |plugin: &str| {
        crate::cli::tenantry(
            &[
                "plugin",
                "test",
                plugin,
                "--config",
                &config,
                "--data-dir",
                &data,
                "--org",
                "acme",
            ],
            None,
            &[],
            &cwd,
        )
    };
    let out = run("op-wrong-host");
    assert_eq!(out.code(), Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(&format!("fix: add `{host}` to this plugin's allowed_hosts")),
        "{}",
        out.stdout
    );
    let out = run("op");
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("every check passed"), "{}", out.stdout);
    let out = crate::cli::tenantry(
        &[
            "plugin",
            "test",
            "op",
            "--json",
            "--config",
            &config,
            "--data-dir",
            &data,
        ],
        None,
        &[],
        &cwd,
    );
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout, out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(check(&v, "jwks")["ok"], true, "{v}");
}

/// Follows the provider's end-session URL as a browser would: confirms the sign-out on the
/// provider's page and answers where the provider sends the browser afterwards.
fn sign_out_at_provider(agent: &mut OpAgent, url: &str) -> String {
    let origin = format!("http://{}", agent.addr);
    let path = url
        .strip_prefix(&origin)
        .unwrap_or_else(|| panic!("{url} is not at the provider"));
    let r = agent.send("GET", path, None);
    assert_eq!(r.status, 200, "end session: {}", r.text());
    let html = r.text();
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no sign-out form: {html}"))
        .to_string();
    let xsrf = crate::support::forms::input_value(&html, "xsrf").expect("xsrf");
    let body = crate::support::forms::form(&[("xsrf", &xsrf), ("logout", "yes")]);
    let action = action.strip_prefix(&origin).unwrap_or(&action).to_string();
    let r = agent.send("POST", &action, Some(&body));
    assert!(
        (300..400).contains(&r.status),
        "confirm: {} {}",
        r.status,
        r.text()
    );
    r.header("location").unwrap().to_string()
}

#[test]
fn use_another_account_after_a_refusal_and_sign_out_at_the_provider() {
    let mut w = world(
        &[(
            "op",
            json!({"client_id": "rp", "client_secret": "rp-secret-1"}),
            &[("sign_out_at_provider", "true")],
        )],
        json!({
            "ann": account("ann@example.test", true),
            "uma": account("uma@example.test", false),
        }),
    );
    let base = w.server.base_url();
    let mut agent = OpAgent::new(&w.op);

    // The provider vouches for an unverified address: refused, naming the account, with
    // "Use another account"; the browser is remembered to have been refused.
    let (r, _, _) = w.sign_in("op", &mut agent, "uma");
    assert_eq!(r.status, 403, "{}", r.text());
    let html = unescape(&r.text());
    assert!(html.contains("signed you in as uma@example.test"), "{html}");
    assert!(html.contains("Use another account"), "{html}");
    let retry = html
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|h| h.starts_with("/sso/op/start?"))
        .unwrap_or_else(|| panic!("no retry link: {html}"))
        .to_string();
    assert_eq!(retry, "/sso/op/start?email=uma%40example.test");
    let reselect = r
        .header_all("set-cookie")
        .iter()
        .find_map(|v| {
            let (n, val) = v.split(';').next()?.split_once('=')?;
            (n.trim() == "tenantry_sso_reselect").then(|| val.trim().to_string())
        })
        .expect("reselect cookie");
    assert_eq!(reselect, "op");
    assert_eq!(agent.login_pages, 1);

    // Without the refusal, a start asks the provider for nothing: it would answer its
    // current session (uma) silently again.
    let mut other = w.server.session();
    let r = other.get("/sso/op/start?email=uma%40example.test");
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(
        !r.header("location").unwrap().contains("prompt="),
        "{:?}",
        r.header("location")
    );

    // "Use another account" in the refused browser: the provider is asked to show its login
    // again (prompt=login, the default), although its session for uma is still alive.
    let mut browser = w.server.session();
    let cookie = format!("tenantry_sso_reselect={reselect}");
    let r = browser.request("GET", &retry, &[("Cookie", &cookie)], None);
    assert_eq!(r.status, 303, "{}", r.text());
    let location = r.header("location").unwrap().to_string();
    assert!(location.contains("prompt=login"), "{location}");
    let binding = binding_cookie(&r);
    let callback = agent.authorize(&location, "ann");
    assert_eq!(agent.login_pages, 2, "the provider showed its login again");
    let path = callback.strip_prefix(&base).unwrap().to_string();
    let cookie = format!("tenantry_sso={binding}; tenantry_sso_reselect={reselect}");
    let r = browser.request("GET", &path, &[("Cookie", &cookie)], None);
    assert_signed_in(&r, &mut browser, "ann@example.test");
    // Signed in: the refusal is forgotten.
    assert!(
        r.header_all("set-cookie")
            .iter()
            .any(|c| c.starts_with("tenantry_sso_reselect=;") && c.contains("Max-Age=0")),
        "{:?}",
        r.header_all("set-cookie")
    );

    // Signing out of tenantry (the page) also ends the provider's session: tenantry sends the
    // browser to the provider's end_session_endpoint with id_token_hint, the sign-in page as
    // post_logout_redirect_uri and client_id.
    let page = browser.get("/settings/personal/general");
    let csrf = crate::support::forms::input_value(&page.text(), "csrf_token")
        .unwrap_or_else(|| panic!("csrf token: {}", page.text()));
    let r = browser.request(
        "POST",
        "/logout",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&crate::support::forms::form(&[("csrf_token", &csrf)])),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let end = r.header("location").unwrap().to_string();
    let doc = Client::new(w.op.addr)
        .get("/.well-known/openid-configuration")
        .json();
    let endpoint = doc["end_session_endpoint"].as_str().unwrap();
    assert!(end.starts_with(&format!("{endpoint}?")), "{end}");
    for part in [
        "id_token_hint=".to_string(),
        format!(
            "post_logout_redirect_uri={}",
            form_urlencoded::byte_serialize(format!("{base}/login").as_bytes()).collect::<String>()
        ),
        "client_id=rp".to_string(),
    ] {
        assert!(end.contains(&part), "{part} in {end}");
    }
    assert_eq!(browser.get("/api/v1/me").status, 401, "signed out here");
    let back = sign_out_at_provider(&mut agent, &end);
    assert_eq!(back, format!("{base}/login"));

    // The provider's session really ended: the next sign-in shows its login page again.
    let (r, mut browser, _) = w.sign_in("op", &mut agent, "ann");
    assert_signed_in(&r, &mut browser, "ann@example.test");
    assert_eq!(agent.login_pages, 3, "the provider asked for a login again");

    // The API sign-out answers the provider's sign-out URL.
    let r = browser.post_json("/api/v1/auth/logout", &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let url = r.json()["provider_sign_out_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", r.text()))
        .to_string();
    assert!(url.starts_with(&format!("{endpoint}?")), "{url}");
    assert_eq!(browser.get("/api/v1/me").status, 401);
    // A session that did not come from single sign-on signs out here only.
    let r = w.admin.post_json("/api/v1/auth/logout", &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["provider_sign_out_url"].is_null(), "{}", r.text());
}

#[test]
fn a_plugin_built_against_the_2_0_contract_still_loads_and_signs_in() {
    // The fixture is built against the frozen tenantry:plugin@2.0.0 (plugins/wit-2.0.0).
    let fixture = crate::support::plugins::wasm("fixture");
    let cwd = unique_temp_dir("tenantry-wit-2-0");
    let out = crate::cli::tenantry(
        &["plugin", "check", "--json", fixture.to_str().unwrap()],
        None,
        &[],
        &cwd,
    );
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout, out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let imports = v["imports"].to_string();
    assert!(imports.contains("tenantry:plugin/host@2.0.0"), "{v}");
    assert!(v["exports"].to_string().contains("sso-hooks@2.0.0"), "{v}");
    assert_eq!(v["extras"], json!([]), "{v}");
    assert!(v["worlds"].to_string().contains("sso"), "{v}");
    // The 2.1.0 plugin has the optional interface.
    let out = crate::cli::tenantry(
        &[
            "plugin",
            "check",
            "--json",
            crate::support::plugins::wasm("sso-oidc").to_str().unwrap(),
        ],
        None,
        &[],
        &cwd,
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["extras"], json!(["sso-extras"]), "{v}");
    assert!(v["imports"].to_string().contains("host@2.1.0"), "{v}");

    // It signs people in on this host (through `sso-hooks` alone) ...
    let dir = unique_temp_dir("tenantry-wit-2-0-cfg");
    let config = write_config(&dir, &[], &[PluginEntry::new("fixture", "fixture")]);
    let server = TestServer::builder()
        .arg("--config")
        .arg(config.display().to_string())
        .start();
    let mut admin = server.bootstrap_admin();
    let r = admin.post_json("/api/v1/orgs", &json!({"name": "Ok", "slug": "ok-org"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let org = r.json()["id"].as_str().unwrap().to_string();
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/features"),
        &json!({"sso": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    allow_plugins(&mut admin, &org, &["fixture"]);
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/sso"),
        &json!({"plugin": "fixture", "domains": ["fixture.test"], "join_role": "member"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    approve_domain(&mut admin, &org, "fixture.test");
    // Mode `kv` calls the host (settings, key-value storage) in both hooks, so the 2.0.0
    // imports are really served by this host's 2.1.0 `host`.
    let mut browser = server.session();
    let r = browser.get("/sso/fixture/start?email=kv%40fixture.test");
    assert_eq!(r.status, 303, "{}", r.text());
    let binding = binding_cookie(&r);
    let location = r.header("location").unwrap().to_string();
    let state = location
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("state="))
        .unwrap_or_else(|| panic!("{location}"))
        .to_string();
    let cookie = format!("tenantry_sso={binding}");
    let r = browser.request(
        "GET",
        &format!(
            "/sso/fixture/callback?mode=kv&email=kv%40fixture.test&email_verified=true&state={state}"
        ),
        &[("Cookie", &cookie)],
        None,
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let me = browser.get("/api/v1/me");
    assert_eq!(me.status, 200, "{}", me.text());
    // The name counts the plugin's calls, kept in its storage between the two hooks.
    assert_eq!(me.json()["name"], "calls:2", "{}", me.text());
    // ... and signs them out here only; the configuration test says what it cannot check.
    let r = browser.post_json("/api/v1/auth/logout", &json!({}));
    assert!(r.json()["provider_sign_out_url"].is_null(), "{}", r.text());
    let r = admin.post_json(&format!("/api/v1/orgs/{org}/sso/test"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["ok"], true, "{v}");
    assert!(
        check(&v, "plugin")["detail"]
            .as_str()
            .unwrap()
            .contains("tenantry:plugin@2.0.0"),
        "{v}"
    );
}
