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
        let client_id = value("client_id")
            .ok_or_else(|| Failure::new(code::MISCONFIGURED, "setting `client_id` is not set"))?;
        let client_secret = value("client_secret");
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
        ] {
            assert_eq!(load(&bad).unwrap_err().code, code::MISCONFIGURED);
        }
    }
}
