//! Integration test binary: shared support code plus the test modules.

mod support;

mod accept_supervision;
mod api_keys;
mod architecture;
mod cli;
mod cli_orgs;
mod email_delivery;
mod email_flows;
mod foundation;
mod hardening;
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
mod preauth;
mod sso_domains;
mod sso_oidc_provider;
mod two_step;
mod two_step_policy;
