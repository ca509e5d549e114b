//! `/api/v1/orgs/{org}/api-keys…` and `POST /api/v1/keys/verify`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::page_params;
use crate::error::{Error, Result};
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::api_keys;
use crate::service::authz::{grant_ceiling, org_access, perm, Grant};
use crate::service::Context;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    scopes: Vec<String>,
    expires_at: Option<String>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchKey {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateKey {
    expire_old_in_seconds: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    key: String,
}

/// `GET /api/v1/orgs/{org}/api-keys`.
pub fn list(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::ApiKeysManage>()?;
    let (cursor, limit) = page_params(req)?;
    Ok(Resp::json(
        200,
        &api_keys::list(app, &permit, cursor.as_deref(), limit)?,
    ))
}

/// `POST /api/v1/orgs/{org}/api-keys`.
pub fn create(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::ApiKeysManage>()?;
    let b: CreateKey = req.json()?;
    let created = api_keys::create(app, &permit, &b.name, &b.scopes, b.expires_at.as_deref())?;
    Ok(Resp::json(201, &created))
}

/// `PATCH /api/v1/orgs/{org}/api-keys/{key}`.
pub fn patch(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::ApiKeysManage>()?;
    let b: PatchKey = req.json()?;
    let expires = match &b.expires_at {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.as_str())),
        Some(_) => {
            return Err(Error::field(
                "expires_at",
                "must be an RFC 3339 time or null",
            ))
        }
    };
    // Extending or clearing a key's expiry grants its scopes for longer: the grant ceiling
    // applies as for creating or rotating it. Shortening and renaming take nothing.
    if let Some(new) = expires {
        let id = crate::domain::KeyId::parse(req.param("key")).ok_or(Error::NotFound)?;
        let row = app
            .store
            .read(|c| c.org_api_key(permit.org_id(), &id))?
            .ok_or(Error::NotFound)?;
        let new_at = new
            .map(|s| api_keys::parse_time("expires_at", s))
            .transpose()?;
        let extends = match (row.expires_at, new_at) {
            (Some(_), None) => true,
            (Some(old), Some(at)) => at > old,
            (None, _) => false,
        };
        if extends && row.revoked_at.is_none() {
            grant_ceiling(
                app,
                &p,
                Grant::KeyScopes {
                    org: permit.org_id().clone(),
                    scopes: row.scopes.clone(),
                },
            )?;
        }
    }
    Ok(Resp::json(
        200,
        &api_keys::update(app, &permit, req.param("key"), b.name.as_deref(), expires)?,
    ))
}

/// `POST /api/v1/orgs/{org}/api-keys/{key}/rotate`.
pub fn rotate(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::ApiKeysManage>()?;
    let b: RotateKey = req.json()?;
    Ok(Resp::json(
        201,
        &api_keys::rotate(app, &permit, req.param("key"), b.expire_old_in_seconds)?,
    ))
}

/// `DELETE /api/v1/orgs/{org}/api-keys/{key}` (`?force=true` for a recently used key).
pub fn revoke(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::ApiKeysManage>()?;
    let force = match req.query_param("force").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::field("force", "must be true or false")),
    };
    api_keys::revoke(app, &permit, req.param("key"), force)?;
    Ok(Resp::new(204))
}

/// `POST /api/v1/keys/verify`.
pub fn verify(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: VerifyBody = req.json()?;
    Ok(Resp::json(200, &api_keys::verify_for(app, &p, &b.key)?))
}
