//! Native tests against the SDK's mock host: scripted provider answers, settings, kv and
//! clock; ID tokens signed here (ES256) or taken from RFC 7515 (RS256).

use p256::ecdsa::signature::Signer as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tenantry_plugin::oauth2::AuthMethod;
use tenantry_plugin::oidc::{check_claims, verify_id_token, Expected, Provider};
use tenantry_plugin::sso::{FinishRequest, StartOptions, StartRequest};
use tenantry_plugin::testing::MockHost;
use tenantry_plugin::text::base64url;
use tenantry_plugin::Error;

use crate::flow::{self, auth_method};
use crate::provider::Settings;

const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://idp.test";
const DISCOVERY: &str = "https://idp.test/.well-known/openid-configuration";
const JWKS: &str = "https://idp.test/jwks";
const TOKEN: &str = "https://idp.test/token";

fn discovery() -> Value {
    json!({"issuer": ISSUER, "authorization_endpoint": "https://idp.test/authorize?tenant=a",
           "token_endpoint": TOKEN, "jwks_uri": JWKS,
           "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"]})
}

fn signing_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

fn jwks(kid: &str) -> Value {
    let point = signing_key().verifying_key().to_encoded_point(false);
    json!({"keys": [
        {"kty": "oct", "k": "AAAA", "kid": "sym"},
        {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
         "x": base64url(point.x().unwrap()), "y": base64url(point.y().unwrap())},
    ]})
}

fn sign(header: Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let sig: p256::ecdsa::Signature = signing_key().sign(input.as_bytes());
    format!("{input}.{}", base64url(&sig.to_bytes()))
}

fn claims(nonce: &str) -> Value {
    json!({"iss": ISSUER, "aud": "app", "sub": "u1", "nonce": nonce, "exp": NOW + 300,
           "iat": NOW, "email": "ann@example.test", "email_verified": true, "name": "Ann",
           "groups": ["x", "y"]})
}

fn host() -> MockHost {
    MockHost::new()
        .setting("issuer", ISSUER)
        .setting("client_id", "app")
        .setting("client_secret", "s3cret")
        .now_unix_ms(NOW * 1000)
        .on_json("GET", DISCOVERY, 200, &discovery())
        .on_json("GET", JWKS, 200, &jwks("k1"))
}

fn start_request() -> StartRequest {
    StartRequest {
        organization_id: "org_1".into(),
        state: "st".into(),
        nonce: "n1".into(),
        redirect_uri: "https://app.test/cb".into(),
        login_hint: Some("ann@example.test".into()),
    }
}

fn finish_request(flow_data: &str) -> FinishRequest {
    FinishRequest {
        organization_id: "org_1".into(),
        params: vec![
            ("code".into(), "c0de".into()),
            ("state".into(), "st".into()),
        ],
        state: "st".into(),
        nonce: "n1".into(),
        redirect_uri: "https://app.test/cb".into(),
        flow_data: flow_data.into(),
    }
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> String {
    r.unwrap_err().code
}

#[test]
fn start_caches_discovery_and_sends_a_pkce_challenge() {
    let guard = host().install();
    let r = flow::start(&start_request(), false).unwrap();
    assert!(r.redirect_url.starts_with("https://idp.test/authorize?tenant=a&response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.test%2Fcb"), "{}", r.redirect_url);
    assert!(
        r.redirect_url.contains("&login_hint=ann%40example.test")
            && !r.redirect_url.contains("prompt=")
    );
    let flow: Value = serde_json::from_str(&r.flow_data).unwrap();
    let verifier = flow["code_verifier"].as_str().unwrap();
    let challenge = base64url(&Sha256::digest(verifier.as_bytes()));
    assert!(r.redirect_url.contains(&format!(
        "code_challenge={challenge}&code_challenge_method=S256"
    )));
    // A second start within 10 minutes uses the cached discovery document; a reselect asks
    // the provider to sign the person in again.
    let again = flow::start(&start_request(), true).unwrap();
    assert!(
        again.redirect_url.ends_with("&prompt=login"),
        "{}",
        again.redirect_url
    );
    assert_eq!(guard.requests().len(), 1);
    guard.set_now_unix_ms((NOW + 601) * 1000);
    flow::start(&start_request(), false).unwrap();
    assert_eq!(guard.requests().len(), 2);
}

#[test]
fn finish_exchanges_the_code_and_verifies_the_id_token() {
    let token = sign(json!({"alg": "ES256", "kid": "k1"}), &claims("n1"));
    let guard = host()
        .on_json(
            "POST",
            TOKEN,
            200,
            &json!({"id_token": token, "access_token": "at"}),
        )
        .install();
    let flow_data = flow::start(&start_request(), false).unwrap().flow_data;
    let session = flow::finish(&finish_request(&flow_data)).unwrap();
    assert_eq!(session.identity.email, "ann@example.test");
    assert!(session.identity.email_verified);
    assert_eq!(session.identity.groups, vec!["x", "y"]);
    assert_eq!(session.sign_out_data, None);
    let post = guard
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    // client_secret_basic: "app:s3cret", form-encoded then base64.
    assert_eq!(
        post.header_value("authorization"),
        Some("Basic YXBwOnMzY3JldA==")
    );
    let body = String::from_utf8(post.body).unwrap();
    assert!(body.starts_with("grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&code_verifier="), "{body}");

    // The same token for another sign-in (another nonce) is refused.
    let mut other = finish_request(&flow_data);
    other.nonce = "n2".into();
    let e = flow::finish(&other).unwrap_err();
    assert_eq!(e.code, "invalid_id_token");
    assert!(
        e.message.contains("`nonce` does not match"),
        "{}",
        e.message
    );
}

#[test]
fn callback_checks_and_key_rotation() {
    let token = sign(json!({"alg": "ES256", "kid": "k2"}), &claims("n1"));
    let guard = host()
        .on_json("POST", TOKEN, 200, &json!({"id_token": token}))
        .install();
    let flow_data = flow::start(&start_request(), false).unwrap().flow_data;
    let mut r = finish_request(&flow_data);
    r.params.push(("state".into(), "st".into()));
    assert_eq!(code(flow::finish(&r)), "invalid_callback");
    r.params = vec![
        ("code".into(), "c".into()),
        ("state".into(), "other".into()),
    ];
    assert_eq!(code(flow::finish(&r)), "state_mismatch");
    r.params = vec![("error".into(), "access_denied".into())];
    assert_eq!(code(flow::finish(&r)), "provider_error");
    assert_eq!(code(flow::finish(&finish_request("{}"))), "invalid_request");
    // The token names key k2, the JWKS has only k1. Fetched just now: no second fetch.
    let e = flow::finish(&finish_request(&flow_data)).unwrap_err();
    assert!(
        e.message.contains("no ES256 key with kid `k2`"),
        "{}",
        e.message
    );
    let jwks_fetches = || guard.requests().iter().filter(|r| r.url == JWKS).count();
    assert_eq!(jwks_fetches(), 1);
    // From the cache: the provider may have rotated its keys, so the JWKS is fetched again.
    flow::finish(&finish_request(&flow_data)).unwrap_err();
    assert_eq!(jwks_fetches(), 2);
}

#[test]
fn rs256_known_answer_and_refused_algorithms() {
    // RFC 7515 appendix A.2: an RS256 JWS and its 2048-bit key.
    let n = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    let _guard = MockHost::new()
        .on_json(
            "GET",
            JWKS,
            200,
            &json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB"}]}),
        )
        .install();
    let provider: Provider = serde_json::from_value(discovery()).unwrap();
    let expected = Expected {
        issuer: ISSUER,
        client_id: "app",
        nonce: "n1",
        now_s: NOW,
    };
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    // The signature verifies; then the claims (issuer `joe`) are refused.
    let e = verify_id_token(token, &provider, &expected).unwrap_err();
    assert!(e.message.contains("`iss` is `joe`"), "{}", e.message);
    let mut bad = token.to_string();
    let at = bad.len() - 20;
    let flipped = if &bad[at..=at] == "A" { "B" } else { "A" };
    bad.replace_range(at..=at, flipped);
    let e = verify_id_token(&bad, &provider, &expected).unwrap_err();
    assert!(e.message.contains("does not verify"), "{}", e.message);
    let body = base64url(claims("n1").to_string().as_bytes());
    for header in [
        json!({"alg": "HS256"}),
        json!({"alg": "PS256"}),
        json!({"alg": "none"}),
        json!({"alg": "RS256", "crit": ["x"]}),
    ] {
        let t = format!("{}.{body}.c2ln", base64url(header.to_string().as_bytes()));
        let e = verify_id_token(&t, &provider, &expected).unwrap_err();
        assert_eq!(e.code, "invalid_id_token", "{header}");
        assert!(
            !e.message.contains("does not verify"),
            "{header}: {}",
            e.message
        );
    }
}

#[test]
fn claim_checks() {
    let expected = Expected {
        issuer: ISSUER,
        client_id: "app",
        nonce: "n1",
        now_s: NOW,
    };
    let check = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims("n1");
        edit(&mut c);
        check_claims(
            &serde_json::from_value::<Map<String, Value>>(c).unwrap(),
            &expected,
        )
    };
    assert!(check(&|_| {}).is_ok());
    assert!(check(&|c| c["iss"] = json!("https://evil"))
        .unwrap_err()
        .contains("iss"));
    assert!(check(&|c| c["aud"] = json!("other")).is_err());
    assert!(check(&|c| c["aud"] = json!(["app"])).is_ok());
    assert!(check(&|c| c["aud"] = json!(["app", "other"]))
        .unwrap_err()
        .contains("azp"));
    assert!(check(&|c| {
        c["aud"] = json!(["app", "other"]);
        c["azp"] = json!("app");
    })
    .is_ok());
    assert!(check(&|c| c["azp"] = json!("other")).is_err());
    assert!(check(&|c| c["exp"] = json!(NOW - 61))
        .unwrap_err()
        .contains("expired"));
    assert!(check(&|c| c["exp"] = json!(NOW - 30)).is_ok());
    assert!(check(&|c| c["exp"] = json!("soon")).is_err());
    assert!(check(&|c| c["iat"] = json!(NOW + 120))
        .unwrap_err()
        .contains("future"));
    assert!(check(&|c| c["nbf"] = json!(NOW + 120))
        .unwrap_err()
        .contains("not valid yet"));
    assert!(check(&|c| c["iat"] = json!(NOW as f64 + 0.5)).is_ok());
    assert!(check(&|c| {
        c.as_object_mut().unwrap().remove("nonce");
    })
    .is_err());
    assert!(check(&|c| c["sub"] = json!("")).is_err());
}

/// A logged `Settings` value never shows the client secret (SPEC §7: secrets never reach
/// logs), but still tells whether one is set.
#[test]
fn settings_debug_output_leaves_the_client_secret_out() {
    let _g = host().install();
    let s = Settings::load().unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("client_secret: Some(\"[redacted]\")"),
        "{shown}"
    );
    assert!(shown.contains("client_id: \"app\""), "{shown}");
}

#[test]
fn settings_and_client_authentication() {
    let load = |pairs: &[(&str, &str)]| {
        let _g = pairs
            .iter()
            .fold(MockHost::new(), |h, (k, v)| h.setting(*k, *v))
            .install();
        Settings::load()
    };
    let s = load(&[
        ("issuer", "http://127.0.0.1:9/"),
        ("client_id", "app"),
        ("scopes", " email  groups "),
    ])
    .unwrap();
    assert_eq!(s.scopes, "openid email groups");
    assert_eq!(
        s.discovery_url(),
        "http://127.0.0.1:9/.well-known/openid-configuration"
    );
    for bad in [
        vec![("client_id", "app")],
        vec![("issuer", "idp.example"), ("client_id", "app")],
        vec![("issuer", "https://idp?x=1"), ("client_id", "app")],
        vec![("issuer", "http://idp.example"), ("client_id", "app")],
        vec![
            ("issuer", "https://idp"),
            ("client_id", "app"),
            ("token_endpoint_auth_method", "private_key_jwt"),
        ],
        vec![
            ("issuer", "https://idp"),
            ("client_id", "app"),
            ("token_endpoint_auth_method", "client_secret_basic"),
        ],
        vec![
            ("issuer", "https://idp"),
            ("client_id", "app"),
            ("prompt", "consent"),
        ],
        vec![
            ("issuer", "https://idp"),
            ("client_id", "app"),
            ("sign_out_at_provider", "yes"),
        ],
    ] {
        assert_eq!(code(load(&bad)), "misconfigured", "{bad:?}");
    }
    let s = load(&[
        ("issuer", "http://idp.internal"),
        ("client_id", "app"),
        ("allow_http_issuer", "true"),
        ("prompt", "select_account"),
        ("prompt_when", "always"),
    ])
    .unwrap();
    assert_eq!(s.prompt(false), Some("select_account"));

    let provider = |methods: Option<&[&str]>| Provider {
        token_endpoint_auth_methods_supported: methods
            .map(|m| m.iter().map(|s| s.to_string()).collect()),
        ..serde_json::from_value(discovery()).unwrap()
    };
    let with = |secret: Option<&str>, method: Option<AuthMethod>| Settings {
        client_secret: secret.map(Into::into),
        auth_method: method,
        ..s.clone()
    };
    let pick = |s: &Settings, p: &Provider| auth_method(s, p).map_err(|e| e.code);
    assert_eq!(
        pick(
            &with(Some("s"), None),
            &provider(Some(&["client_secret_post", "client_secret_basic"]))
        ),
        Ok(AuthMethod::ClientSecretBasic)
    );
    assert_eq!(
        pick(
            &with(Some("s"), None),
            &provider(Some(&["client_secret_post"]))
        ),
        Ok(AuthMethod::ClientSecretPost)
    );
    assert_eq!(
        pick(&with(Some("s"), None), &provider(None)),
        Ok(AuthMethod::ClientSecretBasic)
    );
    assert_eq!(
        pick(&with(None, None), &provider(None)),
        Ok(AuthMethod::None)
    );
    assert_eq!(
        pick(&with(None, None), &provider(Some(&["client_secret_basic"]))),
        Err("misconfigured".into())
    );
    assert_eq!(
        pick(
            &with(Some("s"), None),
            &provider(Some(&["private_key_jwt"]))
        ),
        Err("misconfigured".into())
    );
}

#[test]
fn configuration_test_reports_a_refused_secret_and_a_missing_host() {
    let _g = host()
        .on_json("POST", TOKEN, 401, &json!({"error": "invalid_client"}))
        .install();
    let checks = crate::check::run();
    let names: Vec<(&str, bool)> = checks.iter().map(|c| (c.name.as_str(), c.ok)).collect();
    assert_eq!(
        names,
        [
            ("settings", true),
            ("discovery", true),
            ("issuer", true),
            ("jwks", true),
            ("token_endpoint_auth", true),
            ("token_endpoint", false)
        ]
    );
    assert!(checks[5].detail.contains("invalid_client") && !checks[5].detail.contains("s3cret"));
    drop(_g);
    let _g = host().allow_host("other.test:443").install();
    let checks = crate::check::run();
    assert!(
        !checks[1].ok
            && checks[1]
                .fix
                .as_deref()
                .unwrap()
                .contains("add `idp.test:443`"),
        "{:?}",
        checks[1]
    );
    let _ = StartOptions { reselect: false };
}
