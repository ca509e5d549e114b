//! `sso-oidc`: a tenantry plugin (world `sso`) that signs people in with any OpenID Connect
//! provider, using the authorization-code flow with PKCE (S256).
//!
//! * [`start`](exports::tenantry::plugin::sso_hooks::Guest::start) discovers the provider
//!   (`{issuer}/.well-known/openid-configuration`), makes a PKCE verifier from the host's
//!   random generator and answers the authorization URL; the verifier travels in `flow-data`.
//! * [`finish`](exports::tenantry::plugin::sso_hooks::Guest::finish) checks the callback,
//!   exchanges the code at the token endpoint, verifies the ID token (RS256 or ES256, key from
//!   the provider's JWKS by `kid`) and answers the identity.
//!
//! * `sso-extras` (tenantry:plugin 2.1.0): `start-with` asks the provider to choose the
//!   account again (`prompt`) after a refused identity, `finish-with-session` also answers
//!   what signing out at the provider needs, `sign-out` builds the provider's end-session
//!   URL, and `check-configuration` tries discovery, issuer, JWKS and the token endpoint
//!   before anyone signs in ([`check`]).
//!
//! The plugin imports only `host`: settings, key-value storage (discovery and JWKS cache),
//! clock, randomness, logging and allowlisted HTTP. It never touches WASI: the host defines
//! every WASI import as a trap. See README.md for settings and error codes.

wit_bindgen::generate!({ path: "../wit", world: "sso" });

mod check;
mod flow;
mod jwt;
mod net;
mod provider;
mod settings;
mod util;

use exports::tenantry::plugin::sso_extras::{self, Check, Session, SignOutRequest, StartOptions};
use exports::tenantry::plugin::sso_hooks::{
    FinishRequest, Guest, Identity, PluginError, StartRequest, StartResponse,
};
use tenantry::plugin::host::{self, LogLevel};

/// The exported component: both hooks delegate to [`flow`].
struct SsoOidc;

impl Guest for SsoOidc {
    fn start(request: StartRequest) -> Result<StartResponse, PluginError> {
        install_panic_hook();
        flow::start(&request, false).map_err(PluginError::from)
    }

    fn finish(request: FinishRequest) -> Result<Identity, PluginError> {
        install_panic_hook();
        flow::finish(&request)
            .map(|(identity, _)| identity)
            .map_err(PluginError::from)
    }
}

/// The 2.1.0 additions: account re-selection, sign-out at the provider, configuration test.
impl sso_extras::Guest for SsoOidc {
    fn start_with(
        request: StartRequest,
        options: StartOptions,
    ) -> Result<StartResponse, PluginError> {
        install_panic_hook();
        flow::start(&request, options.reselect).map_err(PluginError::from)
    }

    fn finish_with_session(request: FinishRequest) -> Result<Session, PluginError> {
        install_panic_hook();
        flow::finish(&request)
            .map(|(identity, sign_out_data)| Session {
                identity,
                sign_out_data,
            })
            .map_err(PluginError::from)
    }

    fn sign_out(request: SignOutRequest) -> Result<Option<String>, PluginError> {
        install_panic_hook();
        flow::sign_out(&request.sign_out_data, &request.post_logout_redirect_uri)
            .map_err(PluginError::from)
    }

    fn check_configuration(_organization_id: String) -> Vec<Check> {
        install_panic_hook();
        check::run()
    }
}

export!(SsoOidc);

/// Sends panic messages to the host's log (std's default hook would write to WASI stderr,
/// which the host does not grant).
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            host::log(LogLevel::Error, &format!("sso-oidc panicked: {info}"));
        }));
    });
}

/// The machine-readable codes this plugin answers in `plugin-error.code`.
pub(crate) mod code {
    /// A required setting is missing or malformed (`issuer`, `client_id`).
    pub const MISCONFIGURED: &str = "misconfigured";
    /// The host handed over something unusable (empty state/nonce, bad `flow-data`).
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// The provider could not be reached (transport error, timeout, oversized answer) or
    /// answered non-2xx where a retry may help.
    pub const UPSTREAM_UNAVAILABLE: &str = "upstream_unavailable";
    /// A provider URL names a host that is not on the plugin's `allowed_hosts`.
    pub const HOST_NOT_ALLOWED: &str = "host_not_allowed";
    /// The discovery document is not usable (not JSON, missing endpoint, wrong `issuer`).
    pub const DISCOVERY_FAILED: &str = "discovery_failed";
    /// The provider redirected back with `error=…`.
    pub const PROVIDER_ERROR: &str = "provider_error";
    /// The callback lacks `code`, repeats a parameter, or names another issuer (`iss`).
    pub const INVALID_CALLBACK: &str = "invalid_callback";
    /// The callback's `state` is missing or differs from the flow's.
    pub const STATE_MISMATCH: &str = "state_mismatch";
    /// The token endpoint answered non-2xx, or 2xx without an `id_token`.
    pub const TOKEN_EXCHANGE_FAILED: &str = "token_exchange_failed";
    /// The ID token failed verification (format, algorithm, key, signature or claims).
    pub const INVALID_ID_TOKEN: &str = "invalid_id_token";
    /// Neither the verified ID token nor the UserInfo answer carries an `email` claim.
    pub const MISSING_EMAIL: &str = "missing_email";
    /// The token endpoint refused the client's credentials (`invalid_client`, HTTP 401):
    /// a wrong `client_secret` or an authentication method the client is not registered for.
    pub const CLIENT_AUTH_REFUSED: &str = "client_auth_refused";
    /// The UserInfo endpoint answered non-2xx or no JSON object, or a `sub` that is not
    /// the ID token's.
    pub const USERINFO_FAILED: &str = "userinfo_failed";
    /// The host's random generator answered fewer bytes than asked.
    pub const INTERNAL: &str = "internal_error";
}

/// Why a hook failed; becomes the WIT `plugin-error` at the export boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// One of [`code`].
    pub code: &'static str,
    /// Human-readable detail for the server log.
    pub message: String,
}

impl Failure {
    /// A failure with `code` (one of [`code`]) and a log message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<Failure> for PluginError {
    fn from(f: Failure) -> Self {
        PluginError {
            code: f.code.to_string(),
            message: f.message,
        }
    }
}
