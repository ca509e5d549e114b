//! `/api/v1/orgs/{org}/plugins`: which configured plugins an organization may use.

use crate::error::Result;
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{instance_admin, org_access};
use crate::service::org_plugins;
use crate::service::Context;

/// `GET /api/v1/orgs/{org}/plugins` (`org.read`).
pub fn get(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(200, &org_plugins::get(app, &access)?))
}

/// `PUT /api/v1/orgs/{org}/plugins` (instance administrators; the full list).
pub fn put(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let admin = instance_admin(&p)?;
    let input: org_plugins::OrgPluginsInput = req.json()?;
    Ok(Resp::json(
        200,
        &org_plugins::put(app, &admin, &access, input)?,
    ))
}
