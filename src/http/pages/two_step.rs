//! `/login/two-step`: the second step of a sign-in. The password step leaves a short-lived,
//! single-use challenge in a cookie of this browser (HttpOnly, SameSite=Strict, only sent to
//! `/login…`); a right code turns it into a session.

use serde::Serialize;

use super::form::Form;
use super::{csrf_failed, form_csrf_ok, safe_next};
use crate::error::{Error, Result};
use crate::http::auth::session_cookie;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::two_step;
use crate::service::Context;

/// The challenge cookie name.
pub const CHALLENGE_COOKIE: &str = "tenantry_two_step";

/// `Set-Cookie` for the challenge (`None` clears it).
pub fn challenge_cookie(app: &Context, token: Option<&str>) -> String {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{CHALLENGE_COOKIE}={t}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            two_step::CHALLENGE_SECS
        ),
        None => format!(
            "{CHALLENGE_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        ),
    }
}

fn next_of(req: &Req) -> String {
    safe_next(req.query_param("next").as_ref())
        .or_else(|| safe_next(req.form().get("next")))
        .unwrap_or_default()
}

/// The second-step page: which of the code form and the passkey button it shows.
#[derive(Serialize)]
struct TwoStepView<'a> {
    /// The address whose password was right.
    email: &'a str,
    next: String,
    /// The authenticator-app (or recovery) code form.
    code: bool,
    /// The passkey button.
    passkey: bool,
}

fn render(app: &Context, req: &Req, status: u16, email: &str, error: Option<&str>) -> Result<Resp> {
    // What this account can use: the code form, the passkey button, or both.
    let methods =
        match two_step::challenge_user(app, req.cookie(CHALLENGE_COOKIE).unwrap_or_default())? {
            Some(u) => two_step::methods(app, &u.id)?,
            None => Default::default(),
        };
    let passkey = methods.passkey;
    let code = methods.totp || !passkey;
    Form::new("two_step", "Two-step sign-in")
        .status(status)
        .error(error.map(str::to_string))
        .render(
            app,
            req,
            TwoStepView {
                email,
                next: next_of(req),
                code,
                passkey,
            },
        )
}

pub(super) const EXPIRED: &str =
    "Your sign-in expired or was already finished. Enter your password again.";

/// Back to the password step, saying why.
pub(super) fn expired(app: &Context, req: &Req, why: &str) -> Result<Resp> {
    Ok(super::login::render(app, req, 401, "", Some(why))?
        .header("Set-Cookie", challenge_cookie(app, None)))
}

/// The second-step page again with an error, while the challenge still takes answers; else
/// back to the password step.
pub(super) fn again(app: &Context, req: &Req, status: u16, error: &str) -> Result<Resp> {
    let token = req.cookie(CHALLENGE_COOKIE).unwrap_or_default();
    match two_step::challenge_user(app, token)? {
        Some(user) => render(app, req, status, user.email.as_str(), Some(error)),
        None => expired(
            app,
            req,
            "Too many failed attempts. Enter your password again.",
        ),
    }
}

/// `GET /login/two-step`.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    let token = req.cookie(CHALLENGE_COOKIE).unwrap_or_default();
    match two_step::challenge_user(app, token)? {
        Some(user) => render(app, req, 200, user.email.as_str(), None),
        None => {
            let mut q = form_urlencoded::Serializer::new(String::new());
            let next = next_of(req);
            if !next.is_empty() {
                q.append_pair("next", &next);
            }
            let q = q.finish();
            let target = if q.is_empty() {
                "/login".to_string()
            } else {
                format!("/login?{q}")
            };
            Ok(Resp::see_other(&target).header("Set-Cookie", challenge_cookie(app, None)))
        }
    }
}

/// `POST /login/two-step` (form: `code`).
pub fn submit(app: &Context, req: &Req) -> Result<Resp> {
    let form = req.form();
    if !form_csrf_ok(app, req, form.get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let token = req.cookie(CHALLENGE_COOKIE).unwrap_or_default();
    let Some(user) = two_step::challenge_user(app, token)? else {
        return expired(app, req, EXPIRED);
    };
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    let email = user.email.as_str();
    match two_step::finish(app, token, code, &req.client_ip()) {
        Ok(s) => {
            let next = safe_next(form.get("next")).unwrap_or_else(|| "/settings".into());
            Ok(Resp::see_other(&next)
                .header("Set-Cookie", session_cookie(app, &s))
                .header("Set-Cookie", challenge_cookie(app, None)))
        }
        Err(Error::TwoStep {
            code: "two_step_code_invalid",
            ..
        }) => {
            // Too many wrong codes spend the challenge: then back to the password.
            if two_step::challenge_user(app, token)?.is_none() {
                return expired(
                    app,
                    req,
                    "Too many wrong codes. Enter your password again, then a current code.",
                );
            }
            render(
                app,
                req,
                401,
                email,
                Some("This code is wrong or was already used. Enter the current code from your authenticator app, or one of your recovery codes."),
            )
        }
        Err(Error::TwoStep {
            code: "two_step_challenge_invalid",
            ..
        }) => expired(app, req, EXPIRED),
        Err(Error::RateLimited { retry_after_secs }) => Ok(render(
            app,
            req,
            429,
            email,
            Some(&format!(
                "Too many attempts. Try again in {retry_after_secs} seconds."
            )),
        )?
        .header("Retry-After", retry_after_secs.to_string())),
        Err(e) => Err(e),
    }
}
