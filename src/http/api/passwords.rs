//! Password reset and email verification over the API.

use serde::Deserialize;
use serde_json::json;

use crate::crypto::Secret;
use crate::domain::Email;
use crate::error::{Error, Result};
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::passwords;
use crate::service::Context;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: Secret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetConfirm {
    token: Secret,
    password: Secret,
}

fn accepted_reset() -> Resp {
    Resp::json(
        202,
        &json!({"status": "accepted", "detail": "If an account exists for this address, a link to reset its password is on its way."}),
    )
}

/// `POST /api/v1/auth/password-reset`: always 202 with the same body for a valid address.
pub fn request_reset(app: &Context, req: &Req) -> Result<Resp> {
    let b: ResetRequest = req.json()?;
    Email::parse(&b.email).map_err(|m| Error::field("email", m))?;
    passwords::request(app, &b.email, &req.client_ip())?;
    Ok(accepted_reset())
}

/// `POST /api/v1/auth/password-reset/confirm`.
pub fn confirm_reset(app: &Context, req: &Req) -> Result<Resp> {
    let b: ResetConfirm = req.json()?;
    passwords::confirm(app, b.token.expose(), &b.password)?;
    Ok(Resp::json(
        200,
        &json!({"status": "password_changed", "detail": "every session was signed out; sign in with the new password"}),
    ))
}

/// `POST /api/v1/me/password-reset`.
pub fn request_my_reset(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    passwords::request_for_me(app, &p)?;
    Ok(Resp::json(
        202,
        &json!({"status": "accepted", "detail": "a link to reset your password is on its way"}),
    ))
}

/// `POST /api/v1/me/verify-email`: sends a new confirmation link.
pub fn resend_verification(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    passwords::resend_verification(app, &p)?;
    Ok(Resp::json(202, &json!({"status": "accepted"})))
}

/// `POST /api/v1/auth/verify-email` (`{token}`).
pub fn verify_email(app: &Context, req: &Req) -> Result<Resp> {
    let b: TokenBody = req.json()?;
    passwords::verify_email(app, b.token.expose())?;
    Ok(Resp::json(200, &json!({"status": "verified"})))
}
