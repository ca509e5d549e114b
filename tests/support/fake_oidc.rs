//! A fake OpenID Connect provider for integration tests of the `sso-oidc` plugin.
//!
//! [`FakeOidc::start`] serves, on `127.0.0.1` with a random port, from a background thread:
//!
//! | endpoint | what it does |
//! | --- | --- |
//! | `GET /.well-known/openid-configuration` | the discovery document (issuer = [`FakeOidc::issuer`]) |
//! | `GET /authorize` | checks `client_id`, `response_type=code`, `scope` ∋ `openid`, `redirect_uri`, `code_challenge` + `code_challenge_method=S256`; the fake user "logs in" at once: `302 Location: {redirect_uri}?code=…&state=…&iss=…` (an invalid request answers 400 without redirecting) |
//! | `POST /token` | `application/x-www-form-urlencoded`; checks `grant_type=authorization_code`, the code (single use), `redirect_uri`, `client_id`, PKCE (`BASE64URL(SHA-256(code_verifier)) == code_challenge`) and, if one is set, `client_secret` (client_secret_post); answers `{"access_token", "token_type": "Bearer", "id_token", "expires_in": 300}` or 400 `{"error": "invalid_grant", …}` |
//! | `GET /jwks` | the RS256 public key as a JWK (`kty`, `use`, `alg`, `kid`, `n`, `e`) |
//!
//! ID tokens are signed RS256 with the test-only key `tests/fixtures/oidc-rsa-2048.pk8` and
//! carry `iss`, `sub`, `aud` (the client_id), `exp` (now + 300 s), `iat`, `nonce` (from the
//! authorization request), `email`, `email_verified`, `name` and `groups` of the
//! [`FakeUser`] that was set when `/authorize` was called.
//!
//! Knobs for negative tests: [`FakeOidc::set_wrong_nonce`],
//! [`FakeOidc::set_token_endpoint_down`], [`FakeOidc::set_authorize_error`],
//! [`FakeOidc::set_claim_overrides`], [`FakeOidc::set_kid`] (key "rotation": same key, new
//! `kid`), [`FakeOidc::set_client_secret`]; counters [`FakeOidc::authorize_requests`],
//! [`FakeOidc::token_requests`], [`FakeOidc::jwks_requests`],
//! [`FakeOidc::discovery_requests`].
//!
//! ```ignore
//! let idp = FakeOidc::start("tenantry-test");
//! idp.set_user(FakeUser::new("user-1", "ann@example.test"));
//! // plugin settings: issuer = idp.issuer(), client_id = "tenantry-test";
//! // allowed_hosts = [idp.host_port()]
//! ```
//!
//! The server stops when the [`FakeOidc`] is dropped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use serde_json::{json, Map, Value};

/// The test-only RSA key the fake signs ID tokens with (see tests/fixtures/README.md).
const SIGNING_KEY_PKCS8: &[u8] = include_bytes!("../fixtures/oidc-rsa-2048.pk8");

/// Lifetime of issued ID tokens, in seconds.
pub const TOKEN_LIFETIME_S: i64 = 300;

/// The `kid` of the signing key until [`FakeOidc::set_kid`] changes it.
pub const DEFAULT_KID: &str = "fake-oidc-1";

/// The identity the fake provider vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// `sub`.
    pub subject: String,
    /// `email`; an empty string leaves the claim out (for `missing_email` tests).
    pub email: String,
    /// `email_verified` (a JSON boolean).
    pub email_verified: bool,
    /// `name`; `None` leaves the claim out.
    pub name: Option<String>,
    /// `groups`; an empty list leaves the claim out.
    pub groups: Vec<String>,
}

impl FakeUser {
    /// A user with a verified `email`, no name and no groups.
    pub fn new(subject: &str, email: &str) -> Self {
        FakeUser {
            subject: subject.to_string(),
            email: email.to_string(),
            email_verified: true,
            name: None,
            groups: Vec::new(),
        }
    }
}

impl Default for FakeUser {
    /// `sub` `fake-user-1`, `email` `sso.user@example.test` (verified), name `SSO User`.
    fn default() -> Self {
        FakeUser {
            name: Some("SSO User".to_string()),
            ..FakeUser::new("fake-user-1", "sso.user@example.test")
        }
    }
}

/// A running fake provider; see the [module docs](self).
pub struct FakeOidc {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    port: u16,
}

/// What the handler thread and the test share.
struct Shared {
    issuer: String,
    client_id: String,
    key_pair: RsaKeyPair,
    rng: SystemRandom,
    state: Mutex<State>,
    authorize_requests: AtomicUsize,
    token_requests: AtomicUsize,
    jwks_requests: AtomicUsize,
    discovery_requests: AtomicUsize,
}

/// Mutable knobs and issued codes.
struct State {
    user: FakeUser,
    kid: String,
    client_secret: Option<String>,
    wrong_nonce: bool,
    token_endpoint_down: bool,
    authorize_error: Option<(String, String)>,
    claim_overrides: Map<String, Value>,
    /// Outstanding authorization codes.
    grants: BTreeMap<String, Grant>,
    last_authorize: Option<Vec<(String, String)>>,
    last_token: Option<Vec<(String, String)>>,
}

/// What an authorization code stands for.
struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: String,
    user: FakeUser,
}

/// One answer of the handler.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    location: Option<String>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string(),
            location: None,
        }
    }

    fn text(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            location: None,
        }
    }

    fn oauth_error(status: u16, error: &str, description: &str) -> Self {
        Reply::json(
            status,
            json!({ "error": error, "error_description": description }),
        )
    }

    fn redirect(location: String) -> Self {
        Reply {
            status: 302,
            content_type: "text/plain; charset=utf-8",
            body: String::new(),
            location: Some(location),
        }
    }
}

impl FakeOidc {
    /// Starts the provider for one client (`client_id`), with [`FakeUser::default`] as the
    /// user. Panics if it cannot bind or load its key (test setup failure).
    pub fn start(client_id: &str) -> FakeOidc {
        let key_pair = RsaKeyPair::from_pkcs8(SIGNING_KEY_PKCS8)
            .unwrap_or_else(|e| panic!("fake OIDC: bad fixture key: {e}"));
        let server = tiny_http::Server::http("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("fake OIDC: cannot bind 127.0.0.1:0: {e}"));
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .unwrap_or_else(|| panic!("fake OIDC: not listening on an IP address"));
        let shared = Arc::new(Shared {
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: client_id.to_string(),
            key_pair,
            rng: SystemRandom::new(),
            state: Mutex::new(State {
                user: FakeUser::default(),
                kid: DEFAULT_KID.to_string(),
                client_secret: None,
                wrong_nonce: false,
                token_endpoint_down: false,
                authorize_error: None,
                claim_overrides: Map::new(),
                grants: BTreeMap::new(),
                last_authorize: None,
                last_token: None,
            }),
            authorize_requests: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            jwks_requests: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
        });
        let server = Arc::new(server);
        let thread = {
            let (server, shared) = (Arc::clone(&server), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("fake-oidc".to_string())
                .spawn(move || {
                    // `recv` fails once `unblock` is called (on drop).
                    while let Ok(request) = server.recv() {
                        shared.handle(request);
                    }
                })
                .unwrap_or_else(|e| panic!("fake OIDC: cannot spawn thread: {e}"))
        };
        FakeOidc {
            shared,
            server,
            thread: Some(thread),
            port,
        }
    }

    /// The issuer URL, `http://127.0.0.1:PORT` (no trailing slash): the plugin's `issuer`
    /// setting.
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// `127.0.0.1:PORT`, for the plugin's `allowed_hosts`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The client_id this provider accepts.
    pub fn client_id(&self) -> String {
        self.shared.client_id.clone()
    }

    /// The identity that the next authorizations issue (codes already issued keep theirs).
    pub fn set_user(&self, user: FakeUser) {
        self.shared.lock().user = user;
    }

    /// When true, ID tokens carry a nonce other than the one of the authorization request.
    pub fn set_wrong_nonce(&self, on: bool) {
        self.shared.lock().wrong_nonce = on;
    }

    /// When true, `/token` answers 500 `{"error": "server_error"}` (the request still counts
    /// in [`token_requests`](Self::token_requests) and the code is not used up).
    pub fn set_token_endpoint_down(&self, on: bool) {
        self.shared.lock().token_endpoint_down = on;
    }

    /// When set, `/authorize` redirects back with `error` and `error_description` (and the
    /// state) instead of a code, e.g. `("access_denied", "the user said no")`.
    pub fn set_authorize_error(&self, error: Option<(&str, &str)>) {
        self.shared.lock().authorize_error = error.map(|(e, d)| (e.to_string(), d.to_string()));
    }

    /// Claims merged into every ID token issued from now on, after the standard ones: a
    /// value replaces the claim, `null` removes it. E.g. `{"aud": "someone-else"}`,
    /// `{"exp": 1}`, `{"iss": "http://evil"}`.
    pub fn set_claim_overrides(&self, overrides: Value) {
        self.shared.lock().claim_overrides = match overrides {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => panic!("fake OIDC: claim overrides must be a JSON object, not {other}"),
        };
    }

    /// Changes the signing key's `kid` (in ID token headers and in `/jwks`) — a key rotation
    /// as seen by a client with a cached JWKS.
    pub fn set_kid(&self, kid: &str) {
        self.shared.lock().kid = kid.to_string();
    }

    /// When set, `/token` requires this `client_secret` in the form body
    /// (client_secret_post) and answers 401 `invalid_client` otherwise.
    pub fn set_client_secret(&self, secret: Option<&str>) {
        self.shared.lock().client_secret = secret.map(str::to_string);
    }

    /// Requests to `/authorize` so far.
    pub fn authorize_requests(&self) -> usize {
        self.shared.authorize_requests.load(Ordering::SeqCst)
    }

    /// Requests to `/token` so far.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// Requests to `/jwks` so far (to observe the plugin's cache).
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// Requests to the discovery document so far (to observe the plugin's cache).
    pub fn discovery_requests(&self) -> usize {
        self.shared.discovery_requests.load(Ordering::SeqCst)
    }

    /// The query parameters of the last `/authorize` request (e.g. to check `login_hint`).
    pub fn last_authorize_params(&self) -> Option<Vec<(String, String)>> {
        self.shared.lock().last_authorize.clone()
    }

    /// The form parameters of the last `/token` request.
    pub fn last_token_params(&self) -> Option<Vec<(String, String)>> {
        self.shared.lock().last_token.clone()
    }
}

impl Drop for FakeOidc {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge the provider for the others.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, mut request: tiny_http::Request) {
        let url = request.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let method = request.method().as_str().to_ascii_uppercase();
        let reply = match (method.as_str(), path) {
            ("GET", "/.well-known/openid-configuration") => {
                self.discovery_requests.fetch_add(1, Ordering::SeqCst);
                Reply::json(200, self.discovery())
            }
            ("GET", "/jwks") => {
                self.jwks_requests.fetch_add(1, Ordering::SeqCst);
                Reply::json(200, self.jwks())
            }
            ("GET", "/authorize") => {
                self.authorize_requests.fetch_add(1, Ordering::SeqCst);
                self.authorize(parse_form(query))
            }
            ("POST", "/token") => {
                self.token_requests.fetch_add(1, Ordering::SeqCst);
                let form_ok = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("content-type"))
                    .is_some_and(|h| {
                        h.value
                            .as_str()
                            .starts_with("application/x-www-form-urlencoded")
                    });
                let mut body = String::new();
                if request.as_reader().read_to_string(&mut body).is_err() {
                    Reply::oauth_error(400, "invalid_request", "unreadable body")
                } else if !form_ok {
                    Reply::oauth_error(
                        400,
                        "invalid_request",
                        "content-type must be application/x-www-form-urlencoded",
                    )
                } else {
                    self.token(parse_form(&body))
                }
            }
            _ => Reply::text(404, "not found"),
        };
        let mut response = tiny_http::Response::from_string(reply.body)
            .with_status_code(reply.status)
            .with_header(header("Content-Type", reply.content_type))
            .with_header(header("Cache-Control", "no-store"));
        if let Some(location) = reply.location {
            response = response.with_header(header("Location", &location));
        }
        let _ = request.respond(response);
    }

    fn discovery(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "jwks_uri": format!("{i}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "none"],
            "grant_types_supported": ["authorization_code"],
            "authorization_response_iss_parameter_supported": true,
        })
    }

    fn jwks(&self) -> Value {
        let public: RsaPublicKeyComponents<Vec<u8>> = self.key_pair.public().into();
        json!({ "keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.lock().kid,
            "n": b64url(&public.n),
            "e": b64url(&public.e),
        }]})
    }

    fn authorize(&self, params: Vec<(String, String)>) -> Reply {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut state = self.lock();
        state.last_authorize = Some(params.clone());
        if get("client_id").as_deref() != Some(self.client_id.as_str()) {
            return Reply::text(400, "unknown client_id");
        }
        let Some(redirect_uri) = get("redirect_uri").filter(|r| r.starts_with("http")) else {
            return Reply::text(400, "missing or non-http redirect_uri");
        };
        if get("response_type").as_deref() != Some("code") {
            return Reply::text(400, "response_type must be code");
        }
        if !get("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")) {
            return Reply::text(400, "scope must include openid");
        }
        if get("code_challenge_method").as_deref() != Some("S256") {
            return Reply::text(400, "code_challenge_method must be S256");
        }
        let Some(code_challenge) = get("code_challenge").filter(|c| c.len() == 43) else {
            return Reply::text(400, "missing or malformed code_challenge");
        };

        let mut back: Vec<(String, String)> = Vec::new();
        if let Some((error, description)) = &state.authorize_error {
            back.push(("error".into(), error.clone()));
            back.push(("error_description".into(), description.clone()));
        } else {
            let code = self.random_token();
            let grant = Grant {
                redirect_uri: redirect_uri.clone(),
                nonce: get("nonce"),
                code_challenge,
                user: state.user.clone(),
            };
            state.grants.insert(code.clone(), grant);
            back.push(("code".into(), code));
        }
        if let Some(s) = get("state") {
            back.push(("state".into(), s));
        }
        back.push(("iss".into(), self.issuer.clone()));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(back)
            .finish();
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        Reply::redirect(format!("{redirect_uri}{sep}{query}"))
    }

    fn token(&self, form: Vec<(String, String)>) -> Reply {
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let mut state = self.lock();
        state.last_token = Some(form.clone());
        if state.token_endpoint_down {
            return Reply::oauth_error(
                500,
                "server_error",
                "the token endpoint is down (test knob)",
            );
        }
        if get("grant_type") != Some("authorization_code") {
            return Reply::oauth_error(400, "unsupported_grant_type", "only authorization_code");
        }
        if get("client_id") != Some(self.client_id.as_str()) {
            return Reply::oauth_error(401, "invalid_client", "unknown client_id");
        }
        if let Some(secret) = &state.client_secret {
            if get("client_secret") != Some(secret.as_str()) {
                return Reply::oauth_error(401, "invalid_client", "wrong or missing client_secret");
            }
        }
        // Single use: the code is gone whatever happens next.
        let Some(grant) = get("code").and_then(|c| state.grants.remove(c)) else {
            return Reply::oauth_error(400, "invalid_grant", "unknown or used code");
        };
        if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return Reply::oauth_error(
                400,
                "invalid_grant",
                "redirect_uri differs from the authorization request",
            );
        }
        let verifier_ok = get("code_verifier").is_some_and(|v| {
            let digest = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
            b64url(digest.as_ref()) == grant.code_challenge
        });
        if !verifier_ok {
            return Reply::oauth_error(400, "invalid_grant", "PKCE verification failed");
        }

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let user = &grant.user;
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(user.subject));
        claims.insert("aud".into(), json!(self.client_id));
        claims.insert("exp".into(), json!(now + TOKEN_LIFETIME_S));
        claims.insert("iat".into(), json!(now));
        let nonce = if state.wrong_nonce {
            Some("not-the-nonce-you-sent".to_string())
        } else {
            grant.nonce.clone()
        };
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        if !user.email.is_empty() {
            claims.insert("email".into(), json!(user.email));
            claims.insert("email_verified".into(), json!(user.email_verified));
        }
        if let Some(name) = &user.name {
            claims.insert("name".into(), json!(name));
        }
        if !user.groups.is_empty() {
            claims.insert("groups".into(), json!(user.groups));
        }
        for (k, v) in &state.claim_overrides {
            if v.is_null() {
                claims.remove(k);
            } else {
                claims.insert(k.clone(), v.clone());
            }
        }
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": state.kid });
        let id_token = match self.sign(&header, &Value::Object(claims)) {
            Ok(token) => token,
            Err(e) => return Reply::oauth_error(500, "server_error", &e),
        };
        Reply::json(
            200,
            json!({
                "access_token": self.random_token(),
                "token_type": "Bearer",
                "id_token": id_token,
                "expires_in": TOKEN_LIFETIME_S,
            }),
        )
    }

    /// `header.payload.signature`, RS256.
    fn sign(&self, header: &Value, claims: &Value) -> Result<String, String> {
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut signature = vec![0u8; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "RS256 signing failed".to_string())?;
        Ok(format!("{input}.{}", b64url(&signature)))
    }

    /// 32 random bytes, base64url.
    fn random_token(&self) -> String {
        let mut bytes = [0u8; 32];
        self.rng
            .fill(&mut bytes)
            .unwrap_or_else(|_| panic!("fake OIDC: no randomness"));
        b64url(&bytes)
    }
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parse_form(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|_| panic!("fake OIDC: bad header {name}: {value}"))
}
