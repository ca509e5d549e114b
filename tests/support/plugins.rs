//! Builds the example plugins and the fixture from source (once per test run), writes
//! tenantry config files that load them, and shares the compiled components between the
//! test servers of a run (so each component is compiled once a run, not once a server).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Whether a server with this configuration file loads plugins (as tenantry reads the file;
/// an unreadable or invalid one loads none).
pub fn loads_plugins(config_file: Option<&Path>) -> bool {
    let Some(file) = config_file else {
        return false;
    };
    tenantry::config::RawConfig::load(Some(file), &|_| None)
        .and_then(|raw| tenantry::config::Config::from_raw(&raw))
        .is_ok_and(|c| !c.plugins.is_empty())
}

/// The compiled components of this test run, shared by its servers: `plugin-cache` files as
/// the host names them (component SHA-256 and engine compatibility hash, so a server only
/// takes a file made for its component and engine; wasmtime checks the header too). One
/// folder per test process; folders of finished runs are removed.
fn compiled_seed() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-compile-seed");
        for e in fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let finished = name
                .strip_prefix("run-")
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if finished {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        let dir = root.join(format!("run-{}", std::process::id()));
        // A folder left by an earlier process with the same id.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        dir
    })
}

/// The `.cwasm` files (complete ones: both sides write a temporary name and rename it).
fn compiled_files(dir: &Path) -> Vec<(String, PathBuf)> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect()
}

/// Copies `from` to `dir/name` (0600, as the host writes it) through a temporary name, so a
/// reader sees the whole file or none; an existing `dir/name` is kept.
fn copy_into(from: &Path, dir: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    static N: AtomicUsize = AtomicUsize::new(0);
    let to = dir.join(name);
    if to.exists() {
        return;
    }
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{name}.tmp-{}-{n}", std::process::id()));
    let copied = fs::copy(from, &tmp)
        .and_then(|_| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)))
        .and_then(|_| fs::rename(&tmp, &to));
    if let Err(e) = copied {
        let _ = fs::remove_file(&tmp);
        panic!("copy {} to {}: {e}", from.display(), to.display());
    }
}

/// Puts the run's compiled components into `data_dir/plugin-cache` (before a server starts).
pub fn seed_compile_cache(data_dir: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    let files = compiled_files(compiled_seed());
    if files.is_empty() {
        return;
    }
    // As the host makes it: 0700, files 0600.
    let cache = data_dir.join("plugin-cache");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cache)
        .unwrap_or_else(|e| panic!("create {}: {e}", cache.display()));
    for (name, from) in files {
        copy_into(&from, &cache, &name);
    }
}

/// Keeps the components a server compiled (its `data_dir/plugin-cache`) for the run's next
/// servers. The host compiles only while starting, so calling this once it runs is enough.
pub fn keep_compiled(data_dir: &Path) {
    let seed = compiled_seed();
    for (name, from) in compiled_files(&data_dir.join("plugin-cache")) {
        copy_into(&from, seed, &name);
    }
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
