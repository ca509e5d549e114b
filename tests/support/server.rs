//! Servers for integration tests: [`TestServer`] serves a throw-away data directory, in this
//! process through the library's [`tenantry::run`] (the default: no process start-up, no
//! stdout parsing), or as the real `tenantry` binary when a test needs a process — its logs,
//! stdout, pid, signals or `kill -9` ([`TestServerBuilder::binary`]; a builder that sets
//! `RUST_LOG` gets the binary too). [`BareHello`] runs `examples/bare_hello` (plain
//! tiny_http, the negative control).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::client::{Client, Session};

/// Printed by tenantry on stdout once bound (followed by the address).
pub const LISTENING_PREFIX: &str = "tenantry listening on http://";
/// Marker of the one-time setup link printed when no instance admin exists.
pub const SETUP_TOKEN_MARKER: &str = "/setup?token=";

pub const ADMIN_EMAIL: &str = "admin@example.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const ADMIN_NAME: &str = "Admin";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const SETUP_TOKEN_TIMEOUT: Duration = Duration::from_secs(2);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh, unique directory under `std::env::temp_dir()`.
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Stdout of the current child, collected line by line by a reader thread
/// (which also appends every line to a log file).
#[derive(Default)]
struct StdoutBuf {
    text: Mutex<(String, bool)>, // (text, eof)
    cond: Condvar,
}

impl StdoutBuf {
    fn spawn_reader(
        stdout: std::process::ChildStdout,
        mut log: File,
        echo_prefix: Option<String>,
    ) -> Arc<Self> {
        let buf = Arc::new(StdoutBuf::default());
        let b = Arc::clone(&buf);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = log.write_all(&line);
                        let text = String::from_utf8_lossy(&line);
                        if let Some(p) = &echo_prefix {
                            eprint!("{p}{text}");
                        }
                        let mut g = b.text.lock().unwrap();
                        g.0.push_str(&text);
                        b.cond.notify_all();
                    }
                }
            }
            let mut g = b.text.lock().unwrap();
            g.1 = true;
            b.cond.notify_all();
        });
        buf
    }

    /// Waits until `find` returns `Some` on the collected text, EOF, or timeout.
    fn wait_for<T>(&self, timeout: Duration, find: impl Fn(&str) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut g = self.text.lock().unwrap();
        loop {
            if let Some(v) = find(&g.0) {
                return Some(v);
            }
            let now = Instant::now();
            if g.1 || now >= deadline {
                return None;
            }
            g = self.cond.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    fn text(&self) -> String {
        self.text.lock().unwrap().0.clone()
    }
}

fn parse_listening(text: &str, prefix: &str) -> Option<SocketAddr> {
    text.lines().find_map(|l| {
        let rest = &l[l.find(prefix)? + prefix.len()..];
        rest.split(|c: char| c.is_whitespace() || c == '/')
            .next()?
            .parse()
            .ok()
    })
}

fn parse_setup_token(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = &l[l.find(SETUP_TOKEN_MARKER)? + SETUP_TOKEN_MARKER.len()..];
        let token: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '&' | '"' | '\'' | '>' | ')'))
            .collect();
        (!token.is_empty()).then_some(token)
    })
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(s: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(max_lines)..].join("\n")
}

/// Sends SIGTERM via the `kill` command (the crate forbids unsafe code, and
/// std has no signal API).
fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    if let Err(e) = status {
        panic!("failed to run `kill -TERM {pid}`: {e}");
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for child failed: {e}"),
        }
    }
}

/// Builder for [`TestServer`].
#[derive(Debug, Clone, Default)]
pub struct TestServerBuilder {
    envs: Vec<(String, String)>,
    args: Vec<String>,
    data_dir: Option<PathBuf>,
    keep: bool,
    echo: bool,
    localhost: Option<u16>,
    binary: bool,
    cold_plugin_cache: bool,
}

impl TestServerBuilder {
    /// Sets an environment variable for the child (overrides the defaults,
    /// e.g. `RUST_LOG`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.envs.retain(|(k, _)| *k != key);
        self.envs.push((key, value.into()));
        self
    }

    /// Extra argument appended after `serve --data-dir DIR --listen ADDR`.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Uses an existing data directory (never deleted by the harness).
    pub fn data_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(path.into());
        self
    }

    /// Keeps the temp directory (data + logs) after drop.
    pub fn keep(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Listens on a port chosen now, with `public_url = http://localhost:PORT` (a domain, as
    /// passkeys need); [`TestServer::base_url`] and sessions use that origin.
    pub fn localhost(mut self) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        self.localhost = Some(port);
        self.env("TENANTRY_PUBLIC_URL", format!("http://localhost:{port}"))
    }

    /// Runs the real `tenantry` binary as a child process instead of serving in this process:
    /// for tests of the process itself (logs, stdout, pid, signals, `kill -9`, exit status).
    pub fn binary(mut self) -> Self {
        self.binary = true;
        self
    }

    /// Starts with an empty plugin compile cache and keeps what it compiles to itself, for a
    /// test of the cache. Otherwise a server that loads plugins starts with the components
    /// this test run has already compiled (see [`super::plugins::seed_compile_cache`]).
    pub fn cold_plugin_cache(mut self) -> Self {
        self.cold_plugin_cache = true;
        self
    }

    /// The configuration file the server reads: `--config FILE` (relative to `root`, its
    /// working directory), `TENANTRY_CONFIG`, or `root/tenantry.toml`.
    fn config_file(&self, root: &Path) -> Option<PathBuf> {
        let flag = self.args.iter().position(|a| a == "--config");
        let env = self.envs.iter().find(|(k, _)| k == "TENANTRY_CONFIG");
        flag.and_then(|i| self.args.get(i + 1))
            .or(env.map(|(_, v)| v))
            .map(|f| root.join(f))
            .or_else(|| Some(root.join("tenantry.toml")).filter(|d| d.exists()))
    }

    /// Echoes the child's stdout lines to the test's stderr as they arrive.
    pub fn echo_stdout(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    pub fn start(self) -> TestServer {
        let root = unique_temp_dir("tenantry-test");
        let owns_data_dir = self.data_dir.is_none();
        let data_dir = self.data_dir.clone().unwrap_or_else(|| root.join("data"));
        fs::create_dir_all(&data_dir)
            .unwrap_or_else(|e| panic!("create data dir {}: {e}", data_dir.display()));
        let keep = self.keep || std::env::var_os("TENANTRY_TEST_KEEP").is_some();
        let binary = self.binary || self.envs.iter().any(|(k, _)| k == "RUST_LOG");
        let shares_compiled_plugins = !self.cold_plugin_cache
            && super::plugins::loads_plugins(self.config_file(&root).as_deref());
        if shares_compiled_plugins {
            super::plugins::seed_compile_cache(&data_dir);
        }
        let server = TestServer {
            binary,
            shares_compiled_plugins,
            builder: self,
            root,
            data_dir,
            owns_data_dir,
            keep: AtomicBool::new(keep),
            state: Mutex::new(State {
                child: None,
                in_process: None,
                stdout: Arc::new(StdoutBuf::default()),
                addr: None,
                starts: 0,
            }),
        };
        let listen = server
            .builder
            .localhost
            .map_or_else(|| "127.0.0.1:0".to_string(), |p| format!("127.0.0.1:{p}"));
        server.spawn(listen);
        server.keep_compiled_plugins();
        server
    }
}

/// Per-run state of a [`TestServer`] (behind a mutex so accessors such as
/// `addr()` and `setup_token()` stay `&self`).
struct State {
    child: Option<Child>,
    in_process: Option<tenantry::Handle>,
    stdout: Arc<StdoutBuf>,
    addr: Option<SocketAddr>,
    starts: usize,
}

/// A tenantry server on `127.0.0.1:0`: in this process ([`tenantry::run`]), or the real
/// binary as a child process (`tenantry serve --data-dir DIR --listen 127.0.0.1:0`), whose
/// logs go to `<root>/stdout.log` and `<root>/stderr.log` (appended across restarts).
///
/// The temp root is removed on drop unless kept (builder `.keep`, env
/// `TENANTRY_TEST_KEEP`, or the test is panicking — then its path is printed).
pub struct TestServer {
    builder: TestServerBuilder,
    binary: bool,
    /// Takes and gives compiled plugin components from and to the test run's shared cache.
    shares_compiled_plugins: bool,
    root: PathBuf,
    data_dir: PathBuf,
    owns_data_dir: bool,
    keep: AtomicBool,
    state: Mutex<State>,
}

impl TestServer {
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    pub fn start() -> TestServer {
        Self::builder().start()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives the components this server compiled (while starting) to the run's next servers.
    fn keep_compiled_plugins(&self) {
        if self.shares_compiled_plugins {
            super::plugins::keep_compiled(&self.data_dir);
        }
    }

    fn stdout_path(&self) -> PathBuf {
        self.root.join("stdout.log")
    }

    fn stderr_path(&self) -> PathBuf {
        self.root.join("stderr.log")
    }

    fn spawn(&self, listen: String) {
        if !self.binary {
            return self.run_in_process(listen);
        }
        let open_log = |p: PathBuf| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
        };
        let mut out_log = open_log(self.stdout_path());
        let mut err_log = open_log(self.stderr_path());
        let mut st = self.state();
        st.starts += 1;
        if st.starts > 1 {
            let marker = format!("----- restart #{} -----\n", st.starts - 1);
            let _ = out_log.write_all(marker.as_bytes());
            let _ = err_log.write_all(marker.as_bytes());
        }

        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(&listen)
            .args(&self.builder.args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err_log));
        // Do not let the developer's shell configuration leak into tests.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TENANTRY_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("RUST_LOG", "info");
        for (k, v) in &self.builder.envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", env!("CARGO_BIN_EXE_tenantry")));
        let echo = self.builder.echo.then(|| "[tenantry stdout] ".to_string());
        let stdout = StdoutBuf::spawn_reader(child.stdout.take().unwrap(), out_log, echo);
        st.stdout = Arc::clone(&stdout);
        st.child = Some(child);
        st.addr = None;

        match stdout.wait_for(START_TIMEOUT, |t| parse_listening(t, LISTENING_PREFIX)) {
            Some(a) => st.addr = Some(a),
            None => {
                let mut child = st.child.take().unwrap();
                let exited = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                drop(st);
                self.keep.store(true, Ordering::Relaxed);
                panic!(
                    "tenantry did not print `{LISTENING_PREFIX}ADDR` within {START_TIMEOUT:?} \
                     (exit status: {exited:?}); logs kept in {}\n--- stdout ---\n{}\n--- stderr (tail) ---\n{}",
                    self.root.display(),
                    stdout.text(),
                    tail(&read_lossy(&self.stderr_path()), 60),
                );
            }
        }
    }

    /// Serves in this process: the configuration the binary would build from the same
    /// environment variables, `--config`/`./tenantry.toml` and `--public-url`.
    fn run_in_process(&self, listen: String) {
        let mut config_file = None;
        let mut public_url = None;
        let mut args = self.builder.args.iter();
        while let Some(a) = args.next() {
            let value = args.next().cloned();
            match a.as_str() {
                "--config" => config_file = value.map(|v| self.root.join(v)),
                "--public-url" => public_url = value,
                other => panic!(
                    "in-process test servers take --config and --public-url, not {other}; \
                     use TestServer::builder().binary()"
                ),
            }
        }
        let config_file = config_file.or_else(|| {
            let default = self.root.join("tenantry.toml");
            default.exists().then_some(default)
        });
        let envs = &self.builder.envs;
        let env = |k: &str| {
            envs.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        };
        let mut raw = tenantry::config::RawConfig::load(config_file.as_deref(), &env)
            .unwrap_or_else(|e| panic!("test server configuration: {e}"));
        raw.set("data_dir", self.data_dir.display().to_string(), "flag");
        raw.set("listen", listen.clone(), "flag");
        if let Some(url) = public_url {
            raw.set("public_url", url, "flag");
        }
        let config = tenantry::config::Config::from_raw(&raw)
            .unwrap_or_else(|e| panic!("test server configuration: {e}"));
        // On a restart, the previous run's accept thread closes the port just after its
        // handle is stopped: wait for that rather than fail.
        let deadline = Instant::now() + START_TIMEOUT;
        let listener = loop {
            match std::net::TcpListener::bind(&listen) {
                Ok(l) => break l,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("listen on {listen}: {e}"),
            }
        };
        let handle = tenantry::run(listener, config)
            .unwrap_or_else(|e| panic!("the in-process server did not start: {e}"));
        let mut st = self.state();
        st.starts += 1;
        st.addr = Some(handle.addr());
        // What the binary prints, so `setup_token` and stdout readers work the same.
        let mut text = String::new();
        if let Some(m) = handle.metrics_addr() {
            text.push_str(&format!("tenantry metrics on http://{m}/metrics\n"));
        }
        text.push_str(&format!("{LISTENING_PREFIX}{}\n", handle.addr()));
        if let Some(token) = handle.setup_token() {
            text.push_str(&format!(
                "No instance admin yet. Open this one-time link to create one: {}{SETUP_TOKEN_MARKER}{}\n",
                handle.public_url(),
                token.expose()
            ));
        }
        st.stdout = Arc::new(StdoutBuf::default());
        st.stdout.text.lock().unwrap().0 = text;
        st.in_process = Some(handle);
    }

    /// Panics for a process-only accessor on an in-process server.
    fn needs_binary(&self, what: &str) {
        assert!(
            self.binary,
            "{what} needs the real binary: start this server with TestServer::builder().binary()"
        );
    }

    /// The bound address of the current run.
    pub fn addr(&self) -> SocketAddr {
        self.state().addr.expect("server not running")
    }

    /// `http://127.0.0.1:PORT` (no trailing slash); `http://localhost:PORT` for a
    /// [`TestServerBuilder::localhost`] server.
    pub fn base_url(&self) -> String {
        match self.builder.localhost {
            Some(port) => format!("http://localhost:{port}"),
            None => format!("http://{}", self.addr()),
        }
    }

    pub fn client(&self) -> Client {
        let mut c = Client::new(self.addr());
        if let Some(port) = self.builder.localhost {
            c.public_origin = Some(format!("http://localhost:{port}"));
        }
        c
    }

    pub fn session(&self) -> Session {
        Session {
            client: self.client(),
            cookie: None,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Root temp directory (holds `stdout.log`, `stderr.log`, and the data dir
    /// unless an explicit one was given).
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    pub fn pid(&self) -> Option<u32> {
        self.needs_binary("pid()");
        self.state().child.as_ref().map(Child::id)
    }

    /// The one-time setup token from the current run's stdout (waits up to 2 s).
    pub fn setup_token(&self) -> Option<String> {
        let stdout = Arc::clone(&self.state().stdout);
        stdout.wait_for(SETUP_TOKEN_TIMEOUT, parse_setup_token)
    }

    /// Stdout of all runs so far (log file; includes restart markers).
    pub fn stdout_text(&self) -> String {
        self.needs_binary("stdout_text()");
        read_lossy(&self.stdout_path())
    }

    /// Stdout of the current run only (in-memory copy).
    pub fn current_stdout_text(&self) -> String {
        self.state().stdout.text()
    }

    /// Stderr (logs) of all runs so far.
    pub fn stderr_text(&self) -> String {
        self.needs_binary("stderr_text() (the server's logs)");
        read_lossy(&self.stderr_path())
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        if !self.binary {
            return self.state().in_process.is_some();
        }
        match self.state().child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL, then reap. No-op if not running.
    pub fn kill9(&mut self) {
        self.needs_binary("kill9()");
        self.kill_child();
    }

    fn kill_child(&mut self) {
        let child = self.state().child.take();
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (via `kill -TERM pid`), wait for exit (max 30 s, then SIGKILL
    /// and panic), return the exit status. Panics if not running.
    /// In-process: a graceful stop; the status is the binary's (0, or 1 for an error).
    pub fn stop(&mut self) -> ExitStatus {
        if !self.binary {
            use std::os::unix::process::ExitStatusExt;
            let handle = self.state().in_process.take().expect("server not running");
            return match handle.stop() {
                Ok(()) => ExitStatus::from_raw(0),
                Err(e) => {
                    eprintln!("[TestServer] the in-process server stopped with an error: {e}");
                    ExitStatus::from_raw(1 << 8)
                }
            };
        }
        let mut child = self.state().child.take().expect("server not running");
        if let Ok(Some(st)) = child.try_wait() {
            return st;
        }
        sigterm(child.id());
        match wait_with_timeout(&mut child, STOP_TIMEOUT) {
            Some(st) => st,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "tenantry did not exit within {STOP_TIMEOUT:?} after SIGTERM\n--- stderr (tail) ---\n{}",
                    tail(&self.stderr_text(), 60)
                );
            }
        }
    }

    /// Stops the server (SIGTERM) if it is running and starts it again with the
    /// same data dir, env and args, on the same port (so existing
    /// [`Client`]s/[`Session`]s keep working).
    pub fn restart(&mut self) {
        let (running, addr) = {
            let st = self.state();
            (st.child.is_some() || st.in_process.is_some(), st.addr)
        };
        if running {
            self.stop();
        }
        let listen = addr.map_or_else(|| "127.0.0.1:0".to_string(), |a| a.to_string());
        self.spawn(listen);
        self.keep_compiled_plugins();
    }

    /// Completes first-run setup with the token from stdout and signs in.
    /// Returns the signed-in admin session.
    pub fn bootstrap_admin(&self) -> Session {
        let token = self.setup_token().unwrap_or_else(|| {
            panic!(
                "no `{SETUP_TOKEN_MARKER}` line on stdout; stdout was:\n{}",
                self.current_stdout_text()
            )
        });
        let mut s = self.session();
        let resp = s.post_json(
            "/api/v1/setup",
            &serde_json::json!({
                "token": token,
                "email": ADMIN_EMAIL,
                "password": ADMIN_PASSWORD,
                "name": ADMIN_NAME,
            }),
        );
        assert!(
            (200..300).contains(&resp.status),
            "POST /api/v1/setup failed: {} {}",
            resp.status,
            resp.text()
        );
        let resp = s.post_json(
            "/api/v1/auth/login",
            &serde_json::json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
        );
        assert!(
            (200..300).contains(&resp.status),
            "POST /api/v1/auth/login failed: {} {}",
            resp.status,
            resp.text()
        );
        assert!(
            s.cookie.is_some(),
            "login succeeded but no `tenantry_session` cookie was set; headers: {:?}",
            resp.headers
        );
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill_child();
        // An in-process server stops gracefully (its workers are joined).
        drop(self.state().in_process.take());
        let keep = self.keep.load(Ordering::Relaxed) || std::thread::panicking();
        if keep {
            eprintln!(
                "[TestServer] kept {} (stdout.log, stderr.log{})",
                self.root.display(),
                if self.owns_data_dir { ", data/" } else { "" }
            );
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// Path of the built `bare_hello` example, built once per test process with
/// `cargo build --example bare_hello --message-format=json` (so it works with
/// any target dir / profile layout).
pub fn bare_hello_exe() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--example", "bare_hello", "--message-format=json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit());
        // `cargo test` runs tests with per-crate variables such as
        // CARGO_MANIFEST_DIR set; build scripts (ring) watch some of them, so
        // passing them on would make this nested build and the next
        // `cargo test` rebuild each other's dependencies every time.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if is_per_crate_cargo_var(&k) {
                cmd.env_remove(&*k);
            }
        }
        let out = cmd
            .output()
            .expect("run `cargo build --example bare_hello`");
        assert!(
            out.status.success(),
            "`cargo build --example bare_hello` failed: {}",
            out.status
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "bare_hello")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo did not report the bare_hello executable")
    })
    .clone()
}

/// True for `CARGO_*` variables that cargo sets for a running test rather than
/// configuration the user set for cargo itself (`CARGO_HOME`,
/// `CARGO_TARGET_DIR`, `CARGO_BUILD_*`, `CARGO_PROFILE_*`, …).
fn is_per_crate_cargo_var(k: &str) -> bool {
    const CONFIG_PREFIXES: &[&str] = &[
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_",
        "CARGO_PROFILE_",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
        "CARGO_INCREMENTAL",
        "CARGO_CACHE_",
        "CARGO_UNSTABLE_",
    ];
    k.starts_with("CARGO_") && !CONFIG_PREFIXES.iter().any(|p| k.starts_with(p))
}

/// `examples/bare_hello` (plain tiny_http) as a child process.
pub struct BareHello {
    child: Child,
    addr: SocketAddr,
}

impl BareHello {
    /// Starts bare_hello on `127.0.0.1:0`; `workers: None` keeps its default.
    pub fn start(workers: Option<usize>) -> BareHello {
        let exe = bare_hello_exe();
        let mut cmd = Command::new(&exe);
        cmd.args(["--listen", "127.0.0.1:0"]);
        if let Some(w) = workers {
            cmd.args(["--workers", &w.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", exe.display()));
        let sink = OpenOptions::new()
            .write(true)
            .open(if cfg!(unix) { "/dev/null" } else { "NUL" })
            .expect("open null device");
        let stdout = StdoutBuf::spawn_reader(child.stdout.take().unwrap(), sink, None);
        match stdout.wait_for(START_TIMEOUT, |t| {
            parse_listening(t, "listening on http://")
        }) {
            Some(addr) => BareHello { child, addr },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "bare_hello did not print its listening line; stdout: {:?}",
                    stdout.text()
                );
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BareHello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
