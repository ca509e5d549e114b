//! Shared integration-test support: raw HTTP clients, servers (tenantry in this process, or
//! the real `tenantry` binary as a child process, and the `bare_hello` example), the plugin
//! build, fake upstream services (an OIDC provider, a billing API, an email API), shared set-up
//! flows (`flows`: sign-in, users and organizations created through the API…) and waiting on
//! conditions (`wait`).
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod client;
pub mod db;
pub mod dns;
pub mod fake_oidc;
pub mod fake_upstreams;
pub mod flows;
pub mod forms;
pub mod pages;
pub mod plugins;
pub mod problem;
pub mod process;
pub mod server;
pub mod wait;

pub use client::{Client, KeepAlive, Response, Session};
pub use problem::assert_problem;
pub use server::{BareHello, TestServer};
pub use wait::{poll, wait_until};
