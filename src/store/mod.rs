//! Storage: the only module that names rusqlite. One writer connection (IMMEDIATE
//! transactions) and a small pool of readers, SQLite in WAL mode with `synchronous=FULL`.
//! Use cases get a [`Tx`] (write) or [`Conn`] (read) and call the typed methods defined in the
//! submodules, one per table group.

mod api_keys;
mod audit;
mod companies;
mod enums;
mod invitations;
mod migrations;
mod org_settings;
mod orgs;
mod outbox;
mod passkeys;
mod plugins;
mod sessions;
mod setup;
mod tokens;
mod two_step;
mod two_step_policy;
mod users;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{Error, Result};

pub use api_keys::KeyRow;
pub use audit::AuditQuery;
pub use companies::CompanyMemberRow;
pub use invitations::InvitationRow;
pub use migrations::SCHEMA_VERSION;
pub use org_settings::DataRepositoryRow;
pub use orgs::MembershipRow;
pub use outbox::{OutboxRow, RetryOutcome};
pub use passkeys::{CeremonyRow, PasskeyRow};
pub use plugins::{NewSsoFlow, SsoConnectionRow, SsoDomainRow, SsoFlowRow, SsoSessionRow};
pub use sessions::SessionRow;
pub use tokens::TokenRow;
pub use two_step::{ChallengeRow, TotpRow};
pub use two_step_policy::PolicyRow;
pub use users::{Credentials, NewUser};

/// The database file name inside the data dir.
pub const DB_FILE: &str = "tenantry.db";
const LOCK_FILE: &str = "tenantry.lock";
const DEFAULT_READERS: usize = 4;

/// A write transaction (IMMEDIATE). Only `Store::write` creates one.
pub struct Tx<'a>(rusqlite::Transaction<'a>);

/// A read-only connection borrowed from the pool.
pub struct Conn<'a>(&'a Connection);

/// The embedded database.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reader_freed: Condvar,
    /// Durations of write transactions (exported as a metric).
    write_latency: crate::metrics::Timing,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

fn db_err(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, ref msg) = e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation
            && msg.as_deref().is_some_and(|m| m.contains("UNIQUE"))
        {
            return Error::Conflict("already exists".into());
        }
    }
    Error::internal(format!("database: {e}"))
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(db_err)?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and applies pending migrations.
    /// Refuses a database written by a newer binary.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Self::open_with_readers(data_dir, DEFAULT_READERS)
    }

    /// Like [`Store::open`] with `readers` pooled read connections (one per HTTP worker
    /// keeps readers from queueing behind each other).
    pub fn open_with_readers(data_dir: &Path, readers_n: usize) -> Result<Store> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        create_private_file(&path)?;
        let writer = Connection::open(&path)
            .map_err(|e| Error::Config(format!("cannot open database {}: {e}", path.display())))?;
        configure(&writer)?;
        migrations::apply(&writer)?;
        let mut readers = Vec::with_capacity(readers_n.max(1));
        for _ in 0..readers_n.max(1) {
            let c = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(db_err)?;
            c.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
            readers.push(c);
        }
        Ok(Store {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
            reader_freed: Condvar::new(),
            write_latency: Default::default(),
        })
    }

    /// Opens the existing database without creating, migrating or writing anything (the
    /// writer connection is read-only too, so any write fails). Refuses a missing database,
    /// and one whose schema is older or newer than this binary's, with a message that says
    /// what to do.
    pub fn open_read_only(data_dir: &Path) -> Result<Store> {
        let path = data_dir.join(DB_FILE);
        if !path.is_file() {
            return Err(Error::Config(format!(
                "no database at {}: start the server (`tenantry serve`) or run `tenantry init` first, \
                 or pass the right --data-dir",
                path.display()
            )));
        }
        let open = || {
            let c = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| Error::Config(format!("cannot open database {}: {e}", path.display())))?;
            c.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
            Ok::<_, Error>(c)
        };
        let writer = open()?;
        let version: i64 = writer
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            return Err(Error::Config(format!(
                "{} has schema version {version}, older than this binary's {SCHEMA_VERSION}; \
                 a read-only command does not migrate it: start the server once (`tenantry serve`) \
                 to migrate, or use the tenantry version that wrote it",
                path.display()
            )));
        }
        let mut readers = Vec::with_capacity(DEFAULT_READERS);
        for _ in 0..DEFAULT_READERS {
            readers.push(open()?);
        }
        Ok(Store {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
            reader_freed: Condvar::new(),
            write_latency: Default::default(),
        })
    }

    /// Runs `f` in one IMMEDIATE transaction; commits when it returns `Ok`.
    pub fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let started = std::time::Instant::now();
        let out = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let tx = Tx(tx);
            let out = f(&tx)?;
            tx.0.commit().map_err(db_err)?;
            Ok(out)
        })();
        self.write_latency.observe(started.elapsed());
        out
    }

    /// The timing of write transactions (from `BEGIN IMMEDIATE` to commit or rollback).
    pub fn write_latency(&self) -> crate::metrics::Timing {
        self.write_latency.clone()
    }

    /// Runs `f` on a pooled read connection (a consistent snapshot per statement).
    pub fn read<T>(&self, f: impl FnOnce(&Conn<'_>) -> Result<T>) -> Result<T> {
        let conn = {
            let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(c) = pool.pop() {
                    break c;
                }
                pool = self
                    .reader_freed
                    .wait(pool)
                    .unwrap_or_else(|e| e.into_inner());
            }
        };
        let out = f(&Conn(&conn));
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        self.reader_freed.notify_one();
        out
    }

    /// Moves committed pages from the WAL into the database without blocking writers
    /// (`PASSIVE`). The server runs it every second from a background thread and turns off
    /// SQLite's automatic checkpoint, which would otherwise run inside a request's commit
    /// now and then and stall it (and every request queued behind the writer).
    pub fn checkpoint(&self) -> Result<()> {
        let conn = Connection::open(&self.path).map_err(db_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(db_err)
    }

    /// Stops automatic checkpoints on the writer; call [`Store::checkpoint`] periodically.
    pub fn defer_checkpoints(&self) -> Result<()> {
        let conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db_err)
    }

    /// With checkpoints left to another process (Litestream), warns when the WAL has grown
    /// past 256 MiB: that process is probably not running, and the WAL grows until it is.
    pub fn warn_if_wal_is_large(&self) {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        if let Ok(meta) = std::fs::metadata(&wal) {
            if meta.len() > 256 * 1024 * 1024 {
                log::warn!(
                    "the WAL {} is {} MiB and nothing checkpoints it (database.checkpoints = \
                     external): is Litestream running?",
                    PathBuf::from(&wal).display(),
                    meta.len() / (1024 * 1024)
                );
            }
        }
    }

    /// True when the database answers a trivial query.
    pub fn ping(&self) -> bool {
        self.read(|c| c.0.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
            .is_ok()
    }

    /// Online, consistent copy of the database into `dest` (SQLite backup API).
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        let src = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(db_err)?;
        src.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
        backup_connection(&src, dest)
    }
}

fn backup_connection(src: &Connection, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Err(Error::Config(format!(
            "{} already exists; choose a new file name",
            dest.display()
        )));
    }
    create_private_file(dest)?;
    let mut dst = Connection::open(dest)
        .map_err(|e| Error::Config(format!("cannot create {}: {e}", dest.display())))?;
    {
        // One step: a step-by-step copy restarts whenever the server writes, and may never
        // finish under sustained writes. One step holds a read snapshot instead.
        let b = rusqlite::backup::Backup::new(src, &mut dst).map_err(db_err)?;
        b.run_to_completion(i32::MAX, Duration::from_millis(0), None)
            .map_err(db_err)?;
    }
    // A backup is one self-contained file, not a WAL database.
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(db_err)?;
    Ok(())
}

/// Backs up the database in `data_dir` to `dest` without a running server object.
pub fn backup(data_dir: &Path, dest: &Path) -> Result<()> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Err(Error::Config(format!("no database at {}", path.display())));
    }
    let src =
        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(db_err)?;
    src.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
    backup_connection(&src, dest)
}

/// Replaces the database in `data_dir` with the backup at `src`. Refuses while a server holds
/// the data dir lock, and refuses a file that is not a tenantry database this binary can read.
pub fn restore(data_dir: &Path, src: &Path) -> Result<()> {
    let _lock = DataDirLock::acquire(data_dir)?;
    let check = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::Config(format!("cannot open backup {}: {e}", src.display())))?;
    let ok: String = check
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| Error::Config(format!("{} is not a SQLite database: {e}", src.display())))?;
    if ok != "ok" {
        return Err(Error::Config(format!(
            "backup {} failed its integrity check: {ok}",
            src.display()
        )));
    }
    let version: i64 = check
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    if version == 0 || version > SCHEMA_VERSION {
        return Err(Error::Config(format!(
            "{} is not a tenantry backup this binary can restore (schema version {version})",
            src.display()
        )));
    }
    let path = data_dir.join(DB_FILE);
    let mut dst = Connection::open(&path).map_err(db_err)?;
    dst.pragma_update(None, "journal_mode", "WAL")
        .map_err(db_err)?;
    {
        let b = rusqlite::backup::Backup::new(&check, &mut dst).map_err(db_err)?;
        b.run_to_completion(i32::MAX, Duration::from_millis(0), None)
            .map_err(db_err)?;
    }
    dst.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .map_err(db_err)?;
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700, and warns when an existing data dir
/// is readable or writable by others: it holds password hashes, emails and the audit log.
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Config(format!("cannot create data dir {}: {e}", dir.display())))?;
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            log::warn!(
                "data dir {} has mode {mode:o}: other local users can reach the database; \
                 run `chmod 700 {}`",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 when it does not exist yet, so SQLite (which creates
/// `-wal` and `-shm` with the main file's mode) never makes a world-readable file, whatever
/// the process umask.
fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Config(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// An exclusive advisory lock on the data dir, held by a running server.
pub struct DataDirLock {
    _lock: nix::fcntl::Flock<File>,
}

impl DataDirLock {
    /// Takes the lock or explains that another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::Config(format!("cannot open {}: {e}", path.display())))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|_| {
                Error::Config(format!(
                    "another tenantry process is using {}; stop it first",
                    data_dir.display()
                ))
            })?;
        Ok(DataDirLock { _lock: lock })
    }
}

/// Reads one `instance_settings` value of the database in `data_dir` before it is opened
/// for serving (nothing is created or migrated): `None` when there is no database yet, or
/// it predates the value.
pub fn peek_instance_setting(data_dir: &Path, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    let path = data_dir.join(DB_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    // Read-write without CREATE: a WAL database left by a crash can be recovered on open.
    let c = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| Error::Config(format!("cannot open database {}: {e}", path.display())))?;
    c.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
    let has_table: bool = c
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instance_settings')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    if !has_table {
        return Ok(None);
    }
    c.query_row(
        "SELECT value FROM instance_settings WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
    .map_err(db_err)
}

/// Checks the database: `PRAGMA integrity_check` result ("ok" when healthy).
pub fn integrity_check(data_dir: &Path) -> Result<String> {
    let c = Connection::open_with_flags(data_dir.join(DB_FILE), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(db_err)?;
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(db_err)
}

impl Tx<'_> {
    /// Records an instance-wide value (see the `instance_settings` table).
    pub fn set_instance_setting(&self, key: &str, value: &str, now: i64) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO instance_settings (key, value, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                rusqlite::params![key, value, now],
            )
            .map_err(db_err)?;
        Ok(())
    }
}

impl Conn<'_> {
    /// An instance-wide value, when recorded.
    pub fn instance_setting(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.0
            .query_row(
                "SELECT value FROM instance_settings WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }
}
