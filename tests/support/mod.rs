//! Shared integration-test support: raw HTTP clients and child-process
//! servers (the real `tenantry` binary and the `bare_hello` example).
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod problem;
pub mod server;

pub use client::{Client, KeepAlive, Response, Session};
pub use problem::assert_problem;
pub use server::{BareHello, TestServer};
