//! Invitations, stored by the keyed hash of their token.

use rusqlite::{params, OptionalExtension, Row};

use super::{db_err, Conn, Tx};
use crate::domain::{CompanyId, InvitationStatus, OrgId, ScopedRole, UserId};
use crate::error::Result;

/// A stored invitation.
#[derive(Clone, Debug)]
pub struct InvitationRow {
    /// `inv_…`
    pub id: String,
    /// Organization.
    pub org_id: OrgId,
    /// Company, for a company invitation.
    pub company_id: Option<CompanyId>,
    /// Invited address (normalised).
    pub email: String,
    /// Organization role, or company role for a company invitation.
    pub role: ScopedRole,
    /// Access to all companies (organization invitations).
    pub all_companies: bool,
    /// Listed companies otherwise.
    pub company_ids: Vec<CompanyId>,
    /// Who invited.
    pub inviter_id: Option<UserId>,
    /// The inviter's name at the time.
    pub inviter_name: String,
    /// Stored state (expiry is derived).
    pub status: InvitationStatus,
    /// Created.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Accepted at.
    pub accepted_at: Option<i64>,
    /// Revoked at.
    pub revoked_at: Option<i64>,
    /// The API key that invited, when a key did (its authority is checked again at acceptance).
    pub inviter_key_id: Option<String>,
}

const COLS: &str =
    "id, org_id, company_id, email, role, all_companies, company_ids, inviter_id, inviter_name, \
                    status, created_at, expires_at, accepted_at, revoked_at, inviter_key_id";

fn row_to_inv(r: &Row<'_>) -> rusqlite::Result<InvitationRow> {
    let ids: String = r.get(6)?;
    let ids: Vec<String> = serde_json::from_str(&ids).unwrap_or_default();
    let company_id = r.get::<_, Option<String>>(2)?.map(CompanyId::from_trusted);
    // One column holds both kinds of role; the invitation's scope says which it must be.
    let role = if company_id.is_some() {
        ScopedRole::Company(r.get(4)?)
    } else {
        ScopedRole::Org(r.get(4)?)
    };
    Ok(InvitationRow {
        id: r.get(0)?,
        org_id: OrgId::from_trusted(r.get(1)?),
        company_id,
        email: r.get(3)?,
        role,
        all_companies: r.get(5)?,
        company_ids: ids.into_iter().map(CompanyId::from_trusted).collect(),
        inviter_id: r.get::<_, Option<String>>(7)?.map(UserId::from_trusted),
        inviter_name: r.get(8)?,
        status: r.get(9)?,
        created_at: r.get(10)?,
        expires_at: r.get(11)?,
        accepted_at: r.get(12)?,
        revoked_at: r.get(13)?,
        inviter_key_id: r.get(14)?,
    })
}

macro_rules! inv_reads {
    ($t:ty) => {
        impl $t {
            /// An invitation by token hash.
            pub fn invitation_by_token(&self, token_hash: &[u8]) -> Result<Option<InvitationRow>> {
                self.0
                    .prepare_cached(&format!("SELECT {COLS} FROM invitations WHERE token_hash = ?1"))
                    .map_err(db_err)?
                    .query_row([token_hash], row_to_inv)
                    .optional()
                    .map_err(db_err)
            }

            /// An invitation by ID.
            pub fn invitation(&self, id: &str) -> Result<Option<InvitationRow>> {
                self.0
                    .prepare_cached(&format!("SELECT {COLS} FROM invitations WHERE id = ?1"))
                    .map_err(db_err)?
                    .query_row([id], row_to_inv)
                    .optional()
                    .map_err(db_err)
            }

            /// The pending invitation for an address and target, if any.
            pub fn pending_invitation(&self, org: &OrgId, company: Option<&CompanyId>, email: &str) -> Result<Option<InvitationRow>> {
                self.0
                    .prepare_cached(&format!(
                        "SELECT {COLS} FROM invitations WHERE org_id = ?1 AND coalesce(company_id, '') = ?2 \
                         AND email = ?3 AND status = 'pending'"
                    ))
                    .map_err(db_err)?
                    .query_row(params![org.as_str(), company.map(|c| c.as_str()).unwrap_or(""), email], row_to_inv)
                    .optional()
                    .map_err(db_err)
            }
        }
    };
}
inv_reads!(Conn<'_>);
inv_reads!(Tx<'_>);

impl Conn<'_> {
    /// Whether a token was replaced by a resend or re-address.
    pub fn invitation_token_retired(&self, token_hash: &[u8]) -> Result<bool> {
        self.0
            .prepare_cached("SELECT 1 FROM invitation_retired_tokens WHERE token_hash = ?1")
            .map_err(db_err)?
            .exists([token_hash])
            .map_err(db_err)
    }

    /// Invitations of an organization ordered by ID after `cursor` (`pending_only` filters).
    pub fn list_invitations(
        &self,
        org: &OrgId,
        pending_only: bool,
        after: &str,
        limit: usize,
    ) -> Result<Vec<InvitationRow>> {
        let mut stmt = self
            .0
            .prepare_cached(&format!(
                "SELECT {COLS} FROM invitations WHERE org_id = ?1 AND id > ?2 AND (?3 = 0 OR status = 'pending') \
                 ORDER BY id LIMIT ?4"
            ))
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![org.as_str(), after, pending_only, limit as i64],
                row_to_inv,
            )
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}

impl Tx<'_> {
    /// Inserts an invitation.
    pub fn insert_invitation(&self, i: &InvitationRow, token_hash: &[u8]) -> Result<()> {
        let ids: Vec<&str> = i.company_ids.iter().map(|c| c.as_str()).collect();
        self.0
            .execute(
                &format!("INSERT INTO invitations ({COLS}, token_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
                params![
                    i.id,
                    i.org_id.as_str(),
                    i.company_id.as_ref().map(|c| c.as_str()),
                    i.email,
                    i.role.as_str(),
                    i.all_companies,
                    serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()),
                    i.inviter_id.as_ref().map(|u| u.as_str()),
                    i.inviter_name,
                    i.status,
                    i.created_at,
                    i.expires_at,
                    i.accepted_at,
                    i.revoked_at,
                    i.inviter_key_id,
                    token_hash
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Gives a pending invitation a new token, address and expiry (resend / re-address).
    pub fn reissue_invitation(
        &self,
        id: &str,
        email: &str,
        token_hash: &[u8],
        expires_at: i64,
    ) -> Result<()> {
        // The old link is remembered so it answers "no longer valid", not "not found".
        self.0
            .execute(
                "INSERT OR IGNORE INTO invitation_retired_tokens (token_hash, invitation_id) \
                 SELECT token_hash, id FROM invitations WHERE id = ?1",
                [id],
            )
            .map_err(db_err)?;
        self.0
            .execute(
                "UPDATE invitations SET email = ?2, token_hash = ?3, expires_at = ?4 WHERE id = ?1 AND status = 'pending'",
                params![id, email, token_hash, expires_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Records who stands behind a pending invitation now (after a resend).
    pub fn set_invitation_inviter(&self, i: &InvitationRow) -> Result<()> {
        self.0
            .execute(
                "UPDATE invitations SET inviter_id = ?2, inviter_name = ?3, inviter_key_id = ?4 \
                 WHERE id = ?1 AND status = 'pending'",
                params![
                    i.id,
                    i.inviter_id.as_ref().map(|u| u.as_str()),
                    i.inviter_name,
                    i.inviter_key_id
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks a pending invitation accepted; false when it was not pending.
    pub fn accept_invitation(&self, id: &str, user: &UserId, now: i64) -> Result<bool> {
        Ok(self
            .0
            .execute(
                "UPDATE invitations SET status = 'accepted', accepted_at = ?3, accepted_by = ?2 WHERE id = ?1 AND status = 'pending'",
                params![id, user.as_str(), now],
            )
            .map_err(db_err)?
            == 1)
    }

    /// Marks a pending invitation revoked.
    pub fn revoke_invitation(&self, id: &str, now: i64) -> Result<bool> {
        Ok(self
            .0
            .execute(
                "UPDATE invitations SET status = 'revoked', revoked_at = ?2 WHERE id = ?1 AND status = 'pending'",
                params![id, now],
            )
            .map_err(db_err)?
            == 1)
    }
}
