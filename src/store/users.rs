//! Users table.

use rusqlite::{params, OptionalExtension, Row};

use super::{db_err, Conn, Tx};
use crate::domain::{Email, Preferences, User, UserId};
use crate::error::Result;

const COLUMNS: &str = "id, email, name, auth, sso_provider, email_verified, is_instance_admin, \
                       disabled, locale, timezone, theme, created_at";

fn row_to_user(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId::from_trusted(r.get(0)?),
        email: Email::from_trusted(r.get(1)?),
        name: r.get(2)?,
        auth: r.get(3)?,
        sso_provider: r.get(4)?,
        email_verified: r.get(5)?,
        is_instance_admin: r.get(6)?,
        disabled: r.get(7)?,
        preferences: Preferences {
            locale: r.get(8)?,
            timezone: r.get(9)?,
            theme: r.get(10)?,
        },
        created_at: r.get(11)?,
    })
}

/// A user with the stored password hash, for sign-in only.
pub struct Credentials {
    /// The user.
    pub user: User,
    /// Argon2id PHC string, if the user has a password.
    pub password_hash: Option<String>,
}

macro_rules! user_reads {
    ($t:ty, $conn:ident) => {
        impl $t {
            /// Finds a user by ID.
            pub fn user_by_id(&self, id: &UserId) -> Result<Option<User>> {
                let $conn = &self.0;
                $conn
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))
                    .map_err(db_err)?
                    .query_row([id.as_str()], row_to_user)
                    .optional()
                    .map_err(db_err)
            }

            /// Finds a user by normalised email.
            pub fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
                let $conn = &self.0;
                $conn
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE email = ?1"))
                    .map_err(db_err)?
                    .query_row([email.as_str()], row_to_user)
                    .optional()
                    .map_err(db_err)
            }
        }
    };
}
user_reads!(Conn<'_>, c);
user_reads!(Tx<'_>, c);

impl Conn<'_> {
    /// A user and their password hash, by email.
    pub fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>> {
        self.0
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, password_hash FROM users WHERE email = ?1"
            ))
            .map_err(db_err)?
            .query_row([email.as_str()], |r| {
                Ok(Credentials {
                    user: row_to_user(r)?,
                    password_hash: r.get(12)?,
                })
            })
            .optional()
            .map_err(db_err)
    }

    /// Users ordered by ID, after `cursor`, at most `limit`.
    pub fn list_users(&self, after: Option<&str>, limit: usize) -> Result<Vec<User>> {
        let mut stmt = self
            .0
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![after.unwrap_or(""), limit as i64], row_to_user)
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Number of instance admins.
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

/// Fields of a new user row.
pub struct NewUser<'a> {
    /// The user (ID, email, name, flags, preferences).
    pub user: &'a User,
    /// Password hash, if any.
    pub password_hash: Option<&'a str>,
}

impl Tx<'_> {
    /// Inserts a user; a duplicate email is a `Conflict`.
    pub fn insert_user(&self, n: NewUser<'_>) -> Result<()> {
        let u = n.user;
        self.0
            .prepare_cached(
                "INSERT INTO users (id, email, name, password_hash, auth, sso_provider, email_verified, \
                 is_instance_admin, disabled, locale, timezone, theme, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
            )
            .map_err(db_err)?
            .execute(params![
                u.id.as_str(),
                u.email.as_str(),
                u.name,
                n.password_hash,
                u.auth.as_str(),
                u.sso_provider,
                u.email_verified,
                u.is_instance_admin,
                u.disabled,
                u.preferences.locale,
                u.preferences.timezone,
                u.preferences.theme.as_str(),
                u.created_at,
            ])
            .map_err(db_err)?;
        Ok(())
    }

    /// Updates the display name.
    pub fn update_user_name(&self, id: &UserId, name: &str, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE users SET name = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), name, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Changes the sign-in address and marks it verified; a duplicate email is a `Conflict`.
    pub fn update_user_email(&self, id: &UserId, email: &Email, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE users SET email = ?2, email_verified = 1, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), email.as_str(), now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Replaces the preferences.
    pub fn update_preferences(&self, id: &UserId, p: &Preferences, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE users SET locale = ?2, timezone = ?3, theme = ?4, updated_at = ?5 WHERE id = ?1",
                params![id.as_str(), p.locale, p.timezone, p.theme.as_str(), now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Sets the disabled flag.
    pub fn set_user_disabled(&self, id: &UserId, disabled: bool, now: i64) -> Result<bool> {
        let n = self
            .0
            .execute(
                "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), disabled, now],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }
}
