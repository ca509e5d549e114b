//! User administration: create, list, disable. Instance admins over the API, the operator
//! from the CLI.

use crate::crypto::Secret;
use crate::domain::user::{validate_name, validate_password};
use crate::domain::{Auth, Email, User, UserId};
use crate::error::{Error, FieldError, Result};
use crate::service::authz::{InstanceAdmin, Operator};
use crate::service::setup::{new_password_user, NewUserFlags};
use crate::service::Context;
use crate::service::{now, Page};

/// Input for a new user.
#[derive(Debug)]
pub struct NewUserInput {
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Initial password; `None` for an account that signs in by SSO or sets it later.
    pub password: Option<Secret>,
    /// SSO provider (plugin name) for SSO accounts.
    pub sso: Option<String>,
}

fn create(app: &Context, input: NewUserInput) -> Result<User> {
    let mut errs: Vec<FieldError> = Vec::new();
    let email = Email::parse(&input.email)
        .map_err(|m| errs.push(FieldError::new("email", m)))
        .ok();
    let name = validate_name("name", &input.name, &mut errs);
    if let Some(p) = &input.password {
        validate_password("password", p.expose(), &mut errs);
    }
    if let Some(s) = &input.sso {
        if input.password.is_some() {
            errs.push(FieldError::new(
                "password",
                "an SSO account has no password",
            ));
        }
        if s.is_empty()
            || s.len() > 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            errs.push(FieldError::new(
                "sso",
                "must be a plugin name (letters, digits, - and _)",
            ));
        }
    }
    let Some(email) = email.filter(|_| errs.is_empty()) else {
        return Err(Error::Validation(errs));
    };
    let hash = input
        .password
        .as_ref()
        .map(|p| app.hasher.hash(p))
        .transpose()?;
    let mut user = new_password_user(email, name, NewUserFlags::UNVERIFIED);
    if let Some(provider) = input.sso {
        user.auth = Auth::Sso;
        user.sso_provider = Some(provider);
    }
    app.store.write(|tx| {
        if tx.user_by_email(&user.email)?.is_some() {
            return Err(Error::Conflict(
                "a user with this email already exists".into(),
            ));
        }
        tx.insert_user(crate::store::NewUser {
            user: &user,
            password_hash: hash.as_deref(),
        })?;
        if user.auth == Auth::Password {
            crate::service::passwords::queue_verification(app, tx, &user)?;
        }
        Ok(())
    })?;
    app.doorbell.ring();
    log::info!("user {} created", user.id);
    Ok(user)
}

/// Creates a user (instance admin).
pub fn create_by_admin(
    app: &Context,
    _admin: &InstanceAdmin<'_>,
    input: NewUserInput,
) -> Result<User> {
    create(app, input)
}

/// Creates a user (CLI operator).
pub fn create_by_operator(app: &Context, _op: &Operator, input: NewUserInput) -> Result<User> {
    create(app, input)
}

/// Lists users, cursor-paginated by ID.
pub fn list(app: &Context, cursor: Option<&str>, limit: usize) -> Result<Page<User>> {
    let mut rows = app.store.read(|c| c.list_users(cursor, limit + 1))?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|u| u.id.to_string())
    } else {
        None
    };
    Ok(Page {
        data: rows,
        next_cursor,
    })
}

/// Lists users (instance admin).
pub fn list_by_admin(
    app: &Context,
    _admin: &InstanceAdmin<'_>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<User>> {
    list(app, cursor, limit)
}

/// Disables or re-enables a user; disabling ends their sessions at once.
pub fn set_disabled(
    app: &Context,
    by: Option<&UserId>,
    id: &UserId,
    disabled: bool,
) -> Result<User> {
    if disabled && by == Some(id) {
        return Err(Error::field(
            "disabled",
            "you cannot disable your own account",
        ));
    }
    let now = now();
    app.store.write(|tx| {
        if !tx.set_user_disabled(id, disabled, now)? {
            return Err(Error::NotFound);
        }
        if disabled {
            tx.delete_user_sessions(id)?;
        }
        tx.user_by_id(id)?.ok_or(Error::NotFound)
    })
}

/// Disables or re-enables a user (instance admin).
pub fn set_disabled_by_admin(
    app: &Context,
    admin: &InstanceAdmin<'_>,
    id: &UserId,
    disabled: bool,
) -> Result<User> {
    set_disabled(app, admin.principal().user_id(), id, disabled)
}
