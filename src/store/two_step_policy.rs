//! The organizations' two-step sign-in policy (`org_two_step_policies`).

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::domain::{OrgId, UserId};
use crate::error::Result;

/// A stored policy; an organization without a row has the policy off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyRow {
    /// Members must have two-step sign-in.
    pub require_two_step: bool,
    /// Days between turning it on and enforcing it (0–90).
    pub grace_days: i64,
    /// When it was last turned on (unix seconds); `None` while off.
    pub enabled_at: Option<i64>,
}

fn row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<PolicyRow> {
    Ok(PolicyRow {
        require_two_step: r.get(at)?,
        grace_days: r.get(at + 1)?,
        enabled_at: r.get(at + 2)?,
    })
}

macro_rules! policy_reads {
    ($t:ty) => {
        impl $t {
            /// The policy of an organization (off when never set).
            pub fn two_step_policy(&self, org: &OrgId) -> Result<PolicyRow> {
                Ok(self
                    .0
                    .prepare_cached(
                        "SELECT require_two_step, grace_days, enabled_at FROM org_two_step_policies WHERE org_id = ?1",
                    )
                    .map_err(db_err)?
                    .query_row([org.as_str()], |r| row(r, 0))
                    .optional()
                    .map_err(db_err)?
                    .unwrap_or_default())
            }
        }
    };
}
policy_reads!(Conn<'_>);
policy_reads!(Tx<'_>);

impl Conn<'_> {
    /// The organization (ID, name) a company belongs to, with its policy, when the policy is
    /// on; `None` for an unknown company or a policy that is off.
    pub fn two_step_policy_of_company(
        &self,
        company: &str,
    ) -> Result<Option<(OrgId, String, PolicyRow)>> {
        self.0
            .prepare_cached(
                "SELECT o.id, o.name, p.require_two_step, p.grace_days, p.enabled_at \
                 FROM companies c JOIN organizations o ON o.id = c.org_id \
                 JOIN org_two_step_policies p ON p.org_id = c.org_id \
                 WHERE c.id = ?1 AND p.require_two_step = 1",
            )
            .map_err(db_err)?
            .query_row([company], |r| {
                Ok((OrgId::from_trusted(r.get(0)?), r.get(1)?, row(r, 2)?))
            })
            .optional()
            .map_err(db_err)
    }

    /// The organization (ID, name) an invitation belongs to, with its policy, when the
    /// policy is on.
    pub fn two_step_policy_of_invitation(
        &self,
        invitation: &str,
    ) -> Result<Option<(OrgId, String, PolicyRow)>> {
        self.0
            .prepare_cached(
                "SELECT o.id, o.name, p.require_two_step, p.grace_days, p.enabled_at \
                 FROM invitations i JOIN organizations o ON o.id = i.org_id \
                 JOIN org_two_step_policies p ON p.org_id = i.org_id \
                 WHERE i.id = ?1 AND p.require_two_step = 1",
            )
            .map_err(db_err)?
            .query_row([invitation], |r| {
                Ok((OrgId::from_trusted(r.get(0)?), r.get(1)?, row(r, 2)?))
            })
            .optional()
            .map_err(db_err)
    }

    /// The organization (ID, name) with its policy, when the policy is on.
    pub fn two_step_policy_on(&self, org: &OrgId) -> Result<Option<(OrgId, String, PolicyRow)>> {
        self.0
            .prepare_cached(
                "SELECT o.id, o.name, p.require_two_step, p.grace_days, p.enabled_at \
                 FROM organizations o JOIN org_two_step_policies p ON p.org_id = o.id \
                 WHERE o.id = ?1 AND p.require_two_step = 1",
            )
            .map_err(db_err)?
            .query_row([org.as_str()], |r| {
                Ok((OrgId::from_trusted(r.get(0)?), r.get(1)?, row(r, 2)?))
            })
            .optional()
            .map_err(db_err)
    }

    /// The people an organization's policy would ask to turn two-step sign-in on: members
    /// and direct company members who sign in with a password and are not disabled, as
    /// (ID, email, name).
    pub fn two_step_policy_people(&self, org: &OrgId) -> Result<Vec<(UserId, String, String)>> {
        let mut st = self
            .0
            .prepare_cached(
                "SELECT u.id, u.email, u.name FROM users u \
                 WHERE u.auth = 'password' AND u.disabled = 0 AND (\
                   u.id IN (SELECT user_id FROM org_members WHERE org_id = ?1) \
                   OR u.id IN (SELECT user_id FROM company_members WHERE org_id = ?1)) \
                 ORDER BY u.email",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map([org.as_str()], |r| {
                Ok((UserId::from_trusted(r.get(0)?), r.get(1)?, r.get(2)?))
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Whether a person reaches an organization at all: a member, or a direct member of one
    /// of its companies.
    pub fn reaches_org(&self, org: &OrgId, user: &UserId) -> Result<bool> {
        self.0
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM org_members WHERE org_id = ?1 AND user_id = ?2) \
                 OR EXISTS (SELECT 1 FROM company_members WHERE org_id = ?1 AND user_id = ?2)",
            )
            .map_err(db_err)?
            .query_row([org.as_str(), user.as_str()], |r| r.get(0))
            .map_err(db_err)
    }

    /// The organizations with the policy on that a person belongs to (as a member or a direct
    /// member of one of their companies), by name.
    pub fn two_step_policies_of(&self, user: &UserId) -> Result<Vec<(OrgId, String, PolicyRow)>> {
        let mut st = self
            .0
            .prepare_cached(
                "SELECT o.id, o.name, p.require_two_step, p.grace_days, p.enabled_at \
                 FROM organizations o JOIN org_two_step_policies p ON p.org_id = o.id \
                 WHERE p.require_two_step = 1 AND (\
                   EXISTS (SELECT 1 FROM org_members m WHERE m.org_id = o.id AND m.user_id = ?1) \
                   OR EXISTS (SELECT 1 FROM company_members c WHERE c.org_id = o.id AND c.user_id = ?1)) \
                 ORDER BY o.name, o.id",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map([user.as_str()], |r| {
                Ok((OrgId::from_trusted(r.get(0)?), r.get(1)?, row(r, 2)?))
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}

impl Tx<'_> {
    /// Replaces the policy of an organization.
    pub fn put_two_step_policy(&self, org: &OrgId, p: &PolicyRow, now: i64) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO org_two_step_policies (org_id, require_two_step, grace_days, enabled_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (org_id) DO UPDATE SET \
                 require_two_step = excluded.require_two_step, grace_days = excluded.grace_days, \
                 enabled_at = excluded.enabled_at, updated_at = excluded.updated_at",
                params![org.as_str(), p.require_two_step, p.grace_days, p.enabled_at, now],
            )
            .map_err(db_err)?;
        Ok(())
    }
}
