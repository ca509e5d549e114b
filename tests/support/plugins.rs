//! Builds the example plugins and the fixture from source (once per test run) and writes
//! tenantry config files that load them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The plugins workspace.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins")
}

/// Builds every plugin (release, wasm32-wasip2) once and returns the folder of the
/// components. Panics with cargo's output when the build fails.
pub fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let ws = workspace();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(ws.join("Cargo.toml"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("run cargo to build the plugins");
        assert!(
            out.status.success(),
            "building the plugins failed (is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ws.join("target/wasm32-wasip2/release")
    })
}

/// The component file of plugin crate `name` (e.g. `sso-oidc`).
pub fn wasm(name: &str) -> PathBuf {
    let p = built().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// One `[plugins.NAME]` table.
pub struct PluginEntry {
    /// Configured name.
    pub name: String,
    /// Component file.
    pub file: PathBuf,
    /// `host:port` entries.
    pub allowed_hosts: Vec<String>,
    /// Settings.
    pub settings: Vec<(String, String)>,
    /// Extra keys (`timeout_ms = 300`, …) as TOML lines.
    pub extra: Vec<String>,
}

impl PluginEntry {
    /// A plugin named `name` from crate `krate`.
    pub fn new(name: &str, krate: &str) -> Self {
        PluginEntry {
            name: name.into(),
            file: wasm(krate),
            allowed_hosts: Vec::new(),
            settings: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Allows a host.
    pub fn allow(mut self, host_port: &str) -> Self {
        self.allowed_hosts.push(host_port.into());
        self
    }

    /// Adds a setting.
    pub fn setting(mut self, k: &str, v: &str) -> Self {
        self.settings.push((k.into(), v.into()));
        self
    }

    /// Adds a raw TOML line to the table.
    pub fn extra(mut self, line: &str) -> Self {
        self.extra.push(line.into());
        self
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Writes a config file with `top` (raw TOML lines before any table) and the plugins.
pub fn write_config(dir: &Path, top: &[&str], plugins: &[PluginEntry]) -> PathBuf {
    let mut s = String::new();
    for l in top {
        s.push_str(l);
        s.push('\n');
    }
    for p in plugins {
        s.push_str(&format!("\n[plugins.{}]\n", p.name));
        s.push_str(&format!(
            "file = {}\n",
            quote(&p.file.display().to_string())
        ));
        let hosts: Vec<String> = p.allowed_hosts.iter().map(|h| quote(h)).collect();
        s.push_str(&format!("allowed_hosts = [{}]\n", hosts.join(", ")));
        for l in &p.extra {
            s.push_str(l);
            s.push('\n');
        }
        if !p.settings.is_empty() {
            s.push_str(&format!("[plugins.{}.settings]\n", p.name));
            for (k, v) in &p.settings {
                s.push_str(&format!("{k} = {}\n", quote(v)));
            }
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("tenantry.toml");
    std::fs::write(&path, s).unwrap();
    path
}

/// Lets an organization use configured plugins (as the instance administrator, through the
/// API); panics unless it worked.
pub fn allow_plugins(admin: &mut crate::support::Session, org: &str, names: &[&str]) {
    let r = admin.put_json(
        &format!("/api/v1/orgs/{org}/plugins"),
        &serde_json::json!({ "allowed": names }),
    );
    assert_eq!(r.status, 200, "allow plugins {names:?}: {}", r.text());
}

/// Approves a domain of an organization's SSO settings (as the instance administrator,
/// through the API); panics unless it worked.
pub fn approve_domain(admin: &mut crate::support::Session, org: &str, domain: &str) {
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/sso/domains/{domain}/approve"),
        &serde_json::json!({}),
    );
    assert_eq!(r.status, 200, "approve {domain}: {}", r.text());
    assert_eq!(r.json()["status"], "verified", "{}", r.text());
}
