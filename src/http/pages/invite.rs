//! `/invite/{token}`: the whole acceptance flow, without JavaScript.
//! Invalid, expired, revoked and used links each get their own page; signed out → sign in or
//! create the account for exactly the invited address; signed in with it → "Join …";
//! signed in with another address → a page naming both (the invited one masked), a sign-out
//! button, and who to ask for a resend.

use serde_json::json;

use super::{csrf_failed, form_csrf, form_csrf_ok, message, session_csrf_ok};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::http::auth::{optional_session, session_cookie};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::invitations::{self, mask_email, Lookup};
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

fn base(l: &Lookup, token: &str) -> serde_json::Value {
    let inv = &l.invitation;
    json!({
        "token": token,
        "target_name": l.target_name,
        "inviter_name": inv.inviter_name,
        "role": inv.role,
        "access": l.access_text,
        "email": inv.email,
        "next": format!("/invite/{token}"),
        "signed_out": false, "matching": false, "mismatch": false,
        "error": null, "name": "", "csrf_token": "", "signed_in": "", "masked": "",
        "sso_url": null,
    })
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
    let mut data = base(&l, &token);
    data["error"] = json!(error);
    let mut set_cookie = None;
    match optional_session(app, req)? {
        None => {
            let (csrf, cookie) = form_csrf(app, req);
            set_cookie = cookie;
            data["signed_out"] = json!(true);
            data["csrf_token"] = json!(csrf);
            data["name"] = json!(req.form().get("name").cloned().unwrap_or_default());
            // An address in a verified SSO domain signs up through its identity provider:
            // the page offers that instead of a password form.
            data["sso_url"] = json!(sso_url(app, &l.invitation.email, &token)?);
        }
        Some(s) => {
            let user = s.principal.user()?;
            data["csrf_token"] = json!(s.csrf_token);
            if user.email.as_str() == l.invitation.email {
                data["matching"] = json!(true);
            } else {
                data["mismatch"] = json!(true);
                data["signed_in"] = json!(user.email);
                data["masked"] = json!(mask_email(&l.invitation.email));
            }
        }
    }
    let html = app
        .views
        .page("invite", &format!("Invitation to {}", l.target_name), &data)?;
    let mut resp = Resp::html(status, html);
    if let Some(c) = set_cookie {
        resp = resp.header("Set-Cookie", c);
    }
    Ok(resp)
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
            let text = errs
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            return render(app, req, 422, Some(text));
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
