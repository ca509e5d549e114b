//! Organization › Data Repository: where the organization's data is kept. Owners change it;
//! owners and admins read it. Credentials are write-only: the page says whether they are set
//! and offers keep, replace or clear — their values never come back, not even after an error.

use serde::Serialize;

use super::{
    done, field_errors, org_href, posted, render, sentence, Ctx, LearnMore, OptionView, Page,
};
use crate::domain::entities::DataRepository;
use crate::domain::Permission;
use crate::error::{FieldError, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{org_access, perm, OrgAccess};
use crate::service::org_settings::{self, Credentials, RepositoryInput};
use crate::service::Context;

const LEARN: LearnMore = LearnMore {
    href: "/settings/help/organization",
    label: "the data repository",
};

const KINDS: &[(&str, &str)] = &[
    ("embedded", "Embedded (kept by tenantry)"),
    ("s3", "S3-compatible object storage"),
    ("postgres", "PostgreSQL"),
    ("sftp", "SFTP server"),
];

#[derive(Serialize, Default)]
struct Errors {
    kind: Option<String>,
    location: Option<String>,
    region: Option<String>,
    retention_days: Option<String>,
    credentials: Option<String>,
}

#[derive(Serialize)]
struct RepoView {
    org: String,
    manage: bool,
    action: String,
    csrf_token: String,
    kinds: Vec<OptionView>,
    kind_label: String,
    location: String,
    region: String,
    retention_days: String,
    credentials_set: bool,
    error: Option<String>,
    errors: Errors,
}

fn view(c: &Ctx, access: &OrgAccess, r: &DataRepository) -> RepoView {
    RepoView {
        org: access.org().name.clone(),
        manage: access.explain(Permission::DataRepositoryManage).0,
        action: org_href(access.org_id().as_str(), "data_repository"),
        csrf_token: c.session.csrf_token.clone(),
        kinds: KINDS
            .iter()
            .map(|(v, l)| OptionView {
                value: (*v).into(),
                label: (*l).into(),
                selected: *v == r.kind,
            })
            .collect(),
        kind_label: KINDS
            .iter()
            .find(|(v, _)| *v == r.kind)
            .map_or_else(|| r.kind.clone(), |(_, l)| (*l).to_string()),
        location: r.location.clone(),
        region: r.region.clone().unwrap_or_default(),
        retention_days: r.retention_days.to_string(),
        credentials_set: r.credentials_set,
        error: None,
        errors: Errors::default(),
    }
}

fn page(app: &Context, c: &Ctx, v: &RepoView, notice: Option<&str>, status: u16) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title: "Data Repository",
            template: "settings/data_repository",
            data: v,
            notice,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/orgs/{org}/data-repository` (through the section dispatcher).
pub fn show(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let r = org_settings::get_repository(app, &access.permit()?)?;
    let notice = (req.query_param("notice").as_deref() == Some("saved"))
        .then_some("The data repository setting is saved.");
    page(app, c, &view(c, &access, &r), notice, 200)
}

/// Credentials typed as `name = value` lines.
fn parse_credentials(
    text: &str,
) -> std::result::Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut m = serde_json::Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once('=') else {
            return Err("write one name = value per line".into());
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err("every line needs a name before the =".into());
        }
        m.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    if m.is_empty() {
        return Err("write the new credentials, one name = value per line".into());
    }
    Ok(m)
}

/// `POST /settings/orgs/{org}/data-repository` (owners).
pub fn save(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let f = req.form();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let mut errs: Vec<FieldError> = Vec::new();
    let credentials = match get("credentials_action").as_str() {
        "clear" => Credentials::Clear,
        "replace" => match parse_credentials(&get("credentials")) {
            Ok(m) => Credentials::Set(m),
            Err(e) => {
                errs.push(FieldError::new("credentials", e));
                Credentials::Keep
            }
        },
        _ => Credentials::Keep,
    };
    let retention = get("retention_days")
        .trim()
        .parse::<i64>()
        .unwrap_or_else(|_| {
            errs.push(FieldError::new(
                "retention_days",
                "must be a whole number of days from 1 to 3650",
            ));
            0
        });
    let region = get("region").trim().to_string();
    if errs.is_empty() {
        let input = RepositoryInput {
            kind: get("kind"),
            location: get("location"),
            region: (!region.is_empty()).then_some(region.clone()),
            retention_days: retention,
            credentials,
        };
        match access
            .permit::<perm::DataRepositoryManage>()
            .and_then(|permit| org_settings::put_repository(app, &permit, input))
        {
            Ok(_) => {
                return Ok(done(
                    &org_href(access.org_id().as_str(), "data_repository"),
                    "saved",
                ))
            }
            Err(e) => errs = field_errors(e)?,
        }
    }
    let current = org_settings::get_repository(app, &access.permit()?)?;
    let mut v = view(&c, &access, &current);
    for o in &mut v.kinds {
        o.selected = o.value == get("kind");
    }
    v.location = get("location");
    v.region = region;
    v.retention_days = get("retention_days");
    for e in &errs {
        let msg = Some(sentence(&e.message));
        match e.field.as_str() {
            "kind" => v.errors.kind = msg,
            "location" => v.errors.location = msg,
            "region" => v.errors.region = msg,
            "retention_days" => v.errors.retention_days = msg,
            _ => v.errors.credentials = msg,
        }
    }
    v.error = Some("Please correct the fields marked below. Credentials you typed were not kept; type them again.".into());
    page(app, &c, &v, None, 422)
}
