//! Organization-wide settings: the data repository (credentials write-only, sealed at rest
//! under the server secret, never returned, logged or audited) and billing (profile and
//! invoices, visible per role and only with the `billing` feature).

use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::entities::{
    BillingProfile, BillingStatus, DataRepository, Invoice, InvoiceStatus,
};
use crate::domain::user::validate_name;
use crate::domain::AuditAction;
use crate::domain::{Email, InvoiceId, OrgId};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{perm, Permit};
use crate::service::sites::{is_currency, RETENTION_DAYS};
use crate::service::Context;
use crate::service::{now, page_of, Page};

/// The data repository when none was configured.
pub fn default_repository() -> DataRepository {
    DataRepository {
        kind: "embedded".into(),
        location: String::new(),
        region: None,
        retention_days: 365,
        credentials_set: false,
    }
}

/// Reads the setting (owner/admin).
pub fn get_repository(
    app: &Context,
    access: &Permit<'_, perm::DataRepositoryRead>,
) -> Result<DataRepository> {
    Ok(app
        .store
        .read(|c| c.data_repository(access.org_id()))?
        .map(|r| r.repo)
        .unwrap_or_else(default_repository))
}

/// What the caller wants done with the credentials.
#[derive(Debug)]
pub enum Credentials {
    /// Keep what is stored.
    Keep,
    /// Remove them.
    Clear,
    /// Replace them with this object.
    Set(serde_json::Map<String, Value>),
}

/// Submitted repository fields.
#[derive(Debug)]
pub struct RepositoryInput {
    /// Kind.
    pub kind: String,
    /// Location.
    pub location: String,
    /// Region.
    pub region: Option<String>,
    /// Retention.
    pub retention_days: i64,
    /// Credentials action.
    pub credentials: Credentials,
}

fn credentials_context(org: &OrgId) -> String {
    format!("data_repository:{org}")
}

/// Replaces the setting (owner). Credentials are sealed; the response and the audit event
/// only say whether credentials are set.
pub fn put_repository(
    app: &Context,
    access: &Permit<'_, perm::DataRepositoryManage>,
    input: RepositoryInput,
) -> Result<DataRepository> {
    let mut errs: Vec<FieldError> = Vec::new();
    if !matches!(input.kind.as_str(), "embedded" | "s3" | "postgres" | "sftp") {
        errs.push(FieldError::new(
            "kind",
            "must be one of embedded, s3, postgres, sftp",
        ));
    }
    let location = input.location.trim().to_string();
    if input.kind != "embedded" && location.is_empty() {
        errs.push(FieldError::new("location", "is required for this kind"));
    }
    if location.chars().count() > 2048 || location.chars().any(char::is_control) {
        errs.push(FieldError::new(
            "location",
            "must be at most 2048 characters without control characters",
        ));
    }
    if let Some(r) = &input.region {
        if r.is_empty()
            || r.len() > 64
            || !r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            errs.push(FieldError::new(
                "region",
                "must be a region name such as eu-west-1",
            ));
        }
    }
    if !RETENTION_DAYS.contains(&input.retention_days) {
        errs.push(FieldError::new("retention_days", "must be from 1 to 3650"));
    }
    if let Credentials::Set(m) = &input.credentials {
        if m.len() > 20 {
            errs.push(FieldError::new("credentials", "has at most 20 fields"));
        }
        for (k, v) in m {
            if v.as_str().is_none_or(|s| s.len() > 8192) || k.len() > 64 {
                errs.push(FieldError::new(
                    format!("credentials.{k}"),
                    "must be a string of at most 8192 bytes",
                ));
            }
        }
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let org = access.org_id();
    let now = now();
    let repo = app.store.write(|tx| {
        let existing = tx.data_repository(org)?.and_then(|r| r.sealed_credentials);
        let (sealed, what) = match &input.credentials {
            Credentials::Keep => (existing, "unchanged"),
            Credentials::Clear => (None, "cleared"),
            Credentials::Set(m) => (
                Some(app.keyring.seal(
                    &credentials_context(org),
                    Value::Object(m.clone()).to_string().as_bytes(),
                )),
                "replaced",
            ),
        };
        let repo = DataRepository {
            kind: input.kind.clone(),
            location: location.clone(),
            region: input.region.clone(),
            retention_days: input.retention_days,
            credentials_set: sealed.is_some(),
        };
        tx.put_data_repository(org, &repo, sealed.as_deref(), now)?;
        audit::record(
            tx,
            org,
            &Actor::of(access.principal()),
            AuditAction::DataRepositoryUpdated,
            ("organization", org.as_str()),
            json!({"kind": repo.kind, "location": repo.location, "region": repo.region,
                   "retention_days": repo.retention_days, "credentials": what}),
        )?;
        Ok(repo)
    })?;
    Ok(repo)
}

/// The billing page's data.
#[derive(Debug, Serialize)]
pub struct BillingView {
    /// Whether a profile is on file.
    pub status: BillingStatus,
    /// The profile when configured.
    pub profile: Option<BillingProfile>,
    /// Who to contact about billing (from configuration).
    pub billing_contact_email: Option<String>,
    /// A sentence for the page.
    pub message: String,
}

/// Billing overview (owner and billing roles, `billing` feature on).
pub fn get_billing(app: &Context, access: &Permit<'_, perm::BillingRead>) -> Result<BillingView> {
    let profile = match crate::service::billing_source::plugin_for(app, access.org_id())? {
        Some(plugin) => crate::service::billing_source::profile(app, access.access(), &plugin)?,
        None => app.store.read(|c| c.billing_profile(access.org_id()))?,
    };
    let contact = app.config.billing_contact_email.clone();
    let message = match (&profile, &contact) {
        (Some(_), _) => "Billing profile on file.".to_string(),
        (None, Some(c)) => format!("No billing profile has been set up for this organization yet. For billing questions, email {c}."),
        (None, None) => "No billing profile has been set up for this organization yet.".to_string(),
    };
    Ok(BillingView {
        status: if profile.is_some() {
            BillingStatus::Configured
        } else {
            BillingStatus::NotConfigured
        },
        profile,
        billing_contact_email: contact,
        message,
    })
}

/// The built-in checks of a billing profile (also applied to profiles from plugins).
pub fn check_profile(p: BillingProfile) -> Result<BillingProfile> {
    let mut errs: Vec<FieldError> = Vec::new();
    let legal_name = validate_name("legal_name", &p.legal_name, &mut errs);
    let email = Email::parse(&p.billing_email)
        .map_err(|m| errs.push(FieldError::new("billing_email", m)))
        .ok();
    let address = p.address.trim().to_string();
    if address.is_empty() || address.chars().count() > 1000 {
        errs.push(FieldError::new("address", "must be 1 to 1000 characters"));
    }
    let tax_id = p
        .tax_id
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if tax_id.as_ref().is_some_and(|t| {
        t.len() > 32
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-' || b == b'.')
    }) {
        errs.push(FieldError::new(
            "tax_id",
            "must be at most 32 letters, digits, spaces, dots or hyphens",
        ));
    }
    let plan = p.plan.trim().to_string();
    if plan.is_empty() || plan.chars().count() > 64 {
        errs.push(FieldError::new("plan", "must be 1 to 64 characters"));
    }
    let Some(email) = email.filter(|_| errs.is_empty()) else {
        return Err(Error::Validation(errs));
    };
    Ok(BillingProfile {
        legal_name,
        billing_email: email.to_string(),
        address,
        tax_id,
        plan,
    })
}

/// Replaces the billing profile (owner and billing roles).
pub fn put_billing_profile(
    app: &Context,
    access: &Permit<'_, perm::BillingManage>,
    p: BillingProfile,
) -> Result<BillingProfile> {
    let profile = check_profile(p)?;
    if let Some(plugin) = crate::service::billing_source::plugin_for(app, access.org_id())? {
        let errs =
            crate::service::billing_source::validate(app, access.access(), &plugin, &profile)?;
        if !errs.is_empty() {
            return Err(Error::Validation(errs));
        }
    }
    let now = now();
    let org = access.org_id();
    app.store.write(|tx| {
        tx.put_billing_profile(org, &profile, now)?;
        audit::record(
            tx,
            org,
            &Actor::of(access.principal()),
            AuditAction::BillingProfileUpdated,
            ("organization", org.as_str()),
            serde_json::to_value(&profile).unwrap_or_default(),
        )
    })?;
    Ok(profile)
}

/// Invoices, newest first (owner and billing roles).
pub fn list_invoices(
    app: &Context,
    access: &Permit<'_, perm::BillingRead>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Invoice>> {
    if let Some(plugin) = crate::service::billing_source::plugin_for(app, access.org_id())? {
        let all = crate::service::billing_source::invoices(app, access.access(), &plugin)?;
        return Ok(crate::service::billing_source::paginate(all, cursor, limit));
    }
    let after = match cursor {
        None => None,
        Some(c) => Some(
            c.split_once('|')
                .ok_or_else(|| Error::field("cursor", "is not a cursor returned by this list"))?,
        ),
    };
    let rows = app
        .store
        .read(|c| c.list_invoices(access.org_id(), after, limit + 1))?;
    Ok(page_of(rows, limit, |i| {
        format!("{}|{}", i.issued_on, i.id)
    }))
}

/// One invoice to import.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceInput {
    /// Number, unique per organization (re-importing updates it).
    pub number: String,
    /// `YYYY-MM-DD`.
    pub issued_on: String,
    /// Minor units.
    pub amount_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// `draft|open|paid|void` ([`InvoiceStatus`]; checked by [`validate_invoices`], so a
    /// wrong one is a field error like the others).
    pub status: String,
    /// Document link.
    #[serde(default)]
    pub url: Option<String>,
}

impl InvoiceInput {
    /// The invoice under `id` (the number trimmed), with the status [`validate_invoices`]
    /// read for it.
    pub fn into_invoice(self, id: InvoiceId, status: InvoiceStatus) -> Invoice {
        Invoice {
            id,
            number: self.number.trim().to_string(),
            issued_on: self.issued_on,
            amount_cents: self.amount_cents,
            currency: self.currency,
            status,
            url: self.url,
        }
    }
}

/// Result of an import.
#[derive(Debug, Serialize)]
pub struct ImportResult {
    /// New invoices.
    pub created: usize,
    /// Invoices updated by number.
    pub updated: usize,
}

/// Checks invoices to import or shown from a billing plugin; their statuses, in order, when
/// every one is good.
pub(crate) fn validate_invoices(items: &[InvoiceInput]) -> Result<Vec<InvoiceStatus>> {
    let mut errs = Vec::new();
    let mut statuses = Vec::with_capacity(items.len());
    if items.len() > 1000 {
        errs.push(FieldError::new(
            "invoices",
            "import at most 1000 invoices at once",
        ));
    }
    for (i, inv) in items.iter().enumerate() {
        let f = |name: &str| format!("invoices[{i}].{name}");
        if inv.number.trim().is_empty() || inv.number.len() > 64 {
            errs.push(FieldError::new(f("number"), "must be 1 to 64 characters"));
        }
        if chrono::NaiveDate::parse_from_str(&inv.issued_on, "%Y-%m-%d").is_err() {
            errs.push(FieldError::new(f("issued_on"), "must be a date YYYY-MM-DD"));
        }
        if !(0..=MAX_AMOUNT_CENTS).contains(&inv.amount_cents) {
            errs.push(FieldError::new(
                f("amount_cents"),
                format!("must be 0 to {MAX_AMOUNT_CENTS}"),
            ));
        }
        if !is_currency(&inv.currency) {
            errs.push(FieldError::new(f("currency"), "must be an ISO 4217 code"));
        }
        match InvoiceStatus::parse(&inv.status) {
            Some(status) => statuses.push(status),
            None => errs.push(FieldError::new(
                f("status"),
                "must be draft, open, paid or void",
            )),
        }
        if inv.url.as_deref().is_some_and(|u| !is_https_link(u)) {
            errs.push(FieldError::new(f("url"), "must be an https:// link"));
        }
    }
    if errs.is_empty() {
        Ok(statuses)
    } else {
        Err(Error::Validation(errs))
    }
}

/// The largest invoice amount accepted, in minor units (the document's `maximum`).
pub const MAX_AMOUNT_CENTS: i64 = 1_000_000_000_000_000;

/// An absolute `https://` URL with a host, at most 2048 bytes, written only with the
/// characters RFC 3986 allows (the document's `format: uri`): no spaces, control or
/// non-ASCII characters.
fn is_https_link(u: &str) -> bool {
    const ALLOWED: &[u8] = b"-._~:/?#[]@!$&'()*+,;=%";
    u.len() <= 2048
        && u.starts_with("https://")
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || ALLOWED.contains(&b))
        && url::Url::parse(u).is_ok_and(|p| p.scheme() == "https" && p.host().is_some())
}

fn import(
    app: &Context,
    org: &OrgId,
    actor: &Actor,
    items: Vec<InvoiceInput>,
) -> Result<ImportResult> {
    let statuses = validate_invoices(&items)?;
    let now = now();
    app.store.write(|tx| {
        let mut r = ImportResult {
            created: 0,
            updated: 0,
        };
        for (inv, &status) in items.iter().zip(&statuses) {
            let invoice = inv.clone().into_invoice(InvoiceId::generate(), status);
            if tx.upsert_invoice(org, &invoice, now)? {
                r.created += 1;
            } else {
                r.updated += 1;
            }
        }
        audit::record(
            tx,
            org,
            actor,
            AuditAction::BillingInvoicesImported,
            ("organization", org.as_str()),
            json!({"created": r.created, "updated": r.updated}),
        )?;
        Ok(r)
    })
}

/// Imports invoices over the API (owner and billing roles).
pub fn import_invoices(
    app: &Context,
    access: &Permit<'_, perm::BillingManage>,
    items: Vec<InvoiceInput>,
) -> Result<ImportResult> {
    import(app, access.org_id(), &Actor::of(access.principal()), items)
}

/// Imports invoices from the CLI.
pub fn import_invoices_by_operator(
    app: &Context,
    _op: &crate::service::authz::Operator,
    org: &str,
    items: Vec<InvoiceInput>,
) -> Result<ImportResult> {
    let id = OrgId::parse(org)
        .ok_or_else(|| Error::Config(format!("{org:?} is not an organization ID")))?;
    if app.store.read(|c| c.org(&id))?.is_none() {
        return Err(Error::Config(format!("no organization {org}")));
    }
    import(app, &id, &Actor::operator(), items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice(number: &str, status: &str) -> InvoiceInput {
        InvoiceInput {
            number: number.into(),
            issued_on: "2026-01-31".into(),
            amount_cents: 100,
            currency: "EUR".into(),
            status: status.into(),
            url: None,
        }
    }

    /// Imports and billing plugins' answers both go through this check: a status outside the
    /// set is a field error (for a plugin: the billing system counts as unavailable), never
    /// shown or stored.
    #[test]
    fn invoice_statuses_are_read_in_order_and_unknown_ones_refused() {
        let ok = validate_invoices(&[invoice("A-1", "paid"), invoice("A-2", "draft")]).unwrap();
        assert_eq!(ok, [InvoiceStatus::Paid, InvoiceStatus::Draft]);
        match validate_invoices(&[invoice("A-1", "open"), invoice("A-2", "Paid")]) {
            Err(Error::Validation(errs)) => {
                let fields: Vec<String> = errs.iter().map(|e| e.field.clone()).collect();
                assert_eq!(fields, ["invoices[1].status"], "{errs:?}");
            }
            other => panic!("expected a field error, got {other:?}"),
        }
    }
}
