//! Billing data from a billing-profile plugin. When an organization's billing source is a
//! plugin, its profile and invoices are read from the plugin on every request (the external
//! billing system is the source of truth) and checked by the same rules as stored data;
//! saving a profile also runs the plugin's checks (e.g. tax IDs). A plugin failure of any
//! kind answers `billing_unavailable` with the billing contact, never a 500.

use serde::Serialize;
use serde_json::json;

use crate::domain::entities::{BillingProfile, Invoice};
use crate::domain::AuditAction;
use crate::domain::{InvoiceId, OrgId};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::OrgAccess;
use crate::service::hooks::{BillingOrg, BillingProfileData, HookError, HookKind};
use crate::service::org_settings::{check_profile, validate_invoices};
use crate::service::Context;
use crate::service::{now, Page};

/// The plugin serving an organization's billing data, if any (only a plugin the
/// organization may use; otherwise the stored data is served).
pub fn plugin_for(app: &Context, org: &OrgId) -> Result<Option<String>> {
    app.store.read(|c| c.billing_source(org))
}

/// Where an organization's billing data comes from.
#[derive(Debug, Serialize)]
pub struct BillingSource {
    /// `stored` or `plugin`.
    pub source: &'static str,
    /// The plugin, when `source` is `plugin`.
    pub plugin: Option<String>,
}

/// The billing source (billing readers).
pub fn get_source(app: &Context, access: &OrgAccess) -> Result<BillingSource> {
    crate::service::authz::require_billing_read(app, access)?;
    Ok(match plugin_for(app, access.org_id())? {
        Some(p) => BillingSource {
            source: "plugin",
            plugin: Some(p),
        },
        None => BillingSource {
            source: "stored",
            plugin: None,
        },
    })
}

/// Sets the billing source (billing managers): a loaded billing-profile plugin that the
/// organization may use, or `None` for the stored profile and invoices.
pub fn put_source(
    app: &Context,
    access: &OrgAccess,
    plugin: Option<String>,
) -> Result<BillingSource> {
    access.permit::<crate::service::authz::perm::BillingManage>()?;
    if let Some(p) = &plugin {
        if !app.hooks.supports(p, HookKind::BillingProfile) {
            return Err(Error::Validation(vec![FieldError::conflict(
                "plugin",
                format!("no loaded plugin named {p:?} implements billing-profile"),
            )]));
        }
        if !crate::service::org_plugins::allowed(app, access.org_id(), p)? {
            return Err(crate::service::org_plugins::not_allowed(p));
        }
    }
    let org = access.org_id();
    app.store.write(|tx| {
        tx.set_billing_source(org, plugin.as_deref(), now())?;
        audit::record(
            tx,
            org,
            &Actor::of(access.principal()),
            AuditAction::BillingSourceChanged,
            ("organization", org.as_str()),
            json!({"plugin": plugin}),
        )
    })?;
    get_source(app, access)
}

fn unavailable(app: &Context, plugin: &str, org: &OrgId, e: &HookError) -> Error {
    log::warn!(
        "billing plugin {plugin} failed for {org} ({}): {e}",
        e.code()
    );
    Error::BillingUnavailable {
        contact: app.config.billing_contact_email.clone(),
    }
}

/// The profile from the plugin, checked like a stored one.
pub fn profile(app: &Context, access: &OrgAccess, plugin: &str) -> Result<Option<BillingProfile>> {
    let org = access.org_id();
    let data = app
        .hooks
        .billing_profile(plugin, &BillingOrg::of(access.org()))
        .map_err(|e| unavailable(app, plugin, org, &e))?;
    let Some(d) = data else {
        return Ok(None);
    };
    check_profile(BillingProfile {
        legal_name: d.legal_name,
        billing_email: d.billing_email,
        address: d.address,
        tax_id: d.tax_id,
        plan: d.plan,
    })
    .map(Some)
    .map_err(|e| unavailable(app, plugin, org, &HookError::InvalidOutput(e.to_string())))
}

/// Invoices from the plugin, checked like imported ones, newest first.
pub fn invoices(app: &Context, access: &OrgAccess, plugin: &str) -> Result<Vec<Invoice>> {
    let org = access.org_id();
    let list = app
        .hooks
        .billing_invoices(plugin, &BillingOrg::of(access.org()))
        .map_err(|e| unavailable(app, plugin, org, &e))?;
    let statuses = validate_invoices(&list)
        .map_err(|e| unavailable(app, plugin, org, &HookError::InvalidOutput(e.to_string())))?;
    let mut out: Vec<Invoice> = list
        .into_iter()
        .zip(statuses)
        .map(|(i, status)| {
            // Stable per organization and number, so links to an invoice keep working.
            let id = app
                .keyring
                .token_hash(&format!("{org}/{}", i.number.trim()))[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>();
            i.into_invoice(InvoiceId::from_trusted(format!("ivc_{id}")), status)
        })
        .collect();
    out.sort_by(|a, b| b.issued_on.cmp(&a.issued_on).then(b.number.cmp(&a.number)));
    Ok(out)
}

/// One page of an in-memory list; the cursor is the offset of the next page.
pub fn paginate(all: Vec<Invoice>, cursor: Option<&str>, limit: usize) -> Page<Invoice> {
    let start = cursor
        .and_then(|c| c.strip_prefix("o|"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        .min(all.len());
    let end = (start + limit).min(all.len());
    Page {
        // `o|N`: like the stored list's cursors, it has a `|` (the document's pattern).
        next_cursor: (end < all.len()).then(|| format!("o|{end}")),
        data: all.into_iter().skip(start).take(limit).collect(),
    }
}

/// The plugin's extra checks of a profile being saved.
pub fn validate(
    app: &Context,
    access: &OrgAccess,
    plugin: &str,
    p: &BillingProfile,
) -> Result<Vec<FieldError>> {
    let org = access.org_id();
    let data = BillingProfileData {
        legal_name: p.legal_name.clone(),
        billing_email: p.billing_email.clone(),
        address: p.address.clone(),
        tax_id: p.tax_id.clone(),
        plan: p.plan.clone(),
    };
    let errs = app
        .hooks
        .billing_validate(plugin, &BillingOrg::of(access.org()), &data)
        .map_err(|e| unavailable(app, plugin, org, &e))?;
    Ok(errs
        .into_iter()
        .map(|(field, message)| FieldError::new(field, message))
        .collect())
}
