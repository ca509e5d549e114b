//! `/sso/{plugin}/start` and `/sso/{plugin}/callback`: the browser side of single sign-on.

use super::{message, message_links, safe_next};
use crate::error::{Error, Result};
use crate::http::auth::session_cookie;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::sso;
use crate::service::Context;

fn binding_cookie(app: &Context, value: &str, max_age: i64) -> String {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    // Lax: the identity provider's redirect back is a top-level GET from another site.
    format!(
        "{}={value}; Path=/sso; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        sso::BINDING_COOKIE
    )
}

/// The cookie that asks the next start of `plugin` to let the person choose the account
/// again (empty value and `max_age` 0: cleared).
fn reselect_cookie(app: &Context, plugin: &str, max_age: i64) -> String {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    format!(
        "{}={plugin}; Path=/sso; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        sso::RESELECT_COOKIE
    )
}

/// How long a refusal is remembered for the next start.
const RESELECT_SECS: i64 = 3600;

/// The page for an identity the host refused: which account, why, and "Use another
/// account" (the next start asks the provider to choose the account again).
fn refused(app: &Context, e: &Error, r: &sso::Refused) -> Resp {
    let status = crate::http::problem::Problem::of(e).status;
    let why = match e {
        Error::Sso { message: text, .. } => text.clone(),
        _ => "This account is disabled. Ask your administrator.".to_string(),
    };
    log::info!("sso sign-in refused an identity of plugin {}", r.plugin);
    message_links(
        app,
        status,
        "Single sign-on did not work",
        &format!(
            "Your identity provider signed you in as {}, which cannot be used here: {why}",
            r.account
        ),
        &[
            (r.retry_path.as_str(), "Use another account"),
            ("/login", "Back to sign-in"),
        ],
    )
    .header("Set-Cookie", reselect_cookie(app, &r.plugin, RESELECT_SECS))
}

fn failed(app: &Context, e: Error) -> Result<Resp> {
    match &e {
        Error::Sso {
            code,
            message: text,
        } => {
            let status = crate::http::problem::Problem::of(&e).status;
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
pub fn start(app: &Context, req: &Req) -> Result<Resp> {
    let email = req.query_param("email").unwrap_or_default();
    let next = safe_next(req.query_param("next").as_ref());
    let plugin = req.param("plugin");
    // This browser's last identity from this provider was refused: let the person choose.
    let reselect = req.cookie(sso::RESELECT_COOKIE) == Some(plugin);
    match sso::start(app, plugin, &email, next, &req.client_ip(), reselect) {
        Ok(s) => Ok(Resp::see_other(&s.redirect_url).header(
            "Set-Cookie",
            binding_cookie(app, s.binding.expose(), sso::FLOW_TTL_SECS),
        )),
        Err(e) => failed(app, e),
    }
}

/// `GET /sso/{plugin}/callback?…`.
pub fn callback(app: &Context, req: &Req) -> Result<Resp> {
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
                .header("Set-Cookie", binding_cookie(app, "", 0))
                .header("Set-Cookie", reselect_cookie(app, "", 0)))
        }
        Err(sso::FinishFailure {
            error,
            refused: Some(r),
        }) => Ok(refused(app, &error, &r)),
        Err(f) => failed(app, f.error),
    }
}
