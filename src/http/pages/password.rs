//! `/forgot-password`, `/reset-password?token=…` and `/verify-email?token=…`.

use serde::Serialize;

use super::form::Form;
use super::{csrf_failed, form_csrf_ok, message};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::passwords;
use crate::service::Context;

/// The forgotten-password page: the form, or "sent" after a post.
#[derive(Serialize)]
struct ForgotView {
    sent: bool,
}

/// The new-password form (and the email-change confirmation): the link's token.
#[derive(Serialize)]
struct TokenView<'a> {
    token: &'a str,
    /// The new address (email-change confirmation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

fn forgot_form() -> Form<'static> {
    Form::new("forgot", "Reset your password")
}

fn reset_form() -> Form<'static> {
    Form::new("reset", "Choose a new password")
}

/// `GET /forgot-password`.
pub fn forgot(app: &Context, req: &Req) -> Result<Resp> {
    forgot_form().render(app, req, ForgotView { sent: false })
}

/// `POST /forgot-password`: the same answer whether or not the account exists.
pub fn forgot_submit(app: &Context, req: &Req) -> Result<Resp> {
    let form = req.form();
    if !form_csrf_ok(app, req, form.get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let email = form.get("email").cloned().unwrap_or_default();
    if crate::domain::Email::parse(&email).is_err() {
        return forgot_form()
            .status(422)
            .error(Some("Enter a valid email address.".into()))
            .render(app, req, ForgotView { sent: false });
    }
    passwords::request(app, &email, &req.client_ip())?;
    forgot_form().render(app, req, ForgotView { sent: true })
}

fn invalid_link(app: &Context) -> Resp {
    message(
        app,
        400,
        "Link invalid or expired",
        "This password reset link is invalid, was already used, or has expired (links work for 30 minutes). Ask for a new one.",
        Some(("/forgot-password", "Ask for a new link")),
    )
}

/// `GET /reset-password?token=…`.
pub fn reset(app: &Context, req: &Req) -> Result<Resp> {
    let token = req.query_param("token").unwrap_or_default();
    if token.len() != crate::crypto::TOKEN_LEN || !passwords::reset_token_usable(app, &token)? {
        return Ok(invalid_link(app));
    }
    reset_form().render(
        app,
        req,
        TokenView {
            token: &token,
            email: None,
        },
    )
}

/// `POST /reset-password`.
pub fn reset_submit(app: &Context, req: &Req) -> Result<Resp> {
    let form = req.form();
    if !form_csrf_ok(app, req, form.get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let password = Secret::new(form.get("password").cloned().unwrap_or_default());
    match passwords::confirm(app, &token, &password) {
        Ok(()) => Ok(message(
            app,
            200,
            "Password changed",
            "Your password was changed and every session was signed out. Sign in with the new password.",
            Some(("/login", "Sign in")),
        )),
        Err(Error::Validation(errs)) => {
            let text = errs.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ");
            reset_form()
                .status(422)
                .error(Some(format!("The password {text}.")))
                .render(
                    app,
                    req,
                    TokenView {
                        token: &token,
                        email: None,
                    },
                )
        }
        Err(Error::TokenInvalid) => Ok(invalid_link(app)),
        Err(e) => Err(e),
    }
}

/// `GET /verify-email?token=…`.
pub fn verify_email(app: &Context, req: &Req) -> Result<Resp> {
    let token = req.query_param("token").unwrap_or_default();
    match passwords::verify_email(app, &token) {
        Ok(()) => Ok(message(app, 200, "Email confirmed", "Your email address is confirmed.", Some(("/", "Continue")))),
        Err(Error::TokenInvalid) => Ok(message(
            app,
            400,
            "Link invalid or expired",
            "This confirmation link is invalid, was already used, or has expired. Sign in and ask for a new one.",
            Some(("/login", "Sign in")),
        )),
        Err(e) => Err(e),
    }
}

/// How an email-change link ended, as a page.
fn email_change_outcome(app: &Context, result: Result<Resp>) -> Result<Resp> {
    match result {
        Err(Error::Conflict(_)) => Ok(message(
            app,
            409,
            "This address cannot be used",
            "This address cannot be used for your account: it already belongs to another account, or its domain signs in with single sign-on. Your address was not changed.",
            Some(("/settings/personal/general", "Back to settings")),
        )),
        Err(Error::TokenInvalid) => Ok(message(
            app,
            400,
            "Link invalid or expired",
            "This email-change link is invalid, was already used, was replaced by a newer one, or has expired (links work for 24 hours). Ask for a new one from Settings > General.",
            Some(("/settings/personal/general", "Back to settings")),
        )),
        other => other,
    }
}

/// `GET /confirm-email-change?token=…`: says what the link would change and asks for a
/// click. Fetching the link (a mail scanner, a link preview) changes nothing.
pub fn confirm_email_change(app: &Context, req: &Req) -> Result<Resp> {
    let token = req.query_param("token").unwrap_or_default();
    let result = crate::service::email_change::preview(app, &token).and_then(|pending| {
        Form::new("confirm_email_change", "Confirm your new address").render(
            app,
            req,
            TokenView {
                token: &token,
                email: Some(pending.email.as_str()),
            },
        )
    });
    email_change_outcome(app, result)
}

/// `POST /confirm-email-change`: applies an email-change link (the token is the proof; no
/// session needed).
pub fn confirm_email_change_submit(app: &Context, req: &Req) -> Result<Resp> {
    let form = req.form();
    if !form_csrf_ok(app, req, form.get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let result = crate::service::email_change::confirm(app, &token).map(|changed| {
        message(
            app,
            200,
            "Email address changed",
            &format!(
                "Your sign-in address is now {}. Use it the next time you sign in.",
                changed.email
            ),
            Some(("/settings/personal/general", "Back to settings")),
        )
    });
    email_change_outcome(app, result)
}
