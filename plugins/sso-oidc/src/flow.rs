//! The hooks: the authorization redirect, the callback, and the end-session URL.

use serde_json::{json, Map, Value};
use tenantry_plugin::http::is_http_url;
use tenantry_plugin::oauth2::{self, AuthMethod, Client, Pkce};
use tenantry_plugin::oidc::{self, Expected, Provider};
use tenantry_plugin::prelude::*;
use tenantry_plugin::sso::{FinishRequest, Identity, Session, StartRequest, StartResponse};
use tenantry_plugin::text::excerpt;

use crate::provider::Settings;

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
    let provider = Provider::discover(&settings.issuer)?;
    let pkce = Pkce::new()?;
    let hint = request.login_hint.as_deref().map(str::trim);
    let mut params = vec![
        ("client_id", settings.client_id.as_str()),
        ("redirect_uri", &request.redirect_uri),
        ("scope", &settings.scopes),
        ("state", &request.state),
        ("nonce", &request.nonce),
    ];
    params.extend(pkce.params());
    params.extend(hint.filter(|h| !h.is_empty()).map(|h| ("login_hint", h)));
    params.extend(settings.prompt(reselect).map(|p| ("prompt", p)));
    Ok(StartResponse {
        redirect_url: oauth2::authorization_url(&provider.authorization_endpoint, &params),
        flow_data: json!({ "v": 1, "code_verifier": pkce.verifier }).to_string(),
    })
}

/// The PKCE verifier `start` kept in the flow data.
fn code_verifier(flow_data: &str) -> Option<String> {
    let data: Value = serde_json::from_str(flow_data).ok()?;
    let verifier = data.get("code_verifier")?.as_str()?;
    Pkce::is_valid_verifier(verifier).then(|| verifier.to_string())
}

/// `finish`: callback checks, code exchange, ID token verification, identity; with it, what
/// a later sign-out at the provider needs (when `sign_out_at_provider` is on and the
/// provider has an `end_session_endpoint`).
pub(crate) fn finish(request: &FinishRequest) -> Result<Session> {
    let code = oauth2::callback_code(&request.params, &request.state)?;
    let verifier = code_verifier(&request.flow_data).ok_or_else(|| {
        Error::invalid_request(
            "flow-data holds no PKCE verifier (was the flow started by this plugin?)",
        )
    })?;
    let settings = Settings::load()?;
    let provider = Provider::discover(&settings.issuer)?;
    // RFC 9207: a provider that names itself in the callback must be ours (mix-up defence).
    let iss = oauth2::callback_param(&request.params, "iss")?;
    if let Some(iss) = iss.filter(|iss| *iss != provider.issuer) {
        let message = format!(
            "callback `iss` is `{}`, expected `{}`",
            excerpt(iss, 200),
            provider.issuer
        );
        return Err(Error::new("invalid_callback", message));
    }
    let url = &provider.token_endpoint;
    let client = client(&settings, &provider)?;
    let tokens = client.exchange_code(url, code, &request.redirect_uri, Some(&verifier))?;
    let id_token = tokens.id_token().ok_or_else(|| {
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
    let claims = oidc::verify_id_token(id_token, &provider, &expected)?;
    let identity = identity(&settings, &provider, &claims, tokens.access_token())?;
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
            let message = format!("ID token has no `email` claim and {why}");
            Error::new("missing_email", message)
        };
        let endpoint = provider.userinfo_endpoint.as_deref();
        let endpoint =
            endpoint.ok_or_else(|| missing("the provider has no `userinfo_endpoint`"))?;
        let token = access_token
            .ok_or_else(|| missing("the token endpoint answered no `access_token` for UserInfo"))?;
        let info = oidc::userinfo(endpoint, token, &identity.subject)?;
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

/// The token endpoint authentication method: the `token_endpoint_auth_method` setting, or
/// one the provider lists in `token_endpoint_auth_methods_supported`.
pub(crate) fn auth_method(settings: &Settings, provider: &Provider) -> Result<AuthMethod> {
    let supported = provider.token_endpoint_auth_methods_supported.as_deref();
    AuthMethod::choose(
        settings.auth_method,
        settings.client_secret.is_some(),
        supported,
    )
}

/// The OAuth client of the settings, authenticating as [`auth_method`] says.
pub(crate) fn client(settings: &Settings, provider: &Provider) -> Result<Client> {
    let mut client = Client::new(&settings.client_id, settings.client_secret.as_deref());
    client.auth_method = auth_method(settings, provider)?;
    Ok(client)
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
    if !is_http_url(endpoint) {
        return Err(Error::invalid_request(
            "sign-out-data names no http(s) end_session_endpoint",
        ));
    }
    let params = [
        ("id_token_hint", id_token),
        ("post_logout_redirect_uri", post_logout_redirect_uri),
        ("client_id", &settings.client_id),
    ];
    Ok(Some(oauth2::with_query(endpoint, &params)))
}
