//! The server loop on tiny_http: a fixed pool of workers, a supervisor that rebuilds the
//! tiny_http front when its accept thread dies, `catch_unwind` around every request,
//! keep-alive rotation against connection starvation, and graceful shutdown.
//!
//! **Keep-alive rotation.** tiny_http 0.12 gives each accepted connection to an internal pool
//! thread for the connection's whole keep-alive life. When a burst of connections arrives, the
//! pool reads a stale count of idle threads and queues most of the burst behind threads that
//! have not woken yet; a queued connection waits until some other connection closes. So one in
//! every [`ROTATE_EVERY`] responses (server-wide) carries `Connection: close`: the client opens
//! a new connection, and the freed pool thread picks up a queued one. Clients with connection
//! pools reconnect transparently; nginx's `keepalive_requests` is the same idea.
//!
//! A fixed share alone rotates too rarely at low request rates (at 2 000 requests/s, one close
//! every 32 ms, and a queued connection may wait for several). So the connection watchdog also
//! counts accepted connections that have sent no request 40 ms after it first saw them, and
//! that many of the next responses close their connections too (adaptive rotation).

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conntrack::ConnTracker;
use super::problem;
use super::request::Req;
use super::response::{write_to, Resp};
use super::routes;
use crate::app::App;

/// One response in this many closes its connection (keep-alive rotation).
pub const ROTATE_EVERY: u64 = 64;
/// Request bodies above this size are refused with 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// Request headers (request line included) above this size are refused with 431.
pub const MAX_HEADER: usize = 32 * 1024;
/// A declared body above this size is never drained (see `refuse_oversized`).
const DRAIN_LIMIT: usize = 1 << 30;

struct Shared {
    app: Arc<App>,
    tracker: Arc<ConnTracker>,
    stop: Arc<AtomicBool>,
    responses: AtomicU64,
    undrained: AtomicUsize,
}

/// Serves until `stop` is set (SIGINT/SIGTERM), then finishes in-flight requests and returns.
pub fn serve(app: Arc<App>, listener: TcpListener, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let tracker = ConnTracker::new(
        port,
        Duration::from_secs(app.config.read_timeout_secs),
        Duration::from_secs(app.config.request_timeout_secs),
    );
    tracker.spawn_watchdog(Duration::from_millis(50), stop.clone());
    let workers = app.config.workers;
    let quiet_for =
        Duration::from_secs(2 * (app.config.read_timeout_secs + app.config.request_timeout_secs));
    let shared = Arc::new(Shared {
        app,
        tracker,
        stop: stop.clone(),
        responses: AtomicU64::new(0),
        undrained: AtomicUsize::new(0),
    });

    let mut generation = 0u64;
    let mut backoff = Duration::from_millis(50);
    let mut handles = Vec::new();
    loop {
        let front = Arc::new(
            tiny_http::Server::from_listener(listener.try_clone()?, None)
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        );
        let died = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        for i in 0..workers {
            let (front, shared, died) = (front.clone(), shared.clone(), died.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("http-{generation}-{i}"))
                    .spawn(move || worker(&front, &shared, &died, quiet_for))?,
            );
        }
        drop(front);
        // Wait for shutdown or for the accept thread to die: it reports an accept error to
        // the workers, or (when it panicked) connections pile up unaccepted.
        while !stop.load(Ordering::Relaxed) && !died.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if shared.tracker.take_accept_stalled() {
                died.store(true, Ordering::Relaxed);
            }
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // The old workers keep serving the old front's live connections until it goes quiet.
        log::error!("the HTTP accept loop stopped; restarting it");
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(50);
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(2));
        generation += 1;
        handles.retain(|h| !h.is_finished());
    }
    for h in handles {
        let _ = h.join();
    }
    log::info!("http server stopped");
    Ok(())
}

fn worker(front: &tiny_http::Server, shared: &Shared, died: &AtomicBool, quiet_for: Duration) {
    let mut last_request = Instant::now();
    loop {
        match front.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(rq)) => {
                last_request = Instant::now();
                handle(shared, rq);
            }
            Ok(None) => {
                if shared.stop.load(Ordering::Relaxed) {
                    return;
                }
                // A retired front (its accept thread died) is dropped once quiet: every
                // connection it had has met a deadline by then.
                if died.load(Ordering::Relaxed) && last_request.elapsed() > quiet_for {
                    return;
                }
            }
            Err(e) => {
                log::error!("accept failed: {e}");
                died.store(true, Ordering::Relaxed);
            }
        }
    }
}

fn header_bytes(rq: &tiny_http::Request) -> usize {
    rq.url().len()
        + 16
        + rq.headers()
            .iter()
            .map(|h| h.field.as_str().as_str().len() + h.value.as_str().len() + 4)
            .sum::<usize>()
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

fn handle(shared: &Shared, mut rq: tiny_http::Request) {
    let start = Instant::now();
    let peer = rq
        .remote_addr()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    shared.tracker.begin(peer);
    let method = rq.method().as_str().to_ascii_uppercase();
    let raw_url = rq.url().to_string();
    let path = raw_url.split('?').next().unwrap_or("").to_string();

    if let Some(len) = rq.body_length().filter(|n| *n > MAX_BODY) {
        refuse_oversized(shared, rq, peer, len);
        shared.tracker.end(peer);
        access_log(&method, &path, 413, start);
        return;
    }

    let outcome = catch_unwind(AssertUnwindSafe(|| process(shared, &mut rq, peer)));
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
    let n = shared.responses.fetch_add(1, Ordering::Relaxed);
    let close = must_close
        || wants_close(&rq)
        || shared.stop.load(Ordering::Relaxed)
        || n % ROTATE_EVERY == ROTATE_EVERY - 1
        || shared.tracker.take_rotation();
    let status = resp.status;
    let head = method == "HEAD";
    let bytes = resp.to_bytes(close, head);
    let _ = write_to(rq.into_writer(), &bytes);
    shared.tracker.end(peer);
    access_log(&method, &path, status, start);
}

/// Logs one line per request: method, path without query, status, duration. Path segments
/// that carry tokens are redacted.
fn access_log(method: &str, path: &str, status: u16, start: Instant) {
    if !log::log_enabled!(target: "tenantry::access", log::Level::Info) {
        return;
    }
    let path = super::routes::loggable_path(path);
    log::info!(
        target: "tenantry::access",
        "{method} {path} {status} {:.1}ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
}

/// Refuses a declared body over the cap without reading it: 413 with `Connection: close`,
/// and the socket's receiving side shut so tiny_http's drain of the unread body ends at once.
/// tiny_http drains an unread body on drop by allocating a buffer of the declared size, so
/// a request declaring more than `DRAIN_LIMIT` is answered through `upgrade` and the
/// connection is abandoned instead of dropped (a bounded, logged leak; a reverse proxy with a
/// body limit in front prevents it entirely — see the README).
fn refuse_oversized(shared: &Shared, rq: tiny_http::Request, peer: SocketAddr, len: usize) {
    let resp = problem::http(
        413,
        "payload_too_large",
        "Request body too large",
        &format!("request bodies are limited to {MAX_BODY} bytes"),
    );
    shared.tracker.shutdown_read(peer);
    if len <= DRAIN_LIMIT {
        let _ = write_to(rq.into_writer(), &resp.to_bytes(true, false));
        return;
    }
    // `upgrade` is the only way to write on this connection without dropping the request
    // (and so its body reader). It sends the status line and headers without a length; the
    // problem body follows and the connection is then shut, so clients read it to the end.
    let mut response = tiny_http::Response::empty(413);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/problem+json") {
        response = response.with_header(h);
    }
    let mut stream = rq.upgrade("close", response);
    let _ = std::io::Write::write_all(&mut stream, &resp.body);
    let _ = std::io::Write::flush(&mut stream);
    shared.tracker.shutdown_both(peer);
    let n = shared.undrained.fetch_add(1, Ordering::Relaxed) + 1;
    log::warn!("abandoned a connection that declared a {len}-byte body ({n} so far)");
    std::mem::forget(stream);
}

fn process(shared: &Shared, rq: &mut tiny_http::Request, peer: SocketAddr) -> (Resp, bool) {
    if header_bytes(rq) > MAX_HEADER {
        return (
            problem::http(
                431,
                "headers_too_large",
                "Request headers too large",
                "request headers are limited to 32 KiB",
            ),
            true,
        );
    }
    let url = rq.url().to_string();
    if !url.starts_with('/') {
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
    let mut body = Vec::new();
    if rq.body_length() != Some(0) {
        let reader = rq.as_reader();
        match reader.take(MAX_BODY as u64 + 1).read_to_end(&mut body) {
            Ok(_) if body.len() > MAX_BODY => {
                return (
                    problem::http(
                        413,
                        "payload_too_large",
                        "Request body too large",
                        &format!("request bodies are limited to {MAX_BODY} bytes"),
                    ),
                    true,
                )
            }
            Ok(_) => {}
            Err(_) => {
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
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (url.clone(), String::new()),
    };
    let mut req = Req {
        method: rq.method().as_str().to_ascii_uppercase(),
        path,
        query,
        headers: rq
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
        peer,
        params: Default::default(),
    };
    (routes::dispatch(&shared.app, &mut req), false)
}
