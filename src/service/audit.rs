//! Audit events: written by every mutation inside its own transaction, read by owners and
//! admins. Details carry changed field names and values, never secret values.

use serde_json::Value;

use crate::app::App;
use crate::domain::entities::AuditEvent;
use crate::domain::{EventId, OrgId, Permission};
use crate::error::{Error, Result};
use crate::service::authz::{OrgAccess, Principal};
use crate::service::{now, Page};
use crate::store::Tx;

/// Who did it, for the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `user` | `api_key` | `operator`.
    pub kind: &'static str,
    /// User or key ID.
    pub id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

impl Actor {
    /// The actor for a signed-in principal.
    pub fn of(p: &Principal) -> Actor {
        let (kind, id) = match &p.subject {
            crate::service::authz::Subject::User(u) => ("user", u.id.to_string()),
            crate::service::authz::Subject::ApiKey(k) => ("api_key", k.key_id.to_string()),
        };
        Actor {
            kind,
            id: Some(id),
            ip: Some(p.client_ip.clone()).filter(|s| !s.is_empty()),
        }
    }

    /// The CLI operator.
    pub fn operator() -> Actor {
        Actor {
            kind: "operator",
            id: None,
            ip: None,
        }
    }
}

/// Appends one event in the caller's transaction.
pub fn record(
    tx: &Tx<'_>,
    org: &OrgId,
    actor: &Actor,
    action: &str,
    target: (&str, &str),
    details: Value,
) -> Result<()> {
    tx.insert_audit(
        org,
        &AuditEvent {
            id: EventId::generate(),
            actor_type: actor.kind.to_string(),
            actor_id: actor.id.clone(),
            action: action.to_string(),
            target_type: target.0.to_string(),
            target_id: target.1.to_string(),
            ip: actor.ip.clone(),
            details,
            created_at: now(),
        },
    )
}

/// The audit log of an organization, newest first; the cursor is stable under inserts.
pub fn list(
    app: &App,
    access: &OrgAccess,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<AuditEvent>> {
    access.require(Permission::AuditRead)?;
    let before = match cursor {
        None => i64::MAX,
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| Error::field("cursor", "is not a cursor returned by this list"))?,
    };
    let mut rows = app
        .store
        .read(|c| c.list_audit(access.org_id(), before, limit + 1))?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(seq, _)| seq.to_string())
    } else {
        None
    };
    Ok(Page {
        data: rows.into_iter().map(|(_, e)| e).collect(),
        next_cursor,
    })
}
