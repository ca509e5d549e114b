//! Two-step sign-in: a person's authenticator secret (sealed), recovery codes (hashed) and
//! the pending sign-in challenges (hashed).

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::domain::UserId;
use crate::error::Result;

/// A stored authenticator (sealed secret).
#[derive(Debug, Clone)]
pub struct TotpRow {
    /// The sealed secret (open with the keyring under the user's context).
    pub secret_sealed: Vec<u8>,
    /// When the enrolment started (unix seconds).
    pub created_at: i64,
    /// When the first code confirmed it; `None` while the enrolment waits.
    pub confirmed_at: Option<i64>,
    /// The last time step a code was accepted for.
    pub last_step: i64,
}

/// A pending sign-in challenge.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    /// Who signed in with the right password.
    pub user_id: UserId,
    /// Absolute expiry (unix seconds).
    pub expires_at: i64,
    /// Wrong codes so far.
    pub failures: i64,
}

impl Conn<'_> {
    /// A user's authenticator, confirmed or pending.
    pub fn totp(&self, user: &UserId) -> Result<Option<TotpRow>> {
        self.0
            .prepare_cached(
                "SELECT secret_sealed, created_at, confirmed_at, last_step FROM two_step_totp WHERE user_id = ?1",
            )
            .map_err(db_err)?
            .query_row([user.as_str()], |r| {
                Ok(TotpRow {
                    secret_sealed: r.get(0)?,
                    created_at: r.get(1)?,
                    confirmed_at: r.get(2)?,
                    last_step: r.get(3)?,
                })
            })
            .optional()
            .map_err(db_err)
    }

    /// How many unused recovery codes a user has left.
    pub fn recovery_codes_left(&self, user: &UserId) -> Result<i64> {
        self.0
            .query_row(
                "SELECT COUNT(*) FROM two_step_recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
                [user.as_str()],
                |r| r.get(0),
            )
            .map_err(db_err)
    }

    /// For each of these users: (ID, signs in with SSO, has a second factor (a confirmed
    /// authenticator or a passkey), is an instance administrator). Unknown IDs are left out.
    pub fn two_step_states(&self, users: &[&str]) -> Result<Vec<(String, bool, bool, bool)>> {
        let mut st = self
            .0
            .prepare_cached(
                "SELECT u.auth = 'sso', \
                 t.confirmed_at IS NOT NULL OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id), \
                 u.is_instance_admin \
                 FROM users u LEFT JOIN two_step_totp t ON t.user_id = u.id WHERE u.id = ?1",
            )
            .map_err(db_err)?;
        let mut out = Vec::new();
        for u in users {
            let row = st
                .query_row([u], |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, bool>(2)?,
                    ))
                })
                .optional()
                .map_err(db_err)?;
            if let Some((sso, on, admin)) = row {
                out.push(((*u).to_string(), sso, on, admin));
            }
        }
        Ok(out)
    }

    /// A challenge by token hash.
    pub fn two_step_challenge(&self, token_hash: &[u8]) -> Result<Option<ChallengeRow>> {
        self.0
            .prepare_cached(
                "SELECT user_id, expires_at, failures FROM two_step_challenges WHERE token_hash = ?1",
            )
            .map_err(db_err)?
            .query_row([token_hash], |r| {
                Ok(ChallengeRow {
                    user_id: UserId::from_trusted(r.get(0)?),
                    expires_at: r.get(1)?,
                    failures: r.get(2)?,
                })
            })
            .optional()
            .map_err(db_err)
    }
}

impl Tx<'_> {
    /// Starts (or restarts) an enrolment: a new sealed secret, not confirmed. Replaces a
    /// pending one; refused by the caller when a confirmed one exists.
    pub fn put_pending_totp(&self, user: &UserId, sealed: &[u8], now: i64) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO two_step_totp (user_id, secret_sealed, created_at, confirmed_at, last_step) \
                 VALUES (?1, ?2, ?3, NULL, 0) \
                 ON CONFLICT (user_id) DO UPDATE SET secret_sealed = ?2, created_at = ?3, confirmed_at = NULL, last_step = 0",
                params![user.as_str(), sealed, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks the enrolment confirmed at `now`, with the step of the confirming code used.
    pub fn confirm_totp(&self, user: &UserId, step: i64, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE two_step_totp SET confirmed_at = ?2, last_step = ?3 WHERE user_id = ?1",
                params![user.as_str(), now, step],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Records the step of an accepted code; `false` when a code of this step or a later
    /// one was already accepted (a replay), so nothing changed.
    pub fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE two_step_totp SET last_step = ?2 WHERE user_id = ?1 AND last_step < ?2",
                params![user.as_str(), step],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// Removes a user's second factors: the authenticator, recovery codes, passkeys and
    /// challenges; `false` when there was neither an authenticator nor a passkey.
    pub fn delete_two_step(&self, user: &UserId) -> Result<bool> {
        let n = self
            .0
            .execute(
                "DELETE FROM two_step_totp WHERE user_id = ?1",
                [user.as_str()],
            )
            .map_err(db_err)?;
        for sql in [
            "DELETE FROM two_step_recovery_codes WHERE user_id = ?1",
            "DELETE FROM two_step_challenges WHERE user_id = ?1",
        ] {
            self.0.execute(sql, [user.as_str()]).map_err(db_err)?;
        }
        let passkeys = self.delete_passkeys_of(user)?;
        Ok(n == 1 || passkeys > 0)
    }

    /// Replaces a user's recovery codes with these hashes.
    pub fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: &[Vec<u8>],
        now: i64,
    ) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM two_step_recovery_codes WHERE user_id = ?1",
                [user.as_str()],
            )
            .map_err(db_err)?;
        let mut st = self
            .0
            .prepare_cached(
                "INSERT INTO two_step_recovery_codes (code_hash, user_id, created_at) VALUES (?1, ?2, ?3)",
            )
            .map_err(db_err)?;
        for h in hashes {
            st.execute(params![h, user.as_str(), now]).map_err(db_err)?;
        }
        Ok(())
    }

    /// Uses a recovery code once; `false` when it is not an unused code of this user.
    pub fn use_recovery_code(&self, user: &UserId, hash: &[u8], now: i64) -> Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE two_step_recovery_codes SET used_at = ?3 \
                 WHERE code_hash = ?1 AND user_id = ?2 AND used_at IS NULL",
                params![hash, user.as_str(), now],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// Stores a new challenge.
    pub fn insert_two_step_challenge(
        &self,
        token_hash: &[u8],
        user: &UserId,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM two_step_challenges WHERE expires_at <= ?1",
                [now],
            )
            .map_err(db_err)?;
        self.0
            .execute(
                "INSERT INTO two_step_challenges (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, user.as_str(), now, expires_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Counts a wrong code against a challenge; returns the new count.
    pub fn fail_two_step_challenge(&self, token_hash: &[u8]) -> Result<i64> {
        self.0
            .execute(
                "UPDATE two_step_challenges SET failures = failures + 1 WHERE token_hash = ?1",
                [token_hash],
            )
            .map_err(db_err)?;
        Ok(self
            .reads()
            .two_step_challenge(token_hash)?
            .map_or(0, |c| c.failures))
    }

    /// Deletes a challenge (used, expired or spent).
    pub fn delete_two_step_challenge(&self, token_hash: &[u8]) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM two_step_challenges WHERE token_hash = ?1",
                [token_hash],
            )
            .map_err(db_err)?;
        Ok(())
    }
}
