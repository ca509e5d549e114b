//! Organization-wide settings: data repository, billing profile, invoices.

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::domain::entities::{BillingProfile, DataRepository, Invoice};
use crate::domain::{InvoiceId, OrgId};
use crate::error::Result;

/// A stored data repository setting with its sealed credentials.
#[derive(Debug, Clone)]
pub struct DataRepositoryRow {
    /// The public part.
    pub repo: DataRepository,
    /// AEAD-sealed credentials JSON, if any.
    pub sealed_credentials: Option<Vec<u8>>,
}

macro_rules! settings_reads {
    ($t:ty) => {
        impl $t {
            /// The data repository setting of an organization.
            pub fn data_repository(&self, org: &OrgId) -> Result<Option<DataRepositoryRow>> {
                self.0
                    .prepare_cached(
                        "SELECT kind, location, region, retention_days, credentials FROM data_repositories WHERE org_id = ?1",
                    )
                    .map_err(db_err)?
                    .query_row([org.as_str()], |r| {
                        let sealed: Option<Vec<u8>> = r.get(4)?;
                        Ok(DataRepositoryRow {
                            repo: DataRepository {
                                kind: r.get(0)?,
                                location: r.get(1)?,
                                region: r.get(2)?,
                                retention_days: r.get(3)?,
                                credentials_set: sealed.is_some(),
                            },
                            sealed_credentials: sealed,
                        })
                    })
                    .optional()
                    .map_err(db_err)
            }
        }
    };
}
settings_reads!(Conn<'_>);
settings_reads!(Tx<'_>);

impl Conn<'_> {
    /// The billing profile of an organization.
    pub fn billing_profile(&self, org: &OrgId) -> Result<Option<BillingProfile>> {
        self.0
            .prepare_cached(
                "SELECT legal_name, billing_email, address, tax_id, plan FROM billing_profiles WHERE org_id = ?1",
            )
            .map_err(db_err)?
            .query_row([org.as_str()], |r| {
                Ok(BillingProfile {
                    legal_name: r.get(0)?,
                    billing_email: r.get(1)?,
                    address: r.get(2)?,
                    tax_id: r.get(3)?,
                    plan: r.get(4)?,
                })
            })
            .optional()
            .map_err(db_err)
    }

    /// Invoices of an organization, newest first, after cursor `(issued_on, id)`.
    pub fn list_invoices(
        &self,
        org: &OrgId,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<Invoice>> {
        let (d, i) = after.unwrap_or(("9999-99-99", "~"));
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT id, number, issued_on, amount_cents, currency, status, url FROM invoices \
                 WHERE org_id = ?1 AND (issued_on < ?2 OR (issued_on = ?2 AND id < ?3)) \
                 ORDER BY issued_on DESC, id DESC LIMIT ?4",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![org.as_str(), d, i, limit as i64], |r| {
                Ok(Invoice {
                    id: InvoiceId::from_trusted(r.get(0)?),
                    number: r.get(1)?,
                    issued_on: r.get(2)?,
                    amount_cents: r.get(3)?,
                    currency: r.get(4)?,
                    status: r.get(5)?,
                    url: r.get(6)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}

impl Tx<'_> {
    /// Replaces the data repository setting.
    pub fn put_data_repository(
        &self,
        org: &OrgId,
        repo: &DataRepository,
        sealed: Option<&[u8]>,
        now: i64,
    ) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO data_repositories (org_id, kind, location, region, retention_days, credentials, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (org_id) DO UPDATE SET kind = excluded.kind, \
                 location = excluded.location, region = excluded.region, retention_days = excluded.retention_days, \
                 credentials = excluded.credentials, updated_at = excluded.updated_at",
                params![org.as_str(), repo.kind, repo.location, repo.region, repo.retention_days, sealed, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Replaces the billing profile.
    pub fn put_billing_profile(&self, org: &OrgId, p: &BillingProfile, now: i64) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO billing_profiles (org_id, legal_name, billing_email, address, tax_id, plan, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (org_id) DO UPDATE SET legal_name = excluded.legal_name, \
                 billing_email = excluded.billing_email, address = excluded.address, tax_id = excluded.tax_id, \
                 plan = excluded.plan, updated_at = excluded.updated_at",
                params![org.as_str(), p.legal_name, p.billing_email, p.address, p.tax_id, p.plan, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Inserts or updates an invoice by its number; returns true when it was new.
    pub fn upsert_invoice(&self, org: &OrgId, inv: &Invoice, now: i64) -> Result<bool> {
        let existed = self
            .0
            .prepare_cached("SELECT 1 FROM invoices WHERE org_id = ?1 AND number = ?2")
            .map_err(db_err)?
            .exists([org.as_str(), inv.number.as_str()])
            .map_err(db_err)?;
        self.0
            .prepare_cached(
                "INSERT INTO invoices (id, org_id, number, issued_on, amount_cents, currency, status, url, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (org_id, number) DO UPDATE SET \
                 issued_on = excluded.issued_on, amount_cents = excluded.amount_cents, currency = excluded.currency, \
                 status = excluded.status, url = excluded.url",
            )
            .map_err(db_err)?
            .execute(params![
                inv.id.as_str(),
                org.as_str(),
                inv.number,
                inv.issued_on,
                inv.amount_cents,
                inv.currency,
                inv.status,
                inv.url,
                now
            ])
            .map_err(db_err)?;
        Ok(!existed)
    }
}
