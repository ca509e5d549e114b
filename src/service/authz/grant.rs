//! The grant ceiling: the one rule every granting path runs.

use super::{
    company_access, company_role_permits, org_access, org_role_permits, scope_for, KeyPrincipal,
    Principal, Subject,
};
use crate::domain::apikey::Scope;
use crate::domain::{
    CompanyAccess, CompanyId, CompanyRole, KeyId, OrgId, OrgRole, Permission, UserId,
};
use crate::error::{Error, Result};
use crate::service::Context;

/// What a granting path gives someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// An organization role with company access (owners always get `all`).
    Org {
        /// The organization.
        org: OrgId,
        /// The role.
        role: OrgRole,
        /// The company access.
        company_access: CompanyAccess,
    },
    /// Scopes for a new (or rotated) API key of an organization.
    KeyScopes {
        /// The organization.
        org: OrgId,
        /// The scopes.
        scopes: Vec<Scope>,
    },
    /// A direct company role.
    Company {
        /// The company.
        company: CompanyId,
        /// The role.
        role: CompanyRole,
    },
}

/// Proof that a grant passed [`grant_ceiling`]; the use cases that write memberships and
/// invitations take it, and write what it holds.
#[derive(Debug)]
pub struct Granted(Grant);

impl Granted {
    /// The checked grant.
    pub fn grant(&self) -> &Grant {
        &self.0
    }
}

fn exceeds(msg: String) -> Error {
    Error::Forbidden(msg)
}

/// The permissions of `role` a key must cover with its scopes: those beyond the least role's
/// (every membership carries the read rights of the least role, so `members:write` alone may
/// add `member`s and company `viewer`s).
pub(super) fn key_covers(
    k: &KeyPrincipal,
    role_has: impl Fn(Permission) -> bool,
    base: impl Fn(Permission) -> bool,
) -> bool {
    Permission::ALL
        .iter()
        .filter(|p| role_has(**p) && !base(**p))
        .all(|p| scope_for(*p).is_some_and(|s| k.scopes.contains(&s)))
}

/// The grant ceiling, the one rule of every granting path: a person or key grants a role,
/// permission or company access only within their own effective rights *now* —
/// - organization grants need `members.manage` (and `owners.manage` for `owner`); a person
///   grants only a role whose permissions their own role holds; a key only a role whose
///   permissions beyond `member`'s its scopes cover (so never `admin`, `billing` or `owner`);
///   a company-limited grantor grants only companies in their own access, `all` only when
///   they hold `all`;
/// - company grants need `company_members.manage` in that company and a role no higher than
///   the grantor's effective company role (a key: its scopes must cover the role).
///
/// Acceptance calls it again with the inviter as grantor, so a demoted, limited or removed
/// inviter's invitations no longer grant anything.
pub fn grant_ceiling(app: &Context, grantor: &Principal, grant: Grant) -> Result<Granted> {
    match &grant {
        Grant::Org {
            org,
            role,
            company_access,
        } => {
            let access = match org_access(app, grantor, org.as_str()) {
                Err(Error::NotFound) | Err(Error::NotOrgMember) => {
                    return Err(exceeds(
                        "the person granting access is not a member of this organization".into(),
                    ))
                }
                other => other?,
            };
            access.require(Permission::MembersManage)?;
            if *role == OrgRole::Owner {
                access.require(Permission::OwnersManage)?;
            }
            let role_has = |p: Permission| org_role_permits(*role, p);
            match (grantor.key(), access.role) {
                (Some(k), _) => {
                    if !key_covers(k, role_has, |p| org_role_permits(OrgRole::Member, p)) {
                        return Err(exceeds(format!(
                            "an API key can add or invite people as `member` only; the `{}` role \
                             includes rights no API key can grant",
                            role.as_str()
                        )));
                    }
                }
                (None, Some(mine)) => {
                    if Permission::ALL
                        .iter()
                        .any(|p| role_has(*p) && !org_role_permits(mine, *p))
                    {
                        return Err(exceeds(format!(
                            "you cannot grant the `{}` role: it includes rights your own role \
                             (`{}`) does not have",
                            role.as_str(),
                            mine.as_str()
                        )));
                    }
                }
                (None, None) => {
                    return Err(exceeds(
                        "only members of this organization grant access to it".into(),
                    ))
                }
            }
            let wanted = if *role == OrgRole::Owner {
                &CompanyAccess::All
            } else {
                company_access
            };
            if let Some(mine) = access.company_limit() {
                match wanted {
                    CompanyAccess::All => {
                        return Err(exceeds(
                            "you cannot grant access to all companies: your own access is \
                             limited to some companies"
                                .into(),
                        ))
                    }
                    CompanyAccess::List(ids) => {
                        if ids.iter().any(|id| !mine.contains(id)) {
                            return Err(exceeds(
                                "you can grant access only to companies you have access to \
                                 yourself"
                                    .into(),
                            ));
                        }
                    }
                }
            }
        }
        Grant::KeyScopes { org, scopes } => {
            let access = org_access(app, grantor, org.as_str())?;
            access.require(Permission::ApiKeysManage)?;
            let role = access.role.ok_or_else(|| {
                exceeds("only members of this organization create its API keys".into())
            })?;
            for s in scopes {
                let beyond = Permission::ALL
                    .iter()
                    .any(|p| scope_for(*p) == Some(*s) && !org_role_permits(role, *p));
                if beyond {
                    return Err(exceeds(format!(
                        "you cannot give a key the `{}` scope: it covers rights your own role \
                         (`{}`) does not have",
                        s.as_str(),
                        role.as_str()
                    )));
                }
                // A key reaches every company: a company-limited person gives only scopes
                // that reveal no company's data.
                if access.company_limit().is_some()
                    && !matches!(s, Scope::OrgRead | Scope::KeysVerify)
                {
                    return Err(exceeds(format!(
                        "you cannot give a key the `{}` scope: a key reaches every company, and \
                         your own access is limited to some companies",
                        s.as_str()
                    )));
                }
            }
        }
        Grant::Company { company, role } => {
            let ctx = match company_access(app, grantor, company.as_str()) {
                Err(Error::NotFound) => {
                    return Err(exceeds(
                        "the person granting access no longer reaches this company".into(),
                    ))
                }
                other => other?,
            };
            ctx.require(Permission::CompanyMembersManage)?;
            match grantor.key() {
                Some(k) => {
                    if !key_covers(
                        k,
                        |p| company_role_permits(*role, p),
                        |p| company_role_permits(CompanyRole::Viewer, p),
                    ) {
                        return Err(exceeds(format!(
                            "this API key's scopes do not cover the company `{}` role",
                            role.as_str()
                        )));
                    }
                }
                None => {
                    if *role > ctx.role {
                        return Err(exceeds(format!(
                            "you cannot grant the company `{}` role: your own role in this \
                             company is `{}`",
                            role.as_str(),
                            ctx.role.as_str()
                        )));
                    }
                }
            }
        }
    }
    Ok(Granted(grant))
}

/// The principal an invitation was made by, as it stands now: its user (not disabled) or its
/// key (not revoked or expired). `None` when the inviter no longer exists or cannot act.
pub fn inviter_now(
    app: &Context,
    inviter_user: Option<&UserId>,
    inviter_key: Option<&str>,
    client_ip: &str,
) -> Result<Option<Principal>> {
    if let Some(k) = inviter_key {
        let Some(id) = KeyId::parse(k) else {
            return Ok(None);
        };
        let Some(row) = app.store.read(|c| c.api_key(&id))? else {
            return Ok(None);
        };
        let now = crate::service::now();
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        return Ok(Some(Principal {
            subject: Subject::ApiKey(KeyPrincipal {
                key_id: row.id,
                org_id: row.org_id,
                scopes: row.scopes,
            }),
            client_ip: client_ip.to_string(),
        }));
    }
    let Some(uid) = inviter_user else {
        return Ok(None);
    };
    match app.store.read(|c| c.user_by_id(uid))? {
        Some(u) if !u.disabled => Ok(Some(Principal::for_user(u, client_ip))),
        _ => Ok(None),
    }
}
