//! `/`: the signed-in start page (the full settings pages come with their own capability).

use serde_json::json;

use crate::app::App;
use crate::error::Result;
use crate::http::auth::optional_session;
use crate::http::request::Req;
use crate::http::response::Resp;

fn notice(code: &str) -> Option<&'static str> {
    match code {
        "joined" => Some("You have joined. Welcome!"),
        "email_verified" => Some("Your email address is confirmed."),
        _ => None,
    }
}

/// Shows who is signed in, or sends to the sign-in page.
pub fn show(app: &App, req: &Req) -> Result<Resp> {
    let Some(s) = optional_session(app, req)? else {
        return Ok(Resp::see_other("/login"));
    };
    let u = s.principal.user()?;
    let html = app.views.page(
        "home",
        "Signed in",
        &json!({"name": u.name, "email": u.email, "csrf_token": s.csrf_token, "notice": req.query_param("notice").and_then(|n| notice(&n))}),
    )?;
    Ok(Resp::html(200, html))
}
