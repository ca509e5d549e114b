//! Integration test binary: shared support code plus the test modules, one an area.

mod support;

mod api_keys;
mod architecture;
mod cli;
mod cli_orgs;
mod durability;
mod email_delivery;
mod email_flows;
mod http_limits;
mod http_server;
mod litestream;
mod observability;
mod openapi;
mod openapi_contract;
mod operations;
mod orgs_matrix;
mod orgs_rules;
mod outbound_tls;
mod pages_browser;
mod pages_settings;
mod pages_two_step;
mod pages_two_step_policy;
mod passkeys;
mod plugin_cli;
mod plugins;
mod request_guards;
mod secrets;
mod sessions;
mod setup;
mod sign_in;
mod sso_domains;
mod sso_oidc_provider;
mod two_step;
mod two_step_policy;
mod users_admin;
