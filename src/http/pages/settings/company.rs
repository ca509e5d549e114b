//! Company settings: Sites (list, add, edit, delete, time zone picker), Data Preferences, and
//! Members (role and "through the organization / added directly"; add, change, remove). All
//! through `service::sites` and `service::companies`, with the company proof of `authz`.

use serde::Serialize;

use super::personal::{role_label, zone_options};
use super::{
    company_href, done, field_errors, posted, render, sentence, signed_in, Ctx, FieldView,
    FormView, LearnMore, Page,
};
use crate::app::App;
use crate::domain::entities::{DataPreferences, Via};
use crate::domain::{CompanyRole, Permission};
use crate::error::{Error, FieldError, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{self, company_access, perm, CompanyCtx};
use crate::service::{companies, invitations, sites};

const LEARN: LearnMore = LearnMore {
    href: "/settings/help/company",
    label: "company settings",
};

fn notice(req: &Req) -> Option<&'static str> {
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

fn page<T: Serialize>(
    app: &App,
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

fn sites_view(app: &App, c: &Ctx, ctx: &CompanyCtx, req: &Req) -> Result<SitesView> {
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
pub fn sites_page(app: &App, c: &Ctx, req: &Req) -> Result<Resp> {
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
pub fn add_site(app: &App, req: &Req) -> Result<Resp> {
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

fn site_view(app: &App, c: &Ctx, ctx: &CompanyCtx, id: &str) -> Result<SiteView> {
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
pub fn site(app: &App, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let v = site_view(app, &c, &ctx, req.param("site"))?;
    page(app, &c, "Site", "settings/site", &v, None, 200)
}

/// `POST /settings/companies/{cmp}/sites/{site}`.
pub fn save_site(app: &App, req: &Req) -> Result<Resp> {
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
pub fn delete_site(app: &App, req: &Req) -> Result<Resp> {
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

fn prefs_view(app: &App, c: &Ctx, ctx: &CompanyCtx) -> Result<PrefsView> {
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
pub fn preferences_page(app: &App, c: &Ctx, req: &Req) -> Result<Resp> {
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
pub fn save_preferences(app: &App, req: &Req) -> Result<Resp> {
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

// ---------------------------------------------------------------------------
// Members

#[derive(Serialize)]
struct MemberRow {
    user: String,
    name: String,
    email: String,
    role: &'static str,
    via: &'static str,
    direct: bool,
    roles: Vec<super::OptionView>,
    role_action: String,
    remove_action: String,
    remove_question: String,
}

#[derive(Serialize)]
struct MembersView {
    company: String,
    csrf_token: String,
    manage: bool,
    members: Vec<MemberRow>,
    add: Option<FormView>,
    error: Option<String>,
    next_page: Option<String>,
}

fn role_options() -> Vec<(String, String)> {
    [CompanyRole::Admin, CompanyRole::Member, CompanyRole::Viewer]
        .into_iter()
        .map(|r| (r.as_str().to_string(), role_label(r.as_str()).to_string()))
        .collect()
}

fn members_view(app: &App, c: &Ctx, ctx: &CompanyCtx, req: &Req) -> Result<MembersView> {
    let cmp = ctx.company_id().to_string();
    let base = company_href(&cmp, "members");
    let manage = can(ctx, Permission::CompanyMembersManage);
    let list = companies::list_members(
        app,
        &ctx.member_list_permit()?,
        req.query_param("after").as_deref(),
        50,
    )?;
    Ok(MembersView {
        company: ctx.company().name.clone(),
        csrf_token: c.session.csrf_token.clone(),
        manage,
        members: list
            .data
            .iter()
            .map(|m| {
                let direct = m.direct_role.unwrap_or(m.role);
                MemberRow {
                    user: m.user_id.to_string(),
                    name: m.name.clone(),
                    email: m.email.clone(),
                    role: role_label(m.role.as_str()),
                    via: match m.via {
                        Via::Organization => "Through the organization",
                        Via::Direct => "Added directly",
                    },
                    direct: m.direct_role.is_some(),
                    roles: role_options()
                        .into_iter()
                        .map(|(v, l)| super::OptionView {
                            selected: v == direct.as_str(),
                            value: v,
                            label: l,
                        })
                        .collect(),
                    role_action: format!("{base}/{}/role", m.user_id),
                    remove_action: format!("{base}/{}/remove", m.user_id),
                    remove_question: format!("Remove {} from {}?", m.name, ctx.company().name),
                }
            })
            .collect(),
        add: manage.then(|| {
            FormView::new(
                c,
                &format!("{base}/add"),
                "Add member",
                vec![
                    FieldView::input("email", "Email address", "email", ""),
                    FieldView::select("role", "Role", "member", role_options()),
                ],
            )
        }),
        error: None,
        next_page: list.next_cursor.map(|cur| {
            format!(
                "{base}?after={}",
                form_urlencoded::byte_serialize(cur.as_bytes()).collect::<String>()
            )
        }),
    })
}

/// `GET /settings/companies/{cmp}/members` (through the section dispatcher).
pub fn members_page(app: &App, c: &Ctx, req: &Req) -> Result<Resp> {
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let v = members_view(app, c, &ctx, req)?;
    page(
        app,
        c,
        "Members",
        "settings/company_members",
        &v,
        notice(req),
        200,
    )
}

fn words(e: Error) -> Result<String> {
    Ok(match e {
        Error::Conflict(m) | Error::Forbidden(m) => sentence(&m),
        Error::PermissionDenied { .. } => {
            "Your role does not let you do this. Ask a company admin.".into()
        }
        other => return Err(other),
    })
}

/// `POST /settings/companies/{cmp}/members/add`: an existing user, with a role.
pub fn add_member(app: &App, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let f = req.form();
    let email = f.get("email").cloned().unwrap_or_default();
    let role = f.get("role").cloned().unwrap_or_default();
    // Adding by email invites the person (they accept, or not); only instance
    // administrators add an existing account directly.
    let added = match authz::instance_admin(&c.session.principal) {
        Ok(admin) => {
            companies::add_member_by_instance_admin(app, &admin, req.param("cmp"), &email, &role)
                .map(|_| "member_added")
        }
        Err(_) => ctx
            .permit::<perm::CompanyMembersManage>()
            .and_then(|permit| invitations::invite_to_company(app, &permit, &email, &role))
            .map(|_| "member_invited"),
    };
    let (errs, general) = match added {
        Ok(n) => return Ok(done(&company_href(req.param("cmp"), "members"), n)),
        Err(Error::Validation(errs)) => (errs, None),
        Err(e) => (Vec::new(), Some(words(e)?)),
    };
    let mut v = members_view(app, &c, &ctx, req)?;
    v.add = v.add.map(|form| {
        let mut form = form.with_errors(&f, &errs);
        if general.is_some() {
            form.error = general;
        }
        form
    });
    page(
        app,
        &c,
        "Members",
        "settings/company_members",
        &v,
        None,
        422,
    )
}

/// `POST /settings/companies/{cmp}/members/{user}/role`.
pub fn change_member(app: &App, req: &Req) -> Result<Resp> {
    member_action(app, req, true)
}

/// `POST /settings/companies/{cmp}/members/{user}/remove`.
pub fn remove_member(app: &App, req: &Req) -> Result<Resp> {
    member_action(app, req, false)
}

fn member_action(app: &App, req: &Req, change: bool) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let user = req.param("user");
    let result = if change {
        let role = req.form().get("role").cloned().unwrap_or_default();
        ctx.permit::<perm::CompanyMembersManage>()
            .and_then(|permit| companies::update_member(app, &permit, user, &role))
            .map(|_| "member_changed")
    } else {
        companies::remove_member(app, &ctx, user).map(|_| "member_removed")
    };
    let msg = match result {
        Ok(n) => return Ok(done(&company_href(req.param("cmp"), "members"), n)),
        Err(Error::Validation(errs)) => sentence(&format!(
            "the role {}",
            errs.first().map_or("is not valid", |e| e.message.as_str())
        )),
        Err(e) => words(e)?,
    };
    let mut v = members_view(app, &c, &ctx, req)?;
    v.error = Some(msg);
    page(
        app,
        &c,
        "Members",
        "settings/company_members",
        &v,
        None,
        422,
    )
}
