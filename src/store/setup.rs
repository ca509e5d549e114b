//! The one-time setup token for the first instance admin.

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::error::Result;

impl Conn<'_> {
    /// True when an unused setup token with this hash exists.
    pub fn setup_token_valid(&self, token_hash: &[u8]) -> Result<bool> {
        Ok(self
            .0
            .query_row(
                "SELECT 1 FROM setup_tokens WHERE token_hash = ?1 AND used_at IS NULL",
                [token_hash],
                |_| Ok(()),
            )
            .optional()
            .map_err(db_err)?
            .is_some())
    }
}

impl Tx<'_> {
    /// Replaces any unused setup token with a new one.
    pub fn replace_setup_token(&self, token_hash: &[u8], now: i64) -> Result<()> {
        self.0
            .execute("DELETE FROM setup_tokens WHERE used_at IS NULL", [])
            .map_err(db_err)?;
        self.0
            .execute(
                "INSERT INTO setup_tokens (token_hash, created_at) VALUES (?1, ?2)",
                params![token_hash, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Removes every setup token (an admin now exists).
    pub fn delete_setup_tokens(&self) -> Result<()> {
        self.0
            .execute("DELETE FROM setup_tokens", [])
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks the token used; false when it was unknown or already used.
    pub fn consume_setup_token(&self, token_hash: &[u8], now: i64) -> Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE setup_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
                params![token_hash, now],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// Number of instance admins (checked inside the setup transaction).
    pub fn count_instance_admins(&self) -> Result<i64> {
        self.0
            .query_row(
                "SELECT count(*) FROM users WHERE is_instance_admin = 1",
                [],
                |r| r.get(0),
            )
            .map_err(db_err)
    }
}
