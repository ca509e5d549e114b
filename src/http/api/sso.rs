//! `/api/v1/orgs/{org}/sso` and `/api/v1/auth/sso/discover`: single sign-on settings of an
//! organization, the ownership of its domains, and where an address signs in.

use serde::Deserialize;
use serde_json::json;

use crate::error::Result;
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{instance_admin, org_access};
use crate::service::Context;
use crate::service::{sso, sso_domains};

/// `GET /api/v1/orgs/{org}/sso`.
pub fn get(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(200, &sso::get_settings(app, &access)?))
}

/// `PUT /api/v1/orgs/{org}/sso`.
pub fn put(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    // Authorization before validation: the permission is checked before the body is read.
    access.permit::<crate::service::authz::perm::OrgUpdate>()?;
    let input: sso::SsoSettingsInput = req.json()?;
    Ok(Resp::json(200, &sso::put_settings(app, &access, input)?))
}

/// `DELETE /api/v1/orgs/{org}/sso`.
pub fn delete(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    sso::delete_settings(app, &access)?;
    Ok(Resp::new(204))
}

/// `POST /api/v1/orgs/{org}/sso/test`: the configuration test (owners and admins).
pub fn test(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    access.permit::<crate::service::authz::perm::OrgUpdate>()?;
    let input: sso::SsoTestInput = if req.body.iter().all(u8::is_ascii_whitespace) {
        sso::SsoTestInput::default()
    } else {
        req.json()?
    };
    Ok(Resp::json(
        200,
        &sso::test_configuration(app, &access, input)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Discover {
    email: String,
}

/// `POST /api/v1/auth/sso/discover`: whether an address signs in with SSO, and where.
pub fn discover(app: &Context, req: &Req) -> Result<Resp> {
    let d: Discover = req.json()?;
    let body = match sso::route_for(app, &d.email)? {
        Some(r) => json!({
            "sso": true,
            "plugin": r.plugin,
            "start_url": sso::start_url(app, &r.plugin, &d.email),
        }),
        None => json!({"sso": false, "plugin": null, "start_url": null}),
    };
    Ok(Resp::json(200, &body))
}

/// `POST /api/v1/orgs/{org}/sso/domains/{domain}/verify`: checks the domain's TXT record.
pub fn verify_domain(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(
        200,
        &sso_domains::verify(app, &access, req.param("domain"))?,
    ))
}

/// `POST /api/v1/orgs/{org}/sso/domains/{domain}/approve` (instance administrators).
pub fn approve_domain(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let admin = instance_admin(&p)?;
    Ok(Resp::json(
        200,
        &sso_domains::approve(app, &admin, &access, req.param("domain"))?,
    ))
}
