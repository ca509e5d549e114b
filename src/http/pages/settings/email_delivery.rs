//! Instance › Email Delivery (instance administrators): how many messages the outbox holds in
//! each status, the failed ones (recipient masked, subject, template, attempts, last error and
//! time; never the body), paged, and **Retry** for a failed message whose content is still
//! stored. Anyone else gets "page not found", as for any instance section.

use serde::Serialize;

use super::{posted, render, signed_in, when, Ctx, LearnMore, Page};
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{self, InstanceAdmin};
use crate::service::invitations::mask_email;
use crate::service::mail;
use crate::service::Context;

/// The page's address.
pub const PATH: &str = "/settings/instance/email-delivery";
const PAGE_SIZE: usize = 25;

#[derive(Serialize)]
struct CountView {
    label: &'static str,
    count: i64,
}

#[derive(Serialize)]
struct FailedView {
    recipient: String,
    subject: String,
    template: String,
    attempts: i64,
    last_error: String,
    when: String,
    retry_action: Option<String>,
}

#[derive(Serialize)]
struct EmailDeliveryView {
    counts: Vec<CountView>,
    failed: Vec<FailedView>,
    older: Option<String>,
    newest: Option<String>,
    error: Option<String>,
    csrf_token: String,
}

/// The instance-admin proof, or "page not found" for everyone else (the section does not
/// exist for them).
fn admin(c: &Ctx) -> Result<InstanceAdmin<'_>> {
    authz::instance_admin(&c.session.principal).map_err(|_| Error::NotFound)
}

/// A template name as words: `password_reset` → "Password reset".
fn template_words(t: &str) -> String {
    super::sentence(&t.replace('_', " "))
        .trim_end_matches('.')
        .to_string()
}

fn page(app: &Context, c: &Ctx, req: &Req, error: Option<String>, status: u16) -> Result<Resp> {
    let a = admin(c)?;
    let counts = mail::counts(app, &a)?;
    let before = req.query_param("before");
    let (list, error) = match mail::failed(app, &a, before.as_deref(), PAGE_SIZE) {
        Ok(p) => (p, error),
        Err(Error::Validation(_)) => (
            mail::failed(app, &a, None, PAGE_SIZE)?,
            Some("That page of failed messages does not exist; here are the newest.".into()),
        ),
        Err(e) => return Err(e),
    };
    let view = EmailDeliveryView {
        counts: vec![
            CountView {
                label: "Queued",
                count: counts.queued,
            },
            CountView {
                label: "Sending",
                count: counts.sending,
            },
            CountView {
                label: "Sent",
                count: counts.sent,
            },
            CountView {
                label: "Failed",
                count: counts.failed,
            },
            CountView {
                label: "Held",
                count: counts.held,
            },
        ],
        failed: list
            .data
            .iter()
            .map(|f| {
                let masked = mask_email(&f.row.recipient);
                // Mail servers often quote the address in their refusal.
                let last_error = f
                    .row
                    .last_error
                    .as_deref()
                    .unwrap_or_default()
                    .replace(&f.row.recipient, &masked);
                (f, masked, last_error)
            })
            .map(|(f, masked, last_error)| FailedView {
                recipient: masked,
                subject: f.row.subject.clone(),
                template: template_words(&f.row.template),
                attempts: f.row.attempts,
                last_error,
                when: when(&c.user, f.row.created_at),
                retry_action: f.retryable.then(|| format!("{PATH}/{}/retry", f.row.id)),
            })
            .collect(),
        older: list.next_cursor.map(|n| format!("{PATH}?before={n}")),
        newest: before.is_some().then(|| PATH.to_string()),
        error,
        csrf_token: c.session.csrf_token.clone(),
    };
    let notice = match req.query_param("notice").as_deref() {
        Some("retried") => Some("The message is queued again and will be sent shortly."),
        _ => None,
    };
    render(
        app,
        c,
        Page {
            title: "Email Delivery",
            template: "settings/email_delivery",
            data: &view,
            notice: if status == 200 { notice } else { None },
            learn_more: Some(LearnMore {
                href: "/settings/help/overview",
                label: "instance settings",
            }),
            status,
        },
    )
}

/// `GET /settings/instance/email-delivery` (`?before=` pages the failed messages).
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    page(app, &c, req, None, 200)
}

/// `POST /settings/instance/email-delivery/{id}/retry`.
pub fn retry(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let a = admin(&c)?;
    let id = req
        .param("id")
        .parse::<i64>()
        .map_err(|_| Error::NotFound)?;
    let msg = match mail::retry(app, &a, id) {
        Ok(()) => return Ok(super::done(PATH, "retried")),
        Err(Error::Conflict(why)) => super::sentence(&why),
        Err(e) => return Err(e),
    };
    page(app, &c, req, Some(msg), 409)
}
