//! `/invite/{token}`: the whole acceptance flow, without JavaScript.
//! Invalid, expired, revoked and used links each get their own page; signed out → sign in or
//! create the account for exactly the invited address; signed in with it → "Join …";
//! signed in with another address → a page naming both (the invited one masked), a sign-out
//! button, and who to ask for a resend.

use serde::Serialize;

use super::form::{field_errors_line, Form};
use super::{csrf_failed, form_csrf_ok, message, session_csrf_ok};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::http::auth::{optional_session, session_cookie};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::invitations::{self, mask_email};
use crate::service::Context;

fn token_of(req: &Req) -> String {
    req.param("token").to_string()
}

/// The page for an unusable link.
pub fn unusable(app: &Context, e: &Error) -> Resp {
    let (status, heading, text) = match e {
        Error::InvitationExpired => (410, "Invitation expired", "This invitation has expired. Ask the person who invited you to resend it."),
        Error::InvitationRevoked => (410, "Invitation no longer valid", "This invitation link is no longer valid: it was revoked, a newer link was sent, or the person who invited you can no longer give this access. Use the newest email, or ask someone who manages the team to invite you again."),
        Error::InvitationUsed => (409, "Invitation already used", "This invitation has already been accepted. Sign in to continue."),
        _ => (404, "Invitation not found", "This invitation link is not valid. Check that you copied the whole link from the email."),
    };
    message(
        app,
        status,
        heading,
        text,
        Some(("/login", "Go to sign in")),
    )
}

/// The invitation page: what is offered, and which of its three shapes this visitor sees.
#[derive(Serialize)]
struct InviteView<'a> {
    token: &'a str,
    target_name: &'a str,
    inviter_name: &'a str,
    role: &'a str,
    access: &'a str,
    email: &'a str,
    next: String,
    /// Signed out: sign in, or create the account (or go to single sign-on).
    signed_out: bool,
    /// Signed in with the invited address: "Join …".
    matching: bool,
    /// Signed in with another address: both named, the invited one masked.
    mismatch: bool,
    name: String,
    signed_in: String,
    masked: String,
    sso_url: Option<String>,
}

fn render(app: &Context, req: &Req, status: u16, error: Option<String>) -> Result<Resp> {
    let token = token_of(req);
    let l = match invitations::lookup(app, &token) {
        Ok(l) => l,
        Err(
            e @ (Error::InvitationNotFound
            | Error::InvitationExpired
            | Error::InvitationRevoked
            | Error::InvitationUsed),
        ) => return Ok(unusable(app, &e)),
        Err(e) => return Err(e),
    };
    let inv = &l.invitation;
    let mut view = InviteView {
        token: &token,
        target_name: &l.target_name,
        inviter_name: &inv.inviter_name,
        role: inv.role.as_str(),
        access: &l.access_text,
        email: &inv.email,
        next: format!("/invite/{token}"),
        signed_out: false,
        matching: false,
        mismatch: false,
        name: String::new(),
        signed_in: String::new(),
        masked: String::new(),
        sso_url: None,
    };
    let title = format!("Invitation to {}", l.target_name);
    let mut form = Form::new("invite", &title).status(status).error(error);
    match optional_session(app, req)? {
        None => {
            view.signed_out = true;
            view.name = req.form().get("name").cloned().unwrap_or_default();
            // An address in a verified SSO domain signs up through its identity provider:
            // the page offers that instead of a password form.
            view.sso_url = sso_url(app, &inv.email, &token)?;
        }
        Some(s) => {
            let user = s.principal.user()?;
            form = form.session_token(&s.csrf_token);
            if user.email.as_str() == inv.email {
                view.matching = true;
            } else {
                view.mismatch = true;
                view.signed_in = user.email.as_str().to_string();
                view.masked = mask_email(&inv.email);
            }
        }
    }
    form.render(app, req, view)
}

/// Where an invited address in a verified SSO domain signs up: its single sign-on, then back
/// to the invitation. `None` when the address signs up with a password.
fn sso_url(app: &Context, email: &str, token: &str) -> Result<Option<String>> {
    Ok(crate::service::sso::route_for(app, email)?.map(|route| {
        format!(
            "{}&{}",
            crate::service::sso::start_url(app, &route.plugin, email),
            form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &format!("/invite/{token}"))
                .finish()
        )
    }))
}

/// `GET /invite/{token}`.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    render(app, req, 200, None)
}

/// `POST /invite/{token}/accept` (signed in, CSRF token of the session).
pub fn accept(app: &Context, req: &Req) -> Result<Resp> {
    let Some(s) = optional_session(app, req)? else {
        return Ok(Resp::see_other(&format!("/invite/{}", token_of(req))));
    };
    if !session_csrf_ok(app, &s, req) {
        return Ok(csrf_failed(app));
    }
    match invitations::accept(app, &s.principal, &token_of(req)) {
        Ok(_) => Ok(Resp::see_other("/?notice=joined")),
        Err(
            e @ (Error::InvitationNotFound
            | Error::InvitationExpired
            | Error::InvitationRevoked
            | Error::InvitationUsed),
        ) => Ok(unusable(app, &e)),
        Err(Error::EmailMismatch { .. }) => render(app, req, 403, None),
        Err(Error::EmailUnverified) => render(
            app,
            req,
            403,
            Some(
                "Confirm your email address first (see the email we sent you), then accept.".into(),
            ),
        ),
        Err(e) => Err(e),
    }
}

/// `POST /invite/{token}/signup`: creates the account for the invited address, signs in,
/// and accepts; an address in a verified SSO domain is sent to its single sign-on instead.
pub fn signup(app: &Context, req: &Req) -> Result<Resp> {
    let form = req.form();
    if !form_csrf_ok(app, req, form.get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let token = token_of(req);
    // An address in a verified SSO domain gets its account from the identity provider, never
    // a password here: send the browser there, and back to this invitation afterwards.
    match invitations::lookup(app, &token) {
        Ok(l) => {
            if let Some(to) = sso_url(app, &l.invitation.email, &token)? {
                return Ok(Resp::see_other(&to));
            }
        }
        Err(
            e @ (Error::InvitationNotFound
            | Error::InvitationExpired
            | Error::InvitationRevoked
            | Error::InvitationUsed),
        ) => return Ok(unusable(app, &e)),
        Err(e) => return Err(e),
    }
    let name = form.get("name").cloned().unwrap_or_default();
    let password = Secret::new(form.get("password").cloned().unwrap_or_default());
    let user = match invitations::sign_up(app, &token, &name, &password) {
        Ok(u) => u,
        Err(
            e @ (Error::InvitationNotFound
            | Error::InvitationExpired
            | Error::InvitationRevoked
            | Error::InvitationUsed),
        ) => return Ok(unusable(app, &e)),
        Err(Error::Validation(errs)) => {
            return render(app, req, 422, Some(field_errors_line(&errs)));
        }
        Err(Error::Conflict(m)) => return render(app, req, 409, Some(m)),
        Err(e) => return Err(e),
    };
    let session = crate::service::auth::start_session(app, &user.id)?;
    let principal = crate::service::authz::Principal::for_user(user, &req.client_ip());
    let cookie = session_cookie(app, &session);
    match invitations::accept(app, &principal, &token) {
        Ok(_) => Ok(Resp::see_other("/?notice=joined").header("Set-Cookie", cookie)),
        Err(e) => Ok(super::error_page(app, &e).header("Set-Cookie", cookie)),
    }
}
