//! Organization › API Keys: create (name, scopes, expiry) with the key shown once, a list
//! with last use (relative, exact on hover), use count and expiry, a page per key to
//! **Rotate** with a chosen overlap or **Revoke** (a key used in the last minutes asks again).
//! Everything goes through `service::api_keys`, as the API does.

use serde::Serialize;

use super::{done, posted, render, sentence, signed_in, when, Ctx, LearnMore, OptionView, Page};
use crate::domain::apikey::{KeyStatus, Scope};
use crate::domain::user::rfc3339;
use crate::error::{Error, FieldError, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::api_keys::{self, KeyView, RECENT_USE_SECS};
use crate::service::authz::{org_access, perm, OrgAccess};
use crate::service::now;
use crate::service::Context;

const LEARN: LearnMore = LearnMore {
    href: "/settings/help/organization",
    label: "API keys",
};

/// What each scope lets a key do, in words.
fn scope_words(s: Scope) -> &'static str {
    match s {
        Scope::OrgRead => "Read the organization",
        Scope::MembersRead => "List the admin team and company members",
        Scope::MembersWrite => "Add, change and remove members who are not owners",
        Scope::CompaniesRead => "Read companies, sites and data preferences",
        Scope::CompaniesWrite => {
            "Create and change companies, sites, data preferences and company members"
        }
        Scope::BillingRead => "Read billing and invoices",
        Scope::AuditRead => "Read the audit log",
        Scope::KeysVerify => "Check whether another key of this organization is valid",
    }
}

/// Expiry choices for a new key: (value, label, seconds from now).
const EXPIRIES: &[(&str, &str, Option<i64>)] = &[
    ("30d", "In 30 days", Some(30 * 86400)),
    ("90d", "In 90 days", Some(90 * 86400)),
    ("365d", "In one year", Some(365 * 86400)),
    ("never", "Never", None),
];

/// How long the old key keeps working after a rotation: (seconds, label).
const OVERLAPS: &[(i64, &str)] = &[
    (0, "Stop it now"),
    (3600, "One more hour"),
    (86400, "One more day"),
    (api_keys::MAX_OVERLAP_SECS, "Seven more days"),
];

/// "3 minutes ago", for a time in the past.
pub fn relative(now: i64, t: i64) -> String {
    let d = (now - t).max(0);
    let (n, unit) = match d {
        0..60 => return "just now".into(),
        60..3600 => (d / 60, "minute"),
        3600..86400 => (d / 3600, "hour"),
        _ => (d / 86400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

fn unix(s: &Option<String>) -> Option<i64> {
    s.as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
}

#[derive(Serialize)]
struct Scopes {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Serialize)]
struct CreateForm {
    action: String,
    csrf_token: String,
    error: Option<String>,
    name: String,
    name_error: Option<String>,
    scopes: Vec<Scopes>,
    scopes_error: Option<String>,
    expiries: Vec<OptionView>,
}

#[derive(Serialize)]
struct KeyRow {
    name: String,
    prefix: String,
    scopes: String,
    last_used: Option<String>,
    last_used_exact: String,
    last_used_iso: String,
    uses: i64,
    expires: String,
    status: &'static str,
    href: String,
}

#[derive(Serialize)]
struct KeysView {
    org: String,
    form: CreateForm,
    keys: Vec<KeyRow>,
    next_page: Option<String>,
}

fn keys_path(org: &str) -> String {
    super::org_href(org, "api_keys")
}

fn row(c: &Ctx, org: &str, k: &KeyView, now: i64) -> KeyRow {
    let last = unix(&k.last_used_at);
    KeyRow {
        name: k.name.clone(),
        prefix: format!("{}…", k.prefix),
        scopes: k
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        last_used: last.map(|t| relative(now, t)),
        last_used_exact: last.map(|t| when(&c.user, t)).unwrap_or_default(),
        last_used_iso: k.last_used_at.clone().unwrap_or_default(),
        uses: k.use_count,
        expires: unix(&k.expires_at).map_or_else(|| "Never".into(), |t| when(&c.user, t)),
        status: match k.status {
            KeyStatus::Revoked => "Revoked",
            KeyStatus::Expired => "Expired",
            KeyStatus::Active => "Active",
        },
        href: format!("{}/{}", keys_path(org), k.id),
    }
}

fn create_form(c: &Ctx, org: &str) -> CreateForm {
    CreateForm {
        action: format!("{}/create", keys_path(org)),
        csrf_token: c.session.csrf_token.clone(),
        error: None,
        name: String::new(),
        name_error: None,
        scopes: Scope::ALL
            .iter()
            .map(|s| Scopes {
                value: s.as_str(),
                label: scope_words(*s),
                checked: false,
            })
            .collect(),
        scopes_error: None,
        expiries: EXPIRIES
            .iter()
            .map(|(v, l, _)| OptionView {
                value: (*v).into(),
                label: (*l).into(),
                selected: *v == "90d",
            })
            .collect(),
    }
}

fn list_view(app: &Context, c: &Ctx, access: &OrgAccess, req: &Req) -> Result<KeysView> {
    let org = access.org_id().to_string();
    let page = api_keys::list(
        app,
        &access.permit()?,
        req.query_param("after").as_deref(),
        50,
    )?;
    let now = now();
    Ok(KeysView {
        org: access.org().name.clone(),
        form: create_form(c, &org),
        keys: page.data.iter().map(|k| row(c, &org, k, now)).collect(),
        next_page: page.next_cursor.map(|cur| {
            format!(
                "{}?after={}",
                keys_path(&org),
                form_urlencoded::byte_serialize(cur.as_bytes()).collect::<String>()
            )
        }),
    })
}

fn notice(req: &Req) -> Option<&'static str> {
    match req.query_param("notice")?.as_str() {
        "revoked" => Some("The key is revoked. Requests with it fail from now on."),
        _ => None,
    }
}

fn page<T: Serialize>(
    app: &Context,
    c: &Ctx,
    title: &str,
    template: &str,
    data: &T,
    n: Option<&str>,
    status: u16,
) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title,
            template,
            data,
            notice: n,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/orgs/{org}/api-keys` (reached through the section dispatcher).
pub fn show(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let v = list_view(app, c, &access, req)?;
    page(
        app,
        c,
        "API Keys",
        "settings/api_keys",
        &v,
        notice(req),
        200,
    )
}

#[derive(Serialize)]
struct SecretView {
    heading: &'static str,
    name: String,
    key: String,
    scopes: String,
    note: Option<String>,
    back: String,
}

/// `POST /settings/orgs/{org}/api-keys/create`: the new key, shown on this answer only.
pub fn create(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let mut name = String::new();
    let mut scopes = Vec::new();
    let mut expiry = String::new();
    for (k, v) in form_urlencoded::parse(&req.body) {
        match &*k {
            "name" => name = v.into_owned(),
            "scope" => scopes.push(v.into_owned()),
            "expiry" => expiry = v.into_owned(),
            _ => {}
        }
    }
    let mut errs: Vec<FieldError> = Vec::new();
    let expires_at = match EXPIRIES.iter().find(|(v, _, _)| *v == expiry) {
        Some((_, _, secs)) => secs.map(|s| rfc3339(now() + s)),
        None => {
            errs.push(FieldError::new("expiry", "choose when the key expires"));
            None
        }
    };
    // Say everything wrong at once (the service stops at the first problem).
    crate::domain::user::validate_name("name", &name, &mut errs);
    if scopes.is_empty() {
        errs.push(FieldError::new("scopes", "give at least one scope"));
    }
    if errs.is_empty() {
        match access.permit::<perm::ApiKeysManage>().and_then(|permit| {
            api_keys::create(app, &permit, &name, &scopes, expires_at.as_deref())
        }) {
            Ok(k) => {
                let v = SecretView {
                    heading: "Your new API key",
                    name: k.view.name.clone(),
                    scopes: k
                        .view
                        .scopes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    key: k.key,
                    note: None,
                    back: keys_path(access.org_id().as_str()),
                };
                return page(
                    app,
                    &c,
                    "New API key",
                    "settings/api_key_secret",
                    &v,
                    None,
                    201,
                );
            }
            Err(e) => errs = super::field_errors(e)?,
        }
    }
    let mut v = list_view(app, &c, &access, req)?;
    v.form.name = name;
    for s in &mut v.form.scopes {
        s.checked = scopes.iter().any(|x| x == s.value);
    }
    for o in &mut v.form.expiries {
        o.selected = o.value == expiry;
    }
    for e in &errs {
        let msg = sentence(&e.message);
        if e.field == "name" {
            v.form.name_error = Some(msg);
        } else if e.field.starts_with("scopes") {
            v.form.scopes_error = Some(msg);
        } else {
            v.form.error = Some(msg);
        }
    }
    if v.form.error.is_none() {
        v.form.error = Some("Please correct the fields marked below.".into());
    }
    page(app, &c, "API Keys", "settings/api_keys", &v, None, 422)
}

#[derive(Serialize)]
struct KeyPage {
    org: String,
    key: KeyRow,
    csrf_token: String,
    rotate_action: String,
    overlaps: Vec<OptionView>,
    revoke_action: String,
    revoke_question: String,
    active: bool,
    recent: Option<String>,
    back: String,
}

fn find(app: &Context, access: &OrgAccess, id: &str) -> Result<KeyView> {
    let mut cursor: Option<String> = None;
    loop {
        let page = api_keys::list(app, &access.permit()?, cursor.as_deref(), 200)?;
        if let Some(k) = page.data.into_iter().find(|k| k.id.as_str() == id) {
            return Ok(k);
        }
        cursor = Some(page.next_cursor.ok_or(Error::NotFound)?);
    }
}

fn key_page(
    app: &Context,
    c: &Ctx,
    access: &OrgAccess,
    id: &str,
    recent: Option<String>,
) -> Result<KeyPage> {
    let org = access.org_id().to_string();
    let k = find(app, access, id)?;
    let base = format!("{}/{}", keys_path(&org), k.id);
    Ok(KeyPage {
        org: access.org().name.clone(),
        csrf_token: c.session.csrf_token.clone(),
        rotate_action: format!("{base}/rotate"),
        overlaps: OVERLAPS
            .iter()
            .map(|(s, l)| OptionView {
                value: s.to_string(),
                label: (*l).into(),
                selected: *s == 86400,
            })
            .collect(),
        revoke_action: format!("{base}/revoke"),
        revoke_question: format!(
            "Revoke {}? Requests with it fail from the next one.",
            k.name
        ),
        active: k.status == KeyStatus::Active,
        recent,
        back: keys_path(&org),
        key: row(c, &org, &k, now()),
    })
}

/// `GET /settings/orgs/{org}/api-keys/{key}`: rotate or revoke one key.
pub fn key(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let v = key_page(app, &c, &access, req.param("key"), None)?;
    page(app, &c, "API key", "settings/api_key", &v, None, 200)
}

/// `POST /settings/orgs/{org}/api-keys/{key}/rotate` (`overlap` seconds): the successor,
/// shown once.
pub fn rotate(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let overlap = req
        .form()
        .get("overlap")
        .and_then(|o| o.parse::<i64>().ok())
        .filter(|o| OVERLAPS.iter().any(|(s, _)| s == o));
    let Some(overlap) = overlap else {
        let mut v = key_page(app, &c, &access, req.param("key"), None)?;
        v.recent = Some("Choose how long the old key keeps working.".into());
        return page(app, &c, "API key", "settings/api_key", &v, None, 422);
    };
    let r = api_keys::rotate(app, &access.permit()?, req.param("key"), overlap)?;
    let old_until = unix(&r.old_key.expires_at).map(|t| when(&c.user, t));
    let v = SecretView {
        heading: "Your rotated API key",
        name: r.new_key.view.name.clone(),
        scopes: r.new_key.view.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
        key: r.new_key.key,
        note: Some(match old_until {
            Some(t) if overlap > 0 => format!("The old key keeps working until {t}. Move every integration to the new key before then."),
            _ => "The old key has stopped working.".into(),
        }),
        back: keys_path(access.org_id().as_str()),
    };
    page(
        app,
        &c,
        "Rotated API key",
        "settings/api_key_secret",
        &v,
        None,
        201,
    )
}

/// `POST /settings/orgs/{org}/api-keys/{key}/revoke`; a key used in the last minutes comes
/// back with the question "used … ago — revoke anyway?" (`force=true` answers it).
pub fn revoke(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let force = req.form().get("force").is_some_and(|f| f == "true");
    match access
        .permit::<perm::ApiKeysManage>()
        .and_then(|permit| api_keys::revoke(app, &permit, req.param("key"), force))
    {
        Ok(()) => Ok(done(&keys_path(access.org_id().as_str()), "revoked")),
        Err(Error::KeyRecentlyUsed { last_used_at }) => {
            let ago =
                unix(&Some(last_used_at)).map_or_else(|| "recently".into(), |t| relative(now(), t));
            let question = format!(
                "This key was used {ago} — revoke anyway? Integrations still using it will fail. (The question comes for keys used in the last {} minutes.)",
                RECENT_USE_SECS / 60
            );
            let v = key_page(app, &c, &access, req.param("key"), Some(question))?;
            page(app, &c, "API key", "settings/api_key", &v, None, 409)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(1000, 990), "just now");
        assert_eq!(relative(1000, 880), "2 minutes ago");
        assert_eq!(relative(10_000, 10_000 - 3600), "1 hour ago");
        assert_eq!(relative(1_000_000, 1_000_000 - 3 * 86400), "3 days ago");
    }
}
