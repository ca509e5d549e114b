//! Passkeys over the API: a person's own passkeys (`/api/v1/me/passkeys…`) and the second
//! step of a sign-in with a passkey (`/api/v1/auth/login/two-step/passkey…`). The WebAuthn
//! ceremony itself happens in the client (`navigator.credentials.create/get` in a browser):
//! the options answers carry `{"publicKey": …}` and an opaque `ceremony` to send back with
//! the authenticator's `credential`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::http::auth::{principal, session_cookie};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::passkeys;
use crate::service::Context;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    ceremony: String,
    name: String,
    credential: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

/// The body of a removal: a fresh passkey check (`ceremony`, `credential`) or a current
/// code (`code`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofBody {
    ceremony: Option<String>,
    credential: Option<Value>,
    code: Option<Secret>,
}

impl ProofBody {
    fn proof(&self) -> Result<passkeys::Proof<'_>> {
        match (&self.ceremony, &self.credential, &self.code) {
            (Some(ceremony), Some(credential), None) => Ok(passkeys::Proof::Passkey {
                ceremony,
                credential,
            }),
            (None, None, Some(code)) => Ok(passkeys::Proof::Code(code.expose())),
            _ => Err(Error::InvalidJson(
                "send either `ceremony` and `credential` of a fresh passkey check, or `code`"
                    .into(),
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeBody {
    challenge: Secret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondStepBody {
    challenge: Secret,
    ceremony: String,
    credential: Value,
}

/// `GET /api/v1/me/passkeys`: `{available, passkeys}`.
pub fn list(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let keys = passkeys::list(app, &p)?;
    Ok(Resp::json(
        200,
        &json!({"available": passkeys::available(app), "passkeys": keys}),
    ))
}

/// `POST /api/v1/me/passkeys/registration/options`.
pub fn registration_options(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    Ok(Resp::json(200, &passkeys::registration_options(app, &p)?))
}

/// `POST /api/v1/me/passkeys/registration` (`{ceremony, name, credential}`).
pub fn register(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: RegisterBody = req.json()?;
    let key = passkeys::register(app, &p, &b.ceremony, &b.name, &b.credential)?;
    Ok(Resp::json(201, &key))
}

/// `PATCH /api/v1/me/passkeys/{passkey}` (`{name}`).
pub fn rename(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let b: RenameBody = req.json()?;
    let key = passkeys::rename(app, &p, req.param("passkey"), &b.name)?;
    Ok(Resp::json(200, &key))
}

/// `POST /api/v1/me/passkeys/verification/options`: a fresh passkey check (to remove a
/// passkey).
pub fn verification_options(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    Ok(Resp::json(200, &passkeys::verification_options(app, &p)?))
}

/// `DELETE /api/v1/me/passkeys/{passkey}`: needs a fresh second step, `{ceremony,
/// credential}` of a fresh passkey check or `{code}` (authenticator or recovery code).
pub fn remove(app: &Context, req: &Req) -> Result<Resp> {
    let p = principal(app, req)?;
    let body: Option<ProofBody> = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(req.json()?)
    };
    let proof = body.as_ref().map(ProofBody::proof).transpose()?;
    passkeys::remove(app, &p, req.param("passkey"), proof)?;
    Ok(Resp::new(204))
}

/// `POST /api/v1/auth/login/two-step/passkey/options` (`{challenge}`).
pub fn second_step_options(app: &Context, req: &Req) -> Result<Resp> {
    let b: ChallengeBody = req.json()?;
    Ok(Resp::json(
        200,
        &passkeys::second_step_options(app, b.challenge.expose())?,
    ))
}

/// `POST /api/v1/auth/login/two-step/passkey` (`{challenge, ceremony, credential}`): the
/// session, as sign-in answers.
pub fn finish_second_step(app: &Context, req: &Req) -> Result<Resp> {
    let b: SecondStepBody = req.json()?;
    let s = passkeys::finish_second_step(
        app,
        b.challenge.expose(),
        &b.ceremony,
        &b.credential,
        &req.client_ip(),
    )?;
    let me = crate::http::api::me::user_json_by_session(app, &s)?;
    Ok(Resp::json(200, &me).header("Set-Cookie", session_cookie(app, &s)))
}
