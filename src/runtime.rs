//! The serving lifecycle as a library call: [`run`] starts everything a server needs on a
//! bound listener (the HTTP workers, the email, password-reset and API-key-usage workers, the
//! janitor) and returns a [`Handle`]; stopping the handle finishes in-flight requests and joins
//! the workers. `tenantry serve` is this plus signals and the start-up lines on stdout; tests
//! start servers in-process the same way.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{Checkpoints, Config};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::service::{self, Context};
use crate::store::DataDirLock;

/// Where the running server records the public URL it builds links with (CLI commands that
/// queue email read it).
pub const PUBLIC_URL_SETTING: &str = "public_url";

/// A running server. Dropping it stops the server and waits for its workers.
pub struct Handle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    setup_token: Option<Secret>,
    context: Arc<Context>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    served: Option<JoinHandle<std::io::Result<()>>>,
    _lock: DataDirLock,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("addr", &self.addr)
            .field("public_url", &self.context.public_url)
            .finish_non_exhaustive()
    }
}

/// Serves `config` on `listener` until the returned handle is stopped (or dropped). Takes the
/// data directory's lock first, so a second server on the same directory is refused.
pub fn run(listener: TcpListener, config: Config) -> Result<Handle> {
    let lock = DataDirLock::acquire(&config.data_dir)?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let metrics_listener =
        match config.metrics_listen {
            Some(at) => Some(TcpListener::bind(at).map_err(|e| {
                Error::Config(format!("cannot listen on {at} (metrics.listen): {e}"))
            })?),
            None => None,
        };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr().map_err(Error::internal)?),
        None => None,
    };
    let context = Arc::new(crate::app::open_with_plugins(config, addr)?);
    context.store.write(|tx| {
        tx.set_instance_setting(PUBLIC_URL_SETTING, &context.public_url, service::now())
    })?;
    let setup_token = service::setup::issue_token_if_needed(&context)?;
    log::info!("serving on {addr} (public URL {})", context.public_url);
    context.store.defer_checkpoints()?;
    if context.config.checkpoints == Checkpoints::External {
        log::info!(
            "WAL checkpoints are left to another process (database.checkpoints = external, e.g. Litestream)"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(Error::internal)
    };
    let (c, s) = (context.clone(), stop.clone());
    threads.push(spawn("janitor", Box::new(move || janitor(&c, &s)))?);
    let (c, s) = (context.clone(), stop.clone());
    threads.push(spawn(
        "key-usage",
        Box::new(move || flush_key_usage(&c, &s)),
    )?);
    if let Some(mailer) = service::mail::spawn_worker(context.clone(), stop.clone())? {
        threads.push(mailer);
    }
    let (c, s) = (context.clone(), stop.clone());
    let served = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || crate::http::serve(c, listener, metrics_listener, s))
        .map_err(Error::internal)?;
    context.doorbell.ring();
    Ok(Handle {
        addr,
        metrics_addr,
        setup_token,
        context,
        stop,
        threads,
        served: Some(served),
        _lock: lock,
    })
}

impl Handle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the separate `/metrics` listener, when `metrics.listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The base URL of every absolute link the server builds.
    pub fn public_url(&self) -> &str {
        &self.context.public_url
    }

    /// The one-time setup token, when the instance had no admin at start.
    pub fn setup_token(&self) -> Option<&Secret> {
        self.setup_token.as_ref()
    }

    /// The flag that stops the server when set (for signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Waits until the stop flag is set (by a signal or [`Handle::stop`] from another
    /// thread), then shuts down like [`Handle::stop`].
    pub fn wait(mut self) -> Result<()> {
        self.finish()
    }

    /// Stops the server: in-flight requests finish, workers are joined, pending API-key usage
    /// is written.
    pub fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        let Some(served) = self.served.take() else {
            return Ok(());
        };
        let served = served
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the HTTP server panicked")));
        // The HTTP server returns once the flag is set; make sure the rest sees it too.
        self.stop.store(true, Ordering::Relaxed);
        self.context.doorbell.ring();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Err(e) = self.context.keys.flush(&self.context.store) {
            log::error!("final API key usage flush failed: {e}");
        }
        served.map_err(Error::internal)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(e) = self.finish() {
            log::error!("server stopped with an error: {e}");
        }
    }
}

/// How often the workers without a doorbell look at the stop flag.
const TICK: Duration = Duration::from_millis(200);

/// Periodic housekeeping: WAL checkpoints every second (unless another process owns them),
/// expired sessions every 10 minutes.
fn janitor(context: &Context, stop: &AtomicBool) {
    let own_checkpoints = context.config.checkpoints == Checkpoints::Server;
    let ticks_per_second = (Duration::from_secs(1).as_millis() / TICK.as_millis()) as u64;
    let mut ticks = 0u64;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        ticks += 1;
        if !ticks.is_multiple_of(ticks_per_second) {
            continue;
        }
        let seconds = ticks / ticks_per_second;
        if own_checkpoints {
            if let Err(e) = context.store.checkpoint() {
                log::warn!("WAL checkpoint failed (will retry): {e}");
            }
        } else if seconds % 300 == 1 {
            context.store.warn_if_wal_is_large();
        }
        if seconds % 600 == 1 {
            let now = service::now();
            let idle = context.config.session_idle_secs;
            if let Err(e) = context
                .store
                .write(|tx| tx.purge_expired_sessions(now, idle))
            {
                log::warn!("session purge failed: {e}");
            }
        }
    }
}

/// Writes the API keys' usage counters to the database when due.
fn flush_key_usage(context: &Context, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        if let Err(e) = context.keys.flush_if_due(&context.store) {
            log::warn!("API key usage flush failed (will retry): {e}");
        }
    }
}
