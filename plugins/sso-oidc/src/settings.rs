//! The plugin's settings (`[plugins.NAME.settings]` in the server configuration).

use crate::tenantry::plugin::host;
use crate::util::is_http_url;
use crate::{code, Failure};

/// Scopes asked for when the `scopes` setting is absent.
pub(crate) const DEFAULT_SCOPES: &str = "openid email profile";

/// The validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `issuer`: the provider's issuer URL, e.g. `https://idp.example` (required).
    pub issuer: String,
    /// `client_id` (required).
    pub client_id: String,
    /// `client_secret` (optional): when set, sent to the token endpoint as
    /// `client_secret_post`; otherwise the client is public and relies on PKCE alone.
    pub client_secret: Option<String>,
    /// `scopes`: space-separated, `openid` always included.
    pub scopes: String,
    /// `token_endpoint_auth_method` (optional): `client_secret_basic`, `client_secret_post`
    /// or `none`; when absent the method is chosen from the provider's discovery document.
    pub auth_method: Option<AuthMethod>,
    /// `trust_email_without_verified_claim` (`"true"`/`"false"`, default false): when the
    /// provider states no `email_verified` at all, count its `email` as verified. Risk: the
    /// provider then vouches for any address its users or administrators can set, so
    /// someone able to set another person's address there can sign in as them here. An
    /// explicit `email_verified: false` is never overridden.
    pub trust_email_without_verified_claim: bool,
    /// `prompt`: what to ask the provider for when the person must choose the account again
    /// (`login`, the default, `select_account`, or `none`: never send `prompt`).
    pub prompt: Prompt,
    /// `prompt_when`: `retry` (default: only after the host refused the previous identity
    /// from this browser) or `always` (every sign-in).
    pub prompt_always: bool,
    /// `sign_out_at_provider` (`"true"`/`"false"`, default false): signing out of tenantry
    /// also ends the session at the provider (RP-initiated logout through its
    /// `end_session_endpoint`).
    pub sign_out_at_provider: bool,
}

/// The `prompt` sent to the provider when the account must be chosen again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// `prompt=login`: the provider asks the person to sign in again.
    Login,
    /// `prompt=select_account`: the provider shows its account chooser.
    SelectAccount,
    /// Never send `prompt` (account re-selection off).
    None,
}

impl Prompt {
    /// The value of the `prompt` parameter, if one is sent.
    pub fn param(self) -> Option<&'static str> {
        match self {
            Prompt::Login => Some("login"),
            Prompt::SelectAccount => Some("select_account"),
            Prompt::None => None,
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// HTTP Basic with the form-encoded client ID and secret (the OAuth 2.0 default).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the body, PKCE alone proves the caller.
    None,
}

impl AuthMethod {
    /// The name used in discovery documents and the setting.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            AuthMethod::ClientSecretBasic,
            AuthMethod::ClientSecretPost,
            AuthMethod::None,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// Whether the authority of `url` (an http(s) URL) is a loopback host.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Settings {
    /// Reads the settings from the host.
    pub fn load() -> Result<Self, Failure> {
        Self::from_lookup(host::setting)
    }

    /// Validates settings read through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Failure> {
        let value = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let issuer = value("issuer")
            .ok_or_else(|| Failure::new(code::MISCONFIGURED, "setting `issuer` is not set"))?;
        if !is_http_url(&issuer) || issuer.contains('?') {
            return Err(Failure::new(
                code::MISCONFIGURED,
                format!("setting `issuer` must be an http:// or https:// URL without query or fragment, not `{issuer}`"),
            ));
        }
        let flag = |name: &str| match value(name).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(Failure::new(
                code::MISCONFIGURED,
                format!("setting `{name}` must be `true` or `false`, not `{other}`"),
            )),
        };
        let allow_http = flag("allow_http_issuer")?;
        let trust_email_without_verified_claim = flag("trust_email_without_verified_claim")?;
        if issuer.starts_with("http://") && !is_loopback_url(&issuer) && !allow_http {
            return Err(Failure::new(
                code::MISCONFIGURED,
                format!(
                    "setting `issuer` is `{issuer}`: plain http:// is allowed only on a loopback \
                     host (the client secret and tokens would travel unencrypted); use https://, \
                     or set `allow_http_issuer = \"true\"` if the network path is otherwise protected"
                ),
            ));
        }
        let sign_out_at_provider = flag("sign_out_at_provider")?;
        let prompt = match value("prompt").as_deref() {
            None | Some("login") => Prompt::Login,
            Some("select_account") => Prompt::SelectAccount,
            Some("none") => Prompt::None,
            Some(other) => {
                return Err(Failure::new(
                    code::MISCONFIGURED,
                    format!(
                    "setting `prompt` must be `login`, `select_account` or `none`, not `{other}`"
                ),
                ))
            }
        };
        let prompt_always = match value("prompt_when").as_deref() {
            None | Some("retry") => false,
            Some("always") => true,
            Some(other) => {
                return Err(Failure::new(
                    code::MISCONFIGURED,
                    format!("setting `prompt_when` must be `retry` or `always`, not `{other}`"),
                ))
            }
        };
        let client_id = value("client_id")
            .ok_or_else(|| Failure::new(code::MISCONFIGURED, "setting `client_id` is not set"))?;
        let client_secret = value("client_secret");
        let auth_method = match value("token_endpoint_auth_method") {
            None => None,
            Some(name) => Some(AuthMethod::parse(&name).ok_or_else(|| {
                Failure::new(
                    code::MISCONFIGURED,
                    format!(
                        "setting `token_endpoint_auth_method` must be `client_secret_basic`, \
                         `client_secret_post` or `none`, not `{name}`"
                    ),
                )
            })?),
        };
        match (auth_method, &client_secret) {
            (Some(AuthMethod::None), Some(_)) => {
                return Err(Failure::new(
                    code::MISCONFIGURED,
                    "setting `token_endpoint_auth_method` is `none` but `client_secret` is set",
                ))
            }
            (Some(m @ (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)), None) => {
                return Err(Failure::new(
                    code::MISCONFIGURED,
                    format!(
                        "setting `token_endpoint_auth_method` is `{}` but `client_secret` is not set",
                        m.name()
                    ),
                ))
            }
            _ => {}
        }
        let mut scopes: Vec<String> = value("scopes")
            .unwrap_or_else(|| DEFAULT_SCOPES.to_string())
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_string());
        }
        Ok(Settings {
            issuer,
            client_id,
            client_secret,
            scopes: scopes.join(" "),
            auth_method,
            trust_email_without_verified_claim,
            prompt,
            prompt_always,
            sign_out_at_provider,
        })
    }

    /// The discovery document's URL (`{issuer}/.well-known/openid-configuration`, with one
    /// trailing slash of the issuer removed first as OpenID Connect Discovery §4 says).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.strip_suffix('/').unwrap_or(&self.issuer)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, Failure> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn defaults_and_validation() {
        let s = load(&[("issuer", "http://127.0.0.1:9/"), ("client_id", "app")]).unwrap();
        assert_eq!(s.scopes, DEFAULT_SCOPES);
        assert_eq!(s.client_secret, None);
        assert_eq!(
            s.discovery_url(),
            "http://127.0.0.1:9/.well-known/openid-configuration"
        );

        let s = load(&[
            ("issuer", "https://idp"),
            ("client_id", "app"),
            ("client_secret", " s3 "),
            ("scopes", " email  groups "),
        ])
        .unwrap();
        assert_eq!(s.scopes, "openid email groups");
        assert_eq!(s.client_secret.as_deref(), Some("s3"));

        for bad in [
            vec![("client_id", "app")],
            vec![("issuer", "idp.example"), ("client_id", "app")],
            vec![("issuer", "https://idp?x=1"), ("client_id", "app")],
            vec![("issuer", "https://idp"), ("client_id", " ")],
            vec![("issuer", "http://idp.example"), ("client_id", "app")],
            vec![
                ("issuer", "https://idp"),
                ("client_id", "app"),
                ("token_endpoint_auth_method", "private_key_jwt"),
            ],
            vec![
                ("issuer", "https://idp"),
                ("client_id", "app"),
                ("token_endpoint_auth_method", "client_secret_basic"),
            ],
        ] {
            assert_eq!(load(&bad).unwrap_err().code, code::MISCONFIGURED);
        }
        for loopback in [
            "http://localhost:8080",
            "http://127.0.0.2/realm",
            "http://[::1]:9",
        ] {
            load(&[("issuer", loopback), ("client_id", "app")]).unwrap();
        }
        let s = load(&[
            ("issuer", "http://idp.internal"),
            ("client_id", "app"),
            ("allow_http_issuer", "true"),
        ])
        .unwrap();
        assert_eq!(s.auth_method, None);
        assert_eq!(s.prompt, Prompt::Login);
        assert!(!s.prompt_always && !s.sign_out_at_provider);

        let s = load(&[
            ("issuer", "https://idp"),
            ("client_id", "app"),
            ("prompt", "select_account"),
            ("prompt_when", "always"),
            ("sign_out_at_provider", "true"),
        ])
        .unwrap();
        assert_eq!(s.prompt.param(), Some("select_account"));
        assert!(s.prompt_always && s.sign_out_at_provider);
        for (k, v) in [
            ("prompt", "consent"),
            ("prompt_when", "sometimes"),
            ("sign_out_at_provider", "yes"),
        ] {
            let e = load(&[("issuer", "https://idp"), ("client_id", "app"), (k, v)]).unwrap_err();
            assert_eq!(e.code, code::MISCONFIGURED);
            assert!(e.message.contains(k), "{}", e.message);
        }
    }
}
