//! API key lifecycle: create, list (with usage), rename / change expiry, rotate with an
//! overlap window, revoke (with a recent-use guard), and verification for bearer calls and
//! `POST /keys/verify`. Every change that can alter a verdict holds the key cache's gate
//! across the database write and the cache update.

use serde::Serialize;
use serde_json::json;

use crate::crypto::Secret;
use crate::domain::apikey::{self, KeyStatus, Scope};
use crate::domain::user::{rfc3339, validate_name};
use crate::domain::AuditAction;
use crate::domain::{KeyId, OrgId};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{grant_ceiling, perm, Grant, KeyPrincipal, Permit, Principal, Subject};
use crate::service::keycache::{Refusal, Verified};
use crate::service::Context;
use crate::service::{now, page_of, Page};
use crate::store::KeyRow;

/// Longest overlap of a rotation: 7 days.
pub const MAX_OVERLAP_SECS: i64 = 7 * 24 * 3600;
/// A key used this recently needs `force` to be revoked.
pub const RECENT_USE_SECS: i64 = 600;

/// A key as listed (never the secret).
#[derive(Debug, Serialize)]
pub struct KeyView {
    /// `key_…`
    pub id: KeyId,
    /// Public prefix, `tnt_<id>`.
    pub prefix: String,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Creator.
    pub created_by: Option<String>,
    /// Created.
    pub created_at: String,
    /// Expiry.
    pub expires_at: Option<String>,
    /// Last use (includes uses not yet flushed).
    pub last_used_at: Option<String>,
    /// Number of uses (includes uses not yet flushed).
    pub use_count: i64,
    /// Revocation time.
    pub revoked_at: Option<String>,
    /// The key this one replaced.
    pub rotated_from: Option<String>,
    /// `active` | `expired` | `revoked`.
    pub status: KeyStatus,
}

/// A key as returned once at creation or rotation, with its secret.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    /// The key's metadata.
    #[serde(flatten)]
    pub view: KeyView,
    /// The full key. Shown once; store it now.
    pub key: String,
}

fn last_used(app: &Context, k: &KeyRow) -> (Option<i64>, i64) {
    let (n, t) = app.keys.pending(&k.id);
    let last = match (k.last_used_at, t > 0) {
        (Some(a), true) => Some(a.max(t)),
        (a, false) => a,
        (None, true) => Some(t),
    };
    (last, k.use_count + n as i64)
}

fn view(app: &Context, k: &KeyRow) -> KeyView {
    let (last, count) = last_used(app, k);
    let now = now();
    KeyView {
        id: k.id.clone(),
        prefix: apikey::display_prefix(&k.id),
        name: k.name.clone(),
        scopes: k.scopes.clone(),
        created_by: k.created_by.clone(),
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        last_used_at: last.map(rfc3339),
        use_count: count,
        revoked_at: k.revoked_at.map(rfc3339),
        rotated_from: k.rotated_from.clone(),
        status: KeyStatus::of(k.revoked_at, k.expires_at, now),
    }
}

/// Parses an RFC 3339 time.
pub fn parse_time(field: &str, s: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp())
        .map_err(|_| {
            Error::field(
                field,
                "must be an RFC 3339 time such as 2030-01-31T00:00:00Z",
            )
        })
}

fn parse_scopes(raw: &[String]) -> Result<Vec<Scope>> {
    if raw.is_empty() {
        return Err(Error::field("scopes", "give at least one scope"));
    }
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let scope = Scope::parse(s).ok_or_else(|| {
            Error::Validation(vec![FieldError::new(
                format!("scopes[{i}]"),
                "is not a scope (org:read, members:read, members:write, companies:read, companies:write, billing:read, audit:read, keys:verify)",
            )])
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out)
}

fn creator(p: &Principal) -> Option<String> {
    match &p.subject {
        Subject::User(u) => Some(u.id.to_string()),
        Subject::ApiKey(k) => Some(k.key_id.to_string()),
    }
}

fn new_key_row(
    access: &Permit<'_, perm::ApiKeysManage>,
    name: String,
    scopes: Vec<Scope>,
    expires_at: Option<i64>,
    rotated_from: Option<String>,
) -> (KeyRow, Secret) {
    let id = KeyId::generate();
    let secret = apikey::generate(&id);
    (
        KeyRow {
            id,
            org_id: access.org_id().clone(),
            name,
            scopes,
            secret_hash: Vec::new(),
            created_by: creator(access.principal()),
            created_at: now(),
            expires_at,
            last_used_at: None,
            use_count: 0,
            revoked_at: None,
            rotated_from,
        },
        secret,
    )
}

/// Creates a key; the full key is in the answer, once.
pub fn create(
    app: &Context,
    access: &Permit<'_, perm::ApiKeysManage>,
    name: &str,
    scopes: &[String],
    expires_at: Option<&str>,
) -> Result<CreatedKey> {
    let mut errs = Vec::new();
    let name = validate_name("name", name, &mut errs);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let scopes = parse_scopes(scopes)?;
    grant_ceiling(
        app,
        access.principal(),
        Grant::KeyScopes {
            org: access.org_id().clone(),
            scopes: scopes.clone(),
        },
    )?;
    let expires = expires_at
        .map(|s| parse_time("expires_at", s))
        .transpose()?;
    if expires.is_some_and(|t| t <= now()) {
        return Err(Error::conflict_field("expires_at", "must be in the future"));
    }
    let (mut row, secret) = new_key_row(access, name, scopes, expires, None);
    row.secret_hash = app.keyring.token_hash(secret.expose());
    let _g = app.keys.gate();
    app.store.write(|tx| {
        tx.insert_api_key(&row)?;
        audit::record(
            tx,
            access.org_id(),
            &Actor::of(access.principal()),
            AuditAction::ApiKeyCreated,
            ("api_key", row.id.as_str()),
            json!({"name": row.name, "scopes": row.scopes, "expires_at": row.expires_at.map(rfc3339)}),
        )
    })?;
    app.keys.put(row.clone());
    Ok(CreatedKey {
        view: view(app, &row),
        key: secret.expose().to_string(),
    })
}

/// Lists keys with usage.
pub fn list(
    app: &Context,
    access: &Permit<'_, perm::ApiKeysManage>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<KeyView>> {
    let rows = app
        .store
        .read(|c| c.list_api_keys(access.org_id(), cursor.unwrap_or(""), limit + 1))?;
    let page = page_of(rows, limit, |k| k.id.to_string());
    Ok(Page {
        data: page.data.iter().map(|k| view(app, k)).collect(),
        next_cursor: page.next_cursor,
    })
}

fn find(app: &Context, org: &OrgId, id: &str) -> Result<KeyRow> {
    let id = KeyId::parse(id).ok_or(Error::NotFound)?;
    app.store
        .read(|c| c.org_api_key(org, &id))?
        .ok_or(Error::NotFound)
}

/// Renames a key and/or changes its expiry (`Some(None)` clears it; a time in the past
/// expires it at once).
pub fn update(
    app: &Context,
    access: &Permit<'_, perm::ApiKeysManage>,
    id: &str,
    name: Option<&str>,
    expires_at: Option<Option<&str>>,
) -> Result<KeyView> {
    let mut row = find(app, access.org_id(), id)?;
    if let Some(n) = name {
        let mut errs = Vec::new();
        row.name = validate_name("name", n, &mut errs);
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
    }
    if let Some(e) = expires_at {
        row.expires_at = e.map(|s| parse_time("expires_at", s)).transpose()?;
    }
    let _g = app.keys.gate();
    let row = app.store.write(|tx| {
        tx.update_api_key(access.org_id(), &row.id, &row.name, row.expires_at)?;
        audit::record(
            tx,
            access.org_id(),
            &Actor::of(access.principal()),
            AuditAction::ApiKeyUpdated,
            ("api_key", row.id.as_str()),
            json!({"name": row.name, "expires_at": row.expires_at.map(rfc3339)}),
        )?;
        tx.org_api_key(access.org_id(), &row.id)?
            .ok_or(Error::NotFound)
    })?;
    app.keys.put(row.clone());
    Ok(view(app, &row))
}

/// The answer to a rotation.
#[derive(Debug, Serialize)]
pub struct Rotation {
    /// The successor, with its secret (once).
    pub new_key: CreatedKey,
    /// The old key with its new expiry.
    pub old_key: KeyView,
}

/// Rotates: a successor with the same name and scopes; the old key stops working at
/// `now + expire_old_in_seconds` (or its earlier expiry).
pub fn rotate(
    app: &Context,
    access: &Permit<'_, perm::ApiKeysManage>,
    id: &str,
    overlap_secs: i64,
) -> Result<Rotation> {
    if !(0..=MAX_OVERLAP_SECS).contains(&overlap_secs) {
        return Err(Error::field(
            "expire_old_in_seconds",
            "must be from 0 to 604800 (7 days)",
        ));
    }
    let old = find(app, access.org_id(), id)?;
    let now = now();
    if old.revoked_at.is_some() || old.expires_at.is_some_and(|t| t <= now) {
        return Err(Error::Conflict(
            "this key is revoked or expired; create a new key instead".into(),
        ));
    }
    grant_ceiling(
        app,
        access.principal(),
        Grant::KeyScopes {
            org: access.org_id().clone(),
            scopes: old.scopes.clone(),
        },
    )?;
    let (mut succ, secret) = new_key_row(
        access,
        old.name.clone(),
        old.scopes.clone(),
        None,
        Some(old.id.to_string()),
    );
    succ.secret_hash = app.keyring.token_hash(secret.expose());
    let old_expiry = Some(
        old.expires_at
            .map_or(now + overlap_secs, |t| t.min(now + overlap_secs)),
    );
    let _g = app.keys.gate();
    let old = app.store.write(|tx| {
        tx.insert_api_key(&succ)?;
        tx.update_api_key(access.org_id(), &old.id, &old.name, old_expiry)?;
        audit::record(
            tx,
            access.org_id(),
            &Actor::of(access.principal()),
            AuditAction::ApiKeyRotated,
            ("api_key", old.id.as_str()),
            json!({"successor": succ.id, "old_expires_at": old_expiry.map(rfc3339)}),
        )?;
        tx.org_api_key(access.org_id(), &old.id)?
            .ok_or(Error::NotFound)
    })?;
    app.keys.put(succ.clone());
    app.keys.put(old.clone());
    Ok(Rotation {
        new_key: CreatedKey {
            view: view(app, &succ),
            key: secret.expose().to_string(),
        },
        old_key: view(app, &old),
    })
}

/// Revokes a key at once. A key used in the last 10 minutes needs `force`.
pub fn revoke(
    app: &Context,
    access: &Permit<'_, perm::ApiKeysManage>,
    id: &str,
    force: bool,
) -> Result<()> {
    let row = find(app, access.org_id(), id)?;
    let (last, _) = last_used(app, &row);
    if !force && row.revoked_at.is_none() {
        if let Some(t) = last.filter(|t| now() - t < RECENT_USE_SECS) {
            return Err(Error::KeyRecentlyUsed {
                last_used_at: rfc3339(t),
            });
        }
    }
    let now = now();
    let _g = app.keys.gate();
    let row = app.store.write(|tx| {
        tx.revoke_api_key(access.org_id(), &row.id, now)?;
        audit::record(
            tx,
            access.org_id(),
            &Actor::of(access.principal()),
            AuditAction::ApiKeyRevoked,
            ("api_key", row.id.as_str()),
            json!({"name": row.name, "forced": force}),
        )?;
        tx.org_api_key(access.org_id(), &row.id)?
            .ok_or(Error::NotFound)
    })?;
    app.keys.put(row);
    Ok(())
}

/// Checks a bearer key and returns the principal.
pub fn authenticate(app: &Context, raw: &str, client_ip: &str) -> Result<Principal> {
    match app.keys.verify(
        &app.store,
        &app.keyring,
        app.config.default_features,
        raw,
        None,
    )? {
        Ok(v) => Ok(Principal {
            subject: Subject::ApiKey(KeyPrincipal {
                key_id: v.key_id,
                org_id: v.org_id,
                scopes: v.scopes,
            }),
            client_ip: client_ip.to_string(),
        }),
        Err(r) => Err(crate::service::keycache::refusal_error(r)),
    }
}

/// `POST /keys/verify` answer.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum VerifyAnswer {
    /// The key is good.
    Valid {
        /// Always true.
        valid: bool,
        /// Organization.
        org: OrgId,
        /// Key ID.
        key_id: KeyId,
        /// Scopes.
        scopes: Vec<Scope>,
        /// Expiry.
        expires_at: Option<String>,
    },
    /// The key is refused.
    Invalid {
        /// Always false.
        valid: bool,
        /// `malformed` | `unknown` | `revoked` | `expired` | `disabled`.
        code: &'static str,
    },
}

/// Verifies a key for the customer's own services. The caller needs `keys:verify`; a key of
/// another organization is answered as `unknown` (a key never sees another organization).
pub fn verify_for(app: &Context, caller: &Principal, raw: &str) -> Result<VerifyAnswer> {
    let k = caller.key().ok_or_else(|| {
        Error::Forbidden("call this with an API key that has the keys:verify scope".into())
    })?;
    if !k.scopes.contains(&Scope::KeysVerify) {
        return Err(Error::InsufficientScope(Scope::KeysVerify.as_str()));
    }
    let verdict = app.keys.verify(
        &app.store,
        &app.keyring,
        app.config.default_features,
        raw,
        Some(&k.org_id),
    )?;
    Ok(match verdict {
        Ok(Verified {
            key_id,
            org_id,
            scopes,
            expires_at,
        }) if org_id == k.org_id => VerifyAnswer::Valid {
            valid: true,
            org: org_id,
            key_id,
            scopes,
            expires_at: expires_at.map(rfc3339),
        },
        Ok(_) => VerifyAnswer::Invalid {
            valid: false,
            code: Refusal::Unknown.verify_code(),
        },
        Err(r) => VerifyAnswer::Invalid {
            valid: false,
            code: r.verify_code(),
        },
    })
}
