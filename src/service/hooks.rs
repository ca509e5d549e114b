//! The plugin seam: what the services ask of plugins, in plain Rust types. `plugin_host`
//! implements [`Hooks`] with WebAssembly components; nothing else in the crate knows how a
//! plugin runs. Every value a plugin returns is checked again by the service that uses it.

use std::fmt;

use serde::Serialize;

/// The three things a plugin can do (one per WIT world).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookKind {
    /// World `sso`: start and finish a single sign-on.
    Sso,
    /// World `billing-profile`: billing profile, invoices, profile checks.
    BillingProfile,
    /// World `email-delivery`: deliver outgoing email.
    EmailDelivery,
}

impl HookKind {
    /// The WIT world's name.
    pub fn world(self) -> &'static str {
        match self {
            HookKind::Sso => "sso",
            HookKind::BillingProfile => "billing-profile",
            HookKind::EmailDelivery => "email-delivery",
        }
    }

    /// Every kind, in contract order.
    pub const ALL: [HookKind; 3] = [
        HookKind::Sso,
        HookKind::BillingProfile,
        HookKind::EmailDelivery,
    ];
}

/// Why one plugin call produced no usable answer. Each variant ends that call only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookError {
    /// No plugin of that name is loaded, or it does not implement the hook.
    Unavailable(String),
    /// The plugin trapped (panic, `unreachable`, a WASI call it was not granted, …).
    Trap(String),
    /// The call ran past its deadline.
    Timeout,
    /// The plugin tried to grow its memory past its limit.
    MemoryLimit,
    /// Every instance slot is in use; try again.
    Busy,
    /// The plugin answered, but with values the host refuses.
    InvalidOutput(String),
    /// The plugin reported a failure of its own (`code` is its word for it).
    Plugin {
        /// Short machine-readable word chosen by the plugin (checked: `[a-z0-9_]{1,64}`).
        code: String,
        /// Detail for the log.
        message: String,
    },
}

impl HookError {
    /// A stable code for logs, problem documents and the email outbox.
    pub fn code(&self) -> &str {
        match self {
            HookError::Unavailable(_) => "plugin_unavailable",
            HookError::Trap(_) => "plugin_trap",
            HookError::Timeout => "plugin_timeout",
            HookError::MemoryLimit => "plugin_memory_limit",
            HookError::Busy => "plugin_busy",
            HookError::InvalidOutput(_) => "plugin_invalid_output",
            HookError::Plugin { .. } => "plugin_error",
        }
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookError::Unavailable(m) => write!(f, "plugin unavailable: {m}"),
            HookError::Trap(m) => write!(f, "plugin trapped: {m}"),
            HookError::Timeout => f.write_str("plugin call timed out"),
            HookError::MemoryLimit => f.write_str("plugin hit its memory limit"),
            HookError::Busy => f.write_str("every plugin instance slot is busy"),
            HookError::InvalidOutput(m) => write!(f, "plugin returned invalid output: {m}"),
            HookError::Plugin { code, message } => write!(f, "plugin error {code}: {message}"),
        }
    }
}

/// Result of one hook call.
pub type HookResult<T> = std::result::Result<T, HookError>;

/// Input of `sso.start`.
#[derive(Clone, Debug)]
pub struct SsoStart {
    /// The organization whose single sign-on this is (its stable ID).
    pub org_id: String,
    /// Opaque value checked on the callback.
    pub state: String,
    /// Value the ID token must carry.
    pub nonce: String,
    /// The callback URL.
    pub redirect_uri: String,
    /// The address the person typed.
    pub login_hint: Option<String>,
    /// This browser's previous sign-in ended with an identity the host refused: ask the
    /// provider to let the person choose the account again (needs `sso-extras`).
    pub reselect: bool,
}

/// Output of `sso.start`.
#[derive(Clone, Debug)]
pub struct SsoRedirect {
    /// Where to send the browser.
    pub redirect_url: String,
    /// Plugin data kept with the state until the callback.
    pub flow_data: String,
}

/// Input of `sso.finish`.
#[derive(Clone, Debug)]
pub struct SsoFinish {
    /// The organization the sign-in was started for (its stable ID).
    pub org_id: String,
    /// Callback query parameters.
    pub params: Vec<(String, String)>,
    /// The state this flow started with.
    pub state: String,
    /// The nonce this flow started with.
    pub nonce: String,
    /// The callback URL.
    pub redirect_uri: String,
    /// What `start` asked to keep.
    pub flow_data: String,
}

/// An identity vouched for by an identity provider (not yet checked by the service).
#[derive(Clone, Debug)]
pub struct SsoIdentity {
    /// Provider's subject.
    pub subject: String,
    /// Email as the provider sent it.
    pub email: String,
    /// Whether the provider vouches for the email.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// What a later sign-out at the provider needs (opaque; only from plugins with
    /// `sso-extras` that sign out there).
    pub sign_out_data: Option<String>,
}

/// Input of `sso-extras.sign-out`.
#[derive(Clone, Debug)]
pub struct SsoSignOut {
    /// The organization whose single sign-on started the session.
    pub org_id: String,
    /// What the plugin answered at finish.
    pub sign_out_data: String,
    /// Where the provider sends the browser afterwards.
    pub post_logout_redirect_uri: String,
}

/// One named check of `sso-extras.check-configuration`.
#[derive(Clone, Debug, Serialize)]
pub struct SsoCheck {
    /// Short machine-readable name (`discovery`, `issuer`, `jwks`, …).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to change when it failed.
    pub fix: Option<String>,
}

/// The organization a billing hook is about.
#[derive(Clone, Debug)]
pub struct BillingOrg {
    /// `org_…`
    pub id: String,
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
}

impl BillingOrg {
    /// The organization as billing hooks see it.
    pub fn of(org: &crate::domain::entities::Organization) -> BillingOrg {
        BillingOrg {
            id: org.id.to_string(),
            slug: org.slug.clone(),
            name: org.name.clone(),
        }
    }
}

/// A member the roles refuse billing access, asked about by `can-view-billing`.
#[derive(Clone, Debug)]
pub struct BillingMember {
    /// `usr_…`
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Organization role.
    pub role: String,
}

/// A billing profile as a plugin sent it (checked by the service).
#[derive(Clone, Debug)]
pub struct BillingProfileData {
    /// Legal name.
    pub legal_name: String,
    /// Billing email.
    pub billing_email: String,
    /// Postal address.
    pub address: String,
    /// Tax ID.
    pub tax_id: Option<String>,
    /// Plan.
    pub plan: String,
}

/// An invoice as a plugin sent it: the same shape as an imported one, checked by the same
/// rules before anyone sees it.
pub type InvoiceData = crate::service::org_settings::InvoiceInput;

/// One outgoing email handed to a delivery plugin.
#[derive(Clone, Debug)]
pub struct EmailMessage {
    /// Stable across retries.
    pub id: String,
    /// Template name.
    pub template: String,
    /// Sender.
    pub sender: String,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// 1 on the first try.
    pub attempt: u32,
}

/// What a delivery plugin reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailOutcome {
    /// Accepted upstream (with the upstream's message ID, if any).
    Delivered(Option<String>),
    /// Try again later.
    Retryable(String),
    /// Retrying cannot help.
    Permanent(String),
}

/// A configured plugin as `tenantry plugin list` and the logs show it.
#[derive(Clone, Debug, Serialize)]
pub struct PluginStatus {
    /// Configured name.
    pub name: String,
    /// The component file.
    pub file: String,
    /// `ready` or `failed`.
    pub state: &'static str,
    /// Worlds the component implements.
    pub worlds: Vec<&'static str>,
    /// Why it failed to load, when it did.
    pub error: Option<String>,
    /// Hosts it may call.
    pub allowed_hosts: Vec<String>,
}

/// What services may ask of plugins. Implemented by `plugin_host::PluginHost`; [`NoPlugins`]
/// when none are configured.
pub trait Hooks: Send + Sync + fmt::Debug {
    /// Whether plugin `name` is loaded and implements `kind`.
    fn supports(&self, name: &str, kind: HookKind) -> bool;
    /// Every configured plugin and its state.
    fn status(&self) -> Vec<PluginStatus>;
    /// `sso.start`.
    fn sso_start(&self, plugin: &str, req: SsoStart) -> HookResult<SsoRedirect>;
    /// `sso.finish` (`sso-extras.finish-with-session` when the plugin has it).
    fn sso_finish(&self, plugin: &str, req: SsoFinish) -> HookResult<SsoIdentity>;
    /// `sso-extras.sign-out`: the provider's sign-out URL; `None` when there is nothing to
    /// do or the plugin has no `sso-extras`.
    fn sso_sign_out(&self, plugin: &str, req: SsoSignOut) -> HookResult<Option<String>>;
    /// `sso-extras.check-configuration`; `None` when the plugin has no `sso-extras` (built
    /// against 2.0.0).
    fn sso_check(&self, plugin: &str, org_id: &str) -> HookResult<Option<Vec<SsoCheck>>>;
    /// `billing.get-profile`.
    fn billing_profile(
        &self,
        plugin: &str,
        org: &BillingOrg,
    ) -> HookResult<Option<BillingProfileData>>;
    /// `billing.list-invoices`.
    fn billing_invoices(&self, plugin: &str, org: &BillingOrg) -> HookResult<Vec<InvoiceData>>;
    /// `billing.validate-profile`: field errors as (field, message).
    fn billing_validate(
        &self,
        plugin: &str,
        org: &BillingOrg,
        profile: &BillingProfileData,
    ) -> HookResult<Vec<(String, String)>>;
    /// `billing.can-view-billing`.
    fn billing_can_view(
        &self,
        plugin: &str,
        org: &BillingOrg,
        member: &BillingMember,
    ) -> HookResult<bool>;
    /// `email.deliver`.
    fn email_deliver(&self, plugin: &str, msg: &EmailMessage) -> HookResult<EmailOutcome>;
}

/// The hooks of a server without plugins: every call is `Unavailable`.
#[derive(Debug, Default)]
pub struct NoPlugins;

impl NoPlugins {
    fn none<T>(plugin: &str) -> HookResult<T> {
        Err(HookError::Unavailable(format!(
            "no plugin named {plugin:?} is configured"
        )))
    }
}

impl Hooks for NoPlugins {
    fn supports(&self, _: &str, _: HookKind) -> bool {
        false
    }
    fn status(&self) -> Vec<PluginStatus> {
        Vec::new()
    }
    fn sso_start(&self, plugin: &str, _: SsoStart) -> HookResult<SsoRedirect> {
        Self::none(plugin)
    }
    fn sso_finish(&self, plugin: &str, _: SsoFinish) -> HookResult<SsoIdentity> {
        Self::none(plugin)
    }
    fn sso_sign_out(&self, plugin: &str, _: SsoSignOut) -> HookResult<Option<String>> {
        Self::none(plugin)
    }
    fn sso_check(&self, plugin: &str, _: &str) -> HookResult<Option<Vec<SsoCheck>>> {
        Self::none(plugin)
    }
    fn billing_profile(
        &self,
        plugin: &str,
        _: &BillingOrg,
    ) -> HookResult<Option<BillingProfileData>> {
        Self::none(plugin)
    }
    fn billing_invoices(&self, plugin: &str, _: &BillingOrg) -> HookResult<Vec<InvoiceData>> {
        Self::none(plugin)
    }
    fn billing_validate(
        &self,
        plugin: &str,
        _: &BillingOrg,
        _: &BillingProfileData,
    ) -> HookResult<Vec<(String, String)>> {
        Self::none(plugin)
    }
    fn billing_can_view(
        &self,
        plugin: &str,
        _: &BillingOrg,
        _: &BillingMember,
    ) -> HookResult<bool> {
        Self::none(plugin)
    }
    fn email_deliver(&self, plugin: &str, _: &EmailMessage) -> HookResult<EmailOutcome> {
        Self::none(plugin)
    }
}

/// Plugin-scoped key-value storage, provided to the plugin host by the application.
pub trait PluginKv: Send + Sync {
    /// The value under `key` for `plugin`.
    fn get(&self, plugin: &str, key: &str) -> crate::error::Result<Option<Vec<u8>>>;
    /// Stores a value; refuses (with a reason) past the per-plugin key count.
    fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
    ) -> crate::error::Result<Result<(), String>>;
    /// Removes a key.
    fn delete(&self, plugin: &str, key: &str) -> crate::error::Result<()>;
}
