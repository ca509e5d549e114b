//! Shared integration-test support: raw HTTP clients and child-process
//! servers (the real `tenantry` binary and the `bare_hello` example), the plugin build, and
//! fake upstream services (an OIDC provider, a billing API, an email API).
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod client;
pub mod fake_oidc;
pub mod fake_upstreams;
pub mod forms;
pub mod plugins;
pub mod problem;
pub mod server;

pub use client::{Client, KeepAlive, Response, Session};
pub use problem::assert_problem;
pub use server::{BareHello, TestServer};
