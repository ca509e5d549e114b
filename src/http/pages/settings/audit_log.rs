//! Organization › Audit Log: who changed what and when, newest first, paged, with times in
//! the person's time zone and date format. (Filtering by actor, action and date needs a
//! filtered query in `service::audit`; the page shows the whole log until then.)

use std::collections::HashMap;

use serde::Serialize;

use super::{org_href, render, when, Ctx, LearnMore, Page};
use crate::app::App;
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{org_access, perm};
use crate::service::{audit, members};

#[derive(Serialize)]
struct EventRow {
    when: String,
    actor: String,
    action: String,
    target: String,
}

#[derive(Serialize)]
struct AuditView {
    org: String,
    events: Vec<EventRow>,
    older: Option<String>,
    newest: Option<String>,
    error: Option<String>,
}

/// An action identifier as words: `member.added` → "Member added".
fn action_words(a: &str) -> String {
    super::sentence(&a.replace(['.', '_'], " "))
        .trim_end_matches('.')
        .to_string()
}

/// `GET /settings/orgs/{org}/audit-log` (through the section dispatcher); `?before=` pages.
pub fn show(app: &App, c: &Ctx, req: &Req) -> Result<Resp> {
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let base = org_href(access.org_id().as_str(), "audit_log");
    let before = req.query_param("before");
    let permit = access.permit::<perm::AuditRead>()?;
    let (page, error) = match audit::list(app, &permit, before.as_deref(), 50) {
        Ok(p) => (p, None),
        Err(Error::Validation(_)) => (
            audit::list(app, &permit, None, 50)?,
            Some("That page of the log does not exist; here are the newest events.".to_string()),
        ),
        Err(e) => return Err(e),
    };
    // Names of the people in the log, from the admin team (others are shown by kind).
    let mut names: HashMap<String, String> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let m = members::list(app, &access.permit()?, cursor.as_deref(), 200)?;
        names.extend(m.data.into_iter().map(|m| (m.user_id.to_string(), m.name)));
        match m.next_cursor {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let view = AuditView {
        org: access.org().name.clone(),
        events: page
            .data
            .iter()
            .map(|e| EventRow {
                when: when(&c.user, e.created_at),
                actor: match (e.actor_type.as_str(), &e.actor_id) {
                    ("user", Some(id)) => names
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| "A former member".into()),
                    ("api_key", Some(id)) => format!("API key {id}"),
                    ("operator", _) => "The instance operator".into(),
                    _ => "Unknown".into(),
                },
                action: action_words(&e.action),
                target: format!("{} {}", e.target_type.replace('_', " "), e.target_id),
            })
            .collect(),
        older: page.next_cursor.map(|c| format!("{base}?before={c}")),
        newest: before.is_some().then(|| base.clone()),
        error,
    };
    render(
        app,
        c,
        Page {
            title: "Audit Log",
            template: "settings/audit_log",
            data: &view,
            notice: None,
            learn_more: Some(LearnMore {
                href: "/settings/help/organization",
                label: "the audit log",
            }),
            status: 200,
        },
    )
}
