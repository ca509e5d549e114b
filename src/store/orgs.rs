//! Organizations, their feature switches and the admin team.

use rusqlite::{params, OptionalExtension, Row};

use super::{db_err, Conn, Tx};
use crate::domain::entities::{OrgMember, Organization};
use crate::domain::{CompanyAccess, CompanyId, FeatureSwitches, OrgId, OrgRole, UserId};
use crate::error::Result;

fn row_to_org(r: &Row<'_>) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: OrgId::from_trusted(r.get(0)?),
        name: r.get(1)?,
        slug: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// A membership row without the company list.
#[derive(Clone, Debug)]
pub struct MembershipRow {
    /// Organization.
    pub org_id: OrgId,
    /// Role.
    pub role: OrgRole,
    /// Whether access covers every company.
    pub all_companies: bool,
}

macro_rules! org_reads {
    ($t:ty) => {
        impl $t {
            /// An organization by ID.
            pub fn org(&self, id: &OrgId) -> Result<Option<Organization>> {
                self.0
                    .prepare_cached("SELECT id, name, slug, created_at FROM organizations WHERE id = ?1")
                    .map_err(db_err)?
                    .query_row([id.as_str()], row_to_org)
                    .optional()
                    .map_err(db_err)
            }

            /// An organization by its slug.
            pub fn org_by_slug(&self, slug: &str) -> Result<Option<Organization>> {
                self.0
                    .prepare_cached("SELECT id, name, slug, created_at FROM organizations WHERE slug = ?1")
                    .map_err(db_err)?
                    .query_row([slug], row_to_org)
                    .optional()
                    .map_err(db_err)
            }

            /// An organization with its explicit feature switches, in one query.
            pub fn org_with_features(&self, id: &OrgId) -> Result<Option<(Organization, FeatureSwitches)>> {
                self.0
                    .prepare_cached("SELECT id, name, slug, created_at, features FROM organizations WHERE id = ?1")
                    .map_err(db_err)?
                    .query_row([id.as_str()], |r| Ok((row_to_org(r)?, r.get(4)?)))
                    .optional()
                    .map_err(db_err)
            }

            /// The explicit feature switches (none for an unknown organization).
            pub fn org_features(&self, id: &OrgId) -> Result<FeatureSwitches> {
                self.0
                    .prepare_cached("SELECT features FROM organizations WHERE id = ?1")
                    .map_err(db_err)?
                    .query_row([id.as_str()], |r| r.get(0))
                    .optional()
                    .map_err(db_err)
                    .map(Option::unwrap_or_default)
            }

            /// A user's membership in an organization.
            pub fn membership(&self, org: &OrgId, user: &UserId) -> Result<Option<MembershipRow>> {
                self.0
                    .prepare_cached("SELECT role, all_companies FROM org_members WHERE org_id = ?1 AND user_id = ?2")
                    .map_err(db_err)?
                    .query_row([org.as_str(), user.as_str()], |r| {
                        Ok(MembershipRow {
                            org_id: org.clone(),
                            role: r.get(0)?,
                            all_companies: r.get(1)?,
                        })
                    })
                    .optional()
                    .map_err(db_err)
            }

            /// The explicit company list of a member (empty for `all`).
            pub fn member_company_ids(&self, org: &OrgId, user: &UserId) -> Result<Vec<CompanyId>> {
                let mut stmt = self
                    .0
                    .prepare_cached(
                        "SELECT company_id FROM org_member_companies WHERE org_id = ?1 AND user_id = ?2 ORDER BY company_id",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map([org.as_str(), user.as_str()], |r| Ok(CompanyId::from_trusted(r.get(0)?)))
                    .map_err(db_err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
            }

            /// Number of owners.
            pub fn owner_count(&self, org: &OrgId) -> Result<i64> {
                self.0
                    .prepare_cached("SELECT count(*) FROM org_members WHERE org_id = ?1 AND role = 'owner'")
                    .map_err(db_err)?
                    .query_row([org.as_str()], |r| r.get(0))
                    .map_err(db_err)
            }
        }
    };
}
org_reads!(Conn<'_>);
org_reads!(Tx<'_>);

impl Conn<'_> {
    /// Organizations a user belongs to, with the membership.
    pub fn memberships_of(&self, user: &UserId) -> Result<Vec<(Organization, MembershipRow)>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT o.id, o.name, o.slug, o.created_at, m.role, m.all_companies \
                 FROM org_members m JOIN organizations o ON o.id = m.org_id \
                 WHERE m.user_id = ?1 ORDER BY o.id",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([user.as_str()], |r| {
                let org = row_to_org(r)?;
                let m = MembershipRow {
                    org_id: org.id.clone(),
                    role: r.get(4)?,
                    all_companies: r.get(5)?,
                };
                Ok((org, m))
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Organizations ordered by ID (instance admin listing), after `cursor`.
    pub fn list_orgs(&self, after: &str, limit: usize) -> Result<Vec<Organization>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT id, name, slug, created_at FROM organizations WHERE id > ?1 ORDER BY id LIMIT ?2")
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![after, limit as i64], row_to_org)
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Organizations of a user ordered by ID, after `cursor`.
    pub fn list_orgs_of(
        &self,
        user: &UserId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Organization>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT o.id, o.name, o.slug, o.created_at FROM org_members m JOIN organizations o ON o.id = m.org_id \
                 WHERE m.user_id = ?1 AND o.id > ?2 ORDER BY o.id LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![user.as_str(), after, limit as i64], row_to_org)
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// The admin team ordered by user ID, after `cursor`.
    pub fn list_org_members(
        &self,
        org: &OrgId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<OrgMember>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT m.user_id, u.email, u.name, m.role, m.all_companies, m.created_at \
                 FROM org_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.org_id = ?1 AND m.user_id > ?2 ORDER BY m.user_id LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![org.as_str(), after, limit as i64], |r| {
                Ok((
                    UserId::from_trusted(r.get(0)?),
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, OrgRole>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(db_err)?;
        let rows = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for (user_id, email, name, role, all, created_at) in rows {
            let company_access = if all {
                CompanyAccess::All
            } else {
                CompanyAccess::List(self.member_company_ids(org, &user_id)?)
            };
            out.push(OrgMember {
                user_id,
                email,
                name,
                role,
                company_access,
                created_at,
            });
        }
        Ok(out)
    }

    /// One admin-team member.
    pub fn org_member(&self, org: &OrgId, user: &UserId) -> Result<Option<OrgMember>> {
        let row = self
            .0
            .prepare_cached(
                "SELECT m.role, m.all_companies, m.created_at, u.email, u.name \
                 FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 AND m.user_id = ?2",
            )
            .map_err(db_err)?
            .query_row([org.as_str(), user.as_str()], |r| {
                Ok((r.get::<_, OrgRole>(0)?, r.get::<_, bool>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?))
            })
            .optional()
            .map_err(db_err)?;
        let Some((role, all, created_at, email, name)) = row else {
            return Ok(None);
        };
        let company_access = if all {
            CompanyAccess::All
        } else {
            CompanyAccess::List(self.member_company_ids(org, user)?)
        };
        Ok(Some(OrgMember {
            user_id: user.clone(),
            email,
            name,
            role,
            company_access,
            created_at,
        }))
    }

    /// Whether a user holds any direct company role in an organization, with up to three of
    /// those company names (for explanations).
    pub fn direct_companies_in_org(&self, org: &OrgId, user: &UserId) -> Result<Vec<String>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT c.name FROM company_members cm JOIN companies c ON c.id = cm.company_id \
                 WHERE cm.user_id = ?1 AND cm.org_id = ?2 ORDER BY c.name LIMIT 3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([user.as_str(), org.as_str()], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}

impl Tx<'_> {
    /// Inserts an organization.
    pub fn insert_org(&self, o: &Organization, features_json: &str) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO organizations (id, name, slug, features, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![o.id.as_str(), o.name, o.slug, features_json, o.created_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Renames / re-slugs an organization.
    pub fn update_org(&self, id: &OrgId, name: &str, slug: &str, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE organizations SET name = ?2, slug = ?3, updated_at = ?4 WHERE id = ?1",
                params![id.as_str(), name, slug, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Stores the explicit feature switches.
    pub fn set_org_features(&self, id: &OrgId, features: &FeatureSwitches, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE organizations SET features = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.as_str(), features, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Deletes an organization and, by cascade, everything in it.
    pub fn delete_org(&self, id: &OrgId) -> Result<()> {
        self.0
            .execute("DELETE FROM organizations WHERE id = ?1", [id.as_str()])
            .map_err(db_err)?;
        Ok(())
    }

    /// Adds or replaces a member's role and company access.
    pub fn upsert_org_member(
        &self,
        org: &OrgId,
        user: &UserId,
        role: OrgRole,
        access: &CompanyAccess,
        now: i64,
    ) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO org_members (org_id, user_id, role, all_companies, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role, all_companies = excluded.all_companies",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                user.as_str(),
                role.as_str(),
                matches!(access, CompanyAccess::All),
                now
            ])
            .map_err(db_err)?;
        self.0
            .prepare_cached("DELETE FROM org_member_companies WHERE org_id = ?1 AND user_id = ?2")
            .map_err(db_err)?
            .execute([org.as_str(), user.as_str()])
            .map_err(db_err)?;
        if let CompanyAccess::List(ids) = access {
            let mut stmt = self
                .0
                .prepare_cached("INSERT INTO org_member_companies (org_id, user_id, company_id) VALUES (?1, ?2, ?3)")
                .map_err(db_err)?;
            for c in ids {
                stmt.execute([org.as_str(), user.as_str(), c.as_str()])
                    .map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// Sets a member's role only.
    pub fn set_org_role(&self, org: &OrgId, user: &UserId, role: OrgRole) -> Result<()> {
        self.0
            .execute(
                "UPDATE org_members SET role = ?3 WHERE org_id = ?1 AND user_id = ?2",
                params![org.as_str(), user.as_str(), role.as_str()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Removes a member from the admin team.
    pub fn delete_org_member(&self, org: &OrgId, user: &UserId) -> Result<bool> {
        let n = self
            .0
            .execute(
                "DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2",
                [org.as_str(), user.as_str()],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// How many of `ids` are companies of `org` (to validate access lists).
    pub fn count_companies_in_org(&self, org: &OrgId, ids: &[CompanyId]) -> Result<usize> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT 1 FROM companies WHERE id = ?1 AND org_id = ?2")
            .map_err(db_err)?;
        let mut n = 0;
        for id in ids {
            if stmt.exists([id.as_str(), org.as_str()]).map_err(db_err)? {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Tx<'_> {
    /// Whether a slug is used by an organization other than `except`.
    pub fn org_slug_taken(&self, slug: &str, except: Option<&str>) -> Result<bool> {
        self.0
            .prepare_cached("SELECT 1 FROM organizations WHERE slug = ?1 AND id != ?2")
            .map_err(db_err)?
            .exists([slug, except.unwrap_or("")])
            .map_err(db_err)
    }

    /// Whether a company slug is used in `org` by a company other than `except`.
    pub fn company_slug_taken(
        &self,
        org: &OrgId,
        slug: &str,
        except: Option<&str>,
    ) -> Result<bool> {
        self.0
            .prepare_cached("SELECT 1 FROM companies WHERE org_id = ?1 AND slug = ?2 AND id != ?3")
            .map_err(db_err)?
            .exists([org.as_str(), slug, except.unwrap_or("")])
            .map_err(db_err)
    }
}
