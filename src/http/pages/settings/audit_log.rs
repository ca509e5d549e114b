//! Organization › Audit Log: who changed what and when, newest first, paged, with times in
//! the person's time zone and date format, filtered by actor, action and a date range (days in
//! the person's time zone); the paging links keep the filters.

use std::collections::HashMap;

use serde::Serialize;

use super::{org_href, render, when, Ctx, LearnMore, Page};
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{org_access, perm};
use crate::service::Context;
use crate::service::{audit, members};

#[derive(Serialize)]
struct EventRow {
    when: String,
    actor: String,
    action: String,
    target: String,
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct AuditView {
    org: String,
    action: String,
    actors: Vec<Choice>,
    actions: Vec<Choice>,
    from: String,
    to: String,
    from_error: Option<String>,
    to_error: Option<String>,
    filtered: bool,
    events: Vec<EventRow>,
    older: Option<String>,
    newest: Option<String>,
    error: Option<String>,
}

/// A `YYYY-MM-DD` day in a time zone: the Unix time of its first second, or of the next
/// day's when `next` (so that a "to" day is included whole).
fn day_start(day: &str, tz: chrono_tz::Tz, next: bool) -> Option<i64> {
    use chrono::TimeZone;
    let mut d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    if next {
        d = d.succ_opt()?;
    }
    // A day that starts in a daylight-saving gap starts at the first hour that exists.
    (0..3).find_map(|h| {
        tz.from_local_datetime(&d.and_hms_opt(h, 0, 0)?)
            .earliest()
            .map(|t| t.timestamp())
    })
}

/// An action identifier as words: `member.added` → "Member added".
fn action_words(a: &str) -> String {
    super::sentence(&a.replace(['.', '_'], " "))
        .trim_end_matches('.')
        .to_string()
}

/// `GET /settings/orgs/{org}/audit-log` (through the section dispatcher): `?actor=`,
/// `?action=`, `?from=` and `?to=` (days, in the person's time zone) filter; `?before=` pages.
pub fn show(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let base = org_href(access.org_id().as_str(), "audit_log");
    let before = req.query_param("before");
    let permit = access.permit::<perm::AuditRead>()?;
    let param = |n: &str| {
        req.query_param(n)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let tz: chrono_tz::Tz = c
        .user
        .preferences
        .timezone
        .parse()
        .unwrap_or(chrono_tz::UTC);
    let bad_day = "Enter a day like 2026-01-31.".to_string();
    let (from_text, to_text) = (param("from"), param("to"));
    let from = from_text.as_deref().map(|d| day_start(d, tz, false));
    let to = to_text.as_deref().map(|d| day_start(d, tz, true));
    let from_error = matches!(from, Some(None)).then(|| bad_day.clone());
    let mut to_error = matches!(to, Some(None)).then(|| bad_day.clone());
    let (from, to) = (from.flatten(), to.flatten());
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            to_error = Some("Choose a day on or after the first day.".into());
        }
    }
    let mut filter = audit::filter_from_params(
        param("actor").as_deref(),
        param("action").as_deref(),
        None,
        None,
    )
    .unwrap_or_default();
    if from_error.is_none() && to_error.is_none() {
        filter.from = from;
        filter.to = to;
    }
    // The filters, for the paging links.
    let mut keep = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("from", &from_text),
        ("to", &to_text),
    ] {
        if let Some(v) = v {
            keep.append_pair(k, v);
        }
    }
    let keep = keep.finish();
    let filtered_base = if keep.is_empty() {
        base.clone()
    } else {
        format!("{base}?{keep}")
    };
    let sep = if keep.is_empty() { "?" } else { "&" };
    let (page, error) = match audit::list_filtered(app, &permit, &filter, before.as_deref(), 50) {
        Ok(p) => (p, None),
        Err(Error::Validation(_)) => (
            audit::list_filtered(app, &permit, &filter, None, 50)?,
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
    let mut people: Vec<(&String, &String)> = names.iter().collect();
    people.sort_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)));
    let mut actors = vec![Choice {
        value: String::new(),
        label: "Anyone".into(),
        selected: filter.actor.is_none(),
    }];
    actors.extend(people.into_iter().map(|(id, name)| Choice {
        selected: filter.actor.as_ref() == Some(id),
        value: id.clone(),
        label: name.clone(),
    }));
    actors.push(Choice {
        value: "operator".into(),
        label: "The instance operator".into(),
        selected: filter.actor.as_deref() == Some("operator"),
    });
    let mut actions = vec![Choice {
        value: String::new(),
        label: "Any action".into(),
        selected: filter.action.is_none(),
    }];
    actions.extend(audit::actions(app, &permit)?.into_iter().map(|a| Choice {
        selected: filter.action.as_ref() == Some(&a),
        label: action_words(&a),
        value: a,
    }));
    let status = if from_error.is_some() || to_error.is_some() {
        422
    } else {
        200
    };
    let view = AuditView {
        org: access.org().name.clone(),
        action: base.clone(),
        actors,
        actions,
        from: from_text.clone().unwrap_or_default(),
        to: to_text.clone().unwrap_or_default(),
        from_error,
        to_error,
        filtered: !keep.is_empty(),
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
        older: page
            .next_cursor
            .map(|c| format!("{filtered_base}{sep}before={c}")),
        newest: before.is_some().then(|| filtered_base.clone()),
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
            status,
        },
    )
}
