//! Bare tiny_http server: the benchmark ceiling (`scripts/bench*.sh`).
//!
//! It deliberately does nothing clever: every request is answered `{"ok":true}`
//! on its connection's own thread, as tenantry answers its requests (`--queue`:
//! N worker threads loop on `server.recv()` instead, the way tenantry served
//! before). It is built against the same tiny_http as tenantry, that is the
//! patched copy in `vendor/tiny_http` (one thread per connection, header
//! budget, strict framing), so the ceiling measures the same connection
//! handling tenantry gets. (Against tiny_http
//! 0.12.0 it was also the negative control of the burst test: its task pool
//! starved most of a connection burst.)
//!
//! Usage: `cargo run --example bare_hello -- --listen 127.0.0.1:0 [--queue [--workers 4]]`
//! (defaults: `127.0.0.1:8081`, workers = available_parallelism * 2). `--workers` sets the
//! worker threads of `--queue`; without `--queue` it is accepted and has no effect (each
//! connection's thread answers), so the benchmark scripts can pass it to both shapes.
//! Prints exactly one line on stdout once bound: `listening on http://ADDR`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

fn usage() -> &'static str {
    "usage: bare_hello [--listen ADDR] [--queue [--workers N]]  (--workers: --queue's worker threads)"
}

/// The one line a caller waits for.
fn announce(addr: std::net::SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{addr}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    let mut listen = String::from("127.0.0.1:8081");
    let mut workers = thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4);

    let mut queue = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let result = match flag.as_str() {
            "--listen" => value("--listen").map(|v| listen = v),
            "--queue" => {
                queue = true;
                Ok(())
            }
            "--workers" => value("--workers").and_then(|v| match v.parse::<usize>() {
                Ok(n) if n > 0 => {
                    workers = n;
                    Ok(())
                }
                _ => Err(format!("invalid --workers value: {v}")),
            }),
            "-h" | "--help" => {
                println!("{}", usage());
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument: {other}")),
        };
        if let Err(e) = result {
            eprintln!("bare_hello: {e}\n{}", usage());
            return ExitCode::from(2);
        }
    }

    let listener = match std::net::TcpListener::bind(listen.as_str()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bare_hello: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bare_hello: no local address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let content_type =
        tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
            .expect("static header is valid");

    if !queue {
        // The way tenantry serves: each request is answered on its connection's thread.
        let handler: tiny_http::Handler = Arc::new(move |request: tiny_http::Request| {
            let response = tiny_http::Response::from_string(r#"{"ok":true}"#)
                .with_header(content_type.clone());
            let _ = request.respond(response);
        });
        let _server = match tiny_http::Server::from_listener_with_handler(
            listener,
            tiny_http::Limits::default(),
            handler,
        ) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bare_hello: cannot serve: {e}");
                return ExitCode::FAILURE;
            }
        };
        announce(addr);
        loop {
            thread::park();
        }
    }
    let server = match tiny_http::Server::from_listener(listener, None) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("bare_hello: cannot serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    announce(addr);
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let server = Arc::clone(&server);
            let content_type = content_type.clone();
            thread::Builder::new()
                .name(format!("bare-worker-{i}"))
                .spawn(move || loop {
                    let request = match server.recv() {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("bare_hello: recv failed: {e}");
                            return;
                        }
                    };
                    let response = tiny_http::Response::from_string(r#"{"ok":true}"#)
                        .with_header(content_type.clone());
                    let _ = request.respond(response);
                })
                .expect("spawn worker thread")
        })
        .collect();

    for h in handles {
        let _ = h.join();
    }
    ExitCode::SUCCESS
}
