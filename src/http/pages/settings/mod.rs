//! `/settings…`: the settings pages. One frame for all of them: a left navigation built from
//! the same value as `GET /me/sections` (`service::access::sections`), so the pages cannot
//! show what the API hides; one stylesheet and one small script served under content-hashed
//! names; one form helper (post-redirect-get, errors beside their fields, values kept, the
//! session's CSRF token on every form). Each section is one file of this folder.

pub mod admin_team;
pub mod admin_team_member;
pub mod api_keys;
pub mod assets;
pub mod audit_log;
pub mod billing;
pub mod company;
pub mod company_members;
pub mod data_repository;
pub mod email_delivery;
pub mod form;
pub mod help;
pub mod instance;
pub mod personal;
pub mod sections;
pub mod security;
pub mod sso;

use serde::Serialize;

pub use form::{done, field_errors, sentence, FieldView, FormView, OptionView};

use super::{csrf_failed, session_csrf_ok};
use crate::domain::User;
use crate::error::Result;
use crate::http::auth::optional_session;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::access::{self, Sections};
use crate::service::auth::SessionInfo;
use crate::service::Context;

/// Everything a settings page needs about the person asking.
pub struct Ctx {
    /// The signed-in session (principal and CSRF token).
    pub session: SessionInfo,
    /// The person.
    pub user: User,
    /// What they may see, exactly as `GET /me/sections` answers it.
    pub sections: Sections,
    /// The request path (marks the current navigation entry).
    pub path: String,
    /// Organizations' two-step sign-in requirements shown above the page.
    pub banners: Vec<Banner>,
}

/// A notice above the page about an organization's two-step sign-in policy.
#[derive(Serialize, Clone)]
pub struct Banner {
    /// The sentence.
    pub text: String,
    /// Where to act (Personal > Security), unless the page is that one.
    pub href: Option<&'static str>,
}

/// The person's context, or `None` when not signed in.
pub fn ctx(app: &Context, req: &Req) -> Result<Option<Ctx>> {
    let Some(session) = optional_session(app, req)? else {
        return Ok(None);
    };
    let user = crate::service::me::get(app, &session.principal)?;
    let sections = access::sections(app, &session.principal)?;
    let banners = two_step_banners(app, req, &user)?;
    Ok(Some(Ctx {
        session,
        user,
        sections,
        path: req.path.clone(),
        banners,
    }))
}

/// The banners of the organizations' two-step sign-in policies: on an organization's page
/// during its grace period (the gate found it), and on the overview and Personal > Security
/// for every organization whose policy applies to the person (with the one that sent them
/// there first).
fn two_step_banners(app: &Context, req: &Req, user: &User) -> Result<Vec<Banner>> {
    use crate::http::two_step_gate::{REQUIRED_BY, SECURITY_PAGE};
    let on_security = req.path == SECURITY_PAGE;
    let href = (!on_security).then_some(SECURITY_PAGE);
    let mut out = Vec::new();
    if let Some((org, deadline)) = &req.two_step_grace {
        out.push(Banner {
            text: format!(
                "{org} requires two-step sign-in from {}. Turn it on in Personal > Security before then to keep using {org}.",
                when(user, *deadline)
            ),
            href,
        });
    }
    if !on_security && req.path != "/settings" {
        return Ok(out);
    }
    let mut reqs = crate::service::two_step_policy::requirements_of(app, user)?;
    if let Some(first) = req.query_param(REQUIRED_BY) {
        reqs.sort_by_key(|r| r.org_id.as_str() != first);
    }
    for r in reqs {
        let org = &r.org_name;
        let text = if r.overdue() {
            format!(
                "{org} requires two-step sign-in. {org} is closed to your account until you turn it on{}.",
                if on_security { " below" } else { " in Personal > Security" }
            )
        } else {
            format!(
                "{org} requires two-step sign-in from {}. Turn it on{} before then to keep using {org}.",
                when(user, r.deadline),
                if on_security { " below" } else { " in Personal > Security" }
            )
        };
        out.push(Banner { text, href });
    }
    Ok(out)
}

/// The sign-in page, coming back to this page afterwards.
pub fn to_login(req: &Req) -> Resp {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("next", &req.path);
    Resp::see_other(&format!("/login?{}", q.finish()))
}

/// The signed-in context, or the response that sends to the sign-in page.
macro_rules! signed_in {
    ($app:expr, $req:expr) => {
        match $crate::http::pages::settings::ctx($app, $req)? {
            Some(c) => c,
            None => return Ok($crate::http::pages::settings::to_login($req)),
        }
    };
}
pub(crate) use signed_in;

/// For a form post: the signed-in context with a valid CSRF token, or the response to send.
pub fn posted(app: &Context, req: &Req) -> Result<std::result::Result<Ctx, Resp>> {
    let Some(c) = ctx(app, req)? else {
        return Ok(Err(to_login(req)));
    };
    if !session_csrf_ok(app, &c.session, req) {
        return Ok(Err(csrf_failed(app)));
    }
    Ok(Ok(c))
}

/// One navigation entry.
#[derive(Serialize)]
pub struct NavLink {
    /// Visible label.
    pub label: String,
    /// Target.
    pub href: String,
    /// True on the page it leads to.
    pub current: bool,
}

/// A choice of another organization or company.
#[derive(Serialize)]
pub struct SwitchOption {
    /// Name.
    pub label: String,
    /// Its first section.
    pub href: String,
}

/// The "switch" list shown when the person has several organizations or companies.
#[derive(Serialize)]
pub struct Switcher {
    /// E.g. "Switch organization".
    pub label: &'static str,
    /// The others.
    pub options: Vec<SwitchOption>,
}

/// One navigation group (a scope).
#[derive(Serialize)]
pub struct NavGroup {
    /// Element ID suffix.
    pub id: &'static str,
    /// Scope name: Personal, Organization, Company, Instance, Developers, Help.
    pub heading: &'static str,
    /// Which organization or company the links are for.
    pub scope: Option<String>,
    /// Other organizations or companies.
    pub switch: Option<Switcher>,
    /// The sections.
    pub links: Vec<NavLink>,
}

/// "Learn more" link to the help page of a section.
#[derive(Serialize)]
pub struct LearnMore {
    /// Help page path.
    pub href: &'static str,
    /// What it explains.
    pub label: &'static str,
}

#[derive(Serialize)]
struct Frame<'a> {
    title: &'a str,
    css: &'static str,
    js: &'static str,
    user_name: &'a str,
    user_email: &'a str,
    csrf_token: &'a str,
    groups: Vec<NavGroup>,
    notice: Option<&'a str>,
    banners: &'a [Banner],
    learn_more: Option<LearnMore>,
    body: String,
}

/// The visible label of a section name of `/me/sections`.
pub fn section_label(name: &str) -> &'static str {
    match name {
        "general" => "General",
        "preferences" => "Preferences",
        "membership" => "Membership",
        "security" => "Security",
        "sites" => "Sites",
        "data_preferences" => "Data Preferences",
        "members" => "Members",
        "admin_team" => "Admin Team",
        "api_keys" => "API Keys",
        "billing" => "Billing",
        "data_repository" => "Data Repository",
        "single_sign_on" | "sso" => "Single Sign-On",
        "audit_log" => "Audit Log",
        _ => "Settings",
    }
}

/// The URL segment of a section name (`api_keys` → `api-keys`).
pub fn section_slug(name: &str) -> String {
    match name {
        "single_sign_on" => "sso".into(),
        _ => name.replace('_', "-"),
    }
}

/// The section name of a URL segment, when it is one of the product's sections.
pub fn section_name(slug: &str) -> Option<&'static str> {
    [
        "sites",
        "data_preferences",
        "members",
        "admin_team",
        "api_keys",
        "billing",
        "data_repository",
        "single_sign_on",
        "audit_log",
    ]
    .into_iter()
    .find(|n| section_slug(n) == slug)
}

/// Path of an organization section.
pub fn org_href(org: &str, section: &str) -> String {
    format!("/settings/orgs/{org}/{}", section_slug(section))
}

/// Path of a company section.
pub fn company_href(company: &str, section: &str) -> String {
    format!("/settings/companies/{company}/{}", section_slug(section))
}

/// The ID in `/settings/{kind}/{id}/…` when the page is in that scope.
fn scope_id<'a>(path: &'a str, kind: &str) -> Option<&'a str> {
    let rest = path.strip_prefix("/settings/")?.strip_prefix(kind)?;
    rest.strip_prefix('/')?.split('/').next()
}

/// The navigation, from the sections value (plus the pages everyone has: Security, Developers
/// and Help).
fn navigation(c: &Ctx) -> Vec<NavGroup> {
    let link = |label: &str, href: String| NavLink {
        current: c.path == href,
        label: label.to_string(),
        href,
    };
    let mut groups = Vec::new();
    let mut personal: Vec<NavLink> = c
        .sections
        .personal
        .iter()
        .map(|s| {
            link(
                section_label(s),
                format!("/settings/personal/{}", section_slug(s)),
            )
        })
        .collect();
    personal.push(link("Security", "/settings/personal/security".into()));
    groups.push(NavGroup {
        id: "personal",
        heading: "Personal",
        scope: None,
        switch: None,
        links: personal,
    });
    let orgs = &c.sections.organizations;
    let current_org = scope_id(&c.path, "orgs")
        .and_then(|id| orgs.iter().find(|o| o.id.as_str() == id))
        .or(orgs.first());
    if let Some(o) = current_org {
        groups.push(NavGroup {
            id: "organization",
            heading: "Organization",
            scope: Some(o.name.clone()),
            switch: (orgs.len() > 1).then(|| Switcher {
                label: "Switch organization",
                options: orgs
                    .iter()
                    .filter(|x| x.id != o.id)
                    .map(|x| SwitchOption {
                        label: x.name.clone(),
                        href: org_href(
                            x.id.as_str(),
                            x.sections.first().copied().unwrap_or("admin_team"),
                        ),
                    })
                    .collect(),
            }),
            links: o
                .sections
                .iter()
                .map(|s| link(section_label(s), org_href(o.id.as_str(), s)))
                .collect(),
        });
    }
    let cos = &c.sections.companies;
    let current_co = scope_id(&c.path, "companies")
        .and_then(|id| cos.iter().find(|x| x.id.as_str() == id))
        .or(cos.first());
    if let Some(co) = current_co {
        groups.push(NavGroup {
            id: "company",
            heading: "Company",
            scope: Some(co.name.clone()),
            switch: (cos.len() > 1).then(|| Switcher {
                label: "Switch company",
                options: cos
                    .iter()
                    .filter(|x| x.id != co.id)
                    .map(|x| SwitchOption {
                        label: x.name.clone(),
                        href: company_href(
                            x.id.as_str(),
                            x.sections.first().copied().unwrap_or("sites"),
                        ),
                    })
                    .collect(),
            }),
            links: co
                .sections
                .iter()
                .map(|s| link(section_label(s), company_href(co.id.as_str(), s)))
                .collect(),
        });
    }
    if c.session.principal.is_instance_admin() {
        groups.push(NavGroup {
            id: "instance",
            heading: "Instance",
            scope: None,
            switch: None,
            links: vec![
                link("Organizations", "/settings/instance/organizations".into()),
                link("Users", "/settings/instance/users".into()),
                link("Email Delivery", "/settings/instance/email-delivery".into()),
            ],
        });
    }
    groups.push(NavGroup {
        id: "developers",
        heading: "Developers",
        scope: None,
        switch: None,
        links: vec![
            link("API guide", "/settings/developers".into()),
            link("OpenAPI document", "/api/v1/openapi.json".into()),
        ],
    });
    groups.push(NavGroup {
        id: "help",
        heading: "Help",
        scope: None,
        switch: None,
        links: help::PAGES
            .iter()
            .map(|p| link(p.title, format!("/settings/help/{}", p.slug)))
            .collect(),
    });
    groups
}

/// A settings page: `template` rendered with `data` inside the frame.
pub struct Page<'a, T: Serialize> {
    /// Window title and the page's subject.
    pub title: &'a str,
    /// Body template (under `settings/`).
    pub template: &'a str,
    /// Its typed view.
    pub data: &'a T,
    /// A short message after a successful form post.
    pub notice: Option<&'a str>,
    /// The help page that explains this one.
    pub learn_more: Option<LearnMore>,
    /// HTTP status.
    pub status: u16,
}

/// Renders a settings page.
pub fn render<T: Serialize>(app: &Context, c: &Ctx, page: Page<'_, T>) -> Result<Resp> {
    let body = app.views.render(page.template, page.data)?;
    let frame = Frame {
        title: page.title,
        css: assets::stylesheet_href(),
        js: assets::script_src(),
        user_name: &c.user.name,
        user_email: c.user.email.as_str(),
        csrf_token: &c.session.csrf_token,
        groups: navigation(c),
        notice: page.notice,
        banners: &c.banners,
        learn_more: page.learn_more,
        body,
    };
    Ok(Resp::html(
        page.status,
        app.views.render("settings/layout", &frame)?,
    ))
}

/// A date and time in the person's time zone and date format.
pub fn when(user: &User, unix: i64) -> String {
    personal::format_time(&user.preferences, unix)
}

/// `GET /settings`: where signing in lands.
pub fn overview(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    #[derive(Serialize)]
    struct Scope {
        name: String,
        href: String,
    }
    #[derive(Serialize)]
    struct Overview {
        name: String,
        orgs: Vec<Scope>,
        companies: Vec<Scope>,
    }
    let data = Overview {
        name: c.user.name.clone(),
        orgs: c
            .sections
            .organizations
            .iter()
            .map(|o| Scope {
                name: o.name.clone(),
                href: org_href(
                    o.id.as_str(),
                    o.sections.first().copied().unwrap_or("admin_team"),
                ),
            })
            .collect(),
        companies: c
            .sections
            .companies
            .iter()
            .map(|co| Scope {
                name: co.name.clone(),
                href: company_href(
                    co.id.as_str(),
                    co.sections.first().copied().unwrap_or("sites"),
                ),
            })
            .collect(),
    };
    let notice = req.query_param("notice").and_then(|n| match n.as_str() {
        "joined" => Some("You have joined. Welcome!"),
        "email_verified" => Some("Your email address is confirmed."),
        _ => None,
    });
    render(
        app,
        &c,
        Page {
            title: "Settings",
            template: "settings/overview",
            data: &data,
            notice,
            learn_more: Some(LearnMore {
                href: "/settings/help/overview",
                label: "the three kinds of settings",
            }),
            status: 200,
        },
    )
}
