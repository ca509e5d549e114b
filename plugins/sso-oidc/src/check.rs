//! `check-configuration`: what a sign-in would need, tried before anyone signs in. Each step
//! contacts the provider the way a sign-in would (through the host's allowlist) and reports
//! one named check with, when it fails, the fix. Nothing here signs anyone in; the token
//! endpoint is sent a code that cannot exist, only to see whether it accepts the client's
//! credentials.

use serde_json::Value;

use crate::exports::tenantry::plugin::sso_extras::Check;
use crate::flow::auth_method;
use crate::net;
use crate::provider::{self, Provider};
use crate::settings::{AuthMethod, Settings};
use crate::tenantry::plugin::host::{self, HttpError, HttpRequest, HttpResponse};
use crate::util::{b64std, clip, form_encode, pct_encode};

fn pass(name: &str, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_string(),
        ok: true,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.to_string(),
        ok: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// Why a request got no answer: (detail, fix).
fn unreachable(what: &str, url: &str, e: HttpError) -> (String, String) {
    match e {
        HttpError::ForbiddenHost(h) => (
            format!("{what} ({url}): host {h} is not in allowed_hosts"),
            format!(
                "add `{h}` to this plugin's allowed_hosts (`[plugins.NAME] allowed_hosts` in the \
                 server configuration; with the port, as written here), then restart"
            ),
        ),
        HttpError::InvalidRequest(m) => (
            format!("{what} ({url}): the request could not be built: {m}"),
            "correct the URL (setting `issuer`, or the provider's discovery document)".into(),
        ),
        HttpError::Timeout => (
            format!("{what} ({url}): no answer within the plugin's HTTP timeout"),
            "check that the provider is reachable from this server (firewall, proxy, DNS), or \
             raise `http_timeout_ms`"
                .into(),
        ),
        HttpError::TooLarge => (
            format!("{what} ({url}): the answer is larger than the plugin's response cap"),
            "raise `max_response_kib` of this plugin".into(),
        ),
        HttpError::Transport(m) => (
            format!("{what} ({url}): {m}"),
            "check that the provider is reachable from this server (address, port, TLS \
             certificate and the server's trusted CAs)"
                .into(),
        ),
    }
}

fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<HttpResponse, HttpError> {
    host::http_send(&HttpRequest {
        method: method.to_string(),
        url: url.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body,
    })
}

/// Runs every check; stops where a later check cannot be tried.
pub(crate) fn run() -> Vec<Check> {
    let mut out = Vec::new();
    let settings = match Settings::load() {
        Ok(s) => {
            out.push(pass(
                "settings",
                format!(
                    "issuer {}, client {}, {}",
                    s.issuer,
                    s.client_id,
                    if s.client_secret.is_some() {
                        "with a client secret"
                    } else {
                        "a public client (no client secret: PKCE alone)"
                    }
                ),
            ));
            s
        }
        Err(f) => {
            out.push(fail(
                "settings",
                f.message,
                "correct the setting in `[plugins.NAME.settings]` of the server configuration, then restart",
            ));
            return out;
        }
    };
    let Some(provider) = discovery(&settings, &mut out) else {
        return out;
    };
    provider::remember(&settings, &provider, host::now_unix_ms());
    jwks(&provider, &mut out);
    let method = match auth_method(&settings, &provider) {
        Ok(m) => {
            out.push(pass(
                "token_endpoint_auth",
                format!(
                    "the client authenticates with {} (the provider lists: {})",
                    m.name(),
                    provider.auth_methods.join(", ")
                ),
            ));
            Some(m)
        }
        Err(f) => {
            out.push(fail(
                "token_endpoint_auth",
                f.message,
                "set `token_endpoint_auth_method` (and `client_secret`) to a method the provider \
                 lists and the client is registered for",
            ));
            None
        }
    };
    if let Some(m) = method {
        token_endpoint(&settings, &provider, m, &mut out);
    }
    if let Some(endpoint) = &provider.userinfo_endpoint {
        match send(
            "GET",
            endpoint,
            &[("accept", "application/json")],
            Vec::new(),
        ) {
            Ok(r) => out.push(pass(
                "userinfo",
                format!(
                    "UserInfo endpoint {endpoint} is reachable (HTTP {} without a token)",
                    r.status
                ),
            )),
            Err(e) => {
                let (detail, fix) = unreachable("UserInfo endpoint", endpoint, e);
                out.push(fail("userinfo", detail, fix));
            }
        }
    }
    if settings.sign_out_at_provider {
        match &provider.end_session_endpoint {
            Some(endpoint) => out.push(pass(
                "end_session",
                format!(
                    "signing out also ends the provider's session at {endpoint} (register the \
                     tenantry sign-in page as a post-logout redirect URI)"
                ),
            )),
            None => out.push(fail(
                "end_session",
                "`sign_out_at_provider` is on but the provider's discovery document has no \
                 `end_session_endpoint`",
                "set `sign_out_at_provider = \"false\"`, or enable RP-initiated logout at the provider",
            )),
        }
    }
    out
}

/// The discovery document: reachable, a JSON object, `issuer` equal to the setting, the
/// endpoints present.
fn discovery(settings: &Settings, out: &mut Vec<Check>) -> Option<Provider> {
    let url = settings.discovery_url();
    let response = match send("GET", &url, &[("accept", "application/json")], Vec::new()) {
        Ok(r) => r,
        Err(e) => {
            let (detail, fix) = unreachable("discovery document", &url, e);
            out.push(fail("discovery", detail, fix));
            return None;
        }
    };
    if !net::is_success(response.status) {
        out.push(fail(
            "discovery",
            format!(
                "discovery document ({url}) answered HTTP {}{}",
                response.status,
                if (300..400).contains(&response.status) {
                    " (a redirect: redirects are not followed)"
                } else {
                    ""
                }
            ),
            format!(
                "check the `issuer` setting: {url} must answer the provider's discovery document"
            ),
        ));
        return None;
    }
    let Some(doc) = net::parse_object(&response.body) else {
        out.push(fail(
            "discovery",
            format!("discovery document ({url}) is not a JSON object"),
            "check the `issuer` setting: it must be the provider's issuer URL",
        ));
        return None;
    };
    out.push(pass(
        "discovery",
        format!("discovery document fetched from {url}"),
    ));
    let named = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if named.trim_end_matches('/') != settings.issuer.trim_end_matches('/') {
        out.push(fail(
            "issuer",
            format!(
                "the provider names itself `{}`, but the `issuer` setting is `{}`",
                clip(named, 200),
                settings.issuer
            ),
            format!("set `issuer = \"{}\"`", clip(named, 200)),
        ));
        return None;
    }
    out.push(pass("issuer", format!("the provider's issuer is {named}")));
    match provider::parse_discovery(&settings.issuer, &doc) {
        Ok(p) => Some(p),
        Err(m) => {
            out.push(fail(
                "endpoints",
                format!("discovery document ({url}): {m}"),
                "the provider's discovery document is incomplete; check the provider's configuration",
            ));
            None
        }
    }
}

/// The JWKS: fetchable, with at least one RS256 or ES256 key.
fn jwks(provider: &Provider, out: &mut Vec<Check>) {
    let url = &provider.jwks_uri;
    match send("GET", url, &[("accept", "application/json")], Vec::new()) {
        Err(e) => {
            let (detail, fix) = unreachable("JWKS", url, e);
            out.push(fail("jwks", detail, fix));
        }
        Ok(r) if !net::is_success(r.status) => out.push(fail(
            "jwks",
            format!("JWKS ({url}) answered HTTP {}", r.status),
            "check the provider's `jwks_uri`",
        )),
        Ok(r) => match net::parse_object(&r.body).map(|doc| crate::jwt::parse_jwks(&doc)) {
            Some(Ok(keys)) if !keys.is_empty() => out.push(pass(
                "jwks",
                format!(
                    "JWKS fetched from {url}: {} usable signing key(s)",
                    keys.len()
                ),
            )),
            Some(Ok(_)) => out.push(fail(
                "jwks",
                format!("JWKS ({url}) has no RS256 or ES256 signing key"),
                "let the provider sign ID tokens with RS256 or ES256",
            )),
            Some(Err(m)) => out.push(fail(
                "jwks",
                format!("JWKS ({url}): {m}"),
                "let the provider sign ID tokens with RS256 or ES256",
            )),
            None => out.push(fail(
                "jwks",
                format!("JWKS ({url}) is not a JSON object"),
                "check the provider's `jwks_uri`",
            )),
        },
    }
}

/// The token endpoint: reachable, and accepting the client's credentials. It is sent a code
/// that cannot exist: `invalid_client` (or HTTP 401) means the credentials were refused;
/// another 4xx (`invalid_grant`, …) means they were accepted and only the code refused.
fn token_endpoint(
    settings: &Settings,
    provider: &Provider,
    method: AuthMethod,
    out: &mut Vec<Check>,
) {
    let url = &provider.token_endpoint;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", "tenantry-configuration-test"),
        (
            "code_verifier",
            "tenantry-configuration-test-verifier-0123456789abcdef",
        ),
    ];
    let secret = settings.client_secret.as_deref().unwrap_or_default();
    let basic;
    let mut headers = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
    ];
    match method {
        AuthMethod::ClientSecretBasic => {
            let pair = format!("{}:{}", pct_encode(&settings.client_id), pct_encode(secret));
            basic = format!("Basic {}", b64std(pair.as_bytes()));
            headers.push(("authorization", basic.as_str()));
        }
        AuthMethod::ClientSecretPost => {
            form.push(("client_id", settings.client_id.as_str()));
            form.push(("client_secret", secret));
        }
        AuthMethod::None => form.push(("client_id", settings.client_id.as_str())),
    }
    let response = match send("POST", url, &headers, form_encode(&form).into_bytes()) {
        Ok(r) => r,
        Err(e) => {
            let (detail, fix) = unreachable("token endpoint", url, e);
            out.push(fail("token_endpoint", detail, fix));
            return;
        }
    };
    let error = net::parse_object(&response.body)
        .and_then(|b| b.get("error")?.as_str().map(str::to_string));
    if response.status == 401 || error.as_deref() == Some("invalid_client") {
        out.push(fail(
            "token_endpoint",
            format!(
                "token endpoint ({url}) refused the client's credentials (HTTP {}, sent as {}): {}",
                response.status,
                method.name(),
                net::describe_error_body(&response.body)
            ),
            "check `client_id` and `client_secret`, and that the client is registered for \
             this authentication method (setting `token_endpoint_auth_method`)",
        ));
    } else if (400..500).contains(&response.status) {
        out.push(pass(
            "token_endpoint",
            format!(
                "token endpoint ({url}) accepted the client's credentials ({}); it refused the \
                 test's made-up code, as it should ({})",
                method.name(),
                net::describe_error_body(&response.body)
            ),
        ));
    } else {
        out.push(fail(
            "token_endpoint",
            format!(
                "token endpoint ({url}) answered HTTP {} to a made-up code: {}",
                response.status,
                net::describe_error_body(&response.body)
            ),
            "check the provider's token endpoint and its logs",
        ));
    }
}
