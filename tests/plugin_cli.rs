//! The plugin author's command line: `tenantry plugin call` runs one hook of a component
//! through the real plugin host against a local upstream, and `tenantry plugin new` writes a
//! crate on the SDK that builds, passes its own tests and satisfies `plugin check`.

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::fake_upstreams::FakeBilling;
use crate::support::flows::run_cli;
use crate::support::plugins::wasm;

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const ORG: &str = r#"{"org": {"id": "org_acme", "slug": "acme", "name": "Acme"}}"#;

#[test]
fn call_runs_one_hook_against_a_local_upstream() {
    let api = FakeBilling::start("t0ken");
    api.set_profile(
        "org_acme",
        json!({"legal_name": "Acme Corp", "billing_email": "ap@acme.test",
               "address": "1 Main St", "tax_id": null, "plan": "scale"}),
    );
    let billing = wasm("billing-http");
    let file = billing.to_str().unwrap();
    let base = format!("base_url={}", api.base_url());
    let allow = api.host_port();
    let args = |hook: &'static str, input: &'static str| {
        vec![
            "plugin",
            "call",
            file,
            "--hook",
            hook,
            "--input",
            input,
            "--setting",
            &base,
            "--setting",
            "api_token=t0ken",
            "--allow-host",
            &allow,
        ]
    };

    let out = run_cli(&args("get-profile", ORG));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["hook"], "get-profile", "{v}");
    // WIT names (kebab-case) in the answer; `option` as null or the value.
    assert_eq!(v["ok"]["legal-name"], "Acme Corp", "{v}");
    assert_eq!(v["ok"]["tax-id"], Value::Null, "{v}");
    assert!(v["took_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{v}");
    assert!(
        api.request_lines()
            .contains(&"GET /organizations/org_acme/profile".to_string()),
        "{:?}",
        api.request_lines()
    );

    // snake_case keys are accepted too; a missing profile is `none`.
    let out = run_cli(&args(
        "get-profile",
        r#"{"org": {"id": "org_other", "slug": "other", "name": "Other"}}"#,
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["ok"], Value::Null);
    let out = run_cli(&args(
        "validate-profile",
        r#"{"org": {"id": "org_acme", "slug": "acme", "name": "Acme"},
            "profile": {"legal_name": "Acme", "billing_email": "ap@acme.test",
                        "address": "1 Main St", "tax_id": "DE-INVALID", "plan": "scale"}}"#,
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["ok"][0]["field"], "tax_id", "{v}");

    // The plugin's error: exit code 1, its code and message.
    api.set_down(true);
    let out = run_cli(&args("get-profile", ORG));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = stdout_json(&out);
    // (billing-http's code for an upstream that answers an error)
    assert_eq!(v["plugin_error"]["code"], "upstream_error", "{v}");
    api.set_down(false);

    // The host's allowlist applies: without --allow-host the plugin may not call out.
    let out = run_cli(&[
        "plugin",
        "call",
        file,
        "--hook",
        "get-profile",
        "--input",
        ORG,
        "--setting",
        &base,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = stdout_json(&out);
    let message = v["plugin_error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&allow) && message.contains("allowed_hosts"),
        "{v}"
    );
}

#[test]
fn call_refuses_bad_usage_and_reports_traps() {
    let billing = wasm("billing-http");
    let file = billing.to_str().unwrap();
    let call = |hook: &str, input: &str| {
        run_cli(&[
            "plugin",
            "call",
            file,
            "--hook",
            hook,
            "--input",
            input,
            "--setting",
            "base_url=http://127.0.0.1:9",
        ])
    };

    let out = call("get-profile", "{\"organization\": ");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--input is not valid JSON"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());

    let out = call("get-profil", ORG);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("no hook `get-profil`"), "{e}");
    assert!(
        e.contains("get-profile, list-invoices, validate-profile, can-view-billing"),
        "{e}"
    );

    let out = call("get-profile", r#"{"org": {"id": "org_1"}}"#);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`org.slug` is missing (a string)"),
        "{}",
        stderr(&out)
    );
    let out = call("get-profile", r#"{"organization": {}}"#);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown parameter `organization` (this hook takes: org)"),
        "{}",
        stderr(&out)
    );
    let out = run_cli(&[
        "plugin",
        "call",
        file,
        "--hook",
        "get-profile",
        "--input",
        ORG,
        "--allow-host",
        "http://x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--allow-host values must look like"),
        "{}",
        stderr(&out)
    );

    // A trap (the fixture's `trap` mode) is reported as such, exit code 2.
    let fixture = wasm("fixture");
    let out = run_cli(&[
        "plugin",
        "call",
        fixture.to_str().unwrap(),
        "--hook",
        "get-profile",
        "--input",
        r#"{"org": {"id": "org_1", "slug": "trap", "name": "T"}}"#,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["failed"]["code"], "plugin_trap", "{v}");
    // The deadline applies: the fixture's endless loop is cut at --timeout-ms.
    let out = run_cli(&[
        "plugin",
        "call",
        fixture.to_str().unwrap(),
        "--hook",
        "get-profile",
        "--input",
        r#"{"org": {"id": "org_1", "slug": "loop", "name": "T"}}"#,
        "--timeout-ms",
        "200",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["failed"]["code"], "plugin_timeout", "{v}");
    assert!(v["took_ms"].as_f64().unwrap() < 5000.0, "{v}");
}

/// Runs cargo for a scaffolded crate, sharing the plugins workspace's target folder so the
/// dependencies compiled for the example plugins are reused.
fn cargo(dir: &std::path::Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env(
            "CARGO_TARGET_DIR",
            crate::support::plugins::workspace().join("target"),
        )
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn new_writes_a_crate_per_world_that_builds_tests_and_passes_check() {
    let dir = crate::support::server::unique_temp_dir("tenantry-plugin-new");
    let out = run_cli(&[
        "plugin",
        "new",
        "x",
        "--world",
        "chat",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("one of: sso, billing-profile, email-delivery"),
        "{}",
        stderr(&out)
    );
    for (name, world) in [
        ("acme-sso", "sso"),
        ("acme-billing", "billing-profile"),
        ("acme-mail", "email-delivery"),
    ] {
        let out = run_cli(&[
            "plugin",
            "new",
            name,
            "--world",
            world,
            "--dir",
            dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let root = dir.join(name);
        assert!(root.join("sdk/src/lib.rs").exists() && root.join("wit/tenantry.wit").exists());
        // Its own tests, natively against the SDK's mock host, then the component.
        cargo(&root, &["test", "--quiet"]);
        cargo(
            &root,
            &["build", "--release", "--target", "wasm32-wasip2", "--quiet"],
        );
        let wasm = crate::support::plugins::workspace()
            .join("target/wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let out = run_cli(&["plugin", "check", "--json", wasm.to_str().unwrap()]);
        let v = stdout_json(&out);
        assert_eq!(out.status.code(), Some(0), "{v}");
        assert_eq!(v["worlds"], json!([world]), "{v}");
        // An existing crate is never overwritten.
        let again = run_cli(&[
            "plugin",
            "new",
            name,
            "--world",
            world,
            "--dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(again.status.code(), Some(2));
        assert!(
            stderr(&again).contains("exists already"),
            "{}",
            stderr(&again)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
