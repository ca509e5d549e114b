//! `POST /api/v1/auth/login` and `/logout`.

use serde::Deserialize;
use serde_json::json;

use crate::crypto::Secret;
use crate::error::Result;
use crate::http::auth::{clear_cookie, session_cookie, SESSION_COOKIE};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service;
use crate::service::Context;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: Secret,
}

/// Signs in and sets the session cookie.
pub fn login(app: &Context, req: &Req) -> Result<Resp> {
    let body: LoginBody = req.json()?;
    let s = service::auth::login(app, &body.email, &body.password, &req.client_ip())?;
    let me = crate::http::api::me::user_json_by_session(app, &s)?;
    Ok(Resp::json(200, &me).header("Set-Cookie", session_cookie(app, &s)))
}

/// Ends the session and clears the cookie (idempotent). `provider_sign_out_url`: where to
/// send the browser to end the identity provider's session too (single sign-on with
/// `sign_out_at_provider`), else `null`.
pub fn logout(app: &Context, req: &Req) -> Result<Resp> {
    let mut provider = None;
    if let Some(token) = req.cookie(SESSION_COOKIE) {
        provider = service::auth::logout(app, token)?;
    }
    Ok(Resp::json(
        200,
        &json!({"signed_out": true, "provider_sign_out_url": provider}),
    )
    .header("Set-Cookie", clear_cookie(app)))
}
