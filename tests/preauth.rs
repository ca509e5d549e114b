//! Issue 11: nothing a client can send before signing in exhausts the server, and nothing on
//! disk is readable by other local users. Each test starts its own real server (or runs the
//! real binary) and attacks it with nothing but a socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::client::parse_response;
use crate::support::server::unique_temp_dir;
use crate::support::{Client, TestServer};

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
    let server = TestServer::builder().data_dir(&data).start();
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
