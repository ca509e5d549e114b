//! The audit log: append-only, per organization, ordered by a sequence number.

use rusqlite::params;

use super::{db_err, Conn, Tx};
use crate::domain::entities::AuditEvent;
use crate::domain::{EventId, OrgId};
use crate::error::Result;

impl Tx<'_> {
    /// Appends an event (inside the mutation's own transaction).
    pub fn insert_audit(&self, org: &OrgId, e: &AuditEvent) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO audit_events (id, org_id, actor_type, actor_id, action, target_type, target_id, ip, details, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(db_err)?
            .execute(params![
                e.id.as_str(),
                org.as_str(),
                e.actor_type,
                e.actor_id,
                e.action,
                e.target_type,
                e.target_id,
                e.ip,
                e.details.to_string(),
                e.created_at
            ])
            .map_err(db_err)?;
        Ok(())
    }
}

/// Which events to read; `None` matches every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The actor's ID (`usr_…`, `key_…`), or `operator` for the CLI operator.
    pub actor: Option<String>,
    /// The exact action, e.g. `member.added`.
    pub action: Option<String>,
    /// At or after this time (Unix seconds).
    pub from: Option<i64>,
    /// Before this time (Unix seconds).
    pub to: Option<i64>,
}

impl Conn<'_> {
    /// The distinct actions in an organization's log, sorted.
    pub fn audit_actions(&self, org: &OrgId) -> Result<Vec<String>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT DISTINCT action FROM audit_events WHERE org_id = ?1 ORDER BY action",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([org.as_str()], |r| r.get(0))
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Events of an organization that match `q`, newest first, with sequence below `before`.
    pub fn list_audit(
        &self,
        org: &OrgId,
        q: &AuditQuery,
        before: i64,
        limit: usize,
    ) -> Result<Vec<(i64, AuditEvent)>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT seq, id, actor_type, actor_id, action, target_type, target_id, ip, details, created_at \
                 FROM audit_events WHERE org_id = ?1 AND seq < ?2 \
                 AND (?4 IS NULL OR actor_id = ?4 OR (?4 = 'operator' AND actor_type = 'operator')) \
                 AND (?5 IS NULL OR action = ?5) \
                 AND (?6 IS NULL OR created_at >= ?6) AND (?7 IS NULL OR created_at < ?7) \
                 ORDER BY seq DESC LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![
                    org.as_str(),
                    before,
                    limit as i64,
                    q.actor,
                    q.action,
                    q.from,
                    q.to
                ],
                |r| {
                    let details: String = r.get(8)?;
                    Ok((
                        r.get(0)?,
                        AuditEvent {
                            id: EventId::from_trusted(r.get(1)?),
                            actor_type: r.get(2)?,
                            actor_id: r.get(3)?,
                            action: r.get(4)?,
                            target_type: r.get(5)?,
                            target_id: r.get(6)?,
                            ip: r.get(7)?,
                            details: serde_json::from_str(&details).unwrap_or_default(),
                            created_at: r.get(9)?,
                        },
                    ))
                },
            )
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}
