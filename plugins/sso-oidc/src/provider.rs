//! The settings, the provider's discovery document and JWKS (cached in the key-value
//! storage), and ID token verification: signatures by `jsonwebtoken` (RustCrypto), the
//! claim policy here.

use jsonwebtoken::{jwk::Jwk, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tenantry_plugin::prelude::*;
use tenantry_plugin::text::{base64url, excerpt};

/// How long a cached discovery document or JWKS is used before it is fetched again.
const CACHE_TTL_S: u64 = 10 * 60;
/// Allowed clock difference between the provider and the host, in seconds.
const LEEWAY_S: i64 = 60;
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// How the client authenticates at the token endpoint (`token_endpoint_auth_method`).
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
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
}

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

/// The settings (`[plugins.NAME.settings]`; README.md explains each).
#[derive(Deserialize, Debug, Clone)]
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
        let secret = s.client_secret.is_some();
        match s.auth_method {
            Some(AuthMethod::None) if secret => {
                return Err(Error::misconfigured(
                    "setting `token_endpoint_auth_method` is `none` but `client_secret` is set",
                ))
            }
            Some(m) if m != AuthMethod::None && !secret => {
                return Err(Error::misconfigured(format!(
                    "setting `token_endpoint_auth_method` is `{}` but `client_secret` is not set",
                    m.name()
                )))
            }
            _ => {}
        }
        if !s.scopes.split_whitespace().any(|scope| scope == "openid") {
            s.scopes.insert_str(0, "openid ");
        }
        s.scopes = s.scopes.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(s)
    }

    /// `{issuer}/.well-known/openid-configuration` (one trailing slash of the issuer removed
    /// first, as OpenID Connect Discovery §4 says).
    pub fn discovery_url(&self) -> String {
        let issuer = self.issuer.strip_suffix('/').unwrap_or(&self.issuer);
        format!("{issuer}/.well-known/openid-configuration")
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

/// Whether `s` is an absolute `http(s)://` URL with a host, no fragment, no whitespace.
pub(crate) fn is_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("https://").or(s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.starts_with(['/', '?']) && !r.is_empty())
        && !s.contains('#')
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// Whether the host of `url` is loopback (`localhost`, `127.0.0.0/8`, `[::1]`).
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let ipv4 = host.parse::<std::net::Ipv4Addr>();
    host.eq_ignore_ascii_case("localhost") || host == "::1" || ipv4.is_ok_and(|ip| ip.is_loopback())
}

/// The provider's endpoints (the fields of its discovery document this plugin uses).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provider {
    /// The document's `issuer`: what ID tokens' `iss` must be exactly.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
    /// `None` when the document leaves it out (Discovery's default: `client_secret_basic`).
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

impl Provider {
    /// The token endpoint authentication methods the provider supports.
    pub fn auth_methods(&self) -> Vec<String> {
        self.token_endpoint_auth_methods_supported
            .clone()
            .unwrap_or_else(|| vec!["client_secret_basic".into()])
    }
}

/// A cache key for `what` of `id` (an issuer or a URL), short whatever `id`'s length.
fn cache_key(what: &str, id: &str) -> String {
    let hash = base64url(&Sha256::digest(id.as_bytes())[..18]);
    format!("oidc/{what}/v4/{hash}")
}

/// The provider for `settings`, from the cache when it is fresh, else from discovery.
pub(crate) fn discover(settings: &Settings) -> Result<Provider> {
    kv::cached(
        &cache_key("discovery", &settings.issuer),
        CACHE_TTL_S,
        || {
            let url = settings.discovery_url();
            let response = get(&url, "discovery")?;
            debug!("fetched discovery document from {url}");
            parse_discovery(&settings.issuer, &response.body)
                .map_err(|m| Error::new("discovery_failed", format!("discovery ({url}): {m}")))
        },
    )
}

/// Caches a provider just fetched by the configuration test.
pub(crate) fn remember(settings: &Settings, provider: &Provider) {
    let key = cache_key("discovery", &settings.issuer);
    let _ = kv::set_json(&key, provider, Some(CACHE_TTL_S));
}

/// The endpoints of a discovery document, whose `issuer` must equal the `issuer` setting
/// (one trailing slash of difference is forgiven; the document's form is kept).
pub(crate) fn parse_discovery(setting: &str, body: &[u8]) -> Result<Provider, String> {
    let p: Provider = match serde_json::from_slice::<Value>(body) {
        Ok(doc @ Value::Object(_)) => serde_json::from_value(doc).map_err(|e| e.to_string())?,
        _ => return Err("not a JSON object".into()),
    };
    if p.issuer.trim_end_matches('/') != setting.trim_end_matches('/') {
        let named = excerpt(&p.issuer, 200);
        return Err(format!(
            "`issuer` is `{named}` but the `issuer` setting is `{setting}`"
        ));
    }
    // Every text field kept is a URL (the issuer and the endpoints).
    for (name, url) in serde_json::to_value(&p)
        .unwrap_or_default()
        .as_object()
        .into_iter()
        .flatten()
    {
        if let Some(url) = url.as_str().filter(|u| !is_http_url(u)) {
            return Err(format!(
                "`{name}` is not an http(s) URL: `{}`",
                excerpt(url, 200)
            ));
        }
    }
    Ok(p)
}

/// `GET url` asking for JSON; no answer or a non-2xx one is an error naming `what`.
fn get(url: &str, what: &str) -> Result<http::Response> {
    let response = send(
        http::Request::get(url).header("accept", "application/json"),
        what,
    )?;
    if response.is_success() {
        return Ok(response);
    }
    let redirect = match (300..400).contains(&response.status) {
        true => " (redirects are not followed)",
        false => "",
    };
    let status = response.status;
    Err(Error::upstream_unavailable(format!(
        "{what} ({url}) answered HTTP {status}{redirect}"
    )))
}

/// Sends `request`; no answer is an error naming `what` and the URL.
pub(crate) fn send(request: http::Request, what: &str) -> Result<http::Response> {
    let at = format!("{what} ({} {})", request.method, request.url);
    request.send().map_err(|e| match e {
        http::HttpError::ForbiddenHost(h) => Error::new(
            "host_not_allowed",
            format!("{at}: host `{h}` is not on this plugin's allowed_hosts; add \"{h}\" to allowed_hosts (with the port when the URL has one)"),
        ),
        e => Error::upstream_unavailable(format!("{at}: {e}")),
    })
}

/// The usable signing keys of a JWKS document: RSA, or EC on P-256, meant for signatures.
/// A key of another type or use, or with bad fields, is skipped (one broken key must not
/// lock everybody out). Only the fields used are kept, without base64 padding.
pub(crate) fn usable_keys(body: &[u8]) -> Result<Vec<Value>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "not a JSON object")?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no `keys` array")?;
    let usable = |k: &Value| {
        let text = |n: &str| k.get(n).and_then(Value::as_str);
        let ops = k.get("key_ops").and_then(Value::as_array);
        let type_ok = match text("kty") {
            Some("RSA") => true,
            Some("EC") => text("crv") == Some("P-256"),
            _ => false,
        };
        if !type_ok
            || text("use").is_some_and(|u| u != "sig")
            || ops.is_some_and(|o| !o.contains(&"verify".into()))
        {
            return None;
        }
        let fields = ["kty", "kid", "alg", "crv", "n", "e", "x", "y"];
        let slim: Map<String, Value> = fields
            .into_iter()
            .filter_map(|n| Some((n.into(), text(n)?.trim_end_matches('=').into())))
            .collect();
        let jwk: Jwk = serde_json::from_value(slim.clone().into()).ok()?;
        DecodingKey::from_jwk(&jwk).ok().map(|_| slim.into())
    };
    Ok(keys.iter().filter_map(usable).collect())
}

/// The provider's signing keys and whether they were fetched just now; `refresh` skips the
/// cache (once, when a token names a key the cached set lacks: key rotation).
fn signing_keys(provider: &Provider, refresh: bool) -> Result<(Vec<Value>, bool)> {
    let key = cache_key("jwks", &provider.jwks_uri);
    if refresh {
        kv::delete(&key);
    }
    let mut fresh = false;
    let keys = kv::cached(&key, CACHE_TTL_S, || {
        fresh = true;
        let url = &provider.jwks_uri;
        let keys = usable_keys(&get(url, "JWKS")?.body)
            .map_err(|m| Error::new("invalid_id_token", format!("JWKS ({url}): {m}")))?;
        debug!("fetched JWKS from {url}: {} usable key(s)", keys.len());
        Ok(keys)
    })?;
    Ok((keys, fresh))
}

/// What the ID token's claims must say.
pub(crate) struct Expected<'a> {
    /// The provider's issuer, compared exactly with `iss`.
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Now, seconds since the Unix epoch.
    pub now_s: i64,
}

/// Verifies the ID token: JWS compact, RS256 or ES256 only, no `crit`, signed by a key of
/// the provider's JWKS (by `kid`; every fitting key without one), then the claims. Answers
/// the claims; any failure is `invalid_id_token` with the reason.
pub(crate) fn verify_id_token(
    token: &str,
    provider: &Provider,
    expected: &Expected,
) -> Result<Map<String, Value>> {
    let invalid = |m: String| Error::new("invalid_id_token", format!("ID token: {m}"));
    let header = jsonwebtoken::decode_header(token).map_err(|e| {
        invalid(format!(
            "not a signed JWT ({e}; encrypted ID tokens are not supported)"
        ))
    })?;
    let (alg, kty) = match header.alg {
        Algorithm::RS256 => ("RS256", "RSA"),
        Algorithm::ES256 => ("ES256", "EC"),
        other => {
            return Err(invalid(format!(
                "signature algorithm `{other:?}` is not accepted (RS256 or ES256 only)"
            )))
        }
    };
    if header.crit.is_some() {
        return Err(invalid(
            "header has `crit` extensions, which are not supported".into(),
        ));
    }
    let kid = header.kid.as_deref();
    let fits = |k: &&Value| {
        let text = |n: &str| k.get(n).and_then(Value::as_str);
        text("kty") == Some(kty)
            && text("alg").is_none_or(|a| a == alg)
            && kid.is_none_or(|kid| text("kid") == Some(kid))
    };
    let (mut keys, fresh) = signing_keys(provider, false)?;
    if !fresh && !keys.iter().any(|k| fits(&k)) {
        keys = signing_keys(provider, true)?.0;
    }
    // The signature only: the claims are checked below, with the host's clock.
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let with_kid = kid
        .map(|k| format!(" with kid `{}`", excerpt(k, 100)))
        .unwrap_or_default();
    let mut last = format!("no {alg} key{with_kid} in the provider's JWKS");
    for key in keys.iter().filter(fits) {
        let n_bits = key
            .get("n")
            .and_then(Value::as_str)
            .map_or(usize::MAX, |n| n.len() * 6);
        if n_bits < MIN_RSA_BITS {
            last = format!(
                "RSA key is too small (about {n_bits} bits, at least {MIN_RSA_BITS} required)"
            );
            continue;
        }
        let jwk: Jwk = serde_json::from_value(key.clone()).map_err(|e| invalid(e.to_string()))?;
        let decoding =
            DecodingKey::from_jwk(&jwk).map_err(|e| invalid(format!("unusable key: {e}")))?;
        match jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation) {
            Ok(data) => {
                return check_claims(&data.claims, expected)
                    .map(|()| data.claims)
                    .map_err(invalid)
            }
            Err(e) => last = format!("{alg} signature does not verify ({e})"),
        }
    }
    Err(invalid(last))
}

/// Checks `iss`, `aud`/`azp`, `exp`, `iat`, `nbf`, `nonce` and `sub` (OpenID Connect Core
/// §3.1.3.7).
pub(crate) fn check_claims(claims: &Map<String, Value>, expected: &Expected) -> Result<(), String> {
    let text = |n: &str| claims.get(n).and_then(Value::as_str);
    let client_id = expected.client_id;
    let iss = text("iss").ok_or("no `iss` claim")?;
    if iss != expected.issuer {
        return Err(format!(
            "`iss` is `{}`, expected `{}`",
            excerpt(iss, 200),
            expected.issuer
        ));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a],
        Some(Value::Array(list)) => list
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or("`aud` holds a non-string")?,
        _ => return Err("no `aud` claim".into()),
    };
    if !audiences.contains(&client_id) {
        return Err(format!(
            "`aud` does not contain the client_id `{client_id}`"
        ));
    }
    match text("azp") {
        None if audiences.len() > 1 => return Err("several audiences but no `azp` claim".into()),
        Some(azp) if azp != client_id => {
            return Err(format!(
                "`azp` is `{}`, expected the client_id `{client_id}`",
                excerpt(azp, 200)
            ))
        }
        _ => {}
    }
    let (now, late) = (expected.now_s, expected.now_s.saturating_add(LEEWAY_S));
    let date = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or(v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(format!("`{name}` is not a number")),
    };
    let exp = date("exp")?.ok_or("no `exp` claim")?;
    if exp.saturating_add(LEEWAY_S) <= now {
        return Err(format!(
            "expired (`exp` {exp}, now {now}, leeway {LEEWAY_S} s)"
        ));
    }
    let iat = date("iat")?.ok_or("no `iat` claim")?;
    if iat > late {
        return Err(format!(
            "issued in the future (`iat` {iat}, now {now}, leeway {LEEWAY_S} s)"
        ));
    }
    if let Some(nbf) = date("nbf")?.filter(|nbf| *nbf > late) {
        return Err(format!("not valid yet (`nbf` {nbf}, now {now})"));
    }
    match text("nonce") {
        None => return Err("no `nonce` claim".into()),
        Some(n) if !bool::from(n.as_bytes().ct_eq(expected.nonce.as_bytes())) => {
            return Err("`nonce` does not match this sign-in".into())
        }
        Some(_) => {}
    }
    text("sub")
        .filter(|s| !s.is_empty())
        .map(|_| ())
        .ok_or("no `sub` claim".into())
}
