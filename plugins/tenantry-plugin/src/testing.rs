//! A mock host for native `cargo test`: settings, an allowlist,
//! scripted HTTP answers, key-value storage, a clock, and a record of every request and
//! log line. It is per thread, like the tests that install it.
//!
//! ```ignore
//! use tenantry_plugin::testing::MockHost;
//!
//! #[test]
//! fn reads_the_profile() {
//!     let host = MockHost::new()
//!         .setting("base_url", "https://billing.example")
//!         .on("GET", "https://billing.example/organizations/org_1/profile", 200,
//!             r#"{"legal_name": "Acme"}"#)
//!         .install();
//!     let profile = MyBilling::get_profile(org()).unwrap();
//!     assert_eq!(host.requests().len(), 1);
//! }
//! ```
//!
//! An HTTP request with no scripted answer fails with `HttpError::Transport("no scripted
//! answer for GET …")` (and a warning in [`MockGuard::logs`]). Which hosts may be called:
//! with no [`MockHost::allow_host`], the hosts of the scripted answers; with it, exactly the
//! listed `host:port`s. Others fail with `HttpError::ForbiddenHost("host:port")`, as on
//! the real host.
//!
//! Inside a component (`wasm32`) the SDK always calls the real host: this module compiles
//! there (so `cargo clippy --all-targets --target wasm32-wasip2` checks tests too) but an
//! installed mock has no effect.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use log::Level;

use crate::http::{HttpError, Request, Response};

type Responder = Box<dyn Fn(&Request) -> Result<Response, HttpError>>;

/// One scripted answer.
struct Route {
    method: String,
    url: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The state of an installed mock host.
#[derive(Default)]
struct State {
    settings: BTreeMap<String, String>,
    allowed: Option<Vec<String>>,
    routes: Vec<Route>,
    /// How many times each route answered.
    used: Vec<usize>,
    responder: Option<Responder>,
    now_ms: Option<i64>,
    kv: BTreeMap<String, Vec<u8>>,
    requests: Vec<Request>,
    logs: Vec<(Level, String)>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

/// Builds a mock host; [`MockHost::install`] makes it the thread's host.
#[must_use = "call .install() to make it the host"]
#[derive(Default)]
pub struct MockHost {
    state: State,
}

impl MockHost {
    /// A host with no settings, no scripted answers and an empty store.
    pub fn new() -> Self {
        MockHost::default()
    }

    /// Sets setting `name` (as `[plugins.NAME.settings]` would).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.state.settings.insert(name.into(), value.into());
        self
    }

    /// Allows `host:port` (or `host` for the scheme's default port). Once called, only
    /// the hosts listed so are allowed.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.state
            .allowed
            .get_or_insert_with(Vec::new)
            .push(host.into().to_ascii_lowercase());
        self
    }

    /// Answers `method url` (exactly, query included) with `status` and `body`. Several
    /// answers for the same request are given in order, the last one repeatedly.
    pub fn on(
        mut self,
        method: impl AsRef<str>,
        url: impl AsRef<str>,
        status: u16,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        self.state.routes.push(Route {
            method: method.as_ref().to_ascii_uppercase(),
            url: url.as_ref().to_string(),
            status,
            headers: Vec::new(),
            body: body.into(),
        });
        self.state.used.push(0);
        self
    }

    /// Like [`MockHost::on`] with a JSON body (and `Content-Type: application/json`).
    pub fn on_json(
        self,
        method: impl AsRef<str>,
        url: impl AsRef<str>,
        status: u16,
        body: &serde_json::Value,
    ) -> Self {
        let mut host = self.on(method, url, status, body.to_string());
        if let Some(route) = host.state.routes.last_mut() {
            route
                .headers
                .push(("Content-Type".into(), "application/json".into()));
        }
        host
    }

    /// Answers every request no scripted answer matches.
    pub fn respond_with(
        mut self,
        f: impl Fn(&Request) -> Result<Response, HttpError> + 'static,
    ) -> Self {
        self.state.responder = Some(Box::new(f));
        self
    }

    /// Fixes the host clock (milliseconds since the Unix epoch); otherwise it is the
    /// system's.
    pub fn now_unix_ms(mut self, ms: i64) -> Self {
        self.state.now_ms = Some(ms);
        self
    }

    /// Puts `value` in the key-value store.
    pub fn kv(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.state.kv.insert(key.into(), value.into());
        self
    }

    /// Makes this the thread's host until the guard is dropped.
    pub fn install(self) -> MockGuard {
        crate::runtime::install_logger();
        let state = Rc::new(RefCell::new(self.state));
        CURRENT.with(|c| *c.borrow_mut() = Some(state.clone()));
        MockGuard { state }
    }
}

/// The installed mock host: what the plugin did, and a way to change the host meanwhile.
pub struct MockGuard {
    state: Rc<RefCell<State>>,
}

impl MockGuard {
    /// Every HTTP request the plugin sent, in order (refused ones included).
    pub fn requests(&self) -> Vec<Request> {
        self.state.borrow().requests.clone()
    }

    /// Every log line (`log` records, panics, the mock's own warnings), in order.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.state.borrow().logs.clone()
    }

    /// The stored value of `key`.
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        self.state.borrow().kv.get(key).cloned()
    }

    /// Moves the host clock to `ms` (milliseconds since the Unix epoch).
    pub fn set_now_unix_ms(&self, ms: i64) {
        self.state.borrow_mut().now_ms = Some(ms);
    }

    /// Sets or replaces setting `name`.
    pub fn set_setting(&self, name: &str, value: &str) {
        self.state
            .borrow_mut()
            .settings
            .insert(name.to_string(), value.to_string());
    }
}

impl Drop for MockGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| {
            let mut current = c.borrow_mut();
            if current.as_ref().is_some_and(|s| Rc::ptr_eq(s, &self.state)) {
                *current = None;
            }
        });
    }
}

/// The host calls of the SDK under native tests.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) mod host {
    use super::*;

    const NO_HOST: &str = "no mock host on this thread: tenantry_plugin's host calls run \
        against tenantry_plugin::testing::MockHost under native tests (call \
        MockHost::new()....install() first)";

    fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
        let state = CURRENT
            .with(|c| c.borrow().clone())
            .unwrap_or_else(|| panic!("{NO_HOST}"));
        let mut state = state.borrow_mut();
        f(&mut state)
    }

    pub fn log(level: Level, message: &str) {
        // Log lines outside a test's mock host (or from another thread) go nowhere.
        if let Some(state) = CURRENT.with(|c| c.borrow().clone()) {
            if let Ok(mut state) = state.try_borrow_mut() {
                state.logs.push((level, message.to_string()));
            }
        }
    }

    pub fn setting(name: &str) -> Option<String> {
        with(|s| s.settings.get(name).cloned())
    }

    pub fn kv_get(key: &str) -> Option<Vec<u8>> {
        with(|s| s.kv.get(key).cloned())
    }

    pub fn kv_set(key: &str, value: &[u8]) -> Result<(), String> {
        // The real host's limits.
        if key.is_empty() || key.len() > 256 {
            return Err("keys are 1 to 256 bytes".into());
        }
        if value.len() > 64 * 1024 {
            return Err("values are at most 65536 bytes".into());
        }
        with(|s| {
            if !s.kv.contains_key(key) && s.kv.len() >= 10_000 {
                return Err("this plugin already holds 10000 keys".into());
            }
            s.kv.insert(key.to_string(), value.to_vec());
            Ok(())
        })
    }

    pub fn kv_delete(key: &str) {
        with(|s| s.kv.remove(key));
    }

    pub fn now_unix_ms() -> i64 {
        with(|s| s.now_ms).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        })
    }

    pub fn random_bytes(len: u32) -> Vec<u8> {
        // Not cryptographic (tests only): splitmix64 seeded from the clock and a counter.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut x = nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        (0..len.min(1024))
            .map(|_| {
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) as u8
            })
            .collect()
    }

    pub fn http_send(request: &Request) -> Result<Response, HttpError> {
        let state = CURRENT
            .with(|c| c.borrow().clone())
            .unwrap_or_else(|| panic!("{NO_HOST}"));
        state.borrow_mut().requests.push(request.clone());
        let answer = {
            let mut s = state.borrow_mut();
            scripted(&mut s, request)
        };
        let answer = match answer {
            Some(a) => a,
            None => {
                // Call the responder without holding the borrow (it may use the SDK).
                let responder = state.borrow_mut().responder.take();
                match responder {
                    Some(f) => {
                        let a = f(request);
                        state.borrow_mut().responder = Some(f);
                        a
                    }
                    None => {
                        let why =
                            format!("no scripted answer for {} {}", request.method, request.url);
                        state
                            .borrow_mut()
                            .logs
                            .push((Level::Warn, format!("mock host: {why}")));
                        Err(HttpError::Transport(why))
                    }
                }
            }
        };
        answer
    }

    /// Checks the request as the real host does, then finds a scripted answer.
    fn scripted(s: &mut State, request: &Request) -> Option<Result<Response, HttpError>> {
        let (scheme, authority) = match authority_of(&request.url) {
            Ok(a) => a,
            Err(why) => return Some(Err(HttpError::InvalidRequest(why))),
        };
        let method = request.method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
            return Some(Err(HttpError::InvalidRequest(format!(
                "method {method:?} is not allowed"
            ))));
        }
        let allowed = match &s.allowed {
            Some(list) => allowed(list, &scheme, &authority),
            None => s
                .routes
                .iter()
                .any(|r| authority_of(&r.url).is_ok_and(|(_, a)| a == authority)),
        };
        if !allowed {
            s.logs.push((
                Level::Warn,
                format!("mock host: outbound HTTP to {authority} refused (not allowed)"),
            ));
            return Some(Err(HttpError::ForbiddenHost(authority)));
        }
        let matching: Vec<usize> = (0..s.routes.len())
            .filter(|&i| s.routes[i].method == method && s.routes[i].url == request.url)
            .collect();
        let pick = matching
            .iter()
            .copied()
            .find(|&i| s.used[i] == 0)
            .or(matching.last().copied())?;
        s.used[pick] += 1;
        let r = &s.routes[pick];
        Some(Ok(Response {
            status: r.status,
            headers: r.headers.clone(),
            body: r.body.clone(),
        }))
    }

    /// The `host:port` a URL points at (as the real host computes it).
    fn authority_of(url: &str) -> Result<(String, String), String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("the URL must be absolute (http:// or https://)")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err("only http:// and https:// URLs are allowed".into()),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("URLs with user info are not allowed".into());
        }
        if authority.is_empty() {
            return Err("the URL has no host".into());
        }
        let authority = authority.to_ascii_lowercase();
        let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
            (!h.contains(':') || h.ends_with(']')) && p.parse::<u16>().is_ok()
        });
        Ok(if has_port {
            (scheme, authority)
        } else {
            (scheme, format!("{authority}:{default_port}"))
        })
    }

    fn allowed(list: &[String], scheme: &str, authority: &str) -> bool {
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        list.iter().any(|entry| {
            let has_port = entry.rsplit_once(':').is_some_and(|(h, p)| {
                (!h.contains(':') || h.ends_with(']')) && p.parse::<u16>().is_ok()
            });
            if has_port {
                entry == authority
            } else {
                format!("{entry}{default_port}") == authority
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    enum Mode {
        #[serde(rename = "fast")]
        Fast,
        #[serde(rename = "slow")]
        Slow,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Settings {
        base_url: String,
        token: Option<String>,
        #[serde(default)]
        retries: u32,
        verbose: bool,
        mode: Mode,
        hosts: Vec<String>,
        #[serde(rename = "ratio")]
        share: f64,
    }

    #[test]
    fn settings_are_typed() {
        let _host = MockHost::new()
            .setting("base_url", " https://x.example ")
            .setting("token", "   ")
            .setting("verbose", "true")
            .setting("mode", "slow")
            .setting("hosts", "a:1, b:2,")
            .setting("ratio", "0.5")
            .install();
        let s: Settings = settings().unwrap();
        assert_eq!(s.base_url, "https://x.example");
        assert_eq!(s.token, None);
        assert_eq!(s.retries, 0);
        assert!(s.verbose);
        assert_eq!(s.mode, Mode::Slow);
        assert_eq!(s.hosts, ["a:1", "b:2"]);
        assert_eq!(s.share, 0.5);
    }

    #[test]
    fn bad_or_missing_settings_are_misconfigured() {
        let host = MockHost::new()
            .setting("verbose", "yes")
            .setting("mode", "fast")
            .setting("hosts", "")
            .setting("ratio", "1")
            .install();
        let e = settings::<Settings>().unwrap_err();
        assert_eq!(e.code, "misconfigured");
        assert_eq!(
            e.message,
            "setting `verbose` = \"yes\": expected true or false"
        );
        host.set_setting("verbose", "false");
        let e = settings::<Settings>().unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("misconfigured", "setting `base_url` is missing")
        );
        host.set_setting("base_url", "u");
        host.set_setting("retries", "-1");
        let e = settings::<Settings>().unwrap_err();
        assert!(
            e.message
                .starts_with("setting `retries` = \"-1\": expected a number"),
            "{e}"
        );
        host.set_setting("retries", "3");
        host.set_setting("mode", "medium");
        let e = settings::<Settings>().unwrap_err();
        assert!(e.message.contains("unknown variant `medium`"), "{e}");
    }

    #[test]
    fn http_answers_are_scripted_and_recorded() {
        let host = MockHost::new()
            .on("GET", "https://api.example/a", 503, "down")
            .on_json(
                "GET",
                "https://api.example/a",
                200,
                &serde_json::json!({"n": 1}),
            )
            .install();
        let e = http::get_json::<serde_json::Value>("https://api.example/a").unwrap_err();
        assert_eq!(e.code, "upstream_unavailable");
        assert_eq!(
            e.message,
            "GET https://api.example/a: answered HTTP 503: down"
        );
        let v: serde_json::Value = http::get_json("https://api.example/a").unwrap();
        assert_eq!(v["n"], 1);
        // The last answer repeats.
        let v: serde_json::Value = http::get_json("https://api.example/a").unwrap();
        assert_eq!(v["n"], 1);
        let sent = host.requests();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0].header_value("accept"), Some("application/json"));

        // A host with no scripted answer is not allowed; a path with none is a transport error.
        let e = http::Request::get("https://other.example/")
            .send()
            .unwrap_err();
        assert_eq!(e, HttpError::ForbiddenHost("other.example:443".into()));
        let e: Error = e.into();
        assert_eq!(e.code, "host_not_allowed");
        assert!(e.message.contains("\"other.example:443\""), "{e}");
        let e = http::Request::get("https://api.example/b")
            .send()
            .unwrap_err();
        assert_eq!(
            e,
            HttpError::Transport("no scripted answer for GET https://api.example/b".into())
        );
        assert!(host
            .logs()
            .iter()
            .any(|(l, m)| *l == Level::Warn && m.contains("no scripted answer for GET")));
        let e = http::Request::get("ftp://api.example/").send().unwrap_err();
        assert!(matches!(e, HttpError::InvalidRequest(_)));
    }

    #[test]
    fn allowlist_and_responder() {
        let host = MockHost::new()
            .allow_host("idp.example")
            .respond_with(|r| {
                Ok(Response {
                    status: 200,
                    headers: Vec::new(),
                    body: r.body.clone(),
                })
            })
            .install();
        let r = http::post_form("https://idp.example/token", &[("code", "a b&c")]).unwrap();
        assert_eq!(r.text(), "code=a%20b%26c");
        assert_eq!(
            host.requests()[0].header_value("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let r = http::post_json("https://idp.example/j", &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(r.json::<serde_json::Value>().unwrap()["a"], 1);
        let e = http::post_form("https://idp.example:8443/token", &[]).unwrap_err();
        assert_eq!(e.code, "host_not_allowed");
        assert!(e.message.contains("idp.example:8443"), "{e}");
        let e = http::Request::new("TRACE", "https://idp.example/")
            .send()
            .unwrap_err();
        assert!(matches!(e, HttpError::InvalidRequest(_)));
    }

    #[test]
    fn kv_cache_expires() {
        let host = MockHost::new().now_unix_ms(1_000_000).install();
        let mut calls = 0;
        let mut fetch = || -> Result<Vec<u32>> {
            calls += 1;
            Ok(vec![calls])
        };
        assert_eq!(kv::cached("k", 60, &mut fetch).unwrap(), [1]);
        assert_eq!(kv::cached("k", 60, &mut fetch).unwrap(), [1]);
        host.set_now_unix_ms(1_000_000 + 60_000);
        assert_eq!(kv::cached("k", 60, &mut fetch).unwrap(), [2]);
        assert!(host.kv("k").is_some());
        let e = kv::cached::<u32>("other", 60, || Err(Error::upstream_unavailable("x")));
        assert!(e.is_err() && host.kv("other").is_none());
        kv::set_json("forever", &"v", None).unwrap();
        host.set_now_unix_ms(i64::MAX);
        assert_eq!(kv::get_json::<String>("forever").as_deref(), Some("v"));
        kv::set("raw", b"not json").unwrap();
        assert_eq!(kv::get_json::<String>("raw"), None);
        assert_eq!(host.kv("raw"), None);
        let e = kv::set("", b"x").unwrap_err();
        assert_eq!(e.code, "storage_error");
        kv::delete("forever");
        assert_eq!(kv::get("forever"), None);
    }

    #[test]
    fn time_random_and_log() {
        let host = MockHost::new().now_unix_ms(1_700_000_000_999).install();
        assert_eq!(time::now_unix(), 1_700_000_000);
        assert_eq!(time::now_unix_ms(), 1_700_000_000_999);
        assert_eq!(random::bytes(3000).len(), 3000);
        let t = random::token(32);
        assert_eq!(t.len(), 43);
        assert_ne!(t, random::token(32));
        log::info!("hello {}", 42);
        assert!(host.logs().contains(&(Level::Info, "hello 42".into())));
    }

    #[test]
    fn the_mock_is_gone_after_the_guard() {
        {
            let _host = MockHost::new().setting("a", "1").install();
            assert_eq!(setting("a").as_deref(), Some("1"));
        }
        let missing = std::panic::catch_unwind(|| setting("a"));
        assert!(missing.is_err());
    }
}
