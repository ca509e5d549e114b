//! First-run setup: a one-time token, printed at start while no instance admin exists, lets a
//! person create the first instance admin. `tenantry init` does the same from a script.

use crate::crypto::{new_token, Secret};
use crate::domain::user::{validate_name, validate_password};
use crate::domain::{Auth, Email, Preferences, Theme, User, UserId};
use crate::error::{Error, FieldError, Result};
use crate::service::now;
use crate::service::Context;

/// When no instance admin exists, issues a fresh setup token (replacing an unused one) and
/// returns it for printing; otherwise `None`.
pub fn issue_token_if_needed(app: &Context) -> Result<Option<Secret>> {
    let token = new_token();
    let hash = app.keyring.token_hash(token.expose());
    let now = now();
    app.store.write(|tx| {
        if tx.count_instance_admins()? > 0 {
            return Ok(None);
        }
        tx.replace_setup_token(&hash, now)?;
        Ok(Some(token))
    })
}

/// True when `token` is an unused setup token.
pub fn token_is_valid(app: &Context, token: &str) -> Result<bool> {
    let hash = app.keyring.token_hash(token);
    app.store
        .read(|c| Ok(c.count_instance_admins()? == 0 && c.setup_token_valid(&hash)?))
}

/// Input for creating the first admin.
#[derive(Debug)]
pub struct SetupInput {
    /// Email.
    pub email: String,
    /// Password.
    pub password: Secret,
    /// Display name.
    pub name: String,
}

/// Validates the admin fields; returns the normalised email and name.
pub fn validate_admin(input: &SetupInput) -> Result<(Email, String)> {
    let mut errs: Vec<FieldError> = Vec::new();
    let email = match Email::parse(&input.email) {
        Ok(e) => Some(e),
        Err(m) => {
            errs.push(FieldError::new("email", m));
            None
        }
    };
    let name = validate_name("name", &input.name, &mut errs);
    validate_password("password", input.password.expose(), &mut errs);
    match email {
        Some(e) if errs.is_empty() => Ok((e, name)),
        _ => Err(Error::Validation(errs)),
    }
}

/// Whether a new user is an instance admin and whether their address counts as verified.
#[derive(Clone, Copy, Debug, Default)]
pub struct NewUserFlags {
    /// Instance admin.
    pub instance_admin: bool,
    /// The address is already proven (setup, an accepted invitation, an SSO assertion).
    pub email_verified: bool,
}

impl NewUserFlags {
    /// A plain user whose address still needs proof.
    pub const UNVERIFIED: NewUserFlags = NewUserFlags {
        instance_admin: false,
        email_verified: false,
    };
    /// A plain user whose address is already proven.
    pub const VERIFIED: NewUserFlags = NewUserFlags {
        instance_admin: false,
        email_verified: true,
    };
    /// The first instance admin (setup or `tenantry init`).
    pub const FIRST_ADMIN: NewUserFlags = NewUserFlags {
        instance_admin: true,
        email_verified: true,
    };
}

/// Builds a new password user record.
pub fn new_password_user(email: Email, name: String, flags: NewUserFlags) -> User {
    let NewUserFlags {
        instance_admin: admin,
        email_verified: verified,
    } = flags;
    User {
        id: UserId::generate(),
        email,
        name,
        auth: Auth::Password,
        sso_provider: None,
        email_verified: verified,
        is_instance_admin: admin,
        disabled: false,
        preferences: Preferences {
            locale: "en".into(),
            timezone: "UTC".into(),
            theme: Theme::System,
        },
        created_at: now(),
    }
}

/// Consumes the setup token and creates the first instance admin, atomically.
pub fn complete(app: &Context, token: &str, input: SetupInput) -> Result<User> {
    let (email, name) = validate_admin(&input)?;
    let hash = app.keyring.token_hash(token);
    if !app.store.read(|c| c.setup_token_valid(&hash))? {
        return Err(Error::SetupTokenInvalid);
    }
    let password_hash = app.hasher.hash(&input.password)?;
    let user = new_password_user(email, name, NewUserFlags::FIRST_ADMIN);
    let now = now();
    app.store.write(|tx| {
        if !tx.consume_setup_token(&hash, now)? || tx.count_instance_admins()? > 0 {
            return Err(Error::SetupTokenInvalid);
        }
        tx.insert_user(crate::store::NewUser {
            user: &user,
            password_hash: Some(&password_hash),
        })
    })?;
    log::info!("first instance admin {} created through setup", user.id);
    Ok(user)
}

/// `tenantry init`: creates the first instance admin without a token, when none exists.
pub fn init_admin(app: &Context, input: SetupInput) -> Result<User> {
    let (email, name) = validate_admin(&input)?;
    let password_hash = app.hasher.hash(&input.password)?;
    let user = new_password_user(email, name, NewUserFlags::FIRST_ADMIN);
    app.store.write(|tx| {
        if tx.count_instance_admins()? > 0 {
            return Err(Error::Conflict("an instance admin already exists".into()));
        }
        // A setup link printed earlier must die with the first admin.
        tx.delete_setup_tokens()?;
        tx.insert_user(crate::store::NewUser {
            user: &user,
            password_hash: Some(&password_hash),
        })
    })?;
    Ok(user)
}
