//! Company settings: Sites (list, add, edit, delete, time zone picker) and Data Preferences,
//! through `service::sites` with the company proof of `authz`. Members are in
//! `company_members.rs`.

use serde::Serialize;

use super::personal::zone_options;
use super::{
    company_href, done, field_errors, posted, render, signed_in, Ctx, FieldView, FormView,
    LearnMore, Page,
};
use crate::domain::entities::DataPreferences;
use crate::domain::Permission;
use crate::error::{FieldError, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{company_access, perm, CompanyCtx};
use crate::service::sites;
use crate::service::Context;

const LEARN: LearnMore = LearnMore {
    href: "/settings/help/company",
    label: "company settings",
};

pub(super) fn notice(req: &Req) -> Option<&'static str> {
    match req.query_param("notice")?.as_str() {
        "site_added" => Some("The site is added."),
        "site_saved" => Some("The site is saved."),
        "site_deleted" => Some("The site is deleted."),
        "preferences_saved" => Some("The data preferences are saved."),
        "member_added" => Some("The member is added to the company."),
        "member_invited" => {
            Some("An invitation is on its way. They join the company when they accept it.")
        }
        "member_changed" => Some("The member's role is saved."),
        "member_removed" => Some("The member is removed from the company."),
        _ => None,
    }
}

pub(super) fn page<T: Serialize>(
    app: &Context,
    c: &Ctx,
    title: &str,
    template: &str,
    data: &T,
    n: Option<&str>,
    status: u16,
) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title,
            template,
            data,
            notice: n,
            learn_more: Some(LEARN),
            status,
        },
    )
}

fn can(ctx: &CompanyCtx, p: Permission) -> bool {
    ctx.allows(p)
}

// ---------------------------------------------------------------------------
// Sites

#[derive(Serialize)]
struct SiteRow {
    name: String,
    address: String,
    timezone: String,
    href: Option<String>,
}

#[derive(Serialize)]
struct SitesView {
    company: String,
    sites: Vec<SiteRow>,
    add: Option<FormView>,
    next_page: Option<String>,
}

fn site_fields(name: &str, address: &str, tz: &str) -> Vec<FieldView> {
    vec![
        FieldView::input("name", "Site name", "text", name),
        FieldView::input("address", "Address", "text", address).autocomplete("street-address"),
        FieldView::select("timezone", "Time zone", tz, zone_options())
            .hint("Times at this site are shown in this zone."),
    ]
}

fn sites_view(app: &Context, c: &Ctx, ctx: &CompanyCtx, req: &Req) -> Result<SitesView> {
    let cmp = ctx.company_id().to_string();
    let base = company_href(&cmp, "sites");
    let manage = can(ctx, Permission::SitesManage);
    let list = sites::list(app, &ctx.permit()?, req.query_param("after").as_deref(), 50)?;
    Ok(SitesView {
        company: ctx.company().name.clone(),
        sites: list
            .data
            .iter()
            .map(|s| SiteRow {
                name: s.name.clone(),
                address: s.address.clone(),
                timezone: s.timezone.clone(),
                href: manage.then(|| format!("{base}/{}", s.id)),
            })
            .collect(),
        add: manage.then(|| {
            FormView::new(
                c,
                &format!("{base}/add"),
                "Add site",
                site_fields("", "", "UTC"),
            )
        }),
        next_page: list.next_cursor.map(|cur| {
            format!(
                "{base}?after={}",
                form_urlencoded::byte_serialize(cur.as_bytes()).collect::<String>()
            )
        }),
    })
}

/// `GET /settings/companies/{cmp}/sites` (through the section dispatcher).
pub fn sites_page(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let v = sites_view(app, c, &ctx, req)?;
    page(app, c, "Sites", "settings/sites", &v, notice(req), 200)
}

fn site_input(req: &Req) -> (std::collections::HashMap<String, String>, sites::SiteInput) {
    let f = req.form();
    let input = sites::SiteInput {
        name: Some(f.get("name").cloned().unwrap_or_default()),
        address: Some(f.get("address").cloned().unwrap_or_default()),
        timezone: Some(f.get("timezone").cloned().unwrap_or_default()),
    };
    (f, input)
}

/// `POST /settings/companies/{cmp}/sites/add`.
pub fn add_site(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let (form, input) = site_input(req);
    match ctx
        .permit::<perm::SitesManage>()
        .and_then(|permit| sites::create(app, &permit, input))
    {
        Ok(_) => Ok(done(&company_href(req.param("cmp"), "sites"), "site_added")),
        Err(e) => {
            let errs = field_errors(e)?;
            let mut v = sites_view(app, &c, &ctx, req)?;
            v.add = v.add.map(|f| f.with_errors(&form, &errs));
            page(app, &c, "Sites", "settings/sites", &v, None, 422)
        }
    }
}

#[derive(Serialize)]
struct SiteView {
    company: String,
    name: String,
    form: FormView,
    delete: FormView,
    back: String,
}

fn site_view(app: &Context, c: &Ctx, ctx: &CompanyCtx, id: &str) -> Result<SiteView> {
    ctx.permit::<perm::SitesManage>()?;
    let s = sites::get(app, &ctx.permit()?, id)?;
    let base = format!(
        "{}/{}",
        company_href(ctx.company_id().as_str(), "sites"),
        s.id
    );
    Ok(SiteView {
        company: ctx.company().name.clone(),
        form: FormView::new(
            c,
            &base,
            "Save site",
            site_fields(&s.name, &s.address, &s.timezone),
        ),
        delete: FormView::new(c, &format!("{base}/delete"), "Delete site", vec![])
            .confirm(&format!("Delete the site {}?", s.name)),
        name: s.name,
        back: company_href(ctx.company_id().as_str(), "sites"),
    })
}

/// `GET /settings/companies/{cmp}/sites/{site}`: edit or delete one site.
pub fn site(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let v = site_view(app, &c, &ctx, req.param("site"))?;
    page(app, &c, "Site", "settings/site", &v, None, 200)
}

/// `POST /settings/companies/{cmp}/sites/{site}`.
pub fn save_site(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let (form, input) = site_input(req);
    match ctx
        .permit::<perm::SitesManage>()
        .and_then(|permit| sites::update(app, &permit, req.param("site"), input))
    {
        Ok(_) => Ok(done(&company_href(req.param("cmp"), "sites"), "site_saved")),
        Err(e) => {
            let errs = field_errors(e)?;
            let mut v = site_view(app, &c, &ctx, req.param("site"))?;
            v.form = v.form.with_errors(&form, &errs);
            page(app, &c, "Site", "settings/site", &v, None, 422)
        }
    }
}

/// `POST /settings/companies/{cmp}/sites/{site}/delete`.
pub fn delete_site(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    sites::delete(app, &ctx.permit()?, req.param("site"))?;
    Ok(done(
        &company_href(req.param("cmp"), "sites"),
        "site_deleted",
    ))
}

// ---------------------------------------------------------------------------
// Data Preferences

#[derive(Serialize)]
struct PrefsView {
    company: String,
    form: Option<FormView>,
    facts: Vec<(String, String)>,
}

fn prefs_form(c: &Ctx, cmp: &str, p: &DataPreferences) -> FormView {
    let opts = |v: &[&str]| v.iter().map(|s| (s.to_string(), s.to_string())).collect();
    FormView::new(
        c,
        &company_href(cmp, "data_preferences"),
        "Save data preferences",
        vec![
            FieldView::select(
                "units",
                "Units",
                &p.units,
                vec![
                    ("metric".into(), "Metric".into()),
                    ("imperial".into(), "Imperial".into()),
                ],
            ),
            FieldView::select("timezone", "Time zone", &p.timezone, zone_options()),
            FieldView::input("currency", "Currency", "text", &p.currency)
                .hint("A three-letter currency code such as EUR or USD."),
            FieldView::select(
                "date_format",
                "Date format",
                &p.date_format,
                opts(&["YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY"]),
            ),
            FieldView::input(
                "retention_days",
                "Keep data for (days)",
                "text",
                &p.retention_days.to_string(),
            )
            .hint("From 1 to 3650 days."),
        ],
    )
}

fn prefs_view(app: &Context, c: &Ctx, ctx: &CompanyCtx) -> Result<PrefsView> {
    let p = sites::get_preferences(app, &ctx.permit()?)?;
    let manage = can(ctx, Permission::DataPreferencesManage);
    Ok(PrefsView {
        company: ctx.company().name.clone(),
        form: manage.then(|| prefs_form(c, ctx.company_id().as_str(), &p)),
        facts: vec![
            ("Units".into(), p.units.clone()),
            ("Time zone".into(), p.timezone.clone()),
            ("Currency".into(), p.currency.clone()),
            ("Date format".into(), p.date_format.clone()),
            ("Keep data for".into(), format!("{} days", p.retention_days)),
        ],
    })
}

/// `GET /settings/companies/{cmp}/data-preferences` (through the section dispatcher).
pub fn preferences_page(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let v = prefs_view(app, c, &ctx)?;
    page(
        app,
        c,
        "Data Preferences",
        "settings/data_preferences",
        &v,
        notice(req),
        200,
    )
}

/// `POST /settings/companies/{cmp}/data-preferences`.
pub fn save_preferences(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let f = req.form();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let retention = get("retention_days").trim().parse::<i64>();
    let result: std::result::Result<(), Vec<FieldError>> = match retention {
        Ok(days) => {
            let input = DataPreferences {
                units: get("units"),
                timezone: get("timezone"),
                currency: get("currency").trim().to_uppercase(),
                date_format: get("date_format"),
                retention_days: days,
            };
            match ctx
                .permit::<perm::DataPreferencesManage>()
                .and_then(|permit| sites::put_preferences(app, &permit, input))
            {
                Ok(_) => Ok(()),
                Err(e) => Err(field_errors(e)?),
            }
        }
        Err(_) => Err(vec![FieldError::new(
            "retention_days",
            "must be a whole number of days from 1 to 3650",
        )]),
    };
    match result {
        Ok(()) => Ok(done(
            &company_href(req.param("cmp"), "data_preferences"),
            "preferences_saved",
        )),
        Err(errs) => {
            let mut v = prefs_view(app, &c, &ctx)?;
            v.form = v.form.map(|form| form.with_errors(&f, &errs));
            page(
                app,
                &c,
                "Data Preferences",
                "settings/data_preferences",
                &v,
                None,
                422,
            )
        }
    }
}
