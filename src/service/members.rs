//! The admin team: list, add existing users (instance administrators only), change role and
//! company access, remove, transfer ownership. Every change passes the grant ceiling
//! ([`grant_ceiling`]): nobody grants, changes or removes a standing beyond their own. Owners
//! are protected: only owners touch owners, the last owner can never be removed or demoted,
//! and nobody but an owner changes their own standing.

use serde_json::json;

use crate::domain::entities::OrgMember;
use crate::domain::AuditAction;
use crate::domain::{CompanyAccess, Email, OrgId, OrgRole, UserId};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{grant_ceiling, perm, Grant, InstanceAdmin, OrgAccess, Permit};
use crate::service::Context;
use crate::service::{now, page_of, Page};
use crate::store::Tx;

/// Lists the admin team, cursor-paginated by user ID. A company-limited caller sees each
/// member's company list narrowed to their own companies (`all` stays `all`): nothing of
/// other companies.
pub fn list(
    app: &Context,
    permit: &Permit<'_, perm::MembersRead>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<OrgMember>> {
    let rows = app
        .store
        .read(|c| c.list_org_members(permit.org_id(), cursor.unwrap_or(""), limit + 1))?;
    let mut page = page_of(rows, limit, |m| m.user_id.to_string());
    if let Some(mine) = permit.access().company_limit() {
        for m in &mut page.data {
            if let CompanyAccess::List(ids) = &mut m.company_access {
                ids.retain(|id| mine.contains(id));
            }
        }
    }
    Ok(page)
}

/// Checks that every listed company belongs to the organization (422 naming the field,
/// identical for foreign and unknown IDs); owners always get `all`.
pub fn check_access(
    tx: &Tx<'_>,
    org: &OrgId,
    role: OrgRole,
    ca: CompanyAccess,
) -> Result<CompanyAccess> {
    if role == OrgRole::Owner {
        return Ok(CompanyAccess::All);
    }
    if let CompanyAccess::List(ids) = &ca {
        let mut errs = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if tx.count_companies_in_org(org, std::slice::from_ref(id))? == 0 {
                // SPEC: an ID in a body that does not belong to the organization is 422
                // `validation_failed` naming the field, identical for foreign and unknown.
                errs.push(FieldError::new(
                    format!("company_access[{i}]"),
                    "is not a company of this organization",
                ));
            }
        }
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
    }
    Ok(ca)
}

/// The grant of an organization role (owners always get `all`).
pub fn org_grant(org: &OrgId, role: OrgRole, ca: CompanyAccess) -> Grant {
    Grant::Org {
        org: org.clone(),
        role,
        company_access: if role == OrgRole::Owner {
            CompanyAccess::All
        } else {
            ca
        },
    }
}

fn access_json(ca: &CompanyAccess) -> serde_json::Value {
    serde_json::to_value(ca).unwrap_or_default()
}

/// The current standing of a member as a grant: who changes or removes a member must be able
/// to have granted that standing (a company-limited admin cannot touch an all-companies admin).
fn standing(tx_or: &OrgMember, org: &OrgId) -> Grant {
    org_grant(org, tx_or.role, tx_or.company_access.clone())
}

/// Adds an existing user to the admin team directly: instance administrators only (everyone
/// else's "add" is an invitation the person accepts — no membership without consent).
pub fn add_by_instance_admin(
    app: &Context,
    admin: &InstanceAdmin<'_>,
    org: &OrgId,
    email: &str,
    role: OrgRole,
    ca: CompanyAccess,
) -> Result<OrgMember> {
    let email = Email::parse(email).map_err(|m| Error::field("email", m))?;
    let now = now();
    let user = app.store.write(|tx| {
        let user = tx
            .user_by_email(&email)?
            .ok_or_else(|| {
                Error::conflict_field("email", "no user has this email; invite them instead")
            })?;
        if tx.membership(org, &user.id)?.is_some() {
            return Err(Error::Conflict(
                "this user is already a member; change their role instead".into(),
            ));
        }
        let ca = check_access(tx, org, role, ca.clone())?;
        tx.upsert_org_member(org, &user.id, role, &ca, now)?;
        audit::record(
            tx,
            org,
            &Actor::of(admin.principal()),
            AuditAction::MemberAdded,
            ("user", user.id.as_str()),
            json!({"role": role.as_str(), "company_access": access_json(&ca), "by": "instance_admin"}),
        )?;
        Ok(user)
    })?;
    app.store
        .read(|c| c.org_member(org, &user.id))?
        .ok_or(Error::NotFound)
}

/// Changes a member's role and/or company access. Both the member's current standing and
/// the new one must be within the caller's grant ceiling.
pub fn update(
    app: &Context,
    permit: &Permit<'_, perm::MembersManage>,
    target: &str,
    role: Option<OrgRole>,
    ca: Option<CompanyAccess>,
) -> Result<OrgMember> {
    let target = UserId::parse(target).ok_or(Error::NotFound)?;
    let access = permit.access();
    let org = permit.org_id();
    let me = access.principal().user_id();
    let current = app
        .store
        .read(|c| c.org_member(org, &target))?
        .ok_or(Error::NotFound)?;
    let caller_is_owner = access.role() == Some(OrgRole::Owner);
    if Some(&target) == me && !caller_is_owner {
        return Err(Error::Forbidden(
            "you cannot change your own role or company access; ask an owner".into(),
        ));
    }
    grant_ceiling(app, access.principal(), standing(&current, org))?;
    let new_role = role.unwrap_or(current.role);
    let new_access = ca.unwrap_or_else(|| current.company_access.clone());
    let granted = grant_ceiling(
        app,
        access.principal(),
        org_grant(org, new_role, new_access),
    )?;
    let Grant::Org {
        company_access: new_access,
        ..
    } = granted.grant().clone()
    else {
        return Err(Error::internal("an organization grant was expected"));
    };
    let now = now();
    app.store.write(|tx| {
        let before = tx.membership(org, &target)?.ok_or(Error::NotFound)?;
        if before.role == OrgRole::Owner && new_role != OrgRole::Owner && tx.owner_count(org)? <= 1
        {
            return Err(Error::LastOwner);
        }
        let new_access = check_access(tx, org, new_role, new_access)?;
        tx.upsert_org_member(org, &target, new_role, &new_access, now)?;
        audit::record(
            tx,
            org,
            &Actor::of(access.principal()),
            AuditAction::MemberUpdated,
            ("user", target.as_str()),
            json!({"role": {"from": before.role.as_str(), "to": new_role.as_str()}, "company_access": access_json(&new_access)}),
        )
    })?;
    app.store
        .read(|c| c.org_member(org, &target))?
        .ok_or(Error::NotFound)
}

/// Removes a member. Anyone may leave; removing others needs `members.manage` and a grant
/// ceiling that covers the member's standing (so `owners.manage` for an owner). The last
/// owner stays.
pub fn remove(app: &Context, access: &OrgAccess, target: &str) -> Result<()> {
    let target = UserId::parse(target).ok_or(Error::NotFound)?;
    let org = access.org_id();
    let leaving = Some(&target) == access.principal().user_id();
    if !leaving {
        access.permit::<perm::MembersManage>()?;
        let current = app
            .store
            .read(|c| c.org_member(org, &target))?
            .ok_or(Error::NotFound)?;
        grant_ceiling(app, access.principal(), standing(&current, org))?;
    }
    app.store.write(|tx| {
        let current = tx.membership(org, &target)?.ok_or(Error::NotFound)?;
        if current.role == OrgRole::Owner && tx.owner_count(org)? <= 1 {
            return Err(Error::LastOwner);
        }
        tx.delete_org_member(org, &target)?;
        audit::record(
            tx,
            org,
            &Actor::of(access.principal()),
            if leaving {
                AuditAction::MemberLeft
            } else {
                AuditAction::MemberRemoved
            },
            ("user", target.as_str()),
            json!({"role": current.role.as_str()}),
        )
    })
}

/// Makes another member owner and the calling owner an admin (with access to all companies).
pub fn transfer_ownership(
    app: &Context,
    permit: &Permit<'_, perm::OwnersManage>,
    to: &str,
) -> Result<OrgMember> {
    let access = permit.access();
    let to = UserId::parse(to)
        .ok_or_else(|| Error::field("user_id", "is not a member of this organization"))?;
    let org = access.org_id();
    let me = access.principal().user()?.id.clone();
    if to == me {
        return Err(Error::conflict_field("user_id", "you are already an owner"));
    }
    grant_ceiling(
        app,
        access.principal(),
        org_grant(org, OrgRole::Owner, CompanyAccess::All),
    )?;
    let now = now();
    app.store.write(|tx| {
        if tx.membership(org, &to)?.is_none() {
            // SPEC: a body ID outside the organization is 422 `validation_failed`.
            return Err(Error::field(
                "user_id",
                "is not a member of this organization",
            ));
        }
        tx.upsert_org_member(org, &to, OrgRole::Owner, &CompanyAccess::All, now)?;
        tx.upsert_org_member(org, &me, OrgRole::Admin, &CompanyAccess::All, now)?;
        audit::record(
            tx,
            org,
            &Actor::of(access.principal()),
            AuditAction::OrgOwnershipTransferred,
            ("user", to.as_str()),
            json!({"from": me, "to": to}),
        )
    })?;
    app.store
        .read(|c| c.org_member(org, &to))?
        .ok_or(Error::NotFound)
}
