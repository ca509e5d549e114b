//! Two-step sign-in: an authenticator app (RFC 6238 codes) and single-use recovery codes.
//!
//! - The authenticator secret is sealed under the server secret, bound to the user ID; it is
//!   shown once, at enrolment, and counts only after a first code confirms it.
//! - A code is accepted within one 30-second step either side of now, and each step once: the
//!   last accepted step is stored, so a code (or an older one) is never accepted twice.
//! - Ten recovery codes are shown once and stored as keyed hashes; each works once.
//! - A right password of an account with two-step sign-in gives a short-lived, single-use
//!   challenge instead of a session ([`begin`]); [`finish`] turns it into a session with a
//!   code. Wrong codes count against the same per-account and per-client limiters as wrong
//!   passwords, and spend the challenge after [`CHALLENGE_MAX_FAILURES`].
//! - Turning it off or replacing recovery codes needs a current code. Every change is audited
//!   (in each organization of the person) and emailed to them.
//! - An organization owner may reset the second step of a member whose role there is below
//!   owner and who is not an instance administrator ([`reset_by_owner`]); an instance
//!   administrator resets anyone from the command line ([`reset_by_operator`]).

use serde_json::json;
use totp_rs::{Algorithm, TOTP};

use crate::crypto::{new_token, random_bytes, Secret};
use crate::domain::AuditAction;
use crate::domain::{Auth, Email, OrgRole, User, UserId};
use crate::error::{Error, Result};
use crate::service::audit::{self, Actor};
use crate::service::auth::NewSession;
use crate::service::authz::{perm, Permit, Principal};
use crate::service::Context;
use crate::service::{mail, now};
use crate::store::Tx;
use crate::views::email::Message;

/// Seconds a sign-in challenge stays valid.
pub const CHALLENGE_SECS: i64 = 300;
/// Wrong codes after which a challenge is spent (the password must be entered again).
pub const CHALLENGE_MAX_FAILURES: i64 = 5;
/// How many recovery codes a person gets.
pub const RECOVERY_CODES: usize = 10;
const STEP: u64 = 30;
const ISSUER: &str = "tenantry";
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Where a person's second step stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// A confirmed authenticator is required at sign-in.
    pub enabled: bool,
    /// An enrolment was started and waits for its first code.
    pub pending: bool,
    /// When it was turned on (RFC 3339), if it is.
    pub enabled_at: Option<String>,
    /// The same as unix seconds (for pages, in the person's time zone).
    #[serde(skip)]
    pub enabled_since: Option<i64>,
    /// Unused recovery codes left.
    pub recovery_codes_left: i64,
    /// The person signs in with single sign-on: their identity provider decides.
    pub sso_managed: bool,
    /// Passkeys the person has (each is a second factor too, see `service::passkeys`).
    pub passkeys: i64,
}

/// A started enrolment: what the authenticator app needs. Shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Enrolment {
    /// The secret in Base32, for typing into an app.
    pub secret: String,
    /// The `otpauth://` URI (what the QR code holds).
    pub otpauth_uri: String,
    /// The QR code as an SVG document (no XML declaration, ready to inline).
    #[serde(skip)]
    pub qr_svg: String,
}

/// The pending challenge of a sign-in that needs its second step.
#[derive(Debug)]
pub struct Challenge {
    /// The token the browser (cookie) or API client sends back with the code.
    pub token: Secret,
    /// Seconds until it expires.
    pub expires_in: i64,
}

fn seal_context(user: &UserId) -> String {
    format!("two-step-totp:{user}")
}

fn totp_for(secret: Vec<u8>, account: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        secret,
        Some(ISSUER.to_string()),
        account.replace(':', " "),
    )
    .map_err(Error::internal)
}

fn recovery_hash(app: &Context, code: &str) -> Vec<u8> {
    app.keyring.token_hash(&format!("two-step-recovery:{code}"))
}

/// A code as typed: spaces and dashes dropped, lower-cased.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = random_bytes::<10>();
            let chars: String = bytes
                .iter()
                .map(|b| RECOVERY_ALPHABET[*b as usize % RECOVERY_ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

fn store_recovery_codes(app: &Context, tx: &Tx<'_>, user: &UserId) -> Result<Vec<String>> {
    let codes = new_recovery_codes();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| recovery_hash(app, &normalise(c)))
        .collect();
    tx.replace_recovery_codes(user, &hashes, now())?;
    Ok(codes)
}

fn code_error() -> Error {
    Error::TwoStep {
        code: "two_step_code_invalid",
        message: "this code is wrong or was already used; enter the current code from your authenticator app, or an unused recovery code".into(),
    }
}

fn not_enabled() -> Error {
    Error::TwoStep {
        code: "two_step_not_enabled",
        message: "two-step sign-in is not turned on for this account".into(),
    }
}

fn sso_managed() -> Error {
    Error::TwoStep {
        code: "sso_managed",
        message: "you sign in with single sign-on; your organization's identity provider decides about a second step".into(),
    }
}

/// Which factor a code proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// A current authenticator code.
    Authenticator,
    /// A recovery code (now used up).
    RecoveryCode,
}

/// Checks and spends a code of a user with a confirmed authenticator, in the caller's
/// transaction: an authenticator code of a step not used before, or an unused recovery code.
fn spend_code(app: &Context, tx: &Tx<'_>, user: &User, code: &str) -> Result<Option<Factor>> {
    let Some(row) = tx.reads().totp(&user.id)? else {
        return Ok(None);
    };
    if row.confirmed_at.is_none() {
        return Ok(None);
    }
    let code = normalise(code);
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let secret = app
            .keyring
            .open(&seal_context(&user.id), &row.secret_sealed)?;
        let totp = totp_for(secret, user.email.as_str())?;
        return match matching_step(&totp, &code, now(), row.last_step) {
            Some(step) if tx.use_totp_step(&user.id, step)? => Ok(Some(Factor::Authenticator)),
            _ => Ok(None),
        };
    }
    if code.len() == 10 && tx.use_recovery_code(&user.id, &recovery_hash(app, &code), now())? {
        return Ok(Some(Factor::RecoveryCode));
    }
    Ok(None)
}

/// The time step (within one either side of `now`) whose code is `code`, newer than
/// `last_step`.
fn matching_step(totp: &TOTP, code: &str, now: i64, last_step: i64) -> Option<i64> {
    let current = now.max(0) as u64 / STEP;
    let mut found = None;
    for step in current.saturating_sub(1)..=current + 1 {
        let expected = totp.generate(step * STEP);
        if same_code(expected.as_bytes(), code.as_bytes()) && step as i64 > last_step {
            found = Some(step as i64);
        }
    }
    found
}

/// Constant-time comparison of two codes (no early exit on the first differing digit).
fn same_code(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True when the user has a confirmed authenticator (inside a transaction).
fn has_confirmed(tx: &Tx<'_>, user: &UserId) -> Result<bool> {
    Ok(tx
        .reads()
        .totp(user)?
        .is_some_and(|r| r.confirmed_at.is_some()))
}

/// A person's second-step status.
pub fn status(app: &Context, user: &User) -> Result<Status> {
    let (row, left, passkeys) = app.store.read(|c| {
        Ok((
            c.totp(&user.id)?,
            c.recovery_codes_left(&user.id)?,
            c.passkey_count(&user.id)?,
        ))
    })?;
    let enabled_at = row.as_ref().and_then(|r| r.confirmed_at);
    Ok(Status {
        enabled: enabled_at.is_some(),
        pending: row.is_some() && enabled_at.is_none(),
        enabled_at: enabled_at.map(crate::domain::user::rfc3339),
        enabled_since: enabled_at,
        recovery_codes_left: if enabled_at.is_some() { left } else { 0 },
        sso_managed: user.auth == Auth::Sso,
        passkeys,
    })
}

/// True when the user must pass a second step after their password: a confirmed
/// authenticator or a passkey.
pub fn is_enabled(app: &Context, user: &UserId) -> Result<bool> {
    app.store.read(|c| {
        Ok(c.totp(user)?.is_some_and(|r| r.confirmed_at.is_some()) || c.passkey_count(user)? > 0)
    })
}

/// The ways a user can pass the second step (`totp`, `recovery_code`, `passkey`), as the
/// `mfa_required` answer lists them.
pub fn methods(app: &Context, user: &UserId) -> Result<crate::error::Methods> {
    let (totp, passkeys) = app.store.read(|c| {
        Ok((
            c.totp(user)?.is_some_and(|r| r.confirmed_at.is_some()),
            c.passkey_count(user)? > 0,
        ))
    })?;
    Ok(crate::error::Methods {
        totp,
        passkey: passkeys && crate::service::passkeys::available(app),
    })
}

fn signed_in_user(p: &Principal) -> Result<&User> {
    if p.key().is_some() {
        return Err(Error::Forbidden(
            "two-step sign-in belongs to a person; sign in instead of using an API key".into(),
        ));
    }
    p.user()
}

/// Starts (or restarts) an enrolment: a new secret, shown once, not yet required at sign-in.
pub fn start_enrolment(app: &Context, p: &Principal) -> Result<Enrolment> {
    let user = signed_in_user(p)?;
    if user.auth == Auth::Sso {
        return Err(sso_managed());
    }
    let secret = random_bytes::<20>().to_vec();
    let sealed = app.keyring.seal(&seal_context(&user.id), &secret);
    let totp = totp_for(secret, user.email.as_str())?;
    app.store.write(|tx| {
        if tx
            .reads()
            .totp(&user.id)?
            .is_some_and(|r| r.confirmed_at.is_some())
        {
            return Err(Error::TwoStep {
                code: "two_step_already_enabled",
                message:
                    "two-step sign-in is already on; turn it off first to use another authenticator"
                        .into(),
            });
        }
        tx.put_pending_totp(&user.id, &sealed, now())
    })?;
    enrolment_view(&totp)
}

/// The enrolment a person started and has not confirmed yet (the page shows it again until
/// confirmed); `None` when there is none.
pub fn pending_enrolment(app: &Context, user: &User) -> Result<Option<Enrolment>> {
    let Some(row) = app.store.read(|c| c.totp(&user.id))? else {
        return Ok(None);
    };
    if row.confirmed_at.is_some() {
        return Ok(None);
    }
    let secret = app
        .keyring
        .open(&seal_context(&user.id), &row.secret_sealed)?;
    Ok(Some(enrolment_view(&totp_for(
        secret,
        user.email.as_str(),
    )?)?))
}

fn enrolment_view(totp: &TOTP) -> Result<Enrolment> {
    let uri = totp.get_url();
    let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(Error::internal)?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let svg = match svg.find("<svg") {
        Some(i) => svg[i..].replacen(
            "<svg ",
            "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ",
            1,
        ),
        None => svg,
    };
    Ok(Enrolment {
        secret: totp.get_secret_base32(),
        otpauth_uri: uri,
        qr_svg: svg,
    })
}

/// Confirms an enrolment with a first code; answers the recovery codes (shown once).
pub fn confirm_enrolment(app: &Context, p: &Principal, code: &str) -> Result<Vec<String>> {
    let user = signed_in_user(p)?.clone();
    let codes = app.store.write(|tx| {
        let row = tx.reads().totp(&user.id)?;
        let Some(row) = row else {
            return Err(Error::TwoStep {
                code: "two_step_not_started",
                message: "start the enrolment first: it gives the secret for your authenticator app".into(),
            });
        };
        if row.confirmed_at.is_some() {
            return Err(Error::TwoStep {
                code: "two_step_already_enabled",
                message: "two-step sign-in is already on".into(),
            });
        }
        let secret = app
            .keyring
            .open(&seal_context(&user.id), &row.secret_sealed)?;
        let totp = totp_for(secret, user.email.as_str())?;
        let normal = normalise(code);
        if normal.len() != 6 || !normal.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::field("code", "must be the 6-digit code your app shows"));
        }
        // Well-formed but not the app's current code: a conflict with the present state.
        let step = matching_step(&totp, &normal, now(), 0).ok_or_else(|| {
            Error::conflict_field(
                "code",
                "this code does not match; check the time on your phone and enter the current 6-digit code",
            )
        })?;
        tx.confirm_totp(&user.id, step, now())?;
        let codes = store_recovery_codes(app, tx, &user.id)?;
        record(app, tx, &user, &Actor::of(p), AuditAction::UserTwoStepEnabled, "two-step sign-in was turned on")?;
        Ok(codes)
    })?;
    app.doorbell.ring();
    log::info!("user {} turned two-step sign-in on", user.id);
    Ok(codes)
}

/// Runs a change that spends a code, throttled like sign-in (per account and per client): a
/// stolen session cannot guess its way to turning the second step off.
fn throttled<T>(app: &Context, p: &Principal, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let user = signed_in_user(p)?;
    let account = user.email.as_str();
    for (limiter, key) in [
        (&app.limits.login_account, account),
        (&app.limits.login_client, p.client_ip.as_str()),
    ] {
        if let Err(secs) = limiter.check(key) {
            return Err(Error::RateLimited {
                retry_after_secs: secs,
            });
        }
    }
    let out = f();
    if let Err(Error::TwoStep {
        code: "two_step_code_invalid",
        ..
    }) = &out
    {
        app.limits.login_account.failure(account);
        app.limits.login_client.failure(&p.client_ip);
    }
    out
}

/// Runs `f` in one transaction after spending a current authenticator code (or an unused
/// recovery code) of the signed-in person, with the throttles of [`disable`]: a fresh second
/// step for a change that weakens the account (removing a passkey). A wrong code, or a person
/// without the authenticator app, is `two_step_code_invalid` and nothing happens.
pub(crate) fn with_fresh_code<T>(
    app: &Context,
    p: &Principal,
    code: &str,
    f: impl FnOnce(&Tx<'_>, &User) -> Result<T>,
) -> Result<T> {
    let user = signed_in_user(p)?.clone();
    throttled(app, p, || {
        app.store.write(|tx| {
            if spend_code(app, tx, &user, code)?.is_none() {
                return Err(code_error());
            }
            f(tx, &user)
        })
    })
}

/// Turns two-step sign-in off; needs a current code (or an unused recovery code).
pub fn disable(app: &Context, p: &Principal, code: &str) -> Result<()> {
    let user = signed_in_user(p)?.clone();
    throttled(app, p, || {
        app.store.write(|tx| {
            if !has_confirmed(tx, &user.id)? {
                return Err(not_enabled());
            }
            if spend_code(app, tx, &user, code)?.is_none() {
                return Err(code_error());
            }
            tx.delete_two_step(&user.id)?;
            record(
                app,
                tx,
                &user,
                &Actor::of(p),
                AuditAction::UserTwoStepDisabled,
                "two-step sign-in was turned off",
            )
        })
    })?;
    app.doorbell.ring();
    log::info!("user {} turned two-step sign-in off", user.id);
    Ok(())
}

/// Replaces the recovery codes (the old ones stop working); needs a current code.
pub fn regenerate_recovery_codes(app: &Context, p: &Principal, code: &str) -> Result<Vec<String>> {
    let user = signed_in_user(p)?.clone();
    let codes = throttled(app, p, || {
        app.store.write(|tx| {
            if !has_confirmed(tx, &user.id)? {
                return Err(not_enabled());
            }
            if spend_code(app, tx, &user, code)?.is_none() {
                return Err(code_error());
            }
            let codes = store_recovery_codes(app, tx, &user.id)?;
            record(
                app,
                tx,
                &user,
                &Actor::of(p),
                AuditAction::UserTwoStepRecoveryCodesReplaced,
                "new recovery codes were made; the old ones no longer work",
            )?;
            Ok(codes)
        })
    })?;
    app.doorbell.ring();
    Ok(codes)
}

/// Audits a change in every organization of the person and emails them.
pub(crate) fn record(
    app: &Context,
    tx: &Tx<'_>,
    user: &User,
    actor: &Actor,
    action: AuditAction,
    what: &str,
) -> Result<()> {
    for (org, _) in tx.reads().memberships_of(&user.id)? {
        audit::record(
            tx,
            &org.id,
            actor,
            action,
            ("user", user.id.as_str()),
            json!({}),
        )?;
    }
    mail::queue(
        app,
        tx,
        user.email.as_str(),
        &Message::TwoStepChanged {
            name: &user.name,
            email: user.email.as_str(),
            what,
            link: &format!("{}/settings/personal/security", app.public_url),
        },
        None,
    )?;
    Ok(())
}

/// After a right password: a challenge for the second step (the session comes later).
pub fn begin(app: &Context, user: &UserId) -> Result<Challenge> {
    let token = new_token();
    let hash = app.keyring.token_hash(token.expose());
    let now = now();
    app.store
        .write(|tx| tx.insert_two_step_challenge(&hash, user, now, now + CHALLENGE_SECS))?;
    Ok(Challenge {
        token,
        expires_in: CHALLENGE_SECS,
    })
}

fn challenge_invalid() -> Error {
    Error::TwoStep {
        code: "two_step_challenge_invalid",
        message: "this sign-in expired or was already finished; sign in with your password again"
            .into(),
    }
}

/// A challenge that has not expired, with its user and its wrong codes so far.
fn live_challenge(app: &Context, token: &str) -> Result<Option<(User, i64)>> {
    if token.len() != crate::crypto::TOKEN_LEN {
        return Ok(None);
    }
    let hash = app.keyring.token_hash(token);
    app.store.read(|c| match c.two_step_challenge(&hash)? {
        Some(ch) if ch.expires_at > now() => {
            Ok(c.user_by_id(&ch.user_id)?.map(|u| (u, ch.failures)))
        }
        _ => Ok(None),
    })
}

/// The user a live challenge belongs to, while it still takes codes (for the page that asks
/// for the code).
pub fn challenge_user(app: &Context, token: &str) -> Result<Option<User>> {
    Ok(live_challenge(app, token)?
        .filter(|(_, failures)| *failures < CHALLENGE_MAX_FAILURES)
        .map(|(u, _)| u))
}

/// Finishes a sign-in: a live challenge and a right code give a session. Throttled with the
/// password limiters (per account and per client).
pub fn finish(app: &Context, token: &str, code: &str, client: &str) -> Result<NewSession> {
    // A spent challenge still names its account, so the throttle answers first (429 while
    // locked, the right code included); then it is refused.
    let Some((user, _)) = live_challenge(app, token)? else {
        return Err(challenge_invalid());
    };
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
    let hash = app.keyring.token_hash(token);
    let outcome = app.store.write(|tx| {
        // Re-read inside the write lock: the challenge is single-use even under races.
        match tx.reads().two_step_challenge(&hash)? {
            Some(ch) if ch.expires_at > now() && ch.user_id == user.id => {
                if ch.failures >= CHALLENGE_MAX_FAILURES {
                    tx.delete_two_step_challenge(&hash)?;
                    return Ok(Err(challenge_invalid()));
                }
            }
            _ => return Err(challenge_invalid()),
        }
        if user.disabled {
            tx.delete_two_step_challenge(&hash)?;
            return Err(challenge_invalid());
        }
        match spend_code(app, tx, &user, code)? {
            Some(factor) => {
                tx.delete_two_step_challenge(&hash)?;
                if factor == Factor::RecoveryCode {
                    let left = tx.reads().recovery_codes_left(&user.id)?;
                    record(
                        app,
                        tx,
                        &user,
                        &Actor {
                            kind: "user",
                            id: Some(user.id.to_string()),
                            ip: Some(client.to_string()).filter(|s| !s.is_empty()),
                        },
                        AuditAction::UserTwoStepRecoveryCodeUsed,
                        &format!(
                            "a recovery code was used to sign in; {left} unused codes are left"
                        ),
                    )?;
                }
                Ok(Ok(factor))
            }
            None => {
                // Spent at the limit; kept (until it is tried again or expires) so that the
                // throttle, not "unknown challenge", answers the next attempt.
                tx.fail_two_step_challenge(&hash)?;
                Ok(Err(code_error()))
            }
        }
    })?;
    match outcome {
        Ok(factor) => {
            app.limits.login_account.success(&account_key);
            if factor == Factor::RecoveryCode {
                app.doorbell.ring();
            }
            let session = crate::service::auth::start_session(app, &user.id)?;
            log::info!("user {} signed in with a second step", user.id);
            Ok(session)
        }
        Err(
            e @ Error::TwoStep {
                code: "two_step_code_invalid",
                ..
            },
        ) => {
            app.limits.login_account.failure(&account_key);
            app.limits.login_client.failure(client);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// An organization owner resets a member's second step (they enrol again at their next
/// sign-in); idempotent. Only for members whose role in this organization is below owner and who are not
/// instance administrators; never oneself (turn it off from Security instead).
pub fn reset_by_owner(
    app: &Context,
    permit: &Permit<'_, perm::OwnersManage>,
    target: &str,
) -> Result<()> {
    let target = UserId::parse(target).ok_or(Error::NotFound)?;
    let org = permit.org_id().clone();
    let actor = Actor::of(permit.principal());
    let user = app.store.write(|tx| {
        let membership = tx.reads().membership(&org, &target)?.ok_or(Error::NotFound)?;
        let user = tx.reads().user_by_id(&target)?.ok_or(Error::NotFound)?;
        if permit.principal().user_id() == Some(&target) {
            return Err(Error::Forbidden(
                "you cannot reset your own second step; turn it off from Personal > Security".into(),
            ));
        }
        if membership.role == OrgRole::Owner || user.is_instance_admin {
            return Err(Error::Forbidden(
                "an owner cannot reset the second step of another owner or of an instance administrator; an instance administrator can, from the command line".into(),
            ));
        }
        if !tx.delete_two_step(&target)? {
            // Nothing to reset: the same answer, nothing audited or sent.
            return Ok(None);
        }
        audit::record(
            tx,
            &org,
            &actor,
            AuditAction::UserTwoStepReset,
            ("user", target.as_str()),
            json!({}),
        )?;
        queue_reset_mail(app, tx, &user, "an owner of your organization reset it")?;
        Ok(Some(user))
    })?;
    if let Some(user) = user {
        app.doorbell.ring();
        log::info!(
            "two-step sign-in of user {} reset by an organization owner",
            user.id
        );
    }
    Ok(())
}

fn queue_reset_mail(app: &Context, tx: &Tx<'_>, user: &User, who: &str) -> Result<()> {
    mail::queue(
        app,
        tx,
        user.email.as_str(),
        &Message::TwoStepChanged {
            name: &user.name,
            email: user.email.as_str(),
            what: &format!("two-step sign-in was reset ({who}); you sign in with your password only until you turn it on again"),
            link: &format!("{}/settings/personal/security", app.public_url),
        },
        None,
    )?;
    Ok(())
}

/// The instance operator resets anyone's second step (`tenantry user reset-two-step`).
/// Answers `false` when the person had none.
pub fn reset_by_operator(
    app: &Context,
    _op: &crate::service::authz::Operator,
    email: &str,
) -> Result<bool> {
    let email = Email::parse(email).map_err(|m| Error::field("email", m))?;
    let reset = app.store.write(|tx| {
        let user = tx.reads().user_by_email(&email)?.ok_or(Error::NotFound)?;
        if !tx.delete_two_step(&user.id)? {
            return Ok(false);
        }
        for (org, _) in tx.reads().memberships_of(&user.id)? {
            audit::record(
                tx,
                &org.id,
                &Actor::operator(),
                AuditAction::UserTwoStepReset,
                ("user", user.id.as_str()),
                json!({}),
            )?;
        }
        queue_reset_mail(
            app,
            tx,
            &user,
            "an administrator of this tenantry instance reset it",
        )?;
        Ok(true)
    })?;
    if reset {
        app.doorbell.ring();
    }
    Ok(reset)
}

/// A member's second step as the Admin Team page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// An authenticator is required at sign-in.
    On,
    /// Password only.
    Off,
    /// Signs in with single sign-on: the identity provider decides (exempt).
    Sso,
}

impl MemberState {
    /// Words for the page.
    pub fn label(self) -> &'static str {
        match self {
            MemberState::On => "On",
            MemberState::Off => "Off",
            MemberState::Sso => "Single sign-on",
        }
    }
}

/// The two-step state of each of these users, and whether an owner's reset could apply to
/// them as people (not instance administrators; the role check is the service's).
pub fn member_states(
    app: &Context,
    users: &[&str],
) -> Result<std::collections::HashMap<String, (MemberState, bool)>> {
    let rows = app.store.read(|c| c.two_step_states(users))?;
    Ok(rows
        .into_iter()
        .map(|(id, sso, on, admin)| {
            let state = if sso {
                MemberState::Sso
            } else if on {
                MemberState::On
            } else {
                MemberState::Off
            };
            (id, (state, !admin))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_accepted_one_step_either_side_and_once() {
        let totp = totp_for(b"12345678901234567890".to_vec(), "a@example.com").unwrap();
        let now = 1_000_000_020;
        let step = now / 30;
        for (offset, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = totp.generate(((step + offset) * 30) as u64);
            assert_eq!(
                matching_step(&totp, &code, now, 0).is_some(),
                ok,
                "{offset}"
            );
        }
        let code = totp.generate((step * 30) as u64);
        assert_eq!(matching_step(&totp, &code, now, step), None, "replay");
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_normalise() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let mut set: Vec<String> = codes.iter().map(|c| normalise(c)).collect();
        set.sort();
        set.dedup();
        assert_eq!(set.len(), 10);
        assert!(set.iter().all(|c| c.len() == 10));
        assert_eq!(normalise(" ABCDE-fghjk "), "abcdefghjk");
    }
}
