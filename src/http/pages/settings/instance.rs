//! Instance scope (instance administrators only): **Organizations** — list, create, and per
//! organization its feature switches and allowed plugins as checkboxes — and **Users** — list
//! with paging, create, disable and enable after confirming. Every action calls the same use
//! cases as the API, each with the `InstanceAdmin` proof; anyone else gets a page that says
//! these settings are for instance administrators.

use std::collections::HashMap;

use serde::Serialize;

use super::{
    done, field_errors, posted, render, sentence, signed_in, when, Ctx, FieldView, FormView,
    LearnMore, Page,
};
use crate::crypto::Secret;
use crate::domain::{Feature, UserId};
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{instance_admin, org_access, InstanceAdmin};
use crate::service::hooks::HookKind;
use crate::service::Context;
use crate::service::{org_plugins, orgs, users};

const LEARN: LearnMore = LearnMore {
    href: "/settings/help/overview",
    label: "instance settings",
};
const ORGS: &str = "/settings/instance/organizations";
const USERS: &str = "/settings/instance/users";
const PAGE_SIZE: usize = 25;

#[derive(Serialize)]
struct Refusal {
    heading: &'static str,
    why: &'static str,
    next: &'static str,
}

/// The page for someone who is not an instance administrator.
fn refused(app: &Context, c: &Ctx) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title: "Instance settings",
            template: "settings/hidden",
            data: &Refusal {
                heading: "Instance settings are for instance administrators",
                why: "These pages change the whole installation: its organizations and its people. You are not an instance administrator.",
                next: "Ask an instance administrator of this installation if something here needs changing.",
            },
            notice: None,
            learn_more: Some(LEARN),
            status: 403,
        },
    )
}

fn page<T: Serialize>(
    app: &Context,
    c: &Ctx,
    title: &str,
    template: &str,
    data: &T,
    notice: Option<&str>,
    status: u16,
) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title,
            template,
            data,
            notice,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// The `?after=` cursor and the link to the next page.
fn paging(req: &Req, base: &str, next: Option<String>) -> (Option<String>, bool, Option<String>) {
    let after = req.query_param("after").filter(|a| !a.is_empty());
    let first = after.is_some();
    let next = next.map(|n| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("after", &n);
        format!("{base}?{}", q.finish())
    });
    (after, first, next)
}

// --------------------------------------------------------------------------------------------
// Organizations
// --------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct OrgRow {
    name: String,
    slug: String,
    href: String,
    created: String,
}

#[derive(Serialize)]
struct OrgsView {
    orgs: Vec<OrgRow>,
    first_page: Option<&'static str>,
    next_page: Option<String>,
    create: FormView,
}

fn create_org_form(c: &Ctx) -> FormView {
    FormView::new(
        c,
        ORGS,
        "Create organization",
        vec![
            FieldView::input("name", "Name", "text", ""),
            FieldView::input("slug", "Short name for addresses", "text", "")
                .hint("Lower-case letters, digits and dashes, for example acme-europe."),
            FieldView::input("owner_email", "Owner's email address", "email", "").hint(
                "The owner must already have an account. Leave empty to be the owner yourself.",
            ),
        ],
    )
}

fn orgs_page(
    app: &Context,
    c: &Ctx,
    req: &Req,
    create: FormView,
    notice: Option<&str>,
    status: u16,
) -> Result<Resp> {
    let after = req.query_param("after").filter(|a| !a.is_empty());
    let list = orgs::list(app, &c.session.principal, after.as_deref(), PAGE_SIZE)?;
    let (_, not_first, next_page) = paging(req, ORGS, list.next_cursor);
    let data = OrgsView {
        orgs: list
            .data
            .into_iter()
            .map(|o| OrgRow {
                href: format!("{ORGS}/{}", o.id),
                created: when(&c.user, o.created_at),
                name: o.name,
                slug: o.slug,
            })
            .collect(),
        first_page: not_first.then_some(ORGS),
        next_page,
        create,
    };
    page(
        app,
        c,
        "Organizations",
        "settings/instance_orgs",
        &data,
        notice,
        status,
    )
}

/// `GET /settings/instance/organizations`.
pub fn organizations(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    if instance_admin(&c.session.principal).is_err() {
        return refused(app, &c);
    }
    let notice = (req.query_param("notice").as_deref() == Some("created"))
        .then_some("The organization is created.");
    orgs_page(app, &c, req, create_org_form(&c), notice, 200)
}

/// `POST /settings/instance/organizations`: creates an organization.
pub fn create_organization(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    if instance_admin(&c.session.principal).is_err() {
        return refused(app, &c);
    }
    let f = req.form();
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let owner = get("owner_email");
    let input = orgs::NewOrg {
        name: get("name"),
        slug: get("slug"),
        owner_email: (!owner.is_empty()).then_some(owner),
    };
    let creator = crate::service::authz::org_creator(app, &c.session.principal)?;
    let errs = match orgs::create(app, &creator, input) {
        Ok(o) => return Ok(done(&format!("{ORGS}/{}", o.id), "created")),
        Err(Error::Conflict(m)) => vec![crate::error::FieldError::new("slug", m)],
        Err(e) => field_errors(e)?,
    };
    let form = create_org_form(&c).with_errors(&f, &errs);
    orgs_page(app, &c, req, form, None, 422)
}

#[derive(Serialize)]
struct Check {
    name: String,
    label: String,
    hint: String,
    checked: bool,
}

#[derive(Serialize)]
struct OrgView {
    name: String,
    slug: String,
    csrf_token: String,
    features_action: String,
    features: Vec<Check>,
    plugins_action: String,
    plugins: Vec<Check>,
    sso_href: String,
    error: Option<String>,
}

fn world_words(w: &str) -> &'static str {
    match w {
        "sso" => "single sign-on",
        "billing-profile" => "billing data",
        "email-delivery" => "email delivery",
        _ => "other",
    }
}

fn org_view(app: &Context, c: &Ctx, admin: &InstanceAdmin<'_>, org: &str) -> Result<OrgView> {
    let access = org_access(app, admin.principal(), org)?;
    let f = access.features();
    let allowed: Vec<String> = org_plugins::get(app, &access)?
        .allowed
        .into_iter()
        .map(|p| p.name)
        .collect();
    let here = format!("{ORGS}/{}", access.org_id());
    Ok(OrgView {
        name: access.org().name.clone(),
        slug: access.org().slug.clone(),
        csrf_token: c.session.csrf_token.clone(),
        features_action: format!("{here}/features"),
        features: [
            (
                Feature::ApiKeys,
                "api_keys",
                "API keys",
                "Lets owners and admins create keys for the API.",
            ),
            (
                Feature::Billing,
                "billing",
                "Billing",
                "Shows billing to owners and the billing role.",
            ),
            (
                Feature::Sso,
                "sso",
                "Single sign-on",
                "Lets owners and admins set up sign-in through their identity provider.",
            ),
        ]
        .into_iter()
        .map(|(feat, name, label, hint)| Check {
            name: name.into(),
            label: label.into(),
            hint: hint.into(),
            checked: f.on(feat),
        })
        .collect(),
        plugins_action: format!("{here}/plugins"),
        plugins: app
            .config
            .plugins
            .iter()
            .map(|p| {
                let worlds: Vec<&str> = HookKind::ALL
                    .into_iter()
                    .filter(|k| app.hooks.supports(&p.name, *k))
                    .map(|k| world_words(k.world()))
                    .collect();
                Check {
                    checked: allowed.contains(&p.name),
                    hint: if worlds.is_empty() {
                        "Not running right now.".into()
                    } else {
                        format!("Provides {}.", worlds.join(", "))
                    },
                    label: p.name.clone(),
                    name: p.name.clone(),
                }
            })
            .collect(),
        sso_href: super::org_href(access.org_id().as_str(), "single_sign_on"),
        error: None,
    })
}

fn org_page(
    app: &Context,
    c: &Ctx,
    v: &OrgView,
    notice: Option<&str>,
    status: u16,
) -> Result<Resp> {
    page(
        app,
        c,
        &v.name.clone(),
        "settings/instance_org",
        v,
        notice,
        status,
    )
}

/// `GET /settings/instance/organizations/{org}`: features and allowed plugins.
pub fn organization(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let Ok(admin) = instance_admin(&c.session.principal) else {
        return refused(app, &c);
    };
    let v = org_view(app, &c, &admin, req.param("org"))?;
    let notice = req.query_param("notice").and_then(|n| match n.as_str() {
        "created" => Some("The organization is created."),
        "features" => Some("The features are saved."),
        "plugins" => Some("The allowed plugins are saved."),
        _ => None,
    });
    org_page(app, &c, &v, notice, 200)
}

/// The checked boxes of a posted form (`name=value` pairs with the same name).
fn checked(req: &Req, field: &str) -> Vec<String> {
    form_urlencoded::parse(&req.body)
        .filter(|(k, _)| k == field)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// `POST /settings/instance/organizations/{org}/features`.
pub fn save_features(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Ok(admin) = instance_admin(&c.session.principal) else {
        return refused(app, &c);
    };
    let access = org_access(app, admin.principal(), req.param("org"))?;
    let on = checked(req, "feature");
    let changes: serde_json::Map<String, serde_json::Value> = ["api_keys", "billing", "sso"]
        .into_iter()
        .map(|f| {
            (
                f.to_string(),
                serde_json::Value::Bool(on.iter().any(|o| o == f)),
            )
        })
        .collect();
    orgs::put_features(app, &admin, &access, &changes)?;
    Ok(done(&format!("{ORGS}/{}", access.org_id()), "features"))
}

/// `POST /settings/instance/organizations/{org}/plugins`.
pub fn save_plugins(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Ok(admin) = instance_admin(&c.session.principal) else {
        return refused(app, &c);
    };
    let access = org_access(app, admin.principal(), req.param("org"))?;
    let input = org_plugins::OrgPluginsInput {
        allowed: checked(req, "plugin"),
    };
    match org_plugins::put(app, &admin, &access, input) {
        Ok(_) => Ok(done(&format!("{ORGS}/{}", access.org_id()), "plugins")),
        Err(e) => {
            let errs = field_errors(e)?;
            let mut v = org_view(app, &c, &admin, req.param("org"))?;
            v.error = Some(
                errs.iter()
                    .map(|e| sentence(&e.message))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            org_page(app, &c, &v, None, 422)
        }
    }
}

// --------------------------------------------------------------------------------------------
// Users
// --------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct UserRow {
    name: String,
    email: String,
    how: &'static str,
    disabled: bool,
    created: String,
    toggle: Option<FormView>,
}

#[derive(Serialize)]
struct UsersView {
    users: Vec<UserRow>,
    first_page: Option<&'static str>,
    next_page: Option<String>,
    create: FormView,
    error: Option<String>,
}

fn create_user_form(c: &Ctx) -> FormView {
    FormView::new(
        c,
        USERS,
        "Create user",
        vec![
            FieldView::input("name", "Name", "text", "").autocomplete("off"),
            FieldView::input("email", "Email address", "email", ""),
            FieldView::input("password", "First password", "password", "")
                .autocomplete("new-password")
                .hint("At least 12 characters. Tell it to the person; they can change it under Personal › General."),
        ],
    )
}

fn users_page(
    app: &Context,
    c: &Ctx,
    req: &Req,
    create: FormView,
    notice: Option<&str>,
    error: Option<String>,
    status: u16,
) -> Result<Resp> {
    let (after, not_first, _) = paging(req, USERS, None);
    let admin = instance_admin(&c.session.principal)?;
    let list = users::list_by_admin(app, &admin, after.as_deref(), PAGE_SIZE)?;
    let (_, _, next_page) = paging(req, USERS, list.next_cursor);
    let me = c.user.id.clone();
    let data = UsersView {
        users: list
            .data
            .into_iter()
            .map(|u| {
                let action = format!(
                    "{USERS}/{}/{}",
                    u.id,
                    if u.disabled { "enable" } else { "disable" }
                );
                let toggle = (u.id != me).then(|| {
                    let f = FormView::new(
                        c,
                        &action,
                        if u.disabled { "Enable" } else { "Disable" },
                        Vec::new(),
                    );
                    if u.disabled {
                        f
                    } else {
                        f.confirm(&format!(
                            "Disable {}? They are signed out everywhere and cannot sign in until enabled again.",
                            u.email.as_str()
                        ))
                    }
                });
                UserRow {
                    how: if u.is_instance_admin {
                        "Instance administrator"
                    } else if u.sso_provider.is_some() {
                        "Signs in with single sign-on"
                    } else {
                        "Signs in with a password"
                    },
                    created: when(&c.user, u.created_at),
                    name: u.name,
                    email: u.email.as_str().to_string(),
                    disabled: u.disabled,
                    toggle,
                }
            })
            .collect(),
        first_page: not_first.then_some(USERS),
        next_page,
        create,
        error,
    };
    page(
        app,
        c,
        "Users",
        "settings/instance_users",
        &data,
        notice,
        status,
    )
}

/// `GET /settings/instance/users`.
pub fn users_list(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    if instance_admin(&c.session.principal).is_err() {
        return refused(app, &c);
    }
    let notice = req.query_param("notice").and_then(|n| match n.as_str() {
        "created" => Some("The user is created."),
        "disabled" => Some("The user is disabled and signed out everywhere."),
        "enabled" => Some("The user is enabled again."),
        _ => None,
    });
    users_page(app, &c, req, create_user_form(&c), notice, None, 200)
}

/// `POST /settings/instance/users`: creates a password account.
pub fn create_user(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Ok(admin) = instance_admin(&c.session.principal) else {
        return refused(app, &c);
    };
    let f: HashMap<String, String> = req.form();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let input = users::NewUserInput {
        email: get("email").trim().to_string(),
        name: get("name"),
        password: Some(Secret::new(get("password"))),
        sso: None,
    };
    let errs = match users::create_by_admin(app, &admin, input) {
        Ok(_) => return Ok(done(USERS, "created")),
        Err(Error::Conflict(m)) => vec![crate::error::FieldError::new("email", m)],
        Err(e) => field_errors(e)?,
    };
    let form = create_user_form(&c).with_errors(&f, &errs);
    users_page(app, &c, req, form, None, None, 422)
}

fn toggle(app: &Context, req: &Req, disabled: bool) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let Ok(admin) = instance_admin(&c.session.principal) else {
        return refused(app, &c);
    };
    let id = UserId::parse(req.param("user")).ok_or(Error::NotFound)?;
    match users::set_disabled_by_admin(app, &admin, &id, disabled) {
        Ok(_) => Ok(done(USERS, if disabled { "disabled" } else { "enabled" })),
        Err(e) => {
            let msg: Vec<String> = field_errors(e)?
                .iter()
                .map(|e| sentence(&e.message))
                .collect();
            let form = create_user_form(&c);
            users_page(app, &c, req, form, None, Some(msg.join(" ")), 422)
        }
    }
}

/// `POST /settings/instance/users/{user}/disable` (after confirming).
pub fn disable_user(app: &Context, req: &Req) -> Result<Resp> {
    toggle(app, req, true)
}

/// `POST /settings/instance/users/{user}/enable`.
pub fn enable_user(app: &Context, req: &Req) -> Result<Resp> {
    toggle(app, req, false)
}
