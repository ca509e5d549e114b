//! The settings: which provider and client, and this plugin's policy choices (README.md
//! explains each). Discovery, the JWKS and ID token verification are the SDK's
//! (`tenantry_plugin::oidc`), the client authentication too (`tenantry_plugin::oauth2`).

use serde::Deserialize;
use tenantry_plugin::http::{is_http_url, is_loopback_url};
use tenantry_plugin::oauth2::AuthMethod;
use tenantry_plugin::oidc::Provider;
use tenantry_plugin::prelude::*;

/// `prompt`: what to ask for when the account must be chosen again (`none`: never ask).
#[derive(Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Prompt {
    #[default]
    Login,
    SelectAccount,
    None,
}

/// `prompt_when`: only after a refused identity (`retry`), or on every sign-in.
#[derive(Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PromptWhen {
    #[default]
    Retry,
    Always,
}

/// The settings (`[plugins.NAME.settings]`; README.md explains each). `Debug` leaves the
/// client secret out, so a logged value never shows it.
#[derive(Deserialize, Clone)]
pub(crate) struct Settings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: String,
    #[serde(rename = "token_endpoint_auth_method")]
    pub auth_method: Option<AuthMethod>,
    #[serde(default)]
    pub trust_email_without_verified_claim: bool,
    #[serde(default)]
    pub prompt: Prompt,
    #[serde(default)]
    pub prompt_when: PromptWhen,
    #[serde(default)]
    pub sign_out_at_provider: bool,
    #[serde(default)]
    pub allow_http_issuer: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("scopes", &self.scopes)
            .field("auth_method", &self.auth_method)
            .field(
                "trust_email_without_verified_claim",
                &self.trust_email_without_verified_claim,
            )
            .field("prompt", &self.prompt)
            .field("prompt_when", &self.prompt_when)
            .field("sign_out_at_provider", &self.sign_out_at_provider)
            .field("allow_http_issuer", &self.allow_http_issuer)
            .finish()
    }
}

fn default_scopes() -> String {
    "openid email profile".into()
}

impl Settings {
    /// Reads and validates the settings.
    pub fn load() -> Result<Self> {
        let mut s: Settings = settings()?;
        if !is_http_url(&s.issuer) || s.issuer.contains('?') {
            return Err(Error::misconfigured(format!("setting `issuer` must be an http:// or https:// URL without query or fragment, not `{}`", s.issuer)));
        }
        if s.issuer.starts_with("http://") && !is_loopback_url(&s.issuer) && !s.allow_http_issuer {
            return Err(Error::misconfigured(format!("setting `issuer` is `{}`: plain http:// (tokens and the client secret unencrypted) is allowed only on a loopback host; use https://, or set `allow_http_issuer = \"true\"` if the network path is otherwise protected", s.issuer)));
        }
        AuthMethod::check_secret(s.auth_method, s.client_secret.is_some())?;
        if !s.scopes.split_whitespace().any(|scope| scope == "openid") {
            s.scopes.insert_str(0, "openid ");
        }
        s.scopes = s.scopes.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(s)
    }

    /// Where the provider's discovery document is.
    pub fn discovery_url(&self) -> String {
        Provider::discovery_url(&self.issuer)
    }

    /// The `prompt` parameter to send, if any.
    pub fn prompt(&self, reselect: bool) -> Option<&'static str> {
        if !reselect && self.prompt_when != PromptWhen::Always {
            return None;
        }
        match self.prompt {
            Prompt::Login => Some("login"),
            Prompt::SelectAccount => Some("select_account"),
            Prompt::None => None,
        }
    }
}
