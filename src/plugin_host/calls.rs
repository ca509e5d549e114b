//! `Hooks` for the plugin host: converts between the service's plain types and the
//! generated bindings, and bounds every value a plugin returns before anything else sees it
//! (the services then apply their own domain checks).

use super::bindings::exports::tenantry::plugin::{
    billing_hooks as bh, email_hooks as eh, sso_extras as sx, sso_hooks as sh,
};
use super::bindings::tenantry::plugin::types::PluginError;
use super::host_api::HostState;
use super::{PluginHost, Slot};
use crate::service::hooks::{
    BillingMember, BillingOrg, BillingProfileData, EmailMessage, EmailOutcome, HookError, HookKind,
    HookResult, Hooks, InvoiceData, PluginStatus, SsoCheck, SsoFinish, SsoIdentity, SsoRedirect,
    SsoSignOut, SsoStart,
};
use wasmtime::Store;

const MAX_TEXT: usize = 4096;
const MAX_INVOICES: usize = 1000;
/// What a plugin may ask the host to keep for a sign-out at the provider (an ID token fits).
const MAX_SIGN_OUT_DATA: usize = 16384;

fn bounded(field: &str, s: String, max: usize) -> HookResult<String> {
    if s.len() > max {
        return Err(HookError::InvalidOutput(format!(
            "{field} is longer than {max} bytes"
        )));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(HookError::InvalidOutput(format!(
            "{field} contains control characters"
        )));
    }
    Ok(s)
}

fn plugin_error(e: PluginError) -> HookError {
    let code_ok = !e.code.is_empty()
        && e.code.len() <= 64
        && e.code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !code_ok {
        return HookError::InvalidOutput("plugin-error code is not [a-z0-9_]{1,64}".into());
    }
    HookError::Plugin {
        code: e.code,
        message: e.message.chars().take(500).collect(),
    }
}

fn billing_org(org: &BillingOrg) -> bh::Organization {
    bh::Organization {
        id: org.id.clone(),
        slug: org.slug.clone(),
        name: org.name.clone(),
    }
}

fn profile_out(p: bh::BillingProfile) -> HookResult<BillingProfileData> {
    Ok(BillingProfileData {
        legal_name: bounded("legal-name", p.legal_name, 1000)?,
        billing_email: bounded("billing-email", p.billing_email, 320)?,
        address: bounded("address", p.address, 2000)?,
        tax_id: p.tax_id.map(|t| bounded("tax-id", t, 64)).transpose()?,
        plan: bounded("plan", p.plan, 200)?,
    })
}

fn profile_in(p: &BillingProfileData) -> bh::BillingProfile {
    bh::BillingProfile {
        legal_name: p.legal_name.clone(),
        billing_email: p.billing_email.clone(),
        address: p.address.clone(),
        tax_id: p.tax_id.clone(),
        plan: p.plan.clone(),
    }
}

impl PluginHost {
    fn sso_call<R>(
        &self,
        plugin: &str,
        f: impl FnOnce(&sh::Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> HookResult<R> {
        self.call(plugin, HookKind::Sso, |p, store, instance| {
            let indices = p.sso.as_ref().ok_or_else(|| missing("sso"))?;
            f(&indices.load(&mut *store, instance)?, store)
        })
    }

    /// Whether plugin `name` exports the optional `sso-extras` (2.1.0).
    fn has_sso_extras(&self, name: &str) -> bool {
        self.ready(name, HookKind::Sso)
            .is_ok_and(|p| p.sso_extras.is_some())
    }

    fn sso_extras_call<R>(
        &self,
        plugin: &str,
        f: impl FnOnce(&sx::Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> HookResult<R> {
        self.call(plugin, HookKind::Sso, |p, store, instance| {
            let indices = p.sso_extras.as_ref().ok_or_else(|| missing("sso-extras"))?;
            f(&indices.load(&mut *store, instance)?, store)
        })
    }

    fn billing_call<R>(
        &self,
        plugin: &str,
        f: impl FnOnce(&bh::Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> HookResult<R> {
        self.call(plugin, HookKind::BillingProfile, |p, store, instance| {
            let indices = p
                .billing
                .as_ref()
                .ok_or_else(|| missing("billing-profile"))?;
            f(&indices.load(&mut *store, instance)?, store)
        })
    }

    fn email_call<R>(
        &self,
        plugin: &str,
        f: impl FnOnce(&eh::Guest, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> HookResult<R> {
        self.call(plugin, HookKind::EmailDelivery, |p, store, instance| {
            let indices = p.email.as_ref().ok_or_else(|| missing("email-delivery"))?;
            f(&indices.load(&mut *store, instance)?, store)
        })
    }
}

/// Unreachable in practice (`ready` checks the hooks first), but an error, not a panic.
fn missing(world: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("the plugin does not implement {world}"))
}

impl Hooks for PluginHost {
    fn supports(&self, name: &str, kind: HookKind) -> bool {
        self.ready(name, kind).is_ok()
    }

    fn status(&self) -> Vec<PluginStatus> {
        self.plugins
            .values()
            .map(|slot| match slot {
                Slot::Ready(p) => PluginStatus {
                    name: p.config.name.clone(),
                    file: p.config.file.display().to_string(),
                    state: "ready",
                    worlds: p.worlds(),
                    error: None,
                    allowed_hosts: p.config.allowed_hosts.clone(),
                },
                Slot::Failed { config, error } => PluginStatus {
                    name: config.name.clone(),
                    file: config.file.display().to_string(),
                    state: "failed",
                    worlds: Vec::new(),
                    error: Some(error.clone()),
                    allowed_hosts: config.allowed_hosts.clone(),
                },
            })
            .collect()
    }

    fn sso_start(&self, plugin: &str, req: SsoStart) -> HookResult<SsoRedirect> {
        let request = sh::StartRequest {
            organization_id: req.org_id,
            state: req.state,
            nonce: req.nonce,
            redirect_uri: req.redirect_uri,
            login_hint: req.login_hint,
        };
        let out = if self.has_sso_extras(plugin) {
            let options = sx::StartOptions {
                reselect: req.reselect,
            };
            self.sso_extras_call(plugin, |guest, store| {
                guest.call_start_with(&mut *store, &request, options)
            })?
        } else {
            self.sso_call(plugin, |guest, store| {
                guest.call_start(&mut *store, &request)
            })?
        };
        let r = out.map_err(plugin_error)?;
        let url = bounded("redirect-url", r.redirect_url, 8192)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(HookError::InvalidOutput(
                "redirect-url is not an absolute http(s) URL".into(),
            ));
        }
        Ok(SsoRedirect {
            redirect_url: url,
            flow_data: bounded("flow-data", r.flow_data, MAX_TEXT)?,
        })
    }

    fn sso_finish(&self, plugin: &str, req: SsoFinish) -> HookResult<SsoIdentity> {
        let request = sh::FinishRequest {
            organization_id: req.org_id,
            params: req.params,
            state: req.state,
            nonce: req.nonce,
            redirect_uri: req.redirect_uri,
            flow_data: req.flow_data,
        };
        let (id, sign_out_data) = if self.has_sso_extras(plugin) {
            let out = self.sso_extras_call(plugin, |guest, store| {
                guest.call_finish_with_session(&mut *store, &request)
            })?;
            let session = out.map_err(plugin_error)?;
            (session.identity, session.sign_out_data)
        } else {
            let out = self.sso_call(plugin, |guest, store| {
                guest.call_finish(&mut *store, &request)
            })?;
            (out.map_err(plugin_error)?, None)
        };
        if id.subject.trim().is_empty() {
            return Err(HookError::InvalidOutput("subject is empty".into()));
        }
        if id.groups.len() > 200 {
            return Err(HookError::InvalidOutput("more than 200 groups".into()));
        }
        Ok(SsoIdentity {
            subject: bounded("subject", id.subject, 255)?,
            email: bounded("email", id.email, 320)?,
            email_verified: id.email_verified,
            name: id.name.map(|n| bounded("name", n, 200)).transpose()?,
            groups: id
                .groups
                .into_iter()
                .map(|g| bounded("group", g, 200))
                .collect::<HookResult<_>>()?,
            sign_out_data: sign_out_data
                .map(|d| bounded("sign-out-data", d, MAX_SIGN_OUT_DATA))
                .transpose()?,
        })
    }

    fn sso_sign_out(&self, plugin: &str, req: SsoSignOut) -> HookResult<Option<String>> {
        if !self.has_sso_extras(plugin) {
            return Ok(None);
        }
        let out = self.sso_extras_call(plugin, |guest, store| {
            guest.call_sign_out(
                &mut *store,
                &sx::SignOutRequest {
                    organization_id: req.org_id,
                    sign_out_data: req.sign_out_data,
                    post_logout_redirect_uri: req.post_logout_redirect_uri,
                },
            )
        })?;
        let Some(url) = out.map_err(plugin_error)? else {
            return Ok(None);
        };
        let url = bounded("sign-out URL", url, 16384)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(HookError::InvalidOutput(
                "sign-out URL is not an absolute http(s) URL".into(),
            ));
        }
        Ok(Some(url))
    }

    fn sso_check(&self, plugin: &str, org_id: &str) -> HookResult<Option<Vec<SsoCheck>>> {
        if !self.has_sso_extras(plugin) {
            // Still an error when the plugin is not loaded at all.
            self.ready(plugin, HookKind::Sso)?;
            return Ok(None);
        }
        let checks = self.sso_extras_call(plugin, |guest, store| {
            guest.call_check_configuration(&mut *store, org_id)
        })?;
        if checks.len() > 50 {
            return Err(HookError::InvalidOutput("more than 50 checks".into()));
        }
        checks
            .into_iter()
            .map(|c| {
                Ok(SsoCheck {
                    name: bounded("check name", c.name, 64)?,
                    ok: c.ok,
                    detail: bounded("check detail", c.detail, 2000)?,
                    fix: c.fix.map(|f| bounded("check fix", f, 2000)).transpose()?,
                })
            })
            .collect::<HookResult<Vec<_>>>()
            .map(Some)
    }

    fn billing_profile(
        &self,
        plugin: &str,
        org: &BillingOrg,
    ) -> HookResult<Option<BillingProfileData>> {
        let out = self.billing_call(plugin, |guest, store| {
            guest.call_get_profile(&mut *store, &billing_org(org))
        })?;
        out.map_err(plugin_error)?.map(profile_out).transpose()
    }

    fn billing_invoices(&self, plugin: &str, org: &BillingOrg) -> HookResult<Vec<InvoiceData>> {
        let out = self.billing_call(plugin, |guest, store| {
            guest.call_list_invoices(&mut *store, &billing_org(org))
        })?;
        let list = out.map_err(plugin_error)?;
        if list.len() > MAX_INVOICES {
            return Err(HookError::InvalidOutput(format!(
                "more than {MAX_INVOICES} invoices"
            )));
        }
        list.into_iter()
            .map(|i| {
                Ok(InvoiceData {
                    number: bounded("invoice number", i.number, 64)?,
                    issued_on: bounded("issued-on", i.issued_on, 10)?,
                    amount_cents: i.amount_cents,
                    currency: bounded("currency", i.currency, 3)?,
                    status: bounded("status", i.status, 16)?,
                    url: i.url.map(|u| bounded("url", u, 2048)).transpose()?,
                })
            })
            .collect()
    }

    fn billing_validate(
        &self,
        plugin: &str,
        org: &BillingOrg,
        profile: &BillingProfileData,
    ) -> HookResult<Vec<(String, String)>> {
        let out = self.billing_call(plugin, |guest, store| {
            guest.call_validate_profile(&mut *store, &billing_org(org), &profile_in(profile))
        })?;
        let errs = out.map_err(plugin_error)?;
        if errs.len() > 50 {
            return Err(HookError::InvalidOutput("more than 50 field errors".into()));
        }
        errs.into_iter()
            .map(|e| {
                Ok((
                    bounded("field", e.field, 64)?,
                    bounded("message", e.message, 500)?,
                ))
            })
            .collect()
    }

    fn billing_can_view(
        &self,
        plugin: &str,
        org: &BillingOrg,
        member: &BillingMember,
    ) -> HookResult<bool> {
        let out = self.billing_call(plugin, |guest, store| {
            guest.call_can_view_billing(
                &mut *store,
                &billing_org(org),
                &bh::Member {
                    user_id: member.user_id.clone(),
                    email: member.email.clone(),
                    role: member.role.clone(),
                },
            )
        })?;
        out.map_err(plugin_error)
    }

    fn email_deliver(&self, plugin: &str, msg: &EmailMessage) -> HookResult<EmailOutcome> {
        let out = self.email_call(plugin, |guest, store| {
            guest.call_deliver(
                &mut *store,
                &eh::Message {
                    id: msg.id.clone(),
                    template: msg.template.clone(),
                    sender: msg.sender.clone(),
                    recipient: msg.recipient.clone(),
                    subject: msg.subject.clone(),
                    text: msg.text.clone(),
                    html: msg.html.clone(),
                    attempt: msg.attempt,
                },
            )
        })?;
        Ok(match out {
            eh::Delivery::Delivered(id) => {
                EmailOutcome::Delivered(id.map(|i| bounded("message id", i, 256)).transpose()?)
            }
            eh::Delivery::Retryable(why) => EmailOutcome::Retryable(bounded("reason", why, 1000)?),
            eh::Delivery::Permanent(why) => EmailOutcome::Permanent(bounded("reason", why, 1000)?),
        })
    }
}
