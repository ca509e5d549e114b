//! `/dev/outbox`: the development outbox, only when `email.mode = outbox`. It shows message
//! bodies (with their live links), so it is for local development only and needs an
//! instance administrator.

use serde::Serialize;

use crate::config::EmailMode;
use crate::domain::user::rfc3339;
use crate::domain::EmailStatus;
use crate::error::{Error, Result};
use crate::http::auth::session;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::Context;
use crate::service::{authz, mail};

/// One message as `outbox.hbs` lists it.
#[derive(Serialize)]
struct MessageView<'a> {
    subject: &'a str,
    recipient: &'a str,
    template: &'a str,
    status: EmailStatus,
    created_at: String,
    text: String,
}

/// What `outbox.hbs` shows: the newest messages first.
#[derive(Serialize)]
struct OutboxView<'a> {
    messages: Vec<MessageView<'a>>,
}

/// `GET /dev/outbox`.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    if app.config.email_mode != EmailMode::Outbox {
        return Err(Error::NotFound);
    }
    let s = session(app, req)?;
    authz::instance_admin(&s.principal)?;
    let rows = app.store.read(|c| c.recent_emails(100))?;
    let mut messages = Vec::new();
    for r in &rows {
        let text = mail::open_body(app, r)?
            .map(|b| b.text)
            .unwrap_or_else(|| "(body erased after delivery)".into());
        messages.push(MessageView {
            subject: &r.subject,
            recipient: &r.recipient,
            template: &r.template,
            status: r.status,
            created_at: rfc3339(r.created_at),
            text,
        });
    }
    Ok(Resp::html(
        200,
        app.views
            .page("outbox", "Development outbox", &OutboxView { messages })?,
    ))
}
