//! Invitations, password reset and email verification over the API.

use serde::Deserialize;
use serde_json::{json, Value};

use super::page_params;
use crate::crypto::Secret;
use crate::domain::{CompanyAccess, CompanyRole, Email, OrgRole};
use crate::error::{Error, Result};
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{company_access, org_access, perm};
use crate::service::Context;
use crate::service::{invitations, passwords};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgInvite {
    email: String,
    role: OrgRole,
    company_access: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyInvite {
    email: String,
    role: CompanyRole,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resend {
    email: Option<String>,
}

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

/// `GET /api/v1/orgs/{org}/invitations?status=pending|all`.
pub fn list(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::MembersManage>()?;
    let (cursor, limit) = page_params(req)?;
    let pending_only = match req.query_param("status").as_deref() {
        None | Some("pending") => true,
        Some("all") => false,
        Some(_) => return Err(Error::field("status", "must be pending or all")),
    };
    Ok(Resp::json(
        200,
        &invitations::list(app, &permit, pending_only, cursor.as_deref(), limit)?,
    ))
}

/// `POST /api/v1/orgs/{org}/invitations`.
pub fn create_org(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::MembersManage>()?;
    let b: OrgInvite = req.json()?;
    let role = b.role;
    let ca = CompanyAccess::from_json("company_access", &b.company_access)
        .map_err(|e| Error::Validation(vec![e]))?;
    Ok(Resp::json(
        201,
        &invitations::invite_to_org(app, &permit, &b.email, role, ca)?,
    ))
}

/// `POST /api/v1/companies/{cmp}/invitations`.
pub fn create_company(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.permit::<perm::CompanyMembersManage>()?;
    let b: CompanyInvite = req.json()?;
    Ok(Resp::json(
        201,
        &invitations::invite_to_company(app, &permit, &b.email, b.role)?,
    ))
}

/// `POST /api/v1/invitations/{id}/resend` (optional new `email`: re-addressed).
pub fn resend(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let m = invitations::manageable(app, &p, req.param("inv"))?;
    let b: Resend = if req.body.is_empty() {
        Resend { email: None }
    } else {
        req.json()?
    };
    Ok(Resp::json(
        200,
        &invitations::resend(app, m, b.email.as_deref())?,
    ))
}

/// `DELETE /api/v1/invitations/{id}`.
pub fn revoke(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    invitations::revoke(app, invitations::manageable(app, &p, req.param("inv"))?)?;
    Ok(Resp::new(204))
}

/// `POST /api/v1/invitations/accept` (session required).
pub fn accept(app: &Context, req: &Req) -> Result<Resp> {
    let s = crate::http::auth::session(app, req)?;
    let b: TokenBody = req.json()?;
    Ok(Resp::json(
        200,
        &invitations::accept(app, &s.principal, b.token.expose())?,
    ))
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
