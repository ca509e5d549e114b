//! OpenID Connect (feature `oidc`): the provider's discovery document and JWKS, cached in
//! the key-value storage; ID token verification (signatures by `jsonwebtoken` on its
//! pure-Rust backend, RS256 and ES256 only; then `iss`, `aud`/`azp`, `exp`, `iat`, `nbf`,
//! `nonce` and `sub`); UserInfo. With [`crate::oauth2`] for the authorization request and
//! the code exchange, a sign-in plugin keeps only its policy: its settings and which claims
//! make the identity.
//!
//! ```ignore
//! let provider = oidc::Provider::discover(&s.issuer)?;
//! // … oauth2::authorization_url(&provider.authorization_endpoint, …), the code exchange …
//! let expected = oidc::Expected { issuer: &provider.issuer, client_id: &s.client_id,
//!                                 nonce: &request.nonce, now_s: time::now_unix() };
//! let claims = oidc::verify_id_token(id_token, &provider, &expected)?;
//! ```
//!
//! Error codes: `discovery_failed` (a document that is not a provider's), `invalid_id_token`
//! (with the reason), `userinfo_failed`, `upstream_unavailable`, `host_not_allowed`.

use jsonwebtoken::{jwk::Jwk, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::http;
use crate::oauth2::{constant_time_eq, describe_error, json_object};
use crate::text::{base64url, excerpt};
use crate::{kv, Error, Result};

/// How long a cached discovery document or JWKS is used before it is fetched again.
pub const CACHE_TTL_S: u64 = 10 * 60;
/// Allowed clock difference between the provider and the host, in seconds.
pub const LEEWAY_S: i64 = 60;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// The provider's endpoints: the fields of its discovery document (OpenID Connect
/// Discovery 1.0 §3) a relying party uses.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The document's `issuer`: what ID tokens' `iss` must be exactly.
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// UserInfo, if the provider has it.
    pub userinfo_endpoint: Option<String>,
    /// RP-initiated logout, if the provider has it.
    pub end_session_endpoint: Option<String>,
    /// `None` when the document leaves it out (Discovery's default: `client_secret_basic`).
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

impl Provider {
    /// `{issuer}/.well-known/openid-configuration` (one trailing slash of the issuer removed
    /// first, as OpenID Connect Discovery §4 says).
    pub fn discovery_url(issuer: &str) -> String {
        let issuer = issuer.strip_suffix('/').unwrap_or(issuer);
        format!("{issuer}/.well-known/openid-configuration")
    }

    /// The provider of `issuer`: from the key-value cache while fresh ([`CACHE_TTL_S`]),
    /// else from its discovery document.
    pub fn discover(issuer: &str) -> Result<Provider> {
        kv::cached(&cache_key("discovery", issuer), CACHE_TTL_S, || {
            let url = Provider::discovery_url(issuer);
            let response = http::get_ok(&url, "discovery")?;
            log::debug!("fetched discovery document from {url}");
            Provider::parse(issuer, &response.body)
                .map_err(|m| Error::new("discovery_failed", format!("discovery ({url}): {m}")))
        })
    }

    /// Caches this provider as [`Provider::discover`] would (e.g. after a configuration
    /// test fetched it).
    pub fn remember(&self, issuer: &str) {
        let key = cache_key("discovery", issuer);
        let _ = kv::set_json(&key, self, Some(CACHE_TTL_S));
    }

    /// The endpoints of a discovery document, whose `issuer` must equal `issuer` (one
    /// trailing slash of difference is forgiven; the document's form is kept), and whose
    /// URLs must all be http(s) URLs.
    pub fn parse(issuer: &str, body: &[u8]) -> Result<Provider, String> {
        let p: Provider = match serde_json::from_slice::<Value>(body) {
            Ok(doc @ Value::Object(_)) => serde_json::from_value(doc).map_err(|e| e.to_string())?,
            _ => return Err("not a JSON object".into()),
        };
        if p.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            let named = excerpt(&p.issuer, 200);
            return Err(format!(
                "`issuer` is `{named}` but the `issuer` setting is `{issuer}`"
            ));
        }
        let fields = serde_json::to_value(&p).unwrap_or_default();
        for (name, url) in fields.as_object().into_iter().flatten() {
            if let Some(url) = url.as_str().filter(|u| !http::is_http_url(u)) {
                let url = excerpt(url, 200);
                return Err(format!("`{name}` is not an http(s) URL: `{url}`"));
            }
        }
        Ok(p)
    }

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

/// The usable signing keys of a JWKS document: RSA, or EC on P-256, meant for signatures.
/// A key of another type or use, or with bad fields, is skipped (one broken key must not
/// lock everybody out). Only the fields used are kept, without base64 padding.
pub fn usable_keys(body: &[u8]) -> Result<Vec<Value>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "not a JSON object")?;
    let keys = doc.get("keys").and_then(Value::as_array);
    let keys = keys.ok_or("the JWKS has no `keys` array")?;
    Ok(keys.iter().filter_map(usable_key).collect())
}

/// `key` slimmed to the fields used, if it is a usable signing key.
fn usable_key(key: &Value) -> Option<Value> {
    let text = |n: &str| key.get(n).and_then(Value::as_str);
    let type_ok = match text("kty") {
        Some("RSA") => true,
        Some("EC") => text("crv") == Some("P-256"),
        _ => false,
    };
    let use_ok = text("use").is_none_or(|u| u == "sig");
    let ops = key.get("key_ops").and_then(Value::as_array);
    let ops_ok = ops.is_none_or(|o| o.contains(&"verify".into()));
    if !(type_ok && use_ok && ops_ok) {
        return None;
    }
    let fields = ["kty", "kid", "alg", "crv", "n", "e", "x", "y"];
    let slim: Map<String, Value> = fields
        .into_iter()
        .filter_map(|n| Some((n.into(), text(n)?.trim_end_matches('=').into())))
        .collect();
    let jwk: Jwk = serde_json::from_value(slim.clone().into()).ok()?;
    DecodingKey::from_jwk(&jwk).ok().map(|_| slim.into())
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
        let keys = usable_keys(&http::get_ok(url, "JWKS")?.body)
            .map_err(|m| Error::new("invalid_id_token", format!("JWKS ({url}): {m}")))?;
        log::debug!("fetched JWKS from {url}: {} usable key(s)", keys.len());
        Ok(keys)
    })?;
    Ok((keys, fresh))
}

/// What an ID token's claims must say.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The provider's issuer, compared exactly with `iss`.
    pub issuer: &'a str,
    /// Must be in `aud` (and be `azp` when there is one, or several audiences).
    pub client_id: &'a str,
    /// The sign-in's nonce, compared in constant time.
    pub nonce: &'a str,
    /// Now, seconds since the Unix epoch.
    pub now_s: i64,
}

/// Verifies an ID token: JWS compact, RS256 or ES256 only, no `crit`, signed by a key of the
/// provider's JWKS (by `kid`; every fitting key without one; the JWKS fetched again once
/// when a cached set has no fitting key), then the claims ([`check_claims`]). Answers the
/// claims; any failure is `invalid_id_token` with the reason.
pub fn verify_id_token(
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
        let message = "header has `crit` extensions, which are not supported";
        return Err(invalid(message.into()));
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
        let n = key.get("n").and_then(Value::as_str);
        let n_bits = n.map_or(usize::MAX, |n| n.len() * 6);
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

/// Checks `iss`, `aud`/`azp`, `exp`, `iat`, `nbf` (with [`LEEWAY_S`]), `nonce` and `sub`
/// (OpenID Connect Core §3.1.3.7); the error says which and why.
pub fn check_claims(claims: &Map<String, Value>, expected: &Expected) -> Result<(), String> {
    let text = |n: &str| claims.get(n).and_then(Value::as_str);
    let client_id = expected.client_id;
    let iss = text("iss").ok_or("no `iss` claim")?;
    if iss != expected.issuer {
        let (iss, issuer) = (excerpt(iss, 200), expected.issuer);
        return Err(format!("`iss` is `{iss}`, expected `{issuer}`"));
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
            let azp = excerpt(azp, 200);
            return Err(format!(
                "`azp` is `{azp}`, expected the client_id `{client_id}`"
            ));
        }
        _ => {}
    }
    let now = expected.now_s;
    let late = now.saturating_add(LEEWAY_S);
    let exp = date(claims, "exp")?.ok_or("no `exp` claim")?;
    if exp.saturating_add(LEEWAY_S) <= now {
        return Err(format!(
            "expired (`exp` {exp}, now {now}, leeway {LEEWAY_S} s)"
        ));
    }
    let iat = date(claims, "iat")?.ok_or("no `iat` claim")?;
    if iat > late {
        return Err(format!(
            "issued in the future (`iat` {iat}, now {now}, leeway {LEEWAY_S} s)"
        ));
    }
    if let Some(nbf) = date(claims, "nbf")?.filter(|nbf| *nbf > late) {
        return Err(format!("not valid yet (`nbf` {nbf}, now {now})"));
    }
    match text("nonce") {
        None => return Err("no `nonce` claim".into()),
        Some(n) if !constant_time_eq(n, expected.nonce) => {
            return Err("`nonce` does not match this sign-in".into())
        }
        Some(_) => {}
    }
    match text("sub") {
        Some(sub) if !sub.is_empty() => Ok(()),
        _ => Err("no `sub` claim".into()),
    }
}

/// The date claim `name` in seconds (a fractional one cut), if present.
fn date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let float = value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64);
    match value.as_i64().or(float) {
        Some(seconds) => Ok(Some(seconds)),
        None => Err(format!("`{name}` is not a number")),
    }
}

/// The UserInfo claims (OpenID Connect Core §5.3) for `access_token`, whose `sub` must be
/// `subject` (the ID token's). A 5xx or no answer is `upstream_unavailable`, any other
/// failure `userinfo_failed`.
pub fn userinfo(endpoint: &str, access_token: &str, subject: &str) -> Result<Map<String, Value>> {
    let request = http::Request::get(endpoint).bearer(access_token);
    let request = request.header("accept", "application/json");
    let response = request.send_for("UserInfo endpoint")?;
    let failed = |m: String| {
        let message = format!("UserInfo endpoint ({endpoint}) {m}");
        Error::new("userinfo_failed", message)
    };
    let status = response.status;
    if status >= 500 {
        let message = format!("UserInfo endpoint ({endpoint}) answered HTTP {status}");
        return Err(Error::upstream_unavailable(message));
    }
    if !response.is_success() {
        let why = describe_error(&response.body);
        return Err(failed(format!("answered HTTP {status}: {why}")));
    }
    let info = json_object(&response.body).ok_or_else(|| {
        failed(
            "did not answer a JSON object (signed or encrypted UserInfo is not supported)".into(),
        )
    })?;
    match info.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == subject => Ok(info),
        Some(sub) => Err(failed(format!(
            "answered `sub` `{}`, not the ID token's `{}`",
            excerpt(sub, 100),
            excerpt(subject, 100)
        ))),
        None => Err(failed("answered no `sub`".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;
    use p256::ecdsa::signature::Signer as _;
    use serde_json::json;

    const ISSUER: &str = "https://op.example/tenant/";
    const DISCOVERY: &str = "https://op.example/tenant/.well-known/openid-configuration";
    const JWKS: &str = "https://op.example/keys";
    const NOW: i64 = 1_900_000_000;

    fn document() -> Value {
        json!({"issuer": ISSUER, "authorization_endpoint": "https://op.example/auth",
               "token_endpoint": "https://op.example/token", "jwks_uri": JWKS,
               "userinfo_endpoint": "https://op.example/me", "claims_supported": ["sub"]})
    }

    fn key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap()
    }

    fn jwk(kid: &str) -> Value {
        let point = key().verifying_key().to_encoded_point(false);
        let (x, y) = (point.x().unwrap(), point.y().unwrap());
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": base64url(x), "y": base64url(y)})
    }

    fn token(kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": kid}).to_string();
        let input = format!(
            "{}.{}",
            base64url(header.as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let signature: p256::ecdsa::Signature = key().sign(input.as_bytes());
        format!("{input}.{}", base64url(&signature.to_bytes()))
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            client_id: "rp",
            nonce: "n",
            now_s: NOW,
        }
    }

    #[test]
    fn discovery_is_checked_and_cached() {
        let host = MockHost::new()
            .now_unix_ms(NOW * 1000)
            .on_json("GET", DISCOVERY, 200, &document())
            .install();
        let p = Provider::discover("https://op.example/tenant").unwrap();
        assert_eq!(p.issuer, ISSUER);
        assert_eq!(p.auth_methods(), ["client_secret_basic"]);
        assert_eq!(p.end_session_endpoint, None);
        Provider::discover("https://op.example/tenant").unwrap();
        assert_eq!(host.requests().len(), 1);
        host.set_now_unix_ms((NOW + CACHE_TTL_S as i64) * 1000);
        Provider::discover("https://op.example/tenant").unwrap();
        assert_eq!(host.requests().len(), 2);

        let parse = |doc: Value| Provider::parse(ISSUER, doc.to_string().as_bytes());
        let mut doc = document();
        doc["issuer"] = json!("https://evil.example");
        assert!(parse(doc)
            .unwrap_err()
            .contains("`issuer` is `https://evil.example`"));
        let mut doc = document();
        doc["jwks_uri"] = json!("file:///etc/keys");
        assert!(parse(doc)
            .unwrap_err()
            .contains("`jwks_uri` is not an http(s) URL"));
        let mut doc = document();
        doc.as_object_mut().unwrap().remove("token_endpoint");
        assert!(parse(doc).unwrap_err().contains("token_endpoint"));
        assert_eq!(parse(json!([1])).unwrap_err(), "not a JSON object");

        let _host = MockHost::new().on("GET", DISCOVERY, 302, "").install();
        let e = Provider::discover(ISSUER).unwrap_err();
        assert_eq!(e.code, "upstream_unavailable");
        assert!(
            e.message.ends_with("HTTP 302 (redirects are not followed)"),
            "{e}"
        );
    }

    #[test]
    fn only_usable_signing_keys_are_kept() {
        let mut rsa_padded = json!({"kty": "RSA", "n": "AQAB==", "e": "AQAB", "use": "sig"});
        let body = json!({"keys": [
            jwk("a"),
            {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "oct", "k": "AAAA"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "key_ops": ["sign"]},
            {"kty": "EC", "crv": "P-256", "x": "!!", "y": "AA"},
            rsa_padded.clone(),
        ]});
        let keys = usable_keys(body.to_string().as_bytes()).unwrap();
        rsa_padded["n"] = json!("AQAB");
        rsa_padded.as_object_mut().unwrap().remove("use");
        assert_eq!(keys, [jwk("a"), rsa_padded]);
        assert!(usable_keys(b"{}").unwrap_err().contains("`keys`"));
        assert!(usable_keys(b"<html>").is_err());
    }

    #[test]
    fn id_tokens_are_verified_with_the_jwks_and_a_rotation_is_followed() {
        let claims = json!({"iss": ISSUER, "aud": ["rp"], "sub": "u", "nonce": "n",
                            "exp": NOW + 60, "iat": NOW});
        let host = MockHost::new()
            .now_unix_ms(NOW * 1000)
            .on_json("GET", JWKS, 200, &json!({"keys": [jwk("old")]}))
            .on_json("GET", JWKS, 200, &json!({"keys": [jwk("new")]}))
            .install();
        let provider = serde_json::from_value::<Provider>(document()).unwrap();
        let e = verify_id_token(&token("new", &claims), &provider, &expected()).unwrap_err();
        assert_eq!(e.code, "invalid_id_token");
        assert!(e.message.contains("no ES256 key with kid `new`"), "{e}");
        // The cached set lacks `new`: the JWKS is fetched again, once.
        let verified = verify_id_token(&token("new", &claims), &provider, &expected());
        assert_eq!(verified.unwrap()["sub"], "u");
        assert_eq!(host.requests().len(), 2);
        let other = Expected {
            nonce: "m",
            ..expected()
        };
        let e = verify_id_token(&token("new", &claims), &provider, &other).unwrap_err();
        assert!(
            e.message.ends_with("`nonce` does not match this sign-in"),
            "{e}"
        );
        let e = verify_id_token("not.a.jwt", &provider, &expected()).unwrap_err();
        assert!(e.message.contains("not a signed JWT"), "{e}");
    }

    #[test]
    fn claims_are_checked_with_leeway() {
        let base = json!({"iss": ISSUER, "aud": "rp", "sub": "u", "nonce": "n",
                          "exp": NOW - LEEWAY_S + 1, "iat": NOW + LEEWAY_S, "nbf": NOW});
        let check = |edit: Value| {
            let mut claims = base.as_object().unwrap().clone();
            claims.extend(edit.as_object().unwrap().clone());
            check_claims(&claims, &expected())
        };
        assert_eq!(check(json!({})), Ok(()));
        let refused = [
            (json!({"exp": NOW - LEEWAY_S}), "expired"),
            (json!({"iat": NOW + LEEWAY_S + 1}), "issued in the future"),
            (json!({"nbf": NOW + LEEWAY_S + 1}), "not valid yet"),
            (json!({"aud": ["rp", "x"]}), "no `azp`"),
            (json!({"aud": "x"}), "does not contain the client_id"),
            (json!({"aud": [1]}), "non-string"),
            (json!({"azp": "x"}), "`azp` is `x`"),
            (json!({"iat": "now"}), "`iat` is not a number"),
            (json!({"sub": ""}), "no `sub`"),
            (json!({"iss": "https://op.example/tenant"}), "`iss` is"),
        ];
        for (edit, why) in refused {
            let e = check(edit.clone()).unwrap_err();
            assert!(e.contains(why), "{edit}: {e}");
        }
        assert_eq!(check(json!({"aud": ["rp", "x"], "azp": "rp"})), Ok(()));
    }

    #[test]
    fn userinfo_must_be_about_the_same_subject() {
        let me = "https://op.example/me";
        let host = MockHost::new()
            .on_json("GET", me, 200, &json!({"sub": "u", "email": "a@b.c"}))
            .on_json("GET", me, 200, &json!({"sub": "v"}))
            .on_json("GET", me, 401, &json!({"error": "invalid_token"}))
            .on("GET", me, 503, "")
            .install();
        assert_eq!(userinfo(me, "at", "u").unwrap()["email"], "a@b.c");
        assert_eq!(
            host.requests()[0].header_value("authorization"),
            Some("Bearer at")
        );
        let e = userinfo(me, "at", "u").unwrap_err();
        assert_eq!(e.code, "userinfo_failed");
        assert!(e.message.contains("answered `sub` `v`"), "{e}");
        let e = userinfo(me, "at", "u").unwrap_err();
        assert!(e.message.ends_with("HTTP 401: invalid_token"), "{e}");
        assert_eq!(
            userinfo(me, "at", "u").unwrap_err().code,
            "upstream_unavailable"
        );
    }
}
