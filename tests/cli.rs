//! The command line: `init`, `user create|list|disable`,
//! `openapi`, configuration errors (exit code 2 naming the key), the data-dir lock, and
//! `backup` / `restore` (online backup while a server writes; restore into a fresh dir gives
//! back the same rows; restore is refused into a live data dir and for non-databases).
//!
//! Every test uses its own temp dirs and, where needed, its own server. Child processes run
//! with a bounded wait (a hung command is killed and reported).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::support::flows::{bootstrap, setup_token, try_login};
use crate::support::server::{unique_temp_dir, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::support::wait::{poll_value_every, wait_until};
use crate::support::{Session, TestServer};

// ---------------------------------------------------------------------------
// helpers (shared with `foundation.rs`)

/// Upper bound for one CLI invocation (argon2 hashing in a debug build included).
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished `tenantry …` command left behind.
#[derive(Debug)]
pub(crate) struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the full output unless the command exited 0.
    pub fn assert_success(&self, what: &str) -> &Self {
        assert!(
            self.status.success(),
            "`{what}` failed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics with the full output unless the command exited non-zero.
    pub fn assert_failure(&self, what: &str) -> &Self {
        assert!(
            !self.status.success(),
            "`{what}` should have failed but exited 0\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout + stderr, for "the message names X" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A temp directory removed on drop (kept, and its path printed, when the test panics).
pub(crate) struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        TempDir {
            path: unique_temp_dir(prefix),
        }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("[TempDir] kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs `tenantry ARGS` in `cwd` with `stdin` (or /dev/null), the developer's `TENANTRY_*`
/// variables removed, `envs` added, and a bounded wait.
pub(crate) fn tenantry(
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
    cwd: &Path,
) -> CliOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    cmd.args(args)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TENANTRY_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("RUST_LOG", "info");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn tenantry {args:?}: {e}"));
    if let Some(input) = stdin {
        let mut si = child.stdin.take().expect("piped stdin");
        let _ = si.write_all(input.as_bytes());
        drop(si);
    }
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    // Looked at often: most commands take a few milliseconds.
    let exited = poll_value_every(
        CLI_TIMEOUT,
        Duration::from_millis(20),
        || child.try_wait(),
        |w| !matches!(w, Ok(None)),
    );
    let status = match exited {
        Ok(Some(st)) => st,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
            let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
            panic!(
                "`tenantry {}` did not exit within {CLI_TIMEOUT:?} (killed)\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                args.join(" ")
            );
        }
        Err(e) => panic!("wait for tenantry {args:?}: {e}"),
    };
    CliOutput {
        status,
        stdout: String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned(),
    }
}

pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Every table of a SQLite file as sorted, printable rows, plus the schema and
/// `user_version` (so two dumps are equal exactly when the content is).
pub(crate) fn dump_db(path: &Path) -> BTreeMap<String, Vec<String>> {
    let c =
        rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut out = BTreeMap::new();
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    out.insert("@user_version".to_string(), vec![version.to_string()]);
    let mut schema: Vec<String> = c
        .prepare("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    schema.sort();
    out.insert("@schema".to_string(), schema);
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!tables.is_empty(), "{} has no tables", path.display());
    for t in tables {
        let mut stmt = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let mut cols = Vec::with_capacity(n);
                for i in 0..n {
                    cols.push(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?));
                }
                Ok(cols.join(" | "))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        out.insert(t, rows);
    }
    out
}

/// Emails of every row in the `users` table of a SQLite file.
pub(crate) fn db_emails(path: &Path) -> Vec<String> {
    let c =
        rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut stmt = c.prepare("SELECT email FROM users").unwrap();
    let emails = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    emails
}

pub(crate) fn integrity(path: &Path) -> String {
    let c =
        rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

/// Creates users over the API from one thread until `stop`, recording every email that got
/// a 201 (and panicking on any other completed response).
fn spawn_writer(
    admin: &Session,
    prefix: &str,
    stop: Arc<AtomicBool>,
    created: Arc<Mutex<Vec<String>>>,
) -> thread::JoinHandle<()> {
    let mut s = admin.clone();
    s.client.timeout = Duration::from_secs(10);
    let prefix = prefix.to_string();
    thread::spawn(move || {
        let mut i = 0u32;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let email = format!("{prefix}-{i}@example.test");
            let r = s.post_json(
                "/api/v1/users",
                &json!({"email": email, "name": format!("Writer {i}")}),
            );
            assert_eq!(r.status, 201, "create {email}: {}", r.text());
            created.lock().unwrap().push(email);
        }
    })
}

const PW: &str = "a long enough password 42";

// ---------------------------------------------------------------------------
// init

#[test]
fn init_creates_the_admin_once_and_serve_prints_no_setup_link() {
    let tmp = TempDir::new("tenantry-cli-init");
    let data = tmp.join("data");
    let d = path_str(&data);

    let out = tenantry(
        &[
            "init",
            "--admin-email",
            "Boss@Example.test",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PW}\n")),
        &[],
        &tmp.path,
    );
    out.assert_success("tenantry init");
    assert!(
        out.stdout.contains("boss@example.test"),
        "init should name the admin: {}",
        out.stdout
    );
    assert!(
        !out.all().contains(PW),
        "init echoed the password: {}",
        out.all()
    );

    // Secret generated by init, mode 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("secret.key"))
        .expect("secret.key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "secret.key mode is {:o}", mode & 0o777);

    // Second run: refused, non-zero, nothing created.
    let again = tenantry(
        &[
            "init",
            "--admin-email",
            "other@example.test",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PW}\n")),
        &[],
        &tmp.path,
    );
    again.assert_failure("second tenantry init");
    assert!(
        again.stderr.contains("already"),
        "second init should say an admin exists: {}",
        again.stderr
    );
    assert!(!db_emails(&data.join("tenantry.db")).contains(&"other@example.test".to_string()));

    // A server on that data dir prints no setup link, and the admin can sign in.
    let server = TestServer::builder().data_dir(&data).start();
    assert_eq!(
        setup_token(&server),
        None,
        "stdout: {}",
        server.current_stdout_text()
    );
    assert!(!server.current_stdout_text().contains("/setup?token="));
    let (mut s, r) = try_login(&server, "boss@example.test", PW);
    assert_eq!(r.status, 200, "login as the init admin: {}", r.text());
    let me = s.get("/api/v1/me").json();
    assert_eq!(me["email"], "boss@example.test");
    assert_eq!(me["is_instance_admin"], true);
    assert_eq!(me["name"], "Administrator");
}

#[test]
fn init_rejects_missing_or_weak_password() {
    let tmp = TempDir::new("tenantry-cli-init-bad");
    let data = tmp.join("data");
    let d = path_str(&data);
    let empty = tenantry(
        &[
            "init",
            "--admin-email",
            "a@example.test",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(""),
        &[],
        &tmp.path,
    );
    empty.assert_failure("init with empty stdin");
    assert!(empty.stderr.contains("password"), "{}", empty.stderr);
    let short = tenantry(
        &[
            "init",
            "--admin-email",
            "a@example.test",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some("short\n"),
        &[],
        &tmp.path,
    );
    short.assert_failure("init with a short password");
    assert!(short.stderr.contains("password"), "{}", short.stderr);
    let bad_email = tenantry(
        &[
            "init",
            "--admin-email",
            "not-an-email",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PW}\n")),
        &[],
        &tmp.path,
    );
    bad_email.assert_failure("init with a bad email");
    assert!(bad_email.stderr.contains("email"), "{}", bad_email.stderr);
    // None of them created an admin: a fresh init still works.
    tenantry(
        &[
            "init",
            "--admin-email",
            "a@example.test",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PW}\n")),
        &[],
        &tmp.path,
    )
    .assert_success("init after failed attempts");
}

/// The printed setup link creates *the first* instance admin. Once `tenantry init` has
/// created one, the outstanding link must be dead too (stdout is often kept in log
/// collectors; a live link there would let anyone holding it mint another instance admin).
#[test]
fn setup_link_dies_once_init_created_the_admin() {
    let server = TestServer::start();
    let token = setup_token(&server).expect("fresh server prints a setup link");
    let data = path_str(server.data_dir()).to_string();
    let tmp = TempDir::new("tenantry-cli-init-live");
    tenantry(
        &[
            "init",
            "--admin-email",
            "ops@example.test",
            "--password-stdin",
            "--data-dir",
            &data,
        ],
        Some(&format!("{PW}\n")),
        &[],
        &tmp.path,
    )
    .assert_success("tenantry init next to a running server");

    let page = server.client().get(&format!("/setup?token={token}"));
    let r = server.client().post_json(
        "/api/v1/setup",
        &json!({"token": token, "email": "intruder@example.test", "password": PW, "name": "Second"}),
    );
    assert_eq!(
        (page.status, r.status),
        (404, 404),
        "once `tenantry init` created an admin, the earlier setup link must be dead: \
         GET /setup?token=… answered {}, POST /api/v1/setup answered {} {}",
        page.status,
        r.status,
        r.text()
    );
    assert_eq!(r.json()["code"], "setup_token_invalid");
}

// ---------------------------------------------------------------------------
// user

#[test]
fn user_create_list_disable() {
    let tmp = TempDir::new("tenantry-cli-user");
    let data = tmp.join("data");
    let d = path_str(&data);
    tenantry(
        &[
            "init",
            "--admin-email",
            ADMIN_EMAIL,
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{ADMIN_PASSWORD}\n")),
        &[],
        &tmp.path,
    )
    .assert_success("init");

    let out = tenantry(
        &[
            "user",
            "create",
            "--email",
            "bob@example.test",
            "--name",
            "Bob Builder",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PW}\n")),
        &[],
        &tmp.path,
    );
    out.assert_success("user create");
    assert!(out.stdout.contains("bob@example.test"), "{}", out.stdout);
    assert!(!out.all().contains(PW));

    let dup = tenantry(
        &[
            "user",
            "create",
            "--email",
            "BOB@example.test",
            "--name",
            "Bob 2",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PW}\n")),
        &[],
        &tmp.path,
    );
    dup.assert_failure("duplicate user create");
    assert!(dup.stderr.contains("exists"), "{}", dup.stderr);

    tenantry(
        &[
            "user",
            "create",
            "--email",
            "carol@example.test",
            "--name",
            "Carol",
            "--sso",
            "okta",
            "--data-dir",
            d,
        ],
        None,
        &[],
        &tmp.path,
    )
    .assert_success("user create --sso");

    let list = tenantry(&["user", "list", "--data-dir", d], None, &[], &tmp.path);
    list.assert_success("user list");
    for email in [ADMIN_EMAIL, "bob@example.test", "carol@example.test"] {
        assert!(
            list.stdout.lines().any(|l| l.contains(email)),
            "user list lacks {email}:\n{}",
            list.stdout
        );
    }
    assert_eq!(
        list.stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        3,
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains("disabled"), "{}", list.stdout);

    // Bob signs in over HTTP against a server on the same data dir.
    let server = TestServer::builder().data_dir(&data).start();
    let (mut bob, r) = try_login(&server, "bob@example.test", PW);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bob.get("/api/v1/me").json()["name"], "Bob Builder");
    // The SSO account has no password to sign in with.
    let (_, r) = try_login(&server, "carol@example.test", PW);
    assert_eq!(r.status, 401, "{}", r.text());

    // Disable Bob from the CLI while the server runs: his session ends, sign-in fails.
    let out = tenantry(
        &["user", "disable", "bob@example.test", "--data-dir", d],
        None,
        &[],
        &tmp.path,
    );
    out.assert_success("user disable");
    let r = bob.get("/api/v1/me");
    assert_eq!(
        r.status,
        401,
        "disabled user's session still works: {}",
        r.text()
    );
    assert_eq!(r.json()["code"], "unauthenticated");
    let (_, r) = try_login(&server, "bob@example.test", PW);
    assert_eq!(r.status, 401, "{}", r.text());

    let list = tenantry(&["user", "list", "--data-dir", d], None, &[], &tmp.path);
    let bob_line = list
        .stdout
        .lines()
        .find(|l| l.contains("bob@example.test"))
        .expect("bob listed");
    assert!(
        bob_line.contains("disabled"),
        "bob not shown as disabled: {bob_line}"
    );

    let unknown = tenantry(
        &["user", "disable", "nobody@example.test", "--data-dir", d],
        None,
        &[],
        &tmp.path,
    );
    unknown.assert_failure("disable unknown user");
    assert!(
        unknown.stderr.contains("nobody@example.test"),
        "{}",
        unknown.stderr
    );
}

// ---------------------------------------------------------------------------
// openapi, config errors, data-dir lock

#[test]
fn openapi_prints_an_openapi_3_1_document() {
    let tmp = TempDir::new("tenantry-cli-openapi");
    let out = tenantry(&["openapi"], None, &[], &tmp.path);
    out.assert_success("tenantry openapi");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`tenantry openapi` is not JSON ({e}): {}", out.stdout));
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn bad_env_config_exits_2_naming_the_key() {
    let tmp = TempDir::new("tenantry-cli-badenv");
    let d = tmp.join("data");
    let out = tenantry(
        &[
            "serve",
            "--data-dir",
            path_str(&d),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
        &[("TENANTRY_HTTP_READ_TIMEOUT_SECS", "soon")],
        &tmp.path,
    );
    assert_eq!(
        out.code(),
        Some(2),
        "stdout {}\nstderr {}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("http.read_timeout_secs"),
        "message does not name the key: {}",
        out.stderr
    );
    assert!(!out.stdout.contains("listening"), "{}", out.stdout);

    // Same for a CLI command other than serve.
    let out = tenantry(
        &["user", "list", "--data-dir", path_str(&d)],
        None,
        &[("TENANTRY_HTTP_READ_TIMEOUT_SECS", "soon")],
        &tmp.path,
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("http.read_timeout_secs"),
        "{}",
        out.stderr
    );

    // A bad flag value is reported the same way.
    let out = tenantry(
        &["serve", "--data-dir", path_str(&d), "--listen", "nowhere"],
        None,
        &[],
        &tmp.path,
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("listen"), "{}", out.stderr);
}

/// A `TENANTRY_*` variable that names no setting is warned about at start, with the
/// closest setting's variable, instead of being silently ignored; known ones are not.
#[test]
fn unknown_tenantry_env_var_is_warned_about_with_the_closest_name() {
    let tmp = TempDir::new("tenantry-cli-unknown-env");
    let d = tmp.join("data");
    let out = tenantry(
        &[
            "init",
            "--admin-email",
            ADMIN_EMAIL,
            "--password-stdin",
            "--data-dir",
            path_str(&d),
        ],
        Some(&format!("{PW}\n")),
        &[
            ("TENANTRY_HTTP_WORKER", "4"),
            ("TENANTRY_NOTHING_LIKE_ANY_SETTING", "1"),
            ("TENANTRY_HTTP_MAX_CONNECTIONS", "100"),
        ],
        &tmp.path,
    );
    out.assert_success("init with unknown variables");
    assert!(
        out.stderr.contains(
            "environment variable TENANTRY_HTTP_WORKER is not a tenantry setting and is ignored; did you mean TENANTRY_HTTP_WORKERS?"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "environment variable TENANTRY_NOTHING_LIKE_ANY_SETTING is not a tenantry setting"
        ),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("TENANTRY_HTTP_MAX_CONNECTIONS"),
        "a known variable was warned about: {}",
        out.stderr
    );
}

#[test]
fn unknown_config_file_key_exits_2_naming_the_key() {
    let tmp = TempDir::new("tenantry-cli-badfile");
    let d = tmp.join("data");
    let file = tmp.join("custom.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[http]\nread_timeout = 5\n",
    )
    .unwrap();
    let out = tenantry(
        &[
            "serve",
            "--config",
            path_str(&file),
            "--data-dir",
            path_str(&d),
        ],
        None,
        &[],
        &tmp.path,
    );
    assert_eq!(
        out.code(),
        Some(2),
        "stdout {}\nstderr {}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("http.read_timeout"),
        "message does not name the key: {}",
        out.stderr
    );

    // ./tenantry.toml in the working directory is read without --config.
    std::fs::write(tmp.join("tenantry.toml"), "lisen = \"127.0.0.1:0\"\n").unwrap();
    let out = tenantry(
        &[
            "serve",
            "--data-dir",
            path_str(&d),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
        &[],
        &tmp.path,
    );
    assert_eq!(
        out.code(),
        Some(2),
        "stdout {}\nstderr {}",
        out.stdout,
        out.stderr
    );
    assert!(out.stderr.contains("lisen"), "{}", out.stderr);
}

#[test]
fn serve_refuses_a_data_dir_held_by_another_server() {
    let server = TestServer::start();
    let tmp = TempDir::new("tenantry-cli-lock");
    let out = tenantry(
        &[
            "serve",
            "--data-dir",
            path_str(server.data_dir()),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
        &[],
        &tmp.path,
    );
    out.assert_failure("second serve on the same data dir");
    assert!(
        out.stderr.contains("another tenantry process"),
        "message should say another process uses the data dir: {}",
        out.stderr
    );
    assert!(
        !out.stdout.contains("/setup?token="),
        "the second server printed a setup link: {}",
        out.stdout
    );
    // The first server is unaffected.
    assert_eq!(server.client().get("/healthz").status, 200);
}

// ---------------------------------------------------------------------------
// backup / restore

#[test]
fn backup_while_serving_and_restore_into_a_fresh_dir() {
    let mut server = TestServer::start();
    let admin = bootstrap(&server);
    let tmp = TempDir::new("tenantry-cli-backup");

    // Some content before the backup.
    let mut s = admin.clone();
    let mut before = Vec::new();
    for i in 0..15 {
        let email = format!("before-{i}@example.test");
        let r = s.post_json(
            "/api/v1/users",
            &json!({"email": email, "name": format!("Before {i}")}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        before.push(email);
    }
    let r = s.put_json(
        "/api/v1/me/preferences",
        &json!({"locale": "pt-BR", "timezone": "Europe/Paris", "theme": "dark"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Writes keep going during the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..2)
        .map(|t| spawn_writer(&admin, &format!("during{t}"), stop.clone(), created.clone()))
        .collect();
    wait_until(
        Duration::from_secs(20),
        "5 writes by the writers before the backup starts",
        || created.lock().unwrap().len() >= 5,
    );
    let backup = tmp.join("backup.db");
    let data = path_str(server.data_dir()).to_string();
    let out = tenantry(
        &["backup", path_str(&backup), "--data-dir", &data],
        None,
        &[],
        &tmp.path,
    );
    let during_backup = created.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer thread panicked");
    }
    out.assert_success("tenantry backup while serving");
    assert!(
        during_backup >= 5,
        "writes were not going on during the backup"
    );
    assert!(backup.is_file(), "no backup file at {}", backup.display());
    assert_eq!(integrity(&backup), "ok");
    assert!(
        !backup.with_extension("db-wal").exists()
            || std::fs::metadata(backup.with_extension("db-wal"))
                .unwrap()
                .len()
                == 0,
        "the backup should be one self-contained file"
    );

    let in_backup = db_emails(&backup);
    for e in before.iter().chain([&ADMIN_EMAIL.to_string()]) {
        assert!(
            in_backup.contains(e),
            "{e} (written before the backup) missing from it"
        );
    }

    // A second backup to the same file is refused and leaves it alone.
    let size = std::fs::metadata(&backup).unwrap().len();
    let again = tenantry(
        &["backup", path_str(&backup), "--data-dir", &data],
        None,
        &[],
        &tmp.path,
    );
    again.assert_failure("backup onto an existing file");
    assert_eq!(std::fs::metadata(&backup).unwrap().len(), size);

    // Restore into a fresh dir, no server: same rows in every table.
    let fresh = tmp.join("restored");
    tenantry(
        &["restore", path_str(&backup), "--data-dir", path_str(&fresh)],
        None,
        &[],
        &tmp.path,
    )
    .assert_success("tenantry restore into a fresh dir");
    let restored_db = fresh.join("tenantry.db");
    assert_eq!(integrity(&restored_db), "ok");
    let (a, b) = (dump_db(&backup), dump_db(&restored_db));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "tables differ"
    );
    for (table, rows) in &a {
        assert_eq!(
            rows, &b[table],
            "table {table} differs between the backup and the restored database"
        );
    }
    server.stop();

    // The server secret travels beside the backup and comes back with the restore, so
    // sessions (and API keys, sealed credentials) made before the backup keep working.
    let secret_copy = tmp.join("backup.db.secret.key");
    assert_eq!(
        std::fs::read(&secret_copy).expect("backup writes FILE.secret.key"),
        std::fs::read(server.data_dir().join("secret.key")).unwrap()
    );
    assert_eq!(
        std::fs::metadata(&secret_copy)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read(fresh.join("secret.key")).expect("restore installs the secret"),
        std::fs::read(&secret_copy).unwrap()
    );
    let old_cookie = admin.cookie.clone();

    // The restored instance serves the same data: no setup link, the admin signs in.
    let restored = TestServer::builder().data_dir(&fresh).start();
    let mut carried = crate::support::client::Session::new(restored.addr());
    carried.cookie = old_cookie;
    assert_eq!(
        carried.get("/api/v1/me").status,
        200,
        "a session from before the backup works on the restored instance"
    );
    assert_eq!(
        setup_token(&restored),
        None,
        "{}",
        restored.current_stdout_text()
    );
    let (mut s2, r) = try_login(&restored, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        s2.get("/api/v1/me/preferences").json()["timezone"],
        "Europe/Paris"
    );
    let mut listed: Vec<String> = crate::support::flows::list_all_users(&mut s2, 200)
        .iter()
        .filter_map(|u| u["email"].as_str().map(str::to_string))
        .collect();
    let mut expected = in_backup.clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "the restored server lists other users");
}

#[test]
fn restore_is_refused_into_a_live_data_dir_and_for_non_databases() {
    let mut server = TestServer::start();
    let mut admin = bootstrap(&server);
    let tmp = TempDir::new("tenantry-cli-restore");
    let data = server.data_dir().to_path_buf();
    let d = path_str(&data).to_string();

    let backup = tmp.join("backup.db");
    tenantry(
        &["backup", path_str(&backup), "--data-dir", &d],
        None,
        &[],
        &tmp.path,
    )
    .assert_success("backup");
    let r = admin.post_json(
        "/api/v1/users",
        &json!({"email": "after@example.test", "name": "After"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // Into the data dir of a running server: refused, clearly.
    let out = tenantry(
        &["restore", path_str(&backup), "--data-dir", &d],
        None,
        &[],
        &tmp.path,
    );
    out.assert_failure("restore into a running server's data dir");
    assert!(
        out.stderr.contains("another tenantry process"),
        "unclear refusal: {}",
        out.stderr
    );
    // Nothing was replaced: the post-backup user is still there, the server still works.
    let r = admin.get("/api/v1/users?limit=200");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("after@example.test"), "{}", r.text());

    // A file that is not a database: refused, nothing written.
    let junk = tmp.join("junk.db");
    std::fs::write(&junk, "this is not a database\n".repeat(200)).unwrap();
    let fresh = tmp.join("fresh");
    let out = tenantry(
        &["restore", path_str(&junk), "--data-dir", path_str(&fresh)],
        None,
        &[],
        &tmp.path,
    );
    out.assert_failure("restore of a text file");
    assert!(
        out.stderr.contains("junk.db"),
        "message should name the file: {}",
        out.stderr
    );
    assert!(
        !fresh.join("tenantry.db").exists(),
        "a database was created from junk"
    );

    // A SQLite file that is not a tenantry backup: refused.
    let other = tmp.join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let out = tenantry(
        &["restore", path_str(&other), "--data-dir", path_str(&fresh)],
        None,
        &[],
        &tmp.path,
    );
    out.assert_failure("restore of a foreign SQLite file");
    assert!(out.stderr.contains("other.db"), "{}", out.stderr);

    // Junk into the (now stopped) real data dir: refused, and the data is intact.
    server.stop();
    let out = tenantry(
        &["restore", path_str(&junk), "--data-dir", &d],
        None,
        &[],
        &tmp.path,
    );
    out.assert_failure("restore of junk over an existing data dir");
    assert_eq!(integrity(&data.join("tenantry.db")), "ok");
    assert!(db_emails(&data.join("tenantry.db")).contains(&"after@example.test".to_string()));
    server.restart();
    let (_, r) = try_login(&server, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `tenantry backup` is "online, consistent": it must finish while a server keeps writing,
/// also when the database is larger than one backup step (SQLite's backup API restarts a
/// stepwise copy whenever another process writes to the source). Against a stepwise copy this
/// fails reliably when run alone; under heavy CPU contention a lull in the writes can let such
/// a copy through, so a pass in a busy full-suite run proves less than a pass alone.
#[test]
fn backup_finishes_under_sustained_writes_on_a_larger_database() {
    let mut server = TestServer::start();
    let admin = bootstrap(&server);
    server.stop();
    // Grow the database to ~55 MB (about 13,000 pages) directly (test setup; the server is stopped).
    {
        let c = rusqlite::Connection::open(server.data_dir().join("tenantry.db")).unwrap();
        let tx = c.unchecked_transaction().unwrap();
        let name = "n".repeat(180);
        for i in 0..150_000 {
            tx.execute(
                "INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?1, ?2, ?3, 0, 0)",
                rusqlite::params![format!("usr_zz{i:024}"), format!("bulk{i}@example.test"), name],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    server.restart();

    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..16)
        .map(|t| spawn_writer(&admin, &format!("load{t}"), stop.clone(), created.clone()))
        .collect();
    wait_until(
        Duration::from_secs(20),
        "20 writes by the writers before the backup starts",
        || created.lock().unwrap().len() >= 20,
    );
    let tmp = TempDir::new("tenantry-cli-bigbackup");
    let backup = tmp.join("backup.db");
    let data = path_str(server.data_dir()).to_string();
    // Bounded by CLI_TIMEOUT (60 s); with no writes this backup takes well under a second.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tenantry(
            &["backup", path_str(&backup), "--data-dir", &data],
            None,
            &[],
            &tmp.path,
        )
    }));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer thread panicked");
    }
    let out = result.unwrap_or_else(|_| {
        panic!(
            "`tenantry backup` did not finish while {} writes went on (see the panic above)",
            created.lock().unwrap().len()
        )
    });
    out.assert_success("tenantry backup under write load");
    assert_eq!(integrity(&backup), "ok");
    assert!(db_emails(&backup).len() >= 150_001);
}

/// Precedence: defaults < tenantry.toml < TENANTRY_* environment < flags.
#[test]
fn config_layers_file_env_flag() {
    let tmp = TempDir::new("tenantry-cli-layers");
    std::fs::write(tmp.join("tenantry.toml"), "data_dir = \"from-file\"\n").unwrap();
    let init = |envs: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["init", "--admin-email", ADMIN_EMAIL, "--password-stdin"];
        args.extend_from_slice(extra);
        tenantry(&args, Some(&format!("{PW}\n")), envs, &tmp.path)
    };
    init(&[], &[]).assert_success("init with the file");
    assert!(tmp.join("from-file/tenantry.db").is_file());
    init(&[("TENANTRY_DATA_DIR", "from-env")], &[]).assert_success("init with env");
    assert!(
        tmp.join("from-env/tenantry.db").is_file(),
        "the environment did not override the file"
    );
    init(
        &[("TENANTRY_DATA_DIR", "from-env")],
        &["--data-dir", "from-flag"],
    )
    .assert_success("init with a flag");
    assert!(
        tmp.join("from-flag/tenantry.db").is_file(),
        "the flag did not override the environment"
    );
}

/// Email queued by a CLI command links to the server's public URL: a server started with
/// `--public-url` records it, and `user create` run without one uses it; a CLI with a
/// different one keeps its own and warns; before any server start, the CLI warns that its
/// links use a guessed address.
#[test]
fn cli_email_links_use_the_servers_public_url() {
    const PUBLIC: &str = "https://tenantry.example.test";
    let tmp = TempDir::new("tenantry-cli-public-url");
    let data = tmp.join("data");
    let d = path_str(&data);
    let create = |email: &str, envs: &[(&str, &str)]| {
        let out = tenantry(
            &[
                "user",
                "create",
                "--email",
                email,
                "--name",
                "Linked",
                "--password-stdin",
                "--data-dir",
                d,
            ],
            Some(&format!("{PW}\n")),
            envs,
            &tmp.path,
        );
        out.assert_success("user create");
        out
    };
    // Before any server start: a warning, with the address the links use.
    tenantry(
        &[
            "init",
            "--admin-email",
            ADMIN_EMAIL,
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{ADMIN_PASSWORD}\n")),
        &[],
        &tmp.path,
    )
    .assert_success("init");
    let early = create("early@example.test", &[]);
    assert!(
        early
            .stderr
            .contains("warning: no public URL is configured"),
        "{}",
        early.all()
    );

    // Kept running while the CLI works beside it.
    let _server = TestServer::builder()
        .data_dir(&data)
        .arg("--public-url")
        .arg(PUBLIC)
        .start();
    // The CLI without a public URL: no warning, links to the server's.
    let quiet = create("linked@example.test", &[]);
    assert!(!quiet.stderr.contains("warning"), "{}", quiet.all());
    // With another one: it is used, with a warning naming both.
    let other = create(
        "other@example.test",
        &[("TENANTRY_PUBLIC_URL", "https://elsewhere.example.test")],
    );
    assert!(
        other.stderr.contains("warning")
            && other.stderr.contains("https://elsewhere.example.test")
            && other.stderr.contains(PUBLIC),
        "{}",
        other.all()
    );

    // The queued confirmation emails, opened with the server secret as the server does.
    let secret = std::fs::read(data.join("secret.key")).expect("read secret.key");
    let keyring = tenantry::crypto::Keyring::new(&secret);
    let db = rusqlite::Connection::open(data.join("tenantry.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let link_of = |to: &str| -> String {
        let sealed: Vec<u8> = db
            .query_row(
                "SELECT sealed_body FROM outbox WHERE recipient = ?1 AND template = 'email_verification'",
                [to],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("no email to {to}: {e}"));
        let body: serde_json::Value =
            serde_json::from_slice(&keyring.open("outbox", &sealed).unwrap()).unwrap();
        let text = body["text"].as_str().unwrap();
        let end = text
            .find("/verify-email?token")
            .expect("a confirmation link");
        let begin = text[..end].rfind("http").expect("an absolute link");
        text[begin..end].to_string()
    };
    assert_eq!(link_of("linked@example.test"), PUBLIC);
    assert_eq!(
        link_of("other@example.test"),
        "https://elsewhere.example.test"
    );
    assert!(
        link_of("early@example.test").starts_with("http://127.0.0.1"),
        "before any server start, the CLI's own listen address"
    );
}
