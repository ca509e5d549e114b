//! The one form-page helper of the pages around signing in (sign-in, two-step, setup,
//! invitation, forgotten and new password, email-change confirmation): each page has a typed
//! view of its own fields, and this helper adds the shared shape (the CSRF token every form
//! carries, the error above the form) and renders it in the layout with its title and status.

use serde::Serialize;

use super::form_csrf;
use crate::error::{FieldError, Result};
use crate::http::problem::Problem;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::Context;

/// What a form-page template receives: the page's own view with the shared members.
#[derive(Serialize)]
pub struct FormPage<V> {
    /// The form's CSRF token (the session's, or the pre-session cookie's).
    pub csrf_token: String,
    /// A sentence above the form after a refused post.
    pub error: Option<String>,
    /// The page's own fields.
    #[serde(flatten)]
    pub view: V,
}

/// A form page to render: template, title, status, error and which CSRF token it carries.
pub struct Form<'a> {
    template: &'static str,
    title: &'a str,
    status: u16,
    error: Option<String>,
    session_token: Option<String>,
}

impl<'a> Form<'a> {
    /// A form page (status 200, no error, the pre-session CSRF token).
    pub fn new(template: &'static str, title: &'a str) -> Form<'a> {
        Form {
            template,
            title,
            status: 200,
            error: None,
            session_token: None,
        }
    }

    /// Sets the HTTP status (a refused post re-renders with 4xx).
    pub fn status(mut self, status: u16) -> Form<'a> {
        self.status = status;
        self
    }

    /// Sets the sentence shown above the form.
    pub fn error(mut self, error: Option<String>) -> Form<'a> {
        self.error = error;
        self
    }

    /// The form is posted by a signed-in person: it carries the session's token.
    pub fn session_token(mut self, token: &str) -> Form<'a> {
        self.session_token = Some(token.to_string());
        self
    }

    /// Renders `view` in the form template and the layout; sets the pre-session CSRF cookie
    /// when the browser has none yet.
    pub fn render<V: Serialize>(self, app: &Context, req: &Req, view: V) -> Result<Resp> {
        let (csrf_token, set_cookie) = match self.session_token {
            Some(t) => (t, None),
            None => form_csrf(app, req),
        };
        let page = FormPage {
            csrf_token,
            error: self.error,
            view,
        };
        let html = app.views.page(self.template, self.title, &page)?;
        let mut resp = Resp::html(self.status, html);
        if let Some(c) = set_cookie {
            resp = resp.header("Set-Cookie", c);
        }
        Ok(resp)
    }

    /// Renders `view` refused with `problem`: its status, and `error` above the form (when
    /// `None`, the problem's detail as a sentence); a rate limit keeps its `Retry-After`.
    pub fn refused<V: Serialize>(
        self,
        app: &Context,
        req: &Req,
        problem: &Problem,
        error: Option<String>,
        view: V,
    ) -> Result<Resp> {
        let error = error.unwrap_or_else(|| problem.sentence());
        let resp = self
            .status(problem.status)
            .error(Some(error))
            .render(app, req, view)?;
        Ok(match problem.retry_after {
            Some(secs) => resp.header("Retry-After", secs.to_string()),
            None => resp,
        })
    }
}

/// Field errors as one line above a form that has no place beside each field:
/// `field: message; field: message`.
pub fn field_errors_line(errs: &[FieldError]) -> String {
    errs.iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}
