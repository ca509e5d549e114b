//! Who is calling, and the cross-site guard. A session cookie authenticates browsers; unsafe
//! cookie-authenticated requests must come from our own origin.

use super::problem;
use super::request::Req;
use super::response::Resp;
use crate::error::{Error, Result};
use crate::service::auth::{authenticate, NewSession, SessionInfo};
use crate::service::authz::Principal;
use crate::service::Context;

/// The session cookie name.
pub const SESSION_COOKIE: &str = "tenantry_session";

/// The signed-in session, or `unauthenticated`.
pub fn session(app: &Context, req: &Req) -> Result<SessionInfo> {
    optional_session(app, req)?.ok_or(Error::Unauthenticated)
}

/// The signed-in session if any.
pub fn optional_session(app: &Context, req: &Req) -> Result<Option<SessionInfo>> {
    match req.cookie(SESSION_COOKIE) {
        Some(token) if !token.is_empty() => authenticate(app, token, &req.client_ip()),
        _ => Ok(None),
    }
}

/// The calling principal: an API key (`Authorization: Bearer`), else the session; or
/// `unauthenticated`.
pub fn principal(app: &Context, req: &Req) -> Result<Principal> {
    if let Some(h) = req.header("authorization") {
        let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthenticated);
        }
        return crate::service::api_keys::authenticate(app, rest.trim(), &req.client_ip());
    }
    Ok(session(app, req)?.principal)
}

/// True when the query string carries something that looks like an API key.
pub fn key_in_query(req: &Req) -> bool {
    req.query.contains("tnt_")
        || req
            .query_pairs()
            .iter()
            .any(|(_, v)| v.trim_start().starts_with("tnt_"))
}

/// `Set-Cookie` value for a new session.
pub fn session_cookie(app: &Context, s: &NewSession) -> String {
    format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        s.token.expose(),
        s.max_age_secs,
        if app.secure_cookies() { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` value that clears the session cookie.
pub fn clear_cookie(app: &Context) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if app.secure_cookies() { "; Secure" } else { "" }
    )
}

fn same_origin(app: &Context, origin: &str) -> bool {
    origin
        .trim_end_matches('/')
        .eq_ignore_ascii_case(&app.public_url)
}

/// Refuses cookie-authenticated unsafe requests with a foreign or `null` Origin, or with
/// `Sec-Fetch-Site: cross-site`. Bearer-authenticated calls are unaffected.
pub fn csrf_guard(app: &Context, req: &Req) -> Option<Resp> {
    if matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return None;
    }
    if req.header("authorization").is_some() && req.cookie(SESSION_COOKIE).is_none() {
        return None;
    }
    let cross = req.header("sec-fetch-site") == Some("cross-site")
        || req.header("origin").is_some_and(|o| !same_origin(app, o));
    cross.then(|| {
        problem::http(
            403,
            "csrf_failed",
            "Cross-site request refused",
            "this request came from another site; send it from the tenantry pages or with an API key",
        )
    })
}
