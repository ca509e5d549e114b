//! Health, readiness, the OpenAPI document, and the test-only panic route.

use serde_json::json;

use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::Context;

/// The OpenAPI 3.1 document (checked against the route table by a test).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /healthz`: the process is up.
pub fn healthz(_app: &Context, _req: &Req) -> Result<Resp> {
    Ok(Resp::json(200, &json!({"status": "ok"})))
}

/// `GET /readyz`: the database answers.
pub fn readyz(app: &Context, _req: &Req) -> Result<Resp> {
    if app.store.ping() {
        Ok(Resp::json(200, &json!({"status": "ready"})))
    } else {
        Ok(crate::http::problem::http(
            503,
            "not_ready",
            "Not ready",
            "the database does not answer",
        ))
    }
}

/// `GET /api/v1/openapi.json`.
pub fn openapi(_app: &Context, _req: &Req) -> Result<Resp> {
    Ok(Resp::new(200)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "public, max-age=300")
        .body(OPENAPI.as_bytes().to_vec()))
}

/// `GET /__debug/panic`: panics inside a handler when `debug.panic_route` is on (tests prove
/// that a panic becomes a 500 and the worker survives); 404 otherwise.
pub fn debug_panic(app: &Context, _req: &Req) -> Result<Resp> {
    if !app.config.debug_panic_route {
        return Err(Error::NotFound);
    }
    panic!("debug panic route called");
}
