//! The two hooks: build the authorization redirect, and finish the callback.

use serde_json::{json, Value};

use crate::exports::tenantry::plugin::sso_hooks::{
    FinishRequest, Identity, StartRequest, StartResponse,
};
use crate::jwt::{self, Expected, Jws};
use crate::provider::{self, Provider};
use crate::settings::{AuthMethod, Settings};
use crate::tenantry::plugin::host;
use crate::util::{
    append_query, b64std, b64url, clip, ct_eq, form_encode, is_pkce_verifier, pct_encode,
    pkce_challenge,
};
use crate::{code, net, Failure};

/// Bytes of randomness in a PKCE verifier (43 base64url characters).
const VERIFIER_BYTES: u32 = 32;

/// `start`: discovery, a fresh PKCE verifier, and the authorization URL. `reselect`: the
/// host refused this browser's previous identity, so the provider is asked (setting
/// `prompt`) to let the person choose the account again.
pub(crate) fn start(request: &StartRequest, reselect: bool) -> Result<StartResponse, Failure> {
    for (name, value) in [
        ("state", &request.state),
        ("nonce", &request.nonce),
        ("redirect-uri", &request.redirect_uri),
    ] {
        if value.is_empty() {
            return Err(Failure::new(
                code::INVALID_REQUEST,
                format!("start-request has an empty {name}"),
            ));
        }
    }
    let settings = Settings::load()?;
    let provider = provider::discover(&settings)?;

    let random = host::random_bytes(VERIFIER_BYTES);
    if random.len() != VERIFIER_BYTES as usize {
        return Err(Failure::new(
            code::INTERNAL,
            format!(
                "host answered {} random bytes, asked {VERIFIER_BYTES}",
                random.len()
            ),
        ));
    }
    let verifier = b64url(&random);
    let challenge = pkce_challenge(&verifier);

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
    if let Some(hint) = request.login_hint.as_deref().map(str::trim) {
        if !hint.is_empty() {
            params.push(("login_hint", hint));
        }
    }
    if reselect || settings.prompt_always {
        if let Some(prompt) = settings.prompt.param() {
            params.push(("prompt", prompt));
        }
    }
    Ok(StartResponse {
        redirect_url: append_query(&provider.authorization_endpoint, &form_encode(&params)),
        flow_data: json!({ "v": 1, "code_verifier": verifier }).to_string(),
    })
}

/// `finish`: callback checks, code exchange, ID token verification, identity; with it, what
/// a later sign-out at the provider needs (when `sign_out_at_provider` is on and the
/// provider has an `end_session_endpoint`).
pub(crate) fn finish(request: &FinishRequest) -> Result<(Identity, Option<String>), Failure> {
    let params = Params(&request.params);
    if let Some(error) = params.get("error")? {
        let message = match params.get("error_description")? {
            Some(d) if !d.is_empty() => {
                format!("provider answered `{}`: {}", clip(error, 100), clip(d, 300))
            }
            _ => format!("provider answered `{}`", clip(error, 100)),
        };
        return Err(Failure::new(code::PROVIDER_ERROR, message));
    }
    let auth_code = params
        .get("code")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Failure::new(code::INVALID_CALLBACK, "callback has no `code`"))?;
    match params.get("state")? {
        None => {
            return Err(Failure::new(
                code::STATE_MISMATCH,
                "callback has no `state`",
            ))
        }
        Some(state) if !ct_eq(state, &request.state) => {
            return Err(Failure::new(
                code::STATE_MISMATCH,
                "callback `state` differs from this sign-in's",
            ))
        }
        Some(_) => {}
    }
    let verifier = code_verifier(&request.flow_data)?;

    let settings = Settings::load()?;
    let provider = provider::discover(&settings)?;
    // RFC 9207: a provider that names itself in the callback must be ours (mix-up defence).
    if let Some(iss) = params.get("iss")? {
        if iss != provider.issuer {
            return Err(Failure::new(
                code::INVALID_CALLBACK,
                format!(
                    "callback `iss` is `{}`, expected `{}`",
                    clip(iss, 200),
                    provider.issuer
                ),
            ));
        }
    }

    let tokens = exchange_code(
        &settings,
        &provider,
        auth_code,
        &request.redirect_uri,
        &verifier,
    )?;
    let invalid = |m: String| Failure::new(code::INVALID_ID_TOKEN, format!("ID token: {m}"));
    let jws = jwt::parse(&tokens.id_token).map_err(invalid)?;
    verify_signature(&provider, &jws)?;
    let expected = Expected {
        issuer: &provider.issuer,
        client_id: &settings.client_id,
        nonce: &request.nonce,
        now_s: host::now_unix_ms().div_euclid(1000),
    };
    jwt::check_claims(&jws.claims, &expected).map_err(invalid)?;

    let mut claims = jwt::identity_claims(&jws.claims);
    // OpenID Connect Core §5.4: with the code flow a provider may release `email` and
    // `email_verified` only from UserInfo; ask it when the ID token leaves them out.
    if claims.email.is_none() {
        let endpoint = provider.userinfo_endpoint.as_deref().ok_or_else(|| {
            Failure::new(
                code::MISSING_EMAIL,
                "ID token has no `email` claim and the provider has no `userinfo_endpoint`",
            )
        })?;
        let access_token = tokens.access_token.as_deref().ok_or_else(|| {
            Failure::new(
                code::MISSING_EMAIL,
                "ID token has no `email` claim and the token endpoint answered no `access_token` for UserInfo",
            )
        })?;
        let info = userinfo(endpoint, access_token, &claims.subject)?;
        let from_userinfo = jwt::identity_claims(&info);
        claims.email = from_userinfo.email;
        claims.email_verified = from_userinfo.email_verified;
        claims.email_verified_stated = from_userinfo.email_verified_stated;
        if claims.name.is_none() {
            claims.name = from_userinfo.name;
        }
        if claims.groups.is_empty() {
            claims.groups = from_userinfo.groups;
        }
        if claims.email.is_none() {
            return Err(Failure::new(
                code::MISSING_EMAIL,
                format!(
                    "neither the ID token nor UserInfo ({endpoint}) has an `email` claim \
                     (scopes asked: `{}`; the provider must release `email` to this client)",
                    settings.scopes
                ),
            ));
        }
    }
    let email = claims.email.unwrap_or_default();
    // A provider that never states `email_verified` (e.g. Microsoft Entra ID) is refused by
    // the host unless the operator chose, per provider, to vouch for its addresses.
    let email_verified = if claims.email_verified_stated {
        claims.email_verified
    } else {
        if !settings.trust_email_without_verified_claim {
            host::log(
                host::LogLevel::Warn,
                "the provider states no `email_verified`, so the address counts as unverified \
                 (see the `trust_email_without_verified_claim` setting and its risk)",
            );
        }
        settings.trust_email_without_verified_claim
    };
    let sign_out_data = match (
        &provider.end_session_endpoint,
        settings.sign_out_at_provider,
    ) {
        (Some(endpoint), true) => Some(
            json!({ "v": 1, "end_session_endpoint": endpoint, "id_token": tokens.id_token })
                .to_string(),
        ),
        (None, true) => {
            host::log(
                host::LogLevel::Warn,
                "`sign_out_at_provider` is on but the provider's discovery document has no \
                 `end_session_endpoint`: signing out ends the tenantry session only",
            );
            None
        }
        _ => None,
    };
    Ok((
        Identity {
            subject: claims.subject,
            email,
            email_verified,
            name: claims.name,
            groups: claims.groups,
        },
        sign_out_data,
    ))
}

/// `sign-out`: the provider's end-session URL (OpenID Connect RP-Initiated Logout 1.0 §2)
/// with `id_token_hint`, `post_logout_redirect_uri` and `client_id`.
pub(crate) fn sign_out(
    sign_out_data: &str,
    post_logout_redirect_uri: &str,
) -> Result<Option<String>, Failure> {
    let settings = Settings::load()?;
    if !settings.sign_out_at_provider {
        return Ok(None);
    }
    let data: Value = serde_json::from_str(sign_out_data).map_err(|_| {
        Failure::new(
            code::INVALID_REQUEST,
            "sign-out-data is not what finish answered",
        )
    })?;
    let text = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_string);
    let (Some(endpoint), Some(id_token)) = (text("end_session_endpoint"), text("id_token")) else {
        return Err(Failure::new(
            code::INVALID_REQUEST,
            "sign-out-data has no end_session_endpoint or id_token",
        ));
    };
    if !crate::util::is_http_url(&endpoint) {
        return Err(Failure::new(
            code::INVALID_REQUEST,
            "sign-out-data names no http(s) end_session_endpoint",
        ));
    }
    let params = [
        ("id_token_hint", id_token.as_str()),
        ("post_logout_redirect_uri", post_logout_redirect_uri),
        ("client_id", settings.client_id.as_str()),
    ];
    Ok(Some(append_query(&endpoint, &form_encode(&params))))
}

/// The UserInfo claims (OpenID Connect Core §5.3), whose `sub` must be the ID token's.
fn userinfo(
    endpoint: &str,
    access_token: &str,
    subject: &str,
) -> Result<serde_json::Map<String, Value>, Failure> {
    let bearer = format!("Bearer {access_token}");
    let response = net::send(
        "GET",
        endpoint,
        &[("authorization", &bearer), ("accept", "application/json")],
        Vec::new(),
        "UserInfo endpoint",
    )?;
    if response.status >= 500 {
        return Err(Failure::new(
            code::UPSTREAM_UNAVAILABLE,
            format!(
                "UserInfo endpoint ({endpoint}) answered HTTP {}",
                response.status
            ),
        ));
    }
    if !net::is_success(response.status) {
        return Err(Failure::new(
            code::USERINFO_FAILED,
            format!(
                "UserInfo endpoint ({endpoint}) answered HTTP {}: {}",
                response.status,
                net::describe_error_body(&response.body)
            ),
        ));
    }
    let info = net::parse_object(&response.body).ok_or_else(|| {
        Failure::new(
            code::USERINFO_FAILED,
            format!(
                "UserInfo endpoint ({endpoint}) did not answer a JSON object \
                 (a signed or encrypted UserInfo answer is not supported)"
            ),
        )
    })?;
    match info.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == subject => Ok(info),
        Some(sub) => Err(Failure::new(
            code::USERINFO_FAILED,
            format!(
                "UserInfo `sub` is `{}`, not the ID token's `{}`",
                clip(sub, 100),
                clip(subject, 100)
            ),
        )),
        None => Err(Failure::new(
            code::USERINFO_FAILED,
            format!("UserInfo endpoint ({endpoint}) answered no `sub`"),
        )),
    }
}

/// The token endpoint authentication method: the `token_endpoint_auth_method` setting, or
/// one the provider lists in `token_endpoint_auth_methods_supported`.
pub(crate) fn auth_method(settings: &Settings, provider: &Provider) -> Result<AuthMethod, Failure> {
    let supported = |m: AuthMethod| provider.auth_methods.iter().any(|s| s == m.name());
    let listed = provider.auth_methods.join(", ");
    if let Some(m) = settings.auth_method {
        // A public client is allowed even when the provider's list leaves `none` out, as
        // long as the list was not given explicitly.
        let ok = supported(m) || (m == AuthMethod::None && !provider.auth_methods_listed);
        return if ok {
            Ok(m)
        } else {
            Err(Failure::new(
                code::MISCONFIGURED,
                format!(
                    "setting `token_endpoint_auth_method` is `{}` but the provider supports only: {listed}",
                    m.name()
                ),
            ))
        };
    }
    if settings.client_secret.is_none() {
        if provider.auth_methods_listed && !supported(AuthMethod::None) {
            return Err(Failure::new(
                code::MISCONFIGURED,
                format!(
                    "no `client_secret` is set but the provider does not accept public clients \
                     (`none` is not among its token endpoint auth methods: {listed}); set `client_secret`"
                ),
            ));
        }
        return Ok(AuthMethod::None);
    }
    [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost]
        .into_iter()
        .find(|m| supported(*m))
        .ok_or_else(|| {
            Failure::new(
                code::MISCONFIGURED,
                format!(
                    "the provider supports none of client_secret_basic, client_secret_post \
                     (it lists: {listed})"
                ),
            )
        })
}

/// The callback's query parameters.
struct Params<'a>(&'a [(String, String)]);

impl<'a> Params<'a> {
    /// The value of `name`; a parameter given twice is an invalid callback.
    fn get(&self, name: &str) -> Result<Option<&'a str>, Failure> {
        let mut found = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(Failure::new(
                code::INVALID_CALLBACK,
                format!("callback repeats `{name}`"),
            ));
        }
        Ok(first)
    }
}

/// The PKCE verifier saved by `start` in `flow-data`.
fn code_verifier(flow_data: &str) -> Result<String, Failure> {
    serde_json::from_str::<Value>(flow_data)
        .ok()
        .and_then(|v| v.get("code_verifier")?.as_str().map(str::to_string))
        .filter(|v| is_pkce_verifier(v))
        .ok_or_else(|| {
            Failure::new(
                code::INVALID_REQUEST,
                "flow-data holds no PKCE verifier (was the flow started by this plugin?)",
            )
        })
}

/// What the token endpoint answered.
struct Tokens {
    id_token: String,
    access_token: Option<String>,
}

/// Redeems the authorization code; answers the `id_token` and `access_token`.
fn exchange_code(
    settings: &Settings,
    provider: &Provider,
    auth_code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Tokens, Failure> {
    let method = auth_method(settings, provider)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", auth_code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let secret = settings.client_secret.as_deref().unwrap_or_default();
    let mut headers = vec![
        (
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept", "application/json".to_string()),
    ];
    match method {
        AuthMethod::ClientSecretBasic => {
            // RFC 6749 §2.3.1: both parts form-encoded before Base64.
            let pair = format!("{}:{}", pct_encode(&settings.client_id), pct_encode(secret));
            headers.push((
                "authorization",
                format!("Basic {}", b64std(pair.as_bytes())),
            ));
        }
        AuthMethod::ClientSecretPost => {
            form.push(("client_id", settings.client_id.as_str()));
            form.push(("client_secret", secret));
        }
        AuthMethod::None => form.push(("client_id", settings.client_id.as_str())),
    }
    let url = &provider.token_endpoint;
    let header_refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = net::send(
        "POST",
        url,
        &header_refs,
        form_encode(&form).into_bytes(),
        "token endpoint",
    )?;
    if response.status >= 500 {
        return Err(Failure::new(
            code::UPSTREAM_UNAVAILABLE,
            format!("token endpoint ({url}) answered HTTP {}", response.status),
        ));
    }
    let oauth_error = net::parse_object(&response.body)
        .and_then(|b| b.get("error")?.as_str().map(str::to_string));
    if response.status == 401 || oauth_error.as_deref() == Some("invalid_client") {
        return Err(Failure::new(
            code::CLIENT_AUTH_REFUSED,
            format!(
                "token endpoint ({url}) refused the client's credentials ({}, sent as `{}`): {} \
                 (check `client_id`, `client_secret` and the method the client is registered for; \
                 setting `token_endpoint_auth_method`)",
                response.status,
                method.name(),
                net::describe_error_body(&response.body)
            ),
        ));
    }
    if !net::is_success(response.status) {
        return Err(Failure::new(
            code::TOKEN_EXCHANGE_FAILED,
            format!(
                "token endpoint ({url}) answered HTTP {}: {}",
                response.status,
                net::describe_error_body(&response.body)
            ),
        ));
    }
    let body = net::parse_object(&response.body).unwrap_or_default();
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let access_token = text("access_token");
    text("id_token")
        .map(|id_token| Tokens {
            id_token,
            access_token,
        })
        .ok_or_else(|| {
            Failure::new(
                code::TOKEN_EXCHANGE_FAILED,
                format!(
                    "token endpoint ({url}) answered no `id_token` (is `openid` among the scopes?)"
                ),
            )
        })
}

/// Verifies the signature with a key from the JWKS, fetching the JWKS again once when the
/// cached set has no fitting key (the provider may have rotated its keys).
fn verify_signature(provider: &Provider, jws: &Jws) -> Result<(), Failure> {
    let (mut keys, fresh) = provider::signing_keys(provider, false)?;
    if !fresh && !keys.iter().any(|k| jws.may_be_signed_by(k)) {
        keys = provider::signing_keys(provider, true)?.0;
    }
    let candidates: Vec<_> = keys.iter().filter(|k| jws.may_be_signed_by(k)).collect();
    if candidates.is_empty() {
        return Err(Failure::new(
            code::INVALID_ID_TOKEN,
            format!(
                "ID token: no {} key{} in the provider's JWKS",
                jws.alg.name(),
                match &jws.kid {
                    Some(kid) => format!(" with kid `{}`", clip(kid, 100)),
                    None => String::new(),
                }
            ),
        ));
    }
    let mut last = String::new();
    for key in candidates {
        match jws.verify(key) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(Failure::new(
        code::INVALID_ID_TOKEN,
        format!("ID token: {last}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(methods: Option<&[&str]>) -> Provider {
        Provider {
            issuer: "https://idp".into(),
            authorization_endpoint: "https://idp/authorize".into(),
            token_endpoint: "https://idp/token".into(),
            jwks_uri: "https://idp/jwks".into(),
            userinfo_endpoint: None,
            end_session_endpoint: None,
            auth_methods_listed: methods.is_some(),
            auth_methods: methods
                .unwrap_or(&["client_secret_basic"])
                .iter()
                .map(|m| m.to_string())
                .collect(),
        }
    }

    fn settings(secret: Option<&str>, method: Option<AuthMethod>) -> Settings {
        Settings {
            issuer: "https://idp".into(),
            client_id: "app".into(),
            client_secret: secret.map(str::to_string),
            scopes: "openid".into(),
            auth_method: method,
            trust_email_without_verified_claim: false,
            prompt: crate::settings::Prompt::Login,
            prompt_always: false,
            sign_out_at_provider: false,
        }
    }

    #[test]
    fn client_authentication_follows_discovery() {
        let all = provider(Some(&["client_secret_post", "client_secret_basic", "none"]));
        let pick = |s: &Settings, p: &Provider| auth_method(s, p).map_err(|f| f.code);
        assert_eq!(
            pick(&settings(Some("s"), None), &all),
            Ok(AuthMethod::ClientSecretBasic)
        );
        assert_eq!(
            pick(
                &settings(Some("s"), None),
                &provider(Some(&["client_secret_post"]))
            ),
            Ok(AuthMethod::ClientSecretPost)
        );
        // Discovery's default is client_secret_basic alone.
        assert_eq!(
            pick(&settings(Some("s"), None), &provider(None)),
            Ok(AuthMethod::ClientSecretBasic)
        );
        assert_eq!(pick(&settings(None, None), &all), Ok(AuthMethod::None));
        assert_eq!(
            pick(&settings(None, None), &provider(None)),
            Ok(AuthMethod::None)
        );
        assert_eq!(
            pick(
                &settings(Some("s"), Some(AuthMethod::ClientSecretPost)),
                &all
            ),
            Ok(AuthMethod::ClientSecretPost)
        );
        for (s, p) in [
            (
                settings(None, None),
                provider(Some(&["client_secret_basic"])),
            ),
            (
                settings(Some("s"), None),
                provider(Some(&["private_key_jwt"])),
            ),
            (
                settings(Some("s"), Some(AuthMethod::ClientSecretPost)),
                provider(Some(&["client_secret_basic"])),
            ),
        ] {
            assert_eq!(pick(&s, &p), Err(code::MISCONFIGURED));
        }
    }
}
