//! Companies and their members. Company members are listed together with the organization
//! members who reach the company through their company access (`via: "organization"`); the
//! effective role is the higher of the two.

use serde::Serialize;
use serde_json::json;

use crate::domain::entities::{Company, CompanyMember, Via};
use crate::domain::org::validate_slug;
use crate::domain::user::validate_name;
use crate::domain::AuditAction;
use crate::domain::CompanyAccess;
use crate::domain::{CompanyId, CompanyRole, Email, ScopedRole, UserId};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{
    grant_ceiling, org_access, perm, CompanyCtx, CompanyPermit, Grant, InstanceAdmin, Permit,
    Principal,
};
use crate::service::Context;
use crate::service::{now, page_of, Page};

/// A company with the caller's standing in it.
#[derive(Debug, Serialize)]
pub struct CompanyView {
    /// The company.
    #[serde(flatten)]
    pub company: Company,
    /// The caller's effective role.
    pub role: CompanyRole,
    /// How the caller reaches it.
    pub via: Via,
}

fn validate(name: &str, slug: &str) -> Result<(String, String)> {
    let mut errs: Vec<FieldError> = Vec::new();
    let name = validate_name("name", name, &mut errs);
    validate_slug("slug", slug, &mut errs);
    if errs.is_empty() {
        Ok((name, slug.to_string()))
    } else {
        Err(Error::Validation(errs))
    }
}

/// Companies of the organization the caller's access covers.
pub fn list(
    app: &Context,
    permit: &Permit<'_, perm::CompanyRead>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Company>> {
    let access = permit.access();
    let after = cursor.unwrap_or("");
    let rows = match access.company_access() {
        Some(CompanyAccess::All) => app
            .store
            .read(|c| c.list_companies(access.org_id(), after, limit + 1))?,
        Some(CompanyAccess::List(_)) => app.store.read(|c| {
            c.list_member_companies(
                access.org_id(),
                &access.principal().user()?.id,
                after,
                limit + 1,
            )
        })?,
        None => Vec::new(),
    };
    Ok(page_of(rows, limit, |c| c.id.to_string()))
}

/// Creates a company (owner/admin).
pub fn create(
    app: &Context,
    access: &Permit<'_, perm::CompaniesManage>,
    name: &str,
    slug: &str,
) -> Result<Company> {
    let (name, slug) = validate(name, slug)?;
    let company = Company {
        id: CompanyId::generate(),
        org: access.org_id().clone(),
        name,
        slug,
        created_at: now(),
    };
    app.store.write(|tx| {
        if tx.company_slug_taken(&company.org, &company.slug, None)? {
            return Err(Error::conflict_field(
                "slug",
                "is already taken in this organization",
            ));
        }
        tx.insert_company(&company)?;
        audit::record(
            tx,
            &company.org,
            &Actor::of(access.principal()),
            AuditAction::CompanyCreated,
            ("company", company.id.as_str()),
            json!({"name": company.name, "slug": company.slug}),
        )
    })?;
    Ok(company)
}

/// The company with the caller's role.
pub fn get(permit: &CompanyPermit<'_, perm::CompanyRead>) -> Result<CompanyView> {
    let ctx = permit.ctx();
    Ok(CompanyView {
        company: ctx.company().clone(),
        role: ctx.role(),
        via: ctx.via(),
    })
}

/// Renames / re-slugs (company admin).
pub fn update(
    app: &Context,
    permit: &CompanyPermit<'_, perm::CompanyUpdate>,
    name: Option<String>,
    slug: Option<String>,
) -> Result<CompanyView> {
    let ctx = permit.ctx();
    let old = ctx.company();
    let (name, slug) = validate(
        name.as_deref().unwrap_or(&old.name),
        slug.as_deref().unwrap_or(&old.slug),
    )?;
    let now = now();
    app.store.write(|tx| {
        if tx.company_slug_taken(&old.org, &slug, Some(old.id.as_str()))? {
            return Err(Error::conflict_field(
                "slug",
                "is already taken in this organization",
            ));
        }
        tx.update_company(&old.org, &old.id, &name, &slug, now)?;
        audit::record(
            tx,
            &old.org,
            &Actor::of(ctx.principal()),
            AuditAction::CompanyUpdated,
            ("company", old.id.as_str()),
            json!({"name": name, "slug": slug}),
        )
    })?;
    let mut company = old.clone();
    company.name = name;
    company.slug = slug;
    Ok(CompanyView {
        company,
        role: ctx.role(),
        via: ctx.via(),
    })
}

/// Deletes a company: needs `companies.manage` in its organization.
pub fn delete(app: &Context, p: &Principal, ctx: &CompanyCtx) -> Result<()> {
    let access = org_access(app, p, ctx.org_id().as_str()).map_err(|e| match e {
        Error::NotOrgMember => Error::PermissionDenied {
            permission: crate::domain::Permission::CompaniesManage.as_str(),
            reason: "deleting a company needs an organization role with `companies.manage`".into(),
        },
        other => other,
    })?;
    access.permit::<perm::CompaniesManage>()?;
    let c = ctx.company();
    app.store.write(|tx| {
        if !tx.delete_company(&c.org, &c.id)? {
            return Err(Error::NotFound);
        }
        audit::record(
            tx,
            &c.org,
            &Actor::of(p),
            AuditAction::CompanyDeleted,
            ("company", c.id.as_str()),
            json!({"name": c.name, "slug": c.slug}),
        )
    })
}

fn merge_member(
    rows: &[crate::store::CompanyMemberRow],
) -> (Option<CompanyRole>, Option<CompanyRole>) {
    let mut direct = None;
    let mut org = None;
    for r in rows {
        match r.role {
            ScopedRole::Company(role) => direct = Some(role),
            ScopedRole::Org(role) => org = org.max(Some(role.company_role())),
        }
    }
    (direct, org)
}

fn member_view(
    user_id: UserId,
    email: String,
    name: String,
    direct: Option<CompanyRole>,
    org: Option<CompanyRole>,
) -> CompanyMember {
    let (role, via) = match (direct, org) {
        (Some(d), Some(o)) if o > d => (o, Via::Organization),
        (Some(d), _) => (d, Via::Direct),
        (None, Some(o)) => (o, Via::Organization),
        (None, None) => (CompanyRole::Viewer, Via::Direct),
    };
    CompanyMember {
        user_id,
        email,
        name,
        role,
        via,
        direct_role: direct,
        organization_role: org,
    }
}

/// Everyone who reaches the company, with `via` and the effective role, by user ID.
pub fn list_members(
    app: &Context,
    permit: &CompanyPermit<'_, perm::MemberList>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<CompanyMember>> {
    let ctx = permit.ctx();
    let after = cursor.unwrap_or("");
    let members = app.store.read(|c| {
        // A user has at most three rows (direct, all-access, listed access).
        let rows = c.company_member_rows(ctx.org_id(), ctx.company_id(), after, 3 * (limit + 1))?;
        let mut out: Vec<CompanyMember> = Vec::new();
        let mut i = 0;
        while i < rows.len() && out.len() <= limit {
            let uid = rows[i].user_id.clone();
            let mut j = i;
            while j < rows.len() && rows[j].user_id == uid {
                j += 1;
            }
            let (direct, org) = merge_member(&rows[i..j]);
            let (email, name) = c.user_label(&uid)?;
            out.push(member_view(uid, email, name, direct, org));
            i = j;
        }
        Ok(out)
    })?;
    Ok(page_of(members, limit, |m| m.user_id.to_string()))
}

fn one_member(app: &Context, company: &Company, user: &UserId) -> Result<CompanyMember> {
    let (direct, org) = app.store.read(|c| {
        let direct = c.direct_company_role(&company.id, user)?;
        let m = c.membership(&company.org, user)?;
        let org = match m {
            Some(m)
                if m.all_companies || c.member_has_company(&company.org, user, &company.id)? =>
            {
                Some(m.role.company_role())
            }
            _ => None,
        };
        Ok((direct, org))
    })?;
    let (email, name) = app.store.read(|c| c.user_label(user))?;
    Ok(member_view(user.clone(), email, name, direct, org))
}

/// A submitted company role (the `role` field), read by the domain's parser.
fn company_role(s: &str) -> Result<CompanyRole> {
    CompanyRole::parse_field("role", s).map_err(|e| Error::Validation(vec![e]))
}

/// Assigns an existing user a direct company role: instance administrators only (everyone
/// else's "add" is an invitation the person accepts — no membership without consent).
pub fn add_member_by_instance_admin(
    app: &Context,
    admin: &InstanceAdmin<'_>,
    company: &str,
    email: &str,
    role: &str,
) -> Result<CompanyMember> {
    let id = CompanyId::parse(company).ok_or(Error::NotFound)?;
    let company = app.store.read(|c| c.company(&id))?.ok_or(Error::NotFound)?;
    // An unknown company is "not found" whatever the body says; the role is judged after.
    let role = company_role(role)?;
    let email = Email::parse(email).map_err(|m| Error::field("email", m))?;
    let now = now();
    let user = app.store.write(|tx| {
        let user = tx.user_by_email(&email)?.ok_or_else(|| {
            Error::conflict_field("email", "no user has this email; invite them instead")
        })?;
        if tx.direct_company_role(&company.id, &user.id)?.is_some() {
            return Err(Error::Conflict(
                "this user already has a role in this company; change it instead".into(),
            ));
        }
        tx.upsert_company_member(&company.org, &company.id, &user.id, role, now)?;
        audit::record(
            tx,
            &company.org,
            &Actor::of(admin.principal()),
            AuditAction::CompanyMemberAdded,
            ("user", user.id.as_str()),
            json!({"company": company.id, "role": role.as_str(), "by": "instance_admin"}),
        )?;
        Ok(user)
    })?;
    one_member(app, &company, &user.id)
}

/// Changes a direct company role; the current and the new role must both be within the
/// caller's grant ceiling.
pub fn update_member(
    app: &Context,
    permit: &CompanyPermit<'_, perm::CompanyMembersManage>,
    user: &str,
    role: &str,
) -> Result<CompanyMember> {
    let ctx = permit.ctx();
    // A malformed user ID is "not found" whatever the body says; the role is judged after.
    let user = UserId::parse(user).ok_or(Error::NotFound)?;
    let role = company_role(role)?;
    let current = app
        .store
        .read(|c| c.direct_company_role(ctx.company_id(), &user))?
        .ok_or(Error::NotFound)?;
    for r in [current, role] {
        grant_ceiling(
            app,
            ctx.principal(),
            Grant::Company {
                company: ctx.company_id().clone(),
                role: r,
            },
        )?;
    }
    let now = now();
    app.store.write(|tx| {
        let Some(old) = tx.direct_company_role(ctx.company_id(), &user)? else {
            return Err(Error::NotFound);
        };
        tx.upsert_company_member(ctx.org_id(), ctx.company_id(), &user, role, now)?;
        audit::record(
            tx,
            ctx.org_id(),
            &Actor::of(ctx.principal()),
            AuditAction::CompanyMemberUpdated,
            ("user", user.as_str()),
            json!({"company": ctx.company_id(), "role": {"from": old.as_str(), "to": role.as_str()}}),
        )
    })?;
    one_member(app, ctx.company(), &user)
}

/// Removes a direct company role. Access through the organization is changed in the admin
/// team instead.
pub fn remove_member(app: &Context, ctx: &CompanyCtx, user: &str) -> Result<()> {
    let user = UserId::parse(user).ok_or(Error::NotFound)?;
    if Some(&user) != ctx.principal().user_id() {
        let permit = ctx.permit::<perm::CompanyMembersManage>()?;
        let current = app
            .store
            .read(|c| c.direct_company_role(ctx.company_id(), &user))?;
        if let Some(r) = current {
            grant_ceiling(
                app,
                permit.principal(),
                Grant::Company {
                    company: ctx.company_id().clone(),
                    role: r,
                },
            )?;
        }
    }
    app.store.write(|tx| {
        let Some(old) = tx.direct_company_role(ctx.company_id(), &user)? else {
            let via_org = tx.membership(ctx.org_id(), &user)?.is_some();
            return Err(if via_org {
                Error::Conflict("this user reaches the company through organization access; change it in the admin team".into())
            } else {
                Error::NotFound
            });
        };
        tx.delete_company_member(ctx.company_id(), &user)?;
        audit::record(
            tx,
            ctx.org_id(),
            &Actor::of(ctx.principal()),
            AuditAction::CompanyMemberRemoved,
            ("user", user.as_str()),
            json!({"company": ctx.company_id(), "role": old.as_str()}),
        )
    })
}
