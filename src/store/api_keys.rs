//! API keys: public part, keyed hash of the secret, lifecycle times and batched usage.

use rusqlite::{params, OptionalExtension, Row};

use super::{db_err, Conn, Tx};
use crate::domain::apikey::Scope;
use crate::domain::{KeyId, OrgId};
use crate::error::Result;

/// A stored key (never the secret).
#[derive(Clone, Debug)]
pub struct KeyRow {
    /// `key_…`
    pub id: KeyId,
    /// Organization.
    pub org_id: OrgId,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// HMAC-SHA-256 of the full key under the server secret.
    pub secret_hash: Vec<u8>,
    /// Creator (user or key ID).
    pub created_by: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Last use as flushed.
    pub last_used_at: Option<i64>,
    /// Uses as flushed.
    pub use_count: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
    /// Predecessor when created by rotation.
    pub rotated_from: Option<String>,
}

const COLS: &str =
    "id, org_id, name, scopes, secret_hash, created_by, created_at, expires_at, last_used_at, \
                    use_count, revoked_at, rotated_from";

fn row_to_key(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    let scopes: String = r.get(3)?;
    let scopes = scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| Scope::parse(s).ok_or_else(|| super::enums::unknown(3, "API key scope", s)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(KeyRow {
        id: KeyId::from_trusted(r.get(0)?),
        org_id: OrgId::from_trusted(r.get(1)?),
        name: r.get(2)?,
        scopes,
        secret_hash: r.get(4)?,
        created_by: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        last_used_at: r.get(8)?,
        use_count: r.get(9)?,
        revoked_at: r.get(10)?,
        rotated_from: r.get(11)?,
    })
}

macro_rules! key_reads {
    ($t:ty) => {
        impl $t {
            /// A key by ID (any organization: the verifier's look-up).
            pub fn api_key(&self, id: &KeyId) -> Result<Option<KeyRow>> {
                self.0
                    .prepare_cached(&format!("SELECT {COLS} FROM api_keys WHERE id = ?1"))
                    .map_err(db_err)?
                    .query_row([id.as_str()], row_to_key)
                    .optional()
                    .map_err(db_err)
            }

            /// A key of one organization.
            pub fn org_api_key(&self, org: &OrgId, id: &KeyId) -> Result<Option<KeyRow>> {
                self.0
                    .prepare_cached(&format!(
                        "SELECT {COLS} FROM api_keys WHERE id = ?1 AND org_id = ?2"
                    ))
                    .map_err(db_err)?
                    .query_row([id.as_str(), org.as_str()], row_to_key)
                    .optional()
                    .map_err(db_err)
            }
        }
    };
}
key_reads!(Conn<'_>);
key_reads!(Tx<'_>);

impl Conn<'_> {
    /// Keys of an organization ordered by ID after `cursor`.
    pub fn list_api_keys(&self, org: &OrgId, after: &str, limit: usize) -> Result<Vec<KeyRow>> {
        let mut stmt = self
            .0
            .prepare_cached(&format!(
                "SELECT {COLS} FROM api_keys WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![org.as_str(), after, limit as i64], row_to_key)
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}

impl Tx<'_> {
    /// Inserts a key.
    pub fn insert_api_key(&self, k: &KeyRow) -> Result<()> {
        let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
        self.0
            .prepare_cached(&format!(
                "INSERT INTO api_keys ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))
            .map_err(db_err)?
            .execute(params![
                k.id.as_str(),
                k.org_id.as_str(),
                k.name,
                scopes.join(" "),
                k.secret_hash,
                k.created_by,
                k.created_at,
                k.expires_at,
                k.last_used_at,
                k.use_count,
                k.revoked_at,
                k.rotated_from
            ])
            .map_err(db_err)?;
        Ok(())
    }

    /// Updates name and expiry of a key of `org`.
    pub fn update_api_key(
        &self,
        org: &OrgId,
        id: &KeyId,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<()> {
        self.0
            .execute(
                "UPDATE api_keys SET name = ?3, expires_at = ?4 WHERE id = ?1 AND org_id = ?2",
                params![id.as_str(), org.as_str(), name, expires_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks a key of `org` revoked.
    pub fn revoke_api_key(&self, org: &OrgId, id: &KeyId, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND org_id = ?2 AND revoked_at IS NULL",
                params![id.as_str(), org.as_str(), now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Adds batched usage to a key.
    pub fn add_api_key_usage(&self, id: &str, uses: u64, last_used_at: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "UPDATE api_keys SET use_count = use_count + ?2, \
                 last_used_at = max(coalesce(last_used_at, 0), ?3) WHERE id = ?1",
            )
            .map_err(db_err)?
            .execute(params![id, uses as i64, last_used_at])
            .map_err(db_err)?;
        Ok(())
    }
}
