//! `/sso/{plugin}/start` and `/sso/{plugin}/callback`: the browser side of single sign-on.

use super::{message, safe_next};
use crate::app::App;
use crate::error::{Error, Result};
use crate::http::auth::session_cookie;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::sso;

fn binding_cookie(app: &App, value: &str, max_age: i64) -> String {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    // Lax: the identity provider's redirect back is a top-level GET from another site.
    format!(
        "{}={value}; Path=/sso; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        sso::BINDING_COOKIE
    )
}

fn failed(app: &App, e: Error) -> Result<Resp> {
    match &e {
        Error::Sso {
            code,
            message: text,
        } => {
            let status = crate::http::problem::classify(&e).0;
            log::info!("sso sign-in refused: {code}");
            Ok(message(
                app,
                status,
                "Single sign-on did not work",
                text,
                Some(("/login", "Back to sign-in")),
            ))
        }
        Error::AccountDisabled => Ok(message(
            app,
            403,
            "Account disabled",
            "This account is disabled. Ask your administrator.",
            Some(("/login", "Back to sign-in")),
        )),
        Error::RateLimited { retry_after_secs } => Ok(message(
            app,
            429,
            "Too many sign-in attempts",
            &format!("Too many sign-ins were started from here. Try again in {retry_after_secs} seconds."),
            Some(("/login", "Back to sign-in")),
        )
        .header("Retry-After", retry_after_secs.to_string())),
        _ => Err(e),
    }
}

/// `GET /sso/{plugin}/start?email=…&next=…`.
pub fn start(app: &App, req: &Req) -> Result<Resp> {
    let email = req.query_param("email").unwrap_or_default();
    let next = safe_next(req.query_param("next").as_ref());
    match sso::start(app, req.param("plugin"), &email, next, &req.client_ip()) {
        Ok(s) => Ok(Resp::see_other(&s.redirect_url).header(
            "Set-Cookie",
            binding_cookie(app, s.binding.expose(), sso::FLOW_TTL_SECS),
        )),
        Err(e) => failed(app, e),
    }
}

/// `GET /sso/{plugin}/callback?…`.
pub fn callback(app: &App, req: &Req) -> Result<Resp> {
    let result = sso::finish(
        app,
        req.param("plugin"),
        req.query_pairs(),
        req.cookie(sso::BINDING_COOKIE),
        &req.client_ip(),
    );
    match result {
        Ok(done) => {
            let next = done.next.unwrap_or_else(|| "/".into());
            Ok(Resp::see_other(&next)
                .header("Set-Cookie", session_cookie(app, &done.session))
                .header("Set-Cookie", binding_cookie(app, "", 0)))
        }
        Err(e) => failed(app, e),
    }
}
