//! `/login` and `/logout` pages.

use serde::Serialize;

use super::form::Form;
use super::{csrf_failed, form_csrf_ok, safe_next, session_csrf_ok};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::http::auth::{clear_cookie, optional_session, session_cookie, SESSION_COOKIE};
use crate::http::problem::Problem;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service;
use crate::service::Context;

/// The sign-in form's own fields.
#[derive(Serialize)]
struct LoginView<'a> {
    /// The address typed so far.
    email: &'a str,
    /// Where to go after signing in (a local path, or empty).
    next: String,
    /// Whether the passkey button is offered.
    passkeys: bool,
}

/// The page that moves on by itself to single sign-on (with a link, for no refresh).
#[derive(Serialize)]
struct ContinueView<'a> {
    url: String,
    heading: &'a str,
    text: &'a str,
    link_text: &'a str,
}

impl<'a> LoginView<'a> {
    /// The form for `email`, going back to the page's `next` (or the posted one).
    fn new(app: &Context, req: &Req, email: &'a str) -> LoginView<'a> {
        LoginView {
            email,
            next: safe_next(req.query_param("next").as_ref())
                .or_else(|| safe_next(req.form().get("next")))
                .unwrap_or_default(),
            passkeys: service::passkeys::available(app),
        }
    }
}

pub(super) fn render(
    app: &Context,
    req: &Req,
    status: u16,
    email: &str,
    error: Option<&str>,
) -> Result<Resp> {
    Form::new("login", "Sign in")
        .status(status)
        .error(error.map(str::to_string))
        .render(app, req, LoginView::new(app, req, email))
}

/// `GET /login`.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    if optional_session(app, req)?.is_some() {
        let next =
            safe_next(req.query_param("next").as_ref()).unwrap_or_else(|| "/settings".into());
        return Ok(Resp::see_other(&next));
    }
    render(app, req, 200, "", None)
}

/// `POST /login` (form).
pub fn submit(app: &Context, req: &Req) -> Result<Resp> {
    let form = req.form();
    if !form_csrf_ok(app, req, form.get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let email = form.get("email").cloned().unwrap_or_default();
    // Not a redirect: browsers apply the page's `form-action 'self'` to every redirect that
    // follows a form post, which would stop the one to the identity provider. A page that
    // moves on by itself (and has a link) starts a new navigation instead.
    let sso_start = |plugin: &str| -> Result<Resp> {
        let mut target = form_urlencoded::Serializer::new(String::new());
        target.append_pair("email", email.trim());
        if let Some(next) = safe_next(form.get("next")) {
            target.append_pair("next", &next);
        }
        let html = app.views.page(
            "continue",
            "Single sign-on",
            &ContinueView {
                url: format!("/sso/{plugin}/start?{}", target.finish()),
                heading: "Single sign-on",
                text: "Your organization signs you in. Taking you to its sign-in page…",
                link_text: "Continue to your organization's sign-in",
            },
        )?;
        Ok(Resp::html(200, html))
    };
    // An address in a domain with single sign-on goes to its identity provider (with a
    // password typed, only an instance administrator's right one signs in here).
    let password_given = form.get("password").is_some_and(|p| !p.is_empty());
    if !password_given {
        if let Some(route) = service::sso::route_for(app, &email)? {
            return sso_start(&route.plugin);
        }
    }
    let password = Secret::new(form.get("password").cloned().unwrap_or_default());
    match service::auth::login(app, &email, &password, &req.client_ip()) {
        Ok(s) => {
            let next = safe_next(form.get("next")).unwrap_or_else(|| "/settings".into());
            Ok(Resp::see_other(&next).header("Set-Cookie", session_cookie(app, &s)))
        }
        Err(Error::Sso {
            code: crate::domain::SsoFailure::Required,
            ..
        }) => match service::sso::route_for(app, &email)? {
            Some(route) => sso_start(&route.plugin),
            None => render(
                app,
                req,
                401,
                &email,
                Some("The email or password is wrong."),
            ),
        },
        Err(Error::MfaRequired { challenge, .. }) => {
            let mut target = String::from("/login/two-step");
            if let Some(next) = safe_next(form.get("next")) {
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("next", &next);
                target = format!("{target}?{}", q.finish());
            }
            Ok(Resp::see_other(&target).header(
                "Set-Cookie",
                super::two_step::challenge_cookie(app, Some(challenge.expose())),
            ))
        }
        Err(e @ Error::InvalidCredentials) => refused(app, req, &email, &e, None),
        Err(e @ Error::RateLimited { retry_after_secs }) => refused(
            app,
            req,
            &email,
            &e,
            Some(format!(
                "Too many attempts. Try again in {retry_after_secs} seconds."
            )),
        ),
        Err(e) => Err(e),
    }
}

/// The sign-in form again after a refused post: the problem's status (and `Retry-After`),
/// and `error` or the problem's detail above the form.
fn refused(
    app: &Context,
    req: &Req,
    email: &str,
    e: &Error,
    error: Option<String>,
) -> Result<Resp> {
    Form::new("login", "Sign in").refused(
        app,
        req,
        &Problem::of(e),
        error,
        LoginView::new(app, req, email),
    )
}

/// `POST /logout` (form, signed in).
pub fn logout(app: &Context, req: &Req) -> Result<Resp> {
    let mut provider = None;
    if let Some(s) = optional_session(app, req)? {
        if !session_csrf_ok(app, &s, req) {
            return Ok(csrf_failed(app));
        }
        if let Some(token) = req.cookie(SESSION_COOKIE) {
            provider = service::auth::logout(app, token)?;
        }
    }
    // Single sign-on that signs out at the provider too: the provider ends its session and
    // sends the browser back to the sign-in page.
    let next = provider
        .unwrap_or_else(|| safe_next(req.form().get("next")).unwrap_or_else(|| "/login".into()));
    Ok(Resp::see_other(&next).header("Set-Cookie", clear_cookie(app)))
}
