//! Resource limits before sign-in: nothing a client can send before signing in exhausts the
//! server (headers, bodies, connections, stalled and trickled requests, reset-request
//! timing), the accept loop survives running out of file descriptors, and nothing on disk is
//! readable by other local users. Each test starts its own real server (or runs the real
//! binary) and attacks it with nothing but a socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::client::{parse_response, send_while_reading, KeepAlive, Response};
use crate::support::process::{open_fds, rss_kib, threads};
use crate::support::server::unique_temp_dir;
use crate::support::wait::{poll_value, poll_value_every, wait_until};
use crate::support::{assert_problem, Client, TestServer};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

// ---------------------------------------------------------------------------
// files

#[test]
fn data_dir_database_and_backup_are_private_from_the_start() {
    // The binary creates a fresh data dir itself (a wide umask in the caller must not matter).
    let root = unique_temp_dir("tenantry-modes");
    let data = root.join("fresh").join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args([
            "init",
            "--password-stdin",
            "--admin-email",
            "owner@example.test",
            "--data-dir",
        ])
        .arg(&data)
        .env("TENANTRY_DATA_DIR", &data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tenantry init");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password 1!\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&data), 0o700, "data dir mode");
    let mut seen = 0;
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        let p = entry.path();
        if p.is_file() {
            assert_eq!(mode(&p), 0o600, "{} mode", p.display());
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "expected the database and the secret in {data:?}"
    );

    // A running server's database, WAL and shared memory, and a backup taken meanwhile.
    let server = TestServer::start();
    assert_eq!(server.client().get("/healthz").status, 200);
    for name in ["tenantry.db", "tenantry.db-wal", "tenantry.db-shm"] {
        let p = server.data_dir().join(name);
        assert!(p.exists(), "{name} missing");
        assert_eq!(mode(&p), 0o600, "{name} mode");
    }
    let backup = root.join("backup.db");
    let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .arg("backup")
        .arg(&backup)
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&backup), 0o600, "backup mode");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_wide_existing_data_dir_is_warned_about_at_start() {
    let root = unique_temp_dir("tenantry-wide");
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The real binary: the warning is on its stderr.
    let server = TestServer::builder().binary().data_dir(&data).start();
    assert_eq!(server.client().get("/healthz").status, 200);
    let log = server.stderr_text();
    assert!(
        log.contains("has mode 755") && log.contains("chmod 700"),
        "no warning about the wide data dir; stderr:\n{log}"
    );
    // Still not changed behind the operator's back, and the files inside are private.
    assert_eq!(mode(&data), 0o755);
    assert_eq!(mode(&data.join("tenantry.db")), 0o600);
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
}

// ---------------------------------------------------------------------------
// helpers

/// Sends `bytes` on a new connection and reads until the server closes it. Returns the
/// parsed response and whether the server closed the connection (EOF or reset) within 10 s.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> (Response, bool) {
    exchange_n(addr, bytes, 0)
}

fn exchange_n(addr: SocketAddr, bytes: &[u8], n: usize) -> (Response, bool) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before everything is written; that is fine.
    let _ = s.write_all(bytes);
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    let resp = parse_response(&got, "GET").unwrap_or_else(|e| {
        panic!(
            "request {n}: no response ({e}); got {:?}",
            String::from_utf8_lossy(&got)
        )
    });
    (resp, closed)
}

/// Waits (up to 20 s) until `f()` is at most `limit`; returns the last value seen.
fn settles_to(limit: u64, f: impl Fn() -> u64) -> u64 {
    poll_value(Duration::from_secs(20), f, |v| *v <= limit)
}

// ---------------------------------------------------------------------------
// headers

#[test]
fn a_40_kib_header_is_431_and_the_connection_closes() {
    let server = TestServer::start();
    let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 40 * 1024));
    req.extend_from_slice(b"\r\n\r\n");
    let (resp, closed) = exchange(server.addr(), &req);
    assert_problem(&resp, 431, "headers_too_large");
    assert!(resp.connection_close(), "no Connection: close");
    assert!(closed, "the connection stayed open after 431");
    // Just under the budget is served.
    let mut ok = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ".to_vec();
    ok.extend(std::iter::repeat_n(b'a', 30 * 1024));
    ok.extend_from_slice(b"\r\n\r\n");
    let (resp, _) = exchange(server.addr(), &ok);
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn endless_header_streams_do_not_grow_memory_and_others_are_served() {
    // The real binary: its memory is read from /proc.
    let server = TestServer::builder().binary().start();
    let pid = server.pid().expect("pid");
    assert_eq!(server.client().get("/healthz").status, 200);
    let before = rss_kib(pid);
    const PER_STREAM: usize = 24 << 20; // what 0.12.0 would have buffered, per connection
    let streams: Vec<_> = (0..10)
        .map(|_| {
            let addr = server.addr();
            thread::spawn(move || -> (usize, u64) {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n");
                let line = [b"X-Endless: ".as_slice(), &[b'a'; 4086], b"\r\n"].concat();
                let mut sent = 0usize;
                let mut peak = 0u64;
                while sent < PER_STREAM {
                    if s.write_all(&line).is_err() {
                        break;
                    }
                    sent += line.len();
                    if sent % (1 << 20) < line.len() {
                        peak = peak.max(rss_kib(pid));
                    }
                }
                (sent, peak)
            })
        })
        .collect();
    // Others are answered meanwhile.
    let c = Client::new(server.addr()).with_timeout(Duration::from_secs(10));
    for _ in 0..5 {
        let r = c
            .try_request("GET", "/healthz", &[], None)
            .expect("healthz while streaming");
        assert_eq!(r.status, 200);
    }
    let mut peak = rss_kib(pid);
    for t in streams {
        let (sent, p) = t.join().unwrap();
        peak = peak.max(p);
        assert!(
            sent < PER_STREAM,
            "the server kept reading an endless header ({sent} bytes) instead of cutting it"
        );
    }
    peak = peak.max(rss_kib(pid));
    let grew_mib = peak.saturating_sub(before) / 1024;
    eprintln!("RSS {before} KiB before, peak {peak} KiB");
    assert!(
        grew_mib < 64,
        "RSS grew by {grew_mib} MiB under 10 endless headers"
    );
}

// ---------------------------------------------------------------------------
// strict framing

#[test]
fn ambiguous_framing_and_malformed_headers_are_400_and_close() {
    let server = TestServer::start();
    let cases: [(&str, &[u8]); 7] = [
        (
            "Transfer-Encoding and Content-Length",
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        ),
        (
            "two Content-Length",
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ),
        (
            "Transfer-Encoding other than chunked",
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "Content-Length not a number",
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        ),
        ("bare LF", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: aaa\nbbb\r\n\r\n"),
        ("obs-fold", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: aaa\r\n bbb\r\n\r\n"),
        ("control character", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\x01b\r\n\r\n"),
    ];
    for (what, bytes) in cases {
        let (resp, closed) = exchange(server.addr(), bytes);
        assert_eq!(resp.status, 400, "{what}: {}", resp.text());
        assert_problem(&resp, 400, "bad_request");
        assert!(closed, "{what}: the connection stayed open");
    }
    // An unsupported version is refused, not left hanging (0.12.0's connection thread
    // deadlocked answering 505).
    let (resp, closed) = exchange(server.addr(), b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n");
    assert_problem(&resp, 505, "http_version_not_supported");
    assert!(closed, "HTTP/2.0: the connection stayed open");
    // The same requests, well framed, are served.
    let (resp, _) = exchange(
        server.addr(),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: aaa bbb\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
}

#[test]
fn no_response_header_carries_cr_or_lf_from_input() {
    let server = TestServer::start();
    // Percent-encoded CR LF in places that are echoed into headers (a redirect target).
    for path in [
        "/login?next=/%0d%0aX-Injected:%20yes",
        "/invite/abc%0d%0aX-Injected:%20yes",
        "/%0d%0aX-Injected:%20yes",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (resp, _) = exchange(server.addr(), req.as_bytes());
        assert!(
            resp.header("x-injected").is_none(),
            "{path}: a header was injected: {:?}",
            resp.headers
        );
        for (k, v) in &resp.headers {
            assert!(
                !k.contains(['\r', '\n']) && !v.contains(['\r', '\n']),
                "{path}: {k}: {v:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// bodies

#[test]
fn declared_2_gib_bodies_are_413_and_leak_nothing() {
    let server = TestServer::builder().env("RUST_LOG", "warn").start();
    let pid = server.pid().expect("pid");
    assert_eq!(server.client().get("/healthz").status, 200);
    let head = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n{\"email\":";
    // A few refusals first, so threads and descriptors the server starts once, on first use,
    // are in the baseline: what is measured is growth per request (a leak is ~1 per request).
    for i in 0..20 {
        let (resp, _) = exchange_n(server.addr(), head, i);
        assert_eq!(resp.status, 413, "warm-up request {i}: {}", resp.text());
    }
    // Let the warm-up connections' threads end before the baseline is taken. Kept fixed: the
    // level the counts settle to is what is being measured, so there is no condition to wait
    // on (the checks after the load do wait, with `settles_to`).
    thread::sleep(Duration::from_millis(500));
    let fds_before = open_fds(pid);
    let threads_before = threads(pid);
    for i in 0..1000 {
        let (resp, closed) = exchange_n(server.addr(), head, i);
        assert_eq!(resp.status, 413, "request {i}: {}", resp.text());
        if i == 0 {
            assert_problem(&resp, 413, "payload_too_large");
            assert!(closed, "the connection stayed open after 413");
        }
    }
    let fds = settles_to(fds_before + 2, || open_fds(pid));
    let thr = settles_to(threads_before + 2, || threads(pid));
    assert!(
        fds <= fds_before + 2 && thr <= threads_before + 2,
        "after 1000 refused 2 GiB bodies: fds {fds_before} -> {fds}, threads {threads_before} -> {thr}"
    );
    assert!(rss_kib(pid) < 512 * 1024, "RSS {} KiB", rss_kib(pid));
    assert_eq!(server.client().get("/healthz").status, 200);
}

#[test]
fn a_chunked_body_over_the_limit_is_413() {
    let server = TestServer::start();
    let head = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut body = Vec::new();
    for _ in 0..40 {
        body.extend_from_slice(b"8000\r\n");
        body.extend(std::iter::repeat_n(b' ', 0x8000));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let resp = send_while_reading(server.addr(), head, body, "POST", Duration::from_secs(10))
        .expect("a response");
    assert_problem(&resp, 413, "payload_too_large");
    assert!(resp.connection_close());
    assert_eq!(server.client().get("/healthz").status, 200);
}

// ---------------------------------------------------------------------------
// connections

#[test]
fn the_connection_cap_is_honoured_and_a_client_is_served_after() {
    // The real binary: its threads are counted in /proc.
    let server = TestServer::builder()
        .binary()
        .env("TENANTRY_HTTP_MAX_CONNECTIONS", "32")
        .start();
    let pid = server.pid().expect("pid");
    assert_eq!(server.client().get("/healthz").status, 200);
    let threads_before = threads(pid);
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(server.addr()).expect("connect"));
    }
    // Past the cap, connections are closed at once: most of the 200 see EOF promptly.
    // Kept fixed: "promptly" is what is tested (EOF within this pause plus a 100 ms read).
    let mut closed = 0;
    thread::sleep(Duration::from_millis(300));
    for mut s in &idle {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            _ => closed += 1,
        }
    }
    let thr = threads(pid);
    eprintln!("{closed} of 200 closed; threads {threads_before} -> {thr}");
    assert!(
        closed >= 160,
        "only {closed} of 200 connections past a cap of 32 were closed"
    );
    assert!(
        thr <= threads_before + 40,
        "threads {threads_before} -> {thr} with a cap of 32 connections"
    );
    drop(idle);
    let c = Client::new(server.addr()).with_timeout(Duration::from_secs(10));
    let served = |r: &std::io::Result<Response>| matches!(r, Ok(r) if r.status == 200);
    let last = poll_value_every(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || c.try_request("GET", "/healthz", &[], None),
        served,
    );
    assert!(
        served(&last),
        "not served within 20 s after the idle ones left: {last:?}"
    );
}

/// Every connection's thread handles its own requests, so a kept-alive connection keeps what
/// its thread touched: its stack and its allocator pages. With mimalloc's transparent huge
/// pages that was about 1 MiB a connection (2 000 connections that had made one request each:
/// RSS 1.9 GB, the release binary); without, about 0.1 MiB.
#[test]
fn kept_alive_connections_hold_little_memory_after_a_request() {
    // The real binary: its allocator is the one measured (in-process servers use the test
    // binary's).
    let server = TestServer::builder()
        .binary()
        .env("RUST_LOG", "warn")
        .start();
    let pid = server.pid().expect("pid");
    let mut warm = KeepAlive::connect(server.addr()).expect("connect");
    for _ in 0..20 {
        assert_eq!(warm.get("/login").expect("GET /login").status, 200);
    }
    let before = rss_kib(pid);
    const CONNS: u64 = 400;
    let mut kept = Vec::new();
    for i in 0..CONNS {
        let mut c = KeepAlive::connect(server.addr()).expect("connect");
        let r = c.get("/login").expect("GET /login");
        assert_eq!(r.status, 200, "connection {i}: {}", r.text());
        assert!(!c.is_closed(), "connection {i} was closed");
        kept.push(c);
    }
    let after = rss_kib(pid);
    let per = after.saturating_sub(before) / CONNS;
    eprintln!(
        "RSS {before} KiB -> {after} KiB with {CONNS} kept-alive connections ({per} KiB each)"
    );
    assert!(
        per < 384,
        "each kept-alive connection holds {per} KiB (RSS {before} -> {after} KiB)"
    );
    drop(kept);
}

// ---------------------------------------------------------------------------
// limiters

#[test]
fn sign_ins_with_1_mb_emails_do_not_hold_memory() {
    // Two workers: freed request buffers stay in at most two allocator arenas, so what
    // remains is what the server holds on to.
    let server = TestServer::builder()
        .env("RUST_LOG", "warn")
        .env("TENANTRY_HTTP_WORKERS", "2")
        .start();
    let pid = server.pid().expect("pid");
    let c = Client::new(server.addr()).with_timeout(Duration::from_secs(30));
    let attempt = |email: String| {
        let body = serde_json::json!({"email": email, "password": "wrong password 123"});
        c.try_request(
            "POST",
            "/api/v1/auth/login",
            &[("Content-Type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
        .expect("login answered")
    };
    // Warm up (the password hasher's memory, the allocator).
    for i in 0..5 {
        attempt(format!("w{i}{}", "w".repeat(1_000_000 - 10)));
    }
    let before = rss_kib(pid);
    for i in 0..25 {
        let r = attempt(format!("{i}{}", "e".repeat(1_000_000 - 10)));
        assert!(matches!(r.status, 401 | 429 | 422 | 400), "{}", r.status);
    }
    let after = rss_kib(pid);
    eprintln!("RSS {before} KiB -> {after} KiB after 25 sign-ins with 1 MB emails");
    assert!(
        after.saturating_sub(before) < 16 * 1024,
        "RSS grew {} KiB: the throttle holds the raw 1 MB keys",
        after.saturating_sub(before)
    );
}

// ---------------------------------------------------------------------------
// timing

/// Mann-Whitney U test, normal approximation: the z score of "`a` tends to be larger than
/// `b`" (ties count half).
fn mann_whitney_z(a: &[f64], b: &[f64]) -> f64 {
    let mut u = 0.0;
    for x in a {
        for y in b {
            u += if x > y {
                1.0
            } else if x == y {
                0.5
            } else {
                0.0
            };
        }
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let mean = n1 * n2 / 2.0;
    let sd = (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt();
    (u - mean) / sd
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

// SPEC §7: a reset request for an existing account used to take 0.65 ms against
// 0.24 ms for an unknown address (disjoint distributions). Both now take the same path.
#[test]
fn password_reset_request_timing_does_not_reveal_accounts() {
    let mut server = TestServer::builder().env("RUST_LOG", "warn").start();
    let mut admin = server.bootstrap_admin();
    let known: Vec<String> = (0..4)
        .map(|i| format!("timing-known-{i}@example.test"))
        .collect();
    for email in &known {
        let r = admin.post_json(
            "/api/v1/users",
            &serde_json::json!({"email": email, "name": "Known", "password": "a long enough password 1!"}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let (mut t_known, mut t_unknown) = (Vec::new(), Vec::new());
    let mut n = 0;
    // The throttles allow 30 requests per client and 5 per address until they lock (and a
    // restart clears them): 3 rounds of 14 + 14, interleaved so machine noise hits both.
    for round in 0..3 {
        if round > 0 {
            server.restart();
        }
        let c = Client::new(server.addr()).with_timeout(Duration::from_secs(10));
        let time = |email: &str| {
            let body = serde_json::json!({ "email": email }).to_string();
            let t = Instant::now();
            let r = c
                .try_request(
                    "POST",
                    "/api/v1/auth/password-reset",
                    &[("Content-Type", "application/json")],
                    Some(body.as_bytes()),
                )
                .expect("answered");
            let dt = t.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(r.status, 202, "{}", r.text());
            dt
        };
        for i in 0..14 {
            n += 1;
            let unknown = format!("timing-unknown-{n}@example.test");
            // Each side goes first in half the pairs, so an order effect (the pair's first
            // request paying for something the second does not) weighs on both alike.
            if i % 2 == 0 {
                t_known.push(time(&known[i % known.len()]));
                t_unknown.push(time(&unknown));
            } else {
                t_unknown.push(time(&unknown));
                t_known.push(time(&known[i % known.len()]));
            }
        }
    }
    let z = mann_whitney_z(&t_known, &t_unknown);
    let (mk, mu) = (median(&t_known), median(&t_unknown));
    let ratio = mk / mu;
    eprintln!(
        "reset request: known median {mk:.3} ms, unknown median {mu:.3} ms, ratio {ratio:.2}, \
         Mann-Whitney z {z:.2} ({} + {} samples)",
        t_known.len(),
        t_unknown.len()
    );
    // Fails only when the two are both clearly separated (rank test) and far apart (medians):
    // the old path showed disjoint samples and a ratio near 2.7.
    assert!(
        z.abs() < 3.0 || (0.67..1.5).contains(&ratio),
        "existing and unknown addresses are told apart by timing: medians {mk:.3} vs {mu:.3} ms, z {z:.2}"
    );
    // The work still happens, after the answer: the known accounts get reset emails, the
    // unknown addresses none.
    let db = rusqlite::Connection::open(server.data_dir().join("tenantry.db")).unwrap();
    let count = |pattern: &str| -> i64 {
        db.query_row(
            "SELECT count(*) FROM outbox WHERE template = 'password_reset' AND recipient LIKE ?1",
            [pattern],
            |r| r.get(0),
        )
        .unwrap()
    };
    wait_until(
        Duration::from_secs(20),
        "reset emails for the 12 known accounts",
        || count("timing-known-%") >= 12,
    );
    assert_eq!(count("timing-unknown-%"), 0);
}

// A client trickling its body must not hold a request worker. Before, as many
// stalled bodies as workers blocked every other client until the read deadline.
#[test]
fn stalled_bodies_do_not_hold_the_workers() {
    let server = TestServer::builder()
        .env("TENANTRY_HTTP_WORKERS", "2")
        .env("TENANTRY_HTTP_READ_TIMEOUT_SECS", "30")
        .env("TENANTRY_HTTP_REQUEST_TIMEOUT_SECS", "30")
        .start();
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.write_all(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{")
            .unwrap();
        stalled.push(s);
    }
    // Kept fixed: let the stalled requests reach the server (a stalled client shows nothing
    // to wait for) before the others are sent.
    thread::sleep(Duration::from_millis(300));
    // Every one of these would wait for a 30 s deadline if the stalled bodies held the two
    // workers; a generous 10 s client timeout tells the two apart without timing anything.
    let c = Client::new(server.addr()).with_timeout(Duration::from_secs(10));
    for i in 0..5 {
        let r = c
            .try_request("GET", "/healthz", &[], None)
            .unwrap_or_else(|e| panic!("healthz {i} while bodies stall: {e}"));
        assert_eq!(r.status, 200);
    }
    // A body that completes is still served.
    for s in &mut stalled[..2] {
        let mut rest = vec![b' '; 4998];
        rest.push(b'}');
        s.write_all(&rest).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert!(
            head.starts_with(b"HTTP/1.1 4"),
            "{:?}",
            String::from_utf8_lossy(&head)
        );
    }
}

// ---------------------------------------------------------------------------
// descriptor exhaustion: the accept loop survives it
//
// When the process runs out of file descriptors (`accept` fails with EMFILE, or a socket
// cannot be cloned), the patched tiny_http logs it and retries instead of ending (0.12.0's
// accept thread panicked and the server stopped accepting for good), and serves new
// connections again once descriptors are free.

fn set_nofile(pid: u32, n: u64) {
    let st = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={n}:{n}")])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(st.success(), "prlimit failed");
}

#[test]
fn accept_loop_recovers_after_descriptor_exhaustion() {
    let server = TestServer::builder().env("RUST_LOG", "warn").start();
    let pid = server.pid().expect("server pid");
    let client = server.client();
    assert_eq!(client.get("/healthz").status, 200);

    // Leave room for a few connections only, then open many more and keep them open.
    let base = open_fds(pid);
    set_nofile(pid, base + 8);
    let mut idle = Vec::new();
    for _ in 0..40 {
        if let Ok(s) = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(1)) {
            idle.push(s);
        }
    }
    // Wait until accepting has failed for lack of descriptors.
    let log = poll_value(
        Duration::from_secs(20),
        || server.stderr_text(),
        |log| log.contains("Too many open files"),
    );
    assert!(
        log.contains("Too many open files"),
        "accepting never failed within 20 s; stderr:\n{log}"
    );

    // Free the descriptors: the server must serve new connections again.
    drop(idle);
    let mut in_a_row = 0;
    let ok_in_a_row = poll_value(
        Duration::from_secs(30),
        || {
            let c = server.client().with_timeout(Duration::from_secs(2));
            match c.try_request("GET", "/healthz", &[], None) {
                Ok(r) if r.status == 200 => in_a_row += 1,
                _ => in_a_row = 0,
            }
            in_a_row
        },
        |n| *n >= 5,
    );
    assert_eq!(
        ok_in_a_row,
        5,
        "no recovery (5 answers in a row) within 30 s after the accept thread died; stderr:\n{}",
        server.stderr_text()
    );
}
