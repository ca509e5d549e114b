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
    let required = [
        ("state", &request.state),
        ("nonce", &request.nonce),
        ("redirect-uri", &request.redirect_uri),
    ];
    if let Some((name, _)) = required.iter().find(|(_, value)| value.is_empty()) {
        let message = format!("start-request has an empty {name}");
        return Err(Error::invalid_request(message));
    }
    let settings = Settings::load()?;
    let provider = provider::discover(&settings)?;
    let verifier = random::token(32);
    if verifier.len() != 43 {
        let message = "the host answered fewer random bytes than asked";
        return Err(Error::new("internal_error", message));
    }
    let challenge = base64url(&Sha256::digest(verifier.as_bytes()));
    let hint = request.login_hint.as_deref().map(str::trim);
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", &settings.client_id),
        ("redirect_uri", &request.redirect_uri),
        ("scope", &settings.scopes),
        ("state", &request.state),
        ("nonce", &request.nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend(hint.filter(|h| !h.is_empty()).map(|h| ("login_hint", h)));
    params.extend(settings.prompt(reselect).map(|p| ("prompt", p)));
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
    let mut found = request.params.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (_, Some(_)) => Err(Error::new(
            "invalid_callback",
            format!("callback repeats `{name}`"),
        )),
        (first, None) => Ok(first.map(|(_, v)| v.as_str())),
    }
}

/// The PKCE verifier `start` kept in the flow data (RFC 7636 §4.1: 43 to 128 characters).
fn code_verifier(flow_data: &str) -> Option<String> {
    let data: Value = serde_json::from_str(flow_data).ok()?;
    let verifier = data.get("code_verifier")?.as_str()?;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    let ok = (43..=128).contains(&verifier.len()) && verifier.bytes().all(allowed);
    ok.then(|| verifier.to_string())
}

/// `finish`: callback checks, code exchange, ID token verification, identity; with it, what
/// a later sign-out at the provider needs (when `sign_out_at_provider` is on and the
/// provider has an `end_session_endpoint`).
pub(crate) fn finish(request: &FinishRequest) -> Result<Session> {
    if let Some(error) = param(request, "error")? {
        let description = param(request, "error_description")?.filter(|d| !d.is_empty());
        let why = description.map(|d| format!(": {}", excerpt(d, 300)));
        let message = format!(
            "provider answered `{}`{}",
            excerpt(error, 100),
            why.unwrap_or_default()
        );
        return Err(Error::new("provider_error", message));
    }
    let code = param(request, "code")?.filter(|c| !c.is_empty());
    let code = code.ok_or_else(|| Error::new("invalid_callback", "callback has no `code`"))?;
    let state = param(request, "state")?;
    let state = state.ok_or_else(|| Error::new("state_mismatch", "callback has no `state`"))?;
    if !bool::from(state.as_bytes().ct_eq(request.state.as_bytes())) {
        let message = "callback `state` differs from this sign-in's";
        return Err(Error::new("state_mismatch", message));
    }
    let verifier = code_verifier(&request.flow_data).ok_or_else(|| {
        Error::invalid_request(
            "flow-data holds no PKCE verifier (was the flow started by this plugin?)",
        )
    })?;
    let settings = Settings::load()?;
    let provider = provider::discover(&settings)?;
    // RFC 9207: a provider that names itself in the callback must be ours (mix-up defence).
    if let Some(iss) = param(request, "iss")?.filter(|iss| *iss != provider.issuer) {
        let message = format!(
            "callback `iss` is `{}`, expected `{}`",
            excerpt(iss, 200),
            provider.issuer
        );
        return Err(Error::new("invalid_callback", message));
    }
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &request.redirect_uri),
        ("code_verifier", &verifier),
    ];
    let tokens = exchange_code(&settings, &provider, &form)?;
    let text = |name: &str| {
        tokens
            .get(name)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let id_token = text("id_token").ok_or_else(|| {
        let url = &provider.token_endpoint;
        let message = format!(
            "token endpoint ({url}) answered no `id_token` (is `openid` among the scopes?)"
        );
        Error::new("token_exchange_failed", message)
    })?;
    let expected = Expected {
        issuer: &provider.issuer,
        client_id: &settings.client_id,
        nonce: &request.nonce,
        now_s: time::now_unix(),
    };
    let claims = provider::verify_id_token(id_token, &provider, &expected)?;
    let identity = identity(&settings, &provider, &claims, text("access_token"))?;
    let end_session = provider.end_session_endpoint.as_deref();
    if settings.sign_out_at_provider && end_session.is_none() {
        warn!("`sign_out_at_provider` is on but the provider's discovery document has no `end_session_endpoint`: signing out ends the tenantry session only");
    }
    let sign_out_data = end_session
        .filter(|_| settings.sign_out_at_provider)
        .map(|endpoint| {
            json!({ "v": 1, "end_session_endpoint": endpoint, "id_token": id_token }).to_string()
        });
    Ok(Session {
        identity,
        sign_out_data,
    })
}

/// The code exchange at the token endpoint: its JSON answer, or why it failed.
fn exchange_code(
    settings: &Settings,
    provider: &Provider,
    form: &[(&str, &str)],
) -> Result<Map<String, Value>> {
    let method = auth_method(settings, provider)?;
    let url = &provider.token_endpoint;
    let request = token_request(settings, url, method, form);
    let response = provider::send(request, "token endpoint")?;
    let body = json_object(&response.body).unwrap_or_default();
    let (status, why) = (response.status, describe_error_body(&response.body));
    if status >= 500 {
        let message = format!("token endpoint ({url}) answered HTTP {status}");
        return Err(Error::upstream_unavailable(message));
    }
    if status == 401 || body.get("error").is_some_and(|e| e == "invalid_client") {
        let method = method.name();
        return Err(Error::new("client_auth_refused", format!(
            "token endpoint ({url}) refused the client's credentials ({status}, sent as `{method}`): {why} (check `client_id`, `client_secret` and the setting `token_endpoint_auth_method`)"
        )));
    }
    if !response.is_success() {
        let message = format!("token endpoint ({url}) answered HTTP {status}: {why}");
        return Err(Error::new("token_exchange_failed", message));
    }
    Ok(body)
}

/// The identity in the verified claims; when they have no `email`, completed from
/// UserInfo (OpenID Connect Core §5.4: with the code flow a provider may release `email`
/// and `email_verified` only there). A provider that never states `email_verified` (e.g.
/// Microsoft Entra ID) is refused by the host unless the operator chose, per provider, to
/// vouch for its addresses.
fn identity(
    settings: &Settings,
    provider: &Provider,
    claims: &Map<String, Value>,
    access_token: Option<&str>,
) -> Result<Identity> {
    let mut identity = identity_in(claims);
    let mut verified_stated = claims.get("email_verified").is_some_and(|v| !v.is_null());
    if identity.email.is_empty() {
        let missing = |why: &str| {
            Error::new(
                "missing_email",
                format!("ID token has no `email` claim and {why}"),
            )
        };
        let endpoint = provider.userinfo_endpoint.as_deref();
        let endpoint =
            endpoint.ok_or_else(|| missing("the provider has no `userinfo_endpoint`"))?;
        let token = access_token
            .ok_or_else(|| missing("the token endpoint answered no `access_token` for UserInfo"))?;
        let info = userinfo(endpoint, token, &identity.subject)?;
        verified_stated = info.get("email_verified").is_some_and(|v| !v.is_null());
        let more = identity_in(&info);
        let groups = match identity.groups.is_empty() {
            true => more.groups,
            false => identity.groups,
        };
        let name = identity.name.or(more.name);
        identity = Identity {
            name,
            groups,
            ..more
        };
        if identity.email.is_empty() {
            let scopes = &settings.scopes;
            return Err(Error::new("missing_email", format!(
                "neither the ID token nor UserInfo ({endpoint}) has an `email` claim (scopes asked: `{scopes}`; the provider must release `email` to this client)"
            )));
        }
    }
    if !verified_stated {
        if !settings.trust_email_without_verified_claim {
            warn!("the provider states no `email_verified`, so the address counts as unverified (see the `trust_email_without_verified_claim` setting and its risk)");
        }
        identity.email_verified = settings.trust_email_without_verified_claim;
    }
    Ok(identity)
}

/// The identity in claims: `sub`, `email`, `email_verified` (a boolean, or the string
/// `"true"`), `name`, and `groups` when it is an array of strings.
fn identity_in(claims: &Map<String, Value>) -> Identity {
    let text = |n: &str| claims.get(n).and_then(Value::as_str).map(str::trim);
    let text = |n: &str| text(n).filter(|s| !s.is_empty()).map(str::to_string);
    let groups = claims.get("groups").and_then(Value::as_array);
    let groups = groups.and_then(|l| l.iter().map(|g| g.as_str().map(str::to_string)).collect());
    Identity {
        subject: text("sub").unwrap_or_default(),
        email: text("email").unwrap_or_default(),
        email_verified: match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        },
        name: text("name"),
        groups: groups.unwrap_or_default(),
    }
}

/// `body` as a JSON object, if it is one.
pub(crate) fn json_object(body: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice(body).ok()
}

/// An OAuth error answer in short (`error: error_description`), or the start of the body.
pub(crate) fn describe_error_body(body: &[u8]) -> String {
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

/// The UserInfo claims (OpenID Connect Core §5.3), whose `sub` must be the ID token's.
fn userinfo(endpoint: &str, access_token: &str, subject: &str) -> Result<Map<String, Value>> {
    let request = http::Request::get(endpoint).bearer(access_token);
    let response = provider::send(
        request.header("accept", "application/json"),
        "UserInfo endpoint",
    )?;
    let failed = |m: String| {
        Error::new(
            "userinfo_failed",
            format!("UserInfo endpoint ({endpoint}) {m}"),
        )
    };
    let status = response.status;
    if status >= 500 {
        let message = format!("UserInfo endpoint ({endpoint}) answered HTTP {status}");
        return Err(Error::upstream_unavailable(message));
    }
    if !response.is_success() {
        return Err(failed(format!(
            "answered HTTP {status}: {}",
            describe_error_body(&response.body)
        )));
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

/// A form POST to the token endpoint with the client's credentials sent by `method`: an
/// `Authorization: Basic` header (ID and secret form-encoded first, RFC 6749 §2.3.1), or in
/// the body, or `client_id` alone.
pub(crate) fn token_request(
    settings: &Settings,
    url: &str,
    method: AuthMethod,
    form: &[(&str, &str)],
) -> http::Request {
    let (id, secret) = (
        &settings.client_id,
        settings.client_secret.as_deref().unwrap_or_default(),
    );
    let mut form = form.to_vec();
    let mut request = http::Request::post(url).header("accept", "application/json");
    match method {
        AuthMethod::ClientSecretBasic => {
            let pair = format!("{}:{}", percent_encode(id), percent_encode(secret));
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            request = request.header("authorization", format!("Basic {basic}"));
        }
        AuthMethod::ClientSecretPost => {
            form.extend([("client_id", id.as_str()), ("client_secret", secret)])
        }
        AuthMethod::None => form.push(("client_id", id)),
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
