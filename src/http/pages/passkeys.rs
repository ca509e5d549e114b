//! Passkeys on the sign-in pages: "Sign in with a passkey" on `/login` (password-less, no
//! address typed) and "Use a passkey" on `/login/two-step` (the second step). The page
//! script asks for the options (JSON), lets the browser talk to the authenticator, and
//! posts its answer in an ordinary form, so the session cookie comes with a redirect.

use serde_json::Value;

use super::two_step::{challenge_cookie, CHALLENGE_COOKIE};
use super::{csrf_failed, form_csrf_ok, safe_next};
use crate::error::{Error, Result};
use crate::http::auth::session_cookie;
use crate::http::problem;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::passkeys;
use crate::service::Context;

fn options_answer(app: &Context, req: &Req, f: impl FnOnce() -> Result<passkeys::Started>) -> Resp {
    if !form_csrf_ok(app, req, req.form().get("csrf_token")) {
        return problem::http(
            403,
            "csrf_failed",
            "Form expired",
            "reload the page and try again",
        );
    }
    match f() {
        Ok(started) => Resp::json(200, &started),
        Err(e) => problem::from_error(&e),
    }
}

/// The browser's answer as posted (a JSON text); anything unreadable is refused by the
/// service as `passkey_invalid`.
fn posted_credential(req: &Req) -> Value {
    req.form()
        .get("credential")
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null)
}

fn posted(req: &Req, name: &str) -> String {
    req.form().get(name).cloned().unwrap_or_default()
}

fn signed_in(app: &Context, req: &Req, s: &crate::service::auth::NewSession) -> Resp {
    let next = safe_next(req.form().get("next")).unwrap_or_else(|| "/settings".into());
    Resp::see_other(&next)
        .header("Set-Cookie", session_cookie(app, s))
        .header("Set-Cookie", challenge_cookie(app, None))
}

const REFUSED: &str =
    "That passkey did not sign you in. Try again, or sign in with your email and password.";

/// `POST /login/passkey/options` (form: `csrf_token`): JSON options for a password-less
/// sign-in.
pub fn passwordless_options(app: &Context, req: &Req) -> Result<Resp> {
    Ok(options_answer(app, req, || {
        passkeys::passwordless_options(app)
    }))
}

/// `POST /login/passkey` (form: `ceremony`, `credential`, `next`).
pub fn passwordless_submit(app: &Context, req: &Req) -> Result<Resp> {
    if !form_csrf_ok(app, req, req.form().get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let out = passkeys::finish_passwordless(
        app,
        &posted(req, "ceremony"),
        &posted_credential(req),
        &req.client_ip(),
    );
    match out {
        Ok(s) => Ok(signed_in(app, req, &s)),
        Err(Error::RateLimited { retry_after_secs }) => Ok(super::login::render(
            app,
            req,
            429,
            "",
            Some(&format!(
                "Too many attempts. Try again in {retry_after_secs} seconds."
            )),
        )?
        .header("Retry-After", retry_after_secs.to_string())),
        Err(Error::TwoStep {
            code: "sso_required",
            ..
        }) => super::login::render(
            app,
            req,
            401,
            "",
            Some("Your organization signs you in with single sign-on. Enter your email address and leave the password empty."),
        ),
        Err(Error::TwoStep { .. }) => super::login::render(app, req, 401, "", Some(REFUSED)),
        Err(e) => Err(e),
    }
}

/// `POST /login/two-step/passkey/options` (form: `csrf_token`; the challenge cookie): JSON
/// options for the second step with a passkey.
pub fn second_step_options(app: &Context, req: &Req) -> Result<Resp> {
    let token = req.cookie(CHALLENGE_COOKIE).unwrap_or_default().to_string();
    Ok(options_answer(app, req, || {
        passkeys::second_step_options(app, &token)
    }))
}

/// `POST /login/two-step/passkey` (form: `ceremony`, `credential`, `next`; the challenge
/// cookie).
pub fn second_step_submit(app: &Context, req: &Req) -> Result<Resp> {
    if !form_csrf_ok(app, req, req.form().get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let token = req.cookie(CHALLENGE_COOKIE).unwrap_or_default();
    let out = passkeys::finish_second_step(
        app,
        token,
        &posted(req, "ceremony"),
        &posted_credential(req),
        &req.client_ip(),
    );
    match out {
        Ok(s) => Ok(signed_in(app, req, &s)),
        Err(Error::TwoStep {
            code: "two_step_challenge_invalid",
            ..
        }) => super::two_step::expired(app, req, super::two_step::EXPIRED),
        Err(Error::RateLimited { retry_after_secs }) => super::two_step::again(
            app,
            req,
            429,
            &format!("Too many attempts. Try again in {retry_after_secs} seconds."),
        )
        .map(|r| r.header("Retry-After", retry_after_secs.to_string())),
        Err(Error::TwoStep { .. }) => super::two_step::again(
            app,
            req,
            401,
            "That passkey was not accepted. Try again, or enter a code.",
        ),
        Err(e) => Err(e),
    }
}
