//! Passkeys (WebAuthn, through `webauthn-rs`): several per person, each with a name.
//!
//! - A passkey is a second factor: an account with one gets the second step after its
//!   password ([`crate::service::two_step::is_enabled`] counts passkeys), and the second step
//!   takes a passkey besides a code ([`second_step_options`], [`finish_second_step`]).
//! - A passkey alone also signs in (password-less, [`passwordless_options`],
//!   [`finish_passwordless`]): discoverable credentials, so nobody types an address and the
//!   answer names no account; user verification (PIN, fingerprint) is required, so it is both
//!   factors. Throttled per client, and per account once the passkey names one.
//! - The relying party is `public_url`: its host is the RP ID and its origin the only one
//!   accepted. A passkey needs a domain (`localhost` works); with an IP address (or no
//!   `public_url`, which means the bound IP address) passkeys are unavailable
//!   (`passkeys_unavailable`, and the pages do not offer them).
//! - Between its two requests a ceremony's state is kept here, sealed, for 5 minutes and for
//!   one answer only; the client holds an opaque `ceremony` token.
//! - Removing any passkey needs a fresh second step, as turning the authenticator app off
//!   needs a code: a fresh passkey check ([`verification_options`]) or a current
//!   authenticator code. Adding and removing are audited and emailed like the authenticator
//!   app.

use serde::Serialize;
use serde_json::{json, Value};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use crate::crypto::{new_id, new_token};
use crate::domain::AuditAction;
use crate::domain::{Auth, User, UserId};
use crate::error::{Error, Result};
use crate::service::audit::{self, Actor};
use crate::service::auth::NewSession;
use crate::service::authz::Principal;
use crate::service::Context;
use crate::service::{now, two_step};
use crate::store::Tx;

/// Seconds a started ceremony stays valid.
pub const CEREMONY_SECS: i64 = 300;
/// The longest passkey name.
pub const NAME_MAX: usize = 64;

const REGISTRATION: &str = "registration";
const SECOND_STEP: &str = "second_step";
const PASSWORDLESS: &str = "passwordless";
const VERIFICATION: &str = "verification";

/// A started ceremony: what the browser needs for `navigator.credentials.create/get`.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    /// The opaque token to send back with the authenticator's answer.
    pub ceremony: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// `{"publicKey": …}` as WebAuthn takes it (binary values in base64url).
    pub options: Value,
}

/// A passkey as the person sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyView {
    /// Its ID (`pk_…`).
    pub id: String,
    /// The name given to it.
    pub name: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// When it last signed in (RFC 3339), if ever.
    pub last_used_at: Option<String>,
    /// Unix seconds of `created_at` (for pages, in the person's time zone).
    #[serde(skip)]
    pub created_since: i64,
    /// Unix seconds of `last_used_at`.
    #[serde(skip)]
    pub last_used_since: Option<i64>,
}

fn problem(code: &'static str, message: &str) -> Error {
    Error::TwoStep {
        code,
        message: message.into(),
    }
}

fn unavailable() -> Error {
    problem(
        "passkeys_unavailable",
        "passkeys need this server's `public_url` to be a domain name (like https://tenantry.example.com, or http://localhost:8080 on one machine); with an IP address, browsers refuse passkeys",
    )
}

fn ceremony_invalid() -> Error {
    problem(
        "passkey_ceremony_invalid",
        "this passkey request expired or was already answered; start again",
    )
}

fn credential_invalid() -> Error {
    problem(
        "passkey_invalid",
        "the passkey's answer could not be read or did not verify; `credential` must be the PublicKeyCredential the browser gave, as JSON with binary values in base64url",
    )
}

fn not_accepted() -> Error {
    problem(
        "passkey_not_accepted",
        "this passkey is not registered here, or its signature did not verify",
    )
}

fn challenge_invalid() -> Error {
    problem(
        "two_step_challenge_invalid",
        "this sign-in expired or was already finished; sign in with your password again",
    )
}

/// The relying party (this server) as `public_url` names it; `None` when it cannot hold
/// passkeys (not a domain).
fn relying_party(app: &Context) -> Option<Webauthn> {
    let url = Url::parse(&app.public_url).ok()?;
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_string(),
        _ => return None,
    };
    WebauthnBuilder::new(&host, &url)
        .ok()?
        .rp_name("tenantry")
        .build()
        .ok()
}

fn rp(app: &Context) -> Result<Webauthn> {
    relying_party(app).ok_or_else(unavailable)
}

/// True when this server can offer passkeys (`public_url` names a domain).
pub fn available(app: &Context) -> bool {
    relying_party(app).is_some()
}

/// The WebAuthn user handle of a person: derived (keyed) from their ID, so it reveals
/// nothing and needs no column.
fn user_handle(app: &Context, user: &UserId) -> Uuid {
    let h = app.keyring.token_hash(&format!("passkey-user:{user}"));
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    Uuid::from_bytes(b)
}

fn seal_context(id: &str) -> String {
    format!("passkey:{id}")
}

fn ceremony_context(kind: &str) -> String {
    format!("passkey-ceremony:{kind}")
}

fn open_passkey(app: &Context, row: &crate::store::PasskeyRow) -> Result<Passkey> {
    let plain = app
        .keyring
        .open(&seal_context(&row.id), &row.credential_sealed)?;
    serde_json::from_slice(&plain).map_err(Error::internal)
}

fn seal_passkey(app: &Context, id: &str, key: &Passkey) -> Result<Vec<u8>> {
    let plain = serde_json::to_vec(key).map_err(Error::internal)?;
    Ok(app.keyring.seal(&seal_context(id), &plain))
}

fn signed_in_user(p: &Principal) -> Result<&User> {
    if p.key().is_some() {
        return Err(Error::Forbidden(
            "passkeys belong to a person; sign in instead of using an API key".into(),
        ));
    }
    p.user()
}

/// Stores a ceremony's state; answers its token.
fn store_ceremony<S: Serialize>(
    app: &Context,
    kind: &str,
    user: Option<&UserId>,
    bound_to: Option<&[u8]>,
    state: &S,
) -> Result<String> {
    let token = new_token();
    let hash = app.keyring.token_hash(token.expose());
    let plain = serde_json::to_vec(state).map_err(Error::internal)?;
    let sealed = app.keyring.seal(&ceremony_context(kind), &plain);
    let now = now();
    app.store.write(|tx| {
        tx.insert_passkey_ceremony(
            &hash,
            kind,
            user,
            bound_to,
            &sealed,
            now,
            now + CEREMONY_SECS,
        )
    })?;
    Ok(token.expose().to_string())
}

/// Takes a ceremony out (it is spent whatever follows): its row and state, when it is live
/// and of this kind.
fn take_ceremony<S: serde::de::DeserializeOwned>(
    app: &Context,
    tx: &Tx<'_>,
    token: &str,
    kind: &str,
) -> Result<(crate::store::CeremonyRow, S)> {
    if token.len() != crate::crypto::TOKEN_LEN {
        return Err(ceremony_invalid());
    }
    let hash = app.keyring.token_hash(token);
    let row = tx
        .take_passkey_ceremony(&hash)?
        .filter(|r| r.kind == kind && r.expires_at > now())
        .ok_or_else(ceremony_invalid)?;
    let plain = app
        .keyring
        .open(&ceremony_context(kind), &row.state_sealed)?;
    let state = serde_json::from_slice(&plain).map_err(Error::internal)?;
    Ok((row, state))
}

fn parse<T: serde::de::DeserializeOwned>(credential: &Value) -> Result<T> {
    serde_json::from_value(credential.clone()).map_err(|e| {
        log::info!("a passkey answer could not be read: {e}");
        credential_invalid()
    })
}

/// Checks a name: trimmed, 1 to 64 characters, no control characters.
fn valid_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(Error::field(
            "name",
            "give the passkey a name, like the device it is on",
        ));
    }
    if n.chars().count() > NAME_MAX || n.chars().any(char::is_control) {
        return Err(Error::field(
            "name",
            "use at most 64 characters, without line breaks",
        ));
    }
    Ok(n.to_string())
}

fn view(row: &crate::store::PasskeyRow) -> PasskeyView {
    PasskeyView {
        id: row.id.clone(),
        name: row.name.clone(),
        created_at: crate::domain::user::rfc3339(row.created_at),
        last_used_at: row.last_used_at.map(crate::domain::user::rfc3339),
        created_since: row.created_at,
        last_used_since: row.last_used_at,
    }
}

/// A person's passkeys, oldest first.
pub fn list(app: &Context, p: &Principal) -> Result<Vec<PasskeyView>> {
    let user = signed_in_user(p)?;
    let rows = app.store.read(|c| c.passkeys_of(&user.id))?;
    Ok(rows.iter().map(view).collect())
}

/// Starts adding a passkey (signed in): the options for `navigator.credentials.create`.
/// The passkey is discoverable (resident), so it can also sign in without an address.
pub fn registration_options(app: &Context, p: &Principal) -> Result<Started> {
    let user = signed_in_user(p)?.clone();
    if user.auth == Auth::Sso {
        return Err(problem(
            "sso_managed",
            "you sign in with single sign-on; your organization's identity provider decides about passkeys",
        ));
    }
    let wa = rp(app)?;
    let rows = app.store.read(|c| c.passkeys_of(&user.id))?;
    let mut exclude = Vec::with_capacity(rows.len());
    for r in &rows {
        exclude.push(open_passkey(app, r)?.cred_id().clone());
    }
    let display = if user.name.trim().is_empty() {
        user.email.as_str().to_string()
    } else {
        user.name.clone()
    };
    let (ccr, state) = wa
        .start_passkey_registration(
            user_handle(app, &user.id),
            user.email.as_str(),
            &display,
            Some(exclude),
        )
        .map_err(Error::internal)?;
    let mut options = serde_json::to_value(&ccr).map_err(Error::internal)?;
    // A passkey that can sign in without an address lives on the authenticator
    // (discoverable); webauthn-rs leaves this to the caller (the server does not check it).
    if let Some(sel) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        sel.insert("residentKey".into(), json!("required"));
        sel.insert("requireResidentKey".into(), json!(true));
    }
    let ceremony = store_ceremony(app, REGISTRATION, Some(&user.id), None, &state)?;
    Ok(Started {
        ceremony,
        expires_in: CEREMONY_SECS,
        options,
    })
}

/// Finishes adding a passkey: the ceremony, the name, and the browser's
/// `PublicKeyCredential` (as JSON). Audited and emailed.
pub fn register(
    app: &Context,
    p: &Principal,
    ceremony: &str,
    name: &str,
    credential: &Value,
) -> Result<PasskeyView> {
    let user = signed_in_user(p)?.clone();
    let name = valid_name(name)?;
    let wa = rp(app)?;
    let (row, state): (_, PasskeyRegistration) = app
        .store
        .write(|tx| take_ceremony(app, tx, ceremony, REGISTRATION))?;
    if row.user_id.as_ref() != Some(&user.id) {
        return Err(ceremony_invalid());
    }
    let reg: RegisterPublicKeyCredential = parse(credential)?;
    let key = wa.finish_passkey_registration(&reg, &state).map_err(|e| {
        log::info!(
            "a passkey registration of user {} was refused: {e}",
            user.id
        );
        credential_invalid()
    })?;
    let id = new_id("pk");
    let sealed = seal_passkey(app, &id, &key)?;
    let now = now();
    let row = app.store.write(|tx| {
        if !tx.insert_passkey(&id, &user.id, key.cred_id().as_ref(), &name, &sealed, now)? {
            return Err(Error::Conflict(
                "this passkey is already registered to an account".into(),
            ));
        }
        two_step::record(
            app,
            tx,
            &user,
            &Actor::of(p),
            AuditAction::UserPasskeyAdded,
            &format!("a passkey named \u{201c}{name}\u{201d} was added"),
        )?;
        Ok(crate::store::PasskeyRow {
            id: id.clone(),
            user_id: user.id.clone(),
            name: name.clone(),
            credential_sealed: sealed.clone(),
            created_at: now,
            last_used_at: None,
        })
    })?;
    app.doorbell.ring();
    log::info!("user {} added a passkey", user.id);
    Ok(view(&row))
}

/// Renames one of the person's passkeys (another person's is "not found").
pub fn rename(app: &Context, p: &Principal, id: &str, name: &str) -> Result<PasskeyView> {
    let user = signed_in_user(p)?.clone();
    let name = valid_name(name)?;
    let actor = Actor::of(p);
    app.store.write(|tx| {
        if !tx.rename_passkey(&user.id, id, &name)? {
            return Err(Error::NotFound);
        }
        for (org, _) in tx.reads().memberships_of(&user.id)? {
            audit::record(
                tx,
                &org.id,
                &actor,
                AuditAction::UserPasskeyRenamed,
                ("user", user.id.as_str()),
                json!({"passkey": id}),
            )?;
        }
        Ok(())
    })?;
    let rows = app.store.read(|c| c.passkeys_of(&user.id))?;
    rows.iter()
        .find(|r| r.id == id)
        .map(view)
        .ok_or(Error::NotFound)
}

/// Starts a fresh check with one of the person's passkeys (to remove a passkey).
pub fn verification_options(app: &Context, p: &Principal) -> Result<Started> {
    let user = signed_in_user(p)?.clone();
    let wa = rp(app)?;
    let keys = keys_of(app, &user.id)?;
    if keys.is_empty() {
        return Err(problem("passkey_none", "you have no passkey"));
    }
    let (rcr, state) = wa
        .start_passkey_authentication(&keys.iter().map(|(_, k)| k.clone()).collect::<Vec<_>>())
        .map_err(Error::internal)?;
    let ceremony = store_ceremony(app, VERIFICATION, Some(&user.id), None, &state)?;
    Ok(Started {
        ceremony,
        expires_in: CEREMONY_SECS,
        options: serde_json::to_value(&rcr).map_err(Error::internal)?,
    })
}

fn keys_of(app: &Context, user: &UserId) -> Result<Vec<(crate::store::PasskeyRow, Passkey)>> {
    let rows = app.store.read(|c| c.passkeys_of(user))?;
    rows.into_iter()
        .map(|r| {
            let k = open_passkey(app, &r)?;
            Ok((r, k))
        })
        .collect()
}

/// Checks an assertion against a person's passkeys and records the use (counter, last
/// used). Refusals are [`not_accepted`].
fn check_assertion(
    app: &Context,
    wa: &Webauthn,
    user: &UserId,
    state: &PasskeyAuthentication,
    credential: &Value,
) -> Result<()> {
    let cred: PublicKeyCredential = parse(credential)?;
    let res = wa
        .finish_passkey_authentication(&cred, state)
        .map_err(|e| {
            log::info!("a passkey check of user {user} was refused: {e}");
            not_accepted()
        })?;
    if !res.user_verified() {
        return Err(not_accepted());
    }
    let keys = keys_of(app, user)?;
    let Some((row, mut key)) = keys.into_iter().find(|(_, k)| k.cred_id() == res.cred_id()) else {
        return Err(not_accepted());
    };
    key.update_credential(&res);
    let sealed = seal_passkey(app, &row.id, &key)?;
    app.store
        .write(|tx| tx.passkey_used(&row.id, &sealed, now()))
}

/// Runs `f` throttled like sign-in (per account and per client); a refused passkey counts
/// as a failure.
fn throttled<T>(
    app: &Context,
    account: &str,
    client: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    for (limiter, key) in [
        (&app.limits.login_account, account),
        (&app.limits.login_client, client),
    ] {
        if let Err(secs) = limiter.check(key) {
            return Err(Error::RateLimited {
                retry_after_secs: secs,
            });
        }
    }
    let out = f();
    if let Err(Error::TwoStep {
        code: "passkey_not_accepted" | "passkey_invalid",
        ..
    }) = &out
    {
        app.limits.login_account.failure(account);
        app.limits.login_client.failure(client);
    }
    out
}

/// A fresh second step, for removing a passkey.
pub enum Proof<'a> {
    /// A fresh passkey check (any of the person's passkeys).
    Passkey {
        /// The token of a [`verification_options`] ceremony.
        ceremony: &'a str,
        /// The browser's `PublicKeyCredential` (JSON).
        credential: &'a Value,
    },
    /// A current authenticator code or an unused recovery code (checked as
    /// [`two_step::disable`] checks it).
    Code(&'a str),
}

/// Removes one of the person's passkeys (another person's is "not found"). Any removal needs
/// a fresh second step, as turning the authenticator app off needs a code: a fresh passkey
/// check (any of the person's passkeys, this one included) or a current authenticator code
/// (or unused recovery code); without one it is `passkey_verification_required`. Audited and
/// emailed.
pub fn remove(app: &Context, p: &Principal, id: &str, proof: Option<Proof<'_>>) -> Result<()> {
    let user = signed_in_user(p)?.clone();
    let totp = app.store.read(|c| {
        if !c.passkeys_of(&user.id)?.iter().any(|r| r.id == id) {
            return Err(Error::NotFound);
        }
        Ok(c.totp(&user.id)?.is_some_and(|t| t.confirmed_at.is_some()))
    })?;
    let actor = Actor::of(p);
    let delete = |tx: &Tx<'_>| -> Result<()> {
        let name = tx
            .reads()
            .passkeys_of(&user.id)?
            .into_iter()
            .find(|r| r.id == id)
            .map(|r| r.name)
            .ok_or(Error::NotFound)?;
        tx.delete_passkey(&user.id, id)?;
        two_step::record(
            app,
            tx,
            &user,
            &actor,
            AuditAction::UserPasskeyRemoved,
            &format!("the passkey named \u{201c}{name}\u{201d} was removed"),
        )
    };
    match proof {
        None => return Err(verification_required(totp)),
        Some(Proof::Code(code)) => {
            if !totp {
                return Err(verification_required(false));
            }
            two_step::with_fresh_code(app, p, code, |tx, _| delete(tx))?;
        }
        Some(Proof::Passkey {
            ceremony,
            credential,
        }) => {
            let wa = rp(app)?;
            throttled(app, user.email.as_str(), &p.client_ip, || {
                let (row, state): (_, PasskeyAuthentication) = app
                    .store
                    .write(|tx| take_ceremony(app, tx, ceremony, VERIFICATION))?;
                if row.user_id.as_ref() != Some(&user.id) {
                    return Err(ceremony_invalid());
                }
                check_assertion(app, &wa, &user.id, &state, credential)
            })?;
            app.store.write(delete)?;
        }
    }
    app.doorbell.ring();
    log::info!("user {} removed a passkey", user.id);
    Ok(())
}

/// `passkey_verification_required`: which fresh second steps remove a passkey.
fn verification_required(totp: bool) -> Error {
    problem(
        "passkey_verification_required",
        if totp {
            "removing a passkey needs a fresh second step: confirm with a passkey (POST /api/v1/me/passkeys/verification/options, then send `ceremony` and `credential` with the removal) or send `code`, a current code from your authenticator app or an unused recovery code"
        } else {
            "removing a passkey needs a fresh second step: confirm with a passkey first (POST /api/v1/me/passkeys/verification/options, then send `ceremony` and `credential` with the removal)"
        },
    )
}

/// True when the person has a passkey.
pub fn has_passkey(app: &Context, user: &UserId) -> Result<bool> {
    Ok(app.store.read(|c| c.passkey_count(user))? > 0)
}

/// The second step with a passkey: options for `navigator.credentials.get` over the passkeys
/// of the person whose password was right (`challenge`: the two-step challenge token).
pub fn second_step_options(app: &Context, challenge: &str) -> Result<Started> {
    let wa = rp(app)?;
    let Some(user) = two_step::challenge_user(app, challenge)? else {
        return Err(challenge_invalid());
    };
    let keys = keys_of(app, &user.id)?;
    if keys.is_empty() {
        return Err(problem(
            "passkey_none",
            "this account has no passkey; enter a code from the authenticator app instead",
        ));
    }
    let (rcr, state) = wa
        .start_passkey_authentication(&keys.into_iter().map(|(_, k)| k).collect::<Vec<_>>())
        .map_err(Error::internal)?;
    let bound = app.keyring.token_hash(challenge);
    let ceremony = store_ceremony(app, SECOND_STEP, Some(&user.id), Some(&bound), &state)?;
    Ok(Started {
        ceremony,
        expires_in: CEREMONY_SECS,
        options: serde_json::to_value(&rcr).map_err(Error::internal)?,
    })
}

/// Finishes a sign-in's second step with a passkey: the two-step challenge, the ceremony
/// started for it and the browser's answer give a session. Throttled with the password
/// limiters; a refused passkey counts against the challenge like a wrong code.
pub fn finish_second_step(
    app: &Context,
    challenge: &str,
    ceremony: &str,
    credential: &Value,
    client: &str,
) -> Result<NewSession> {
    let wa = rp(app)?;
    let Some(user) = two_step::challenge_user(app, challenge)? else {
        return Err(challenge_invalid());
    };
    let challenge_hash = app.keyring.token_hash(challenge);
    let out = throttled(app, user.email.as_str(), client, || {
        let (row, state): (_, PasskeyAuthentication) = app
            .store
            .write(|tx| take_ceremony(app, tx, ceremony, SECOND_STEP))?;
        if row.user_id.as_ref() != Some(&user.id)
            || row.bound_to.as_deref() != Some(challenge_hash.as_slice())
        {
            return Err(ceremony_invalid());
        }
        check_assertion(app, &wa, &user.id, &state, credential)
    });
    if let Err(e) = out {
        if matches!(
            e,
            Error::TwoStep {
                code: "passkey_not_accepted" | "passkey_invalid",
                ..
            }
        ) {
            app.store
                .write(|tx| tx.fail_two_step_challenge(&challenge_hash).map(|_| ()))?;
        }
        return Err(e);
    }
    // The challenge is single-use even under races: only the request that deletes it goes on.
    let live = app.store.write(|tx| {
        let ok = tx
            .reads()
            .two_step_challenge(&challenge_hash)?
            .is_some_and(|c| {
                c.user_id == user.id
                    && c.expires_at > now()
                    && c.failures < two_step::CHALLENGE_MAX_FAILURES
            });
        tx.delete_two_step_challenge(&challenge_hash)?;
        Ok(ok)
    })?;
    if !live || user.disabled {
        return Err(challenge_invalid());
    }
    app.limits.login_account.success(user.email.as_str());
    let session = crate::service::auth::start_session(app, &user.id)?;
    log::info!(
        "user {} signed in with a passkey as the second step",
        user.id
    );
    Ok(session)
}

/// Starts a password-less sign-in: options for `navigator.credentials.get` without an
/// account (the authenticator offers its passkeys for this site).
pub fn passwordless_options(app: &Context) -> Result<Started> {
    let wa = rp(app)?;
    let (rcr, state) = wa
        .start_discoverable_authentication()
        .map_err(Error::internal)?;
    let mut options = serde_json::to_value(&rcr).map_err(Error::internal)?;
    // webauthn-rs marks these for conditional mediation (autofill); a button asks directly.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    let ceremony = store_ceremony(app, PASSWORDLESS, None, None, &state)?;
    Ok(Started {
        ceremony,
        expires_in: CEREMONY_SECS,
        options,
    })
}

/// Finishes a password-less sign-in: a session for the account whose passkey answered
/// (user verified: both factors). Throttled per client, and per account once known.
pub fn finish_passwordless(
    app: &Context,
    ceremony: &str,
    credential: &Value,
    client: &str,
) -> Result<NewSession> {
    let wa = rp(app)?;
    if let Err(secs) = app.limits.login_client.check(client) {
        return Err(Error::RateLimited {
            retry_after_secs: secs,
        });
    }
    let fail = |e: Error| {
        app.limits.login_client.failure(client);
        e
    };
    let (_, state): (_, DiscoverableAuthentication) = app
        .store
        .write(|tx| take_ceremony(app, tx, ceremony, PASSWORDLESS))?;
    let cred: PublicKeyCredential = parse(credential).map_err(fail)?;
    let (handle, cred_id) = wa
        .identify_discoverable_authentication(&cred)
        .map_err(|_| fail(not_accepted()))?;
    let found = app.store.read(|c| {
        let Some(row) = c.passkey_by_credential(cred_id)? else {
            return Ok(None);
        };
        Ok(c.user_by_id(&row.user_id)?.map(|u| (row, u)))
    })?;
    let Some((row, user)) = found else {
        return Err(fail(not_accepted()));
    };
    if user_handle(app, &user.id) != handle || user.disabled || user.auth == Auth::Sso {
        return Err(fail(not_accepted()));
    }
    let account = user.email.as_str().to_string();
    if let Err(secs) = app.limits.login_account.check(&account) {
        return Err(Error::RateLimited {
            retry_after_secs: secs,
        });
    }
    // Addresses of an organization's SSO domains sign in there (instance administrators
    // keep their own way in, as with a password).
    if !user.is_instance_admin && crate::service::sso::route_for(app, &account)?.is_some() {
        return Err(problem(
            "sso_required",
            "this account signs in with single sign-on; use your organization's sign-in",
        ));
    }
    let mut key = open_passkey(app, &row)?;
    let res = wa
        .finish_discoverable_authentication(&cred, state, &[DiscoverableKey::from(&key)])
        .map_err(|e| {
            log::info!("a password-less passkey sign-in was refused: {e}");
            app.limits.login_account.failure(&account);
            fail(not_accepted())
        })?;
    if !res.user_verified() {
        return Err(fail(not_accepted()));
    }
    key.update_credential(&res);
    let sealed = seal_passkey(app, &row.id, &key)?;
    app.store
        .write(|tx| tx.passkey_used(&row.id, &sealed, now()))?;
    app.limits.login_account.success(&account);
    let session = crate::service::auth::start_session(app, &user.id)?;
    log::info!("user {} signed in with a passkey", user.id);
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  Laptop ").unwrap(), "Laptop");
        assert!(valid_name("   ").is_err());
        assert!(valid_name(&"x".repeat(65)).is_err());
        assert!(valid_name("a\nb").is_err());
    }
}
