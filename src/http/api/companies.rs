//! `/api/v1/orgs/{org}/companies` and `/api/v1/companies/{cmp}…`: companies, sites, data
//! preferences and company members.

use serde::Deserialize;

use super::page_params;
use crate::domain::entities::DataPreferences;
use crate::domain::CompanyRole;
use crate::error::Result;
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{company_access, instance_admin, org_access, perm};
use crate::service::sites::{self, SiteInput};
use crate::service::Context;
use crate::service::{companies, invitations};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCompany {
    name: String,
    slug: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchCompany {
    name: Option<String>,
    slug: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteBody {
    name: Option<String>,
    address: Option<String>,
    timezone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefsBody {
    units: String,
    timezone: String,
    currency: String,
    date_format: String,
    retention_days: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddCompanyMember {
    email: String,
    role: CompanyRole,
}

/// An instance administrator's direct add: the role stays text until the company is found
/// (an unknown company is 404 whatever the role; the service parses it after the look-up).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignCompanyMember {
    email: String,
    role: String,
}

/// As for [`AssignCompanyMember`]: a malformed user ID is 404 whatever the role.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchCompanyMember {
    role: String,
}

/// `GET /api/v1/orgs/{org}/companies`.
pub fn list(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::CompanyRead>()?;
    let (cursor, limit) = page_params(req)?;
    Ok(Resp::json(
        200,
        &companies::list(app, &permit, cursor.as_deref(), limit)?,
    ))
}

/// `POST /api/v1/orgs/{org}/companies`.
pub fn create(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::CompaniesManage>()?;
    let b: CreateCompany = req.json()?;
    Ok(Resp::json(
        201,
        &companies::create(app, &permit, &b.name, &b.slug)?,
    ))
}

/// `GET /api/v1/companies/{cmp}`.
pub fn get(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    Ok(Resp::json(200, &companies::get(&ctx.permit()?)?))
}

/// `PATCH /api/v1/companies/{cmp}`.
pub fn patch(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.permit::<perm::CompanyUpdate>()?;
    let b: PatchCompany = req.json()?;
    Ok(Resp::json(
        200,
        &companies::update(app, &permit, b.name, b.slug)?,
    ))
}

/// `DELETE /api/v1/companies/{cmp}`.
pub fn delete(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    companies::delete(app, &p, &ctx)?;
    Ok(Resp::new(204))
}

/// `GET /api/v1/companies/{cmp}/sites`.
pub fn list_sites(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.permit::<perm::CompanyRead>()?;
    let (cursor, limit) = page_params(req)?;
    Ok(Resp::json(
        200,
        &sites::list(app, &permit, cursor.as_deref(), limit)?,
    ))
}

fn site_input(b: SiteBody) -> SiteInput {
    SiteInput {
        name: b.name,
        address: b.address,
        timezone: b.timezone,
    }
}

/// `POST /api/v1/companies/{cmp}/sites`.
pub fn create_site(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.permit::<perm::SitesManage>()?;
    let b: SiteBody = req.json()?;
    Ok(Resp::json(
        201,
        &sites::create(app, &permit, site_input(b))?,
    ))
}

/// `GET /api/v1/companies/{cmp}/sites/{site}`.
pub fn get_site(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    Ok(Resp::json(
        200,
        &sites::get(app, &ctx.permit()?, req.param("site"))?,
    ))
}

/// `PATCH /api/v1/companies/{cmp}/sites/{site}`.
pub fn patch_site(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.permit::<perm::SitesManage>()?;
    let b: SiteBody = req.json()?;
    Ok(Resp::json(
        200,
        &sites::update(app, &permit, req.param("site"), site_input(b))?,
    ))
}

/// `DELETE /api/v1/companies/{cmp}/sites/{site}`.
pub fn delete_site(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    sites::delete(app, &ctx.permit()?, req.param("site"))?;
    Ok(Resp::new(204))
}

/// `GET /api/v1/companies/{cmp}/data-preferences`.
pub fn get_preferences(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    Ok(Resp::json(
        200,
        &sites::get_preferences(app, &ctx.permit()?)?,
    ))
}

/// `PUT /api/v1/companies/{cmp}/data-preferences`.
pub fn put_preferences(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.permit::<perm::DataPreferencesManage>()?;
    let b: PrefsBody = req.json()?;
    let prefs = DataPreferences {
        units: b.units,
        timezone: b.timezone,
        currency: b.currency,
        date_format: b.date_format,
        retention_days: b.retention_days,
    };
    Ok(Resp::json(
        200,
        &sites::put_preferences(app, &permit, prefs)?,
    ))
}

/// `GET /api/v1/companies/{cmp}/members`.
pub fn list_members(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.member_list_permit()?;
    let (cursor, limit) = page_params(req)?;
    Ok(Resp::json(
        200,
        &companies::list_members(app, &permit, cursor.as_deref(), limit)?,
    ))
}

/// `POST /api/v1/companies/{cmp}/members`. An instance administrator assigns an existing
/// user directly (201, the member); everyone else's add is an invitation the person accepts
/// (202, the invitation) — the same answer whether or not an account has the address.
pub fn add_member(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    if let Ok(admin) = instance_admin(&p) {
        let b: AssignCompanyMember = req.json()?;
        return Ok(Resp::json(
            201,
            &companies::add_member_by_instance_admin(
                app,
                &admin,
                req.param("cmp"),
                &b.email,
                &b.role,
            )?,
        ));
    }
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.permit::<perm::CompanyMembersManage>()?;
    let b: AddCompanyMember = req.json()?;
    Ok(Resp::json(
        202,
        &invitations::invite_to_company(app, &permit, &b.email, b.role)?,
    ))
}

/// `PATCH /api/v1/companies/{cmp}/members/{user}`.
pub fn patch_member(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    let permit = ctx.permit::<perm::CompanyMembersManage>()?;
    let b: PatchCompanyMember = req.json()?;
    Ok(Resp::json(
        200,
        &companies::update_member(app, &permit, req.param("user"), &b.role)?,
    ))
}

/// `DELETE /api/v1/companies/{cmp}/members/{user}`.
pub fn remove_member(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let ctx = company_access(app, &p, req.param("cmp"))?;
    companies::remove_member(app, &ctx, req.param("user"))?;
    Ok(Resp::new(204))
}
