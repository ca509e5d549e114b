//! `/`: signed in, the start is Settings (a notice code goes along); otherwise sign in.

use crate::error::Result;
use crate::http::auth::optional_session;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::Context;

/// Sends a signed-in person to Settings, anyone else to the sign-in page.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    if optional_session(app, req)?.is_none() {
        return Ok(Resp::see_other("/login"));
    }
    Ok(match req.query_param("notice") {
        Some(n) if n == "joined" || n == "email_verified" => {
            Resp::see_other(&format!("/settings?notice={n}"))
        }
        _ => Resp::see_other("/settings"),
    })
}
