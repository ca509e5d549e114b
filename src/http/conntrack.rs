//! Connection deadlines that tiny_http 0.12 does not have.
//!
//! tiny_http owns every accepted socket, sets no timeouts and reads a request header for as
//! long as the client keeps sending, so a silent or trickling client would hold a connection
//! forever. This watchdog enforces two deadlines from the outside:
//!
//! - **header / idle deadline** (`http.read_timeout_secs`): a connection that has not delivered
//!   a complete request header within this time since it was accepted, or since its previous
//!   response, is shut down. This covers silent clients, byte-a-second header tricklers and idle
//!   keep-alive connections alike (like nginx's `client_header_timeout` + `keepalive_timeout`);
//! - **request deadline** (`http.request_timeout_secs`): a request whose body read and response
//!   write are not finished in this time (a trickled body, a client that never reads) is shut
//!   down.
//!
//! Workers report request start and end by peer address ([`ConnTracker::begin`] /
//! [`ConnTracker::end`]). Every 50 ms the watchdog lists this process's sockets that were
//! accepted on our port (`/proc/self/fd` + `getsockname`/`getpeername`), and calls
//! `shutdown(2)` on those past a deadline; tiny_http then sees end-of-stream and drops the
//! connection. An fd can be closed and reused between the listing and the shutdown; the peer
//! address is checked again right before shutting down so a reused fd is left alone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{getpeername, getsockname, shutdown, Shutdown, SockaddrStorage};

const SHARDS: usize = 16;

#[derive(Clone, Copy, Debug)]
struct State {
    /// When the watchdog first saw the connection, or when its last response finished.
    idle_since: Instant,
    /// When the request in progress started, if any.
    busy_since: Option<Instant>,
    /// Whether any request has come in on this connection.
    served: bool,
}

/// Shared per-connection state, keyed by the client's address (unique per TCP connection).
#[derive(Debug)]
pub struct ConnTracker {
    port: u16,
    header_timeout: Duration,
    request_timeout: Duration,
    shards: Vec<Mutex<HashMap<SocketAddr, State>>>,
    closed_by_deadline: std::sync::atomic::AtomicU64,
    starving: std::sync::atomic::AtomicUsize,
    stalled_since: Mutex<Option<Instant>>,
    accept_stalled: AtomicBool,
    sweeps: std::sync::atomic::AtomicU64,
    last_new_conn: Mutex<Instant>,
    saw_new_conn: AtomicBool,
}

/// Connections waiting in the kernel's accept queue this long mean nobody is accepting.
const ACCEPT_STALL: Duration = Duration::from_secs(1);

/// Length of the accept queue of the TCP socket listening on `port` (Linux: the `rx_queue`
/// of the LISTEN row in `/proc/net/tcp{,6}`), or `None` when it cannot be read.
fn accept_queue_len(port: u16) -> Option<usize> {
    let mut found = None;
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 || f[3] != "0A" {
                continue;
            }
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port != Some(port) {
                continue;
            }
            let rx = f[4]
                .split(':')
                .nth(1)
                .and_then(|q| usize::from_str_radix(q, 16).ok())?;
            found = Some(found.unwrap_or(0) + rx);
        }
    }
    found
}

/// A connection accepted this long ago without a first request counts as waiting.
const WAITING: Duration = Duration::from_millis(40);

fn shard_of(addr: &SocketAddr) -> usize {
    (addr.port() as usize) % SHARDS
}

impl ConnTracker {
    /// A tracker for sockets accepted on local `port`.
    pub fn new(port: u16, header_timeout: Duration, request_timeout: Duration) -> Arc<Self> {
        Arc::new(ConnTracker {
            port,
            header_timeout,
            request_timeout,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            closed_by_deadline: Default::default(),
            starving: Default::default(),
            stalled_since: Mutex::new(None),
            accept_stalled: AtomicBool::new(false),
            sweeps: Default::default(),
            last_new_conn: Mutex::new(Instant::now()),
            saw_new_conn: AtomicBool::new(false),
        })
    }

    /// A request from `peer` is being handled.
    pub fn begin(&self, peer: SocketAddr) {
        let now = Instant::now();
        let mut shard = self.shards[shard_of(&peer)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        shard
            .entry(peer)
            .and_modify(|s| {
                s.busy_since = Some(now);
                s.served = true;
            })
            .or_insert_with(|| {
                self.saw_new_conn.store(true, Ordering::Relaxed);
                State {
                    idle_since: now,
                    busy_since: Some(now),
                    served: true,
                }
            });
    }

    /// The response to `peer` has been written; the idle deadline starts again.
    pub fn end(&self, peer: SocketAddr) {
        let now = Instant::now();
        let mut shard = self.shards[shard_of(&peer)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(s) = shard.get_mut(&peer) {
            s.busy_since = None;
            s.idle_since = now;
        }
    }

    /// Shuts down the receiving side of `peer`'s socket now (used after refusing a body we
    /// will not read, so nothing waits for the rest of it).
    pub fn shutdown_read(&self, peer: SocketAddr) {
        for (fd, addr) in self.accepted_sockets() {
            if addr == peer {
                let _ = shutdown(fd, Shutdown::Read);
            }
        }
    }

    /// Takes one rotation when the last sweep saw connections waiting for their first
    /// request: closing one keep-alive connection frees a tiny_http thread for one of them.
    pub fn take_rotation(&self) -> bool {
        self.starving
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// True once (then reset) when connections have waited in the accept queue for
    /// [`ACCEPT_STALL`]: tiny_http's accept thread is gone (it can die by panicking, e.g. when
    /// the process runs out of file descriptors, without reporting an error).
    pub fn take_accept_stalled(&self) -> bool {
        self.accept_stalled.swap(false, Ordering::Relaxed)
    }

    fn check_accept_queue(&self, now: Instant) {
        let queued = accept_queue_len(self.port).unwrap_or(0);
        let mut since = self.stalled_since.lock().unwrap_or_else(|e| e.into_inner());
        if queued == 0 {
            *since = None;
            return;
        }
        let start = *since.get_or_insert(now);
        if now.duration_since(start) >= ACCEPT_STALL {
            *since = None;
            self.accept_stalled.store(true, Ordering::Relaxed);
        }
    }

    /// How many connections the watchdog has closed for missing a deadline.
    pub fn closed_by_deadline(&self) -> u64 {
        self.closed_by_deadline.load(Ordering::Relaxed)
    }

    fn accepted_sockets(&self) -> Vec<(RawFd, SocketAddr)> {
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
            return out;
        };
        for entry in dir.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<RawFd>().ok())
            else {
                continue;
            };
            if let Some(peer) = self.peer_of(fd) {
                out.push((fd, peer));
            }
        }
        out
    }

    fn peer_of(&self, fd: RawFd) -> Option<SocketAddr> {
        let local: SockaddrStorage = getsockname(fd).ok()?;
        let local_port = local
            .as_sockaddr_in()
            .map(|a| a.port())
            .or_else(|| local.as_sockaddr_in6().map(|a| a.port()))?;
        if local_port != self.port {
            return None;
        }
        let peer: SockaddrStorage = getpeername(fd).ok()?;
        if let Some(a) = peer.as_sockaddr_in() {
            Some(SocketAddr::from((a.ip(), a.port())))
        } else {
            peer.as_sockaddr_in6()
                .map(|a| SocketAddr::from((a.ip(), a.port())))
        }
    }

    /// One watchdog pass: forget closed connections, shut down those past a deadline.
    pub fn sweep(&self) {
        let now = Instant::now();
        let sockets = self.accepted_sockets();
        let mut live: HashMap<SocketAddr, Vec<RawFd>> = HashMap::new();
        for (fd, peer) in sockets {
            live.entry(peer).or_default().push(fd);
        }
        let mut expired = Vec::new();
        let mut waiting = 0usize;
        let mut new_peers = 0usize;
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.retain(|peer, _| live.contains_key(peer));
        }
        for (peer, fds) in &live {
            let mut shard = self.shards[shard_of(peer)]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let state = shard.entry(*peer).or_insert_with(|| {
                new_peers += 1;
                State {
                    idle_since: now,
                    busy_since: None,
                    served: false,
                }
            });
            // Accepted, seen by an earlier sweep, and still no request: most likely queued
            // inside tiny_http behind keep-alive connections (see `server`), not slow.
            if !state.served && now.duration_since(state.idle_since) >= WAITING {
                waiting += 1;
            }
            let late = match state.busy_since {
                Some(start) => now.duration_since(start) > self.request_timeout,
                None => now.duration_since(state.idle_since) > self.header_timeout,
            };
            if late {
                expired.push((*peer, fds.clone()));
            }
        }
        self.starving.store(waiting, Ordering::Relaxed);
        // The accept-queue check reads the network namespace's whole socket table (which
        // holds every TIME_WAIT socket of a busy host, and takes kernel locks the network
        // stack needs), so it runs only when no new connection has shown up for a second —
        // which is also exactly what a dead accept thread looks like — and at most every
        // 500 ms.
        if new_peers > 0 || self.saw_new_conn.swap(false, Ordering::Relaxed) {
            *self.last_new_conn.lock().unwrap_or_else(|e| e.into_inner()) = now;
        }
        let quiet = now
            .duration_since(*self.last_new_conn.lock().unwrap_or_else(|e| e.into_inner()))
            >= Duration::from_secs(1);
        if quiet && self.sweeps.fetch_add(1, Ordering::Relaxed) % 10 == 0 {
            self.check_accept_queue(now);
        }
        for (peer, fds) in expired {
            for fd in fds {
                // Re-check: the fd may have been closed and reused since the listing.
                if self.peer_of(fd) == Some(peer) {
                    let _ = shutdown(fd, Shutdown::Both);
                }
            }
            self.closed_by_deadline.fetch_add(1, Ordering::Relaxed);
            log::debug!("closed a connection that missed its deadline");
        }
    }

    /// Runs `sweep` every `interval` until `stop` is set.
    pub fn spawn_watchdog(self: &Arc<Self>, interval: Duration, stop: Arc<AtomicBool>) {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("conn-watchdog".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    me.sweep();
                }
            })
            .expect("spawn watchdog thread");
    }
}

impl ConnTracker {
    /// Shuts down both directions of `peer`'s socket now.
    pub fn shutdown_both(&self, peer: SocketAddr) {
        for (fd, addr) in self.accepted_sockets() {
            if addr == peer {
                let _ = shutdown(fd, Shutdown::Both);
            }
        }
    }
}
