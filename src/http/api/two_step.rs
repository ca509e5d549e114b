//! Two-step sign-in over the API: finishing a sign-in with a code
//! (`POST /api/v1/auth/login/two-step`), a person's own authenticator and recovery codes
//! (`/api/v1/me/two-step…`), and an owner's reset of a member's second step.

use serde::Deserialize;
use serde_json::json;

use crate::crypto::Secret;
use crate::error::Result;
use crate::http::auth::{principal, session_cookie};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{org_access, perm};
use crate::service::two_step;
use crate::service::Context;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishBody {
    challenge: Secret,
    code: Secret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: Secret,
}

/// `POST /api/v1/auth/login/two-step` (`{challenge, code}`): the session, as sign-in answers.
pub fn finish(app: &Context, req: &Req) -> Result<Resp> {
    let b: FinishBody = req.json()?;
    let s = two_step::finish(app, b.challenge.expose(), b.code.expose(), &req.client_ip())?;
    let me = crate::http::api::me::user_json_by_session(app, &s)?;
    Ok(Resp::json(200, &me).header("Set-Cookie", session_cookie(app, &s)))
}

/// `GET /api/v1/me/two-step`.
pub fn status(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let user = p.user()?;
    Ok(Resp::json(200, &two_step::status(app, user)?))
}

/// `POST /api/v1/me/two-step/enrolment`: a new secret for an authenticator app (shown once).
pub fn start(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let e = two_step::start_enrolment(app, &p)?;
    Ok(Resp::json(201, &e))
}

/// `POST /api/v1/me/two-step/enrolment/confirm` (`{code}`): turns it on; the recovery codes
/// are in the answer, once.
pub fn confirm(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: CodeBody = req.json()?;
    let codes = two_step::confirm_enrolment(app, &p, b.code.expose())?;
    Ok(Resp::json(
        200,
        &json!({"enabled": true, "recovery_codes": codes}),
    ))
}

/// `POST /api/v1/me/two-step/disable` (`{code}`).
pub fn disable(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: CodeBody = req.json()?;
    two_step::disable(app, &p, b.code.expose())?;
    Ok(Resp::json(200, &two_step::status(app, p.user()?)?))
}

/// `POST /api/v1/me/two-step/recovery-codes` (`{code}`): new recovery codes, once.
pub fn regenerate(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: CodeBody = req.json()?;
    let codes = two_step::regenerate_recovery_codes(app, &p, b.code.expose())?;
    Ok(Resp::json(200, &json!({"recovery_codes": codes})))
}

/// `DELETE /api/v1/orgs/{org}/members/{user}/two-step`: an owner resets a member's second
/// step.
pub fn reset_member(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::OwnersManage>()?;
    two_step::reset_by_owner(app, &permit, req.param("user"))?;
    Ok(Resp::new(204))
}
