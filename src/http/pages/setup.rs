//! `/setup?token=…`: the first-run page that creates the first instance admin.

use serde::Serialize;

use super::form::{field_errors_line, Form};
use super::{csrf_failed, form_csrf_ok, message};
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

/// The setup form's own fields (kept after a refused post).
#[derive(Serialize)]
struct SetupView<'a> {
    token: &'a str,
    name: &'a str,
    email: &'a str,
}

fn setup_form() -> Form<'static> {
    Form::new("setup", "Set up tenantry")
}

/// `GET /setup?token=…`.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    let token = req.query_param("token").unwrap_or_default();
    if token.is_empty() || !setup::token_is_valid(app, &token)? {
        return Ok(invalid(app));
    }
    setup_form().render(
        app,
        req,
        SetupView {
            token: &token,
            name: "",
            email: "",
        },
    )
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
        Err(Error::Validation(errs)) => setup_form()
            .status(422)
            .error(Some(field_errors_line(&errs)))
            .render(
                app,
                req,
                SetupView {
                    token: &token,
                    name: &name,
                    email: &email,
                },
            ),
        Err(e) => Err(e),
    }
}
