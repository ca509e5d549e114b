//! `check-configuration`: what a sign-in would need, tried before anyone signs in. Each step
//! contacts the provider the way a sign-in would (through the host's allowlist) and reports
//! one named check with, when it fails, the fix. Nothing here signs anyone in; the token
//! endpoint is sent a code that cannot exist, only to see whether it accepts the client's
//! credentials.

use tenantry_plugin::http::{self, HttpError, Response};
use tenantry_plugin::sso::Check;
use tenantry_plugin::text::excerpt;

use crate::flow::{auth_method, describe_error_body, json_object, token_request};
use crate::provider::{self, AuthMethod, Provider, Settings};

fn pass(name: &str, detail: impl Into<String>) -> Check {
    let (name, detail) = (name.into(), detail.into());
    Check {
        name,
        ok: true,
        detail,
        fix: None,
    }
}

fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    let fix = Some(fix.into());
    Check {
        ok: false,
        fix,
        ..pass(name, detail)
    }
}

/// Sends `request`; no answer becomes the failed check `name`, with the fix.
fn send(name: &str, what: &str, request: http::Request, out: &mut Vec<Check>) -> Option<Response> {
    let at = format!("{what} ({})", request.url);
    request
        .send()
        .map_err(|e| out.push(http_failure(name, &at, e)))
        .ok()
}

/// The failed check for a request to `at` that got no answer, with the fix.
fn http_failure(name: &str, at: &str, error: HttpError) -> Check {
    let reachable = "check that the provider is reachable from this server";
    match error {
        HttpError::ForbiddenHost(h) => fail(
            name,
            format!("{at}: host {h} is not in allowed_hosts"),
            format!("add `{h}` to this plugin's allowed_hosts (`[plugins.NAME] allowed_hosts` in the server configuration; with the port, as written here), then restart"),
        ),
        HttpError::InvalidRequest(m) => fail(name, format!("{at}: the request could not be built: {m}"), "correct the URL (setting `issuer`, or the provider's discovery document)"),
        HttpError::Timeout => fail(name, format!("{at}: no answer within the plugin's HTTP timeout"), format!("{reachable} (firewall, proxy, DNS), or raise `http_timeout_ms`")),
        HttpError::TooLarge => fail(name, format!("{at}: the answer is larger than the plugin's response cap"), "raise `max_response_kib` of this plugin"),
        HttpError::Transport(m) => fail(name, format!("{at}: {m}"), format!("{reachable} (address, port, TLS certificate and the server's trusted CAs)")),
    }
}

fn get(url: &str) -> http::Request {
    http::Request::get(url).header("accept", "application/json")
}

/// Runs every check; stops where a later check cannot be tried.
pub(crate) fn run() -> Vec<Check> {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => return vec![fail("settings", e.message, "correct the setting in `[plugins.NAME.settings]` of the server configuration, then restart")],
    };
    let client = match settings.client_secret {
        Some(_) => "with a client secret",
        None => "a public client (no client secret: PKCE alone)",
    };
    let (issuer, id) = (&settings.issuer, &settings.client_id);
    let mut out = vec![pass(
        "settings",
        format!("issuer {issuer}, client {id}, {client}"),
    )];
    let Some(provider) = discovery(&settings, &mut out) else {
        return out;
    };
    provider::remember(&settings, &provider);
    jwks(&provider, &mut out);
    match auth_method(&settings, &provider) {
        Ok(m) => {
            let listed = provider.auth_methods().join(", ");
            out.push(pass("token_endpoint_auth", format!("the client authenticates with {} (the provider lists: {listed})", m.name())));
            token_endpoint(&settings, &provider, m, &mut out);
        }
        Err(e) => out.push(fail("token_endpoint_auth", e.message, "set `token_endpoint_auth_method` (and `client_secret`) to a method the provider lists and the client is registered for")),
    }
    if let Some(endpoint) = &provider.userinfo_endpoint {
        if let Some(r) = send("userinfo", "UserInfo endpoint", get(endpoint), &mut out) {
            let status = r.status;
            out.push(pass(
                "userinfo",
                format!(
                    "UserInfo endpoint {endpoint} is reachable (HTTP {status} without a token)"
                ),
            ));
        }
    }
    if settings.sign_out_at_provider {
        out.push(match &provider.end_session_endpoint {
            Some(e) => pass("end_session", format!("signing out also ends the provider's session at {e} (register the tenantry sign-in page as a post-logout redirect URI)")),
            None => fail("end_session", "`sign_out_at_provider` is on but the provider's discovery document has no `end_session_endpoint`", "set `sign_out_at_provider = \"false\"`, or enable RP-initiated logout at the provider"),
        });
    }
    out
}

/// The discovery document: reachable, a JSON object, `issuer` equal to the setting, the
/// endpoints present.
fn discovery(settings: &Settings, out: &mut Vec<Check>) -> Option<Provider> {
    let url = settings.discovery_url();
    let r = send("discovery", "discovery document", get(&url), out)?;
    let doc = json_object(&r.body).filter(|_| r.is_success());
    let Some(doc) = doc else {
        let why = match r.is_success() {
            true => "is not a JSON object".to_string(),
            false if (300..400).contains(&r.status) => format!(
                "answered HTTP {} (a redirect: redirects are not followed)",
                r.status
            ),
            false => format!("answered HTTP {}", r.status),
        };
        let fix = format!(
            "check the `issuer` setting: {url} must answer the provider's discovery document"
        );
        out.push(fail(
            "discovery",
            format!("discovery document ({url}) {why}"),
            fix,
        ));
        return None;
    };
    out.push(pass(
        "discovery",
        format!("discovery document fetched from {url}"),
    ));
    let named = doc.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
    let named = excerpt(named, 200);
    if named.trim_end_matches('/') != settings.issuer.trim_end_matches('/') {
        let detail = format!(
            "the provider names itself `{named}`, but the `issuer` setting is `{}`",
            settings.issuer
        );
        out.push(fail(
            "issuer",
            detail,
            format!("set `issuer = \"{named}\"`"),
        ));
        return None;
    }
    out.push(pass("issuer", format!("the provider's issuer is {named}")));
    let fix = "the provider's discovery document is incomplete; check the provider's configuration";
    provider::parse_discovery(&settings.issuer, &r.body)
        .map_err(|m| {
            out.push(fail(
                "endpoints",
                format!("discovery document ({url}): {m}"),
                fix,
            ))
        })
        .ok()
}

/// The JWKS: fetchable, with at least one RS256 or ES256 key.
fn jwks(provider: &Provider, out: &mut Vec<Check>) {
    let url = &provider.jwks_uri;
    let Some(r) = send("jwks", "JWKS", get(url), out) else {
        return;
    };
    let let_sign = "let the provider sign ID tokens with RS256 or ES256";
    let check_uri = "check the provider's `jwks_uri`";
    out.push(match provider::usable_keys(&r.body) {
        _ if !r.is_success() => fail(
            "jwks",
            format!("JWKS ({url}) answered HTTP {}", r.status),
            check_uri,
        ),
        Ok(keys) if !keys.is_empty() => pass(
            "jwks",
            format!(
                "JWKS fetched from {url}: {} usable signing key(s)",
                keys.len()
            ),
        ),
        Ok(_) => fail(
            "jwks",
            format!("JWKS ({url}) has no RS256 or ES256 signing key"),
            let_sign,
        ),
        Err(m) if m.contains("JSON") => fail("jwks", format!("JWKS ({url}): {m}"), check_uri),
        Err(m) => fail("jwks", format!("JWKS ({url}): {m}"), let_sign),
    });
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
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "tenantry-configuration-test"),
        (
            "code_verifier",
            "tenantry-configuration-test-verifier-0123456789abcdef",
        ),
    ];
    let request = token_request(settings, url, method, &form);
    let Some(r) = send("token_endpoint", "token endpoint", request, out) else {
        return;
    };
    let (status, why, method) = (r.status, describe_error_body(&r.body), method.name());
    let error = json_object(&r.body).and_then(|b| b.get("error").cloned());
    out.push(if status == 401 || error.is_some_and(|e| e == "invalid_client") {
        fail("token_endpoint", format!("token endpoint ({url}) refused the client's credentials (HTTP {status}, sent as {method}): {why}"),
            "check `client_id` and `client_secret`, and that the client is registered for this authentication method (setting `token_endpoint_auth_method`)")
    } else if (400..500).contains(&status) {
        pass("token_endpoint", format!("token endpoint ({url}) accepted the client's credentials ({method}); it refused the test's made-up code, as it should ({why})"))
    } else {
        fail("token_endpoint", format!("token endpoint ({url}) answered HTTP {status} to a made-up code: {why}"), "check the provider's token endpoint and its logs")
    });
}
