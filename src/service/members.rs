//! The admin team: list, add existing users, change role and company access, remove,
//! transfer ownership. Owners are protected: only owners touch owners, the last owner can
//! never be removed or demoted, and nobody but an owner changes their own standing.

use serde_json::json;

use crate::app::App;
use crate::domain::entities::OrgMember;
use crate::domain::{CompanyAccess, Email, OrgRole, Permission, UserId};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::OrgAccess;
use crate::service::{now, page_of, Page};
use crate::store::Tx;

/// Lists the admin team, cursor-paginated by user ID.
pub fn list(
    app: &App,
    access: &OrgAccess,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<OrgMember>> {
    access.require(Permission::MembersRead)?;
    let rows = app
        .store
        .read(|c| c.list_org_members(access.org_id(), cursor.unwrap_or(""), limit + 1))?;
    Ok(page_of(rows, limit, |m| m.user_id.to_string()))
}

/// Parses a role from the API.
pub fn parse_role(field: &str, s: &str) -> Result<OrgRole> {
    OrgRole::parse(s)
        .ok_or_else(|| Error::field(field, "must be one of owner, admin, billing, member"))
}

/// Checks that every listed company belongs to the organization; owners always get `all`.
pub fn check_access(
    tx: &Tx<'_>,
    access: &OrgAccess,
    role: OrgRole,
    ca: CompanyAccess,
) -> Result<CompanyAccess> {
    if role == OrgRole::Owner {
        return Ok(CompanyAccess::All);
    }
    if let CompanyAccess::List(ids) = &ca {
        let mut errs = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if tx.count_companies_in_org(access.org_id(), std::slice::from_ref(id))? == 0 {
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

/// Granting a role needs the rights for it: `owners.manage` for owner, else `members.manage`.
pub fn require_grant(access: &OrgAccess, role: OrgRole) -> Result<()> {
    access.require(Permission::MembersManage)?;
    if role == OrgRole::Owner {
        access.require(Permission::OwnersManage)?;
    }
    Ok(())
}

fn access_json(ca: &CompanyAccess) -> serde_json::Value {
    serde_json::to_value(ca).unwrap_or_default()
}

/// Adds an existing user to the admin team (provisioning; invitations come separately).
pub fn add(
    app: &App,
    access: &OrgAccess,
    email: &str,
    role: OrgRole,
    ca: CompanyAccess,
) -> Result<OrgMember> {
    require_grant(access, role)?;
    let email = Email::parse(email).map_err(|m| Error::field("email", m))?;
    let now = now();
    let org = access.org_id();
    let user = app.store.write(|tx| {
        let user = tx
            .user_by_email(&email)?
            .ok_or_else(|| Error::field("email", "no user has this email; invite them instead"))?;
        if tx.membership(org, &user.id)?.is_some() {
            return Err(Error::Conflict(
                "this user is already a member; change their role instead".into(),
            ));
        }
        let ca = check_access(tx, access, role, ca.clone())?;
        tx.upsert_org_member(org, &user.id, role, &ca, now)?;
        audit::record(
            tx,
            org,
            &Actor::of(&access.principal),
            "member.added",
            ("user", user.id.as_str()),
            json!({"role": role.as_str(), "company_access": access_json(&ca)}),
        )?;
        Ok(user)
    })?;
    app.store
        .read(|c| c.org_member(org, &user.id))?
        .ok_or(Error::NotFound)
}

/// Changes a member's role and/or company access.
pub fn update(
    app: &App,
    access: &OrgAccess,
    target: &str,
    role: Option<OrgRole>,
    ca: Option<CompanyAccess>,
) -> Result<OrgMember> {
    access.require(Permission::MembersManage)?;
    let target = UserId::parse(target).ok_or(Error::NotFound)?;
    let org = access.org_id();
    let me = access.principal.user_id();
    let now = now();
    app.store.write(|tx| {
        let current = tx.membership(org, &target)?.ok_or(Error::NotFound)?;
        let caller_is_owner = access.role == Some(OrgRole::Owner);
        if Some(&target) == me && !caller_is_owner {
            return Err(Error::Forbidden(
                "you cannot change your own role or company access; ask an owner".into(),
            ));
        }
        if current.role == OrgRole::Owner {
            access.require(Permission::OwnersManage)?;
        }
        let new_role = role.unwrap_or(current.role);
        if new_role == OrgRole::Owner && current.role != OrgRole::Owner {
            access.require(Permission::OwnersManage)?;
        }
        if current.role == OrgRole::Owner && new_role != OrgRole::Owner && tx.owner_count(org)? <= 1 {
            return Err(Error::LastOwner);
        }
        let new_access = match ca {
            Some(ca) => ca,
            None if current.all_companies => CompanyAccess::All,
            None => CompanyAccess::List(tx.member_company_ids(org, &target)?),
        };
        let new_access = check_access(tx, access, new_role, new_access)?;
        tx.upsert_org_member(org, &target, new_role, &new_access, now)?;
        audit::record(
            tx,
            org,
            &Actor::of(&access.principal),
            "member.updated",
            ("user", target.as_str()),
            json!({"role": {"from": current.role.as_str(), "to": new_role.as_str()}, "company_access": access_json(&new_access)}),
        )
    })?;
    app.store
        .read(|c| c.org_member(org, &target))?
        .ok_or(Error::NotFound)
}

/// Removes a member. Anyone may leave; removing others needs `members.manage` (and
/// `owners.manage` for an owner). The last owner stays.
pub fn remove(app: &App, access: &OrgAccess, target: &str) -> Result<()> {
    let target = UserId::parse(target).ok_or(Error::NotFound)?;
    let org = access.org_id();
    let leaving = Some(&target) == access.principal.user_id();
    if !leaving {
        access.require(Permission::MembersManage)?;
    }
    app.store.write(|tx| {
        let current = tx.membership(org, &target)?.ok_or(Error::NotFound)?;
        if current.role == OrgRole::Owner {
            if !leaving {
                access.require(Permission::OwnersManage)?;
            }
            if tx.owner_count(org)? <= 1 {
                return Err(Error::LastOwner);
            }
        }
        tx.delete_org_member(org, &target)?;
        audit::record(
            tx,
            org,
            &Actor::of(&access.principal),
            if leaving {
                "member.left"
            } else {
                "member.removed"
            },
            ("user", target.as_str()),
            json!({"role": current.role.as_str()}),
        )
    })
}

/// Makes another member owner and the calling owner an admin (with access to all companies).
pub fn transfer_ownership(app: &App, access: &OrgAccess, to: &str) -> Result<OrgMember> {
    access.require(Permission::OwnersManage)?;
    let to = UserId::parse(to)
        .ok_or_else(|| Error::field("user_id", "is not a member of this organization"))?;
    let org = access.org_id();
    let me = access.principal.user()?.id.clone();
    if to == me {
        return Err(Error::field("user_id", "you are already an owner"));
    }
    let now = now();
    app.store.write(|tx| {
        if tx.membership(org, &to)?.is_none() {
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
            &Actor::of(&access.principal),
            "org.ownership_transferred",
            ("user", to.as_str()),
            json!({"from": me, "to": to}),
        )
    })?;
    app.store
        .read(|c| c.org_member(org, &to))?
        .ok_or(Error::NotFound)
}
