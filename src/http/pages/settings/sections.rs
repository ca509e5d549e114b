//! Organization and company section URLs: the section when the person may see it, otherwise
//! a page that says why in plain words (from `service::me::why_hidden`, the same proofs and
//! role table as enforcement and `/me/access`) and what to do.

use serde::Serialize;

use super::{org_href, render, section_label, section_name, signed_in, Ctx, LearnMore, Page};
use crate::domain::{Feature, OrgRole, Permission};
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{self, org_role_permits};
use crate::service::me::{why_hidden, Hidden};
use crate::service::Context;

/// The permission that decides whether an organization section is shown.
fn org_permission(section: &str) -> Permission {
    match section {
        "api_keys" => Permission::ApiKeysManage,
        "billing" => Permission::BillingRead,
        "data_repository" => Permission::DataRepositoryRead,
        "audit_log" => Permission::AuditRead,
        _ => Permission::OrgRead,
    }
}

/// What a permission lets a person do, as words.
fn doing(p: Permission) -> &'static str {
    match p {
        Permission::ApiKeysManage => "managing API keys",
        Permission::BillingRead => "seeing billing",
        Permission::DataRepositoryRead => "seeing the data repository settings",
        Permission::AuditRead => "reading the audit log",
        _ => "seeing this organization's settings",
    }
}

/// A feature's name as people say it, with its verb ("API keys are", "Billing is").
fn feature_words(f: Feature) -> (&'static str, &'static str) {
    match f {
        Feature::ApiKeys => ("API keys", "are"),
        Feature::Billing => ("Billing", "is"),
        Feature::Sso => ("Single sign-on", "is"),
    }
}

fn role_words(r: OrgRole) -> &'static str {
    super::personal::role_label(r.as_str())
}

#[derive(Serialize)]
struct HiddenView {
    heading: String,
    why: String,
    next: String,
}

fn hidden_page(app: &Context, c: &Ctx, title: &str, view: HiddenView) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title,
            template: "settings/hidden",
            data: &view,
            notice: None,
            learn_more: Some(LearnMore {
                href: "/settings/help/overview",
                label: "who sees which settings",
            }),
            status: 403,
        },
    )
}

/// The explanation for an organization section the person does not see.
fn explain_org(section: &str, perm: Permission, h: Hidden) -> Option<HiddenView> {
    let label = section_label(section);
    Some(match h {
        Hidden::NotFound | Hidden::Visible => return None,
        Hidden::CompanyOnly { companies } => HiddenView {
            heading: format!("{label} is for organization members"),
            why: format!(
                "You are a member of company {} only, not of its organization.",
                companies.join(", ")
            ),
            next: "Ask an organization admin to add you to the organization.".into(),
        },
        Hidden::NotMember { org } => HiddenView {
            heading: format!("{label} is for members of {org}"),
            why: format!(
                "You are an instance administrator, which lets you see {org}, but you are not a member of it."
            ),
            next: format!("Ask an owner of {org} to add you to its admin team."),
        },
        Hidden::Role { org, role } => {
            let roles: Vec<&str> = OrgRole::ALL
                .into_iter()
                .rev()
                .filter(|r| org_role_permits(*r, perm))
                .map(role_words)
                .collect();
            HiddenView {
                heading: format!("{label} is not part of your role"),
                why: format!(
                    "Your role in {org} is {}, and {} needs the role {}.",
                    role_words(role),
                    doing(perm),
                    roles.join(" or ")
                ),
                next: format!("Ask an owner or admin of {org} to change your role."),
            }
        }
        Hidden::FeatureOff { org, feature } => {
            let (name, verb) = feature_words(feature);
            let them = if verb == "are" { "them" } else { "it" };
            HiddenView {
                heading: format!("{name} {verb} switched off"),
                why: format!(
                    "{name} {verb} switched off for {org} — an instance administrator can turn {them} on."
                ),
                next: format!(
                    "Ask an instance administrator to turn on {} for {org}.",
                    name.to_lowercase()
                ),
            }
        }
    })
}

/// `GET /settings/orgs/{org}/{section}`.
pub fn org_section(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let Some(section) = section_name(req.param("section")) else {
        return Err(Error::NotFound);
    };
    let org = req.param("org");
    let visible = c
        .sections
        .organizations
        .iter()
        .find(|o| o.id.as_str() == org)
        .is_some_and(|o| o.sections.contains(&section));
    if !visible {
        let perm = org_permission(section);
        let mut why = why_hidden(app, &c.session.principal, org, perm)?;
        if section == "single_sign_on" && matches!(why, Hidden::Visible) {
            // Readers see it only with the `sso` feature on.
            let access = authz::org_access(app, &c.session.principal, org)?;
            if !access.features().on(Feature::Sso) {
                why = Hidden::FeatureOff {
                    org: access.org().name.clone(),
                    feature: Feature::Sso,
                };
            }
        }
        // An instance administrator who is no member reads the SSO settings as the API
        // lets them (to approve domains); other sections stay for members.
        let oversight = section == "single_sign_on" && matches!(why, Hidden::Visible);
        if oversight {
            return super::sso::show(app, &c, req);
        }
        let view = explain_org(section, perm, why).ok_or(Error::NotFound)?;
        return hidden_page(app, &c, section_label(section), view);
    }
    match section {
        "billing" => super::billing::show(app, &c, req),
        "admin_team" => super::admin_team::show(app, &c, req),
        "api_keys" => super::api_keys::show(app, &c, req),
        "data_repository" => super::data_repository::show(app, &c, req),
        "audit_log" => super::audit_log::show(app, &c, req),
        "single_sign_on" => super::sso::show(app, &c, req),
        _ => Err(Error::NotFound),
    }
}

/// `GET /settings/organization/{section}`: the section of the person's (first) organization.
pub fn first_org_section(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let Some(section) = section_name(req.param("section")) else {
        return Err(Error::NotFound);
    };
    if let Some(o) = c.sections.organizations.first() {
        return Ok(Resp::see_other(&org_href(o.id.as_str(), section)));
    }
    let view = match c.sections.companies.first() {
        Some(co) => HiddenView {
            heading: format!("{} is for organization members", section_label(section)),
            why: format!(
                "You are a member of company {} only, not of its organization.",
                co.name
            ),
            next: "Ask an organization admin to add you to the organization.".into(),
        },
        None => HiddenView {
            heading: format!("{} is for organization members", section_label(section)),
            why: "You are not a member of an organization yet.".into(),
            next: "Ask an organization admin to invite you.".into(),
        },
    };
    hidden_page(app, &c, section_label(section), view)
}

/// `GET /settings/companies/{cmp}/{section}`.
pub fn company_section(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let Some(section) = section_name(req.param("section")) else {
        return Err(Error::NotFound);
    };
    let cmp = req.param("cmp");
    let Some(entry) = c.sections.companies.iter().find(|x| x.id.as_str() == cmp) else {
        return Err(Error::NotFound);
    };
    if !entry.sections.contains(&section) {
        if !["sites", "data_preferences", "members"].contains(&section) {
            return Err(Error::NotFound);
        }
        let ctx = authz::company_access(app, &c.session.principal, cmp)?;
        let view = HiddenView {
            heading: format!("{} is not part of your role", section_label(section)),
            why: format!(
                "Your role in company {} is {}, which lets you see its sites and data preferences but not its members.",
                ctx.company().name,
                super::personal::role_label(ctx.role().as_str())
            ),
            next: format!("Ask an admin of {} to change your role.", ctx.company().name),
        };
        return hidden_page(app, &c, section_label(section), view);
    }
    match section {
        "sites" => super::company::sites_page(app, &c, req),
        "data_preferences" => super::company::preferences_page(app, &c, req),
        _ => super::company_members::members_page(app, &c, req),
    }
}
