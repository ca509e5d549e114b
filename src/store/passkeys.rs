//! Passkeys (WebAuthn credentials, sealed) and the state of their ceremonies (sealed,
//! single-use, short-lived).

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::domain::UserId;
use crate::error::Result;

/// A stored passkey.
#[derive(Debug, Clone)]
pub struct PasskeyRow {
    /// Its ID (`pk_…`).
    pub id: String,
    /// Whose it is.
    pub user_id: UserId,
    /// The name the person gave it.
    pub name: String,
    /// The credential, sealed (open with the keyring under the passkey's context).
    pub credential_sealed: Vec<u8>,
    /// When it was added (unix seconds).
    pub created_at: i64,
    /// When it last signed in (unix seconds).
    pub last_used_at: Option<i64>,
}

/// A started ceremony.
#[derive(Debug, Clone)]
pub struct CeremonyRow {
    /// `registration`, `second_step`, `passwordless` or `verification`.
    pub kind: String,
    /// The person it is for (none for a password-less sign-in).
    pub user_id: Option<UserId>,
    /// The hash of the two-step challenge it belongs to.
    pub bound_to: Option<Vec<u8>>,
    /// The sealed webauthn-rs state.
    pub state_sealed: Vec<u8>,
    /// Absolute expiry (unix seconds).
    pub expires_at: i64,
}

const COLUMNS: &str = "id, user_id, name, credential_sealed, created_at, last_used_at";

fn passkey_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PasskeyRow> {
    Ok(PasskeyRow {
        id: r.get(0)?,
        user_id: UserId::from_trusted(r.get(1)?),
        name: r.get(2)?,
        credential_sealed: r.get(3)?,
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
    })
}

impl Conn<'_> {
    /// A person's passkeys, oldest first.
    pub fn passkeys_of(&self, user: &UserId) -> Result<Vec<PasskeyRow>> {
        let mut st = self
            .0
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM passkeys WHERE user_id = ?1 ORDER BY created_at, id"
            ))
            .map_err(db_err)?;
        let rows = st.query_map([user.as_str()], passkey_row).map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// How many passkeys a person has.
    pub fn passkey_count(&self, user: &UserId) -> Result<i64> {
        self.0
            .query_row(
                "SELECT COUNT(*) FROM passkeys WHERE user_id = ?1",
                [user.as_str()],
                |r| r.get(0),
            )
            .map_err(db_err)
    }

    /// A passkey by the authenticator's credential ID.
    pub fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyRow>> {
        self.0
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM passkeys WHERE credential_id = ?1"
            ))
            .map_err(db_err)?
            .query_row([credential_id], passkey_row)
            .optional()
            .map_err(db_err)
    }

    /// A ceremony by token hash.
    pub fn passkey_ceremony(&self, token_hash: &[u8]) -> Result<Option<CeremonyRow>> {
        self.0
            .prepare_cached(
                "SELECT kind, user_id, bound_to, state_sealed, expires_at FROM passkey_ceremonies WHERE token_hash = ?1",
            )
            .map_err(db_err)?
            .query_row([token_hash], |r| {
                Ok(CeremonyRow {
                    kind: r.get(0)?,
                    user_id: r.get::<_, Option<String>>(1)?.map(UserId::from_trusted),
                    bound_to: r.get(2)?,
                    state_sealed: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            })
            .optional()
            .map_err(db_err)
    }
}

impl Tx<'_> {
    /// Stores a new passkey; `false` when its credential ID is already registered.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_passkey(
        &self,
        id: &str,
        user: &UserId,
        credential_id: &[u8],
        name: &str,
        sealed: &[u8],
        now: i64,
    ) -> Result<bool> {
        let n = self
            .0
            .execute(
                "INSERT INTO passkeys (id, user_id, credential_id, name, credential_sealed, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (credential_id) DO NOTHING",
                params![id, user.as_str(), credential_id, name, sealed, now],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// Renames a person's passkey; `false` when they have none with this ID.
    pub fn rename_passkey(&self, user: &UserId, id: &str, name: &str) -> Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2",
                params![id, user.as_str(), name],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// After a sign-in: the updated credential (counter) and when.
    pub fn passkey_used(&self, id: &str, sealed: &[u8], now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE passkeys SET credential_sealed = ?2, last_used_at = ?3 WHERE id = ?1",
                params![id, sealed, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Removes a person's passkey; `false` when they have none with this ID.
    pub fn delete_passkey(&self, user: &UserId, id: &str) -> Result<bool> {
        let n = self
            .0
            .execute(
                "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2",
                params![id, user.as_str()],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// Removes all of a person's passkeys and their ceremonies; answers how many passkeys.
    pub fn delete_passkeys_of(&self, user: &UserId) -> Result<usize> {
        let n = self
            .0
            .execute("DELETE FROM passkeys WHERE user_id = ?1", [user.as_str()])
            .map_err(db_err)?;
        self.0
            .execute(
                "DELETE FROM passkey_ceremonies WHERE user_id = ?1",
                [user.as_str()],
            )
            .map_err(db_err)?;
        Ok(n)
    }

    /// Stores a new ceremony (and forgets expired ones).
    #[allow(clippy::too_many_arguments)]
    pub fn insert_passkey_ceremony(
        &self,
        token_hash: &[u8],
        kind: &str,
        user: Option<&UserId>,
        bound_to: Option<&[u8]>,
        sealed: &[u8],
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM passkey_ceremonies WHERE expires_at <= ?1",
                [now],
            )
            .map_err(db_err)?;
        self.0
            .execute(
                "INSERT INTO passkey_ceremonies (token_hash, kind, user_id, bound_to, state_sealed, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![token_hash, kind, user.map(UserId::as_str), bound_to, sealed, now, expires_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Takes a ceremony out (single use): the row, now deleted, or `None`.
    pub fn take_passkey_ceremony(&self, token_hash: &[u8]) -> Result<Option<CeremonyRow>> {
        let row = self.reads().passkey_ceremony(token_hash)?;
        if row.is_some() {
            self.0
                .execute(
                    "DELETE FROM passkey_ceremonies WHERE token_hash = ?1",
                    [token_hash],
                )
                .map_err(db_err)?;
        }
        Ok(row)
    }
}
