//! HTTP: the only module that names tiny_http. The server loop and its hardening
//! ([`server`], [`conntrack`]), requests and responses, the route table, authentication and
//! the CSRF guard, the problem mapping, and the API and page handlers.

pub mod api;
pub mod auth;
pub mod conntrack;
pub mod pages;
pub mod problem;
pub mod request;
pub mod response;
pub mod routes;
pub mod server;

pub use server::serve;
