//! Organization › Single Sign-On: the provider (one of the plugins an instance administrator
//! allowed this organization), the email domains and whether each is proven (pending ones
//! show the TXT record to publish, with **Verify**; instance administrators may **Approve**),
//! the role given on first sign-in, **Test configuration** (each check of the provider's
//! configuration, with its fix, before anyone signs in), the last failed sign-in's exact
//! reason, and removal with confirmation. Organization readers see
//! it when the `sso` feature is on; owners and admins change it. Every action calls the same
//! use cases as `/api/v1/orgs/{org}/sso`.

use serde::Serialize;

use super::{done, org_href, posted, render, sentence, Ctx, LearnMore, OptionView, Page};
use crate::domain::{DomainClaimStatus, DomainProof, Permission};
use crate::error::{Error, FieldError, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{instance_admin, org_access, OrgAccess};
use crate::service::sso::{self, SsoSettingsInput};
use crate::service::Context;
use crate::service::{org_plugins, sso_domains};

const LEARN: LearnMore = LearnMore {
    href: "/settings/help/organization",
    label: "single sign-on",
};

const JOIN_ROLES: &[(&str, &str)] = &[
    ("", "Do not add them to the organization"),
    ("member", "Member"),
    ("billing", "Billing"),
    ("admin", "Admin"),
];

#[derive(Serialize)]
struct DomainRow {
    domain: String,
    verified: bool,
    how: &'static str,
    txt_name: String,
    txt_value: String,
    /// Element ID stem for the copy buttons.
    id: String,
    verify_action: String,
    approve_action: String,
}

/// A configuration test's result on the page.
#[derive(Serialize)]
struct TestView {
    plugin: String,
    ok: bool,
    checks: Vec<CheckView>,
}

/// One check of the configuration test as a person reads it: a label instead of the
/// check's machine name, and the plugin's text without Markdown backticks.
#[derive(Serialize)]
struct CheckView {
    name: String,
    label: String,
    ok: bool,
    detail: String,
    fix: Option<String>,
}

impl From<crate::service::hooks::SsoCheck> for CheckView {
    fn from(c: crate::service::hooks::SsoCheck) -> CheckView {
        let plain = |t: &str| t.replace('`', "");
        let label = match c.name.as_str() {
            "plugin" => "Plugin".to_string(),
            "settings" => "Settings".to_string(),
            "discovery" => "Provider discovery document".to_string(),
            "issuer" => "Issuer".to_string(),
            "jwks" => "Signing keys".to_string(),
            "token_endpoint_auth" => "Client authentication method".to_string(),
            "token_endpoint" => "Token endpoint and client credentials".to_string(),
            "userinfo" => "UserInfo endpoint".to_string(),
            "end_session" => "Sign-out at the provider".to_string(),
            other => {
                let words = other.replace(['_', '-'], " ");
                let mut chars = words.chars();
                chars
                    .next()
                    .map(|f| f.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            }
        };
        CheckView {
            label,
            detail: plain(&c.detail),
            fix: c.fix.as_deref().map(plain),
            ok: c.ok,
            name: c.name,
        }
    }
}

/// The last failed sign-in, for those who may change the settings.
#[derive(Serialize)]
struct LastErrorView {
    kind: String,
    stage: String,
    code: String,
    message: String,
}

#[derive(Serialize, Default)]
struct Errors {
    plugin: Option<String>,
    domains: Option<String>,
    join_role: Option<String>,
}

#[derive(Serialize)]
struct SsoView {
    org: String,
    org_id: String,
    manage: bool,
    instance_admin: bool,
    configured: bool,
    plugin: Option<String>,
    plugin_problem: Option<String>,
    join_role_label: String,
    domains: Vec<DomainRow>,
    /// SSO plugins this organization may use (empty: none allowed yet).
    plugins: Vec<OptionView>,
    join_roles: Vec<OptionView>,
    domains_text: String,
    action: String,
    remove_action: String,
    remove_question: String,
    test_action: String,
    test: Option<TestView>,
    last_error: Option<LastErrorView>,
    csrf_token: String,
    error: Option<String>,
    errors: Errors,
}

fn base(org: &str) -> String {
    org_href(org, "single_sign_on")
}

fn view(app: &Context, c: &Ctx, access: &OrgAccess) -> Result<SsoView> {
    let s = sso::get_settings(app, access)?;
    let org_id = access.org_id().as_str().to_string();
    let here = base(&org_id);
    let plugins: Vec<OptionView> = org_plugins::get(app, access)?
        .allowed
        .into_iter()
        .filter(|p| p.worlds.contains(&"sso"))
        .map(|p| OptionView {
            selected: s.plugin.as_deref() == Some(p.name.as_str()),
            value: p.name.clone(),
            label: p.name,
        })
        .collect();
    let join = s
        .join_role
        .map(|r| r.as_str().to_string())
        .unwrap_or_default();
    let plugin_problem = match (&s.plugin, s.plugin_allowed, s.plugin_ready) {
        (Some(p), false, _) => Some(format!(
            "The provider {p} is no longer allowed for {}, so nobody signs in through it. Choose another provider, or ask an instance administrator to allow it again.",
            access.org().name
        )),
        (Some(p), true, false) => Some(format!(
            "The provider {p} is not running on this instance right now, so nobody can sign in through it. Ask an instance administrator to check its configuration."
        )),
        _ => None,
    };
    Ok(SsoView {
        org: access.org().name.clone(),
        manage: access.explain(Permission::OrgUpdate).0,
        instance_admin: c.session.principal.is_instance_admin(),
        configured: s.configured,
        plugin: s.plugin.clone(),
        plugin_problem,
        join_role_label: JOIN_ROLES
            .iter()
            .find(|(v, _)| *v == join)
            .map_or_else(|| join.clone(), |(_, l)| (*l).to_string()),
        domains: s
            .domain_verification
            .iter()
            .enumerate()
            .map(|(i, d)| DomainRow {
                verified: d.status == DomainClaimStatus::Verified,
                how: match d.verified_by {
                    Some(DomainProof::Dns) => "by its DNS record",
                    Some(DomainProof::InstanceAdmin) => "by an instance administrator",
                    None => "",
                },
                txt_name: d.txt_name.clone(),
                txt_value: d.txt_value.clone(),
                id: format!("txt-{i}"),
                verify_action: format!("{here}/domains/{}/verify", d.domain),
                approve_action: format!("{here}/domains/{}/approve", d.domain),
                domain: d.domain.clone(),
            })
            .collect(),
        plugins,
        join_roles: JOIN_ROLES
            .iter()
            .map(|(v, l)| OptionView {
                value: (*v).into(),
                label: (*l).into(),
                selected: *v == join,
            })
            .collect(),
        domains_text: s.domains.join("\n"),
        remove_question: format!(
            "Remove single sign-on for {}? People of its domains will sign in with a password again.",
            access.org().name
        ),
        action: here.clone(),
        remove_action: format!("{here}/remove"),
        test_action: format!("{here}/test"),
        test: None,
        last_error: s.last_error.map(|e| LastErrorView {
            kind: if e.kind == "configuration" {
                "a configuration problem (it will not fix itself)".into()
            } else {
                "temporary (trying again may work)".into()
            },
            stage: e.stage,
            code: e.code,
            message: e.message,
        }),
        org_id,
        csrf_token: c.session.csrf_token.clone(),
        error: None,
        errors: Errors::default(),
    })
}

fn page(app: &Context, c: &Ctx, v: &SsoView, notice: Option<&str>, status: u16) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title: "Single Sign-On",
            template: "settings/sso",
            data: v,
            notice,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/orgs/{org}/sso` (through the section dispatcher).
pub fn show(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let notice = req.query_param("notice").and_then(|n| match n.as_str() {
        "saved" => Some("The single sign-on settings are saved."),
        "removed" => Some("Single sign-on is removed."),
        "verified" => Some("The domain is verified."),
        "approved" => Some("The domain is approved."),
        _ => None,
    });
    page(app, c, &view(app, c, &access)?, notice, 200)
}

/// A refusal or failed check as a sentence for the page, or the error when it is not one.
fn words(e: Error) -> Result<String> {
    Ok(match e {
        Error::Sso { message, .. } | Error::Conflict(message) | Error::Forbidden(message) => {
            sentence(&message)
        }
        Error::RateLimited { retry_after_secs } => {
            format!("Too many checks in a row. Wait {retry_after_secs} seconds, then try again.")
        }
        Error::PermissionDenied { .. } => {
            "Only an owner or admin of the organization can change single sign-on.".into()
        }
        other => return Err(other),
    })
}

fn failed(app: &Context, c: &Ctx, access: &OrgAccess, error: String) -> Result<Resp> {
    let mut v = view(app, c, access)?;
    v.error = Some(error);
    page(app, c, &v, None, 422)
}

/// `POST /settings/orgs/{org}/sso` (owners and admins): provider, domains and join role.
pub fn save(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let f = req.form();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let domains: Vec<String> = get("domains")
        .split(|ch: char| ch == '\n' || ch == ',' || ch.is_whitespace())
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect();
    let role = get("join_role");
    let input = SsoSettingsInput {
        plugin: get("plugin"),
        domains: domains.clone(),
        join_role: (!role.is_empty()).then_some(role.clone()),
    };
    let errs: Vec<FieldError> = match sso::put_settings(app, &access, input) {
        Ok(_) => return Ok(done(&base(access.org_id().as_str()), "saved")),
        Err(Error::Validation(errs)) => errs,
        Err(e) => return failed(app, &c, &access, words(e)?),
    };
    let mut v = view(app, &c, &access)?;
    for o in &mut v.plugins {
        o.selected = o.value == get("plugin");
    }
    for o in &mut v.join_roles {
        o.selected = o.value == role;
    }
    v.domains_text = get("domains");
    for e in &errs {
        let msg = sentence(&e.message);
        let msg = match e.field.strip_prefix("domains[").and_then(|i| {
            i.trim_end_matches(']')
                .parse::<usize>()
                .ok()
                .and_then(|i| domains.get(i))
        }) {
            Some(d) => format!("{d}: {msg}"),
            None => msg,
        };
        let slot = match e.field.as_str() {
            "plugin" => &mut v.errors.plugin,
            "join_role" => &mut v.errors.join_role,
            _ => &mut v.errors.domains,
        };
        *slot = Some(match slot.take() {
            Some(before) => format!("{before} {msg}"),
            None => msg,
        });
    }
    v.error = Some("Please correct the fields marked below.".into());
    page(app, &c, &v, None, 422)
}

/// `POST /settings/orgs/{org}/sso/remove` (owners and admins, after confirming).
pub fn remove(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    match sso::delete_settings(app, &access) {
        Ok(()) => Ok(done(&base(access.org_id().as_str()), "removed")),
        Err(e) => failed(app, &c, &access, words(e)?),
    }
}

/// `POST /settings/orgs/{org}/sso/domains/{domain}/verify`: checks the domain's TXT record.
pub fn verify(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    match sso_domains::verify(app, &access, req.param("domain")) {
        Ok(_) => Ok(done(&base(access.org_id().as_str()), "verified")),
        Err(e) => failed(app, &c, &access, words(e)?),
    }
}

/// `POST /settings/orgs/{org}/sso/domains/{domain}/approve` (instance administrators).
pub fn approve(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let result = instance_admin(&c.session.principal)
        .and_then(|admin| sso_domains::approve(app, &admin, &access, req.param("domain")));
    match result {
        Ok(_) => Ok(done(&base(access.org_id().as_str()), "approved")),
        Err(e) => failed(app, &c, &access, words(e)?),
    }
}

/// `POST /settings/orgs/{org}/sso/test` (owners and admins): runs the configuration test and
/// shows each check with its fix.
pub fn test(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    match sso::test_configuration(app, &access, sso::SsoTestInput::default()) {
        Ok(result) => {
            let mut v = view(app, &c, &access)?;
            let ok = result.ok;
            v.test = Some(TestView {
                plugin: result.plugin,
                ok: result.ok,
                checks: result.checks.into_iter().map(CheckView::from).collect(),
            });
            let notice = if ok {
                "Every check of the single sign-on configuration passed."
            } else {
                "Some checks of the single sign-on configuration failed; each says what to fix."
            };
            page(app, &c, &v, Some(notice), 200)
        }
        Err(Error::Validation(errs)) => {
            let text = errs
                .iter()
                .map(|e| sentence(&e.message))
                .collect::<Vec<_>>()
                .join(" ");
            failed(app, &c, &access, text)
        }
        Err(e) => failed(app, &c, &access, words(e)?),
    }
}
