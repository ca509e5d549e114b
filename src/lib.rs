//! tenantry: the settings backend and pages of a multi-tenant product in one binary.
//!
//! Layout (dependencies point one way: `http → service → store → domain`, `http → views`):
//!
//! - [`config`]: defaults < `tenantry.toml` < `TENANTRY_*` env < flags, validated once.
//! - [`app`]: the composition root; builds the use cases' [`service::Context`] once.
//! - [`runtime`]: [`run`] serves a configuration on a listener and returns a [`Handle`].
//! - [`error`]: the one domain error enum (no HTTP types).
//! - [`crypto`]: tokens, keyed hashes, Argon2id, constant-time checks (ring + argon2).
//! - [`domain`]: IDs, emails, users and validation rules; no IO.
//! - [`service`]: use cases; [`service::authz`] builds the access proofs they require.
//! - [`store`]: the only module that names rusqlite; one writer, pooled readers, migrations.
//! - [`http`]: the only module that names tiny_http; server loop, routes, handlers.
//! - [`views`]: handlebars templates for pages.
//! - [`metrics`]: Prometheus metrics (`/metrics`), atomics on the request path.
//! - [`logging`]: text or JSON log lines carrying the request ID of the handling thread.
//! - [`cli`]: the clap command line.
//! - [`tls`]: the CA roots of outbound TLS (SMTP, plugins' HTTP): bundled or system, plus `tls.ca_file`.

#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod plugin_host;
pub mod runtime;
pub mod service;
pub mod store;
pub mod tls;
pub mod views;

pub use runtime::{run, Handle};
