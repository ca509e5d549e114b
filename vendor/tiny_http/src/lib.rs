//! # Simple usage
//!
//! ## Creating the server
//!
//! The easiest way to create a server is to call `Server::http()`.
//!
//! The `http()` function returns an `IoResult<Server>` which will return an error
//! in the case where the server creation fails (for example if the listening port is already
//! occupied).
//!
//! ```no_run
//! let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! ```
//!
//! A newly-created `Server` will immediately start listening for incoming connections and HTTP
//! requests.
//!
//! ## Receiving requests
//!
//! Calling `server.recv()` will block until the next request is available.
//! This function returns an `IoResult<Request>`, so you need to handle the possible errors.
//!
//! ```no_run
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//!
//! loop {
//!     // blocks until the next request is received
//!     let request = match server.recv() {
//!         Ok(rq) => rq,
//!         Err(e) => { println!("error: {}", e); break }
//!     };
//!
//!     // do something with the request
//!     // ...
//! }
//! ```
//!
//! In a real-case scenario, you will probably want to spawn multiple worker tasks and call
//! `server.recv()` on all of them. Like this:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::thread;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! let server = Arc::new(server);
//! let mut guards = Vec::with_capacity(4);
//!
//! for _ in (0 .. 4) {
//!     let server = server.clone();
//!
//!     let guard = thread::spawn(move || {
//!         loop {
//!             let rq = server.recv().unwrap();
//!
//!             // ...
//!         }
//!     });
//!
//!     guards.push(guard);
//! }
//! ```
//!
//! If you don't want to block, you can call `server.try_recv()` instead.
//!
//! ## Handling requests
//!
//! The `Request` object returned by `server.recv()` contains informations about the client's request.
//! The most useful methods are probably `request.method()` and `request.url()` which return
//! the requested method (`GET`, `POST`, etc.) and url.
//!
//! To handle a request, you need to create a `Response` object. See the docs of this object for
//! more infos. Here is an example of creating a `Response` from a file:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! ```
//!
//! All that remains to do is call `request.respond()`:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! # let request = server.recv().unwrap();
//! # let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! let _ = request.respond(response);
//! ```
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![allow(clippy::match_like_matches_macro)]

#[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
use zeroize::Zeroizing;

use std::error::Error;
use std::io::Error as IoError;
use std::io::ErrorKind as IoErrorKind;
use std::io::Result as IoResult;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use client::ClientConnection;
use connection::Connection;
use util::MessagesQueue;

pub use common::{HTTPVersion, Header, HeaderField, Method, StatusCode};
pub use connection::{ConfigListenAddr, ListenAddr, Listener};
pub use request::{ByteBudget, ReadWrite, Request};
pub use response::{Response, ResponseBox};
pub use test::TestRequest;

mod client;
mod common;
mod connection;
mod request;
mod response;
mod ssl;
mod test;
mod util;

/// The main class of this library.
///
/// Destroying this object will immediately close the listening socket and the reading
///  part of all the client's connections. Requests that have already been returned by
///  the `recv()` function will not close and the responses will be transferred to the client.
pub struct Server {
    // should be false as long as the server exists
    // when set to true, all the subtasks will close within a few hundreds ms
    close: Arc<AtomicBool>,

    // queue for messages received by child threads
    messages: Arc<MessagesQueue<Message>>,

    // result of TcpListener::local_addr()
    listening_addr: ListenAddr,

    // PATCH(limits): open connections, and connections refused at the cap
    open: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    // PATCH(metrics): connections closed with 408 because a deadline passed
    deadline_closes: Arc<AtomicUsize>,
}

/// PATCH(limits): limits applied to every connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes of request line + headers buffered per request; past it: 431 and close.
    pub max_header_bytes: usize,
    /// Open connections; past it a new connection is closed at accept.
    pub max_connections: usize,
    /// Socket read timeout (each read; an idle or silent connection gets 408 and is closed).
    pub read_timeout: Option<Duration>,
    /// Socket write timeout (a client that does not read its response).
    pub write_timeout: Option<Duration>,
    /// Time from a request's first byte to the end of its header; past it: 408 and close.
    pub header_timeout: Option<Duration>,
    /// Stack size of a connection thread (it only parses request heads).
    pub connection_stack: usize,
    /// Bodies up to this size (and this much of a chunked body, plus one byte) are read by
    /// the connection thread before the request is queued, so workers never wait on a
    /// slow client.
    pub prefetch_body_bytes: usize,
    /// Bytes held in prefetched bodies across all connections, at most (None: unbounded).
    pub prefetch_budget: Option<Arc<ByteBudget>>,
    /// Time from the end of the header to the end of a prefetched body; past it: 408.
    pub body_timeout: Option<Duration>,
    /// PATCH(metrics): counts connections closed with 408 (header, idle or body deadline);
    /// read through `Server::deadline_closes`.
    pub deadline_closes: Arc<AtomicUsize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 32 * 1024,
            max_connections: 4096,
            read_timeout: None,
            write_timeout: None,
            header_timeout: None,
            connection_stack: 256 * 1024,
            prefetch_body_bytes: 1024,
            prefetch_budget: None,
            body_timeout: None,
            deadline_closes: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// PATCH(inline): a request handler run on the connection's own thread
/// (`Server::from_listener_with_handler`).
pub type Handler = Arc<dyn Fn(Request) + Send + Sync>;

/// Counts an open connection for as long as it lives.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(n: Arc<AtomicUsize>) -> Self {
        n.fetch_add(1, SeqCst);
        OpenGuard(n)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

enum Message {
    Error(IoError),
    NewRequest(Request),
}

impl From<IoError> for Message {
    fn from(e: IoError) -> Message {
        Message::Error(e)
    }
}

impl From<Request> for Message {
    fn from(rq: Request) -> Message {
        Message::NewRequest(rq)
    }
}

// this trait is to make sure that Server implements Share and Send
#[doc(hidden)]
#[allow(dead_code)]
trait MustBeShareDummy: Sync + Send {}
#[doc(hidden)]
impl MustBeShareDummy for Server {}

pub struct IncomingRequests<'a> {
    server: &'a Server,
}

/// Represents the parameters required to create a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The addresses to try to listen to.
    pub addr: ConfigListenAddr,

    /// If `Some`, then the server will use SSL to encode the communications.
    pub ssl: Option<SslConfig>,
}

/// Configuration of the server for SSL.
#[derive(Debug, Clone)]
pub struct SslConfig {
    /// Contains the public certificate to send to clients.
    pub certificate: Vec<u8>,
    /// Contains the ultra-secret private key used to decode communications.
    pub private_key: Vec<u8>,
}

impl Server {
    /// Shortcut for a simple server on a specific address.
    #[inline]
    pub fn http<A>(addr: A) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::from_socket_addrs(addr)?,
            ssl: None,
        })
    }

    /// Shortcut for an HTTPS server on a specific address.
    #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
    #[inline]
    pub fn https<A>(
        addr: A,
        config: SslConfig,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::from_socket_addrs(addr)?,
            ssl: Some(config),
        })
    }

    #[cfg(unix)]
    #[inline]
    /// Shortcut for a UNIX socket server at a specific path
    pub fn http_unix(
        path: &std::path::Path,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::unix_from_path(path),
            ssl: None,
        })
    }

    /// Builds a new server that listens on the specified address.
    pub fn new(config: ServerConfig) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let listener = config.addr.bind()?;
        Self::from_listener(listener, config.ssl)
    }

    /// Builds a new server using the specified TCP listener.
    ///
    /// This is useful if you've constructed TcpListener using some less usual method
    /// such as from systemd. For other cases, you probably want the `new()` function.
    pub fn from_listener<L: Into<Listener>>(
        listener: L,
        ssl_config: Option<SslConfig>,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Self::from_listener_with_limits(listener, ssl_config, Limits::default())
    }

    /// PATCH(limits): like `from_listener`, with per-connection limits.
    pub fn from_listener_with_limits<L: Into<Listener>>(
        listener: L,
        ssl_config: Option<SslConfig>,
        limits: Limits,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Self::start(listener.into(), ssl_config, limits, None)
    }

    /// PATCH(inline): like `from_listener_with_limits`, but every request is handed to
    /// `handler` on its connection's own thread, in order, instead of being queued for
    /// `recv`: the thread that parsed a request runs its handler and writes its answer, so
    /// a request costs no hand-off between threads. The next request on the connection is
    /// read once the handler returns. Bounding how many handlers run at once is the
    /// handler's business (a connection thread exists per open connection, up to
    /// `Limits::max_connections`). `recv` and friends never return a request from such a
    /// server.
    pub fn from_listener_with_handler<L: Into<Listener>>(
        listener: L,
        limits: Limits,
        handler: Handler,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Self::start(listener.into(), None, limits, Some(handler))
    }

    fn start(
        listener: Listener,
        ssl_config: Option<SslConfig>,
        limits: Limits,
        handler: Option<Handler>,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        // building the "close" variable
        let close_trigger = Arc::new(AtomicBool::new(false));

        // building the TcpListener
        let (server, local_addr) = {
            let local_addr = listener.local_addr()?;
            log::debug!("Server listening on {}", local_addr);
            (listener, local_addr)
        };

        // building the SSL capabilities
        #[cfg(all(feature = "ssl-openssl", feature = "ssl-rustls"))]
        compile_error!(
            "Features 'ssl-openssl' and 'ssl-rustls' must not be enabled at the same time"
        );
        #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
        type SslContext = ();
        #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
        type SslContext = crate::ssl::SslContextImpl;
        let ssl: Option<SslContext> = {
            match ssl_config {
                #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
                Some(config) => Some(SslContext::from_pem(
                    config.certificate,
                    Zeroizing::new(config.private_key),
                )?),
                #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
                Some(_) => return Err(
                    "Building a server with SSL requires enabling the `ssl` feature in tiny-http"
                        .into(),
                ),
                None => None,
            }
        };

        let messages = MessagesQueue::with_capacity(8);
        let open = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let deadline_closes = limits.deadline_closes.clone();

        let inside_close_trigger = close_trigger.clone();
        let inside_messages = messages.clone();
        let inside_open = open.clone();
        let inside_refused = refused.clone();
        // PATCH(accept): one accept thread, and one thread per connection for the
        // connection's life, started at accept. 0.12.0 handed connections to a task pool
        // whose idle-thread count was read stale under bursts, so connections queued behind
        // keep-alive connections that never ended. Past `max_connections`, a new connection
        // is closed at once, before any thread or buffer is spent on it. An accept error
        // (out of descriptors, a connection reset while queued) is logged and retried after
        // a pause: the accept thread never ends before the server does.
        thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || {
                log::debug!("Running accept thread");
                let mut last_error_log: Option<std::time::Instant> = None;
                while !inside_close_trigger.load(Relaxed) {
                    let (sock, _) = match server.accept() {
                        Ok(s) => s,
                        Err(e) => {
                            if inside_close_trigger.load(Relaxed) {
                                break;
                            }
                            // At most one line a second while, say, descriptors run out.
                            if last_error_log.map_or(true, |t| t.elapsed() >= Duration::from_secs(1)) {
                                log::error!("Error accepting new client: {} (retrying)", e);
                                last_error_log = Some(std::time::Instant::now());
                            }
                            thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    };
                    if inside_open.load(SeqCst) >= limits.max_connections {
                        inside_refused.fetch_add(1, Relaxed);
                        drop(sock);
                        continue;
                    }
                    let _ = sock.set_read_timeout(limits.read_timeout);
                    let _ = sock.set_write_timeout(limits.write_timeout);
                    let control = sock.try_clone().ok();
                    use util::RefinedTcpStream;
                    let (read_closable, write_closable) = match ssl {
                        None => match RefinedTcpStream::new(sock) {
                            Ok(pair) => pair,
                            Err(e) => {
                                log::error!("Error accepting new client: {}", e);
                                continue;
                            }
                        },
                        #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
                        Some(ref ssl) => {
                            let sock = match ssl.accept(sock) {
                                Ok(s) => s,
                                Err(_) => continue,
                            };
                            match RefinedTcpStream::new(sock) {
                                Ok(pair) => pair,
                                Err(_) => continue,
                            }
                        }
                        #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
                        Some(ref _ssl) => unreachable!(),
                    };
                    let client = ClientConnection::with_limits(
                        write_closable,
                        read_closable,
                        limits.clone(),
                        control,
                    );
                    let messages = inside_messages.clone();
                    let handler = handler.clone();
                    let guard = OpenGuard::new(inside_open.clone());
                    let spawned = thread::Builder::new()
                        .name("http-conn".into())
                        .stack_size(limits.connection_stack)
                        .spawn(move || {
                            let _guard = guard;
                            if let Some(handler) = handler {
                                for rq in client {
                                    handler(rq);
                                }
                            } else if client.secure() {
                                let (sender, receiver) = mpsc::channel();
                                for rq in client {
                                    messages.push(rq.with_notify_sender(sender.clone()).into());
                                    if receiver.recv().is_err() {
                                        break;
                                    }
                                }
                            } else {
                                for rq in client {
                                    messages.push(rq.into());
                                }
                            }
                        });
                    if let Err(e) = spawned {
                        // The closure (and so the connection and its guard) is dropped.
                        log::error!("cannot start a connection thread: {}", e);
                    }
                }
                log::debug!("Terminating accept thread");
            })?;

        // result
        Ok(Server {
            messages,
            close: close_trigger,
            listening_addr: local_addr,
            open,
            refused,
            deadline_closes,
        })
    }

    /// Returns an iterator for all the incoming requests.
    ///
    /// The iterator will return `None` if the server socket is shutdown.
    #[inline]
    pub fn incoming_requests(&self) -> IncomingRequests<'_> {
        IncomingRequests { server: self }
    }

    /// Returns the address the server is listening to.
    #[inline]
    pub fn server_addr(&self) -> ListenAddr {
        self.listening_addr.clone()
    }

    /// Returns the number of clients currently connected to the server.
    ///
    /// PATCH(limits): implemented (0.12.0 panicked with `unimplemented!`).
    pub fn num_connections(&self) -> usize {
        self.open.load(SeqCst)
    }

    /// PATCH(limits): connections closed at accept because `max_connections` were open.
    pub fn refused_connections(&self) -> usize {
        self.refused.load(Relaxed)
    }

    /// PATCH(metrics): connections closed with 408 because a header, idle or body deadline
    /// passed.
    pub fn deadline_closes(&self) -> usize {
        self.deadline_closes.load(Relaxed)
    }

    /// Blocks until an HTTP request has been submitted and returns it.
    pub fn recv(&self) -> IoResult<Request> {
        match self.messages.pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(rq),
            None => Err(IoError::new(IoErrorKind::Other, "thread unblocked")),
        }
    }

    /// Same as `recv()` but doesn't block longer than timeout
    pub fn recv_timeout(&self, timeout: Duration) -> IoResult<Option<Request>> {
        match self.messages.pop_timeout(timeout) {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Same as `recv()` but doesn't block.
    pub fn try_recv(&self) -> IoResult<Option<Request>> {
        match self.messages.try_pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Unblock thread stuck in recv() or incoming_requests().
    /// If there are several such threads, only one is unblocked.
    /// This method allows graceful shutdown of server.
    pub fn unblock(&self) {
        self.messages.unblock();
    }
}

impl Iterator for IncomingRequests<'_> {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        self.server.recv().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close.store(true, Relaxed);
        // Connect briefly to ourselves to unblock the accept thread
        let maybe_stream = match &self.listening_addr {
            ListenAddr::IP(addr) => TcpStream::connect(addr).map(Connection::from),
            #[cfg(unix)]
            ListenAddr::Unix(addr) => {
                // TODO: use connect_addr when its stabilized.
                let path = addr.as_pathname().unwrap();
                std::os::unix::net::UnixStream::connect(path).map(Connection::from)
            }
        };
        if let Ok(stream) = maybe_stream {
            let _ = stream.shutdown(Shutdown::Both);
        }

        #[cfg(unix)]
        if let ListenAddr::Unix(addr) = &self.listening_addr {
            if let Some(path) = addr.as_pathname() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}
