//! Personal settings: General, Preferences, Membership (Security is in `security.rs`).

use serde::Serialize;

use super::{
    done, field_errors, posted, render, signed_in, when, Ctx, FieldView, FormView, LearnMore, Page,
};
use crate::domain::entities::Via;
use crate::domain::{Auth, Preferences};
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::Context;
use crate::service::{self, me};

pub(super) const LEARN: LearnMore = LearnMore {
    href: "/settings/help/personal",
    label: "personal settings",
};

/// The date formats people can choose. The choice is stored as the locale preference, which
/// decides how dates are written: (locale, chrono format).
pub const DATE_FORMATS: &[(&str, &str)] = &[
    ("en", "%Y-%m-%d %H:%M"),
    ("en-US", "%m/%d/%Y %-I:%M %p"),
    ("en-GB", "%d/%m/%Y %H:%M"),
    ("de-DE", "%d.%m.%Y %H:%M"),
];

/// A unix time written in a person's time zone and date format (with the zone's name).
pub fn format_time(prefs: &Preferences, unix: i64) -> String {
    let tz: chrono_tz::Tz = prefs.timezone.parse().unwrap_or(chrono_tz::UTC);
    let fmt = DATE_FORMATS
        .iter()
        .find(|(l, _)| *l == prefs.locale)
        .map_or(DATE_FORMATS[0].1, |(_, f)| *f);
    match chrono::DateTime::from_timestamp(unix, 0) {
        Some(t) => format!("{} ({})", t.with_timezone(&tz).format(fmt), prefs.timezone),
        None => String::new(),
    }
}

/// Every IANA time zone, for a time zone picker: (value, label).
pub fn zone_options() -> Vec<(String, String)> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| (z.name().to_string(), z.name().replace('_', " ")))
        .collect()
}

pub(super) fn notice_text(req: &Req) -> Option<&'static str> {
    match req.query_param("notice")?.as_str() {
        "name_saved" => Some("Your name is saved."),
        "reset_sent" => Some("We sent you an email with a link to choose a new password."),
        "verification_sent" => Some("We sent you an email with a link to confirm your address."),
        "email_change_sent" => Some(
            "Check your inbox: we sent a link to the new address. Your address changes when you follow it (within 24 hours).",
        ),
        "preferences_saved" => Some("Your preferences are saved."),
        _ => None,
    }
}

#[derive(Serialize)]
struct GeneralView {
    name_form: FormView,
    email: String,
    email_verified: bool,
    verify_form: Option<FormView>,
    sso_provider: Option<String>,
    reset_form: FormView,
    email_form: Option<FormView>,
}

fn general_view(c: &Ctx) -> GeneralView {
    let u = &c.user;
    GeneralView {
        name_form: FormView::new(
            c,
            "/settings/personal/general/name",
            "Save name",
            vec![FieldView::input("name", "Name", "text", &u.name).autocomplete("name")],
        ),
        email: u.email.as_str().to_string(),
        email_verified: u.email_verified,
        verify_form: (!u.email_verified).then(|| {
            FormView::new(
                c,
                "/settings/personal/general/verify-email",
                "Send confirmation email",
                vec![],
            )
        }),
        sso_provider: (u.auth == Auth::Sso).then(|| {
            u.sso_provider
                .clone()
                .unwrap_or_else(|| "single sign-on".into())
        }),
        reset_form: FormView::new(
            c,
            "/settings/personal/general/password-reset",
            "Send password reset email",
            vec![],
        ),
        email_form: (u.auth != Auth::Sso).then(|| {
            FormView::new(
                c,
                "/settings/personal/general/email",
                "Change email",
                vec![
                    FieldView::input("email", "New email address", "email", "")
                        .autocomplete("email"),
                    FieldView::input("password", "Current password", "password", "")
                        .autocomplete("current-password")
                        .hint("To protect your account, confirm it is you."),
                ],
            )
        }),
    }
}

fn general_page(
    app: &Context,
    c: &Ctx,
    view: &GeneralView,
    notice: Option<&str>,
    status: u16,
) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title: "General",
            template: "settings/general",
            data: view,
            notice,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/personal/general`.
pub fn general(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    general_page(app, &c, &general_view(&c), notice_text(req), 200)
}

/// `POST /settings/personal/general/name`.
pub fn save_name(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let form = req.form();
    let name = form.get("name").cloned().unwrap_or_default();
    match me::update_name(app, &c.session.principal, &name) {
        Ok(_) => Ok(done("/settings/personal/general", "name_saved")),
        Err(e) => {
            let errs = field_errors(e)?;
            let mut view = general_view(&c);
            view.name_form = view.name_form.with_errors(&form, &errs);
            general_page(app, &c, &view, None, 422)
        }
    }
}

/// `POST /settings/personal/general/password-reset`: "Send password reset email".
pub fn send_reset(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    match service::passwords::request_for_me(app, &c.session.principal) {
        Ok(()) => Ok(done("/settings/personal/general", "reset_sent")),
        Err(e) => {
            let msg = match e {
                Error::SsoManaged => "Your password is managed by your IT administrator, so there is no password to reset here.".to_string(),
                Error::RateLimited { retry_after_secs } => format!(
                    "We sent a reset email a moment ago. Check your inbox, or try again in {} minutes.",
                    retry_after_secs.div_ceil(60).max(1)
                ),
                other => return Err(other),
            };
            let mut view = general_view(&c);
            view.reset_form.error = Some(msg);
            general_page(app, &c, &view, None, 429)
        }
    }
}

/// `POST /settings/personal/general/email`: "Change email" (new address + current password);
/// the link goes to the new address, the page answers the same whether or not it is taken.
pub fn change_email(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let form = req.form();
    let email = form.get("email").cloned().unwrap_or_default();
    let password = crate::crypto::Secret::new(form.get("password").cloned().unwrap_or_default());
    let result = service::email_change::request(app, &c.session.principal, &email, &password);
    let mut view = general_view(&c);
    let status = match result {
        Ok(()) => return Ok(done("/settings/personal/general", "email_change_sent")),
        Err(Error::SsoManaged) => {
            // The form is not shown to SSO users; a forged post gets the page's explanation.
            return general_page(app, &c, &view, None, 409);
        }
        Err(Error::RateLimited { retry_after_secs }) => {
            if let Some(f) = view.email_form.as_mut() {
                f.error = Some(format!(
                    "Too many attempts or requests. Try again in {} minutes.",
                    retry_after_secs.div_ceil(60).max(1)
                ));
            }
            429
        }
        Err(e) => {
            let errs = field_errors(e)?;
            view.email_form = view.email_form.map(|f| f.with_errors(&form, &errs));
            422
        }
    };
    general_page(app, &c, &view, None, status)
}

/// `POST /settings/personal/general/verify-email`: sends a new confirmation link.
pub fn send_verification(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    match service::passwords::resend_verification(app, &c.session.principal) {
        Ok(()) => Ok(done("/settings/personal/general", "verification_sent")),
        Err(Error::Conflict(_)) => Ok(Resp::see_other("/settings/personal/general")),
        Err(Error::RateLimited { retry_after_secs }) => {
            let mut view = general_view(&c);
            if let Some(f) = view.verify_form.as_mut() {
                f.error = Some(format!(
                    "We sent a confirmation email a moment ago. Check your inbox, or try again in {} minutes.",
                    retry_after_secs.div_ceil(60).max(1)
                ));
            }
            general_page(app, &c, &view, None, 429)
        }
        Err(e) => Err(e),
    }
}

#[derive(Serialize)]
struct PreferencesView {
    example: String,
    form: FormView,
}

fn preferences_view(c: &Ctx) -> PreferencesView {
    let p = &c.user.preferences;
    let now = service::now();
    let zones = zone_options();
    let formats = DATE_FORMATS
        .iter()
        .map(|(l, _)| {
            let sample = Preferences {
                locale: l.to_string(),
                timezone: "UTC".into(),
                theme: p.theme,
            };
            let shown = format_time(&sample, now);
            (l.to_string(), shown.trim_end_matches(" (UTC)").to_string())
        })
        .collect();
    let locale = if DATE_FORMATS.iter().any(|(l, _)| *l == p.locale) {
        p.locale.as_str()
    } else {
        DATE_FORMATS[0].0
    };
    PreferencesView {
        example: when(&c.user, now),
        form: FormView::new(
            c,
            "/settings/personal/preferences",
            "Save preferences",
            vec![
                FieldView::select("timezone", "Time zone", &p.timezone, zones)
                    .hint("Dates and times are shown in this zone."),
                FieldView::select("date_format", "Date format", locale, formats),
            ],
        ),
    }
}

fn preferences_page(
    app: &Context,
    c: &Ctx,
    view: &PreferencesView,
    notice: Option<&str>,
    status: u16,
) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title: "Preferences",
            template: "settings/preferences",
            data: view,
            notice,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/personal/preferences`.
pub fn preferences(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    preferences_page(app, &c, &preferences_view(&c), notice_text(req), 200)
}

/// `POST /settings/personal/preferences`.
pub fn save_preferences(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let form = req.form();
    let timezone = form.get("timezone").cloned().unwrap_or_default();
    let date_format = form.get("date_format").cloned().unwrap_or_default();
    let mut errs = Vec::new();
    if !DATE_FORMATS.iter().any(|(l, _)| *l == date_format) {
        errs.push(crate::error::FieldError::new(
            "date_format",
            "choose one of the listed date formats",
        ));
    }
    if errs.is_empty() {
        let input = me::PreferencesInput {
            locale: date_format,
            timezone,
            theme: c.user.preferences.theme.as_str().to_string(),
        };
        match me::put_preferences(app, &c.session.principal, input) {
            Ok(_) => return Ok(done("/settings/personal/preferences", "preferences_saved")),
            Err(e) => errs = field_errors(e)?,
        }
    }
    let errs: Vec<_> = errs
        .into_iter()
        .map(|mut e| {
            if e.field == "timezone" {
                e.message = "choose a time zone from the list".into();
            }
            e
        })
        .collect();
    let mut view = preferences_view(&c);
    view.form = view.form.with_errors(&form, &errs);
    preferences_page(app, &c, &view, None, 422)
}

#[derive(Serialize)]
struct OrgRow {
    name: String,
    role: &'static str,
    access: String,
}

#[derive(Serialize)]
struct CompanyRow {
    name: String,
    role: &'static str,
    via: &'static str,
}

#[derive(Serialize)]
struct MembershipView {
    orgs: Vec<OrgRow>,
    companies: Vec<CompanyRow>,
}

/// A role as people say it.
pub fn role_label(role: &str) -> &'static str {
    match role {
        "owner" => "Owner",
        "admin" => "Admin",
        "billing" => "Billing",
        "member" => "Member",
        "viewer" => "Viewer",
        _ => "Unknown",
    }
}

/// `GET /settings/personal/membership`: the organization and every company, with the role.
pub fn membership(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let m = service::access::memberships(app, &c.session.principal)?;
    let view = MembershipView {
        orgs: m
            .organizations
            .iter()
            .map(|o| OrgRow {
                name: o.name.clone(),
                role: role_label(o.role.as_str()),
                access: match &o.company_access {
                    crate::domain::CompanyAccess::All => "All companies".into(),
                    crate::domain::CompanyAccess::List(ids) => {
                        let names: Vec<&str> = m
                            .companies
                            .iter()
                            .filter(|co| ids.contains(&co.id))
                            .map(|co| co.name.as_str())
                            .collect();
                        if names.is_empty() {
                            "No companies yet".into()
                        } else {
                            names.join(", ")
                        }
                    }
                },
            })
            .collect(),
        companies: m
            .companies
            .iter()
            .map(|co| CompanyRow {
                name: co.name.clone(),
                role: role_label(co.role.as_str()),
                via: match co.via {
                    Via::Organization => "Through the organization",
                    Via::Direct => "Added to the company directly",
                },
            })
            .collect(),
    };
    render(
        app,
        &c,
        Page {
            title: "Membership",
            template: "settings/membership",
            data: &view,
            notice: None,
            learn_more: Some(LEARN),
            status: 200,
        },
    )
}
