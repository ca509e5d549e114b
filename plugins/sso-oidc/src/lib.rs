//! `sso-oidc`: a tenantry plugin (world `sso`) that signs people in with any OpenID Connect
//! provider, using the authorization-code flow with PKCE (S256). Written on the
//! `tenantry-plugin` SDK: settings, HTTP, the key-value cache, clock and randomness come from
//! the host through it; ID tokens are verified with `jsonwebtoken` (pure-Rust crypto).
//!
//! * `start` discovers the provider and answers the authorization URL ([`flow::start`]).
//! * `finish` checks the callback, exchanges the code, verifies the ID token (RS256 or ES256,
//!   key from the provider's JWKS by `kid`) and answers the identity ([`flow::finish`]).
//! * `sign-out` builds the provider's end-session URL, and `check-configuration` tries
//!   discovery, issuer, JWKS and the token endpoint before anyone signs in ([`check`]).
//!
//! See README.md for settings and error codes.

use tenantry_plugin::prelude::*;
use tenantry_plugin::sso::{
    Check, FinishRequest, Session, SignOutRequest, Sso, StartOptions, StartRequest, StartResponse,
};

mod check;
mod flow;
mod provider;
#[cfg(test)]
mod tests;

/// The exported component.
struct SsoOidc;

impl Sso for SsoOidc {
    fn start(request: StartRequest, options: StartOptions) -> Result<StartResponse> {
        flow::start(&request, options.reselect)
    }

    fn finish(request: FinishRequest) -> Result<Session> {
        flow::finish(&request)
    }

    fn sign_out(request: SignOutRequest) -> Result<Option<String>> {
        flow::sign_out(&request.sign_out_data, &request.post_logout_redirect_uri)
    }

    fn check_configuration(_organization_id: String) -> Vec<Check> {
        check::run()
    }
}

tenantry_plugin::export_sso!(SsoOidc);
