//! Audit events: written by every mutation inside its own transaction, read by owners and
//! admins. Details carry changed field names and values, never secret values.

use serde_json::Value;

use crate::domain::entities::AuditEvent;
use crate::domain::{AuditAction, CompanyId, EventId, OrgId};
use crate::error::FieldError;
use crate::error::{Error, Result};
use crate::service::authz::{perm, Permit, Principal};
use crate::service::Context;
use crate::service::{now, Page};
use crate::store::{AuditQuery, Tx};

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
    action: AuditAction,
    target: (&str, &str),
    details: Value,
) -> Result<()> {
    tx.insert_audit(
        org,
        &AuditEvent {
            id: EventId::generate(),
            actor_type: actor.kind.to_string(),
            actor_id: actor.id.clone(),
            action: action.as_str().to_string(),
            target_type: target.0.to_string(),
            target_id: target.1.to_string(),
            ip: actor.ip.clone(),
            details,
            created_at: now(),
        },
    )
}

/// Company IDs an event is about: a company target, and every `cmp_…` string in its
/// details (the `company` of site, member and invitation events, company access lists).
fn companies_of(e: &AuditEvent) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.starts_with("cmp_") => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if e.target_type == "company" {
        out.push(e.target_id.clone());
    }
    walk(&e.details, &mut out);
    out
}

/// Whether a company-limited reader may see an event: every company it is about must be in
/// their access, and a grant of access to all companies is not theirs to see. Events about
/// no company (organization settings, members without company lists) stay visible.
fn visible_to(limit: Option<&[CompanyId]>, e: &AuditEvent) -> bool {
    let Some(mine) = limit else {
        return true;
    };
    if e.details.get("company_access").and_then(Value::as_str) == Some("all") {
        return false;
    }
    companies_of(e)
        .iter()
        .all(|c| mine.iter().any(|m| m.as_str() == c))
}

/// Filters for the audit log: who, which action, and a time range.
pub type AuditFilter = AuditQuery;

const MAX_FILTER_LEN: usize = 200;

/// Builds a filter from the API's query parameters: `actor` (a `usr_…` or `key_…` ID, or
/// `operator`), `action` (exact), `from` and `to` (RFC 3339; `from` inclusive, `to`
/// exclusive). Empty values are no filter.
pub fn filter_from_params(
    actor: Option<&str>,
    action: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<AuditFilter> {
    let mut errs = Vec::new();
    let mut text = |name: &str, v: Option<&str>| -> Option<String> {
        let v = v.map(str::trim).filter(|v| !v.is_empty())?;
        if v.chars().count() > MAX_FILTER_LEN || v.chars().any(char::is_control) {
            errs.push(FieldError::new(
                name,
                format!("must be at most {MAX_FILTER_LEN} printable characters"),
            ));
            return None;
        }
        Some(v.to_string())
    };
    let actor = text("actor", actor);
    let action = text("action", action);
    let mut time = |name: &str, v: Option<&str>| -> Option<i64> {
        let v = v.map(str::trim).filter(|v| !v.is_empty())?;
        match chrono::DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t.timestamp()),
            Err(_) => {
                errs.push(FieldError::new(
                    name,
                    "must be a date and time like 2026-01-31T00:00:00Z",
                ));
                None
            }
        }
    };
    // A `to` before `from` is a well-formed query that selects nothing.
    let (from, to) = (time("from", from), time("to", to));
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    Ok(AuditFilter {
        actor,
        action,
        from,
        to,
    })
}

/// The actions that occur in an organization's log, for a filter's choices.
pub fn actions(app: &Context, permit: &Permit<'_, perm::AuditRead>) -> Result<Vec<String>> {
    app.store.read(|c| c.audit_actions(permit.org_id()))
}

/// The audit log of an organization, newest first; the cursor is stable under inserts. A
/// company-limited admin sees the events of their companies and the organization-level
/// events that name no other company.
pub fn list(
    app: &Context,
    permit: &Permit<'_, perm::AuditRead>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<AuditEvent>> {
    list_filtered(app, permit, &AuditFilter::default(), cursor, limit)
}

/// [`list`] with only the events that match `filter` (with the same confinement for
/// company-limited admins); the cursor of a page is valid with the same filter.
pub fn list_filtered(
    app: &Context,
    permit: &Permit<'_, perm::AuditRead>,
    filter: &AuditFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<AuditEvent>> {
    let mut before = match cursor {
        None => i64::MAX,
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| Error::field("cursor", "is not a cursor returned by this list"))?,
    };
    let confine = permit.access().company_limit();
    let mut rows = Vec::new();
    // Filtering can thin a batch out; read on until the page is full or the log ends.
    loop {
        let batch = app
            .store
            .read(|c| c.list_audit(permit.org_id(), filter, before, limit + 1))?;
        let done = batch.len() <= limit;
        if let Some((seq, _)) = batch.last() {
            before = *seq;
        }
        rows.extend(batch.into_iter().filter(|(_, e)| visible_to(confine, e)));
        if done || rows.len() > limit {
            break;
        }
    }
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
