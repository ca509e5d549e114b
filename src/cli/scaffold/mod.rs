//! `tenantry plugin new`: writes a plugin crate on the SDK that builds offline (except for
//! crates.io) wherever this binary runs. The binary carries the SDK's sources and the WIT
//! (from `plugins/` of the tenantry source it was built from) and writes them under
//! `NAME/sdk/` and `NAME/wit/`, with the plugins workspace's lock file, so the new crate
//! compiles against exactly the SDK and contract of this server.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The SDK crate's files, relative to `plugins/tenantry-plugin/`.
const SDK: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../../plugins/tenantry-plugin/Cargo.toml"),
    ),
    (
        "README.md",
        include_str!("../../../plugins/tenantry-plugin/README.md"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../plugins/tenantry-plugin/src/lib.rs"),
    ),
    (
        "src/checks.rs",
        include_str!("../../../plugins/tenantry-plugin/src/checks.rs"),
    ),
    (
        "src/http.rs",
        include_str!("../../../plugins/tenantry-plugin/src/http.rs"),
    ),
    (
        "src/kv.rs",
        include_str!("../../../plugins/tenantry-plugin/src/kv.rs"),
    ),
    (
        "src/oauth2.rs",
        include_str!("../../../plugins/tenantry-plugin/src/oauth2.rs"),
    ),
    (
        "src/oidc.rs",
        include_str!("../../../plugins/tenantry-plugin/src/oidc.rs"),
    ),
    (
        "src/settings.rs",
        include_str!("../../../plugins/tenantry-plugin/src/settings.rs"),
    ),
    (
        "src/sys.rs",
        include_str!("../../../plugins/tenantry-plugin/src/sys.rs"),
    ),
    (
        "src/testing.rs",
        include_str!("../../../plugins/tenantry-plugin/src/testing.rs"),
    ),
    (
        "src/text.rs",
        include_str!("../../../plugins/tenantry-plugin/src/text.rs"),
    ),
];

/// The contract, as the SDK's `path: "../wit"` finds it from `NAME/sdk/`.
const WIT: &str = include_str!("../../../plugins/wit/tenantry.wit");
/// The plugins workspace: its `[workspace.dependencies]` and release profile.
const WORKSPACE: &str = include_str!("../../../plugins/Cargo.toml");
/// Pins the dependencies to the versions the SDK is built and tested with.
const LOCK: &str = include_str!("../../../plugins/Cargo.lock");

/// The worlds a plugin can implement, and the template of each.
const WORLDS: &[(&str, &str)] = &[
    ("sso", include_str!("sso.rs")),
    ("billing-profile", include_str!("billing.rs")),
    ("email-delivery", include_str!("email.rs")),
];

/// The names of the worlds `plugin new` knows.
pub fn worlds() -> Vec<&'static str> {
    WORLDS.iter().map(|(w, _)| *w).collect()
}

/// Writes the crate `dir/name` for `world`; answers its folder.
pub fn write(name: &str, world: &str, dir: &Path) -> Result<PathBuf> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        return Err(Error::Config(format!(
            "plugin name {name:?}: a crate name of lowercase letters, digits, `-` and `_`, starting with a letter"
        )));
    }
    let template = WORLDS
        .iter()
        .find(|(w, _)| *w == world)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            Error::Config(format!(
                "unknown world {world:?}; one of: {}",
                worlds().join(", ")
            ))
        })?;
    let root = dir.join(name);
    if root.exists() {
        return Err(Error::Config(format!(
            "{} exists already; choose another name or --dir",
            root.display()
        )));
    }
    let mut files: Vec<(String, String)> = SDK
        .iter()
        .map(|(path, text)| (format!("sdk/{path}"), text.to_string()))
        .collect();
    files.push(("wit/tenantry.wit".into(), WIT.into()));
    files.push(("Cargo.lock".into(), LOCK.into()));
    files.push(("Cargo.toml".into(), manifest(name, world)?));
    files.push((
        "src/lib.rs".into(),
        template.replace("{{NAME}}", &format!("`{name}`")),
    ));
    files.push((".gitignore".into(), "/target\n".into()));
    files.push(("README.md".into(), readme(name, world)));
    for (path, text) in files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Config(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(root)
}

/// The crate's manifest: the plugin, and a workspace of its own with the SDK and the
/// dependency versions and release profile of tenantry's plugins workspace.
fn manifest(name: &str, world: &str) -> Result<String> {
    let ws: toml::Table = WORKSPACE
        .parse()
        .map_err(|e| Error::internal(format!("embedded plugins/Cargo.toml: {e}")))?;
    let mut deps = ws
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    deps.insert(
        "tenantry-plugin".into(),
        toml::Value::Table(toml::toml! { path = "sdk" }),
    );
    let mut workspace = toml::Table::new();
    workspace.insert("resolver".into(), "2".into());
    workspace.insert("members".into(), toml::Value::Array(vec!["sdk".into()]));
    workspace.insert("dependencies".into(), toml::Value::Table(deps));
    let mut out = toml::Table::new();
    out.insert("workspace".into(), toml::Value::Table(workspace));
    if let Some(profile) = ws.get("profile") {
        out.insert("profile".into(), profile.clone());
    }
    let tail =
        toml::to_string(&out).map_err(|e| Error::internal(format!("scaffold manifest: {e}")))?;
    Ok(format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         description = \"tenantry plugin (world `{world}`)\"\npublish = false\n\n\
         [lib]\n# cdylib: the component; rlib: native `cargo test` against the SDK's mock host.\n\
         crate-type = [\"cdylib\", \"rlib\"]\n\n\
         [dependencies]\ntenantry-plugin = {{ workspace = true }}\nserde = {{ workspace = true }}\n\
         serde_json = {{ workspace = true }}\n\n\
         # The SDK (sdk/) and the contract (wit/) as of the tenantry that wrote this crate.\n\
         {tail}"
    ))
}

fn readme(name: &str, world: &str) -> String {
    let file = name.replace('-', "_");
    format!(
        "# {name}\n\nA tenantry plugin (world `{world}`), written by `tenantry plugin new`.\n\n\
         ```sh\ncargo test                                          # native, against the SDK's mock host\n\
         cargo build --release --target wasm32-wasip2        # the component\n\
         tenantry plugin check target/wasm32-wasip2/release/{file}.wasm\n\
         tenantry plugin call target/wasm32-wasip2/release/{file}.wasm --hook … --input '{{…}}' --setting k=v --allow-host host:port\n```\n\n\
         `sdk/` is the `tenantry-plugin` SDK and `wit/` the `tenantry:plugin` contract of the \
         tenantry that wrote this crate (see `sdk/README.md`). The settings your plugin reads are \
         listed at the top of `src/lib.rs`. See docs/plugins.md of tenantry, \"Writing a plugin \
         with the SDK\".\n"
    )
}
