//! The composition root: builds the [`Context`] of the use cases (store, keys, hasher,
//! throttles, plugins, views) once, and hands it to the HTTP layer and the CLI explicitly
//! (no globals).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::crypto::{random_bytes, Keyring, PasswordHasherPool};
use crate::error::{Error, Result};
use crate::service::hooks::{Hooks, NoPlugins};
use crate::service::ratelimit::Limits;
use crate::service::Context;
use crate::store::Store;
use crate::views::Views;

const SECRET_FILE: &str = "secret.key";
/// Where the fingerprint of the server secret is kept (`instance_settings`).
const SECRET_CHECK_SETTING: &str = "server_secret_check";

/// Reads the server secret from config or from `data_dir/secret.key`, generating the file
/// (mode 0600) on first start.
pub fn server_secret(config: &Config) -> Result<Vec<u8>> {
    load_secret(config, true)?.ok_or_else(|| Error::internal("no server secret"))
}

/// The configured secret, or the one in `data_dir/secret.key`; when neither exists, a new
/// file when `may_create`, else `None`.
fn load_secret(config: &Config, may_create: bool) -> Result<Option<Vec<u8>>> {
    if let Some(s) = &config.server_secret {
        return Ok(Some(s.expose().as_bytes().to_vec()));
    }
    let path = config.data_dir.join(SECRET_FILE);
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => Ok(Some(bytes)),
        Ok(_) => Err(Error::Config(format!(
            "{} is too short; delete it only if no data depends on it",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {
            create_secret(&path).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Config(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The secret of a database that already records which secret it was written under: refuses
/// (before anything is created, migrated or written) when that secret is not here, or when
/// another one is.
fn secret_for_recorded(config: &Config, recorded: &str) -> Result<Vec<u8>> {
    let db = config.data_dir.join(crate::store::DB_FILE);
    let Some(secret) = load_secret(config, false)? else {
        return Err(Error::Config(format!(
            "{} was written under a server secret that is not here: set `server_secret_file` \
             (or `server_secret`) to that secret, or put its secret.key into {}",
            db.display(),
            config.data_dir.display()
        )));
    };
    if Keyring::new(&secret).secret_check() != recorded {
        return Err(Error::Config(format!(
            "the server secret does not match the one {} was written under (restored or copied \
             from another node?); start with that node's secret (`server_secret_file`, \
             `server_secret` or its secret.key); nothing was changed",
            db.display()
        )));
    }
    Ok(secret)
}

fn create_secret(path: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Config(format!("cannot create {}: {e}", dir.display())))?;
    }
    let secret: Vec<u8> = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        random_bytes::<48>(),
    )
    .into_bytes();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Config(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(&secret)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
    log::info!("generated a new server secret in {}", path.display());
    Ok(secret)
}

/// Opens everything for a server bound at `bound` (or a CLI command, with the listen address).
pub fn open(config: Config, bound: SocketAddr) -> Result<Context> {
    open_with(config, bound, false)
}

/// Like [`open`], and loads the configured plugins (compiling them, or taking
/// them from the compile cache).
pub fn open_with_plugins(config: Config, bound: SocketAddr) -> Result<Context> {
    open_with(config, bound, true)
}

/// Opens the existing database for reading only, for commands that only show data
/// (`user list`, `org list`): nothing is created (no data dir, database or secret) and
/// nothing is migrated; a missing or older database is refused with a clear message.
pub fn open_read_only(config: Config) -> Result<Context> {
    let store = Arc::new(Store::open_read_only(&config.data_dir)?);
    // Listing needs no keyed hash; without a secret here, an ephemeral one keeps it that
    // way (nothing is written under it).
    let secret = match load_secret(&config, false)? {
        Some(s) => s,
        None => random_bytes::<32>().to_vec(),
    };
    let listen = config.listen;
    let tls_roots = crate::tls::TrustRoots::bundled();
    let metrics = Arc::new(crate::metrics::Metrics::new(store.write_latency()));
    assemble(
        config,
        listen,
        store,
        &secret,
        (Arc::new(NoPlugins), metrics),
        tls_roots,
    )
}

fn open_with(config: Config, bound: SocketAddr, plugins: bool) -> Result<Context> {
    // Configuration files first: a bad one stops the start before anything is created.
    let tls_roots = crate::tls::TrustRoots::load(&config)?;
    let recorded = crate::store::peek_instance_setting(&config.data_dir, SECRET_CHECK_SETTING)?;
    let secret = match &recorded {
        Some(check) => secret_for_recorded(&config, check)?,
        None => server_secret(&config)?,
    };
    let store = Arc::new(Store::open_with_readers(
        &config.data_dir,
        config.workers.max(4),
    )?);
    if recorded.is_none() {
        let check = Keyring::new(&secret).secret_check().to_string();
        store.write(|tx| {
            tx.set_instance_setting(SECRET_CHECK_SETTING, &check, crate::service::now())
        })?;
    }
    let metrics = Arc::new(crate::metrics::Metrics::new(store.write_latency()));
    let hooks: Arc<dyn Hooks> = if plugins && !config.plugins.is_empty() {
        Arc::new(
            crate::plugin_host::PluginHost::load(
                &config.plugins,
                &config.data_dir,
                Arc::new(crate::service::plugin_kv::StoreKv::new(store.clone())),
                &tls_roots,
            )?
            .with_metrics(metrics.plugins.clone()),
        )
    } else {
        Arc::new(NoPlugins)
    };
    assemble(config, bound, store, &secret, (hooks, metrics), tls_roots)
}

fn assemble(
    config: Config,
    bound: SocketAddr,
    store: Arc<Store>,
    secret: &[u8],
    (hooks, metrics): (Arc<dyn Hooks>, Arc<crate::metrics::Metrics>),
    tls_roots: crate::tls::TrustRoots,
) -> Result<Context> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    Ok(Context {
        public_url: config.public_url_for(bound),
        store,
        keyring: Keyring::new(secret),
        // One core stays free for everything else while sign-ins hash.
        hasher: PasswordHasherPool::new(cores.saturating_sub(1).max(1)),
        limits: Limits::default(),
        views: Views::with_overrides(config.email_templates_dir.as_deref())?,
        doorbell: Default::default(),
        reset_queue: Default::default(),
        keys: crate::service::keycache::KeyCache::new(),
        hooks,
        tls_roots,
        metrics,
        config,
    })
}

fn secret_copy_path(db_file: &Path) -> std::path::PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".secret.key");
    std::path::PathBuf::from(name)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Config(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
}

/// Copies the generated server secret next to a backup (`FILE.secret.key`, mode 0600):
/// sessions, API keys and sealed credentials in the backup are only usable with it. Nothing
/// is copied when the secret comes from configuration.
pub fn backup_secret(config: &Config, backup_file: &Path) -> Result<Option<std::path::PathBuf>> {
    if config.server_secret.is_some() {
        return Ok(None);
    }
    let src = config.data_dir.join(SECRET_FILE);
    let bytes = std::fs::read(&src)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", src.display())))?;
    let dest = secret_copy_path(backup_file);
    write_private(&dest, &bytes)?;
    Ok(Some(dest))
}

/// Installs the secret saved next to a backup into the data dir, keeping a different
/// existing one as `secret.key.replaced`. Returns whether a secret was installed.
pub fn restore_secret(config: &Config, backup_file: &Path) -> Result<bool> {
    let saved = secret_copy_path(backup_file);
    let Ok(bytes) = std::fs::read(&saved) else {
        return Ok(false);
    };
    let dest = config.data_dir.join(SECRET_FILE);
    if let Ok(current) = std::fs::read(&dest) {
        if current == bytes {
            return Ok(true);
        }
        std::fs::rename(&dest, config.data_dir.join("secret.key.replaced"))
            .map_err(|e| Error::Config(format!("cannot set aside {}: {e}", dest.display())))?;
    }
    write_private(&dest, &bytes)?;
    Ok(true)
}
