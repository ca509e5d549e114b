//! `check-configuration`: what a sign-in would need, tried before anyone signs in. Each step
//! contacts the provider the way a sign-in would (through the host's allowlist) and reports
//! one named check with, when it fails, the fix. Nothing here signs anyone in; the token
//! endpoint is sent a code that cannot exist, only to see whether it accepts the client's
//! credentials.

use tenantry_plugin::checks::{Check, Checks};
use tenantry_plugin::oauth2::{describe_error, json_object, refuses_client, Client};
use tenantry_plugin::oidc::{usable_keys, Provider};
use tenantry_plugin::text::excerpt;

use crate::flow::client;
use crate::provider::Settings;

/// Runs every check; stops where a later check cannot be tried.
pub(crate) fn run() -> Vec<Check> {
    let mut checks = Checks::new("the provider");
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            checks.fail("settings", e.message, "correct the setting in `[plugins.NAME.settings]` of the server configuration, then restart");
            return checks.into_vec();
        }
    };
    let client_kind = match settings.client_secret {
        Some(_) => "with a client secret",
        None => "a public client (no client secret: PKCE alone)",
    };
    let (issuer, id) = (&settings.issuer, &settings.client_id);
    checks.pass(
        "settings",
        format!("issuer {issuer}, client {id}, {client_kind}"),
    );
    let Some(provider) = discovery(&settings, &mut checks) else {
        return checks.into_vec();
    };
    provider.remember(&settings.issuer);
    jwks(&provider, &mut checks);
    match client(&settings, &provider) {
        Ok(client) => {
            let listed = provider.auth_methods().join(", ");
            let method = client.auth_method.name();
            checks.pass("token_endpoint_auth", format!("the client authenticates with {method} (the provider lists: {listed})"));
            token_endpoint(&client, &provider, &mut checks);
        }
        Err(e) => checks.fail("token_endpoint_auth", e.message, "set `token_endpoint_auth_method` (and `client_secret`) to a method the provider lists and the client is registered for"),
    }
    if let Some(endpoint) = &provider.userinfo_endpoint {
        if let Some(r) = checks.get("userinfo", "UserInfo endpoint", endpoint) {
            let status = r.status;
            checks.pass(
                "userinfo",
                format!(
                    "UserInfo endpoint {endpoint} is reachable (HTTP {status} without a token)"
                ),
            );
        }
    }
    if settings.sign_out_at_provider {
        match &provider.end_session_endpoint {
            Some(e) => checks.pass("end_session", format!("signing out also ends the provider's session at {e} (register the tenantry sign-in page as a post-logout redirect URI)")),
            None => checks.fail("end_session", "`sign_out_at_provider` is on but the provider's discovery document has no `end_session_endpoint`", "set `sign_out_at_provider = \"false\"`, or enable RP-initiated logout at the provider"),
        }
    }
    checks.into_vec()
}

/// The discovery document: reachable, a JSON object, `issuer` equal to the setting, the
/// endpoints present.
fn discovery(settings: &Settings, checks: &mut Checks) -> Option<Provider> {
    let url = settings.discovery_url();
    let r = checks.get("discovery", "discovery document", &url)?;
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
        checks.fail(
            "discovery",
            format!("discovery document ({url}) {why}"),
            fix,
        );
        return None;
    };
    checks.pass(
        "discovery",
        format!("discovery document fetched from {url}"),
    );
    let named = doc.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
    let named = excerpt(named, 200);
    if named.trim_end_matches('/') != settings.issuer.trim_end_matches('/') {
        let detail = format!(
            "the provider names itself `{named}`, but the `issuer` setting is `{}`",
            settings.issuer
        );
        checks.fail("issuer", detail, format!("set `issuer = \"{named}\"`"));
        return None;
    }
    checks.pass("issuer", format!("the provider's issuer is {named}"));
    let fix = "the provider's discovery document is incomplete; check the provider's configuration";
    let parsed = Provider::parse(&settings.issuer, &r.body);
    let failed =
        |m: String| checks.fail("endpoints", format!("discovery document ({url}): {m}"), fix);
    parsed.map_err(failed).ok()
}

/// The JWKS: fetchable, with at least one RS256 or ES256 key.
fn jwks(provider: &Provider, checks: &mut Checks) {
    let url = &provider.jwks_uri;
    let Some(r) = checks.get("jwks", "JWKS", url) else {
        return;
    };
    let let_sign = "let the provider sign ID tokens with RS256 or ES256";
    let check_uri = "check the provider's `jwks_uri`";
    match usable_keys(&r.body) {
        _ if !r.is_success() => checks.fail(
            "jwks",
            format!("JWKS ({url}) answered HTTP {}", r.status),
            check_uri,
        ),
        Ok(keys) if !keys.is_empty() => checks.pass(
            "jwks",
            format!(
                "JWKS fetched from {url}: {} usable signing key(s)",
                keys.len()
            ),
        ),
        Ok(_) => checks.fail(
            "jwks",
            format!("JWKS ({url}) has no RS256 or ES256 signing key"),
            let_sign,
        ),
        Err(m) if m.contains("JSON") => {
            checks.fail("jwks", format!("JWKS ({url}): {m}"), check_uri)
        }
        Err(m) => checks.fail("jwks", format!("JWKS ({url}): {m}"), let_sign),
    }
}

/// The token endpoint: reachable, and accepting the client's credentials. It is sent a code
/// that cannot exist: `invalid_client` (or HTTP 401) means the credentials were refused;
/// another 4xx (`invalid_grant`, …) means they were accepted and only the code refused.
fn token_endpoint(client: &Client, provider: &Provider, checks: &mut Checks) {
    let url = &provider.token_endpoint;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "tenantry-configuration-test"),
        (
            "code_verifier",
            "tenantry-configuration-test-verifier-0123456789abcdef",
        ),
    ];
    let request = client.token_request(url, &form);
    let Some(r) = checks.send("token_endpoint", "token endpoint", request) else {
        return;
    };
    let (status, why) = (r.status, describe_error(&r.body));
    let method = client.auth_method.name();
    if refuses_client(&r) {
        checks.fail("token_endpoint", format!("token endpoint ({url}) refused the client's credentials (HTTP {status}, sent as {method}): {why}"),
            "check `client_id` and `client_secret`, and that the client is registered for this authentication method (setting `token_endpoint_auth_method`)");
    } else if (400..500).contains(&status) {
        checks.pass("token_endpoint", format!("token endpoint ({url}) accepted the client's credentials ({method}); it refused the test's made-up code, as it should ({why})"));
    } else {
        checks.fail(
            "token_endpoint",
            format!("token endpoint ({url}) answered HTTP {status} to a made-up code: {why}"),
            "check the provider's token endpoint and its logs",
        );
    }
}
