//! OAuth 2 (RFC 6749) for sign-in plugins: the authorization URL with `state` and PKCE S256
//! (RFC 7636), the callback's checks, and the token endpoint (the code exchange and refresh)
//! with the client authentications `client_secret_basic`, `client_secret_post` and `none`.
//! An error answer of the token endpoint (`error`, `error_description`) becomes an [`Error`]
//! that says what the provider refused.
//!
//! ```ignore
//! // start
//! let pkce = oauth2::Pkce::new()?;
//! let [challenge, method] = pkce.params();
//! let url = oauth2::authorization_url(&s.authorize_url, &[
//!     ("client_id", &s.client_id), ("redirect_uri", &request.redirect_uri),
//!     ("scope", &s.scope), ("state", &request.state), challenge, method,
//! ]);
//! // finish
//! let code = oauth2::callback_code(&request.params, &request.state)?;
//! let client = oauth2::Client::new(&s.client_id, Some(&s.client_secret));
//! let tokens = client.exchange_code(&s.token_url, code, &request.redirect_uri, Some(&verifier))?;
//! ```
//!
//! Error codes: `provider_error` (the callback carries `error`), `invalid_callback`,
//! `state_mismatch`, `client_auth_refused` (HTTP 401 or `invalid_client` from the token
//! endpoint), `token_exchange_failed` (another refusal), `upstream_unavailable` (no answer
//! or a 5xx), `host_not_allowed`, `misconfigured` (no client authentication fits).
//!
//! The messages name the settings `client_id`, `client_secret` and
//! `token_endpoint_auth_method`: a plugin using this module should call its settings so.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::http::{self, Response};
use crate::text::{base64url, excerpt, form_encode, percent_encode};
use crate::{Error, Result};

/// How the client authenticates at the token endpoint (`token_endpoint_auth_method`).
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the form-encoded client ID and secret (the OAuth 2.0 default).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the body, PKCE alone proves the caller.
    None,
}

impl AuthMethod {
    /// The name used in discovery documents and settings.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    /// Checks a configured method against whether a client secret is set: `none` with a
    /// secret, or a secret method without one, is `misconfigured`.
    pub fn check_secret(configured: Option<AuthMethod>, has_secret: bool) -> Result<()> {
        match configured {
            Some(AuthMethod::None) if has_secret => Err(Error::misconfigured(
                "setting `token_endpoint_auth_method` is `none` but `client_secret` is set",
            )),
            Some(m) if m != AuthMethod::None && !has_secret => Err(Error::misconfigured(format!(
                "setting `token_endpoint_auth_method` is `{}` but `client_secret` is not set",
                m.name()
            ))),
            _ => Ok(()),
        }
    }

    /// The method to use with a server that lists `supported` methods (`None`: it says
    /// nothing, which means `client_secret_basic`, and a public client may try `none`):
    /// the configured one if the server supports it; else `none` without a secret; else
    /// `client_secret_basic` or `client_secret_post`, whichever the server lists first in
    /// that order. No fit is `misconfigured`, naming what the server lists.
    pub fn choose(
        configured: Option<AuthMethod>,
        has_secret: bool,
        supported: Option<&[String]>,
    ) -> Result<AuthMethod> {
        let default = ["client_secret_basic".to_string()];
        let methods = supported.unwrap_or(&default);
        let listed = methods.join(", ");
        let is_supported = |m: AuthMethod| methods.iter().any(|s| s == m.name());
        let explicit = supported.is_some();
        if let Some(m) = configured {
            // A public client is allowed when the server's list was not given explicitly.
            if is_supported(m) || (m == AuthMethod::None && !explicit) {
                return Ok(m);
            }
            return Err(Error::misconfigured(format!(
                "setting `token_endpoint_auth_method` is `{}` but the provider supports only: {listed}",
                m.name()
            )));
        }
        if !has_secret {
            if explicit && !is_supported(AuthMethod::None) {
                return Err(Error::misconfigured(format!(
                    "no `client_secret` is set but the provider does not accept public clients (`none` is not among its token endpoint auth methods: {listed}); set `client_secret`"
                )));
            }
            return Ok(AuthMethod::None);
        }
        let secret_methods = [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost];
        secret_methods
            .into_iter()
            .find(|m| is_supported(*m))
            .ok_or_else(|| {
                Error::misconfigured(format!(
                    "the provider supports none of client_secret_basic, client_secret_post (it lists: {listed})"
                ))
            })
    }
}

/// A PKCE pair (RFC 7636): keep `verifier` for the code exchange (e.g. in `flow-data`),
/// send `challenge` with the authorization request (method S256). Its `Debug` output
/// leaves the verifier out, so logging it does not hand out the proof.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    /// 43 base64url characters from 32 random bytes.
    pub verifier: String,
    /// base64url(SHA-256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair from the host's randomness; `internal_error` if the host gave fewer
    /// random bytes than asked.
    pub fn new() -> Result<Pkce> {
        let verifier = crate::random::token(32);
        if verifier.len() != 43 {
            let message = "the host answered fewer random bytes than asked";
            return Err(Error::new("internal_error", message));
        }
        let challenge = Pkce::challenge_of(&verifier);
        Ok(Pkce {
            verifier,
            challenge,
        })
    }

    /// The S256 challenge of `verifier`.
    pub fn challenge_of(verifier: &str) -> String {
        base64url(&Sha256::digest(verifier.as_bytes()))
    }

    /// Whether `verifier` is a valid PKCE verifier: 43 to 128 characters of
    /// `A–Z a–z 0–9 - . _ ~` (RFC 7636 §4.1).
    pub fn is_valid_verifier(verifier: &str) -> bool {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        (43..=128).contains(&verifier.len()) && verifier.bytes().all(allowed)
    }

    /// The authorization request's parameters for this pair: `code_challenge` and
    /// `code_challenge_method=S256`.
    pub fn params(&self) -> [(&str, &str); 2] {
        [
            ("code_challenge", &self.challenge),
            ("code_challenge_method", "S256"),
        ]
    }
}

/// The authorization URL: `endpoint` with `response_type=code`, then `params` (client ID,
/// redirect URI, scope, state, [`Pkce::params`], …) in their order.
pub fn authorization_url(endpoint: &str, params: &[(&str, &str)]) -> String {
    let mut all = vec![("response_type", "code")];
    all.extend_from_slice(params);
    with_query(endpoint, &all)
}

/// `base` with `params` appended to its query (it may already have one).
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let separator = match base.contains('?') {
        false => "?",
        true if base.ends_with(['?', '&']) => "",
        true => "&",
    };
    format!("{base}{separator}{}", form_encode(params))
}

/// The value of callback parameter `name`; a parameter given twice is `invalid_callback`.
pub fn callback_param<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (_, Some(_)) => {
            let message = format!("callback repeats `{name}`");
            Err(Error::new("invalid_callback", message))
        }
        (first, None) => Ok(first.map(|(_, v)| v.as_str())),
    }
}

/// Checks the authorization callback's parameters and answers the code: the provider's
/// `error` (with `error_description`) is `provider_error`, a missing `code` is
/// `invalid_callback`, a missing `state` or one that differs from `expected_state`
/// (compared in constant time) is `state_mismatch`.
pub fn callback_code<'a>(params: &'a [(String, String)], expected_state: &str) -> Result<&'a str> {
    if let Some(error) = callback_param(params, "error")? {
        let description = callback_param(params, "error_description")?;
        let why = description
            .filter(|d| !d.is_empty())
            .map(|d| format!(": {}", excerpt(d, 300)))
            .unwrap_or_default();
        let message = format!("provider answered `{}`{why}", excerpt(error, 100));
        return Err(Error::new("provider_error", message));
    }
    let code = callback_param(params, "code")?.filter(|c| !c.is_empty());
    let code = code.ok_or_else(|| Error::new("invalid_callback", "callback has no `code`"))?;
    let state = callback_param(params, "state")?;
    let state = state.ok_or_else(|| Error::new("state_mismatch", "callback has no `state`"))?;
    if !constant_time_eq(state, expected_state) {
        let message = "callback `state` differs from this sign-in's";
        return Err(Error::new("state_mismatch", message));
    }
    Ok(code)
}

/// Whether `a` equals `b`, in a time that does not depend on where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// An OAuth client: its ID, its secret if it has one, and how it authenticates at the token
/// endpoint. Its `Debug` output leaves the secret out, so a logged client never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`; none for a public client.
    pub client_secret: Option<String>,
    /// How the client authenticates.
    pub auth_method: AuthMethod,
}

impl Client {
    /// A client authenticating with `client_secret_basic` when it has a secret, else as a
    /// public client (`none`). Set `auth_method` for another choice (see
    /// [`AuthMethod::choose`]).
    pub fn new(client_id: &str, client_secret: Option<&str>) -> Client {
        let auth_method = match client_secret {
            Some(_) => AuthMethod::ClientSecretBasic,
            None => AuthMethod::None,
        };
        Client {
            client_id: client_id.to_string(),
            client_secret: client_secret.map(str::to_string),
            auth_method,
        }
    }

    /// A form POST to the token endpoint `url` with the client's credentials sent by its
    /// method: an `Authorization: Basic` header (ID and secret form-encoded first,
    /// RFC 6749 §2.3.1), or in the body, or `client_id` alone.
    pub fn token_request(&self, url: &str, form: &[(&str, &str)]) -> http::Request {
        let id = self.client_id.as_str();
        let secret = self.client_secret.as_deref().unwrap_or_default();
        let mut form = form.to_vec();
        let mut request = http::Request::post(url).header("accept", "application/json");
        match self.auth_method {
            AuthMethod::ClientSecretBasic => {
                let pair = format!("{}:{}", percent_encode(id), percent_encode(secret));
                let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                request = request.header("authorization", format!("Basic {basic}"));
            }
            AuthMethod::ClientSecretPost => {
                form.push(("client_id", id));
                form.push(("client_secret", secret));
            }
            AuthMethod::None => form.push(("client_id", id)),
        }
        request.form(&form)
    }

    /// Exchanges an authorization code (`grant_type=authorization_code`) with the PKCE
    /// verifier, if the flow used one.
    pub fn exchange_code(
        &self,
        url: &str,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<Tokens> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        form.extend(code_verifier.map(|v| ("code_verifier", v)));
        self.token(url, &form)
    }

    /// Uses a refresh token (`grant_type=refresh_token`, RFC 6749 §6).
    pub fn refresh(&self, url: &str, refresh_token: &str) -> Result<Tokens> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.token(url, &form)
    }

    /// Any grant at the token endpoint `url`: the answer's JSON, or why it failed (see the
    /// module's error codes).
    pub fn token(&self, url: &str, form: &[(&str, &str)]) -> Result<Tokens> {
        let response = self.token_request(url, form).send_for("token endpoint")?;
        let status = response.status;
        if status >= 500 {
            let message = format!("token endpoint ({url}) answered HTTP {status}");
            return Err(Error::upstream_unavailable(message));
        }
        let why = describe_error(&response.body);
        if refuses_client(&response) {
            let method = self.auth_method.name();
            return Err(Error::new("client_auth_refused", format!(
                "token endpoint ({url}) refused the client's credentials ({status}, sent as `{method}`): {why} (check `client_id`, `client_secret` and the setting `token_endpoint_auth_method`)"
            )));
        }
        if !response.is_success() {
            let message = format!("token endpoint ({url}) answered HTTP {status}: {why}");
            return Err(Error::new("token_exchange_failed", message));
        }
        Ok(Tokens(json_object(&response.body).unwrap_or_default()))
    }
}

/// The token endpoint's answer (RFC 6749 §5.1), kept whole: read it with [`Tokens::get`]
/// or the named accessors. Its `Debug` output lists the field names only, so a logged
/// answer never shows a token.
#[derive(Clone, Default, PartialEq)]
pub struct Tokens(pub Map<String, Value>);

/// What `Debug` shows in place of a secret.
const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &REDACTED)
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| REDACTED),
            )
            .field("auth_method", &self.auth_method)
            .finish()
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Tokens")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Tokens {
    /// The text field `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        let value = self.0.get(name).and_then(Value::as_str);
        value.filter(|t| !t.is_empty())
    }

    /// `access_token`.
    pub fn access_token(&self) -> Option<&str> {
        self.get("access_token")
    }

    /// `id_token` (OpenID Connect).
    pub fn id_token(&self) -> Option<&str> {
        self.get("id_token")
    }

    /// `refresh_token`.
    pub fn refresh_token(&self) -> Option<&str> {
        self.get("refresh_token")
    }
}

/// Whether a token endpoint's answer refuses the client's credentials: HTTP 401, or the
/// OAuth error `invalid_client`.
pub fn refuses_client(response: &Response) -> bool {
    let body = json_object(&response.body).unwrap_or_default();
    response.status == 401 || body.get("error").is_some_and(|e| e == "invalid_client")
}

/// `body` as a JSON object, if it is one.
pub fn json_object(body: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice(body).ok()
}

/// An OAuth error answer in short (`error: error_description`), else the start of the body
/// (or `empty body`).
pub fn describe_error(body: &[u8]) -> String {
    let map = json_object(body).unwrap_or_default();
    let error = map.get("error").and_then(Value::as_str);
    let description = map.get("error_description").and_then(Value::as_str);
    match (error, description.filter(|d| !d.is_empty())) {
        (Some(error), Some(d)) => format!("{}: {}", excerpt(error, 100), excerpt(d, 300)),
        (Some(error), None) => excerpt(error, 100),
        (None, _) => match String::from_utf8_lossy(body).trim() {
            "" => "empty body".into(),
            text => format!("body `{}`", excerpt(text, 200)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;
    use serde_json::json;

    const TOKEN: &str = "https://auth.example/token";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn authorization_url_carries_state_and_an_s256_challenge() {
        let _host = MockHost::new().install();
        let pkce = Pkce::new().unwrap();
        assert!(Pkce::is_valid_verifier(&pkce.verifier));
        assert_ne!(pkce.verifier, Pkce::new().unwrap().verifier);
        let [challenge, method] = pkce.params();
        let url = authorization_url(
            "https://auth.example/authorize?tenant=a",
            &[("client_id", "app"), ("state", "s t"), challenge, method],
        );
        let challenge = Pkce::challenge_of(&pkce.verifier);
        assert_eq!(
            url,
            format!("https://auth.example/authorize?tenant=a&response_type=code&client_id=app&state=s%20t&code_challenge={challenge}&code_challenge_method=S256")
        );
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            Pkce::challenge_of(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(!Pkce::is_valid_verifier("short"));
        assert!(!Pkce::is_valid_verifier(&"a".repeat(42)));
        assert!(!Pkce::is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert_eq!(with_query("https://x/?", &[("a", "1")]), "https://x/?a=1");
        assert_eq!(with_query("https://x/", &[("a", "1")]), "https://x/?a=1");
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let client = Client::new("app", Some("s3cret-value"));
        let pkce = Pkce::new().unwrap();
        let mut tokens = Tokens::default();
        tokens.0.insert("access_token".into(), json!("tok-abc"));
        tokens.0.insert("refresh_token".into(), json!("ref-xyz"));
        let shown = format!("{client:?} {pkce:?} {tokens:?}");
        for secret in ["s3cret-value", pkce.verifier.as_str(), "tok-abc", "ref-xyz"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(
            shown.contains("app") && shown.contains("access_token"),
            "{shown}"
        );
        assert!(shown.contains(&pkce.challenge), "{shown}");
    }

    #[test]
    fn callback_checks() {
        let code = |pairs: &[(&str, &str)]| callback_code(&params(pairs), "st").map(str::to_string);
        assert_eq!(code(&[("code", "c"), ("state", "st")]), Ok("c".into()));
        let e = code(&[("error", "access_denied"), ("error_description", "no\nway")]);
        let e = e.unwrap_err();
        assert_eq!(e.code, "provider_error");
        assert_eq!(e.message, "provider answered `access_denied`: no\nway");
        let failure = |pairs: &[(&str, &str)]| code(pairs).unwrap_err().code;
        assert_eq!(failure(&[("state", "st")]), "invalid_callback");
        assert_eq!(
            failure(&[("code", ""), ("state", "st")]),
            "invalid_callback"
        );
        assert_eq!(failure(&[("code", "c")]), "state_mismatch");
        assert_eq!(failure(&[("code", "c"), ("state", "sx")]), "state_mismatch");
        let twice = [("code", "c"), ("state", "st"), ("state", "st")];
        assert_eq!(failure(&twice), "invalid_callback");
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd"));
    }

    #[test]
    fn auth_methods_are_chosen_from_what_the_server_lists() {
        let list = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let choose = |c, secret, supported: Option<&[String]>| {
            AuthMethod::choose(c, secret, supported).map_err(|e| e.code)
        };
        let post_only = list(&["client_secret_post"]);
        let basic_only = list(&["client_secret_basic"]);
        assert_eq!(
            choose(None, true, Some(&post_only)),
            Ok(AuthMethod::ClientSecretPost)
        );
        assert_eq!(choose(None, true, None), Ok(AuthMethod::ClientSecretBasic));
        assert_eq!(choose(None, false, None), Ok(AuthMethod::None));
        assert_eq!(
            choose(None, false, Some(&basic_only)),
            Err("misconfigured".into())
        );
        assert_eq!(
            choose(Some(AuthMethod::None), false, None),
            Ok(AuthMethod::None)
        );
        assert_eq!(
            choose(Some(AuthMethod::ClientSecretPost), true, Some(&basic_only)),
            Err("misconfigured".into())
        );
        assert!(AuthMethod::check_secret(Some(AuthMethod::None), true).is_err());
        assert!(AuthMethod::check_secret(Some(AuthMethod::ClientSecretPost), false).is_err());
        assert!(AuthMethod::check_secret(None, false).is_ok());
    }

    #[test]
    fn the_token_endpoint_with_each_client_authentication() {
        let host = MockHost::new()
            .on_json(
                "POST",
                TOKEN,
                200,
                &json!({"access_token": "at", "id_token": ""}),
            )
            .install();
        let mut client = Client::new("app id", Some("s:cret"));
        let tokens = client
            .exchange_code(TOKEN, "c0de", "https://t.example/cb", Some("v"))
            .unwrap();
        assert_eq!(tokens.access_token(), Some("at"));
        assert_eq!((tokens.id_token(), tokens.refresh_token()), (None, None));
        client.auth_method = AuthMethod::ClientSecretPost;
        client.refresh(TOKEN, "rt").unwrap();
        client = Client::new("app", None);
        client
            .exchange_code(TOKEN, "c", "https://t/cb", None)
            .unwrap();
        let sent = host.requests();
        // client_secret_basic: "app%20id:s%3Acret", base64.
        assert_eq!(
            sent[0].header_value("authorization"),
            Some("Basic YXBwJTIwaWQ6cyUzQWNyZXQ=")
        );
        let body = |i: usize| String::from_utf8(sent[i].body.clone()).unwrap();
        assert_eq!(body(0), "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Ft.example%2Fcb&code_verifier=v");
        assert_eq!(
            body(1),
            "grant_type=refresh_token&refresh_token=rt&client_id=app%20id&client_secret=s%3Acret"
        );
        assert_eq!(sent[1].header_value("authorization"), None);
        assert_eq!(
            body(2),
            "grant_type=authorization_code&code=c&redirect_uri=https%3A%2F%2Ft%2Fcb&client_id=app"
        );
    }

    #[test]
    fn token_endpoint_failures_say_what_was_refused() {
        let _host = MockHost::new()
            .on_json("POST", TOKEN, 400, &json!({"error": "invalid_client"}))
            .on_json(
                "POST",
                TOKEN,
                400,
                &json!({"error": "invalid_grant", "error_description": "code used"}),
            )
            .on("POST", TOKEN, 401, "")
            .on("POST", TOKEN, 502, "<html>")
            .install();
        let client = Client::new("app", Some("secret"));
        let failure = || client.refresh(TOKEN, "rt").unwrap_err();
        let e = failure();
        assert_eq!(e.code, "client_auth_refused");
        assert!(e
            .message
            .contains("sent as `client_secret_basic`): invalid_client"));
        assert!(!e.message.contains("secret`:") && !e.message.contains("=secret"));
        let e = failure();
        assert_eq!(e.code, "token_exchange_failed");
        assert!(
            e.message.ends_with("HTTP 400: invalid_grant: code used"),
            "{e}"
        );
        assert_eq!(failure().code, "client_auth_refused");
        assert_eq!(failure().code, "upstream_unavailable");
        assert_eq!(describe_error(b" "), "empty body");
        assert_eq!(describe_error(b"<p>x</p>"), "body `<p>x</p>`");
        let _host = MockHost::new().allow_host("other.example").install();
        let e = client.refresh(TOKEN, "rt").unwrap_err();
        assert_eq!(e.code, "host_not_allowed");
        assert!(
            e.message
                .contains("add \"auth.example:443\" to allowed_hosts"),
            "{e}"
        );
    }
}
