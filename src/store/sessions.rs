//! Sessions, stored by the keyed hash of their token.

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::domain::UserId;
use crate::error::Result;

/// A stored session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Owner.
    pub user_id: UserId,
    /// Last time the session was used (unix seconds).
    pub last_seen_at: i64,
    /// Absolute expiry (unix seconds).
    pub expires_at: i64,
    /// Per-session CSRF token for HTML forms.
    pub csrf_token: String,
}

impl Conn<'_> {
    /// Looks a session up by token hash.
    pub fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRow>> {
        self.0
            .prepare_cached(
                "SELECT user_id, last_seen_at, expires_at, csrf_token FROM sessions WHERE token_hash = ?1",
            )
            .map_err(db_err)?
            .query_row([token_hash], |r| {
                Ok(SessionRow {
                    user_id: UserId::from_trusted(r.get(0)?),
                    last_seen_at: r.get(1)?,
                    expires_at: r.get(2)?,
                    csrf_token: r.get(3)?,
                })
            })
            .optional()
            .map_err(db_err)
    }
}

impl Tx<'_> {
    /// Stores a new session.
    pub fn insert_session(
        &self,
        token_hash: &[u8],
        user: &UserId,
        now: i64,
        expires_at: i64,
        csrf_token: &str,
    ) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, csrf_token) \
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
                params![token_hash, user.as_str(), now, expires_at, csrf_token],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Moves a session's last-seen time forward.
    pub fn touch_session(&self, token_hash: &[u8], now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
                params![token_hash, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Deletes one session.
    pub fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        self.0
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
            .map_err(db_err)?;
        Ok(())
    }

    /// Deletes every session of a user (password reset, account disabled).
    pub fn delete_user_sessions(&self, user: &UserId) -> Result<usize> {
        self.0
            .execute("DELETE FROM sessions WHERE user_id = ?1", [user.as_str()])
            .map_err(db_err)
    }

    /// Deletes expired sessions.
    pub fn purge_expired_sessions(&self, now: i64, idle_secs: i64) -> Result<usize> {
        self.0
            .execute(
                "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at <= ?1 - ?2",
                params![now, idle_secs],
            )
            .map_err(db_err)
    }
}

/// One of a user's sessions, as listed on the Security page (no token, only its hash).
#[derive(Debug, Clone)]
pub struct SessionListing {
    /// Keyed hash of the token (compared with the caller's own to mark "this session").
    pub token_hash: Vec<u8>,
    /// When it was created (unix seconds).
    pub created_at: i64,
    /// Last time it was used (unix seconds).
    pub last_seen_at: i64,
    /// Absolute expiry (unix seconds).
    pub expires_at: i64,
}

impl Conn<'_> {
    /// A user's sessions that have not expired, most recently used first.
    pub fn user_sessions(&self, user: &UserId, now: i64) -> Result<Vec<SessionListing>> {
        let mut st = self
            .0
            .prepare_cached(
                "SELECT token_hash, created_at, last_seen_at, expires_at FROM sessions \
                 WHERE user_id = ?1 AND expires_at > ?2 ORDER BY last_seen_at DESC, created_at DESC",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map(params![user.as_str(), now], |r| {
                Ok(SessionListing {
                    token_hash: r.get(0)?,
                    created_at: r.get(1)?,
                    last_seen_at: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(db_err)
    }
}

impl Tx<'_> {
    /// Deletes every session of a user except the one with `keep` as its token hash.
    pub fn delete_other_sessions(&self, user: &UserId, keep: &[u8]) -> Result<usize> {
        self.0
            .execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2",
                params![user.as_str(), keep],
            )
            .map_err(db_err)
    }
}
