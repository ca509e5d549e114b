//! Password reset and email verification. Reset tokens are 256-bit, stored hashed, valid 30
//! minutes, single use, and a newer one kills older ones; a completed reset ends every session
//! of the user, does not sign in, and sends a "your password was changed" notice. The public
//! request answers the same whether or not the account exists (and for SSO accounts), and in
//! the same time: the request handler only checks the throttles and queues the address; the
//! account look-up and the token write happen afterwards on the reset worker (SPEC §7: no
//! enumeration, by content or by timing).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::crypto::{new_token, Secret};
use crate::domain::user::validate_password;
use crate::domain::{Auth, Email, User};
use crate::error::{Error, Result};
use crate::service::authz::Principal;
use crate::service::Context;
use crate::service::{mail, now};
use crate::store::Tx;
use crate::views::email::{Account, Message};

/// Reset links expire after this many seconds.
pub const RESET_TTL_SECS: i64 = 30 * 60;
/// Verification links expire after this many seconds.
pub const VERIFY_TTL_SECS: i64 = 7 * 24 * 3600;

fn reset_for(app: &Context, user: &User) -> Result<()> {
    let token = new_token();
    let hash = app.keyring.token_hash(token.expose());
    let now = now();
    let link = format!("{}/reset-password?token={}", app.public_url, token.expose());
    app.store.write(|tx| {
        tx.insert_password_reset(&hash, &user.id, now, now + RESET_TTL_SECS)?;
        mail::queue(
            app,
            tx,
            user.email.as_str(),
            &Message::PasswordReset(Account {
                name: &user.name,
                email: user.email.as_str(),
                link: &link,
            }),
            None,
        )
    })?;
    app.doorbell.ring();
    Ok(())
}

/// Public request: always succeeds from the caller's point of view. Throttled per address and
/// per client; throttled, unknown, disabled and SSO accounts get no email.
pub fn request(app: &Context, email: &str, client: &str) -> Result<()> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    for (limiter, key) in [
        (&app.limits.reset, email.as_str()),
        (&app.limits.reset_client, client),
    ] {
        if limiter.check(key).is_err() {
            return Ok(());
        }
        limiter.failure(key);
    }
    // Every address that passed the throttles takes this same path, whether or not it names
    // an account; a full queue drops the request (the caller may ask again), also the same.
    app.reset_queue.push(email);
    Ok(())
}

/// Does the per-account work of one public reset request (on the reset worker).
fn process_request(app: &Context, email: &Email) -> Result<()> {
    match app.store.read(|c| c.user_by_email(email))? {
        Some(u) if u.auth == Auth::Password && !u.disabled => reset_for(app, &u),
        _ => Ok(()),
    }
}

/// Reset requests waiting for the worker; bounded (a flood of requests drops the excess
/// rather than growing memory).
#[derive(Debug, Default)]
pub struct ResetQueue {
    jobs: Mutex<VecDeque<Email>>,
}

/// At most this many reset requests wait for the worker.
const RESET_QUEUE_CAP: usize = 1024;

impl ResetQueue {
    fn push(&self, email: Email) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if jobs.len() >= RESET_QUEUE_CAP {
            log::warn!("password-reset queue full; a request was dropped");
            return;
        }
        // No wake-up: the worker must not start this request's work while its answer is
        // still being written (on a busy machine that delays the answer for existing
        // accounts only). It drains the queue on its own clock instead.
        jobs.push_back(email);
    }

    fn take_all(&self) -> VecDeque<Email> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The reset worker drains its queue this often.
const RESET_TICK: Duration = Duration::from_millis(250);

/// Starts the reset worker: every 250 ms it looks each queued address up and, for a password
/// account, stores a reset token and queues the email (so that work never coincides with a
/// particular request's answer). Stops (after the queue is empty) once `stop` is set.
pub fn spawn_reset_worker(
    app: Arc<Context>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("password-reset".into())
        .spawn(move || loop {
            let stopping = stop.load(Ordering::Relaxed);
            for email in app.reset_queue.take_all() {
                if let Err(e) = process_request(&app, &email) {
                    log::error!("password-reset request failed: {e}");
                }
            }
            if stopping {
                return;
            }
            std::thread::sleep(RESET_TICK);
        })
}

/// Signed-in request ("Send password reset email"); SSO users get `sso_managed`.
pub fn request_for_me(app: &Context, p: &Principal) -> Result<()> {
    let user = p.user()?;
    if user.auth == Auth::Sso {
        return Err(Error::SsoManaged);
    }
    if let Err(secs) = app.limits.reset.check(user.email.as_str()) {
        return Err(Error::RateLimited {
            retry_after_secs: secs,
        });
    }
    app.limits.reset.failure(user.email.as_str());
    reset_for(app, user)
}

/// True when a reset token can still be used (for the reset page).
pub fn reset_token_usable(app: &Context, token: &str) -> Result<bool> {
    let hash = app.keyring.token_hash(token);
    let now = now();
    app.store.write(|tx| {
        Ok(tx
            .password_reset(&hash)?
            .is_some_and(|t| t.used_at.is_none() && t.expires_at > now))
    })
}

/// Sets a new password with a reset token.
pub fn confirm(app: &Context, token: &str, password: &Secret) -> Result<()> {
    let mut errs = Vec::new();
    validate_password("password", password.expose(), &mut errs);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let hash = app.keyring.token_hash(token);
    let phc = app.hasher.hash(password)?;
    let now = now();
    let link = format!("{}/forgot-password", app.public_url);
    app.store.write(|tx| {
        let row = tx.password_reset(&hash)?.ok_or(Error::TokenInvalid)?;
        if row.used_at.is_some() || row.expires_at <= now {
            return Err(Error::TokenInvalid);
        }
        let user = tx.user_by_id(&row.user_id)?.ok_or(Error::TokenInvalid)?;
        if user.auth == Auth::Sso || user.disabled {
            return Err(Error::TokenInvalid);
        }
        tx.use_password_reset(&hash, now)?;
        tx.set_password(&user.id, &phc, now)?;
        tx.delete_user_sessions(&user.id)?;
        mail::queue(
            app,
            tx,
            user.email.as_str(),
            &Message::PasswordChanged(Account {
                name: &user.name,
                email: user.email.as_str(),
                link: &link,
            }),
            None,
        )?;
        log::info!("password of {} reset; all sessions ended", user.id);
        Ok(())
    })?;
    app.doorbell.ring();
    Ok(())
}

/// Queues a verification email for a new account (in the caller's transaction).
pub fn queue_verification(app: &Context, tx: &Tx<'_>, user: &User) -> Result<()> {
    let token = new_token();
    let hash = app.keyring.token_hash(token.expose());
    let now = now();
    tx.insert_email_verification(
        &hash,
        &user.id,
        user.email.as_str(),
        now,
        now + VERIFY_TTL_SECS,
    )?;
    let link = format!("{}/verify-email?token={}", app.public_url, token.expose());
    mail::queue(
        app,
        tx,
        user.email.as_str(),
        &Message::EmailVerification(Account {
            name: &user.name,
            email: user.email.as_str(),
            link: &link,
        }),
        None,
    )?;
    Ok(())
}

/// Sends a new verification email to the signed-in user.
pub fn resend_verification(app: &Context, p: &Principal) -> Result<()> {
    let user = p.user()?;
    if user.email_verified {
        return Err(Error::Conflict(
            "your email address is already verified".into(),
        ));
    }
    if let Err(secs) = app.limits.reset.check(&format!("verify:{}", user.email)) {
        return Err(Error::RateLimited {
            retry_after_secs: secs,
        });
    }
    app.limits.reset.failure(&format!("verify:{}", user.email));
    app.store.write(|tx| queue_verification(app, tx, user))?;
    app.doorbell.ring();
    Ok(())
}

/// Confirms an address with a verification token.
pub fn verify_email(app: &Context, token: &str) -> Result<()> {
    let hash = app.keyring.token_hash(token);
    let now = now();
    app.store.write(|tx| {
        let row = tx.email_verification(&hash)?.ok_or(Error::TokenInvalid)?;
        if row.used_at.is_some()
            || row.expires_at <= now
            || row.purpose.as_deref() != Some("verify")
        {
            return Err(Error::TokenInvalid);
        }
        let user = tx.user_by_id(&row.user_id)?.ok_or(Error::TokenInvalid)?;
        if row.email.as_deref() != Some(user.email.as_str()) {
            return Err(Error::TokenInvalid);
        }
        tx.complete_email_verification(&hash, &user.id, now)
    })
}
