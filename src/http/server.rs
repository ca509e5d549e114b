//! The server loop on tiny_http (carried patched in `vendor/tiny_http`, see its PATCHES.md):
//! each request is handled on the thread of the connection it arrived on, at most
//! `http.workers` at once ([`Slots`]), `catch_unwind` around every request, and graceful
//! shutdown. Handling a request where it was parsed saves a hand-off between threads (a
//! futex wake and a context switch) per request; see docs/architecture.md.
//!
//! What a client can make the server hold before any handler runs is bounded inside the
//! patched tiny_http: at most [`MAX_HEADER`] bytes of request head per connection (431),
//! strict message framing (400), an unread body is never drained (the connection closes
//! instead), socket read/write timeouts set at accept, a header deadline, and at most
//! `http.max_connections` open connections, each on its own thread from accept to close
//! (so a burst of keep-alive connections cannot starve queued ones), and a body up to
//! [`MAX_BODY`] is read by the connection's thread, within `http.request_timeout_secs`,
//! before the request takes a slot (so a slow client never holds one; at most
//! `PREFETCH_BUDGET` bytes of bodies are held at once). This module adds the body cap
//! (413 without reading a declared body over [`MAX_BODY`]). Response writes are bounded by
//! the socket's write timeout.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::problem;
use super::request::Req;
use super::response::{write_to, Resp};
use super::routes;
use crate::service::Context;

/// Request bodies above this size are refused with 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// Request headers (request line included) above this size are refused with 431.
pub const MAX_HEADER: usize = 32 * 1024;

/// Stack of a connection's thread, which also runs its requests' handlers (Rust's default
/// for a spawned thread).
const HANDLER_STACK: usize = 2 * 1024 * 1024;

/// Bytes of request bodies read ahead and not yet handled, across all connections, at
/// most; past it connections wait (TCP flow control slows their clients).
const PREFETCH_BUDGET: usize = 64 * 1024 * 1024;

struct Shared {
    app: Arc<Context>,
    stop: Arc<AtomicBool>,
    /// Whether `/metrics` is served at all (`metrics.listen` or `metrics.bearer_token`):
    /// when it is not, nobody can read per-route figures, so requests skip recording them.
    metrics_on: bool,
}

/// Longest `X-Request-Id` taken from a client; a longer or otherwise unfit one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// The request's ID: the client's `X-Request-Id` when it is 1 to [`MAX_REQUEST_ID`]
/// visible ASCII characters, else a new one.
fn request_id(rq: &tiny_http::Request) -> String {
    let given = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("X-Request-Id"))
        .map(|h| h.value.as_str());
    match given {
        Some(v)
            if !v.is_empty()
                && v.len() <= MAX_REQUEST_ID
                && v.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            v.to_string()
        }
        _ => new_request_id(),
    }
}

/// A new request ID: a prefix drawn at random once per process and a counter (`req_` +
/// 8 + `-` + hex). Unique within the process and across restarts with high probability,
/// without a call to the system's random source per request; an ID is a correlation
/// handle, not a secret.
fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| crate::crypto::new_id("req")[..12].to_string());
    format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The connection limits handed to tiny_http, from the configuration.
fn limits(app: &Context) -> tiny_http::Limits {
    let read = Duration::from_secs(app.config.read_timeout_secs);
    let request = Duration::from_secs(app.config.request_timeout_secs);
    tiny_http::Limits {
        max_header_bytes: MAX_HEADER,
        max_connections: app.config.max_connections,
        read_timeout: Some(read),
        write_timeout: Some(request),
        header_timeout: Some(read),
        // Bodies are read on the connection's thread before the request reaches a worker,
        // so a client trickling its body holds only its own connection, never a worker.
        prefetch_body_bytes: MAX_BODY,
        prefetch_budget: Some(Arc::new(tiny_http::ByteBudget::new(PREFETCH_BUDGET))),
        body_timeout: Some(request),
        // Requests are handled on the connection's thread: the stack a worker thread
        // would have (plugins run WebAssembly on it, up to wasmtime's 512 KiB wasm stack
        // limit plus the host's frames). Only the pages a connection touched are resident.
        connection_stack: HANDLER_STACK,
        ..Default::default()
    }
}

/// Serves until `stop` is set (SIGINT/SIGTERM), then finishes in-flight requests and returns.
/// `metrics` is the separate `/metrics` listener (`metrics.listen`), when configured.
pub fn serve(
    app: Arc<Context>,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let metrics_thread = match metrics {
        Some(l) => Some(serve_metrics(app.clone(), l, stop.clone())?),
        None => None,
    };
    let workers = app.config.workers;
    let resets = crate::service::passwords::spawn_reset_worker(app.clone(), stop.clone())?;
    let metrics_on = app.config.metrics_listen.is_some() || app.config.metrics_token.is_some();
    let shared = Arc::new(Shared {
        app,
        stop: stop.clone(),
        metrics_on,
    });
    let slots = Arc::new(Slots::new(workers));
    let handler: tiny_http::Handler = {
        let (shared, slots) = (shared.clone(), slots.clone());
        Arc::new(move |rq| match slots.take() {
            Some(_slot) => handle(&shared, rq),
            None => refuse_stopping(rq),
        })
    };
    let front = Arc::new(
        tiny_http::Server::from_listener_with_handler(listener, limits(&shared.app), handler)
            .map_err(|e| std::io::Error::other(e.to_string()))?,
    );
    let weak = Arc::downgrade(&front);
    shared.app.metrics.set_connection_source(Box::new(move || {
        weak.upgrade().map_or((0, 0, 0), |f| {
            (
                f.num_connections() as u64,
                f.refused_connections() as u64,
                f.deadline_closes() as u64,
            )
        })
    }));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // In-flight requests finish (their answers say `Connection: close`); a request read
    // after this is answered 503 without reaching the application.
    slots.close_and_wait();
    drop(front);
    let _ = resets.join();
    if let Some(t) = metrics_thread {
        let _ = t.join();
    }
    log::info!("http server stopped");
    Ok(())
}

/// How many requests are handled at once (`http.workers`). A request is handled on the
/// thread of the connection it arrived on, once it holds a slot; closing the slots (at
/// shutdown) waits for the held ones and turns every later request away. Taking and giving
/// back a free slot is a lock and an unlock; the condition variable is signalled (a system
/// call) only when a thread waits on it.
struct Slots {
    total: usize,
    state: Mutex<SlotState>,
    changed: Condvar,
}

struct SlotState {
    free: usize,
    closed: bool,
    /// Threads waiting in `take` or `close_and_wait`.
    waiting: usize,
}

/// A held slot, given back on drop (also when the handler unwinds).
struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(total: usize) -> Self {
        let total = total.max(1);
        Slots {
            total,
            state: Mutex::new(SlotState {
                free: total,
                closed: false,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(
        &self,
        mut st: std::sync::MutexGuard<'a, SlotState>,
    ) -> std::sync::MutexGuard<'a, SlotState> {
        st.waiting += 1;
        let mut st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        st.waiting -= 1;
        st
    }

    /// Waits for a free slot; `None` once the slots are closed.
    fn take(&self) -> Option<Slot<'_>> {
        let mut st = self.lock();
        loop {
            if st.closed {
                return None;
            }
            if st.free > 0 {
                st.free -= 1;
                return Some(Slot(self));
            }
            st = self.wait(st);
        }
    }

    /// Refuses every later `take` and waits until every held slot is given back.
    fn close_and_wait(&self) {
        let mut st = self.lock();
        st.closed = true;
        if st.waiting > 0 {
            self.changed.notify_all();
        }
        while st.free < self.total {
            st = self.wait(st);
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.free += 1;
        let (waiting, closed) = (st.waiting, st.closed);
        drop(st);
        if waiting > 0 {
            // Before closing only takers wait, and one slot serves one of them; once closing,
            // the closer waits for this slot among them.
            if closed {
                self.0.changed.notify_all();
            } else {
                self.0.changed.notify_one();
            }
        }
    }
}

/// The answer to a request read after shutdown began.
fn refuse_stopping(rq: tiny_http::Request) {
    let resp = problem::http(
        503,
        "shutting_down",
        "Service unavailable",
        "the server is shutting down; retry shortly",
    )
    .header("Retry-After", "1");
    rq.close_connection_after();
    let head = rq.method() == &tiny_http::Method::Head;
    let _ = write_to(rq.into_writer(), &resp.to_bytes(true, head));
}

/// The separate metrics listener: one thread, `GET /metrics` only, small limits.
fn serve_metrics(
    app: Arc<Context>,
    listener: TcpListener,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let limits = tiny_http::Limits {
        max_header_bytes: 8 * 1024,
        max_connections: 16,
        read_timeout: Some(Duration::from_secs(10)),
        write_timeout: Some(Duration::from_secs(10)),
        header_timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    let server = tiny_http::Server::from_listener_with_limits(listener, None, limits)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || loop {
            match server.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(rq)) => {
                    let path = rq.url().split('?').next().unwrap_or("");
                    let method = rq.method().as_str().to_ascii_uppercase();
                    let resp = if path != "/metrics" {
                        problem::http(
                            404,
                            "not_found",
                            "Not found",
                            "this listener serves /metrics only",
                        )
                    } else if method != "GET" && method != "HEAD" {
                        problem::http(
                            405,
                            "method_not_allowed",
                            "Method not allowed",
                            "this route accepts GET, HEAD",
                        )
                        .header("Allow", "GET, HEAD")
                    } else {
                        let auth = rq
                            .headers()
                            .iter()
                            .find(|h| h.field.equiv("Authorization"))
                            .map(|h| h.value.as_str().to_string());
                        super::metrics_endpoint::answer(&app, auth.as_deref())
                    };
                    let bytes = resp.to_bytes(true, method == "HEAD");
                    rq.close_connection_after();
                    let _ = write_to(rq.into_writer(), &bytes);
                }
                Ok(None) if stop.load(Ordering::Relaxed) => return,
                Ok(None) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        })
}

fn wants_close(rq: &tiny_http::Request) -> bool {
    let conn = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("Connection"))
        .map(|h| h.value.as_str().to_ascii_lowercase());
    match conn {
        Some(v) if v.contains("close") => true,
        Some(v) if v.contains("keep-alive") => false,
        _ => rq.http_version() == &tiny_http::HTTPVersion(1, 0),
    }
}

fn too_large() -> Resp {
    problem::http(
        413,
        "payload_too_large",
        "Request body too large",
        &format!("request bodies are limited to {MAX_BODY} bytes"),
    )
}

fn handle(shared: &Shared, mut rq: tiny_http::Request) {
    let start = Instant::now();
    let id = request_id(&rq);
    // Every line logged on this thread until the answer is written carries the ID.
    let _scope = crate::logging::enter_request(&id);
    let peer = rq
        .remote_addr()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let method = rq.method().as_str().to_ascii_uppercase();
    // The access log's path (without the query), only when the access log is on.
    let logged_path =
        access_log_enabled().then(|| rq.url().split('?').next().unwrap_or("").to_string());

    let mut route = "unmatched";
    let mut client = peer.ip();
    let outcome = if rq.body_length().is_some_and(|n| n > MAX_BODY) {
        // Refused from the headers alone: the body is neither read nor drained, and the
        // connection closes after the answer.
        Ok((too_large(), true))
    } else {
        catch_unwind(AssertUnwindSafe(|| {
            process(shared, &mut rq, peer, &method, &mut route, &mut client)
        }))
    };
    let (resp, must_close) = outcome.unwrap_or_else(|_| {
        (
            problem::http(
                500,
                "internal",
                "Internal server error",
                "something went wrong on the server; it has been logged",
            ),
            true,
        )
    });
    let resp = resp.header("X-Request-Id", id.as_str());
    let close = must_close || wants_close(&rq) || shared.stop.load(Ordering::Relaxed);
    if close {
        rq.close_connection_after();
    }
    let status = resp.status;
    let head = method == "HEAD";
    let bytes = resp.to_bytes(close, head);
    let _ = write_to(rq.into_writer(), &bytes);
    let took = start.elapsed();
    if shared.metrics_on {
        shared.app.metrics.request(&method, route, status, took);
    }
    if let Some(path) = logged_path {
        access_log(&method, &path, route, status, client, took);
    }
}

fn access_log_enabled() -> bool {
    log::log_enabled!(target: "tenantry::access", log::Level::Info)
}

/// Logs one line per request, with the fields as fields: method, path without query,
/// route template, status, client address, duration. Path segments that carry tokens are
/// redacted; the query never appears (tokens travel there).
fn access_log(
    method: &str,
    path: &str,
    route: &str,
    status: u16,
    client: std::net::IpAddr,
    took: Duration,
) {
    let path = super::routes::loggable_path(path);
    let ms = (took.as_secs_f64() * 10_000.0).round() / 10.0;
    log::info!(
        target: "tenantry::access",
        method = method,
        path = path.as_str(),
        route = route,
        status = status,
        client:% = client,
        duration_ms = ms;
        "{method} {path} {status} {ms:.1}ms"
    );
}

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Late,
    Broken,
}

/// Reads at most `MAX_BODY + 1` bytes of body, within `deadline` in total (each read is
/// also bounded by the socket's read timeout). `expected` is the declared length (at most
/// `MAX_BODY`): that much and one byte more (to see the end) is allocated up front, and
/// the buffer grows only for a chunked body.
fn read_body(
    reader: &mut dyn Read,
    deadline: Duration,
    expected: usize,
) -> Result<Vec<u8>, BodyError> {
    let started = Instant::now();
    let mut body = vec![0u8; expected.min(MAX_BODY) + 1];
    let mut filled = 0;
    loop {
        if started.elapsed() > deadline {
            return Err(BodyError::Late);
        }
        if filled == body.len() {
            if filled > MAX_BODY {
                return Err(BodyError::TooLarge);
            }
            body.resize((filled * 2).clamp(16 * 1024, MAX_BODY + 1), 0);
        }
        match reader.read(&mut body[filled..]) {
            Ok(0) => {
                body.truncate(filled);
                return Ok(body);
            }
            Ok(n) => {
                filled += n;
                if filled > MAX_BODY {
                    return Err(BodyError::TooLarge);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(BodyError::Late)
            }
            Err(_) => return Err(BodyError::Broken),
        }
    }
}

fn process(
    shared: &Shared,
    rq: &mut tiny_http::Request,
    peer: SocketAddr,
    method: &str,
    route: &mut &'static str,
    client: &mut std::net::IpAddr,
) -> (Resp, bool) {
    if !rq.url().starts_with('/') {
        return (
            problem::http(
                400,
                "bad_request",
                "Bad request",
                "the request target must be a path",
            ),
            true,
        );
    }
    let (path, query) = match rq.url().split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (rq.url().to_string(), String::new()),
    };
    let mut body = Vec::new();
    if rq.body_length() != Some(0) {
        let deadline = Duration::from_secs(shared.app.config.request_timeout_secs);
        let expected = rq.body_length().unwrap_or(0);
        match read_body(rq.as_reader(), deadline, expected) {
            Ok(b) => body = b,
            Err(BodyError::TooLarge) => return (too_large(), true),
            Err(BodyError::Late) => {
                shared
                    .app
                    .metrics
                    .body_deadline_closes
                    .fetch_add(1, Ordering::Relaxed);
                return (
                    problem::http(
                        408,
                        "request_timeout",
                        "Request timeout",
                        "the request body did not arrive in time",
                    ),
                    true,
                );
            }
            Err(BodyError::Broken) => {
                return (
                    problem::http(
                        400,
                        "bad_request",
                        "Bad request",
                        "the request body could not be read",
                    ),
                    true,
                )
            }
        }
    }
    let headers: Vec<(String, String)> = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let config = &shared.app.config;
    *client = super::client_addr::client_addr(
        peer.ip(),
        &headers,
        &config.trusted_proxies,
        config.forwarded_header,
    );
    let mut req = Req {
        method: method.to_string(),
        path,
        query,
        headers,
        body,
        peer,
        client: *client,
        params: Default::default(),
        route: "unmatched",
        two_step_grace: None,
    };
    if req.path == "/metrics" && config.metrics_token.is_some() {
        *route = "/metrics";
        if method != "GET" && method != "HEAD" {
            let resp = problem::http(
                405,
                "method_not_allowed",
                "Method not allowed",
                "this route accepts GET, HEAD",
            )
            .header("Allow", "GET, HEAD");
            return (resp, false);
        }
        return (
            super::metrics_endpoint::answer(&shared.app, req.header("authorization")),
            false,
        );
    }
    let resp = routes::dispatch(&shared.app, &mut req);
    *route = req.route;
    (resp, false)
}

#[cfg(test)]
mod tests {
    use super::Slots;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    /// How long a step that must not happen is given to happen anyway.
    const GRACE: Duration = Duration::from_millis(300);

    #[test]
    fn slots_bound_how_many_requests_are_handled_at_once() {
        let slots = Arc::new(Slots::new(2));
        let a = slots.take().expect("first slot");
        let _b = slots.take().expect("second slot");
        let (tx, rx) = mpsc::channel();
        let waiter = {
            let slots = slots.clone();
            std::thread::spawn(move || {
                let got = slots.take().is_some();
                tx.send(got).unwrap();
            })
        };
        assert!(
            rx.recv_timeout(GRACE).is_err(),
            "a third request was handled while two slots were held"
        );
        drop(a);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Ok(true),
            "a freed slot did not reach the waiting request"
        );
        waiter.join().unwrap();
    }

    /// Under contention every waiting request is eventually handed a slot (a lost wake-up
    /// would leave a thread waiting for good), and never more than the bound at once.
    #[test]
    fn contended_slots_are_all_handed_out_and_the_bound_holds() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const THREADS: usize = 16;
        const ROUNDS: usize = 500;
        let slots = Arc::new(Slots::new(2));
        let (inside, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (tx, rx) = mpsc::channel();
        for _ in 0..THREADS {
            let (slots, inside, most, tx) =
                (slots.clone(), inside.clone(), most.clone(), tx.clone());
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let _slot = slots.take().expect("slots are open");
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
                tx.send(()).unwrap();
            });
        }
        for i in 0..THREADS {
            rx.recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("only {i} of {THREADS} threads got all their slots"));
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "more than 2 held at once");
        assert_eq!(slots.lock().free, 2, "a slot was lost");
        assert_eq!(slots.lock().waiting, 0, "a waiter was not accounted for");
    }

    #[test]
    fn closing_waits_for_held_slots_and_turns_later_requests_away() {
        let slots = Arc::new(Slots::new(2));
        let held = slots.take().expect("a slot");
        let (tx, rx) = mpsc::channel();
        let closer = {
            let slots = slots.clone();
            std::thread::spawn(move || {
                slots.close_and_wait();
                tx.send(()).unwrap();
            })
        };
        assert!(
            rx.recv_timeout(GRACE).is_err(),
            "shutdown went on while a request was in flight"
        );
        // Once closing has begun, no new request starts (the closer may still be waiting).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while slots.take().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the slots never closed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(held);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("shutdown did not go on once the request finished");
        closer.join().unwrap();
        assert!(
            slots.take().is_none(),
            "a slot was handed out after closing"
        );
    }
}
