//! The provider's discovery document and JWKS, cached in the plugin's key-value storage.

use serde_json::{json, Map, Value};

use crate::jwt::{self, Jwk};
use crate::net;
use crate::settings::Settings;
use crate::tenantry::plugin::host::{self, LogLevel};
use crate::util::{clip, is_http_url};
use crate::{code, Failure};

/// How long a cached discovery document or JWKS is used before it is fetched again.
pub(crate) const CACHE_TTL_MS: i64 = 10 * 60 * 1000;

/// Key-value key of the cached discovery document.
const DISCOVERY_KEY: &str = "oidc/discovery/v3";
/// Key-value key of the cached JWKS.
const JWKS_KEY: &str = "oidc/jwks/v1";

/// The endpoints of the provider (from its discovery document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provider {
    /// The discovery document's `issuer`: what ID tokens' `iss` must be exactly.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// `userinfo_endpoint`, when the provider has one.
    pub userinfo_endpoint: Option<String>,
    /// `token_endpoint_auth_methods_supported`; OpenID Connect Discovery's default
    /// (`client_secret_basic` alone) when the document leaves it out.
    pub auth_methods: Vec<String>,
    /// Whether the document listed `token_endpoint_auth_methods_supported` itself.
    pub auth_methods_listed: bool,
    /// `end_session_endpoint` (OpenID Connect RP-Initiated Logout), when the provider has one.
    pub end_session_endpoint: Option<String>,
}

/// The provider for `settings`, from the cache when it is fresh, else from discovery.
pub(crate) fn discover(settings: &Settings) -> Result<Provider, Failure> {
    let now = host::now_unix_ms();
    if let Some(entry) = cache_get(DISCOVERY_KEY, now) {
        if entry.get("setting").and_then(Value::as_str) == Some(settings.issuer.as_str()) {
            if let Some(Ok(provider)) = entry
                .get("doc")
                .and_then(Value::as_object)
                .map(|doc| parse_discovery(&settings.issuer, doc))
            {
                return Ok(provider);
            }
        }
    }
    let url = settings.discovery_url();
    let doc = net::get_json_object(&url, "discovery", code::DISCOVERY_FAILED)?;
    let provider = parse_discovery(&settings.issuer, &doc)
        .map_err(|m| Failure::new(code::DISCOVERY_FAILED, format!("discovery ({url}): {m}")))?;
    remember(settings, &provider, now);
    Ok(provider)
}

/// Caches a provider fetched just now.
pub(crate) fn remember(settings: &Settings, provider: &Provider, now: i64) {
    host::log(
        LogLevel::Debug,
        &format!("fetched discovery document of {}", provider.issuer),
    );
    let entry = json!({
        "setting": settings.issuer,
        "fetched_ms": now,
        "doc": {
            "issuer": provider.issuer,
            "authorization_endpoint": provider.authorization_endpoint,
            "token_endpoint": provider.token_endpoint,
            "jwks_uri": provider.jwks_uri,
            "userinfo_endpoint": provider.userinfo_endpoint,
            "token_endpoint_auth_methods_supported":
                provider.auth_methods_listed.then_some(&provider.auth_methods),
            "end_session_endpoint": provider.end_session_endpoint,
        },
    });
    cache_set(DISCOVERY_KEY, &entry);
}

/// Reads the endpoints from a discovery document. Its `issuer` must equal the `issuer`
/// setting; one trailing slash of difference is forgiven (the document's form is kept).
pub(crate) fn parse_discovery(setting: &str, doc: &Map<String, Value>) -> Result<Provider, String> {
    let field = |name: &str| -> Result<String, String> {
        match doc.get(name).and_then(Value::as_str) {
            Some(v) if is_http_url(v) => Ok(v.to_string()),
            Some(v) => Err(format!(
                "`{name}` is not an http(s) URL: `{}`",
                clip(v, 200)
            )),
            None => Err(format!("no `{name}`")),
        }
    };
    let issuer = field("issuer")?;
    if issuer.trim_end_matches('/') != setting.trim_end_matches('/') {
        return Err(format!(
            "`issuer` is `{}` but the `issuer` setting is `{setting}`",
            clip(&issuer, 200)
        ));
    }
    let optional = |name: &str| match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => field(name).map(Some),
    };
    let userinfo_endpoint = optional("userinfo_endpoint")?;
    let end_session_endpoint = optional("end_session_endpoint")?;
    let listed: Option<Vec<String>> = doc
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        });
    Ok(Provider {
        issuer,
        authorization_endpoint: field("authorization_endpoint")?,
        token_endpoint: field("token_endpoint")?,
        jwks_uri: field("jwks_uri")?,
        userinfo_endpoint,
        end_session_endpoint,
        auth_methods_listed: listed.is_some(),
        auth_methods: listed.unwrap_or_else(|| vec!["client_secret_basic".to_string()]),
    })
}

/// The provider's signing keys and whether they were fetched just now. `refresh` skips the
/// cache (used once when a token names a `kid` the cached set does not have).
pub(crate) fn signing_keys(
    provider: &Provider,
    refresh: bool,
) -> Result<(Vec<Jwk>, bool), Failure> {
    let now = host::now_unix_ms();
    if !refresh {
        if let Some(entry) = cache_get(JWKS_KEY, now) {
            if entry.get("jwks_uri").and_then(Value::as_str) == Some(provider.jwks_uri.as_str()) {
                if let Some(Ok(keys)) = entry
                    .get("jwks")
                    .and_then(Value::as_object)
                    .map(jwt::parse_jwks)
                {
                    return Ok((keys, false));
                }
            }
        }
    }
    let url = &provider.jwks_uri;
    let doc = net::get_json_object(url, "JWKS", code::INVALID_ID_TOKEN)?;
    let keys = jwt::parse_jwks(&doc)
        .map_err(|m| Failure::new(code::INVALID_ID_TOKEN, format!("JWKS ({url}): {m}")))?;
    host::log(
        LogLevel::Debug,
        &format!("fetched JWKS from {url}: {} usable key(s)", keys.len()),
    );
    // Cache only the fields this plugin reads, so a large JWKS still fits in one value.
    let kept: Vec<Value> = doc
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|k| {
            let mut slim = Map::new();
            for name in [
                "kty", "kid", "alg", "use", "key_ops", "crv", "n", "e", "x", "y",
            ] {
                if let Some(v) = k.get(name) {
                    slim.insert(name.to_string(), v.clone());
                }
            }
            Value::Object(slim)
        })
        .collect();
    let entry = json!({ "jwks_uri": url, "fetched_ms": now, "jwks": { "keys": kept } });
    cache_set(JWKS_KEY, &entry);
    Ok((keys, true))
}

/// A cached JSON object that is younger than [`CACHE_TTL_MS`].
fn cache_get(key: &str, now: i64) -> Option<Map<String, Value>> {
    let bytes = host::kv_get(key)?;
    let entry = net::parse_object(&bytes)?;
    let fetched = entry.get("fetched_ms").and_then(Value::as_i64)?;
    // A clock that went backwards makes the entry stale too.
    (fetched <= now && now - fetched < CACHE_TTL_MS).then_some(entry)
}

/// Stores a cache entry; failing to store only costs a refetch next time.
fn cache_set(key: &str, entry: &Value) {
    let bytes = entry.to_string().into_bytes();
    if let Err(e) = host::kv_set(key, &bytes) {
        host::log(
            LogLevel::Warn,
            &format!("could not cache `{key}` ({} bytes): {e}", bytes.len()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(issuer: &str) -> Map<String, Value> {
        match json!({
            "issuer": issuer,
            "authorization_endpoint": "https://idp/authorize?tenant=a",
            "token_endpoint": "https://idp/token",
            "jwks_uri": "https://idp/jwks",
        }) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn discovery_document() {
        let p = parse_discovery("https://idp", &doc("https://idp")).unwrap();
        assert_eq!(p.authorization_endpoint, "https://idp/authorize?tenant=a");
        let p = parse_discovery("https://idp", &doc("https://idp/")).unwrap();
        assert_eq!(p.issuer, "https://idp/");
        assert!(parse_discovery("https://idp", &doc("https://evil"))
            .unwrap_err()
            .contains("issuer"));
        let mut d = doc("https://idp");
        d.remove("jwks_uri");
        assert!(parse_discovery("https://idp", &d)
            .unwrap_err()
            .contains("jwks_uri"));
        d.insert("jwks_uri".into(), json!("file:///etc/passwd"));
        assert!(parse_discovery("https://idp", &d).is_err());
    }
}
