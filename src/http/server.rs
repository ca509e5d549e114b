//! The server loop on tiny_http (carried patched in `vendor/tiny_http`, see its PATCHES.md):
//! a fixed pool of workers, `catch_unwind` around every request, and graceful shutdown.
//!
//! What a client can make the server hold before any handler runs is bounded inside the
//! patched tiny_http: at most [`MAX_HEADER`] bytes of request head per connection (431),
//! strict message framing (400), an unread body is never drained (the connection closes
//! instead), socket read/write timeouts set at accept, a header deadline, and at most
//! `http.max_connections` open connections, each on its own thread from accept to close
//! (so a burst of keep-alive connections cannot starve queued ones), and a body up to
//! [`MAX_BODY`] is read by the connection's thread, within `http.request_timeout_secs`,
//! before the request is queued (so a slow client never holds a worker; at most
//! `PREFETCH_BUDGET` bytes of bodies are held at once). This module adds the body cap
//! (413 without reading a declared body over [`MAX_BODY`]). Response writes are bounded by
//! the socket's write timeout.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::problem;
use super::request::Req;
use super::response::{write_to, Resp};
use super::routes;
use crate::app::App;

/// Request bodies above this size are refused with 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// Request headers (request line included) above this size are refused with 431.
pub const MAX_HEADER: usize = 32 * 1024;

/// Bytes of request bodies read ahead and not yet handled, across all connections, at
/// most; past it connections wait (TCP flow control slows their clients).
const PREFETCH_BUDGET: usize = 64 * 1024 * 1024;

struct Shared {
    app: Arc<App>,
    stop: Arc<AtomicBool>,
}

/// The connection limits handed to tiny_http, from the configuration.
fn limits(app: &App) -> tiny_http::Limits {
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
        ..Default::default()
    }
}

/// Serves until `stop` is set (SIGINT/SIGTERM), then finishes in-flight requests and returns.
pub fn serve(app: Arc<App>, listener: TcpListener, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let front = Arc::new(
        tiny_http::Server::from_listener_with_limits(listener, None, limits(&app))
            .map_err(|e| std::io::Error::other(e.to_string()))?,
    );
    let workers = app.config.workers;
    let resets = crate::service::passwords::spawn_reset_worker(app.clone(), stop.clone())?;
    let shared = Arc::new(Shared {
        app,
        stop: stop.clone(),
    });
    let mut handles = Vec::new();
    for i in 0..workers {
        let (front, shared) = (front.clone(), shared.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || worker(&front, &shared))?,
        );
    }
    for h in handles {
        let _ = h.join();
    }
    let _ = resets.join();
    log::info!("http server stopped");
    Ok(())
}

fn worker(front: &tiny_http::Server, shared: &Shared) {
    loop {
        match front.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(rq)) => handle(shared, rq),
            Ok(None) if shared.stop.load(Ordering::Relaxed) => return,
            Ok(None) => {}
            Err(e) => {
                // The patched accept loop reports no errors; keep serving regardless.
                log::error!("http: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
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
    let peer = rq
        .remote_addr()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let method = rq.method().as_str().to_ascii_uppercase();
    // The access log's path (without the query), only when the access log is on.
    let logged_path =
        access_log_enabled().then(|| rq.url().split('?').next().unwrap_or("").to_string());

    let outcome = if rq.body_length().is_some_and(|n| n > MAX_BODY) {
        // Refused from the headers alone: the body is neither read nor drained, and the
        // connection closes after the answer.
        Ok((too_large(), true))
    } else {
        catch_unwind(AssertUnwindSafe(|| process(shared, &mut rq, peer, &method)))
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
    let close = must_close || wants_close(&rq) || shared.stop.load(Ordering::Relaxed);
    if close {
        rq.close_connection_after();
    }
    let status = resp.status;
    let head = method == "HEAD";
    let bytes = resp.to_bytes(close, head);
    let _ = write_to(rq.into_writer(), &bytes);
    if let Some(path) = logged_path {
        access_log(&method, &path, status, start);
    }
}

fn access_log_enabled() -> bool {
    log::log_enabled!(target: "tenantry::access", log::Level::Info)
}

/// Logs one line per request: method, path without query, status, duration. Path segments
/// that carry tokens are redacted.
fn access_log(method: &str, path: &str, status: u16, start: Instant) {
    let path = super::routes::loggable_path(path);
    log::info!(
        target: "tenantry::access",
        "{method} {path} {status} {:.1}ms",
        start.elapsed().as_secs_f64() * 1000.0
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
                return (
                    problem::http(
                        408,
                        "request_timeout",
                        "Request timeout",
                        "the request body did not arrive in time",
                    ),
                    true,
                )
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
    let mut req = Req {
        method: method.to_string(),
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
