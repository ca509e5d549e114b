//! HTTP: the only module that names tiny_http. The server loop ([`server`]; the connection
//! hardening lives in the patched tiny_http under `vendor/`), requests and responses, the route table, authentication and
//! the CSRF guard, the problem mapping, and the API and page handlers.

pub mod api;
pub mod auth;
pub mod client_addr;
pub mod contract;
mod metrics_endpoint;
pub mod pages;
pub mod problem;
pub mod request;
pub mod response;
pub mod routes;
pub mod server;
pub mod two_step_gate;

pub use server::serve;
