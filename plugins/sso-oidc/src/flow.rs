//! The two hooks: build the authorization redirect, and finish the callback.

use serde_json::{json, Value};

use crate::exports::tenantry::plugin::sso_hooks::{
    FinishRequest, Identity, StartRequest, StartResponse,
};
use crate::jwt::{self, Expected, Jws};
use crate::provider::{self, Provider};
use crate::settings::Settings;
use crate::tenantry::plugin::host;
use crate::util::{
    append_query, b64url, clip, ct_eq, form_encode, is_pkce_verifier, pkce_challenge,
};
use crate::{code, net, Failure};

/// Bytes of randomness in a PKCE verifier (43 base64url characters).
const VERIFIER_BYTES: u32 = 32;

/// `start`: discovery, a fresh PKCE verifier, and the authorization URL.
pub(crate) fn start(request: &StartRequest) -> Result<StartResponse, Failure> {
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
    Ok(StartResponse {
        redirect_url: append_query(&provider.authorization_endpoint, &form_encode(&params)),
        flow_data: json!({ "v": 1, "code_verifier": verifier }).to_string(),
    })
}

/// `finish`: callback checks, code exchange, ID token verification, identity.
pub(crate) fn finish(request: &FinishRequest) -> Result<Identity, Failure> {
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

    let id_token = exchange_code(
        &settings,
        &provider,
        auth_code,
        &request.redirect_uri,
        &verifier,
    )?;
    let invalid = |m: String| Failure::new(code::INVALID_ID_TOKEN, format!("ID token: {m}"));
    let jws = jwt::parse(&id_token).map_err(invalid)?;
    verify_signature(&provider, &jws)?;
    let expected = Expected {
        issuer: &provider.issuer,
        client_id: &settings.client_id,
        nonce: &request.nonce,
        now_s: host::now_unix_ms().div_euclid(1000),
    };
    jwt::check_claims(&jws.claims, &expected).map_err(invalid)?;

    let claims = jwt::identity_claims(&jws.claims);
    let email = claims.email.ok_or_else(|| {
        Failure::new(
            code::MISSING_EMAIL,
            "ID token has no `email` claim (does the client ask for the `email` scope?)",
        )
    })?;
    Ok(Identity {
        subject: claims.subject,
        email,
        email_verified: claims.email_verified,
        name: claims.name,
        groups: claims.groups,
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

/// Redeems the authorization code; answers the `id_token`.
fn exchange_code(
    settings: &Settings,
    provider: &Provider,
    auth_code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<String, Failure> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", auth_code),
        ("redirect_uri", redirect_uri),
        ("client_id", settings.client_id.as_str()),
        ("code_verifier", verifier),
    ];
    if let Some(secret) = &settings.client_secret {
        form.push(("client_secret", secret.as_str()));
    }
    let url = &provider.token_endpoint;
    let response = net::send(
        "POST",
        url,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ],
        form_encode(&form).into_bytes(),
        "token endpoint",
    )?;
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
    net::parse_object(&response.body)
        .and_then(|body| body.get("id_token")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
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
