//! Fake upstream HTTP servers for the plugin integration tests: the JSON billing API that
//! `plugins/billing-http` reads ([`FakeBilling`]), the JSON email API that
//! `plugins/email-http` sends through ([`FakeEmailApi`]), and a TCP port that accepts
//! connections but never answers ([`Blackhole`], for the fixture's `slow` mode).
//!
//! Each listens on `127.0.0.1` on a port of its own, serves from a background thread and
//! stops when dropped. [`base_url`](FakeBilling::base_url) is what goes into a plugin's
//! settings and [`host_port`](FakeBilling::host_port) into its `allowed_hosts`.
//!
//! The HTTP fakes answer every request with `Connection: close`, so a client never keeps a
//! pooled connection to them: after [`stop`](FakeBilling::stop) the next request is refused
//! at once instead of hanging on a connection nobody serves any more.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long [`FakeBilling::stop`] waits for the port to close, and how long
/// [`FakeBilling::restart`] keeps trying to bind it again.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The billing API
// ---------------------------------------------------------------------------------------------

/// A fake of the JSON billing API that `billing-http` expects:
///
/// * `GET /organizations/{slug}/profile` → 200 with the profile given to
///   [`set_profile`](Self::set_profile) (whatever JSON it is), 404 when there is none;
/// * `GET /organizations/{slug}/invoices` → 200 `{"invoices": [...]}` with the invoices given
///   to [`add_invoice`](Self::add_invoice), in the order they were added (`[]` for an unknown
///   slug);
/// * `GET /organizations/{slug}/billing-viewers` → 200 `{"emails": [...]}` given to
///   [`add_viewer`](Self::add_viewer), 404 when there are none;
/// * `POST /tax-ids/validate` with `{"tax_id": "…"}` → 200 `{"valid", "message"}`; a tax ID
///   is valid unless it contains `INVALID`;
/// * anything else → 404; a wrong or missing `Authorization: Bearer {token}` → 401 (no check
///   when the token is empty); while [down](Self::set_down) → 503 for everything.
///
/// The `{slug}` segment is percent-decoded before the lookup.
pub struct FakeBilling {
    upstream: Upstream<BillingState>,
}

/// The data behind [`FakeBilling`].
#[derive(Default)]
struct BillingState {
    token: String,
    down: bool,
    profiles: BTreeMap<String, Value>,
    invoices: BTreeMap<String, Vec<Value>>,
    viewers: BTreeMap<String, Vec<String>>,
    requests: Vec<String>,
}

impl FakeBilling {
    /// Starts the server; requests must carry `Authorization: Bearer {token}` unless `token`
    /// is empty.
    pub fn start(token: &str) -> FakeBilling {
        let state = BillingState {
            token: token.to_string(),
            ..BillingState::default()
        };
        FakeBilling {
            upstream: Upstream::start(state, handle_billing),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): the plugin's `base_url`.
    pub fn base_url(&self) -> String {
        self.upstream.base_url()
    }

    /// `127.0.0.1:PORT`, for `allowed_hosts`.
    pub fn host_port(&self) -> String {
        self.upstream.host_port()
    }

    /// Sets (replaces) the profile served for `slug`. Any JSON goes, so a test can serve a
    /// profile the plugin must reject (e.g. `json!("not an object")`).
    pub fn set_profile(&self, slug: &str, profile: Value) {
        self.upstream
            .state()
            .profiles
            .insert(slug.to_string(), profile);
    }

    /// Removes the profile of `slug` (the API then answers 404).
    pub fn remove_profile(&self, slug: &str) {
        self.upstream.state().profiles.remove(slug);
    }

    /// Appends an invoice to those served for `slug`.
    pub fn add_invoice(&self, slug: &str, invoice: Value) {
        self.upstream
            .state()
            .invoices
            .entry(slug.to_string())
            .or_default()
            .push(invoice);
    }

    /// Lets `email` read `slug`'s billing although their role does not include it
    /// (`GET /organizations/{slug}/billing-viewers`; 404 for a slug without viewers).
    pub fn add_viewer(&self, slug: &str, email: &str) {
        self.upstream
            .state()
            .viewers
            .entry(slug.to_string())
            .or_default()
            .push(email.to_string());
    }

    /// While `true`, every request gets 503.
    pub fn set_down(&self, down: bool) {
        self.upstream.state().down = down;
    }

    /// Closes the listening socket: connections are refused until [`restart`](Self::restart).
    /// The data is kept.
    pub fn stop(&self) {
        self.upstream.stop();
    }

    /// Listens again on the same port after [`stop`](Self::stop) (no-op when running).
    pub fn restart(&self) {
        self.upstream.restart();
    }

    /// How many requests reached the server (all of them, including 401s and 503s).
    pub fn requests(&self) -> usize {
        self.upstream.state().requests.len()
    }

    /// The request lines seen so far, e.g. `GET /organizations/acme/profile`.
    pub fn request_lines(&self) -> Vec<String> {
        self.upstream.state().requests.clone()
    }
}

/// Serves one request of the billing API.
fn handle_billing(state: &mut BillingState, request: &Incoming) -> (u16, Value) {
    state
        .requests
        .push(format!("{} {}", request.method, request.url));
    if state.down {
        return (503, json!({"error": "the billing API is down"}));
    }
    if !request.authorized(&state.token) {
        return (401, json!({"error": "missing or wrong bearer token"}));
    }
    let segments: Vec<String> = request
        .path()
        .split('/')
        .skip(1)
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["organizations", slug, "profile"]) => match state.profiles.get(*slug) {
            Some(profile) => (200, profile.clone()),
            None => (404, json!({"error": "no billing profile"})),
        },
        ("GET", ["organizations", slug, "invoices"]) => {
            let invoices = state.invoices.get(*slug).cloned().unwrap_or_default();
            (200, json!({ "invoices": invoices }))
        }
        ("GET", ["organizations", slug, "billing-viewers"]) => match state.viewers.get(*slug) {
            Some(emails) => (200, json!({ "emails": emails })),
            None => (404, json!({"error": "no billing viewers"})),
        },
        ("POST", ["tax-ids", "validate"]) => {
            let tax_id = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .and_then(|v| v.get("tax_id").and_then(Value::as_str).map(str::to_string));
            match tax_id {
                Some(tax_id) if tax_id.contains("INVALID") => (
                    200,
                    json!({"valid": false, "message": format!("{tax_id} is not a valid tax ID")}),
                ),
                Some(_) => (200, json!({"valid": true, "message": "ok"})),
                None => (400, json!({"error": "expected {\"tax_id\": string}"})),
            }
        }
        _ => (404, json!({"error": "no such route"})),
    }
}

// ---------------------------------------------------------------------------------------------
// The email API
// ---------------------------------------------------------------------------------------------

/// A fake of the JSON email API that `email-http` sends through: `POST` (to any path; use
/// [`endpoint`](Self::endpoint)) with a JSON object → 200 `{"id": "msg-N"}`.
///
/// * A repeated `idempotency_key` gets the first answer's ID again and is not stored twice.
/// * While [`set_failing`](Self::set_failing) holds a status, every send gets that status
///   and `{"error": "…"}` (and nothing is stored).
/// * A wrong or missing `Authorization: Bearer {token}` → 401 (no check when the token is
///   empty); a body that is not a JSON object → 400; another method → 405.
pub struct FakeEmailApi {
    upstream: Upstream<EmailState>,
}

/// The data behind [`FakeEmailApi`].
#[derive(Default)]
struct EmailState {
    token: String,
    failing: Option<u16>,
    attempts: usize,
    messages: Vec<Value>,
    ids_by_key: BTreeMap<String, String>,
}

impl FakeEmailApi {
    /// Starts the server; requests must carry `Authorization: Bearer {token}` unless `token`
    /// is empty.
    pub fn start(token: &str) -> FakeEmailApi {
        let state = EmailState {
            token: token.to_string(),
            ..EmailState::default()
        };
        FakeEmailApi {
            upstream: Upstream::start(state, handle_email),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.upstream.base_url()
    }

    /// `{base_url}/messages`: the plugin's `endpoint`.
    pub fn endpoint(&self) -> String {
        format!("{}/messages", self.upstream.base_url())
    }

    /// `127.0.0.1:PORT`, for `allowed_hosts`.
    pub fn host_port(&self) -> String {
        self.upstream.host_port()
    }

    /// While `Some(status)`, every send is answered with `status` (e.g. 503, 429, 422).
    pub fn set_failing(&self, status: Option<u16>) {
        self.upstream.state().failing = status;
    }

    /// The accepted messages (the JSON bodies as sent), oldest first, one per idempotency key.
    pub fn messages(&self) -> Vec<Value> {
        self.upstream.state().messages.clone()
    }

    /// How many requests reached the server (accepted, repeated, failed and refused ones).
    pub fn attempts(&self) -> usize {
        self.upstream.state().attempts
    }

    /// Closes the listening socket: connections are refused until [`restart`](Self::restart).
    pub fn stop(&self) {
        self.upstream.stop();
    }

    /// Listens again on the same port after [`stop`](Self::stop) (no-op when running).
    pub fn restart(&self) {
        self.upstream.restart();
    }
}

/// Serves one request of the email API.
fn handle_email(state: &mut EmailState, request: &Incoming) -> (u16, Value) {
    state.attempts += 1;
    if !request.authorized(&state.token) {
        return (401, json!({"error": "missing or wrong bearer token"}));
    }
    if request.method != "POST" {
        return (405, json!({"error": "POST a message"}));
    }
    if let Some(status) = state.failing {
        return (
            status,
            json!({"error": format!("failing on purpose with {status}")}),
        );
    }
    let message = match serde_json::from_slice::<Value>(&request.body) {
        Ok(message @ Value::Object(_)) => message,
        _ => return (400, json!({"error": "the body must be a JSON object"})),
    };
    let key = message
        .get("idempotency_key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    if let Some(id) = key.as_ref().and_then(|k| state.ids_by_key.get(k)) {
        return (200, json!({ "id": id }));
    }
    state.messages.push(message);
    let id = format!("msg-{}", state.messages.len());
    if let Some(key) = key {
        state.ids_by_key.insert(key, id.clone());
    }
    (200, json!({ "id": id }))
}

// ---------------------------------------------------------------------------------------------
// The blackhole
// ---------------------------------------------------------------------------------------------

/// A TCP port that accepts connections and never answers (nor closes them) until dropped.
pub struct Blackhole {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Blackhole {
    /// Starts listening.
    pub fn start() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the blackhole");
        let addr = listener.local_addr().expect("blackhole address");
        let stopping = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop, count) = (Arc::clone(&stopping), Arc::clone(&connections));
        let thread = std::thread::Builder::new()
            .name("blackhole".to_string())
            .spawn(move || {
                let mut held = Vec::new();
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        count.fetch_add(1, Ordering::SeqCst);
                        held.push(stream);
                    }
                }
                // Dropping `held` closes the connections.
            })
            .expect("spawn the blackhole thread");
        Blackhole {
            addr,
            stopping,
            connections,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/`: a URL for the fixture's `slow_url` setting.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `127.0.0.1:PORT`, for `allowed_hosts`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop up so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The shared server machinery
// ---------------------------------------------------------------------------------------------

/// A request as the handlers see it (the body already read).
struct Incoming {
    method: String,
    /// Path and query, as sent.
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    /// The path without the query string.
    fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or("")
    }

    /// The first value of header `name` (case-insensitive).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the request carries `Authorization: Bearer {token}` (always true for an
    /// empty `token`).
    fn authorized(&self, token: &str) -> bool {
        token.is_empty() || self.header("Authorization") == Some(format!("Bearer {token}").as_str())
    }
}

/// A handler: the state (locked) and the request in, status and JSON body out.
type Handler<S> = fn(&mut S, &Incoming) -> (u16, Value);

/// A tiny_http server on a fixed port that can be stopped and restarted, serving `S`.
struct Upstream<S: Send + 'static> {
    addr: SocketAddr,
    state: Arc<Mutex<S>>,
    handler: Handler<S>,
    running: Mutex<Option<Running>>,
}

/// A listening server and its request thread.
struct Running {
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl<S: Send + 'static> Upstream<S> {
    /// Binds a free port on 127.0.0.1 and starts serving.
    fn start(state: S, handler: Handler<S>) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind a fake upstream");
        let addr = server
            .server_addr()
            .to_ip()
            .expect("a fake upstream listens on an IP address");
        let upstream = Upstream {
            addr,
            state: Arc::new(Mutex::new(state)),
            handler,
            running: Mutex::new(None),
        };
        upstream.serve(server);
        upstream
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// The state, locked (a handler that panicked does not poison it for the test).
    fn state(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn running(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the request thread for `server`.
    fn serve(&self, server: tiny_http::Server) {
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let (srv, stop, state, handler) = (
            Arc::clone(&server),
            Arc::clone(&stopping),
            Arc::clone(&self.state),
            self.handler,
        );
        let thread = std::thread::Builder::new()
            .name(format!("fake-upstream-{}", self.addr.port()))
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(request) = srv.recv() else {
                        continue; // unblocked (then `stop` is set) or an accept error
                    };
                    serve_one(request, &state, handler);
                }
            })
            .expect("spawn a fake upstream thread");
        *self.running() = Some(Running {
            server,
            stopping,
            thread,
        });
    }

    /// Stops listening (no-op when stopped).
    fn stop(&self) {
        let Some(running) = self.running().take() else {
            return;
        };
        running.stopping.store(true, Ordering::SeqCst);
        running.server.unblock();
        let _ = running.thread.join();
        // The last reference: dropping it makes tiny_http's accept thread close the listening
        // socket, a moment later. Wait for that, so the next connection is refused.
        drop(running.server);
        let deadline = Instant::now() + REBIND_TIMEOUT;
        while Instant::now() < deadline
            && TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Listens again on the same port (no-op when running).
    fn restart(&self) {
        if self.running().is_some() {
            return;
        }
        // tiny_http closes the old socket from its accept thread, a moment after the drop.
        let deadline = Instant::now() + REBIND_TIMEOUT;
        let server = loop {
            match tiny_http::Server::http(self.addr) {
                Ok(server) => break server,
                Err(e) if Instant::now() >= deadline => panic!("rebind {}: {e}", self.addr),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        self.serve(server);
    }
}

impl<S: Send + 'static> Drop for Upstream<S> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one request, runs the handler and writes the answer with `Connection: close`.
fn serve_one<S>(mut request: tiny_http::Request, state: &Mutex<S>, handler: Handler<S>) {
    let mut body = Vec::new();
    if request.as_reader().read_to_end(&mut body).is_err() {
        return;
    }
    let incoming = Incoming {
        method: request.method().as_str().to_ascii_uppercase(),
        url: request.url().to_string(),
        headers: request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
    };
    let (status, answer) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        handler(&mut state, &incoming)
    };
    let answer = answer.to_string();
    // tiny_http will not send `Connection: close` itself, so write the answer raw.
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        answer.len()
    );
    let mut writer = request.into_writer();
    let _ = writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(answer.as_bytes()))
        .and_then(|()| writer.flush());
}

/// A reason phrase for the status line.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Decodes `%XX` escapes (invalid ones stay as they are; the result is UTF-8, lossily).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}
