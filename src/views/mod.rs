//! Page and email rendering: handlebars in strict mode (a missing variable is an error, in
//! pages and in the text and HTML of emails) with the templates embedded in the binary.
//! Every value is HTML-escaped by handlebars; templates never use triple braces, except the
//! layouts for the already-rendered body and the help page for Markdown rendered by
//! `pulldown-cmark` from files of the repository (raw HTML in them is escaped).

pub mod email;

use handlebars::Handlebars;
use serde::Serialize;

use crate::error::{Error, Result};

const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("templates/layout.hbs")),
    ("login", include_str!("templates/login.hbs")),
    ("setup", include_str!("templates/setup.hbs")),
    ("message", include_str!("templates/message.hbs")),
    ("invite", include_str!("templates/invite.hbs")),
    ("forgot", include_str!("templates/forgot.hbs")),
    ("reset", include_str!("templates/reset.hbs")),
    (
        "confirm_email_change",
        include_str!("templates/confirm_email_change.hbs"),
    ),
    ("outbox", include_str!("templates/outbox.hbs")),
    ("billing", include_str!("templates/billing.hbs")),
    ("continue", include_str!("templates/continue.hbs")),
    ("two_step", include_str!("templates/two_step.hbs")),
    (
        "settings/layout",
        include_str!("templates/settings/layout.hbs"),
    ),
    ("settings/form", include_str!("templates/settings/form.hbs")),
    (
        "settings/overview",
        include_str!("templates/settings/overview.hbs"),
    ),
    (
        "settings/hidden",
        include_str!("templates/settings/hidden.hbs"),
    ),
    (
        "settings/general",
        include_str!("templates/settings/general.hbs"),
    ),
    (
        "settings/preferences",
        include_str!("templates/settings/preferences.hbs"),
    ),
    (
        "settings/membership",
        include_str!("templates/settings/membership.hbs"),
    ),
    (
        "settings/security",
        include_str!("templates/settings/security.hbs"),
    ),
    (
        "settings/recovery_codes",
        include_str!("templates/settings/recovery_codes.hbs"),
    ),
    ("settings/doc", include_str!("templates/settings/doc.hbs")),
    (
        "settings/access_fields",
        include_str!("templates/settings/access_fields.hbs"),
    ),
    (
        "settings/admin_team",
        include_str!("templates/settings/admin_team.hbs"),
    ),
    (
        "settings/member",
        include_str!("templates/settings/member.hbs"),
    ),
    (
        "settings/billing",
        include_str!("templates/settings/billing.hbs"),
    ),
    (
        "settings/data_repository",
        include_str!("templates/settings/data_repository.hbs"),
    ),
    ("settings/sso", include_str!("templates/settings/sso.hbs")),
    (
        "settings/instance_orgs",
        include_str!("templates/settings/instance_orgs.hbs"),
    ),
    (
        "settings/instance_org",
        include_str!("templates/settings/instance_org.hbs"),
    ),
    (
        "settings/instance_users",
        include_str!("templates/settings/instance_users.hbs"),
    ),
    (
        "settings/sites",
        include_str!("templates/settings/sites.hbs"),
    ),
    ("settings/site", include_str!("templates/settings/site.hbs")),
    (
        "settings/data_preferences",
        include_str!("templates/settings/data_preferences.hbs"),
    ),
    (
        "settings/company_members",
        include_str!("templates/settings/company_members.hbs"),
    ),
    (
        "settings/api_keys",
        include_str!("templates/settings/api_keys.hbs"),
    ),
    (
        "settings/api_key",
        include_str!("templates/settings/api_key.hbs"),
    ),
    (
        "settings/api_key_secret",
        include_str!("templates/settings/api_key_secret.hbs"),
    ),
    (
        "settings/audit_log",
        include_str!("templates/settings/audit_log.hbs"),
    ),
    (
        "settings/email_delivery",
        include_str!("templates/settings/email_delivery.hbs"),
    ),
];

/// The settings pages' one stylesheet (served under a content-hashed name).
pub const STYLESHEET: &str = include_str!("static/app.css");
/// The settings pages' one script: progressive enhancements only, no inline script needed.
pub const SCRIPT: &str = include_str!("static/app.js");

/// Email templates: subject and text (not HTML-escaped) and HTML (escaped), per message kind.
pub const EMAIL_TEMPLATES: &[(&str, &str, &str, &str)] = &[
    (
        "invitation",
        include_str!("templates/email/invitation.subject.hbs"),
        include_str!("templates/email/invitation.txt.hbs"),
        include_str!("templates/email/invitation.html.hbs"),
    ),
    (
        "password_reset",
        include_str!("templates/email/password_reset.subject.hbs"),
        include_str!("templates/email/password_reset.txt.hbs"),
        include_str!("templates/email/password_reset.html.hbs"),
    ),
    (
        "password_changed",
        include_str!("templates/email/password_changed.subject.hbs"),
        include_str!("templates/email/password_changed.txt.hbs"),
        include_str!("templates/email/password_changed.html.hbs"),
    ),
    (
        "email_verification",
        include_str!("templates/email/email_verification.subject.hbs"),
        include_str!("templates/email/email_verification.txt.hbs"),
        include_str!("templates/email/email_verification.html.hbs"),
    ),
    (
        "email_change",
        include_str!("templates/email/email_change.subject.hbs"),
        include_str!("templates/email/email_change.txt.hbs"),
        include_str!("templates/email/email_change.html.hbs"),
    ),
    (
        "email_changed",
        include_str!("templates/email/email_changed.subject.hbs"),
        include_str!("templates/email/email_changed.txt.hbs"),
        include_str!("templates/email/email_changed.html.hbs"),
    ),
    (
        "two_step_changed",
        include_str!("templates/email/two_step_changed.subject.hbs"),
        include_str!("templates/email/two_step_changed.txt.hbs"),
        include_str!("templates/email/two_step_changed.html.hbs"),
    ),
    (
        "two_step_required",
        include_str!("templates/email/two_step_required.subject.hbs"),
        include_str!("templates/email/two_step_required.txt.hbs"),
        include_str!("templates/email/two_step_required.html.hbs"),
    ),
    (
        "sso_linked",
        include_str!("templates/email/sso_linked.subject.hbs"),
        include_str!("templates/email/sso_linked.txt.hbs"),
        include_str!("templates/email/sso_linked.html.hbs"),
    ),
];

/// A rendered email.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RenderedEmail {
    /// One line, CR/LF removed.
    pub subject: String,
    /// Plain text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// The template registry.
pub struct Views {
    hb: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Views")
    }
}

impl Views {
    /// Registers the embedded templates (strict mode: a missing variable is an error).
    pub fn new() -> Result<Views> {
        Self::with_overrides(None)
    }

    /// Registers the embedded templates; email templates found in `dir` (same file names as
    /// `src/views/templates/email/`) replace the embedded ones.
    pub fn with_overrides(dir: Option<&std::path::Path>) -> Result<Views> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        for (name, src) in TEMPLATES {
            hb.register_template_string(name, src)
                .map_err(|e| Error::internal(format!("template {name}: {e}")))?;
        }
        // Subjects and text bodies are not HTML, so not escaped; strict like the rest, so a
        // template that names a value its message does not carry fails instead of leaving a gap.
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        for (name, subject, txt, html) in EMAIL_TEMPLATES {
            let load = |suffix: &str, embedded: &'static str| -> Result<String> {
                match dir.map(|d| d.join(format!("{name}.{suffix}.hbs"))) {
                    Some(p) if p.exists() => std::fs::read_to_string(&p)
                        .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display()))),
                    _ => Ok(embedded.to_string()),
                }
            };
            let reg = |h: &mut Handlebars<'static>, key: String, src: String| {
                h.register_template_string(&key, src)
                    .map_err(|e| Error::Config(format!("email template {key}: {e}")))
            };
            reg(
                &mut text,
                format!("{name}.subject"),
                load("subject", subject)?,
            )?;
            reg(&mut text, format!("{name}.txt"), load("txt", txt)?)?;
            reg(&mut hb, format!("email/{name}.html"), load("html", html)?)?;
        }
        Ok(Views { hb, text })
    }

    /// Renders an email; the subject is one line with control characters removed, so a
    /// user-controlled name cannot inject headers.
    pub fn email<T: Serialize>(&self, name: &str, data: &T) -> Result<RenderedEmail> {
        let r = |h: &Handlebars<'static>, key: String| {
            h.render(&key, data)
                .map_err(|e| Error::internal(format!("render {key}: {e}")))
        };
        let subject = r(&self.text, format!("{name}.subject"))?;
        let subject: String = subject
            .trim()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        Ok(RenderedEmail {
            subject,
            text: r(&self.text, format!("{name}.txt"))?,
            html: r(&self.hb, format!("email/{name}.html"))?,
        })
    }

    /// Renders one template on its own (a settings page body or the settings layout).
    pub fn render<T: Serialize>(&self, template: &str, data: &T) -> Result<String> {
        self.hb
            .render(template, data)
            .map_err(|e| Error::internal(format!("render {template}: {e}")))
    }

    /// Renders a page: `template` inside the layout with `title`.
    pub fn page<T: Serialize>(&self, template: &str, title: &str, data: &T) -> Result<String> {
        let body = self
            .hb
            .render(template, data)
            .map_err(|e| Error::internal(format!("render {template}: {e}")))?;
        #[derive(Serialize)]
        struct Layout<'a> {
            title: &'a str,
            body: &'a str,
            js: &'static str,
        }
        // The layout inserts the body, already rendered and escaped, with triple braces.
        self.hb
            .render(
                "layout",
                &Layout {
                    title,
                    body: &body,
                    js: crate::http::pages::settings::assets::script_src(),
                },
            )
            .map_err(|e| Error::internal(format!("render layout: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::email::{Account, Message};
    use super::*;

    /// One message of every kind, with the values its use case passes.
    fn every_message() -> Vec<Message<'static>> {
        let account = Account {
            name: "Ada Admin",
            email: "ada@acme.example",
            link: "https://t.example/reset-password?token=abc",
        };
        vec![
            Message::Invitation {
                inviter_name: "Ada Admin",
                target_name: "Acme",
                role: "admin",
                access: "all companies",
                link: "https://t.example/invite/abc",
                email: "bob@acme.example",
                expires: "2026-01-08T10:00:00Z",
            },
            Message::PasswordReset(account.clone()),
            Message::PasswordChanged(account.clone()),
            Message::EmailVerification(account),
            Message::EmailChange {
                name: "Ada Admin",
                email: "ada@new.example",
                old_email: "ada@acme.example",
                link: "https://t.example/confirm-email-change?token=abc",
            },
            Message::EmailChanged {
                name: "Ada Admin",
                email: "ada@acme.example",
                new_email_masked: "a**@new.example",
                link: "https://t.example/settings/personal/general",
            },
            Message::TwoStepChanged {
                name: "Ada Admin",
                email: "ada@acme.example",
                what: "two-step sign-in was turned on",
                link: "https://t.example/settings/personal/security",
            },
            Message::TwoStepRequired {
                name: "Ada Admin",
                org: "Acme",
                deadline: Some("2026-01-08 10:00"),
                link: "https://t.example/settings/personal/security",
            },
            Message::TwoStepRequired {
                name: "Ada Admin",
                org: "Acme",
                deadline: None,
                link: "https://t.example/settings/personal/security",
            },
            Message::SsoLinked {
                name: "Ada Admin",
                email: "ada@acme.example",
                org_name: "Acme",
                link: "https://t.example/login",
            },
        ]
    }

    #[test]
    fn every_email_template_renders_strictly_with_its_message() {
        let v = Views::new().unwrap();
        let messages = every_message();
        for (name, ..) in EMAIL_TEMPLATES {
            assert!(
                messages.iter().any(|m| m.template() == *name),
                "no message renders the `{name}` template"
            );
        }
        for m in &messages {
            let r = v
                .email(m.template(), m)
                .unwrap_or_else(|e| panic!("{}: {e}", m.template()));
            assert!(!r.subject.is_empty(), "{}", m.template());
            assert!(r.text.contains("https://t.example/"), "{}", m.template());
            assert!(r.html.contains("https://t.example/"), "{}", m.template());
        }
    }

    #[test]
    fn an_email_missing_a_value_fails_instead_of_leaving_a_gap() {
        let v = Views::new().unwrap();
        // The invitation's data without `target_name` (used by its subject and text).
        let partial = serde_json::json!({"inviter_name": "Ada", "role": "admin", "access": "",
            "link": "https://t.example/invite/abc", "email": "bob@acme.example",
            "expires": "2026-01-08T10:00:00Z"});
        let err = v.email("invitation", &partial).unwrap_err().to_string();
        assert!(err.contains("invitation.subject"), "{err}");
        // Text bodies alone are strict too: only the subject has what it needs here.
        let dir = std::env::temp_dir().join(format!("tenantry-strict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sso_linked.txt.hbs"), "Hello {{nme}}").unwrap();
        let v = Views::with_overrides(Some(&dir)).unwrap();
        let m = Message::SsoLinked {
            name: "Ada",
            email: "ada@acme.example",
            org_name: "Acme",
            link: "https://t.example/login",
        };
        let err = v.email(m.template(), &m).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("sso_linked.txt"), "{err}");
    }

    #[test]
    fn user_data_is_escaped() {
        let v = Views::new().unwrap();
        let html = v
            .page(
                "message",
                "<t>",
                &serde_json::json!({"heading": "<script>x</script>", "text": "a&b", "link": null, "link_text": null, "links": []}),
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("<script>x"));
        assert!(html.contains("a&amp;b"));
    }
}
