//! CLI for organizations (`org create|list|import-invoices`) and the refusal of a database
//! written by a newer binary.

use serde_json::json;

use crate::cli::{tenantry, TempDir};
use crate::support::TestServer;

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[test]
fn org_create_list_and_invoice_import() {
    let tmp = TempDir::new("tenantry-cli-org");
    let data = path(&tmp.path.join("data"));
    tenantry(
        &[
            "init",
            "--admin-email",
            "owner@example.test",
            "--password-stdin",
            "--data-dir",
            &data,
        ],
        Some("owner-password-1\n"),
        &[],
        &tmp.path,
    )
    .assert_success("init");
    let out = tenantry(
        &[
            "org",
            "create",
            "--name",
            "Acme",
            "--slug",
            "acme",
            "--owner-email",
            "owner@example.test",
            "--data-dir",
            &data,
        ],
        None,
        &[],
        &tmp.path,
    );
    out.assert_success("org create");
    let org = out
        .stdout
        .split_whitespace()
        .find_map(|w| {
            w.trim_matches(|c| c == '(' || c == ')')
                .strip_prefix("org_")
                .map(|r| format!("org_{r}"))
        })
        .expect("org ID in the output");

    // Bad input is refused with a clear message and a non-zero exit.
    let dup = tenantry(
        &[
            "org",
            "create",
            "--name",
            "Again",
            "--slug",
            "acme",
            "--owner-email",
            "owner@example.test",
            "--data-dir",
            &data,
        ],
        None,
        &[],
        &tmp.path,
    );
    dup.assert_failure("duplicate slug");
    assert!(dup.stderr.contains("slug"), "{}", dup.stderr);
    let nobody = tenantry(
        &[
            "org",
            "create",
            "--name",
            "X",
            "--slug",
            "xx",
            "--owner-email",
            "nobody@example.test",
            "--data-dir",
            &data,
        ],
        None,
        &[],
        &tmp.path,
    );
    nobody.assert_failure("unknown owner");
    assert!(nobody.stderr.contains("owner_email"), "{}", nobody.stderr);

    let list = tenantry(&["org", "list", "--data-dir", &data], None, &[], &tmp.path);
    list.assert_success("org list");
    assert!(
        list.stdout.contains(&org) && list.stdout.contains("acme"),
        "{}",
        list.stdout
    );

    let file = tmp.path.join("invoices.json");
    std::fs::write(
        &file,
        json!([
            {"number": "2026-001", "issued_on": "2026-10-01", "amount_cents": 12000, "currency": "EUR", "status": "paid"},
            {"number": "2026-002", "issued_on": "2026-11-01", "amount_cents": 12000, "currency": "EUR", "status": "open",
             "url": "https://billing.example.test/2026-002.pdf"}
        ])
        .to_string(),
    )
    .unwrap();
    let imp = tenantry(
        &[
            "org",
            "import-invoices",
            "--org",
            &org,
            &path(&file),
            "--data-dir",
            &data,
        ],
        None,
        &[],
        &tmp.path,
    );
    imp.assert_success("import-invoices");
    assert!(imp.stdout.contains("2 created"), "{}", imp.stdout);
    let again = tenantry(
        &[
            "org",
            "import-invoices",
            "--org",
            &org,
            &path(&file),
            "--data-dir",
            &data,
        ],
        None,
        &[],
        &tmp.path,
    );
    assert!(
        again.stdout.contains("0 created, 2 updated"),
        "{}",
        again.stdout
    );
    std::fs::write(&file, "[{\"number\": \"x\"}]").unwrap();
    tenantry(
        &[
            "org",
            "import-invoices",
            "--org",
            &org,
            &path(&file),
            "--data-dir",
            &data,
        ],
        None,
        &[],
        &tmp.path,
    )
    .assert_failure("malformed invoice file");

    // The owner sees the organization and its invoices over HTTP.
    let server = TestServer::builder()
        .data_dir(tmp.path.join("data"))
        .start();
    let mut s = server.session();
    let r = s.post_json(
        "/api/v1/auth/login",
        &json!({"email": "owner@example.test", "password": "owner-password-1"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let inv = s.get(&format!("/api/v1/orgs/{org}/billing/invoices"));
    assert_eq!(inv.status, 200, "{}", inv.text());
    let numbers: Vec<_> = inv.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].clone())
        .collect();
    assert_eq!(
        numbers,
        vec![json!("2026-002"), json!("2026-001")],
        "newest first"
    );
}

#[test]
fn a_database_from_a_newer_binary_is_refused() {
    let tmp = TempDir::new("tenantry-cli-newer");
    let data = tmp.path.join("data");
    // A writing command creates the database (`user list` only reads).
    tenantry(
        &[
            "user",
            "create",
            "--email",
            "first@example.test",
            "--name",
            "First",
            "--data-dir",
            &path(&data),
        ],
        None,
        &[],
        &tmp.path,
    )
    .assert_success("create the database");
    let conn = rusqlite::Connection::open(data.join("tenantry.db")).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "user_version", v + 1).unwrap();
    drop(conn);
    // `user list` opens the store as `serve` does, and cannot hang if the check regressed.
    let out = tenantry(
        &["user", "list", "--data-dir", &path(&data)],
        None,
        &[],
        &tmp.path,
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("newer than this binary"),
        "{}",
        out.stderr
    );
}
