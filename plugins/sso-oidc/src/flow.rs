//! The hooks: the authorization redirect, the callback, and the end-session URL.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tenantry_plugin::prelude::*;
use tenantry_plugin::sso::{FinishRequest, Identity, Session, StartRequest, StartResponse};
use tenantry_plugin::text::{base64url, excerpt, form_encode, percent_encode};

use crate::provider::{self, AuthMethod, Expected, Provider, Settings};

/// `start`: discovery, a fresh PKCE verifier, and the authorization URL. `reselect`: the
/// host refused this browser's previous identity, so the provider is asked (`prompt`) to
/// let the person choose the account again.
pub(crate) fn start(request: &StartRequest, reselect: bool) -> Result<StartResponse> {
    for (name, value) in [
        ("state", &request.state),
        ("nonce", &request.nonce),
        ("redirect-uri", &request.redirect_uri),
    ] {
        if value.is_empty() {
            return Err(Error::invalid_request(format!(
                "start-request has an empty {name}"
            )));
        }
    }
    let settings = Settings::load()?;
    let provider = provider::discover(&settings)?;
    let verifier = random::token(32);
    if verifier.len() != 43 {
        return Err(Error::new(
            "internal_error",
            "the host answered fewer random bytes than asked",
        ));
    }
    let challenge = base64url(&Sha256::digest(verifier.as_bytes()));
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", settings.client_id.as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("scope", settings.scopes.as_str()),
        ("state", request.state.as_str()),
        ("nonce", request.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(hint) = request
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        params.push(("login_hint", hint));
    }
    if let Some(prompt) = settings.prompt(reselect) {
        params.push(("prompt", prompt));
    }
    Ok(StartResponse {
        redirect_url: append_query(&provider.authorization_endpoint, &params),
        flow_data: json!({ "v": 1, "code_verifier": verifier }).to_string(),
    })
}

/// `base` with `params` appended to its query (it may already have one).
fn append_query(base: &str, params: &[(&str, &str)]) -> String {
    let sep = match base.contains('?') {
        false => "?",
        true if base.ends_with(['?', '&']) => "",
        true => "&",
    };
    format!("{base}{sep}{}", form_encode(params))
}

/// The value of callback parameter `name`; one given twice is an invalid callback.
fn param<'a>(request: &'a FinishRequest, name: &str) -> Result<Option<&'a str>> {
    let mut found = request
        .params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    match found.next() {
        Some(_) => Err(Error::new(
            "invalid_callback",
            format!("callback repeats `{name}`"),
        )),
        None => Ok(first),
    }
}

/// `finish`: callback checks, code exchange, ID token verification, identity; with it, what
/// a later sign-out at the provider needs (when `sign_out_at_provider` is on and the
/// provider has an `end_session_endpoint`).
pub(crate) fn finish(request: &FinishRequest) -> Result<Session> {
    if let Some(error) = param(request, "error")? {
        let why = match param(request, "error_description")? {
            Some(d) if !d.is_empty() => format!(": {}", excerpt(d, 300)),
            _ => String::new(),
        };
        return Err(Error::new(
            "provider_error",
            format!("provider answered `{}`{why}", excerpt(error, 100)),
        ));
    }
    let code = param(request, "code")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::new("invalid_callback", "callback has no `code`"))?;
    match param(request, "state")? {
        None => return Err(Error::new("state_mismatch", "callback has no `state`")),
        Some(s) if !bool::from(s.as_bytes().ct_eq(request.state.as_bytes())) => {
            return Err(Error::new(
                "state_mismatch",
                "callback `state` differs from this sign-in's",
            ))
        }
        Some(_) => {}
    }
    let verifier = serde_json::from_str::<Value>(&request.flow_data)
        .ok()
        .and_then(|v| v.get("code_verifier")?.as_str().map(str::to_string))
        .filter(|v| {
            (43..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        })
        .ok_or_else(|| {
            Error::invalid_request(
                "flow-data holds no PKCE verifier (was the flow started by this plugin?)",
            )
        })?;

    let settings = Settings::load()?;
    let provider = provider::discover(&settings)?;
    // RFC 9207: a provider that names itself in the callback must be ours (mix-up defence).
    if let Some(iss) = param(request, "iss")?.filter(|iss| *iss != provider.issuer) {
        return Err(Error::new(
            "invalid_callback",
            format!(
                "callback `iss` is `{}`, expected `{}`",
                excerpt(iss, 200),
                provider.issuer
            ),
        ));
    }
    let method = auth_method(&settings, &provider)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &request.redirect_uri),
        ("code_verifier", &verifier),
    ];
    let url = &provider.token_endpoint;
    let response = provider::send(
        token_request(&settings, url, method, &form),
        "token endpoint",
    )?;
    let body = json_object(&response.body).unwrap_or_default();
    if response.status >= 500 {
        return Err(Error::upstream_unavailable(format!(
            "token endpoint ({url}) answered HTTP {}",
            response.status
        )));
    }
    if response.status == 401 || body.get("error").is_some_and(|e| e == "invalid_client") {
        return Err(Error::new("client_auth_refused", format!(
            "token endpoint ({url}) refused the client's credentials ({}, sent as `{}`): {} (check `client_id`, \
             `client_secret` and the method the client is registered for; setting `token_endpoint_auth_method`)",
            response.status, method.name(), describe_error_body(&response.body)
        )));
    }
    if !response.is_success() {
        return Err(Error::new(
            "token_exchange_failed",
            format!(
                "token endpoint ({url}) answered HTTP {}: {}",
                response.status,
                describe_error_body(&response.body)
            ),
        ));
    }
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let id_token = text("id_token").ok_or_else(|| {
        Error::new(
            "token_exchange_failed",
            format!(
                "token endpoint ({url}) answered no `id_token` (is `openid` among the scopes?)"
            ),
        )
    })?;
    let expected = Expected {
        issuer: &provider.issuer,
        client_id: &settings.client_id,
        nonce: &request.nonce,
        now_s: time::now_unix(),
    };
    let claims = provider::verify_id_token(id_token, &provider, &expected)?;

    let mut identity = identity(&claims);
    let mut verified_stated = claims.get("email_verified").is_some_and(|v| !v.is_null());
    // OpenID Connect Core §5.4: with the code flow a provider may release `email` and
    // `email_verified` only from UserInfo; ask it when the ID token leaves them out.
    if identity.email.is_empty() {
        let missing = |why: &str| {
            Error::new(
                "missing_email",
                format!("ID token has no `email` claim and {why}"),
            )
        };
        let endpoint = provider
            .userinfo_endpoint
            .as_deref()
            .ok_or_else(|| missing("the provider has no `userinfo_endpoint`"))?;
        let token = text("access_token")
            .ok_or_else(|| missing("the token endpoint answered no `access_token` for UserInfo"))?;
        let info = userinfo(endpoint, token, &identity.subject)?;
        let more = self::identity(&info);
        verified_stated = info.get("email_verified").is_some_and(|v| !v.is_null());
        identity = Identity {
            name: identity.name.or(more.name),
            groups: if identity.groups.is_empty() {
                more.groups
            } else {
                identity.groups
            },
            ..more
        };
        if identity.email.is_empty() {
            return Err(Error::new("missing_email", format!(
                "neither the ID token nor UserInfo ({endpoint}) has an `email` claim (scopes asked: `{}`; \
                 the provider must release `email` to this client)", settings.scopes
            )));
        }
    }
    // A provider that never states `email_verified` (e.g. Microsoft Entra ID) is refused by
    // the host unless the operator chose, per provider, to vouch for its addresses.
    if !verified_stated {
        if !settings.trust_email_without_verified_claim {
            warn!("the provider states no `email_verified`, so the address counts as unverified (see the `trust_email_without_verified_claim` setting and its risk)");
        }
        identity.email_verified = settings.trust_email_without_verified_claim;
    }
    let sign_out_data = match (
        &provider.end_session_endpoint,
        settings.sign_out_at_provider,
    ) {
        (Some(endpoint), true) => Some(
            json!({ "v": 1, "end_session_endpoint": endpoint, "id_token": id_token }).to_string(),
        ),
        (None, true) => {
            warn!("`sign_out_at_provider` is on but the provider's discovery document has no `end_session_endpoint`: signing out ends the tenantry session only");
            None
        }
        _ => None,
    };
    Ok(Session {
        identity,
        sign_out_data,
    })
}

/// The identity in verified claims: `sub`, `email`, `email_verified` (a boolean, or the
/// string `"true"`), `name`, and `groups` when it is an array of strings.
fn identity(claims: &Map<String, Value>) -> Identity {
    let text = |n: &str| {
        claims
            .get(n)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Identity {
        subject: text("sub").unwrap_or_default(),
        email: text("email").unwrap_or_default(),
        email_verified: match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        },
        name: text("name"),
        groups: claims
            .get("groups")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().map(|g| g.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
    }
}

/// `body` as a JSON object, if it is one.
pub(crate) fn json_object(body: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice(body).ok()
}

/// An OAuth error answer in short (`error: error_description`), or the start of the body.
pub(crate) fn describe_error_body(body: &[u8]) -> String {
    let map = json_object(body).unwrap_or_default();
    if let Some(error) = map.get("error").and_then(Value::as_str) {
        return match map
            .get("error_description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            Some(d) => format!("{}: {}", excerpt(error, 100), excerpt(d, 300)),
            None => excerpt(error, 100),
        };
    }
    match String::from_utf8_lossy(body).trim() {
        "" => "empty body".into(),
        text => format!("body `{}`", excerpt(text, 200)),
    }
}

/// The UserInfo claims (OpenID Connect Core §5.3), whose `sub` must be the ID token's.
fn userinfo(endpoint: &str, access_token: &str, subject: &str) -> Result<Map<String, Value>> {
    let request = http::Request::get(endpoint)
        .bearer(access_token)
        .header("accept", "application/json");
    let response = provider::send(request, "UserInfo endpoint")?;
    let failed = |m: String| {
        Error::new(
            "userinfo_failed",
            format!("UserInfo endpoint ({endpoint}) {m}"),
        )
    };
    if response.status >= 500 {
        return Err(Error::upstream_unavailable(format!(
            "UserInfo endpoint ({endpoint}) answered HTTP {}",
            response.status
        )));
    }
    if !response.is_success() {
        return Err(failed(format!(
            "answered HTTP {}: {}",
            response.status,
            describe_error_body(&response.body)
        )));
    }
    let info = json_object(&response.body).ok_or_else(|| {
        failed(
            "did not answer a JSON object (a signed or encrypted UserInfo answer is not supported)"
                .into(),
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

/// A form POST to the token endpoint with the client's credentials sent by `method`: an
/// `Authorization: Basic` header (ID and secret form-encoded first, RFC 6749 §2.3.1), or in
/// the body, or `client_id` alone.
pub(crate) fn token_request(
    settings: &Settings,
    url: &str,
    method: AuthMethod,
    form: &[(&str, &str)],
) -> http::Request {
    let secret = settings.client_secret.as_deref().unwrap_or_default();
    let mut form = form.to_vec();
    let mut request = http::Request::post(url).header("accept", "application/json");
    match method {
        AuthMethod::ClientSecretBasic => {
            let pair = format!(
                "{}:{}",
                percent_encode(&settings.client_id),
                percent_encode(secret)
            );
            request = request.header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            );
        }
        AuthMethod::ClientSecretPost => form.extend([
            ("client_id", settings.client_id.as_str()),
            ("client_secret", secret),
        ]),
        AuthMethod::None => form.push(("client_id", &settings.client_id)),
    }
    request.form(&form)
}

/// The token endpoint authentication method: the `token_endpoint_auth_method` setting, or
/// one the provider lists in `token_endpoint_auth_methods_supported`.
pub(crate) fn auth_method(settings: &Settings, provider: &Provider) -> Result<AuthMethod> {
    let methods = provider.auth_methods();
    let supported = |m: AuthMethod| methods.iter().any(|s| s == m.name());
    let listed = methods.join(", ");
    let explicit = provider.token_endpoint_auth_methods_supported.is_some();
    if let Some(m) = settings.auth_method {
        // A public client is allowed when the provider's list was not given explicitly.
        return match supported(m) || (m == AuthMethod::None && !explicit) {
            true => Ok(m),
            false => Err(Error::misconfigured(format!("setting `token_endpoint_auth_method` is `{}` but the provider supports only: {listed}", m.name()))),
        };
    }
    if settings.client_secret.is_none() {
        return match explicit && !supported(AuthMethod::None) {
            true => Err(Error::misconfigured(format!("no `client_secret` is set but the provider does not accept public clients (`none` is not among its token endpoint auth methods: {listed}); set `client_secret`"))),
            false => Ok(AuthMethod::None),
        };
    }
    [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost].into_iter().find(|m| supported(*m))
        .ok_or_else(|| Error::misconfigured(format!("the provider supports none of client_secret_basic, client_secret_post (it lists: {listed})")))
}

/// `sign-out`: the provider's end-session URL (OpenID Connect RP-Initiated Logout 1.0 §2)
/// with `id_token_hint`, `post_logout_redirect_uri` and `client_id`.
pub(crate) fn sign_out(
    sign_out_data: &str,
    post_logout_redirect_uri: &str,
) -> Result<Option<String>> {
    let settings = Settings::load()?;
    if !settings.sign_out_at_provider {
        return Ok(None);
    }
    let data: Value = serde_json::from_str(sign_out_data)
        .map_err(|_| Error::invalid_request("sign-out-data is not what finish answered"))?;
    let text = |name: &str| data.get(name).and_then(Value::as_str);
    let (Some(endpoint), Some(id_token)) = (text("end_session_endpoint"), text("id_token")) else {
        return Err(Error::invalid_request(
            "sign-out-data has no end_session_endpoint or id_token",
        ));
    };
    if !provider::is_http_url(endpoint) {
        return Err(Error::invalid_request(
            "sign-out-data names no http(s) end_session_endpoint",
        ));
    }
    let params = [
        ("id_token_hint", id_token),
        ("post_logout_redirect_uri", post_logout_redirect_uri),
        ("client_id", &settings.client_id),
    ];
    Ok(Some(append_query(endpoint, &params)))
}
