//! What every use case works with: the store, keys, hasher, throttles, plugins, mailer and
//! views of one running instance. It is defined here, by the layer that uses it, and built by
//! the composition root (`src/app.rs`) — so no use case depends on how the process starts,
//! and a service can be tested with a context built from parts (see the tests below).

use std::sync::Arc;

use super::hooks::Hooks;
use super::ratelimit::Limits;
use crate::config::Config;
use crate::crypto::{Keyring, PasswordHasherPool};
use crate::store::Store;
use crate::views::Views;

/// Everything a request or a command needs.
#[derive(Debug)]
pub struct Context {
    /// Validated configuration.
    pub config: Config,
    /// Base URL for every absolute link.
    pub public_url: String,
    /// The database.
    pub store: Arc<Store>,
    /// Keyed hashing under the server secret.
    pub keyring: Keyring,
    /// Bounded Argon2id hashing.
    pub hasher: PasswordHasherPool,
    /// The throttles of sign-in, password reset, invitations and single sign-on.
    pub limits: Limits,
    /// Page and email templates.
    pub views: Views,
    /// API key cache and usage counters.
    pub keys: super::keycache::KeyCache,
    /// Wakes the email worker.
    pub doorbell: super::mail::Doorbell,
    /// Public password-reset requests waiting for the reset worker (no timing oracle).
    pub reset_queue: super::passwords::ResetQueue,
    /// Plugins (none outside `serve` and `plugin` commands).
    pub hooks: Arc<dyn Hooks>,
    /// CA roots of outbound TLS (SMTP).
    pub tls_roots: crate::tls::TrustRoots,
    /// Prometheus metrics (recorded always; served only when configured).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Context {
    /// True when the public URL is https (cookies get `Secure`).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::Secret;
    use crate::error::Error;
    use crate::service::setup::{init_admin, SetupInput};

    /// A context built from parts, as a use-case test needs it: a store in a fresh directory
    /// and a key from bytes — no server secret file, no configuration file, no plugins.
    pub(crate) fn context_from_parts(dir: &std::path::Path) -> Context {
        let raw = crate::config::RawConfig::load(None, &|_| None).expect("defaults");
        let config = Config::from_raw(&raw).expect("default configuration");
        let store = Arc::new(Store::open(dir).expect("store"));
        let metrics = Arc::new(crate::metrics::Metrics::new(store.write_latency()));
        Context {
            public_url: "http://tenantry.test".into(),
            store,
            keyring: Keyring::new(b"a test key of at least thirty-two bytes"),
            hasher: PasswordHasherPool::new(1),
            limits: Limits::default(),
            views: Views::new().expect("views"),
            keys: super::super::keycache::KeyCache::new(),
            doorbell: Default::default(),
            reset_queue: Default::default(),
            hooks: Arc::new(super::super::hooks::NoPlugins),
            tls_roots: crate::tls::TrustRoots::bundled(),
            metrics,
            config,
        }
    }

    #[test]
    fn a_use_case_runs_on_a_context_built_from_parts() {
        let dir = std::env::temp_dir().join(crate::crypto::new_id("tenantry-ctx"));
        let ctx = context_from_parts(&dir);
        let input = || SetupInput {
            email: "first@example.test".into(),
            password: Secret::new("correct horse battery staple"),
            name: "First".into(),
        };
        let admin = init_admin(&ctx, input()).expect("the first admin is created");
        assert_eq!(admin.email.as_str(), "first@example.test");
        assert!(
            matches!(init_admin(&ctx, input()), Err(Error::Conflict(_))),
            "a second first admin is refused"
        );
        assert!(
            !dir.join("secret.key").exists(),
            "nothing reached for the server secret file"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
