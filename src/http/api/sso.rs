//! `/api/v1/orgs/{org}/sso`, `/api/v1/orgs/{org}/billing/source` and
//! `/api/v1/auth/sso/discover`: plugin-backed settings of an organization.

use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::error::Result;
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::org_access;
use crate::service::{billing_source, sso};

/// `GET /api/v1/orgs/{org}/sso`.
pub fn get(app: &App, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(200, &sso::get_settings(app, &access)?))
}

/// `PUT /api/v1/orgs/{org}/sso`.
pub fn put(app: &App, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let input: sso::SsoSettingsInput = req.json()?;
    Ok(Resp::json(200, &sso::put_settings(app, &access, input)?))
}

/// `DELETE /api/v1/orgs/{org}/sso`.
pub fn delete(app: &App, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    sso::delete_settings(app, &access)?;
    Ok(Resp::new(204))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Discover {
    email: String,
}

/// `POST /api/v1/auth/sso/discover`: whether an address signs in with SSO, and where.
pub fn discover(app: &App, req: &Req) -> Result<Resp> {
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

/// `GET /api/v1/orgs/{org}/billing/source`.
pub fn get_billing_source(app: &App, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(200, &billing_source::get_source(app, &access)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutSource {
    plugin: Option<String>,
}

/// `PUT /api/v1/orgs/{org}/billing/source`.
pub fn put_billing_source(app: &App, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let b: PutSource = req.json()?;
    Ok(Resp::json(
        200,
        &billing_source::put_source(app, &access, b.plugin)?,
    ))
}
