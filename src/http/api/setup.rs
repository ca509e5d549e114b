//! `POST /api/v1/setup`: create the first instance admin with the one-time token.

use serde::Deserialize;

use crate::crypto::Secret;
use crate::error::Result;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::setup::{complete as complete_setup, SetupInput};
use crate::service::Context;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupBody {
    token: Secret,
    email: String,
    password: Secret,
    name: String,
}

/// Creates the first admin; the token stops working.
pub fn complete(app: &Context, req: &Req) -> Result<Resp> {
    let b: SetupBody = req.json()?;
    let user = complete_setup(
        app,
        b.token.expose(),
        SetupInput {
            email: b.email,
            password: b.password,
            name: b.name,
        },
    )?;
    Ok(Resp::json(201, &user))
}
