//! Which configured plugins an organization may use. An instance administrator (API) or the
//! operator (CLI) decides; nothing is allowed until then. SSO settings and the billing
//! source refuse a plugin the organization may not use, and a plugin that stops being
//! allowed stops serving it (sign-ins no longer route there; billing falls back to the
//! stored data).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::AuditAction;
use crate::domain::OrgId;
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{InstanceAdmin, Operator, OrgAccess};
use crate::service::now;
use crate::service::Context;

/// One plugin an organization may use.
#[derive(Debug, Serialize)]
pub struct AllowedPlugin {
    /// The plugin's configured name.
    pub name: String,
    /// The worlds it implements (`sso`, `billing-profile`, `email-delivery`); empty when it
    /// is not loaded right now.
    pub worlds: Vec<&'static str>,
}

/// The plugins of an organization.
#[derive(Debug, Serialize)]
pub struct OrgPlugins {
    /// Plugins the organization may use, by name.
    pub allowed: Vec<AllowedPlugin>,
}

/// Body of `PUT /orgs/{org}/plugins`: the full list of allowed plugins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgPluginsInput {
    /// Configured plugin names.
    pub allowed: Vec<String>,
}

/// Whether an organization may use a plugin.
pub fn allowed(app: &Context, org: &OrgId, plugin: &str) -> Result<bool> {
    app.store.read(|c| c.org_plugin_allowed(org, plugin))
}

/// The `validation_failed` error for a plugin the organization may not use.
pub fn not_allowed(plugin: &str) -> Error {
    Error::Validation(vec![FieldError::conflict(
        "plugin",
        format!(
            "this organization may not use the plugin {plugin:?}; an instance administrator decides which plugins each organization may use"
        ),
    )])
}

fn view(app: &Context, names: Vec<String>) -> OrgPlugins {
    OrgPlugins {
        allowed: names
            .into_iter()
            .map(|name| {
                let worlds = crate::service::hooks::HookKind::ALL
                    .into_iter()
                    .filter(|k| app.hooks.supports(&name, *k))
                    .map(|k| k.world())
                    .collect();
                AllowedPlugin { name, worlds }
            })
            .collect(),
    }
}

/// The allowed plugins (organization readers: `org.read`).
pub fn get(app: &Context, access: &OrgAccess) -> Result<OrgPlugins> {
    access.permit::<crate::service::authz::perm::OrgRead>()?;
    let names = app.store.read(|c| c.org_plugins(access.org_id()))?;
    Ok(view(app, names))
}

fn check_names(app: &Context, names: &[String]) -> Result<Vec<String>> {
    let mut errs = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let n = n.trim();
        if !app.config.plugins.iter().any(|p| p.name == n) {
            errs.push(FieldError::conflict(
                format!("allowed[{i}]"),
                format!("no plugin named {n:?} is configured on this instance"),
            ));
        } else if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    out.sort();
    Ok(out)
}

fn store(app: &Context, org: &OrgId, names: &[String], actor: &Actor) -> Result<()> {
    app.store.write(|tx| {
        let before = tx.org_plugins(org)?;
        tx.set_org_plugins(org, names, now())?;
        audit::record(
            tx,
            org,
            actor,
            AuditAction::OrgPluginsChanged,
            ("organization", org.as_str()),
            json!({"before": before, "allowed": names}),
        )
    })
}

/// Replaces the allowed plugins (instance administrators only).
pub fn put(
    app: &Context,
    admin: &InstanceAdmin<'_>,
    access: &OrgAccess,
    input: OrgPluginsInput,
) -> Result<OrgPlugins> {
    let names = check_names(app, &input.allowed)?;
    store(app, access.org_id(), &names, &Actor::of(admin.principal()))?;
    get(app, access)
}

/// Allows and denies plugins for an organization from the CLI; returns the allowed list.
pub fn change_by_operator(
    app: &Context,
    _op: &Operator,
    org: &str,
    allow: &[String],
    deny: &[String],
) -> Result<Vec<String>> {
    let id = OrgId::parse(org)
        .ok_or_else(|| Error::Config(format!("{org:?} is not an organization ID")))?;
    if app.store.read(|c| c.org(&id))?.is_none() {
        return Err(Error::Config(format!("no organization {org}")));
    }
    let mut names = app.store.read(|c| c.org_plugins(&id))?;
    let allow = check_names(app, allow).map_err(|_| {
        Error::Config(format!(
            "--allow names a plugin that is not configured (configured: {})",
            app.config
                .plugins
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    names.extend(allow);
    names.retain(|n| !deny.iter().any(|d| d.trim() == n));
    names.sort();
    names.dedup();
    if names != app.store.read(|c| c.org_plugins(&id))? {
        store(app, &id, &names, &Actor::operator())?;
    }
    Ok(names)
}
