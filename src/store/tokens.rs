//! Single-use tokens: password resets, email verifications and email changes (hash only).

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::domain::UserId;
use crate::error::Result;

/// A token's state.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Owner.
    pub user_id: UserId,
    /// Expiry.
    pub expires_at: i64,
    /// Used at.
    pub used_at: Option<i64>,
    /// Address (verifications only).
    pub email: Option<String>,
    /// `verify` or `change` (verifications only).
    pub purpose: Option<String>,
}

impl Tx<'_> {
    /// The transaction seen through the read-only queries (reads inside this transaction).
    pub fn reads(&self) -> Conn<'_> {
        Conn(&self.0)
    }

    /// Stores a reset token, killing the user's older unused ones.
    pub fn insert_password_reset(
        &self,
        hash: &[u8],
        user: &UserId,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM password_resets WHERE user_id = ?1 AND used_at IS NULL",
                [user.as_str()],
            )
            .map_err(db_err)?;
        self.0
            .execute(
                "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![hash, user.as_str(), now, expires_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// A reset token by hash.
    pub fn password_reset(&self, hash: &[u8]) -> Result<Option<TokenRow>> {
        self.0
            .query_row(
                "SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = ?1",
                [hash],
                |r| {
                    Ok(TokenRow {
                        user_id: UserId::from_trusted(r.get(0)?),
                        expires_at: r.get(1)?,
                        used_at: r.get(2)?,
                        email: None,
                        purpose: None,
                    })
                },
            )
            .optional()
            .map_err(db_err)
    }

    /// Marks a reset token used.
    pub fn use_password_reset(&self, hash: &[u8], now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE password_resets SET used_at = ?2 WHERE token_hash = ?1",
                params![hash, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Sets a new password hash.
    pub fn set_password(&self, user: &UserId, phc: &str, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                params![user.as_str(), phc, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Stores an email-verification token, killing older unused ones.
    pub fn insert_email_verification(
        &self,
        hash: &[u8],
        user: &UserId,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.insert_email_token(hash, user, email, "verify", now, expires_at)
    }

    /// Stores an email-change token for the new address `email`, killing the user's older
    /// unused change tokens (a newer request kills the older link).
    pub fn insert_email_change(
        &self,
        hash: &[u8],
        user: &UserId,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.insert_email_token(hash, user, email, "change", now, expires_at)
    }

    fn insert_email_token(
        &self,
        hash: &[u8],
        user: &UserId,
        email: &str,
        purpose: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM email_verifications WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
                params![user.as_str(), purpose],
            )
            .map_err(db_err)?;
        self.0
            .execute(
                "INSERT INTO email_verifications (token_hash, user_id, email, purpose, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![hash, user.as_str(), email, purpose, now, expires_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks an email token used (without touching the user).
    pub fn use_email_token(&self, hash: &[u8], now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE email_verifications SET used_at = ?2 WHERE token_hash = ?1",
                params![hash, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Kills every unused email token and password reset of a user (after their address
    /// changed, links mailed to the old address must not work any more).
    pub fn delete_unused_mailed_tokens(&self, user: &UserId) -> Result<()> {
        for sql in [
            "DELETE FROM email_verifications WHERE user_id = ?1 AND used_at IS NULL",
            "DELETE FROM password_resets WHERE user_id = ?1 AND used_at IS NULL",
        ] {
            self.0.execute(sql, [user.as_str()]).map_err(db_err)?;
        }
        Ok(())
    }

    /// A verification token by hash.
    pub fn email_verification(&self, hash: &[u8]) -> Result<Option<TokenRow>> {
        self.0
            .query_row(
                "SELECT user_id, expires_at, used_at, email, purpose FROM email_verifications WHERE token_hash = ?1",
                [hash],
                |r| {
                    Ok(TokenRow {
                        user_id: UserId::from_trusted(r.get(0)?),
                        expires_at: r.get(1)?,
                        used_at: r.get(2)?,
                        email: r.get(3)?,
                        purpose: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(db_err)
    }

    /// Marks a verification used and the user's email verified.
    pub fn complete_email_verification(&self, hash: &[u8], user: &UserId, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE email_verifications SET used_at = ?2 WHERE token_hash = ?1",
                params![hash, now],
            )
            .map_err(db_err)?;
        self.0
            .execute(
                "UPDATE users SET email_verified = 1, updated_at = ?2 WHERE id = ?1",
                params![user.as_str(), now],
            )
            .map_err(db_err)?;
        Ok(())
    }
}
