//! The records of the organization scope, as read back and returned by the API.

use serde::Serialize;

use super::user::ser_time;
use super::{
    CompanyAccess, CompanyId, CompanyRole, EventId, InvoiceId, OrgId, OrgRole, SiteId, UserId,
};

/// An organization.
#[derive(Clone, Debug, Serialize)]
pub struct Organization {
    /// `org_…`
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Creation time.
    #[serde(serialize_with = "ser_time")]
    pub created_at: i64,
}

/// A company inside an organization.
#[derive(Clone, Debug, Serialize)]
pub struct Company {
    /// `cmp_…`
    pub id: CompanyId,
    /// Owning organization.
    pub org: OrgId,
    /// Display name.
    pub name: String,
    /// Slug, unique within the organization.
    pub slug: String,
    /// Creation time.
    #[serde(serialize_with = "ser_time")]
    pub created_at: i64,
}

/// A member of the admin team.
#[derive(Clone, Debug, Serialize)]
pub struct OrgMember {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Organization role.
    pub role: OrgRole,
    /// Company access.
    pub company_access: CompanyAccess,
    /// When they joined.
    #[serde(serialize_with = "ser_time")]
    pub created_at: i64,
}

/// How a user reaches a company.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A direct company assignment.
    Direct,
    /// Organization access.
    Organization,
}

/// A user's standing in a company: direct role, organization-derived role, effective role.
#[derive(Clone, Debug, Serialize)]
pub struct CompanyMember {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Their name.
    pub name: String,
    /// The higher of the direct and the organization-derived role.
    pub role: CompanyRole,
    /// Where the effective role comes from (`direct` wins a tie).
    pub via: Via,
    /// Direct assignment, if any.
    pub direct_role: Option<CompanyRole>,
    /// Role through organization access, if any.
    pub organization_role: Option<CompanyRole>,
}

/// A site of a company.
#[derive(Clone, Debug, Serialize)]
pub struct Site {
    /// `site_…`
    pub id: SiteId,
    /// Owning company.
    pub company: CompanyId,
    /// Name.
    pub name: String,
    /// Free-text address.
    pub address: String,
    /// IANA time zone.
    pub timezone: String,
    /// Creation time.
    #[serde(serialize_with = "ser_time")]
    pub created_at: i64,
}

/// Per-company data preferences.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DataPreferences {
    /// `metric` | `imperial`.
    pub units: String,
    /// IANA time zone.
    pub timezone: String,
    /// ISO 4217 code.
    pub currency: String,
    /// `YYYY-MM-DD` | `DD/MM/YYYY` | `MM/DD/YYYY`.
    pub date_format: String,
    /// 1 … 3650.
    pub retention_days: i64,
}

impl Default for DataPreferences {
    fn default() -> Self {
        DataPreferences {
            units: "metric".into(),
            timezone: "UTC".into(),
            currency: "USD".into(),
            date_format: "YYYY-MM-DD".into(),
            retention_days: 365,
        }
    }
}

/// The organization's data repository setting (credentials never included).
#[derive(Clone, Debug, Serialize)]
pub struct DataRepository {
    /// `embedded` | `s3` | `postgres` | `sftp`.
    pub kind: String,
    /// Bucket / connection location / path.
    pub location: String,
    /// Region, when the kind has one.
    pub region: Option<String>,
    /// Retention in days.
    pub retention_days: i64,
    /// Whether credentials are stored (their values are write-only).
    pub credentials_set: bool,
}

/// The organization's billing profile.
#[derive(Clone, Debug, Serialize)]
pub struct BillingProfile {
    /// Legal entity name.
    pub legal_name: String,
    /// Where invoices go.
    pub billing_email: String,
    /// Postal address.
    pub address: String,
    /// Tax ID (VAT number etc.).
    pub tax_id: Option<String>,
    /// Plan name.
    pub plan: String,
}

/// An invoice.
#[derive(Clone, Debug, Serialize)]
pub struct Invoice {
    /// `ivc_…`
    pub id: InvoiceId,
    /// Invoice number, unique in the organization.
    pub number: String,
    /// Issue date, `YYYY-MM-DD`.
    pub issued_on: String,
    /// Amount in the currency's minor unit.
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Where the invoice is in its life.
    pub status: InvoiceStatus,
    /// Link to the document, if any.
    pub url: Option<String>,
}

/// Where an invoice is in its life. Imports and billing plugins name one of these; anything
/// else is refused before it becomes an [`Invoice`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Being prepared, not sent yet.
    Draft,
    /// Sent, not paid yet.
    Open,
    /// Paid.
    Paid,
    /// Cancelled.
    Void,
}

impl InvoiceStatus {
    /// Every status.
    pub const ALL: [InvoiceStatus; 4] = [
        InvoiceStatus::Draft,
        InvoiceStatus::Open,
        InvoiceStatus::Paid,
        InvoiceStatus::Void,
    ];

    /// The stored / wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }

    /// Parses the stored / wire form.
    pub fn parse(s: &str) -> Option<InvoiceStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The status as the billing page writes it.
    pub fn label(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "Draft",
            InvoiceStatus::Open => "Open",
            InvoiceStatus::Paid => "Paid",
            InvoiceStatus::Void => "Void",
        }
    }
}

/// Whether an organization has a billing profile (the billing overview's `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingStatus {
    /// A profile is on file (stored or from the billing plugin).
    Configured,
    /// No profile yet.
    NotConfigured,
}

/// One audit event.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEvent {
    /// `evt_…`
    pub id: EventId,
    /// `user` | `api_key` | `operator`.
    pub actor_type: String,
    /// The acting user or key.
    pub actor_id: Option<String>,
    /// What happened, e.g. `company.created`.
    pub action: String,
    /// Kind of the target.
    pub target_type: String,
    /// ID of the target.
    pub target_id: String,
    /// Client address.
    pub ip: Option<String>,
    /// Changed fields (never secret values).
    pub details: serde_json::Value,
    /// When.
    #[serde(serialize_with = "ser_time")]
    pub created_at: i64,
}
