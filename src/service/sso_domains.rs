//! SSO domain ownership. A domain in an organization's SSO settings is `pending` until the
//! organization proves it owns it — a DNS TXT record `_tenantry-challenge.<domain>` carrying
//! `tenantry-verify=<token>` (the token is shown in the SSO settings, one per organization
//! and domain, stable while the domain stays listed), checked by [`verify`] — or until an
//! instance administrator approves it ([`approve`], [`approve_by_operator`]). Only a
//! verified domain routes sign-ins, refuses passwords or links accounts. Public suffixes and
//! well-known free-mail domains cannot be claimed at all.

use serde::Serialize;
use serde_json::json;

use crate::domain::AuditAction;
use crate::domain::{DomainClaimStatus, DomainProof, DomainVerifier, Feature, OrgId};
use crate::error::{Error, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{InstanceAdmin, Operator, OrgAccess};
use crate::service::dns::{self, DnsError};
use crate::service::now;
use crate::service::Context;
use crate::store::SsoDomainRow;

/// The label the TXT record lives under: `_tenantry-challenge.<domain>`.
pub const TXT_LABEL: &str = "_tenantry-challenge";
/// What the TXT record's value starts with; the organization's token follows.
pub const TXT_VALUE_PREFIX: &str = "tenantry-verify=";

/// Registrable domains of well-known free-mail providers: addresses there belong to
/// individuals, never to one organization. No maintained Rust crate carries such a list, so
/// this short one is kept by hand; it is drawn from the largest providers in the widely used
/// free-email-domains list published by HubSpot and Wikipedia's comparison of webmail
/// providers. Matching is by registrable domain (the Public Suffix List decides), so
/// `mail.gmail.com` is refused as well.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "126.com",
    "163.com",
    "aim.com",
    "aol.com",
    "bk.ru",
    "bluewin.ch",
    "daum.net",
    "fastmail.com",
    "free.fr",
    "gmail.com",
    "gmx.at",
    "gmx.ch",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hanmail.net",
    "hey.com",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.de",
    "hotmail.fr",
    "icloud.com",
    "inbox.ru",
    "interia.pl",
    "laposte.net",
    "libero.it",
    "list.ru",
    "live.co.uk",
    "live.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "naver.com",
    "o2.pl",
    "orange.fr",
    "outlook.com",
    "outlook.de",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "rambler.ru",
    "rediffmail.com",
    "rocketmail.com",
    "seznam.cz",
    "sina.com",
    "t-online.de",
    "tuta.io",
    "tutanota.com",
    "web.de",
    "wp.pl",
    "ya.ru",
    "yahoo.co.jp",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.de",
    "yahoo.fr",
    "yandex.com",
    "yandex.ru",
    "ymail.com",
    "zoho.com",
];

/// Why a (normalised) domain cannot be claimed by any organization, if it cannot.
pub fn unclaimable(domain: &str) -> Option<String> {
    if psl::suffix_str(domain) == Some(domain) {
        return Some(format!(
            "{domain} is a public suffix shared by many owners; list your own domain under it"
        ));
    }
    let registrable = psl::domain_str(domain).unwrap_or(domain);
    if FREE_MAIL_DOMAINS.contains(&registrable) {
        return Some(format!(
            "{registrable} is a free email provider; its addresses belong to individuals, not to your organization"
        ));
    }
    None
}

/// One claimed domain as the SSO settings show it.
#[derive(Debug, Serialize)]
pub struct DomainView {
    /// The domain.
    pub domain: String,
    /// `pending` or `verified`.
    pub status: DomainClaimStatus,
    /// The DNS name of the TXT record that proves ownership.
    pub txt_name: String,
    /// The value that record must carry.
    pub txt_value: String,
    /// How it was proven: `dns` or `instance_admin` (null while pending).
    pub verified_by: Option<DomainProof>,
    /// When it was proven (unix seconds).
    pub verified_at: Option<i64>,
}

impl DomainView {
    /// The view of a stored claim.
    pub fn of(row: &SsoDomainRow) -> DomainView {
        DomainView {
            domain: row.domain.clone(),
            status: if row.verified {
                DomainClaimStatus::Verified
            } else {
                DomainClaimStatus::Pending
            },
            txt_name: format!("{TXT_LABEL}.{}", row.domain),
            txt_value: format!("{TXT_VALUE_PREFIX}{}", row.token),
            // Which administrator approved it is in the audit log, not here.
            verified_by: row.verified_by.as_ref().map(DomainVerifier::method),
            verified_at: row.verified_at,
        }
    }
}

fn claim(app: &Context, org: &OrgId, domain: &str) -> Result<SsoDomainRow> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    app.store
        .read(|c| c.sso_connection(org))?
        .and_then(|c| c.domains.into_iter().find(|d| d.domain == domain))
        .ok_or(Error::NotFound)
}

fn failed(message: String) -> Error {
    Error::Sso {
        code: crate::domain::SsoFailure::DomainVerificationFailed,
        message,
    }
}

fn mark(
    app: &Context,
    org: &OrgId,
    domain: &str,
    by: &DomainVerifier,
    actor: &Actor,
) -> Result<()> {
    let now = now();
    app.store.write(|tx| {
        if !tx.verify_sso_domain(org, domain, by, now)? {
            return Err(Error::NotFound);
        }
        audit::record(
            tx,
            org,
            actor,
            AuditAction::SsoDomainVerified,
            ("organization", org.as_str()),
            json!({"domain": domain, "method": by.method()}),
        )
    })
}

/// Unsuccessful DNS checks an organization may ask for in a row before it must wait (30 s,
/// doubling, at most 15 min; [`Limits::sso_verify`](super::ratelimit::Limits)). Each check can
/// hold a worker for the whole DNS deadline. Only callers allowed to verify count, so nobody
/// else can spend an organization's attempts. Kept in memory, like the other throttles: a
/// restart forgets it.
pub const VERIFY_FREE_ATTEMPTS: u32 = 5;

/// Checks the TXT record of a pending domain and marks it verified when it carries this
/// organization's token (owners and admins: `org.update`, `sso` feature on).
pub fn verify(app: &Context, access: &OrgAccess, domain: &str) -> Result<DomainView> {
    access.permit::<crate::service::authz::perm::OrgUpdate>()?;
    if !access.features().on(Feature::Sso) {
        return Err(Error::FeatureDisabled("sso"));
    }
    let org = access.org_id();
    let row = claim(app, org, domain)?;
    if row.verified {
        return Ok(DomainView::of(&row));
    }
    // Taken already: no lookup can change that.
    if app
        .store
        .read(|c| c.sso_org_for_domain(&row.domain))?
        .is_some_and(|o| &o != org)
    {
        return Err(Error::Conflict(format!(
            "the domain {} is already verified by another organization's SSO",
            row.domain
        )));
    }
    let view = DomainView::of(&row);
    // Counted before the lookup, so parallel requests cannot all slip through.
    let key = org.as_str();
    if let Err(secs) = app.limits.sso_verify.check(key) {
        return Err(Error::RateLimited {
            retry_after_secs: secs,
        });
    }
    app.limits.sso_verify.failure(key);
    let resolver = match app.config.sso_dns_resolver {
        Some(addr) => addr,
        None => dns::system_resolver().map_err(|e| dns_unavailable(&e))?,
    };
    let found = match dns::txt_records(resolver, &view.txt_name) {
        Ok(list) => list,
        Err(DnsError::NoSuchName) => Vec::new(),
        Err(e) => return Err(dns_unavailable(&e)),
    };
    let ours: Vec<&String> = found
        .iter()
        .filter(|t| t.trim().starts_with(TXT_VALUE_PREFIX))
        .collect();
    if !found.iter().any(|t| t.trim() == view.txt_value) {
        return Err(failed(if ours.is_empty() {
            format!(
                "no TXT record {} was found; publish one with the value {}, wait for DNS to update, and try again",
                view.txt_name, view.txt_value
            )
        } else {
            format!(
                "the TXT record {} does not carry this organization's token; set its value to {} and try again",
                view.txt_name, view.txt_value
            )
        }));
    }
    mark(
        app,
        org,
        &row.domain,
        &DomainVerifier::Dns,
        &Actor::of(access.principal()),
    )?;
    app.limits.sso_verify.success(key);
    log::info!("sso domain {} of {org} verified by dns", row.domain);
    Ok(DomainView::of(&claim(app, org, &row.domain)?))
}

fn dns_unavailable(e: &DnsError) -> Error {
    log::warn!("sso domain verification: {e}");
    failed("the DNS lookup did not get an answer; try again in a few minutes".into())
}

/// An instance administrator vouches that the organization owns a domain it listed.
pub fn approve(
    app: &Context,
    admin: &InstanceAdmin<'_>,
    access: &OrgAccess,
    domain: &str,
) -> Result<DomainView> {
    let org = access.org_id();
    let row = claim(app, org, domain)?;
    let who = DomainVerifier::InstanceAdmin(admin.principal().user_id().cloned());
    mark(app, org, &row.domain, &who, &Actor::of(admin.principal()))?;
    log::info!(
        "sso domain {} of {org} approved by {}",
        row.domain,
        who.to_stored()
    );
    Ok(DomainView::of(&claim(app, org, &row.domain)?))
}

/// The operator (CLI) vouches that the organization owns a domain it listed.
pub fn approve_by_operator(
    app: &Context,
    _op: &Operator,
    org: &str,
    domain: &str,
) -> Result<DomainView> {
    let id = OrgId::parse(org)
        .ok_or_else(|| Error::Config(format!("{org:?} is not an organization ID")))?;
    let row = claim(app, &id, domain).map_err(|e| match e {
        Error::NotFound => Error::Config(format!(
            "organization {org} has no SSO domain {domain:?}; add it to its SSO settings first"
        )),
        e => e,
    })?;
    mark(
        app,
        &id,
        &row.domain,
        &DomainVerifier::Operator,
        &Actor::operator(),
    )?;
    Ok(DomainView::of(&claim(app, &id, &row.domain)?))
}

#[cfg(test)]
mod tests {
    use super::unclaimable;

    #[test]
    fn public_suffixes_and_free_mail_are_unclaimable() {
        for d in [
            "co.uk",
            "com",
            "github.io",
            "gmail.com",
            "mail.yandex.ru",
            "web.de",
        ] {
            assert!(unclaimable(d).is_some(), "{d}");
        }
        for d in ["example.com", "acme.co.uk", "example.test"] {
            assert!(unclaimable(d).is_none(), "{d}");
        }
    }
}
