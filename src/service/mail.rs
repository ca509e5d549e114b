//! Email: messages are rendered and queued in the outbox inside the transaction of the change
//! that causes them, sealed under the server secret; a delivery worker sends them after
//! commit, with retries and exponential back-off (first retry after 5 s, doubling to 10 min,
//! given up after `email.give_up_hours`), and erases each body once delivered. Nothing is lost
//! on restart: a message caught mid-send is queued again (at-least-once delivery).
//!
//! Delivery goes through the [`Deliver`] seam: built-in SMTP ([`SmtpDelivery`]) or an
//! email-delivery plugin ([`PluginDelivery`]). In `outbox` mode messages are held, not sent, and readable on
//! the development outbox page.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::config::EmailMode;
use crate::domain::{AuditAction, EmailStatus};
use crate::error::{Error, Result};
use crate::metrics::DeliveryResult;
use crate::service::authz::InstanceAdmin;
use crate::service::hooks::{EmailMessage, EmailOutcome, HookKind, Hooks};
use crate::service::Context;
use crate::store::{OutboxRow, RetryOutcome, Tx};
use crate::views::email::Message;
use crate::views::RenderedEmail;

/// Where an outgoing message's body is sealed (AEAD associated data).
const SEAL_CONTEXT: &str = "outbox";
const FIRST_RETRY_SECS: i64 = 5;
const MAX_RETRY_SECS: i64 = 600;

/// Why a delivery attempt failed.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    /// True when retrying cannot help (e.g. SMTP 5xx, invalid recipient).
    pub permanent: bool,
    /// What happened (no message content, no secrets).
    pub message: String,
}

/// A message ready to hand to a transport.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Stable across retries of this message (an idempotency key for delivery APIs).
    pub id: String,
    /// 1 on the first try.
    pub attempt: u32,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Template name.
    pub template: String,
    /// Rendered content.
    pub content: RenderedEmail,
}

/// A way to deliver email.
pub trait Deliver: Send + Sync {
    /// Delivers one message.
    fn deliver(&self, msg: &Outgoing) -> std::result::Result<(), DeliveryError>;
}

/// Wakes the delivery worker when a message is queued.
#[derive(Debug, Default)]
pub struct Doorbell {
    rung: Mutex<bool>,
    cv: Condvar,
}

impl Doorbell {
    /// Signals that work is waiting.
    pub fn ring(&self) {
        *self.rung.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    fn wait(&self, max: Duration) {
        let mut rung = self.rung.lock().unwrap_or_else(|e| e.into_inner());
        if !*rung {
            rung = self
                .cv
                .wait_timeout(rung, max)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *rung = false;
    }
}

/// Renders `message` with its template and queues it for `to` in the caller's transaction.
/// Call [`Doorbell::ring`] after the commit.
pub fn queue(
    app: &Context,
    tx: &Tx<'_>,
    to: &str,
    message: &Message<'_>,
    invitation_id: Option<&str>,
) -> Result<i64> {
    let template = message.template();
    let content = app.views.email(template, message)?;
    let body = serde_json::to_vec(&content).map_err(Error::internal)?;
    let sealed = app.keyring.seal(SEAL_CONTEXT, &body);
    let status = if app.config.email_mode == EmailMode::Outbox {
        EmailStatus::Held
    } else {
        EmailStatus::Queued
    };
    tx.enqueue_email(
        to,
        &content.subject,
        template,
        &sealed,
        status,
        crate::service::now(),
        invitation_id,
    )
}

/// Opens a queued message's body.
pub fn open_body(app: &Context, row: &OutboxRow) -> Result<Option<RenderedEmail>> {
    match &row.sealed_body {
        None => Ok(None),
        Some(sealed) => {
            let plain = app.keyring.open(SEAL_CONTEXT, sealed)?;
            serde_json::from_slice(&plain)
                .map(Some)
                .map_err(Error::internal)
        }
    }
}

/// The outbox as an instance administrator sees it: how many messages are in each status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting for (another) attempt.
    pub queued: i64,
    /// Being handed to the transport now.
    pub sending: i64,
    /// Delivered.
    pub sent: i64,
    /// Given up (permanent refusal, too long, superseded).
    pub failed: i64,
    /// Held in `outbox` mode (never sent).
    pub held: i64,
}

/// Outbox status counts (instance administrators).
pub fn counts(app: &Context, _admin: &InstanceAdmin<'_>) -> Result<OutboxCounts> {
    let mut out = OutboxCounts::default();
    for (status, n) in app.store.read(|c| c.email_status_counts())? {
        match status {
            EmailStatus::Queued => out.queued = n,
            EmailStatus::Sending => out.sending = n,
            EmailStatus::Sent => out.sent = n,
            EmailStatus::Failed => out.failed = n,
            EmailStatus::Held => out.held = n,
        }
    }
    Ok(out)
}

/// One failed message, without its body.
#[derive(Debug, Clone)]
pub struct FailedEmail {
    /// Metadata (the body is never read here).
    pub row: OutboxRow,
    /// Whether the body is still stored, so the message can be retried.
    pub retryable: bool,
}

/// Failed messages, newest first, paged by the cursor returned (instance administrators).
pub fn failed(
    app: &Context,
    _admin: &InstanceAdmin<'_>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<crate::service::Page<FailedEmail>> {
    let before = match cursor {
        None => i64::MAX,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::field("cursor", "is not a cursor returned by this list"))?,
    };
    let mut rows = app.store.read(|c| c.failed_emails(before, limit + 1))?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(r, _)| r.id.to_string())
    } else {
        None
    };
    Ok(crate::service::Page {
        data: rows
            .into_iter()
            .map(|(row, retryable)| FailedEmail { row, retryable })
            .collect(),
        next_cursor,
    })
}

/// Sends a failed message again (instance administrators): one whose body is still stored
/// goes back to the queue with its attempts reset and the delivery worker is woken; one whose
/// body was erased (superseded by a newer invitation link, or unreadable) cannot be, and one
/// that has not failed is left alone. Audited in the organization of its invitation, if any,
/// and logged.
pub fn retry(app: &Context, admin: &InstanceAdmin<'_>, id: i64) -> Result<()> {
    let actor = crate::service::audit::Actor::of(admin.principal());
    let outcome = app.store.write(|tx| {
        let outcome = tx.retry_failed_email(id, crate::service::now())?;
        if let RetryOutcome::Queued {
            invitation_id: Some(inv),
        } = &outcome
        {
            if let Some(i) = tx.invitation(inv)? {
                crate::service::audit::record(
                    tx,
                    &i.org_id,
                    &actor,
                    AuditAction::EmailRetried,
                    ("email", &id.to_string()),
                    serde_json::json!({ "invitation": inv }),
                )?;
            }
        }
        Ok(outcome)
    })?;
    match outcome {
        RetryOutcome::Queued { .. } => {
            log::info!(
                "audit: email {id} queued again by instance administrator {}",
                actor.id.as_deref().unwrap_or("?")
            );
            app.doorbell.ring();
            Ok(())
        }
        RetryOutcome::NotFound => Err(Error::NotFound),
        RetryOutcome::NotFailed => Err(Error::Conflict(
            "this message has not failed, so there is nothing to retry".into(),
        )),
        RetryOutcome::BodyErased => Err(Error::Conflict(
            "this message's content was erased, so it cannot be sent again".into(),
        )),
    }
}

/// Back-off before attempt `attempts + 1`.
pub fn backoff_secs(attempts: i64) -> i64 {
    let exp = (attempts - 1).clamp(0, 20) as u32;
    (FIRST_RETRY_SECS.saturating_mul(1i64 << exp)).min(MAX_RETRY_SECS)
}

/// Built-in SMTP delivery (lettre): `smtp://[user:pass@]host[:port]` uses STARTTLS when the
/// server offers it (`?tls=required` insists, `?tls=none` never tries); `smtps://` is TLS
/// from the first byte.
pub struct SmtpDelivery {
    transport: lettre::SmtpTransport,
}

impl std::fmt::Debug for SmtpDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpDelivery")
    }
}

impl SmtpDelivery {
    /// Builds the transport from the configured URL, trusting `roots` for TLS. The URL is
    /// parsed as a URL (the `url` crate): user and password are percent-decoded, so a `+` in
    /// a password stays a `+` (write `%40` for `@`, `%2F` for `/`, `%3A` for `:`).
    pub fn from_url(url: &str, roots: &crate::tls::TrustRoots) -> Result<SmtpDelivery> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
        let bad = |m: &str| Error::Config(format!("`email.smtp_url` {m}"));
        let parsed = url::Url::parse(url).map_err(|e| bad(&format!("is not a URL: {e}")))?;
        let scheme = parsed.scheme();
        if scheme != "smtp" && scheme != "smtps" {
            return Err(bad(
                "must use smtp:// or smtps://, with optional ?tls=none|required",
            ));
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("has no host")),
        };
        if !matches!(parsed.path(), "" | "/") || parsed.fragment().is_some() {
            return Err(bad(
                "must be smtp://[user:password@]host[:port][?tls=none|required]",
            ));
        }
        let port = parsed
            .port()
            .unwrap_or(if scheme == "smtps" { 465 } else { 587 });
        let params = || {
            let mut b =
                TlsParameters::builder(host.clone()).certificate_store(CertificateStore::None);
            for der in roots.der() {
                let cert = Certificate::from_der(der.to_vec())
                    .map_err(|e| bad(&format!("TLS setup failed: {e}")))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls()
                .map_err(|e| bad(&format!("TLS setup failed: {e}")))
        };
        let query = parsed.query().unwrap_or("");
        let tls = match (scheme, query) {
            ("smtps", "") => Tls::Wrapper(params()?),
            ("smtp", "tls=none") => Tls::None,
            ("smtp", "tls=required") => Tls::Required(params()?),
            ("smtp", "") => Tls::Opportunistic(params()?),
            _ => {
                return Err(bad(
                    "must use smtp:// or smtps://, with optional ?tls=none|required",
                ))
            }
        };
        let mut b = lettre::SmtpTransport::builder_dangerous(host.as_str())
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(20)));
        if !parsed.username().is_empty() || parsed.password().is_some() {
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| bad("has user info that is not UTF-8 once decoded"))
            };
            b = b.credentials(Credentials::new(
                dec(parsed.username())?,
                dec(parsed.password().unwrap_or(""))?,
            ));
        }
        Ok(SmtpDelivery {
            transport: b.build(),
        })
    }
}

impl Deliver for SmtpDelivery {
    fn deliver(&self, msg: &Outgoing) -> std::result::Result<(), DeliveryError> {
        use lettre::message::{Mailbox, MultiPart};
        use lettre::Transport;
        let permanent = |m: String| DeliveryError {
            permanent: true,
            message: m,
        };
        let from: Mailbox = msg
            .from
            .parse()
            .map_err(|e| permanent(format!("invalid sender: {e}")))?;
        let to: Mailbox = msg
            .to
            .parse()
            .map_err(|e| permanent(format!("invalid recipient: {e}")))?;
        let email = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(msg.content.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                msg.content.text.clone(),
                msg.content.html.clone(),
            ))
            .map_err(|e| permanent(format!("cannot build the message: {e}")))?;
        self.transport
            .send(&email)
            .map(|_| ())
            .map_err(|e| DeliveryError {
                permanent: e.is_permanent(),
                message: format!("smtp: {e}"),
            })
    }
}

/// The transport for the configured mode (`None` in outbox mode).
pub fn transport(app: &Context) -> Result<Option<Arc<dyn Deliver>>> {
    match app.config.email_mode {
        EmailMode::Outbox => Ok(None),
        EmailMode::Smtp => {
            let url = app
                .config
                .smtp_url
                .as_ref()
                .ok_or_else(|| Error::Config("`email.smtp_url` is not set".into()))?;
            Ok(Some(Arc::new(SmtpDelivery::from_url(
                url.expose(),
                &app.tls_roots,
            )?)))
        }
        EmailMode::Plugin => {
            let name = app.config.email_plugin.clone().ok_or_else(|| {
                Error::Config("`email.mode` is plugin but `email.plugin` is not set".into())
            })?;
            if !app.hooks.supports(&name, HookKind::EmailDelivery) {
                // Messages stay queued (and are retried) until the plugin works.
                log::error!(
                    "email plugin {name:?} is not loaded or does not implement email-delivery; \
                     messages stay queued"
                );
            }
            Ok(Some(Arc::new(PluginDelivery {
                hooks: app.hooks.clone(),
                plugin: name,
            })))
        }
    }
}

/// Delivery through an email-delivery plugin. Anything but the plugin's own `permanent`
/// verdict (a trap, a timeout, a limit hit, invalid output, an unloaded plugin) is retried,
/// so no message is lost to a broken plugin.
pub struct PluginDelivery {
    hooks: Arc<dyn Hooks>,
    plugin: String,
}

impl Deliver for PluginDelivery {
    fn deliver(&self, msg: &Outgoing) -> std::result::Result<(), DeliveryError> {
        let message = EmailMessage {
            id: msg.id.clone(),
            template: msg.template.clone(),
            sender: msg.from.clone(),
            recipient: msg.to.clone(),
            subject: msg.content.subject.clone(),
            text: msg.content.text.clone(),
            html: msg.content.html.clone(),
            attempt: msg.attempt,
        };
        match self.hooks.email_deliver(&self.plugin, &message) {
            Ok(EmailOutcome::Delivered(_)) => Ok(()),
            Ok(EmailOutcome::Permanent(why)) => Err(DeliveryError {
                permanent: true,
                message: format!("plugin {}: {why}", self.plugin),
            }),
            Ok(EmailOutcome::Retryable(why)) => Err(DeliveryError {
                permanent: false,
                message: format!("plugin {}: {why}", self.plugin),
            }),
            Err(e) => Err(DeliveryError {
                permanent: false,
                message: format!("plugin {}: {} ({e})", self.plugin, e.code()),
            }),
        }
    }
}

/// Runs one delivery attempt for the next due message; false when none was due.
pub fn deliver_one(app: &Context, transport: &dyn Deliver) -> Result<bool> {
    let now = crate::service::now();
    let Some(row) = app.store.write(|tx| tx.claim_due_email(now))? else {
        return Ok(false);
    };
    let content = match open_body(app, &row) {
        Ok(Some(c)) => c,
        Ok(None) | Err(_) => {
            app.store
                .write(|tx| tx.email_failed(row.id, "message body unavailable"))?;
            return Ok(true);
        }
    };
    let out = Outgoing {
        id: format!("tenantry-{}-{}", row.created_at, row.id),
        attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
        from: app.config.email_from.clone(),
        to: row.recipient.clone(),
        template: row.template.clone(),
        content,
    };
    let result = transport.deliver(&out);
    let now = crate::service::now();
    match result {
        Ok(()) => {
            app.metrics.delivery(DeliveryResult::Sent);
            app.store.write(|tx| tx.email_sent(row.id, now))?;
            log::info!(
                "email {} ({}) delivered after {} attempt(s)",
                row.id,
                row.template,
                row.attempts
            );
        }
        Err(e) if e.permanent => {
            app.metrics.delivery(DeliveryResult::Failed);
            app.store.write(|tx| tx.email_failed(row.id, &e.message))?;
            log::warn!(
                "email {} ({}) failed permanently: {}",
                row.id,
                row.template,
                e.message
            );
        }
        Err(e) if now - row.created_at >= app.config.email_give_up_secs => {
            app.metrics.delivery(DeliveryResult::Failed);
            app.store
                .write(|tx| tx.email_failed(row.id, &format!("gave up: {}", e.message)))?;
            log::warn!(
                "email {} ({}) given up after {} attempts: {}",
                row.id,
                row.template,
                row.attempts,
                e.message
            );
        }
        Err(e) => {
            app.metrics.delivery(DeliveryResult::Retry);
            let at = now + backoff_secs(row.attempts);
            app.store
                .write(|tx| tx.email_retry(row.id, at, &e.message))?;
            log::info!(
                "email {} ({}) will be retried in {}s: {}",
                row.id,
                row.template,
                at - now,
                e.message
            );
        }
    }
    Ok(true)
}

/// Starts the delivery worker (no-op in outbox mode). Messages interrupted by a crash are
/// queued again first.
pub fn spawn_worker(
    app: Arc<Context>,
    stop: Arc<AtomicBool>,
) -> Result<Option<std::thread::JoinHandle<()>>> {
    let Some(transport) = transport(&app)? else {
        return Ok(None);
    };
    let n = app.store.write(|tx| tx.requeue_interrupted_emails())?;
    if n > 0 {
        log::info!("{n} interrupted email(s) queued again");
    }
    let handle = std::thread::Builder::new()
        .name("mail".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match deliver_one(&app, transport.as_ref()) {
                    Ok(true) => continue,
                    Ok(false) => app.doorbell.wait(Duration::from_millis(500)),
                    Err(e) => {
                        log::error!("email worker: {e}");
                        app.doorbell.wait(Duration::from_secs(1));
                    }
                }
            }
        })
        .map_err(Error::internal)?;
    Ok(Some(handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_ten_minutes() {
        assert_eq!(backoff_secs(1), 5);
        assert_eq!(backoff_secs(2), 10);
        assert_eq!(backoff_secs(3), 20);
        assert_eq!(backoff_secs(12), 600);
        assert_eq!(backoff_secs(60), 600);
    }

    #[test]
    fn smtp_urls() {
        let roots = crate::tls::TrustRoots::bundled();
        let ok = |u: &str| SmtpDelivery::from_url(u, &roots).is_ok();
        assert!(ok("smtp://127.0.0.1:2525?tls=none"));
        assert!(ok("smtps://mail.example.com"));
        assert!(ok("smtp://user:p%40ss@mail.example.com:587"));
        assert!(ok("smtp://[::1]:2525?tls=none"));
        assert!(!ok("http://x"));
        assert!(!ok("smtp://:25"));
        assert!(!ok("smtp://mail.example.com:99999"));
        assert!(!ok("smtp://mail.example.com?tls=sometimes"));
    }
}
