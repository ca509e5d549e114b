//! Organizations: create, list, read, rename, delete, and tenant features.

use serde::Serialize;
use serde_json::json;

use crate::domain::entities::Organization;
use crate::domain::org::validate_slug;
use crate::domain::user::validate_name;
use crate::domain::AuditAction;
use crate::domain::{CompanyAccess, Email, Feature, OrgId, OrgRole, User};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{
    perm, Features, InstanceAdmin, OrgAccess, OrgCreator, Permit, Principal,
};
use crate::service::Context;
use crate::service::{now, page_of, Page};

/// Input for a new organization.
#[derive(Debug)]
pub struct NewOrg {
    /// Name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Owner's email (instance admin / operator only); defaults to the creator.
    pub owner_email: Option<String>,
}

/// An organization as its members see it.
#[derive(Debug, Serialize)]
pub struct OrgView {
    /// The organization.
    #[serde(flatten)]
    pub org: Organization,
    /// The caller's role, `null` for a non-member instance admin.
    pub role: Option<OrgRole>,
    /// Effective features.
    pub features: serde_json::Value,
}

/// Features as the flat JSON object of the API.
pub fn features_json(f: &Features) -> serde_json::Value {
    json!({"api_keys": f.api_keys, "billing": f.billing, "sso": f.sso})
}

fn validate_org(name: &str, slug: &str) -> Result<(String, String)> {
    let mut errs: Vec<FieldError> = Vec::new();
    let name = validate_name("name", name, &mut errs);
    validate_slug("slug", slug, &mut errs);
    if errs.is_empty() {
        Ok((name, slug.to_string()))
    } else {
        Err(Error::Validation(errs))
    }
}

fn insert(
    app: &Context,
    input: NewOrg,
    owner: Option<&User>,
    actor: &Actor,
) -> Result<Organization> {
    let (name, slug) = validate_org(&input.name, &input.slug)?;
    let owner_email = match &input.owner_email {
        Some(e) => Some(Email::parse(e).map_err(|m| Error::field("owner_email", m))?),
        None => None,
    };
    let org = Organization {
        id: OrgId::generate(),
        name,
        slug,
        created_at: now(),
    };
    app.store.write(|tx| {
        let owner = match &owner_email {
            Some(e) => tx.user_by_email(e)?.ok_or_else(|| {
                Error::conflict_field(
                    "owner_email",
                    "no user has this email; create the user first",
                )
            })?,
            None => owner
                .cloned()
                .ok_or_else(|| Error::field("owner_email", "is required here"))?,
        };
        if tx.org_slug_taken(&org.slug, None)? {
            return Err(Error::conflict_field("slug", "is already taken"));
        }
        tx.insert_org(&org, "{}")?;
        tx.upsert_org_member(
            &org.id,
            &owner.id,
            OrgRole::Owner,
            &CompanyAccess::All,
            org.created_at,
        )?;
        audit::record(
            tx,
            &org.id,
            actor,
            AuditAction::OrgCreated,
            ("organization", org.id.as_str()),
            json!({"name": org.name, "slug": org.slug, "owner": owner.id}),
        )
    })?;
    Ok(org)
}

/// Creates an organization as a signed-in user: instance admins always (optionally for
/// another owner), anyone when `allow_org_creation` is on (they become owner).
pub fn create(app: &Context, creator: &OrgCreator<'_>, input: NewOrg) -> Result<Organization> {
    let user = creator.user();
    if !user.is_instance_admin && input.owner_email.is_some() {
        return Err(Error::field(
            "owner_email",
            "only instance administrators can choose the owner",
        ));
    }
    insert(app, input, Some(user), &Actor::of(creator.principal()))
}

/// Creates an organization from the CLI (`owner_email` required).
pub fn create_by_operator(
    app: &Context,
    _op: &crate::service::authz::Operator,
    input: NewOrg,
) -> Result<Organization> {
    insert(app, input, None, &Actor::operator())
}

/// Organizations the caller belongs to (every one, for instance admins).
pub fn list(
    app: &Context,
    p: &Principal,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Organization>> {
    let after = cursor.unwrap_or("");
    if let Some(k) = p.key() {
        // A key lists its own organization.
        let access = crate::service::authz::org_access(app, p, k.org_id.as_str())?;
        access.permit::<perm::OrgRead>()?;
        let rows = if access.org_id().as_str() > after {
            vec![access.org().clone()]
        } else {
            vec![]
        };
        return Ok(page_of(rows, limit, |o| o.id.to_string()));
    }
    let user = p.user()?;
    let rows = app.store.read(|c| {
        if user.is_instance_admin {
            c.list_orgs(after, limit + 1)
        } else {
            c.list_orgs_of(&user.id, after, limit + 1)
        }
    })?;
    Ok(page_of(rows, limit, |o| o.id.to_string()))
}

/// Every organization (CLI).
pub fn list_all(app: &Context, cursor: Option<&str>, limit: usize) -> Result<Page<Organization>> {
    let rows = app
        .store
        .read(|c| c.list_orgs(cursor.unwrap_or(""), limit + 1))?;
    Ok(page_of(rows, limit, |o| o.id.to_string()))
}

/// The organization with the caller's role and features.
pub fn get(permit: &Permit<'_, perm::OrgRead>) -> Result<OrgView> {
    let access = permit.access();
    Ok(OrgView {
        org: access.org().clone(),
        role: access.role(),
        features: features_json(access.features()),
    })
}

/// Renames and/or re-slugs.
pub fn update(
    app: &Context,
    permit: &Permit<'_, perm::OrgUpdate>,
    name: Option<String>,
    slug: Option<String>,
) -> Result<OrgView> {
    let access = permit.access();
    let old = access.org();
    let (name, slug) = validate_org(
        name.as_deref().unwrap_or(&old.name),
        slug.as_deref().unwrap_or(&old.slug),
    )?;
    let mut changed = serde_json::Map::new();
    if name != old.name {
        changed.insert("name".into(), json!({"from": old.name, "to": name}));
    }
    if slug != old.slug {
        changed.insert("slug".into(), json!({"from": old.slug, "to": slug}));
    }
    let now = now();
    app.store.write(|tx| {
        if tx.org_slug_taken(&slug, Some(old.id.as_str()))? {
            return Err(Error::conflict_field("slug", "is already taken"));
        }
        tx.update_org(&old.id, &name, &slug, now)?;
        audit::record(
            tx,
            &old.id,
            &Actor::of(access.principal()),
            AuditAction::OrgUpdated,
            ("organization", old.id.as_str()),
            serde_json::Value::Object(changed),
        )
    })?;
    let mut org = old.clone();
    org.name = name;
    org.slug = slug;
    Ok(OrgView {
        org,
        role: access.role(),
        features: features_json(access.features()),
    })
}

/// Deletes the organization and everything in it (owner only). The audit event survives.
pub fn delete(app: &Context, permit: &Permit<'_, perm::OrgDelete>) -> Result<()> {
    let access = permit.access();
    let id = access.org_id();
    let _g = app.keys.gate();
    app.keys.drop_org(id);
    app.store.write(|tx| {
        tx.delete_org(id)?;
        audit::record(
            tx,
            id,
            &Actor::of(access.principal()),
            AuditAction::OrgDeleted,
            ("organization", id.as_str()),
            json!({"name": access.org().name, "slug": access.org().slug}),
        )
    })
}

/// Effective features (members and instance admins).
pub fn features(access: &OrgAccess) -> serde_json::Value {
    features_json(access.features())
}

/// Partially updates the feature switches (instance admins only). Unknown keys and
/// non-boolean values are refused.
pub fn put_features(
    app: &Context,
    admin: &InstanceAdmin<'_>,
    access: &OrgAccess,
    changes: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Value> {
    let mut errs = Vec::new();
    let mut set = Vec::with_capacity(changes.len());
    for (k, v) in changes {
        match (Feature::parse(k), v.as_bool()) {
            (None, _) => errs.push(FieldError::new(
                k.clone(),
                "is not a feature (api_keys, billing, sso)",
            )),
            (Some(_), None) => errs.push(FieldError::new(k.clone(), "must be true or false")),
            (Some(f), Some(on)) => set.push((f, on)),
        }
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let id = access.org_id();
    let now = now();
    let _g = app.keys.gate();
    let stored = app.store.write(|tx| {
        let mut current = tx.org_features(id)?;
        for &(f, on) in &set {
            current.set(f, on);
        }
        tx.set_org_features(id, &current, now)?;
        audit::record(
            tx,
            id,
            &Actor::of(admin.principal()),
            AuditAction::OrgFeaturesUpdated,
            ("organization", id.as_str()),
            serde_json::Value::Object(changes.clone()),
        )?;
        Ok(current)
    })?;
    let features = Features::resolve(app, &stored);
    app.keys.set_org_enabled(id, features.api_keys);
    Ok(features_json(&features))
}
