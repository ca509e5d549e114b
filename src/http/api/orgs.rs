//! `/api/v1/orgs…`: organizations, features, the admin team, organization settings and the
//! audit log.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::page_params;
use crate::domain::entities::BillingProfile;
use crate::domain::{CompanyAccess, OrgRole};
use crate::error::{Error, Result};
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{instance_admin, org_access, org_creator, perm, require_billing_read};
use crate::service::org_settings::{self, Credentials, InvoiceInput, RepositoryInput};
use crate::service::orgs::{self, NewOrg};
use crate::service::Context;
use crate::service::{audit, invitations, members, two_step_policy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOrg {
    name: String,
    slug: String,
    owner_email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchOrg {
    name: Option<String>,
    slug: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    email: String,
    role: OrgRole,
    company_access: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchMember {
    role: Option<OrgRole>,
    company_access: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    user_id: String,
}

/// Present-but-null stays `Some(Null)`; absent is `None` (via `default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutRepository {
    kind: String,
    #[serde(default)]
    location: String,
    region: Option<String>,
    retention_days: i64,
    #[serde(default, deserialize_with = "present")]
    credentials: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutProfile {
    legal_name: String,
    billing_email: String,
    address: String,
    tax_id: Option<String>,
    plan: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportInvoices {
    invoices: Vec<InvoiceInput>,
}

fn company_access(field: &str, v: &Value) -> Result<CompanyAccess> {
    CompanyAccess::from_json(field, v).map_err(|e| Error::Validation(vec![e]))
}

/// `GET /api/v1/orgs`.
pub fn list(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let (cursor, limit) = page_params(req)?;
    Ok(Resp::json(
        200,
        &orgs::list(app, &p, cursor.as_deref(), limit)?,
    ))
}

/// `POST /api/v1/orgs`.
pub fn create(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let creator = org_creator(app, &p)?;
    let b: CreateOrg = req.json()?;
    let org = orgs::create(
        app,
        &creator,
        NewOrg {
            name: b.name,
            slug: b.slug,
            owner_email: b.owner_email,
        },
    )?;
    let access = org_access(app, &p, org.id.as_str())?;
    Ok(Resp::json(201, &orgs::get(&access.permit()?)?))
}

/// `GET /api/v1/orgs/{org}`.
pub fn get(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(200, &orgs::get(&access.permit()?)?))
}

/// `PATCH /api/v1/orgs/{org}`.
pub fn patch(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::OrgUpdate>()?;
    let b: PatchOrg = req.json()?;
    Ok(Resp::json(
        200,
        &orgs::update(app, &permit, b.name, b.slug)?,
    ))
}

/// `DELETE /api/v1/orgs/{org}`.
pub fn delete(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    orgs::delete(app, &access.permit()?)?;
    Ok(Resp::new(204))
}

/// `GET /api/v1/orgs/{org}/features`.
pub fn get_features(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(200, &orgs::features(&access)))
}

/// `PUT /api/v1/orgs/{org}/features` (instance admins; partial update).
pub fn put_features(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let admin = instance_admin(&p)?;
    let b: serde_json::Map<String, Value> = req.json()?;
    Ok(Resp::json(
        200,
        &orgs::put_features(app, &admin, &access, &b)?,
    ))
}

/// `GET /api/v1/orgs/{org}/members`.
pub fn list_members(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::MembersRead>()?;
    let (cursor, limit) = page_params(req)?;
    Ok(Resp::json(
        200,
        &members::list(app, &permit, cursor.as_deref(), limit)?,
    ))
}

/// `POST /api/v1/orgs/{org}/members`. An instance administrator adds an existing user
/// directly (201, the member); everyone else's add is an invitation the person accepts (202,
/// the invitation) — the same answer whether or not an account has the address.
pub fn add_member(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    if let Ok(admin) = instance_admin(&p) {
        let b: AddMember = req.json()?;
        let (r, ca) = (b.role, company_access("company_access", &b.company_access)?);
        return Ok(Resp::json(
            201,
            &members::add_by_instance_admin(app, &admin, access.org_id(), &b.email, r, ca)?,
        ));
    }
    let permit = access.permit::<perm::MembersManage>()?;
    let b: AddMember = req.json()?;
    let (r, ca) = (b.role, company_access("company_access", &b.company_access)?);
    Ok(Resp::json(
        202,
        &invitations::invite_to_org(app, &permit, &b.email, r, ca)?,
    ))
}

/// `PATCH /api/v1/orgs/{org}/members/{user}`.
pub fn patch_member(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::MembersManage>()?;
    let b: PatchMember = req.json()?;
    let r = b.role;
    let ca = b
        .company_access
        .as_ref()
        .map(|v| company_access("company_access", v))
        .transpose()?;
    Ok(Resp::json(
        200,
        &members::update(app, &permit, req.param("user"), r, ca)?,
    ))
}

/// `DELETE /api/v1/orgs/{org}/members/{user}`.
pub fn remove_member(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    members::remove(app, &access, req.param("user"))?;
    Ok(Resp::new(204))
}

/// `POST /api/v1/orgs/{org}/transfer-ownership`.
pub fn transfer(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::OwnersManage>()?;
    let b: Transfer = req.json()?;
    Ok(Resp::json(
        200,
        &members::transfer_ownership(app, &permit, &b.user_id)?,
    ))
}

/// `GET /api/v1/orgs/{org}/data-repository`.
pub fn get_repository(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(
        200,
        &org_settings::get_repository(app, &access.permit()?)?,
    ))
}

/// `PUT /api/v1/orgs/{org}/data-repository`.
pub fn put_repository(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    // Authorization before validation: without the permission, 403 whatever the body.
    let permit = access.permit::<perm::DataRepositoryManage>()?;
    let b: PutRepository = req.json()?;
    let credentials = match b.credentials {
        None => Credentials::Keep,
        Some(Value::Null) => Credentials::Clear,
        Some(Value::Object(m)) => Credentials::Set(m),
        Some(_) => {
            return Err(Error::field(
                "credentials",
                "must be an object of strings, or null to clear",
            ))
        }
    };
    let input = RepositoryInput {
        kind: b.kind,
        location: b.location,
        region: b.region,
        retention_days: b.retention_days,
        credentials,
    };
    Ok(Resp::json(
        200,
        &org_settings::put_repository(app, &permit, input)?,
    ))
}

/// `GET /api/v1/orgs/{org}/billing`.
pub fn get_billing(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = require_billing_read(app, &access)?;
    Ok(Resp::json(200, &org_settings::get_billing(app, &permit)?))
}

/// `PUT /api/v1/orgs/{org}/billing/profile`.
pub fn put_billing_profile(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    // Authorization before validation: without the permission, 403 whatever the body.
    let permit = access.permit::<perm::BillingManage>()?;
    let b: PutProfile = req.json()?;
    let profile = BillingProfile {
        legal_name: b.legal_name,
        billing_email: b.billing_email,
        address: b.address,
        tax_id: b.tax_id,
        plan: b.plan,
    };
    Ok(Resp::json(
        200,
        &org_settings::put_billing_profile(app, &permit, profile)?,
    ))
}

/// `GET /api/v1/orgs/{org}/billing/invoices`.
pub fn list_invoices(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = require_billing_read(app, &access)?;
    let (cursor, limit) = page_params(req)?;
    Ok(Resp::json(
        200,
        &org_settings::list_invoices(app, &permit, cursor.as_deref(), limit)?,
    ))
}

/// `POST /api/v1/orgs/{org}/billing/invoices` (import; upsert by number).
pub fn import_invoices(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::BillingManage>()?;
    let b: ImportInvoices = req.json()?;
    Ok(Resp::json(
        200,
        &org_settings::import_invoices(app, &permit, b.invoices)?,
    ))
}

/// `GET /api/v1/orgs/{org}/audit-log` (`?actor=&action=&from=&to=` filter).
pub fn audit_log(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::AuditRead>()?;
    let (cursor, limit) = page_params(req)?;
    let q = |n: &str| req.query_param(n);
    let filter = audit::filter_from_params(
        q("actor").as_deref(),
        q("action").as_deref(),
        q("from").as_deref(),
        q("to").as_deref(),
    )?;
    Ok(Resp::json(
        200,
        &audit::list_filtered(app, &permit, &filter, cursor.as_deref(), limit)?,
    ))
}

/// `GET /api/v1/orgs/{org}/billing/source`.
pub fn get_billing_source(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(
        200,
        &crate::service::billing_source::get_source(app, &access)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutSource {
    plugin: Option<String>,
}

/// `PUT /api/v1/orgs/{org}/billing/source`.
pub fn put_billing_source(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    access.permit::<perm::BillingManage>()?;
    let b: PutSource = req.json()?;
    Ok(Resp::json(
        200,
        &crate::service::billing_source::put_source(app, &access, b.plugin)?,
    ))
}

/// `GET /api/v1/orgs/{org}/two-step-policy`.
pub fn get_two_step_policy(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    Ok(Resp::json(
        200,
        &two_step_policy::get(app, &access.permit()?)?,
    ))
}

/// `PUT /api/v1/orgs/{org}/two-step-policy` (owners).
pub fn put_two_step_policy(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let access = org_access(app, &p, req.param("org"))?;
    let permit = access.permit::<perm::OwnersManage>()?;
    let b: two_step_policy::PolicyInput = req.json()?;
    Ok(Resp::json(200, &two_step_policy::put(app, &permit, b)?))
}
