//! Single sign-on through `sso` plugins. An organization with the `sso` feature picks a
//! plugin and the email domains it owns; an address in one of those domains signs in there.
//! The host owns the state, the nonce and the browser binding; the plugin builds the
//! redirect and turns the callback into an identity. A domain does nothing until the
//! organization proved it owns it ([`crate::service::sso_domains`]), and the plugin must be
//! one the organization may use ([`crate::service::org_plugins`]). The identity is accepted
//! only with a verified email in one of that organization's verified domains (fail closed).
//! First sign-in provisions the user (`auth = sso`, no password) and, when configured, joins
//! them to the organization; an existing account with that email is linked (and becomes
//! SSO-managed; the person is emailed and the link audited), except an instance
//! administrator's, which is never linked or converted.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::crypto::{new_token, Secret};
use crate::domain::AuditAction;
use crate::domain::{Auth, CompanyAccess, Email, Feature, OrgId, OrgRole, SsoFailure, User};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::auth::{start_session, NewSession};
use crate::service::authz::{grant_ceiling, Features, Grant, OrgAccess};
use crate::service::hooks::{HookError, HookKind, SsoCheck, SsoFinish, SsoSignOut, SsoStart};
use crate::service::sso_domains::{unclaimable, DomainView};
use crate::service::Context;
use crate::service::{mail, now, org_plugins};
use crate::store::{NewSsoFlow, SsoFlowRow, SsoSessionRow};
use crate::views::email::Message;

/// How long a started sign-in may take.
pub const FLOW_TTL_SECS: i64 = 600;
/// The cookie that binds a sign-in to the browser that started it.
pub const BINDING_COOKIE: &str = "tenantry_sso";
/// The cookie that remembers, in the browser that tried, that the provider's last identity
/// was refused: the next start of that plugin asks the provider to choose the account
/// again. Its value is the plugin's name; it only ever makes the provider ask again, so
/// nothing security-relevant rests on it.
pub const RESELECT_COOKIE: &str = "tenantry_sso_reselect";
const SEAL_CONTEXT: &str = "sso-flow";
const SIGN_OUT_CONTEXT: &str = "sso-sign-out";
const MAX_DOMAINS: usize = 50;

/// An organization's SSO settings as the API shows them.
#[derive(Debug, Serialize)]
pub struct SsoSettings {
    /// Whether a connection is configured.
    pub configured: bool,
    /// The plugin.
    pub plugin: Option<String>,
    /// Whether that plugin is loaded and implements `sso`.
    pub plugin_ready: bool,
    /// Whether an instance administrator allows this organization to use that plugin.
    pub plugin_allowed: bool,
    /// Email domains claimed for this connection (only verified ones sign in here).
    pub domains: Vec<String>,
    /// Each domain's ownership: `pending` or `verified`, and the TXT record that proves it.
    pub domain_verification: Vec<DomainView>,
    /// Role given on first sign-in (`null`: users are created but not joined).
    pub join_role: Option<OrgRole>,
    /// The last failed sign-in of this organization since the last successful one
    /// (only for those who may change the settings; `null` otherwise or when none failed).
    pub last_error: Option<SsoLastError>,
}

/// A failed sign-in as administrators see it: the exact reason, which the person who tried
/// to sign in is not shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoLastError {
    /// When (unix seconds).
    pub at: i64,
    /// `configuration` (will not fix itself: ask an administrator) or `temporary` (the
    /// provider was unreachable or busy: trying again may work).
    pub kind: String,
    /// The plugin that failed.
    pub plugin: String,
    /// `start` or `finish`.
    pub stage: String,
    /// The plugin's code (e.g. `client_auth_refused`) or the host's (e.g. `timeout`).
    pub code: String,
    /// The plugin's detail (no secrets: plugins never put them in messages).
    pub message: String,
}

/// The plugin-key-value namespace where the host keeps SSO state of its own. It is not a
/// valid plugin name, so no plugin can read or change it.
const HOST_KV: &str = "tenantry:sso";

fn last_error_key(org: &OrgId) -> String {
    format!("last-error/{org}")
}

/// Codes of `sso` plugins that mean the configuration is wrong (on either side) and will
/// not fix itself; every other failure is treated as temporary.
const CONFIGURATION_CODES: &[&str] = &[
    "misconfigured",
    "host_not_allowed",
    "discovery_failed",
    "client_auth_refused",
    "missing_email",
    "userinfo_failed",
    "invalid_id_token",
];

/// Whether a failed hook call is a configuration problem (else temporary).
fn is_configuration_error(e: &HookError) -> bool {
    match e {
        HookError::Plugin { code, .. } => CONFIGURATION_CODES.contains(&code.as_str()),
        HookError::Timeout | HookError::Busy => false,
        HookError::Unavailable(_)
        | HookError::Trap(_)
        | HookError::MemoryLimit
        | HookError::InvalidOutput(_) => true,
    }
}

/// Logs a failed hook call, keeps it for the organization's administrators, and answers
/// the person's error: "ask your administrator" or "try again".
fn hook_failed(app: &Context, org: &OrgId, plugin: &str, stage: &str, e: HookError) -> Error {
    let configuration = is_configuration_error(&e);
    let kind = if configuration {
        "configuration"
    } else {
        "temporary"
    };
    log::warn!("sso {stage} with plugin {plugin} failed ({kind}): {e}");
    let (code, message) = match &e {
        HookError::Plugin { code, message } => (code.clone(), message.clone()),
        other => (other.code().to_string(), other.to_string()),
    };
    let record = SsoLastError {
        at: now(),
        kind: kind.to_string(),
        plugin: plugin.to_string(),
        stage: stage.to_string(),
        code,
        message,
    };
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    let key = last_error_key(org);
    if let Err(err) = app
        .store
        .write(|tx| tx.plugin_kv_set(HOST_KV, &key, &bytes, i64::MAX, record.at))
    {
        log::error!("could not keep the last sso error of {org}: {err}");
    }
    if configuration {
        sso_error(
            SsoFailure::Misconfigured,
            "single sign-on for your organization is not set up correctly, so it cannot sign you in; \
             ask your administrator (the exact reason is in the organization's single sign-on settings)",
        )
    } else if stage == "start" {
        sso_error(
            SsoFailure::ProviderFailed,
            "the single sign-on service could not start the sign-in; try again later",
        )
    } else {
        sso_error(
            SsoFailure::ProviderFailed,
            "the single sign-on service could not confirm who you are; try again",
        )
    }
}

/// The kept last error of `org`'s single sign-on.
fn last_error(app: &Context, org: &OrgId) -> Result<Option<SsoLastError>> {
    let bytes = app
        .store
        .read(|c| c.plugin_kv_get(HOST_KV, &last_error_key(org)))?;
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Body of `PUT /orgs/{org}/sso`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSettingsInput {
    /// The plugin (must be loaded and implement `sso`).
    pub plugin: String,
    /// Email domains, e.g. `["example.com"]`.
    pub domains: Vec<String>,
    /// `admin`, `billing`, `member` or null.
    #[serde(default)]
    pub join_role: Option<String>,
}

fn require_sso(access: &OrgAccess) -> Result<()> {
    if access.features().on(Feature::Sso) {
        Ok(())
    } else {
        Err(Error::FeatureDisabled("sso"))
    }
}

/// The SSO settings (organization readers, `sso` feature on).
pub fn get_settings(app: &Context, access: &OrgAccess) -> Result<SsoSettings> {
    access.permit::<crate::service::authz::perm::OrgRead>()?;
    require_sso(access)?;
    let org = access.org_id();
    let row = app.store.read(|c| c.sso_connection(org))?;
    let may_update = access
        .permit::<crate::service::authz::perm::OrgUpdate>()
        .is_ok();
    Ok(match row {
        Some(r) => SsoSettings {
            last_error: if may_update {
                last_error(app, org)?
            } else {
                None
            },
            configured: true,
            plugin_ready: app.hooks.supports(&r.plugin, HookKind::Sso),
            plugin_allowed: org_plugins::allowed(app, org, &r.plugin)?,
            plugin: Some(r.plugin),
            domains: r.domains.iter().map(|d| d.domain.clone()).collect(),
            domain_verification: r.domains.iter().map(DomainView::of).collect(),
            join_role: r.join_role,
        },
        None => SsoSettings {
            configured: false,
            plugin: None,
            plugin_ready: false,
            plugin_allowed: false,
            domains: Vec::new(),
            domain_verification: Vec::new(),
            join_role: None,
            last_error: None,
        },
    })
}

/// Normalises an email domain the way [`Email`] does (lower case, IDN as punycode).
fn normalise_domain(d: &str) -> std::result::Result<String, &'static str> {
    let d = d.trim();
    if !d.is_empty() && !d.contains(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}']) {
        return Err("must have a dot, like example.com");
    }
    // Not through an address (`x@domain`): a 253-byte domain is a valid name even though
    // no address under it fits in 254 bytes.
    crate::domain::email::domain_to_ascii(d).ok_or("is not a domain name")
}

/// Configures SSO (owners and admins: `org.update`, `sso` feature on). The plugin must be
/// one the organization may use; a new domain starts `pending`; public suffixes and
/// free-mail domains are refused; a domain another organization verified is a conflict.
pub fn put_settings(
    app: &Context,
    access: &OrgAccess,
    input: SsoSettingsInput,
) -> Result<SsoSettings> {
    access.permit::<crate::service::authz::perm::OrgUpdate>()?;
    require_sso(access)?;
    let mut errs = Vec::new();
    if !app.hooks.supports(&input.plugin, HookKind::Sso) {
        errs.push(FieldError::conflict(
            "plugin",
            format!("no loaded plugin named {:?} implements sso", input.plugin),
        ));
    } else if !org_plugins::allowed(app, access.org_id(), &input.plugin)? {
        if let Error::Validation(mut e) = org_plugins::not_allowed(&input.plugin) {
            errs.append(&mut e);
        }
    }
    if input.domains.is_empty() || input.domains.len() > MAX_DOMAINS {
        errs.push(FieldError::new(
            "domains",
            format!("list 1 to {MAX_DOMAINS} email domains"),
        ));
    }
    let mut domains = Vec::new();
    for (i, d) in input.domains.iter().enumerate() {
        match normalise_domain(d) {
            Ok(d) => match unclaimable(&d) {
                Some(m) => errs.push(FieldError::new(format!("domains[{i}]"), m)),
                None if !domains.contains(&d) => domains.push(d),
                None => {}
            },
            Err(m) => errs.push(FieldError::new(format!("domains[{i}]"), m)),
        }
    }
    let join_role = match input.join_role.as_deref().map(OrgRole::parse) {
        None => None,
        Some(Some(r @ (OrgRole::Admin | OrgRole::Billing | OrgRole::Member))) => Some(r),
        Some(Some(OrgRole::Owner) | None) => {
            errs.push(FieldError::new(
                "join_role",
                "must be admin, billing, member or null",
            ));
            None
        }
    };
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    domains.sort();
    let org = access.org_id();
    // A join role is a standing grant to whoever the provider vouches for: setting it (to
    // something new) passes the grant ceiling, as inviting with that role would (an admin
    // cannot make SSO sign-ins `billing`). Those who join get no company until assigned.
    let current = app
        .store
        .read(|c| c.sso_connection(org))?
        .and_then(|c| c.join_role);
    if let Some(role) = join_role {
        if current != join_role && !access.principal().is_instance_admin() {
            grant_ceiling(
                app,
                access.principal(),
                Grant::Org {
                    org: org.clone(),
                    role,
                    company_access: CompanyAccess::List(Vec::new()),
                },
            )?;
        }
    }
    // A fresh token for each domain; a domain already listed keeps its own.
    let claims: Vec<(String, String)> = domains
        .iter()
        .map(|d| (d.clone(), new_token().expose().to_string()))
        .collect();
    app.store.write(|tx| {
        tx.put_sso_connection(org, &input.plugin, join_role, &claims, now())?;
        audit::record(
            tx,
            org,
            &Actor::of(access.principal()),
            AuditAction::SsoConfigured,
            ("organization", org.as_str()),
            json!({"plugin": input.plugin, "domains": domains, "join_role": join_role}),
        )
    })?;
    get_settings(app, access)
}

/// Removes the SSO connection (`org.update`).
pub fn delete_settings(app: &Context, access: &OrgAccess) -> Result<()> {
    access.permit::<crate::service::authz::perm::OrgUpdate>()?;
    require_sso(access)?;
    let org = access.org_id();
    app.store.write(|tx| {
        if !tx.delete_sso_connection(org)? {
            return Err(Error::NotFound);
        }
        tx.plugin_kv_delete(HOST_KV, &last_error_key(org))?;
        audit::record(
            tx,
            org,
            &Actor::of(access.principal()),
            AuditAction::SsoRemoved,
            ("organization", org.as_str()),
            json!({}),
        )
    })
}

/// Where an address signs in with SSO.
#[derive(Debug, Clone)]
pub struct SsoRoute {
    /// The organization that owns the address's domain.
    pub org_id: OrgId,
    /// Its plugin.
    pub plugin: String,
}

/// The SSO route for an address: its domain was verified by an organization whose `sso`
/// feature is on and which may use its connection's plugin. `None` for everyone else
/// (they sign in with a password); a pending domain routes nothing.
pub fn route_for(app: &Context, email: &str) -> Result<Option<SsoRoute>> {
    let Ok(email) = Email::parse(email) else {
        return Ok(None);
    };
    app.store.read(|c| {
        let Some(org) = c.sso_org_for_domain(email.domain())? else {
            return Ok(None);
        };
        if !Features::resolve(app, &c.org_features(&org)?).on(Feature::Sso) {
            return Ok(None);
        }
        let Some(conn) = c.sso_connection(&org)? else {
            return Ok(None);
        };
        if !c.org_plugin_allowed(&org, &conn.plugin)? {
            return Ok(None);
        }
        Ok(Some(SsoRoute {
            org_id: org,
            plugin: conn.plugin,
        }))
    })
}

/// The URL that starts a sign-in for `email` with `plugin`.
pub fn start_url(app: &Context, plugin: &str, email: &str) -> String {
    format!(
        "{}/sso/{plugin}/start?{}",
        app.public_url,
        form_urlencoded::Serializer::new(String::new())
            .append_pair("email", email.trim())
            .finish()
    )
}

/// A started sign-in: where to send the browser and the binding cookie to set.
#[derive(Debug)]
pub struct Started {
    /// The identity provider's URL.
    pub redirect_url: String,
    /// Value of the [`BINDING_COOKIE`].
    pub binding: Secret,
}

fn sso_error(code: SsoFailure, message: impl Into<String>) -> Error {
    Error::Sso {
        code,
        message: message.into(),
    }
}

fn callback_url(app: &Context, plugin: &str) -> String {
    format!("{}/sso/{plugin}/callback", app.public_url)
}

/// Starts a sign-in for `email` with `plugin` from `client` (an IP address). Starts are
/// throttled per client: from the 30th unfinished start in 15 minutes, 1 s, doubling.
/// `reselect`: this browser's previous identity from `plugin` was refused, so the provider
/// is asked to let the person choose the account again.
pub fn start(
    app: &Context,
    plugin: &str,
    email: &str,
    next: Option<String>,
    client: &str,
    reselect: bool,
) -> Result<Started> {
    if let Err(secs) = app.limits.sso_start.check(client) {
        return Err(Error::RateLimited {
            retry_after_secs: secs,
        });
    }
    app.limits.sso_start.failure(client);
    let route = route_for(app, email)?.filter(|r| r.plugin == plugin).ok_or_else(|| {
        sso_error(
            SsoFailure::NotConfigured,
            "this email address does not sign in with this single sign-on; sign in with your password",
        )
    })?;
    let state = new_token();
    let nonce = new_token().expose().to_string();
    let binding = new_token();
    let redirect = app
        .hooks
        .sso_start(
            plugin,
            SsoStart {
                org_id: route.org_id.to_string(),
                state: state.expose().to_string(),
                nonce: nonce.clone(),
                redirect_uri: callback_url(app, plugin),
                login_hint: Some(email.trim().to_string()),
                reselect,
            },
        )
        .map_err(|e| hook_failed(app, &route.org_id, plugin, "start", e))?;
    let now = now();
    let flow = SsoFlowRow {
        org_id: route.org_id,
        plugin: plugin.to_string(),
        nonce,
        flow_data: app
            .keyring
            .seal(SEAL_CONTEXT, redirect.flow_data.as_bytes()),
        browser_hash: app.keyring.token_hash(binding.expose()),
        next,
        login_hint: Some(email.trim().chars().take(320).collect()),
        expires_at: now + FLOW_TTL_SECS,
    };
    let state_hash = app.keyring.token_hash(state.expose());
    app.store.write(|tx| {
        tx.insert_sso_flow(NewSsoFlow {
            state_hash: &state_hash,
            flow: &flow,
            now,
        })
    })?;
    Ok(Started {
        redirect_url: redirect.redirect_url,
        binding,
    })
}

/// A finished sign-in.
#[derive(Debug)]
pub struct Finished {
    /// The new session.
    pub session: NewSession,
    /// Where to go next.
    pub next: Option<String>,
    /// Whether the account was created now.
    pub created: bool,
}

/// A sign-in that failed; `refused` when the provider vouched for an identity that the host
/// refused (the browser that tried is told which, and offered another account).
#[derive(Debug)]
pub struct FinishFailure {
    /// What went wrong.
    pub error: Error,
    /// The refused identity, when there was one.
    pub refused: Option<Refused>,
}

impl From<Error> for FinishFailure {
    fn from(error: Error) -> Self {
        FinishFailure {
            error,
            refused: None,
        }
    }
}

/// An identity the provider vouched for and the host refused.
#[derive(Debug)]
pub struct Refused {
    /// The account as the provider named it (its email address).
    pub account: String,
    /// The plugin.
    pub plugin: String,
    /// Where "Use another account" starts the sign-in again (a local path).
    pub retry_path: String,
}

/// Finishes a sign-in from the identity provider's callback.
pub fn finish(
    app: &Context,
    plugin: &str,
    params: Vec<(String, String)>,
    binding: Option<&str>,
    client_ip: &str,
) -> std::result::Result<Finished, FinishFailure> {
    let state_invalid = || {
        sso_error(
            SsoFailure::StateInvalid,
            "this sign-in link is invalid, was already used or has expired; start the sign-in again",
        )
    };
    let state = params
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.clone())
        .ok_or_else(state_invalid)?;
    let flow = app
        .store
        .write(|tx| tx.take_sso_flow(&app.keyring.token_hash(&state)))?
        .ok_or_else(state_invalid)?;
    if flow.plugin != plugin || flow.expires_at <= now() {
        return Err(state_invalid().into());
    }
    // The state must come back to the browser that started the sign-in.
    let bound = binding.is_some_and(|b| app.keyring.verify_token(b, &flow.browser_hash));
    if !bound {
        return Err(sso_error(
            SsoFailure::StateInvalid,
            "this sign-in was started in another browser; start it again here",
        )
        .into());
    }
    let flow_data = app.keyring.open(SEAL_CONTEXT, &flow.flow_data)?;
    let identity = app
        .hooks
        .sso_finish(
            plugin,
            SsoFinish {
                org_id: flow.org_id.to_string(),
                params,
                state,
                nonce: flow.nonce.clone(),
                redirect_uri: callback_url(app, plugin),
                flow_data: String::from_utf8_lossy(&flow_data).into_owned(),
            },
        )
        .map_err(|e| hook_failed(app, &flow.org_id, plugin, "finish", e))?;
    accept(app, plugin, &flow, &identity, client_ip).map_err(|error| {
        // Only the browser bound to this flow gets here, so naming the account is safe.
        let refused = match &error {
            Error::Sso { code, .. } => code.refuses_identity(),
            Error::AccountDisabled => true,
            _ => false,
        };
        let refused = refused.then(|| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair(
                "email",
                flow.login_hint
                    .as_deref()
                    .unwrap_or(identity.email.as_str()),
            );
            if let Some(next) = &flow.next {
                q.append_pair("next", next);
            }
            Refused {
                account: identity.email.chars().take(320).collect(),
                plugin: plugin.to_string(),
                retry_path: format!("/sso/{plugin}/start?{}", q.finish()),
            }
        });
        FinishFailure { error, refused }
    })
}

/// Checks an identity the provider vouched for, provisions or links its user, and starts
/// the session.
fn accept(
    app: &Context,
    plugin: &str,
    flow: &SsoFlowRow,
    identity: &crate::service::hooks::SsoIdentity,
    client_ip: &str,
) -> Result<Finished> {
    let state_invalid = || {
        sso_error(
            SsoFailure::StateInvalid,
            "this sign-in link is invalid, was already used or has expired; start the sign-in again",
        )
    };
    if !identity.email_verified {
        return Err(sso_error(
            SsoFailure::EmailUnverified,
            format!(
                "your identity provider has not verified your email address ({}), so it cannot be used here",
                identity.email.chars().take(254).collect::<String>()
            ),
        ));
    }
    let email = Email::parse(&identity.email).map_err(|_| {
        sso_error(
            SsoFailure::DomainMismatch,
            "your identity provider sent an address that is not a valid email",
        )
    })?;
    // Re-read the connection: it may have changed while the person was at the provider.
    let conn = app
        .store
        .read(|c| c.sso_connection(&flow.org_id))?
        .filter(|c| c.plugin == plugin)
        .ok_or_else(state_invalid)?;
    if !org_plugins::allowed(app, &flow.org_id, plugin)? {
        return Err(state_invalid());
    }
    // Nor may the `sso` feature have been turned off meanwhile.
    let features = app.store.read(|c| c.org_features(&flow.org_id))?;
    if !Features::resolve(app, &features).on(Feature::Sso) {
        return Err(state_invalid());
    }
    // Only a domain this organization proved it owns vouches for an address here.
    if !conn
        .domains
        .iter()
        .any(|d| d.verified && d.domain == email.domain())
    {
        return Err(sso_error(
            SsoFailure::DomainMismatch,
            format!(
                "{} is not in a verified domain of this organization's single sign-on",
                email.as_str()
            ),
        ));
    }
    let (user, created) = provision(app, plugin, &flow.org_id, &conn.join_role, identity, email)?;
    // The provider works again: an old failure would only mislead administrators.
    let key = last_error_key(&flow.org_id);
    app.store.write(|tx| tx.plugin_kv_delete(HOST_KV, &key))?;
    let session = start_session(app, &user.id)?;
    if let Some(data) = &identity.sign_out_data {
        // Kept sealed with the session, for a sign-out at the provider later.
        let row = SsoSessionRow {
            org_id: flow.org_id.clone(),
            plugin: plugin.to_string(),
            sign_out_data: app.keyring.seal(SIGN_OUT_CONTEXT, data.as_bytes()),
        };
        let hash = app.keyring.token_hash(session.token.expose());
        app.store
            .write(|tx| tx.insert_sso_session(&hash, &row, now()))?;
    }
    app.limits.sso_start.success(client_ip);
    log::info!(
        "user {} signed in with sso plugin {plugin} from {client_ip}",
        user.id
    );
    Ok(Finished {
        session,
        next: flow.next.clone(),
        created,
    })
}

/// Ends a session (signing out). When single sign-on started it with a plugin that signs
/// out at the provider, answers the provider's sign-out URL to send the browser to; a
/// failure there is logged and the local sign-out stands.
pub fn end_session(app: &Context, token: &str) -> Result<Option<String>> {
    let hash = app.keyring.token_hash(token);
    let row = app.store.write(|tx| {
        let row = tx.take_sso_session(&hash)?;
        tx.delete_session(&hash)?;
        Ok(row)
    })?;
    let Some(row) = row else {
        return Ok(None);
    };
    let data = match app.keyring.open(SIGN_OUT_CONTEXT, &row.sign_out_data) {
        Ok(d) => d,
        Err(e) => {
            log::warn!("sso sign-out data of a session is unusable: {e}");
            return Ok(None);
        }
    };
    let request = SsoSignOut {
        org_id: row.org_id.to_string(),
        sign_out_data: String::from_utf8_lossy(&data).into_owned(),
        post_logout_redirect_uri: post_logout_redirect_uri(app),
    };
    match app.hooks.sso_sign_out(&row.plugin, request) {
        Ok(url) => Ok(url),
        Err(e) => {
            log::warn!(
                "sso sign-out at the provider with plugin {} failed: {e}; signed out here only",
                row.plugin
            );
            Ok(None)
        }
    }
}

/// Where the provider sends the browser after signing it out: the sign-in page (register it
/// at the provider as a post-logout redirect URI).
pub fn post_logout_redirect_uri(app: &Context) -> String {
    format!("{}/login", app.public_url)
}

/// Body of `POST /orgs/{org}/sso/test`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoTestInput {
    /// The plugin to test (default: the one configured).
    #[serde(default)]
    pub plugin: Option<String>,
}

/// The result of a configuration test.
#[derive(Debug, Serialize)]
pub struct SsoTestResult {
    /// The plugin tested.
    pub plugin: String,
    /// Whether every check passed.
    pub ok: bool,
    /// Each check in order.
    pub checks: Vec<SsoCheck>,
}

fn host_check(name: &str, ok: bool, detail: String, fix: Option<String>) -> SsoCheck {
    SsoCheck {
        name: name.to_string(),
        ok,
        detail,
        fix,
    }
}

/// Runs `plugin`'s configuration checks for organization `org_id` (`""`: none): the host's
/// own (loaded, implements `sso`) and then the plugin's (`sso-extras.check-configuration`).
pub fn run_checks(app: &Context, plugin: &str, org_id: &str) -> SsoTestResult {
    let mut checks = Vec::new();
    if !app.hooks.supports(plugin, HookKind::Sso) {
        let why = app
            .hooks
            .status()
            .into_iter()
            .find(|p| p.name == plugin)
            .map(|p| match p.error {
                Some(e) => format!("plugin {plugin} failed to load: {e}"),
                None => format!("plugin {plugin} does not implement the sso world"),
            })
            .unwrap_or_else(|| format!("no plugin named {plugin} is configured"));
        checks.push(host_check(
            "plugin",
            false,
            why,
            Some(format!(
                "configure a plugin of world `sso` as `[plugins.{plugin}]` in the server configuration (see `tenantry plugin list`)"
            )),
        ));
    } else {
        match app.hooks.sso_check(plugin, org_id) {
            Ok(Some(found)) => {
                checks.push(host_check(
                    "plugin",
                    true,
                    format!("plugin {plugin} is loaded and implements sso"),
                    None,
                ));
                checks.extend(found);
            }
            Ok(None) => checks.push(host_check(
                "plugin",
                true,
                format!(
                    "plugin {plugin} is loaded and implements sso; it was built against                      tenantry:plugin@2.0.0, so it cannot test its provider's configuration                      (rebuild it against 2.1.0 for that)"
                ),
                None,
            )),
            Err(e) => checks.push(host_check(
                "plugin",
                false,
                format!("the configuration test of plugin {plugin} failed: {e}"),
                Some("see the server log for the plugin's messages".into()),
            )),
        }
    }
    SsoTestResult {
        plugin: plugin.to_string(),
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// Tests the single sign-on configuration before anyone signs in (`org.update`, `sso`
/// feature on): the configured plugin, or `input.plugin` when given (one the organization
/// may use).
pub fn test_configuration(
    app: &Context,
    access: &OrgAccess,
    input: SsoTestInput,
) -> Result<SsoTestResult> {
    access.permit::<crate::service::authz::perm::OrgUpdate>()?;
    require_sso(access)?;
    let org = access.org_id();
    let plugin = match input.plugin {
        Some(p) => p,
        None => app
            .store
            .read(|c| c.sso_connection(org))?
            .map(|c| c.plugin)
            .ok_or_else(|| {
                Error::conflict_field(
                    "plugin",
                    "single sign-on is not configured yet; name the plugin to test",
                )
            })?,
    };
    if !org_plugins::allowed(app, org, &plugin)? {
        return Err(org_plugins::not_allowed(&plugin));
    }
    let result = run_checks(app, &plugin, org.as_str());
    log::info!(
        "sso configuration test of {org} with plugin {plugin}: {}",
        if result.ok { "passed" } else { "failed" }
    );
    Ok(result)
}

/// Finds or creates the user for an accepted identity, links it, and joins the
/// organization when configured.
fn provision(
    app: &Context,
    plugin: &str,
    org: &OrgId,
    join_role: &Option<OrgRole>,
    identity: &crate::service::hooks::SsoIdentity,
    email: Email,
) -> Result<(User, bool)> {
    let now = now();
    let result = app.store.write(|tx| {
        let linked = match tx.identity_user(plugin, &identity.subject)? {
            Some(id) => tx.user_by_id(&id)?,
            None => None,
        };
        // True when an existing account is joined to this identity now.
        let mut first_link = false;
        let (mut user, created) = match linked {
            Some(u) => (u, false),
            None => match tx.user_by_email(&email)? {
                Some(u) => {
                    first_link = true;
                    (u, false)
                }
                None => {
                    let name = identity
                        .name
                        .clone()
                        .map(|n| n.trim().to_string())
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| {
                            email
                                .as_str()
                                .split('@')
                                .next()
                                .unwrap_or_default()
                                .to_string()
                        });
                    let mut u = crate::service::setup::new_password_user(
                        email.clone(),
                        name.chars().take(200).collect(),
                        crate::service::setup::NewUserFlags::VERIFIED,
                    );
                    u.auth = Auth::Sso;
                    u.sso_provider = Some(plugin.to_string());
                    tx.insert_user(crate::store::NewUser {
                        user: &u,
                        password_hash: None,
                    })?;
                    (u, true)
                }
            },
        };
        if user.is_instance_admin {
            // An instance administrator's account never depends on an organization's
            // identity provider: it is not linked, converted or signed in through SSO.
            return Err(sso_error(
                SsoFailure::AdminNotLinked,
                "this is an instance administrator's account; it signs in with its password, never through an organization's single sign-on",
            ));
        }
        if user.disabled {
            // Nothing is linked or changed for a disabled account.
            return Err(Error::AccountDisabled);
        }
        tx.link_identity(plugin, &identity.subject, &user.id, now)?;
        if user.auth != Auth::Sso || user.sso_provider.as_deref() != Some(plugin) {
            tx.make_user_sso(&user.id, plugin, now)?;
            user.auth = Auth::Sso;
            user.sso_provider = Some(plugin.to_string());
        }
        let actor = Actor {
            kind: "user",
            id: Some(user.id.to_string()),
            ip: None,
        };
        if created {
            audit::record(
                tx,
                org,
                &actor,
                AuditAction::SsoUserProvisioned,
                ("user", user.id.as_str()),
                json!({"plugin": plugin, "email": user.email.as_str()}),
            )?;
        }
        if first_link {
            audit::record(
                tx,
                org,
                &actor,
                AuditAction::SsoAccountLinked,
                ("user", user.id.as_str()),
                json!({"plugin": plugin, "email": user.email.as_str(), "domain": email.domain()}),
            )?;
            let org_name = tx.org(org)?.map(|o| o.name).unwrap_or_default();
            mail::queue(
                app,
                tx,
                user.email.as_str(),
                &Message::SsoLinked {
                    name: &user.name,
                    email: user.email.as_str(),
                    org_name: &org_name,
                    link: &format!("{}/login", app.public_url),
                },
                None,
            )?;
            log::info!("account {} linked to sso plugin {plugin}", user.id);
        }
        if let Some(role) = *join_role {
            if tx.membership(org, &user.id)?.is_none() {
                tx.upsert_org_member(org, &user.id, role, &CompanyAccess::List(Vec::new()), now)?;
                audit::record(
                    tx,
                    org,
                    &actor,
                    AuditAction::SsoMemberJoined,
                    ("user", user.id.as_str()),
                    json!({"role": role.as_str()}),
                )?;
            }
        }
        Ok((user, created, first_link))
    });
    let (user, created, first_link) = result?;
    if first_link {
        app.doorbell.ring();
    }
    Ok((user, created))
}
