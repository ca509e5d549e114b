//! Explainability: which settings sections a user sees (`/me/sections`), their memberships
//! (`/me/memberships`), and why a permission is granted or not (`/me/access`). Everything is
//! derived from the same role table and proofs as enforcement, in `authz`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::entities::{Company, Via};
use crate::domain::{CompanyAccess, CompanyRole, OrgId, OrgRole, Permission};
use crate::error::{Error, Result};
use crate::service::authz::{self, company_role_permits, org_access, Principal};
use crate::service::Context;

/// A company the user reaches, and how.
#[derive(Debug, Clone, Serialize)]
pub struct CompanyMembership {
    /// Company ID.
    pub id: crate::domain::CompanyId,
    /// Company name.
    pub name: String,
    /// Organization ID.
    pub org: OrgId,
    /// Effective role.
    pub role: CompanyRole,
    /// Where it comes from.
    pub via: Via,
    /// Direct role, if any.
    pub direct_role: Option<CompanyRole>,
    /// Role through organization access, if any.
    pub organization_role: Option<CompanyRole>,
}

/// An organization membership.
#[derive(Debug, Clone, Serialize)]
pub struct OrgMembership {
    /// Organization ID.
    pub id: OrgId,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Role.
    pub role: OrgRole,
    /// Company access.
    pub company_access: CompanyAccess,
}

/// `/me/memberships`.
#[derive(Debug, Serialize)]
pub struct Memberships {
    /// Organization memberships.
    pub organizations: Vec<OrgMembership>,
    /// Every company reached, with the effective role.
    pub companies: Vec<CompanyMembership>,
}

/// Computes the memberships of a user.
pub fn memberships(app: &Context, p: &Principal) -> Result<Memberships> {
    app.store.read(|c| {
        let mut orgs = Vec::new();
        let mut companies: BTreeMap<String, CompanyMembership> = BTreeMap::new();
        for (org, m) in c.memberships_of(&p.user()?.id)? {
            let (list, access): (Vec<Company>, CompanyAccess) = if m.all_companies {
                (
                    c.list_companies(&org.id, "", usize::MAX >> 1)?,
                    CompanyAccess::All,
                )
            } else {
                let l = c.list_member_companies(&org.id, &p.user()?.id, "", usize::MAX >> 1)?;
                let ids = l.iter().map(|c| c.id.clone()).collect();
                (l, CompanyAccess::List(ids))
            };
            for co in list {
                companies.insert(
                    co.id.to_string(),
                    CompanyMembership {
                        id: co.id,
                        name: co.name,
                        org: co.org,
                        role: m.role.company_role(),
                        via: Via::Organization,
                        direct_role: None,
                        organization_role: Some(m.role.company_role()),
                    },
                );
            }
            orgs.push(OrgMembership {
                id: org.id,
                name: org.name,
                slug: org.slug,
                role: m.role,
                company_access: access,
            });
        }
        for (co, role) in c.direct_companies_of(&p.user()?.id)? {
            let e = companies
                .entry(co.id.to_string())
                .or_insert(CompanyMembership {
                    id: co.id.clone(),
                    name: co.name.clone(),
                    org: co.org.clone(),
                    role,
                    via: Via::Direct,
                    direct_role: None,
                    organization_role: None,
                });
            e.direct_role = Some(role);
            if e.organization_role.is_none_or(|o| role >= o) {
                e.role = role;
                e.via = Via::Direct;
            }
        }
        Ok(Memberships {
            organizations: orgs,
            companies: companies.into_values().collect(),
        })
    })
}

/// One company entry of `/me/sections`.
#[derive(Debug, Serialize)]
pub struct CompanySections {
    /// Company ID.
    pub id: crate::domain::CompanyId,
    /// Name.
    pub name: String,
    /// Organization ID.
    pub org: OrgId,
    /// Visible sections.
    pub sections: Vec<&'static str>,
}

/// One organization entry of `/me/sections`.
#[derive(Debug, Serialize)]
pub struct OrgSections {
    /// Organization ID.
    pub id: OrgId,
    /// Name.
    pub name: String,
    /// Visible sections.
    pub sections: Vec<&'static str>,
}

/// `/me/sections`.
#[derive(Debug, Serialize)]
pub struct Sections {
    /// Always general, preferences, membership.
    pub personal: Vec<&'static str>,
    /// Company scope, per reachable company.
    pub companies: Vec<CompanySections>,
    /// Organization scope, only for organization members.
    pub organizations: Vec<OrgSections>,
}

/// The sections a user sees, per scope.
pub fn sections(app: &Context, p: &Principal) -> Result<Sections> {
    let m = memberships(app, p)?;
    let companies = m
        .companies
        .into_iter()
        .map(|c| CompanySections {
            sections: if c.role >= CompanyRole::Member {
                vec!["sites", "data_preferences", "members"]
            } else {
                vec!["sites", "data_preferences"]
            },
            id: c.id,
            name: c.name,
            org: c.org,
        })
        .collect();
    let mut organizations = Vec::new();
    for o in m.organizations {
        let access = org_access(app, p, o.id.as_str())?;
        let mut sections = vec!["admin_team"];
        for (perm, name) in [
            (Permission::ApiKeysManage, "api_keys"),
            (Permission::BillingRead, "billing"),
            (Permission::DataRepositoryRead, "data_repository"),
            (Permission::OrgRead, "single_sign_on"),
            (Permission::AuditRead, "audit_log"),
        ] {
            let shown = match perm {
                // SSO settings: organization readers, when the `sso` feature is on.
                Permission::OrgRead => {
                    access.features().on(crate::domain::Feature::Sso) && access.explain(perm).0
                }
                // A billing plugin may widen billing reads beyond the roles.
                Permission::BillingRead => authz::require_billing_read(app, &access).is_ok(),
                _ => access.explain(perm).0,
            };
            if shown {
                sections.push(name);
            }
        }
        organizations.push(OrgSections {
            id: o.id,
            name: o.name,
            sections,
        });
    }
    Ok(Sections {
        personal: vec!["general", "preferences", "membership"],
        companies,
        organizations,
    })
}

/// `/me/access` answer.
#[derive(Debug, Serialize)]
pub struct AccessAnswer {
    /// Granted or not.
    pub allowed: bool,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// Explains whether the caller has `permission` in an organization (or in a company, for
/// company permissions when `company` is given).
pub fn explain(
    app: &Context,
    p: &Principal,
    org: Option<&str>,
    company: Option<&str>,
    permission: &str,
) -> Result<AccessAnswer> {
    let perm = Permission::parse(permission).ok_or_else(|| {
        Error::field(
            "permission",
            "is not a permission of the catalogue (see the API docs)",
        )
    })?;
    if let Some(cmp) = company {
        let ctx = authz::company_access(app, p, cmp)?;
        if perm.is_company_level() {
            let allowed = company_role_permits(ctx.role(), perm);
            let via = match ctx.via() {
                Via::Direct => "a direct assignment",
                Via::Organization => "your organization access",
            };
            return Ok(AccessAnswer {
                allowed,
                reasons: vec![format!(
                    "your role in company {} is `{}` (through {via}), which {} `{}`",
                    ctx.company().name,
                    ctx.role().as_str(),
                    if allowed {
                        "includes"
                    } else {
                        "does not include"
                    },
                    perm.as_str()
                )],
            });
        }
        return explain(app, p, Some(ctx.org_id().as_str()), None, permission);
    }
    let org =
        org.ok_or_else(|| Error::field("org", "give the organization (or company) to check"))?;
    match org_access(app, p, org) {
        Ok(access) => {
            let (mut allowed, mut reasons) = access.explain(perm);
            if perm == Permission::BillingRead
                && !allowed
                && authz::require_billing_read(app, &access).is_ok()
            {
                allowed = true;
                reasons.push(
                    "the organization's billing system (its billing-profile plugin) lets you read billing"
                        .to_string(),
                );
            }
            reasons.extend(plugin_reasons(app, access.org_id(), perm)?);
            Ok(AccessAnswer { allowed, reasons })
        }
        Err(Error::NotOrgMember) => {
            let id = OrgId::parse(org).ok_or(Error::NotFound)?;
            let names = app
                .store
                .read(|c| c.direct_companies_in_org(&id, &p.user()?.id))?;
            Ok(AccessAnswer {
                allowed: false,
                reasons: vec![format!(
                    "you are a member of company {} only, not of its organization",
                    names.join(", ")
                )],
            })
        }
        Err(e) => Err(e),
    }
}

/// Why a plugin the organization chose does nothing: the instance administrator has not
/// allowed the organization to use it. Given for the permissions that configure or read
/// what the plugin serves (SSO settings, billing).
fn plugin_reasons(app: &Context, org: &OrgId, perm: Permission) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let (sso, billing) = match perm {
        Permission::OrgRead | Permission::OrgUpdate => (true, false),
        Permission::BillingRead | Permission::BillingManage => (false, true),
        _ => return Ok(out),
    };
    app.store.read(|c| {
        if sso {
            if let Some(conn) = c.sso_connection(org)? {
                if !c.org_plugin_allowed(org, &conn.plugin)? {
                    out.push(format!(
                        "the single sign-on plugin {:?} chosen for this organization is not allowed for it by the instance administrator, so no one signs in through it",
                        conn.plugin
                    ));
                }
            }
        }
        if billing {
            if let Some(p) = c.billing_source_configured(org)? {
                if !c.org_plugin_allowed(org, &p)? {
                    out.push(format!(
                        "the billing plugin {p:?} chosen for this organization is not allowed for it by the instance administrator, so the stored billing data is shown"
                    ));
                }
            }
        }
        Ok(out)
    })
}
