//! `/api/v1/users`: user administration for instance admins.

use serde::Deserialize;

use super::page_params;
use crate::crypto::Secret;
use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::http::auth::principal;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::instance_admin;
use crate::service::users::{self, NewUserInput};
use crate::service::Context;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    email: String,
    name: String,
    password: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    disabled: bool,
}

/// `GET /api/v1/users`.
pub fn list(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let admin = instance_admin(&p)?;
    let (cursor, limit) = page_params(req)?;
    Ok(Resp::json(
        200,
        &users::list_by_admin(app, &admin, cursor.as_deref(), limit)?,
    ))
}

/// `POST /api/v1/users`.
pub fn create(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let admin = instance_admin(&p)?;
    let b: CreateBody = req.json()?;
    let user = users::create_by_admin(
        app,
        &admin,
        NewUserInput {
            email: b.email,
            name: b.name,
            password: b.password,
            sso: None,
        },
    )?;
    Ok(Resp::json(201, &user))
}

/// `PATCH /api/v1/users/{user}` (`{disabled}`).
pub fn update(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let admin = instance_admin(&p)?;
    let id = UserId::parse(req.param("user")).ok_or(Error::NotFound)?;
    let b: PatchBody = req.json()?;
    Ok(Resp::json(
        200,
        &users::set_disabled_by_admin(app, &admin, &id, b.disabled)?,
    ))
}
