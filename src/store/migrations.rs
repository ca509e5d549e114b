//! Versioned, append-only migrations tracked in `PRAGMA user_version`. Migration 1 is
//! `schema.sql`; a later change is a new entry at the end, never an edit.

use rusqlite::Connection;

use super::db_err;
use crate::error::{Error, Result};

const MIGRATIONS: &[&str] = &[
    include_str!("../../schema.sql"),
    include_str!("migrations/0002_plugins.sql"),
    include_str!("migrations/0003_sso_domains.sql"),
    include_str!("migrations/0004_grants.sql"),
    include_str!("migrations/0005_instance_settings.sql"),
    include_str!("migrations/0006_email_change.sql"),
    include_str!("migrations/0007_sso_sessions.sql"),
    include_str!("migrations/0008_two_step_sign_in.sql"),
    include_str!("migrations/0009_passkeys.sql"),
    include_str!("migrations/0010_org_two_step_policy.sql"),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration newer than the database, each in its own transaction.
pub fn apply(conn: &Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    if current > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}\n; PRAGMA user_version = {version}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            Error::internal(format!("migration {version} failed: {e}"))
        })?;
        log::info!("database migrated to schema version {version}");
    }
    Ok(())
}
