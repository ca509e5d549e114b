//! `/setup?token=…`: the first-run page that creates the first instance admin.

use serde_json::json;

use super::{csrf_failed, form_csrf, form_csrf_ok, message};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::http::auth::session_cookie;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::setup::{self, SetupInput};
use crate::service::Context;

fn invalid(app: &Context) -> Resp {
    message(
        app,
        404,
        "Setup link not valid",
        "This setup link is invalid or has already been used. If no administrator exists yet, restart tenantry to print a new link.",
        Some(("/login", "Go to sign in")),
    )
}

fn render(
    app: &Context,
    req: &Req,
    status: u16,
    token: &str,
    name: &str,
    email: &str,
    error: Option<String>,
) -> Result<Resp> {
    let (csrf, set_cookie) = form_csrf(app, req);
    let html = app.views.page(
        "setup",
        "Set up tenantry",
        &json!({"token": token, "name": name, "email": email, "error": error, "csrf_token": csrf}),
    )?;
    let mut resp = Resp::html(status, html);
    if let Some(c) = set_cookie {
        resp = resp.header("Set-Cookie", c);
    }
    Ok(resp)
}

/// `GET /setup?token=…`.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    let token = req.query_param("token").unwrap_or_default();
    if token.is_empty() || !setup::token_is_valid(app, &token)? {
        return Ok(invalid(app));
    }
    render(app, req, 200, &token, "", "", None)
}

/// `POST /setup` (form).
pub fn submit(app: &Context, req: &Req) -> Result<Resp> {
    let form = req.form();
    if !form_csrf_ok(app, req, form.get("csrf_token")) {
        return Ok(csrf_failed(app));
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (token, name, email) = (get("token"), get("name"), get("email"));
    let input = SetupInput {
        email: email.clone(),
        password: Secret::new(get("password")),
        name: name.clone(),
    };
    match setup::complete(app, &token, input) {
        Ok(user) => {
            let s = crate::service::auth::start_session(app, &user.id)?;
            Ok(Resp::see_other("/").header("Set-Cookie", session_cookie(app, &s)))
        }
        Err(Error::SetupTokenInvalid) => Ok(invalid(app)),
        Err(Error::Validation(errs)) => {
            let text = errs
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            render(app, req, 422, &token, &name, &email, Some(text))
        }
        Err(e) => Err(e),
    }
}
