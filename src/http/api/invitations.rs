//! Invitations over the API (password reset and email verification: `passwords.rs`).

use serde::Deserialize;
use serde_json::Value;

use super::page_params;
use crate::crypto::Secret;
use crate::domain::{CompanyAccess, CompanyRole, OrgRole};
use crate::error::{Error, Result};
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{company_access, org_access, perm};
use crate::service::invitations::{self, Listing};
use crate::service::Context;

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

/// `GET /api/v1/orgs/{org}/invitations?status=pending|all`.
pub fn list(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::MembersManage>()?;
    let (cursor, limit) = page_params(req)?;
    let which = match req.query_param("status") {
        None => Listing::Pending,
        Some(s) => {
            Listing::parse(&s).ok_or_else(|| Error::field("status", "must be pending or all"))?
        }
    };
    Ok(Resp::json(
        200,
        &invitations::list(app, &permit, which, cursor.as_deref(), limit)?,
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
