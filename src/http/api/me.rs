//! `/api/v1/me…`: the personal scope.

use serde::Deserialize;

use crate::domain::User;
use crate::error::{Error, Result};
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::auth::{authenticate, NewSession};
use crate::service::me::{self, PreferencesInput};
use crate::service::Context;

/// The user record for a session that was just created (login response body).
pub fn user_json_by_session(app: &Context, s: &NewSession) -> Result<User> {
    authenticate(app, s.token.expose(), "")?
        .and_then(|i| i.principal.user().ok().cloned())
        .ok_or(Error::Unauthenticated)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchMe {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefsBody {
    locale: String,
    timezone: String,
    theme: String,
}

/// `GET /api/v1/me`.
pub fn get(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    Ok(Resp::json(200, &me::get(app, &p)?))
}

/// `PATCH /api/v1/me` (`{name}`).
pub fn patch(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: PatchMe = req.json()?;
    let user = match b.name {
        Some(n) => me::update_name(app, &p, &n)?,
        None => me::get(app, &p)?,
    };
    Ok(Resp::json(200, &user))
}

/// `GET /api/v1/me/preferences`.
pub fn get_preferences(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    Ok(Resp::json(200, &me::get(app, &p)?.preferences))
}

/// `PUT /api/v1/me/preferences`.
pub fn put_preferences(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: PrefsBody = req.json()?;
    let prefs = me::put_preferences(
        app,
        &p,
        PreferencesInput {
            locale: b.locale,
            timezone: b.timezone,
            theme: b.theme,
        },
    )?;
    Ok(Resp::json(200, &prefs))
}

/// `GET /api/v1/me/memberships`.
pub fn memberships(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    Ok(Resp::json(
        200,
        &crate::service::access::memberships(app, &p)?,
    ))
}

/// `GET /api/v1/me/sections`.
pub fn sections(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    Ok(Resp::json(200, &crate::service::access::sections(app, &p)?))
}

/// `GET /api/v1/me/access?org=…&permission=…` (or `company=…`).
pub fn access(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let permission = req
        .query_param("permission")
        .ok_or_else(|| Error::field("permission", "is required"))?;
    let answer = crate::service::access::explain(
        app,
        &p,
        req.query_param("org").as_deref(),
        req.query_param("company").as_deref(),
        &permission,
    )?;
    Ok(Resp::json(200, &answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailChangeBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

/// `POST /api/v1/me/email-change` (`{email, password}`): 202 and a link to the new address.
/// The answer is the same whether or not another account uses the address.
pub fn request_email_change(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: EmailChangeBody = req.json()?;
    let password = crate::crypto::Secret::new(b.password);
    crate::service::email_change::request(app, &p, &b.email, &password)?;
    Ok(Resp::json(
        202,
        &serde_json::json!({
            "status": "accepted",
            "detail": "check the inbox of the new address for a confirmation link (it works for 24 hours)"
        }),
    ))
}

/// `POST /api/v1/me/email-change/confirm` (`{token}`): applies a change link; the token is
/// the proof, so no session is needed.
pub fn confirm_email_change(app: &Context, req: &Req) -> Result<Resp> {
    let b: TokenBody = req.json()?;
    let changed = crate::service::email_change::confirm(app, &b.token)?;
    Ok(Resp::json(
        200,
        &serde_json::json!({"status": "email_changed", "email": changed.email}),
    ))
}
