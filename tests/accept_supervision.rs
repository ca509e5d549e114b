//! The accept loop survives descriptor exhaustion: when the process runs out of file
//! descriptors (`accept` fails with EMFILE, or a socket cannot be cloned), the patched
//! tiny_http logs it and retries instead of ending (0.12.0's accept thread panicked and the
//! server stopped accepting for good), and serves new connections again once descriptors are
//! free.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::TestServer;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn set_nofile(pid: u32, n: usize) {
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.stderr_text().contains("Too many open files") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = server.stderr_text();
    assert!(
        log.contains("Too many open files"),
        "accepting never failed; stderr:\n{log}"
    );

    // Free the descriptors: the server must serve new connections again.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ok_in_a_row = 0;
    while ok_in_a_row < 5 && Instant::now() < deadline {
        let c = server.client().with_timeout(Duration::from_secs(2));
        match c.try_request("GET", "/healthz", &[], None) {
            Ok(r) if r.status == 200 => ok_in_a_row += 1,
            _ => {
                ok_in_a_row = 0;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    assert_eq!(
        ok_in_a_row,
        5,
        "no recovery after the accept thread died; stderr:\n{}",
        server.stderr_text()
    );
}
