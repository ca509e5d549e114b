//! Sign-in, sessions and sign-out. Unknown accounts and wrong passwords produce the same error
//! after the same amount of hashing work; failures are throttled per account and per client.
//! An account with two-step sign-in gets a challenge after its password
//! ([`Error::MfaRequired`]); `service::two_step::finish` creates the session.

use crate::crypto::{new_token, Secret};
use crate::domain::Email;
use crate::error::{Error, Result};
use crate::service::authz::Principal;
use crate::service::now;
use crate::service::Context;

/// A freshly created session: the token goes into the cookie and is never stored in clear.
#[derive(Debug)]
pub struct NewSession {
    /// Cookie value.
    pub token: Secret,
    /// Form CSRF token bound to the session.
    pub csrf_token: String,
    /// Seconds until the absolute expiry (cookie Max-Age).
    pub max_age_secs: i64,
}

/// A resolved session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The signed-in user.
    pub principal: Principal,
    /// Form CSRF token bound to the session.
    pub csrf_token: String,
}

/// Signs a user in with email and password from `client` (an IP address string).
pub fn login(app: &Context, email: &str, password: &Secret, client: &str) -> Result<NewSession> {
    let hasher_busy = std::cell::Cell::new(false);
    let result = login_checked(app, email, password, client, &hasher_busy);
    app.metrics.sign_in(match &result {
        Ok(_) => "success",
        Err(Error::InvalidCredentials) => "failure",
        // The hasher queue was full: a rate-limit answer too, but not the throttle's.
        Err(Error::RateLimited { .. }) if hasher_busy.get() => "busy",
        Err(Error::RateLimited { .. }) => "throttled",
        Err(Error::Sso { .. }) => "sso_required",
        Err(_) => "error",
    });
    result
}

fn login_checked(
    app: &Context,
    email: &str,
    password: &Secret,
    client: &str,
    hasher_busy: &std::cell::Cell<bool>,
) -> Result<NewSession> {
    let account_key = Email::parse(email)
        .map(|e| e.as_str().to_string())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    for (limiter, key) in [
        (&app.limits.login_account, account_key.as_str()),
        (&app.limits.login_client, client),
    ] {
        if let Err(secs) = limiter.check(key) {
            return Err(Error::RateLimited {
                retry_after_secs: secs,
            });
        }
    }
    let sso_route = crate::service::sso::route_for(app, email)?;
    let creds = match Email::parse(email) {
        Ok(e) => app.store.read(|c| c.credentials_by_email(&e))?,
        Err(_) => None,
    };
    let busy = |_| {
        hasher_busy.set(true);
        Error::RateLimited {
            retry_after_secs: 1,
        }
    };
    let ok = match creds.as_ref().and_then(|c| c.password_hash.as_ref()) {
        Some(h) => app.hasher.verify(password, h).map_err(busy)?,
        None => {
            app.hasher.dummy_verify(password).map_err(busy)?;
            false
        }
    };
    let user = match creds {
        Some(c) if ok && !c.user.disabled => c.user,
        _ => {
            app.limits.login_account.failure(&account_key);
            app.limits.login_client.failure(client);
            return Err(match &sso_route {
                Some(route) => sso_required(app, &route.plugin, email),
                None => Error::InvalidCredentials,
            });
        }
    };
    // Addresses of an organization's SSO domains sign in there. Instance administrators keep
    // their password (break-glass: an identity provider outage must not lock out the
    // instance); their right password is the only way past this, so the answer reveals
    // nothing about other accounts.
    if let Some(route) = &sso_route {
        if !user.is_instance_admin {
            return Err(sso_required(app, &route.plugin, email));
        }
        log::warn!(
            "instance administrator {} signed in with a password in an SSO domain",
            user.id
        );
    }
    // With two-step sign-in, a right password gives a challenge, not a session, and does
    // not clear the account's failures: wrong codes keep counting across password entries.
    if crate::service::two_step::is_enabled(app, &user.id)? {
        let challenge = crate::service::two_step::begin(app, &user.id)?;
        log::info!(
            "user {} passed the password step; a second step is due",
            user.id
        );
        return Err(Error::MfaRequired {
            challenge: challenge.token,
            expires_in: challenge.expires_in,
            methods: crate::service::two_step::methods(app, &user.id)?,
        });
    }
    app.limits.login_account.success(&account_key);
    let session = start_session(app, &user.id)?;
    log::info!("user {} signed in", user.id);
    Ok(session)
}

fn sso_required(app: &Context, plugin: &str, email: &str) -> Error {
    Error::Sso {
        code: crate::domain::SsoFailure::Required,
        message: format!(
            "this address signs in with single sign-on; send the browser to {}",
            crate::service::sso::start_url(app, plugin, email)
        ),
    }
}

/// Creates a session for a user who has just proven who they are.
pub fn start_session(app: &Context, user: &crate::domain::UserId) -> Result<NewSession> {
    let token = new_token();
    let csrf_token = new_token().expose().to_string();
    let hash = app.keyring.token_hash(token.expose());
    let now = now();
    let expires = now + app.config.session_absolute_secs;
    app.store
        .write(|tx| tx.insert_session(&hash, user, now, expires, &csrf_token))?;
    Ok(NewSession {
        token,
        csrf_token,
        max_age_secs: app.config.session_absolute_secs,
    })
}

/// Resolves a session cookie value; `None` when unknown, expired, or the user is disabled.
pub fn authenticate(app: &Context, token: &str, client_ip: &str) -> Result<Option<SessionInfo>> {
    if token.len() != crate::crypto::TOKEN_LEN {
        return Ok(None);
    }
    let hash = app.keyring.token_hash(token);
    let now = now();
    let Some((row, user)) = app.store.read(|c| {
        let Some(row) = c.session(&hash)? else {
            return Ok(None);
        };
        Ok(c.user_by_id(&row.user_id)?.map(|u| (row, u)))
    })?
    else {
        return Ok(None);
    };
    if row.expires_at <= now
        || row.last_seen_at + app.config.session_idle_secs <= now
        || user.disabled
    {
        app.store.write(|tx| tx.delete_session(&hash))?;
        return Ok(None);
    }
    // Idle expiry needs last-seen, but not a disk write per request.
    if now - row.last_seen_at >= 60 {
        app.store.write(|tx| tx.touch_session(&hash, now))?;
    }
    Ok(Some(SessionInfo {
        principal: Principal::for_user(user, client_ip),
        csrf_token: row.csrf_token,
    }))
}

/// Ends a session (sign-out). Unknown tokens are ignored. Answers the identity provider's
/// sign-out URL when a single sign-on that also signs out there started the session.
pub fn logout(app: &Context, token: &str) -> Result<Option<String>> {
    crate::service::sso::end_session(app, token)
}
