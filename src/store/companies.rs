//! Companies, direct company members, sites and data preferences. Every query names the
//! organization (or the company, which belongs to exactly one) it is scoped to.

use rusqlite::{params, OptionalExtension, Row};

use super::{db_err, Conn, Tx};
use crate::domain::entities::{Company, DataPreferences, Site};
use crate::domain::{CompanyId, CompanyRole, OrgId, ScopedRole, SiteId, UserId};
use crate::error::Result;

fn row_to_company(r: &Row<'_>) -> rusqlite::Result<Company> {
    Ok(Company {
        id: CompanyId::from_trusted(r.get(0)?),
        org: OrgId::from_trusted(r.get(1)?),
        name: r.get(2)?,
        slug: r.get(3)?,
        created_at: r.get(4)?,
    })
}

fn row_to_site(r: &Row<'_>) -> rusqlite::Result<Site> {
    Ok(Site {
        id: SiteId::from_trusted(r.get(0)?),
        company: CompanyId::from_trusted(r.get(1)?),
        name: r.get(2)?,
        address: r.get(3)?,
        timezone: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// One row of the combined company member listing.
#[derive(Debug, Clone)]
pub struct CompanyMemberRow {
    /// User.
    pub user_id: UserId,
    /// A direct company role, or the organization role that reaches the company.
    pub role: ScopedRole,
}

const COMPANY_COLS: &str = "id, org_id, name, slug, created_at";
const SITE_COLS: &str = "id, company_id, name, address, timezone, created_at";

macro_rules! company_reads {
    ($t:ty) => {
        impl $t {
            /// A company by ID (any organization; callers check access).
            pub fn company(&self, id: &CompanyId) -> Result<Option<Company>> {
                self.0
                    .prepare_cached(&format!("SELECT {COMPANY_COLS} FROM companies WHERE id = ?1"))
                    .map_err(db_err)?
                    .query_row([id.as_str()], row_to_company)
                    .optional()
                    .map_err(db_err)
            }

            /// A user's direct role in a company.
            pub fn direct_company_role(&self, company: &CompanyId, user: &UserId) -> Result<Option<CompanyRole>> {
                self
                    .0
                    .prepare_cached("SELECT role FROM company_members WHERE company_id = ?1 AND user_id = ?2")
                    .map_err(db_err)?
                    .query_row([company.as_str(), user.as_str()], |r| r.get::<_, CompanyRole>(0))
                    .optional()
                    .map_err(db_err)
            }

            /// Whether a member with a company list has this company in it.
            pub fn member_has_company(&self, org: &OrgId, user: &UserId, company: &CompanyId) -> Result<bool> {
                self.0
                    .prepare_cached(
                        "SELECT 1 FROM org_member_companies WHERE org_id = ?1 AND user_id = ?2 AND company_id = ?3",
                    )
                    .map_err(db_err)?
                    .exists([org.as_str(), user.as_str(), company.as_str()])
                    .map_err(db_err)
            }

            /// A site of a company.
            pub fn site(&self, company: &CompanyId, id: &SiteId) -> Result<Option<Site>> {
                self.0
                    .prepare_cached(&format!("SELECT {SITE_COLS} FROM sites WHERE id = ?1 AND company_id = ?2"))
                    .map_err(db_err)?
                    .query_row([id.as_str(), company.as_str()], row_to_site)
                    .optional()
                    .map_err(db_err)
            }

            /// A company's data preferences (defaults when never set).
            pub fn data_preferences(&self, company: &CompanyId) -> Result<DataPreferences> {
                Ok(self
                    .0
                    .prepare_cached(
                        "SELECT units, timezone, currency, date_format, retention_days FROM data_preferences WHERE company_id = ?1",
                    )
                    .map_err(db_err)?
                    .query_row([company.as_str()], |r| {
                        Ok(DataPreferences {
                            units: r.get(0)?,
                            timezone: r.get(1)?,
                            currency: r.get(2)?,
                            date_format: r.get(3)?,
                            retention_days: r.get(4)?,
                        })
                    })
                    .optional()
                    .map_err(db_err)?
                    .unwrap_or_default())
            }
        }
    };
}
company_reads!(Conn<'_>);
company_reads!(Tx<'_>);

impl Conn<'_> {
    /// Companies of an organization ordered by ID after `cursor`.
    pub fn list_companies(&self, org: &OrgId, after: &str, limit: usize) -> Result<Vec<Company>> {
        let mut stmt = self
            .0
            .prepare_cached(&format!(
                "SELECT {COMPANY_COLS} FROM companies WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![org.as_str(), after, limit as i64], row_to_company)
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Companies in a member's explicit access list, ordered by ID after `cursor`.
    pub fn list_member_companies(
        &self,
        org: &OrgId,
        user: &UserId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Company>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT c.id, c.org_id, c.name, c.slug, c.created_at FROM org_member_companies mc \
                 JOIN companies c ON c.id = mc.company_id \
                 WHERE mc.org_id = ?1 AND mc.user_id = ?2 AND mc.company_id > ?3 ORDER BY mc.company_id LIMIT ?4",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![org.as_str(), user.as_str(), after, limit as i64],
                row_to_company,
            )
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Companies where a user has a direct role (all organizations), with the role.
    pub fn direct_companies_of(&self, user: &UserId) -> Result<Vec<(Company, CompanyRole)>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT c.id, c.org_id, c.name, c.slug, c.created_at, cm.role FROM company_members cm \
                 JOIN companies c ON c.id = cm.company_id WHERE cm.user_id = ?1 ORDER BY c.id",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([user.as_str()], |r| Ok((row_to_company(r)?, r.get(5)?)))
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Everyone who reaches a company — direct members, members with `all` access, members
    /// with the company in their list — merged in user-ID order after `cursor`. A user may
    /// appear in up to three rows; the caller merges them. SQLite merges the three ordered
    /// index scans, so the cost follows the page size, not the organization size.
    pub fn company_member_rows(
        &self,
        org: &OrgId,
        company: &CompanyId,
        after: &str,
        rows: usize,
    ) -> Result<Vec<CompanyMemberRow>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT user_id, 'direct', role FROM company_members WHERE company_id = ?2 AND user_id > ?3 \
                 UNION ALL \
                 SELECT user_id, 'org', role FROM org_members WHERE org_id = ?1 AND all_companies = 1 AND user_id > ?3 \
                 UNION ALL \
                 SELECT mc.user_id, 'org', m.role FROM org_member_companies mc \
                   JOIN org_members m ON m.org_id = mc.org_id AND m.user_id = mc.user_id \
                   WHERE mc.company_id = ?2 AND mc.user_id > ?3 \
                 ORDER BY 1 LIMIT ?4",
            )
            .map_err(db_err)?;
        let out = stmt
            .query_map(
                params![org.as_str(), company.as_str(), after, rows as i64],
                |r| {
                    let source: String = r.get(1)?;
                    let role = if source == "direct" {
                        ScopedRole::Company(r.get(2)?)
                    } else {
                        ScopedRole::Org(r.get(2)?)
                    };
                    Ok(CompanyMemberRow {
                        user_id: UserId::from_trusted(r.get(0)?),
                        role,
                    })
                },
            )
            .map_err(db_err)?;
        out.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Email and name of a user (for listings).
    pub fn user_label(&self, user: &UserId) -> Result<(String, String)> {
        self.0
            .prepare_cached("SELECT email, name FROM users WHERE id = ?1")
            .map_err(db_err)?
            .query_row([user.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db_err)
            .map(|o| o.unwrap_or_default())
    }

    /// Sites of a company ordered by ID after `cursor`.
    pub fn list_sites(&self, company: &CompanyId, after: &str, limit: usize) -> Result<Vec<Site>> {
        let mut stmt = self
            .0
            .prepare_cached(&format!(
                "SELECT {SITE_COLS} FROM sites WHERE company_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![company.as_str(), after, limit as i64], row_to_site)
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}

impl Tx<'_> {
    /// Inserts a company with default data preferences.
    pub fn insert_company(&self, c: &Company) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO companies (id, org_id, name, slug, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )
            .map_err(db_err)?
            .execute(params![c.id.as_str(), c.org.as_str(), c.name, c.slug, c.created_at])
            .map_err(db_err)?;
        self.put_data_preferences(&c.id, &DataPreferences::default(), c.created_at)
    }

    /// Renames / re-slugs a company of `org`.
    pub fn update_company(
        &self,
        org: &OrgId,
        id: &CompanyId,
        name: &str,
        slug: &str,
        now: i64,
    ) -> Result<()> {
        self.0
            .execute(
                "UPDATE companies SET name = ?3, slug = ?4, updated_at = ?5 WHERE id = ?1 AND org_id = ?2",
                params![id.as_str(), org.as_str(), name, slug, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Deletes a company of `org` (cascades to its sites, preferences, members).
    pub fn delete_company(&self, org: &OrgId, id: &CompanyId) -> Result<bool> {
        Ok(self
            .0
            .execute(
                "DELETE FROM companies WHERE id = ?1 AND org_id = ?2",
                [id.as_str(), org.as_str()],
            )
            .map_err(db_err)?
            == 1)
    }

    /// Adds or changes a direct company role.
    pub fn upsert_company_member(
        &self,
        org: &OrgId,
        company: &CompanyId,
        user: &UserId,
        role: CompanyRole,
        now: i64,
    ) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO company_members (company_id, user_id, org_id, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (company_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .map_err(db_err)?
            .execute(params![company.as_str(), user.as_str(), org.as_str(), role.as_str(), now])
            .map_err(db_err)?;
        Ok(())
    }

    /// Removes a direct company role.
    pub fn delete_company_member(&self, company: &CompanyId, user: &UserId) -> Result<bool> {
        Ok(self
            .0
            .execute(
                "DELETE FROM company_members WHERE company_id = ?1 AND user_id = ?2",
                [company.as_str(), user.as_str()],
            )
            .map_err(db_err)?
            == 1)
    }

    /// Inserts a site.
    pub fn insert_site(&self, org: &OrgId, s: &Site) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO sites (id, company_id, org_id, name, address, timezone, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![s.id.as_str(), s.company.as_str(), org.as_str(), s.name, s.address, s.timezone, s.created_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Updates a site of a company.
    pub fn update_site(&self, s: &Site, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE sites SET name = ?3, address = ?4, timezone = ?5, updated_at = ?6 WHERE id = ?1 AND company_id = ?2",
                params![s.id.as_str(), s.company.as_str(), s.name, s.address, s.timezone, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Deletes a site of a company.
    pub fn delete_site(&self, company: &CompanyId, id: &SiteId) -> Result<bool> {
        Ok(self
            .0
            .execute(
                "DELETE FROM sites WHERE id = ?1 AND company_id = ?2",
                [id.as_str(), company.as_str()],
            )
            .map_err(db_err)?
            == 1)
    }

    /// Replaces a company's data preferences.
    pub fn put_data_preferences(
        &self,
        company: &CompanyId,
        p: &DataPreferences,
        now: i64,
    ) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO data_preferences (company_id, units, timezone, currency, date_format, retention_days, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (company_id) DO UPDATE SET units = excluded.units, \
                 timezone = excluded.timezone, currency = excluded.currency, date_format = excluded.date_format, \
                 retention_days = excluded.retention_days, updated_at = excluded.updated_at",
            )
            .map_err(db_err)?
            .execute(params![company.as_str(), p.units, p.timezone, p.currency, p.date_format, p.retention_days, now])
            .map_err(db_err)?;
        Ok(())
    }
}
