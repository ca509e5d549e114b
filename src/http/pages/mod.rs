//! Server-rendered pages (handlebars, no JavaScript). Form posts carry a CSRF token: the
//! session's token when signed in, otherwise a double-submit cookie set by the form page.

pub mod billing;
pub mod form;
pub mod home;
pub mod invite;
pub mod login;
pub mod outbox;
pub mod passkeys;
pub mod password;
pub mod settings;
pub mod setup;
pub mod sso;
pub mod two_step;

use serde::Serialize;

use super::request::Req;
use super::response::Resp;
use crate::crypto::new_token;
use crate::error::Error;
use crate::http::problem::Problem;
use crate::service::Context;

/// The pre-session CSRF cookie name.
pub const CSRF_COOKIE: &str = "tenantry_csrf";

/// The pre-session CSRF token for a form page: the cookie's value, or a new one to set.
pub fn form_csrf(app: &Context, req: &Req) -> (String, Option<String>) {
    match req.cookie(CSRF_COOKIE) {
        Some(t) if t.len() == crate::crypto::TOKEN_LEN => (t.to_string(), None),
        _ => {
            let t = new_token().expose().to_string();
            let secure = if app.secure_cookies() { "; Secure" } else { "" };
            let cookie = format!("{CSRF_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict{secure}");
            (t.clone(), Some(cookie))
        }
    }
}

/// True when the submitted form token matches the pre-session cookie (constant time).
pub fn form_csrf_ok(app: &Context, req: &Req, submitted: Option<&String>) -> bool {
    match (req.cookie(CSRF_COOKIE), submitted) {
        (Some(c), Some(s)) if !c.is_empty() => {
            app.keyring.verify_token(s, &app.keyring.token_hash(c))
        }
        _ => false,
    }
}

/// A local path to go back to after signing in or out (never another site).
pub fn safe_next(next: Option<&String>) -> Option<String> {
    let n = next?.trim();
    let ok = n.starts_with('/')
        && !n.starts_with("//")
        && !n.contains('\\')
        && n.len() <= 512
        && !n.chars().any(|c| c.is_control());
    ok.then(|| n.to_string())
}

/// Checks a signed-in form's CSRF token (constant time).
pub fn session_csrf_ok(app: &Context, s: &crate::service::auth::SessionInfo, req: &Req) -> bool {
    req.form().get("csrf_token").is_some_and(|t| {
        app.keyring
            .verify_token(t, &app.keyring.token_hash(&s.csrf_token))
    })
}

/// One link of a message page.
#[derive(Serialize)]
struct LinkView<'a> {
    href: &'a str,
    text: &'a str,
}

/// A message page: a heading, a sentence, and a link or several.
#[derive(Serialize)]
struct MessageView<'a> {
    heading: &'a str,
    text: &'a str,
    /// The one link (`links` empty).
    link: Option<&'a str>,
    link_text: Option<&'a str>,
    /// Several links, the first the main action (`link` empty).
    links: Vec<LinkView<'a>>,
}

fn message_page(app: &Context, status: u16, view: &MessageView<'_>) -> Resp {
    match app.views.page("message", view.heading, view) {
        Ok(html) => Resp::html(status, html),
        Err(e) => {
            log::error!("{e}");
            Resp::new(500)
                .header("Content-Type", "text/plain")
                .body(b"internal error".to_vec())
        }
    }
}

/// A simple message page.
pub fn message(
    app: &Context,
    status: u16,
    heading: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Resp {
    let view = MessageView {
        heading,
        text,
        link: link.map(|l| l.0),
        link_text: link.map(|l| l.1),
        links: Vec::new(),
    };
    message_page(app, status, &view)
}

/// A message page with several links (the first is the main action).
pub fn message_links(
    app: &Context,
    status: u16,
    heading: &str,
    text: &str,
    links: &[(&str, &str)],
) -> Resp {
    let view = MessageView {
        heading,
        text,
        link: None,
        link_text: None,
        links: links
            .iter()
            .map(|(href, text)| LinkView { href, text })
            .collect(),
    };
    message_page(app, status, &view)
}

/// The page shown when a page handler fails, rendered from the same [`Problem`] as the API
/// answer: its status and title, and its detail as a sentence. A few codes get words for
/// people instead (no permission identifiers on a page) or a redirect to sign in.
pub fn error_page(app: &Context, e: &Error) -> Resp {
    let p = Problem::of(e);
    if p.is_internal() {
        log::error!("{e}");
    }
    problem_page(app, &p)
}

/// Renders a problem as a page.
pub fn problem_page(app: &Context, p: &Problem) -> Resp {
    match p.code {
        "unauthenticated" => Resp::see_other("/login"),
        "internal" => message(
            app,
            p.status,
            p.title,
            "Something went wrong on the server. It has been logged.",
            None,
        ),
        "not_found" => message(
            app,
            404,
            "Page not found",
            "There is nothing at this address.",
            Some(("/", "Go to the start page")),
        ),
        "forbidden" | "feature_disabled" => message(
            app,
            403,
            "Not part of your role",
            "Your role does not let you do this. Ask an owner or admin of the organization.",
            Some(("/settings", "Back to Settings")),
        ),
        "not_org_member" => message(
            app,
            403,
            "For organization members",
            "You are a member of a company only, not of its organization. Ask an organization admin to add you to the organization.",
            Some(("/settings", "Back to Settings")),
        ),
        _ => message(app, p.status, p.title, &p.sentence(), None),
    }
}

/// A CSRF failure page.
pub fn csrf_failed(app: &Context) -> Resp {
    message(
        app,
        403,
        "Form expired",
        "This form was not submitted from this site, or it expired. Go back, reload the page and try again.",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        let ok = |s: &str| safe_next(Some(&s.to_string()));
        assert_eq!(ok("/invite/abc").as_deref(), Some("/invite/abc"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
    }
}
