//! A real headless browser for page tests: Debian's Chromium driven through ChromeDriver's
//! W3C WebDriver HTTP API (JSON over HTTP, spoken with the raw [`Client`]). `scripts/test`
//! installs the `chromium` and `chromium-driver` packages.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{KeepAlive, Response};
use super::server::unique_temp_dir;
use super::wait::{poll_value, poll_value_every, wait_until};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `TENANTRY_TEST_CHROMIUM` or Debian's `/usr/bin/chromium`.
fn chromium() -> String {
    std::env::var("TENANTRY_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// `TENANTRY_TEST_CHROMEDRIVER` or Debian's `/usr/bin/chromedriver`.
fn chromedriver() -> String {
    std::env::var("TENANTRY_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

/// One browser session (its own ChromeDriver process and a fresh profile).
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    profile: PathBuf,
}

/// One WebDriver request on its own connection (ChromeDriver keeps connections open, so the
/// response is read by its Content-Length, not to EOF).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    let mut conn = KeepAlive::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    conn.send(method, path, &[("Content-Type", "application/json")], body)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium. Panics with the install command when
    /// either is missing.
    pub fn start() -> Browser {
        for bin in [chromium(), chromedriver()] {
            assert!(
                std::path::Path::new(&bin).exists(),
                "{bin} is missing: install Debian's chromium and chromium-driver \
                 (scripts/test does this as root: apt-get install chromium chromium-driver)"
            );
        }
        let port = free_port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_until(
            Duration::from_secs(20),
            "chromedriver to answer ready on GET /status",
            || http(addr, "GET", "/status", None).is_ok_and(|r| r.json()["value"]["ready"] == true),
        );
        let profile = unique_temp_dir("tenantry-chromium");
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            profile,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", b.profile.display()),
                ],
            },
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        let r = http(self.addr, method, path, bytes.as_deref())
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let v = r.json();
        assert!(
            r.status == 200,
            "webdriver {method} {path}: {} {v}",
            r.status
        );
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The page's HTML.
    pub fn source(&self) -> String {
        self.call("GET", &self.s("/source"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Types into the element matched by `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/value")),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks the element matched by `css` (a navigation it starts is waited for).
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Runs `script` asynchronously (a function body whose last argument is the callback to
    /// call with the result; `arguments` holds `args` before it) and returns its result.
    pub fn execute_async(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.s("/execute/async"),
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Adds a virtual authenticator (WebDriver's WebAuthn extension): a platform
    /// authenticator that keeps discoverable credentials (passkeys) and verifies the user
    /// by itself, as a phone or laptop with a screen lock does. Answers its ID.
    pub fn add_virtual_authenticator(&self) -> String {
        let v = self.call(
            "POST",
            &self.s("/webauthn/authenticator"),
            Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
            })),
        );
        v.as_str()
            .unwrap_or_else(|| panic!("no authenticator ID: {v}"))
            .to_string()
    }

    /// The credentials a virtual authenticator holds.
    pub fn virtual_credentials(&self, authenticator: &str) -> Vec<Value> {
        let v = self.call(
            "GET",
            &self.s(&format!(
                "/webauthn/authenticator/{authenticator}/credentials"
            )),
            None,
        );
        v.as_array().cloned().unwrap_or_default()
    }

    /// The text a person sees on the page (`innerText` of the body).
    pub fn text(&self) -> String {
        self.execute("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Empties the input matched by `css`.
    pub fn clear(&self, css: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/clear")),
            Some(json!({})),
        );
    }

    /// The trimmed texts of every element matched by `css`, in page order.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let v = self.execute(
            "return Array.from(document.querySelectorAll(arguments[0])).map(function (e) { return e.textContent.trim(); });",
            json!([css]),
        );
        serde_json::from_value(v).unwrap_or_default()
    }

    /// An attribute of the first element matched by `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.execute(
            "var e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
            json!([css, name]),
        )
        .as_str()
        .map(str::to_string)
    }

    /// Sets a cookie for the current site (test setup only).
    pub fn add_cookie(&self, name: &str, value: &str) {
        self.call(
            "POST",
            &self.s("/cookie"),
            Some(json!({"cookie": {"name": name, "value": value, "path": "/"}})),
        );
    }

    /// Accepts the confirm dialog that is open (waits up to 10 s for it).
    pub fn accept_dialog(&self) {
        let bytes = serde_json::to_vec(&json!({})).unwrap();
        let r = poll_value(
            Duration::from_secs(10),
            || {
                http(self.addr, "POST", &self.s("/alert/accept"), Some(&bytes))
                    .expect("webdriver alert/accept")
            },
            |r| r.status == 200,
        );
        assert_eq!(r.status, 200, "no dialog opened within 10 s: {}", r.text());
    }

    /// True when an element matches `css`.
    pub fn exists(&self, css: &str) -> bool {
        self.execute(
            "return document.querySelector(arguments[0]) !== null;",
            json!([css]),
        ) == json!(true)
    }

    /// Chooses the option with `value` in the select matched by `css` (as a person would, by
    /// clicking the option).
    pub fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value='{value}']"));
    }

    /// Resizes the window so the page is `width` CSS pixels wide.
    pub fn set_width(&self, width: u32) {
        self.call(
            "POST",
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": 900})),
        );
    }

    /// When the page scrolls sideways (content wider than the window): the elements that
    /// stick out, for the failure message.
    pub fn sideways_overflow(&self) -> Option<String> {
        let v = self.execute(
            "if (document.documentElement.scrollWidth <= window.innerWidth + 1) { return null; }\
             return Array.from(document.querySelectorAll('body *')).filter(function (e) {\
               for (var p = e.parentElement; p; p = p.parentElement) {\
                 if (['auto', 'scroll', 'hidden'].indexOf(getComputedStyle(p).overflowX) >= 0) { return false; }\
               }\
               return e.getBoundingClientRect().right > window.innerWidth + 1;\
             }).slice(0, 8).map(function (e) {\
               return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')\
                 + ' (' + Math.round(e.getBoundingClientRect().right) + 'px)';\
             }).join(', ');",
            json!([]),
        );
        v.as_str().map(str::to_string)
    }

    /// Saves a PNG of the window to `target/screenshots/{name}.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs axe-core (the npm package under `tests/node`) on the current page and panics
    /// listing every serious or critical accessibility violation.
    pub fn assert_accessible(&self, what: &str) {
        let axe = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/node/node_modules/axe-core/axe.min.js");
        let src = std::fs::read_to_string(&axe).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; install it with `npm ci --prefix tests/node` (scripts/test does)",
                axe.display()
            )
        });
        if self.execute("return typeof window.axe;", json!([])) != json!("object") {
            self.execute(&format!("{src}\nreturn true;"), json!([]));
        }
        let v = self.call(
            "POST",
            &self.s("/execute/async"),
            Some(json!({
                "script": "var done = arguments[arguments.length - 1];\
                    axe.run(document, {resultTypes: ['violations']}).then(function (r) {\
                      done(r.violations.filter(function (v) {\
                        return v.impact === 'serious' || v.impact === 'critical';\
                      }).map(function (v) {\
                        return v.id + ' (' + v.impact + '): ' + v.help + ' at ' +\
                          v.nodes.map(function (n) { return n.target.join(' '); }).join(', ');\
                      }));\
                    }, function (e) { done(['axe failed: ' + e]); });",
                "args": [],
            })),
        );
        let found: Vec<String> = serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("axe-core answered {v}: {e}"));
        assert!(
            found.is_empty(),
            "axe-core on {what} ({}):\n{}",
            self.url(),
            found.join("\n")
        );
    }

    /// Waits until `f(url, html)` holds; panics with the page after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, f: impl Fn(&str, &str) -> bool) {
        let (url, html, done) = poll_value_every(
            limit,
            Duration::from_millis(100),
            || {
                let (url, html) = (self.url(), self.source());
                let done = f(&url, &html);
                (url, html, done)
            },
            |(_, _, done)| *done,
        );
        assert!(
            done,
            "timed out after {limit:?} waiting for {what}; at {url}:\n{html}"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
