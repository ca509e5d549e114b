//! `tenantry-plugin`: the SDK for tenantry plugins.
//!
//! A plugin is a WebAssembly component (`wasm32-wasip2`) that implements one world of the
//! `tenantry:plugin` WIT package (embedded in this crate). With the SDK a plugin is a type
//! implementing one trait ([`sso::Sso`], [`billing::Billing`] or [`email::EmailDelivery`])
//! and one macro call ([`export_sso!`], [`export_billing!`], [`export_email!`]). The macro
//! also installs a panic hook (the panic message goes to the server log) and a `log` crate
//! backend (records go to the server log, tagged with the plugin's name).
//!
//! ```ignore
//! use tenantry_plugin::prelude::*;
//! use tenantry_plugin::billing::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Settings { base_url: String }
//!
//! struct MyBilling;
//!
//! impl Billing for MyBilling {
//!     fn get_profile(org: Organization) -> Result<Option<BillingProfile>> {
//!         let s: Settings = settings()?;
//!         let p: Profile = http::get_json(&format!("{}/orgs/{}", s.base_url, org.id))?;
//!         Ok(Some(p.into()))
//!     }
//!     fn list_invoices(_org: Organization) -> Result<Vec<Invoice>> { Ok(Vec::new()) }
//! }
//!
//! tenantry_plugin::export_billing!(MyBilling);
//! ```
//!
//! Host calls ([`setting`], [`http`], [`kv`], [`time`], [`random`], log records) go to the
//! tenantry host inside a component; under native `cargo test` they go to the thread's
//! [`testing::MockHost`], so plugin logic is tested without a server.
//!
//! For sign-in plugins: [`oauth2`] (PKCE, the callback's checks, the token endpoint),
//! `oidc` with feature `oidc` (discovery, JWKS, ID token verification, UserInfo) and
//! [`checks`] (the configuration test).
//!
//! Compatibility: the SDK's major version is the contract's; it embeds the WIT package
//! [`WIT_VERSION`]. A new minor version only adds (SDK API, optional WIT items); a component
//! built with the SDK runs on every host that implements `tenantry:plugin@2.y` with y at
//! least [`WIT_VERSION`]'s minor version. A major version changes the contract and needs
//! the matching host.

#![warn(missing_docs)]

pub mod checks;
pub mod http;
pub mod kv;
pub mod oauth2;
#[cfg(feature = "oidc")]
pub mod oidc;
mod settings;
mod sys;
pub mod testing;
pub mod text;

pub use settings::{setting, settings};

/// The version of the `tenantry:plugin` WIT package this SDK embeds.
pub const WIT_VERSION: &str = "2.1.0";

/// The bindings `wit-bindgen` generates from the WIT, one module per world. Plugins use the
/// re-exports in [`sso`], [`billing`] and [`email`] instead.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod wit {
    /// World `sso`; it also generates the `host` and `types` imports the other worlds share.
    pub mod sso {
        wit_bindgen::generate!({
            path: "../wit",
            world: "tenantry:plugin/sso",
            pub_export_macro: true,
            export_macro_name: "export_sso_world",
            default_bindings_module: "tenantry_plugin::wit::sso",
            additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
        });
    }
    /// World `billing-profile`.
    pub mod billing {
        wit_bindgen::generate!({
            path: "../wit",
            world: "tenantry:plugin/billing-profile",
            pub_export_macro: true,
            export_macro_name: "export_billing_world",
            default_bindings_module: "tenantry_plugin::wit::billing",
            additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
            with: {
                "tenantry:plugin/host@2.1.0": crate::wit::sso::tenantry::plugin::host,
                "tenantry:plugin/types@2.1.0": crate::wit::sso::tenantry::plugin::types,
            },
        });
    }
    /// World `email-delivery`.
    pub mod email {
        wit_bindgen::generate!({
            path: "../wit",
            world: "tenantry:plugin/email-delivery",
            pub_export_macro: true,
            export_macro_name: "export_email_world",
            default_bindings_module: "tenantry_plugin::wit::email",
            additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
            with: {
                "tenantry:plugin/host@2.1.0": crate::wit::sso::tenantry::plugin::host,
            },
        });
    }
    pub use sso::tenantry::plugin::host;
    pub use sso::tenantry::plugin::types::PluginError;
}

/// What a plugin usually needs: `use tenantry_plugin::prelude::*;`.
pub mod prelude {
    pub use crate::{http, kv, random, setting, settings, time, Error, Result};
    pub use log::{debug, error, info, trace, warn};
}

pub use log;

/// Why a hook could not do its job: the WIT `plugin-error`. `code` is a short
/// machine-readable word (`misconfigured`, `upstream_unavailable`, …), `message` is for the
/// server log (it is put on one line when it leaves the plugin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Short machine-readable word.
    pub code: String,
    /// For people reading the server log.
    pub message: String,
}

impl Error {
    /// An error with any code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `misconfigured`: a setting is missing or unusable.
    pub fn misconfigured(message: impl Into<String>) -> Self {
        Error::new("misconfigured", message)
    }

    /// `upstream_unavailable`: the upstream could not be reached or answered an error.
    pub fn upstream_unavailable(message: impl Into<String>) -> Self {
        Error::new("upstream_unavailable", message)
    }

    /// `invalid_request`: the hook's input cannot be used.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error::new("invalid_request", message)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for wit::PluginError {
    fn from(e: Error) -> Self {
        wit::PluginError {
            code: text::one_line(&e.code),
            message: text::one_line(&e.message),
        }
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Wall-clock time from the host.
pub mod time {
    /// Milliseconds since the Unix epoch.
    pub fn now_unix_ms() -> i64 {
        crate::sys::now_unix_ms()
    }

    /// Seconds since the Unix epoch.
    pub fn now_unix() -> i64 {
        now_unix_ms().div_euclid(1000)
    }
}

/// Randomness from the host's cryptographic generator.
pub mod random {
    /// The most bytes the host gives per call.
    const CHUNK: usize = 1024;

    /// `n` random bytes.
    pub fn bytes(n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let want = (n - out.len()).min(CHUNK);
            let got = crate::sys::random_bytes(want as u32);
            if got.is_empty() {
                break;
            }
            out.extend_from_slice(&got[..got.len().min(want)]);
        }
        out
    }

    /// `n_bytes` random bytes as base64url without padding (e.g. a PKCE verifier or a
    /// state value): 32 bytes give 43 characters.
    pub fn token(n_bytes: usize) -> String {
        crate::text::base64url(&bytes(n_bytes))
    }
}

/// Single sign-on (world `sso`).
pub mod sso {
    use core::marker::PhantomData;

    use crate::wit::sso::exports::tenantry::plugin::{sso_extras, sso_hooks};
    /// What `finish` answers: the identity, and what a later sign-out needs.
    pub use sso_extras::Session;
    pub use sso_extras::{Check, SignOutRequest, StartOptions};
    pub use sso_hooks::{FinishRequest, Identity, StartRequest, StartResponse};

    /// A sign-in plugin. Export it with [`export_sso!`](crate::export_sso).
    pub trait Sso {
        /// Builds the redirect to the identity provider.
        fn start(request: StartRequest, options: StartOptions) -> crate::Result<StartResponse>;
        /// Finishes the callback: the identity, and optionally what `sign_out` needs later.
        fn finish(request: FinishRequest) -> crate::Result<Session>;
        /// The provider's URL that ends the person's session there, if any.
        fn sign_out(_request: SignOutRequest) -> crate::Result<Option<String>> {
            Ok(None)
        }
        /// Checks the configuration before anyone signs in.
        fn check_configuration(_organization_id: String) -> Vec<Check> {
            Vec::new()
        }
    }

    /// Implements the generated `sso-hooks` and `sso-extras` traits for an [`Sso`].
    #[doc(hidden)]
    pub struct Adapter<T>(PhantomData<T>);

    type PluginResult<T> = Result<T, crate::wit::PluginError>;

    impl<T: Sso> sso_hooks::Guest for Adapter<T> {
        fn start(request: StartRequest) -> PluginResult<StartResponse> {
            crate::runtime::enter();
            T::start(request, StartOptions { reselect: false }).map_err(Into::into)
        }
        fn finish(request: FinishRequest) -> PluginResult<Identity> {
            crate::runtime::enter();
            T::finish(request).map(|s| s.identity).map_err(Into::into)
        }
    }

    impl<T: Sso> sso_extras::Guest for Adapter<T> {
        fn start_with(request: StartRequest, options: StartOptions) -> PluginResult<StartResponse> {
            crate::runtime::enter();
            T::start(request, options).map_err(Into::into)
        }
        fn finish_with_session(request: FinishRequest) -> PluginResult<Session> {
            crate::runtime::enter();
            T::finish(request).map_err(Into::into)
        }
        fn sign_out(request: SignOutRequest) -> PluginResult<Option<String>> {
            crate::runtime::enter();
            T::sign_out(request).map_err(Into::into)
        }
        fn check_configuration(organization_id: String) -> Vec<Check> {
            crate::runtime::enter();
            T::check_configuration(organization_id)
        }
    }
}

/// Billing profile and invoices (world `billing-profile`).
pub mod billing {
    use core::marker::PhantomData;

    use crate::wit::billing::exports::tenantry::plugin::billing_hooks;
    pub use billing_hooks::{BillingProfile, FieldError, Invoice, Member, Organization};

    /// A billing plugin. Export it with [`export_billing!`](crate::export_billing).
    pub trait Billing {
        /// The organization's profile, or none when the billing system has none.
        fn get_profile(org: Organization) -> crate::Result<Option<BillingProfile>>;
        /// Invoices, newest first.
        fn list_invoices(org: Organization) -> crate::Result<Vec<Invoice>>;
        /// Extra checks on a profile being saved; an empty list accepts it.
        fn validate_profile(
            _org: Organization,
            _profile: BillingProfile,
        ) -> crate::Result<Vec<FieldError>> {
            Ok(Vec::new())
        }
        /// Whether a member whose role does not include billing may still read it.
        fn can_view_billing(_org: Organization, _member: Member) -> crate::Result<bool> {
            Ok(false)
        }
    }

    /// Implements the generated `billing-hooks` trait for a [`Billing`].
    #[doc(hidden)]
    pub struct Adapter<T>(PhantomData<T>);

    type PluginResult<T> = Result<T, crate::wit::PluginError>;

    impl<T: Billing> billing_hooks::Guest for Adapter<T> {
        fn get_profile(org: Organization) -> PluginResult<Option<BillingProfile>> {
            crate::runtime::enter();
            T::get_profile(org).map_err(Into::into)
        }
        fn list_invoices(org: Organization) -> PluginResult<Vec<Invoice>> {
            crate::runtime::enter();
            T::list_invoices(org).map_err(Into::into)
        }
        fn validate_profile(
            org: Organization,
            profile: BillingProfile,
        ) -> PluginResult<Vec<FieldError>> {
            crate::runtime::enter();
            T::validate_profile(org, profile).map_err(Into::into)
        }
        fn can_view_billing(org: Organization, member: Member) -> PluginResult<bool> {
            crate::runtime::enter();
            T::can_view_billing(org, member).map_err(Into::into)
        }
    }
}

/// Email delivery (world `email-delivery`).
pub mod email {
    use core::marker::PhantomData;

    use crate::wit::email::exports::tenantry::plugin::email_hooks;
    pub use email_hooks::{Delivery, Message};

    use crate::http::{HttpError, Response};
    use crate::text::{cut, one_line};

    /// The longest message ID the host accepts, in bytes.
    pub const MAX_ID: usize = 256;
    /// The longest reason kept by [`fit_for_host`], in bytes (the host accepts 1 000).
    pub const MAX_REASON: usize = 900;

    /// The outcome for an email API's answer (`what` names the API in the reason): 2xx is
    /// `delivered`, with the answer's `"id"` (a string or a number) when there is one; 408,
    /// 429 and 5xx are `retryable`; any other status is `permanent`. The reason quotes the
    /// answer's error ([`crate::http::error_detail`]).
    pub fn outcome(response: &Response, what: &str) -> Delivery {
        let status = response.status;
        if response.is_success() {
            let answer = response.json::<serde_json::Value>().ok();
            let id = match answer.as_ref().and_then(|v| v.get("id")) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            return Delivery::Delivered(id);
        }
        let reason = match crate::http::error_detail(&response.body) {
            Some(detail) => format!("{what} answered HTTP {status}: {detail}"),
            None => format!("{what} answered HTTP {status}"),
        };
        match status == 408 || status == 429 || status >= 500 {
            true => Delivery::Retryable(reason),
            false => Delivery::Permanent(reason),
        }
    }

    /// The outcome when the host got no answer from `what`: a timeout, a transport error or
    /// an answer over the response cap is `retryable` (the message may have been accepted:
    /// send an idempotency key), a host off the allowlist or a request that cannot be built
    /// `permanent`.
    pub fn outcome_of_error(error: HttpError, what: &str) -> Delivery {
        match error {
            HttpError::Timeout => Delivery::Retryable(format!("{what} did not answer in time")),
            HttpError::Transport(why) => Delivery::Retryable(format!("{what} unreachable: {why}")),
            HttpError::TooLarge => {
                Delivery::Retryable(format!("{what} answer larger than the response cap"))
            }
            HttpError::ForbiddenHost(host) => {
                Delivery::Permanent(format!("host {host} is not in this plugin's allowed_hosts"))
            }
            HttpError::InvalidRequest(why) => {
                Delivery::Permanent(format!("invalid request to the {what}: {why}"))
            }
        }
    }

    /// Makes an outcome acceptable to the host, which refuses IDs over [`MAX_ID`] bytes and
    /// text with control characters: reasons go on one line and are cut to [`MAX_REASON`];
    /// an unusable ID is dropped with a warning (the message *was* accepted, so it must not
    /// turn into a retry).
    pub fn fit_for_host(outcome: Delivery) -> Delivery {
        let fit = |why: String| cut(&one_line(&why), MAX_REASON).to_string();
        match outcome {
            Delivery::Delivered(Some(id))
                if id.len() > MAX_ID || id.chars().any(char::is_control) =>
            {
                log::warn!(
                    "the email API's message id is too long or has control characters; dropped"
                );
                Delivery::Delivered(None)
            }
            Delivery::Retryable(why) => Delivery::Retryable(fit(why)),
            Delivery::Permanent(why) => Delivery::Permanent(fit(why)),
            other => other,
        }
    }

    /// An email delivery plugin. Export it with [`export_email!`](crate::export_email).
    pub trait EmailDelivery {
        /// Delivers one message: `delivered`, `retryable` or `permanent`.
        fn deliver(message: Message) -> Delivery;
    }

    /// Implements the generated `email-hooks` trait for an [`EmailDelivery`].
    #[doc(hidden)]
    pub struct Adapter<T>(PhantomData<T>);

    impl<T: EmailDelivery> email_hooks::Guest for Adapter<T> {
        fn deliver(message: Message) -> Delivery {
            crate::runtime::enter();
            T::deliver(message)
        }
    }
}

/// Exports a type implementing [`sso::Sso`] as the component's `sso-hooks` and
/// `sso-extras`.
#[macro_export]
macro_rules! export_sso {
    ($ty:ty) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        type __TenantryPluginSsoExport = $crate::sso::Adapter<$ty>;
        // Components only: natively (unit tests against the mock host) nothing is exported.
        #[cfg(target_arch = "wasm32")]
        $crate::wit::sso::export_sso_world!(
            __TenantryPluginSsoExport with_types_in $crate::wit::sso
        );
    };
}

/// Exports a type implementing [`billing::Billing`] as the component's `billing-hooks`.
#[macro_export]
macro_rules! export_billing {
    ($ty:ty) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        type __TenantryPluginBillingExport = $crate::billing::Adapter<$ty>;
        // Components only: natively (unit tests against the mock host) nothing is exported.
        #[cfg(target_arch = "wasm32")]
        $crate::wit::billing::export_billing_world!(
            __TenantryPluginBillingExport with_types_in $crate::wit::billing
        );
    };
}

/// Exports a type implementing [`email::EmailDelivery`] as the component's `email-hooks`.
#[macro_export]
macro_rules! export_email {
    ($ty:ty) => {
        #[doc(hidden)]
        #[allow(dead_code)]
        type __TenantryPluginEmailExport = $crate::email::Adapter<$ty>;
        // Components only: natively (unit tests against the mock host) nothing is exported.
        #[cfg(target_arch = "wasm32")]
        $crate::wit::email::export_email_world!(
            __TenantryPluginEmailExport with_types_in $crate::wit::email
        );
    };
}

/// What every exported hook does first: install the log backend and the panic hook.
mod runtime {
    use std::sync::Once;

    /// Sends `log` records to the host log.
    struct HostLogger;

    impl log::Log for HostLogger {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }

        fn log(&self, record: &log::Record<'_>) {
            crate::sys::log(record.level(), &record.args().to_string());
        }

        fn flush(&self) {}
    }

    static LOGGER: HostLogger = HostLogger;

    /// Installs the `log` backend (once per instance; a call runs in a fresh instance).
    pub(crate) fn install_logger() {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
    }

    /// Installs the log backend and the panic hook. The hook writes the panic message and
    /// place to the host log at error level (the standard hook would write to stderr, which
    /// the host does not grant); under native tests it also keeps the standard output.
    pub(crate) fn enter() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            install_logger();
            #[cfg(not(target_arch = "wasm32"))]
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let message = info.payload_as_str().unwrap_or("(no message)");
                let place = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                crate::sys::log(log::Level::Error, &format!("panicked{place}: {message}"));
                #[cfg(not(target_arch = "wasm32"))]
                previous(info);
            }));
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::MockHost;
    use crate::wit::billing::exports::tenantry::plugin::billing_hooks::Guest as _;
    use crate::wit::email::exports::tenantry::plugin::email_hooks::Guest as _;
    use crate::wit::sso::exports::tenantry::plugin::sso_extras::Guest as _;
    use crate::wit::sso::exports::tenantry::plugin::sso_hooks::Guest as SsoHooks;
    use crate::{billing, email, sso, Error, Result};

    struct Sso;

    impl sso::Sso for Sso {
        fn start(r: sso::StartRequest, o: sso::StartOptions) -> Result<sso::StartResponse> {
            Ok(sso::StartResponse {
                redirect_url: format!("https://idp.example/?state={}", r.state),
                flow_data: format!("reselect={}", o.reselect),
            })
        }
        fn finish(r: sso::FinishRequest) -> Result<sso::Session> {
            if r.flow_data == "panic" {
                panic!("asked to panic");
            }
            Ok(sso::Session {
                identity: sso::Identity {
                    subject: "s1".into(),
                    email: "ada@example.com".into(),
                    email_verified: true,
                    name: None,
                    groups: Vec::new(),
                },
                sign_out_data: Some("token".into()),
            })
        }
    }

    fn start_request() -> sso::StartRequest {
        sso::StartRequest {
            organization_id: "org_1".into(),
            state: "st".into(),
            nonce: "n".into(),
            redirect_uri: "https://t.example/cb".into(),
            login_hint: None,
        }
    }

    fn finish_request(flow_data: &str) -> sso::FinishRequest {
        sso::FinishRequest {
            organization_id: "org_1".into(),
            params: Vec::new(),
            state: "st".into(),
            nonce: "n".into(),
            redirect_uri: "https://t.example/cb".into(),
            flow_data: flow_data.into(),
        }
    }

    #[test]
    fn the_sso_adapter_serves_both_interfaces_from_one_trait() {
        type A = sso::Adapter<Sso>;
        let _host = MockHost::new().install();
        let plain = <A as SsoHooks>::start(start_request()).unwrap();
        assert_eq!(plain.flow_data, "reselect=false");
        let again = A::start_with(start_request(), sso::StartOptions { reselect: true }).unwrap();
        assert_eq!(again.flow_data, "reselect=true");
        let identity = <A as SsoHooks>::finish(finish_request("x")).unwrap();
        assert_eq!(identity.email, "ada@example.com");
        let session = A::finish_with_session(finish_request("x")).unwrap();
        assert_eq!(session.sign_out_data.as_deref(), Some("token"));
        // The defaults: no sign-out at the provider, no checks.
        let sign_out = sso::SignOutRequest {
            organization_id: "org_1".into(),
            sign_out_data: "token".into(),
            post_logout_redirect_uri: "https://t.example/".into(),
        };
        assert_eq!(A::sign_out(sign_out).unwrap(), None);
        assert!(A::check_configuration("org_1".into()).is_empty());
    }

    #[test]
    fn a_panic_reaches_the_host_log() {
        type A = sso::Adapter<Sso>;
        let host = MockHost::new().install();
        let result = std::panic::catch_unwind(|| A::finish_with_session(finish_request("panic")));
        assert!(result.is_err());
        assert!(
            host.logs()
                .iter()
                .any(|(level, m)| *level == log::Level::Error
                    && m.starts_with("panicked at ")
                    && m.ends_with(": asked to panic")),
            "{:?}",
            host.logs()
        );
    }

    struct Billing;

    impl billing::Billing for Billing {
        fn get_profile(_: billing::Organization) -> Result<Option<billing::BillingProfile>> {
            Err(Error::upstream_unavailable("line one\nline two"))
        }
        fn list_invoices(_: billing::Organization) -> Result<Vec<billing::Invoice>> {
            Ok(Vec::new())
        }
    }

    struct Email;

    impl email::EmailDelivery for Email {
        fn deliver(m: email::Message) -> email::Delivery {
            email::Delivery::Delivered(Some(m.id))
        }
    }

    #[test]
    fn the_billing_and_email_adapters() {
        type B = billing::Adapter<Billing>;
        let _host = MockHost::new().install();
        let org = || billing::Organization {
            id: "org_1".into(),
            slug: "acme".into(),
            name: "Acme".into(),
        };
        let e = B::get_profile(org()).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("upstream_unavailable", "line one line two")
        );
        let profile: billing::BillingProfile = serde_json::from_value(serde_json::json!({
            "legal_name": "A", "billing_email": "a@b.c", "address": "x", "plan": "p"
        }))
        .unwrap();
        assert_eq!(B::validate_profile(org(), profile).unwrap(), []);
        let member = billing::Member {
            user_id: "usr_1".into(),
            email: "a@b.c".into(),
            role: "member".into(),
        };
        assert!(!B::can_view_billing(org(), member).unwrap());
        let message = email::Message {
            id: "m1".into(),
            template: "t".into(),
            sender: "s@x".into(),
            recipient: "r@x".into(),
            subject: "s".into(),
            text: String::new(),
            html: String::new(),
            attempt: 1,
        };
        assert_eq!(
            email::Adapter::<Email>::deliver(message),
            email::Delivery::Delivered(Some("m1".into()))
        );
    }

    #[test]
    fn email_outcomes_from_answers_and_failures() {
        use crate::http::{HttpError, Response};
        use email::Delivery;
        let answer = |status: u16, body: &str| Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        };
        let outcome = |status, body| email::outcome(&answer(status, body), "mail API");
        assert_eq!(
            outcome(200, r#"{"id": 7}"#),
            Delivery::Delivered(Some("7".into()))
        );
        assert_eq!(outcome(201, r#"{"id": ""}"#), Delivery::Delivered(None));
        assert_eq!(outcome(204, ""), Delivery::Delivered(None));
        assert_eq!(
            outcome(408, ""),
            Delivery::Retryable("mail API answered HTTP 408".into())
        );
        assert_eq!(
            outcome(400, r#"{"error": {"code": 1}}"#),
            Delivery::Permanent(r#"mail API answered HTTP 400: {"error": {"code": 1}}"#.into())
        );
        let failed = |e| email::outcome_of_error(e, "mail API");
        assert!(matches!(
            failed(HttpError::TooLarge),
            Delivery::Retryable(_)
        ));
        assert_eq!(
            failed(HttpError::Transport("refused".into())),
            Delivery::Retryable("mail API unreachable: refused".into())
        );
        assert_eq!(
            failed(HttpError::InvalidRequest("bad URL".into())),
            Delivery::Permanent("invalid request to the mail API: bad URL".into())
        );
        let _host = MockHost::new().install();
        let control = Delivery::Delivered(Some("a\nb".into()));
        assert_eq!(email::fit_for_host(control), Delivery::Delivered(None));
        let fine = Delivery::Delivered(Some("x".repeat(email::MAX_ID)));
        assert_eq!(email::fit_for_host(fine.clone()), fine);
    }

    #[test]
    fn json_of_a_successful_answer_and_error_details() {
        use crate::http::{error_detail, Response};
        let answer = |status: u16, body: &str| Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        };
        let n: u32 = answer(200, "3").json_ok("GET n").unwrap();
        assert_eq!(n, 3);
        let e = answer(200, "x").json_ok::<u32>("GET n").unwrap_err();
        assert_eq!(e.code, "upstream_invalid");
        assert!(e.message.starts_with("GET n: unexpected answer: "), "{e}");
        let e = answer(404, "no\r\nsuch")
            .json_ok::<u32>("GET n")
            .unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("upstream_error", "GET n answered HTTP 404: no  such")
        );
        assert_eq!(error_detail(br#"{"error": "e"}"#).as_deref(), Some("e"));
        assert_eq!(
            error_detail(br#"{"error": {"message": "m"}}"#).as_deref(),
            Some("m")
        );
        assert_eq!(error_detail(" ".as_bytes()), None);
        let long = error_detail("é".repeat(300).as_bytes()).unwrap();
        assert_eq!(long.chars().count(), 201);
    }
}
