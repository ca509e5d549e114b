//! Changing one's sign-in address, verified. A signed-in password user asks for a new address
//! and proves who they are with their current password (failures count against the sign-in
//! throttles). A single-use token (256-bit, stored hashed, 24 hours, purpose `change`) is
//! emailed to the NEW address; a newer request kills the older link. The link's page names the
//! new address and asks for a click (a GET changes nothing, so a mail scanner or a link
//! preview cannot confirm it); confirming changes the address, marks it verified, kills the
//! links still pending for the old address (password resets, confirmations), audits the
//! change in every organization the user belongs to and tells the OLD address.
//!
//! No enumeration: the request answers the same whether or not another account uses the new
//! address, so it does not reveal who has an account. The conflict is caught when the link
//! is followed (only the owner of the new address can follow it, and they already know the
//! address is theirs), and the link then says the address cannot be used.

use serde_json::json;

use crate::crypto::{new_token, Secret};
use crate::domain::AuditAction;
use crate::domain::{Auth, Email, User};
use crate::error::{Error, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::Principal;
use crate::service::invitations::mask_email;
use crate::service::Context;
use crate::service::{mail, now};
use crate::views::email::Message;

/// Email-change links expire after this many seconds.
pub const CHANGE_TTL_SECS: i64 = 24 * 3600;

fn sso_domain_error() -> Error {
    Error::field(
        "email",
        "belongs to a domain that signs in with single sign-on; an account there must sign in through its organization's SSO",
    )
}

/// Checks the current password of `user` (throttled like sign-in failures, per account and
/// per client); a wrong one is a field error on `password`.
fn reauthenticate(app: &Context, user: &User, password: &Secret, client: &str) -> Result<()> {
    let account_key = user.email.as_str().to_string();
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
    let creds = app.store.read(|c| c.credentials_by_email(&user.email))?;
    let busy = |_| Error::RateLimited {
        retry_after_secs: 1,
    };
    let ok = match creds
        .as_ref()
        .filter(|c| c.user.id == user.id)
        .and_then(|c| c.password_hash.as_ref())
    {
        Some(h) => app.hasher.verify(password, h).map_err(busy)?,
        None => {
            app.hasher.dummy_verify(password).map_err(busy)?;
            false
        }
    };
    if !ok {
        app.limits.login_account.failure(&account_key);
        app.limits.login_client.failure(client);
        return Err(Error::conflict_field(
            "password",
            "is not your current password",
        ));
    }
    app.limits.login_account.success(&account_key);
    Ok(())
}

/// Asks to change the signed-in user's address to `email`, confirmed with `password`. On
/// success the link is queued to the new address; the answer does not say whether another
/// account uses it.
pub fn request(app: &Context, p: &Principal, email: &str, password: &Secret) -> Result<()> {
    let user = p.user()?;
    if user.auth == Auth::Sso {
        return Err(Error::SsoManaged);
    }
    let new = Email::parse(email).map_err(|m| Error::field("email", m))?;
    if new == user.email {
        return Err(Error::conflict_field("email", "is already your address"));
    }
    reauthenticate(app, user, password, &p.client_ip)?;
    if app
        .store
        .read(|c| c.sso_org_for_domain(new.domain()))?
        .is_some()
    {
        return Err(sso_domain_error());
    }
    // Each request mails an address of the caller's choosing: a few an hour, not a relay.
    let key = format!("email-change:{}", user.id);
    if let Err(secs) = app.limits.reset.check(&key) {
        return Err(Error::RateLimited {
            retry_after_secs: secs,
        });
    }
    app.limits.reset.failure(&key);
    let token = new_token();
    let hash = app.keyring.token_hash(token.expose());
    let now = now();
    let link = format!(
        "{}/confirm-email-change?token={}",
        app.public_url,
        token.expose()
    );
    app.store.write(|tx| {
        tx.insert_email_change(&hash, &user.id, new.as_str(), now, now + CHANGE_TTL_SECS)?;
        mail::queue(
            app,
            tx,
            new.as_str(),
            &Message::EmailChange {
                name: &user.name,
                email: new.as_str(),
                old_email: user.email.as_str(),
                link: &link,
            },
            None,
        )
    })?;
    app.doorbell.ring();
    log::info!("user {} asked to change their email address", user.id);
    Ok(())
}

/// The address a confirmation changed to (for the page).
#[derive(Debug, serde::Serialize)]
pub struct Changed {
    /// The new sign-in address.
    pub email: Email,
}

fn unusable() -> Error {
    Error::Conflict(
        "this address cannot be used for your account: it belongs to another account or signs in with single sign-on".into(),
    )
}

/// The account and new address an email-change token stands for, if it can still be used:
/// unknown, used, expired and plain-verification tokens are `TokenInvalid`; an address that
/// another account took (or that became an SSO domain) is a `Conflict`. Changes nothing.
fn pending_change(tx: &crate::store::Tx<'_>, hash: &[u8], now: i64) -> Result<(User, Email)> {
    let row = tx.email_verification(hash)?.ok_or(Error::TokenInvalid)?;
    if row.used_at.is_some() || row.expires_at <= now || row.purpose.as_deref() != Some("change") {
        return Err(Error::TokenInvalid);
    }
    let user = tx.user_by_id(&row.user_id)?.ok_or(Error::TokenInvalid)?;
    if user.disabled || user.auth == Auth::Sso {
        return Err(Error::TokenInvalid);
    }
    let new =
        Email::parse(row.email.as_deref().unwrap_or_default()).map_err(|_| Error::TokenInvalid)?;
    if tx.user_by_email(&new)?.is_some() || tx.reads().sso_org_for_domain(new.domain())?.is_some() {
        // Nothing changes; following the link again says the same.
        return Err(unusable());
    }
    Ok((user, new))
}

/// What following an email-change link would do, without doing it: the page behind the link
/// shows this and asks for a click, so a mail scanner or link preview that fetches the link
/// changes nothing. Errors as [`confirm`].
pub fn preview(app: &Context, token: &str) -> Result<Changed> {
    if token.len() != crate::crypto::TOKEN_LEN {
        return Err(Error::TokenInvalid);
    }
    let hash = app.keyring.token_hash(token);
    let now = now();
    let (_, email) = app.store.write(|tx| pending_change(tx, &hash, now))?;
    Ok(Changed { email })
}

/// Confirms an email-change link: changes the address, marks it verified, audits it and tells
/// the old address. Unknown, used, expired and plain-verification tokens are `TokenInvalid`;
/// an address that another account took (or that became an SSO domain) is a `Conflict`.
pub fn confirm(app: &Context, token: &str) -> Result<Changed> {
    if token.len() != crate::crypto::TOKEN_LEN {
        return Err(Error::TokenInvalid);
    }
    let hash = app.keyring.token_hash(token);
    let now = now();
    let link = format!("{}/forgot-password", app.public_url);
    let changed = app.store.write(|tx| {
        let (user, new) = pending_change(tx, &hash, now)?;
        tx.use_email_token(&hash, now)?;
        tx.update_user_email(&user.id, &new, now)
            .map_err(|e| match e {
                Error::Conflict(_) => unusable(),
                other => other,
            })?;
        tx.delete_unused_mailed_tokens(&user.id)?;
        let actor = Actor {
            kind: "user",
            id: Some(user.id.to_string()),
            ip: None,
        };
        for (org, _) in tx.reads().memberships_of(&user.id)? {
            audit::record(
                tx,
                &org.id,
                &actor,
                AuditAction::UserEmailChanged,
                ("user", user.id.as_str()),
                json!({"from": mask_email(user.email.as_str()), "to": mask_email(new.as_str())}),
            )?;
        }
        mail::queue(
            app,
            tx,
            user.email.as_str(),
            &Message::EmailChanged {
                name: &user.name,
                email: user.email.as_str(),
                new_email_masked: &mask_email(new.as_str()),
                link: &link,
            },
            None,
        )?;
        Ok(Changed { email: new })
    })?;
    app.doorbell.ring();
    log::info!("a user's sign-in address was changed through a confirmed link");
    Ok(changed)
}
