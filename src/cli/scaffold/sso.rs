//! {{NAME}}: a tenantry sign-in plugin (world `sso`) for an OAuth 2 provider without OpenID
//! Connect: the authorization code is exchanged at the token endpoint, and the person is
//! read from a JSON user endpoint with the access token.
//!
//! Settings (`[plugins.NAME.settings]`): `authorize_url`, `token_url`, `userinfo_url`,
//! `client_id`, `client_secret`, `scope` (optional). `allowed_hosts` must list the
//! `host:port` of `token_url` and `userinfo_url`.

use serde::Deserialize;
use tenantry_plugin::oauth2::{self, Client, Pkce};
use tenantry_plugin::prelude::*;
use tenantry_plugin::sso::{
    FinishRequest, Identity, Session, Sso, StartOptions, StartRequest, StartResponse,
};

/// The settings, read from the host by field name.
#[derive(Deserialize)]
struct Settings {
    authorize_url: String,
    token_url: String,
    userinfo_url: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    scope: String,
}

/// The user endpoint's answer. Adapt the field names to your provider.
#[derive(Deserialize)]
struct User {
    /// A stable ID (a number or a string).
    id: serde_json::Value,
    email: String,
    /// Only an address the provider has verified signs anyone in.
    #[serde(default)]
    email_verified: bool,
    name: Option<String>,
}

/// The plugin.
pub struct Plugin;

impl Sso for Plugin {
    fn start(request: StartRequest, _options: StartOptions) -> Result<StartResponse> {
        let s: Settings = settings()?;
        let pkce = Pkce::new()?;
        let [challenge, method] = pkce.params();
        let params = [
            ("client_id", s.client_id.as_str()),
            ("redirect_uri", &request.redirect_uri),
            ("scope", &s.scope),
            ("state", &request.state),
            challenge,
            method,
        ];
        Ok(StartResponse {
            redirect_url: oauth2::authorization_url(&s.authorize_url, &params),
            // The host keeps it for `finish`.
            flow_data: pkce.verifier,
        })
    }

    fn finish(request: FinishRequest) -> Result<Session> {
        let s: Settings = settings()?;
        // The provider's `error`, no `code`, or another sign-in's `state` is refused here.
        let code = oauth2::callback_code(&request.params, &request.state)?;
        let client = Client::new(&s.client_id, Some(&s.client_secret));
        let verifier = Some(request.flow_data.as_str());
        let tokens = client.exchange_code(&s.token_url, code, &request.redirect_uri, verifier)?;
        let access_token = tokens.access_token().ok_or_else(|| {
            Error::new("token_exchange_failed", "the token endpoint answered no access_token")
        })?;
        let user: User = http::Request::get(&s.userinfo_url)
            .bearer(access_token)
            .header("accept", "application/json")
            .send()?
            .error_for_status()?
            .json()?;
        let subject = match user.id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        info!("signed in {subject}");
        Ok(Session {
            identity: Identity {
                subject,
                email: user.email,
                email_verified: user.email_verified,
                name: user.name,
                groups: Vec::new(),
            },
            sign_out_data: None,
        })
    }
}

tenantry_plugin::export_sso!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tenantry_plugin::testing::MockHost;

    fn host() -> MockHost {
        MockHost::new()
            .setting("authorize_url", "https://auth.example/authorize")
            .setting("token_url", "https://auth.example/token")
            .setting("userinfo_url", "https://api.example/user")
            .setting("client_id", "app")
            .setting("client_secret", "s3cret")
    }

    fn finish(state: &str, flow_data: &str) -> FinishRequest {
        FinishRequest {
            organization_id: "org_1".into(),
            params: vec![("code".into(), "c0de".into()), ("state".into(), state.into())],
            state: "st".into(),
            nonce: "n".into(),
            redirect_uri: "https://tenantry.example/sso/x/callback".into(),
            flow_data: flow_data.into(),
        }
    }

    #[test]
    fn signs_in_with_the_code_the_token_and_the_user_endpoint() {
        let host = host()
            .on_json("POST", "https://auth.example/token", 200, &json!({"access_token": "at"}))
            .on_json(
                "GET",
                "https://api.example/user",
                200,
                &json!({"id": 42, "email": "ann@example.test", "email_verified": true}),
            )
            .install();
        let start = Plugin::start(
            StartRequest {
                organization_id: "org_1".into(),
                state: "st".into(),
                nonce: "n".into(),
                redirect_uri: "https://tenantry.example/sso/x/callback".into(),
                login_hint: None,
            },
            StartOptions { reselect: false },
        )
        .unwrap();
        assert!(start
            .redirect_url
            .starts_with("https://auth.example/authorize?response_type=code&client_id=app"));
        let session = Plugin::finish(finish("st", &start.flow_data)).unwrap();
        assert_eq!(session.identity.subject, "42");
        assert!(session.identity.email_verified);
        let requests = host.requests();
        // The code and the PKCE verifier, with the client's credentials (HTTP Basic).
        let body = String::from_utf8(requests[0].body.clone()).unwrap();
        assert!(body.ends_with(&format!("&code_verifier={}", start.flow_data)), "{body}");
        assert_eq!(requests[0].header_value("authorization"), Some("Basic YXBwOnMzY3JldA=="));
        assert_eq!(requests[1].header_value("authorization"), Some("Bearer at"));
    }

    #[test]
    fn refuses_a_callback_of_another_sign_in() {
        let _host = host().install();
        assert_eq!(Plugin::finish(finish("other", "v")).unwrap_err().code, "state_mismatch");
    }
}
