//! Sites and data preferences of a company.

use serde_json::json;

use crate::domain::entities::{DataPreferences, Site};
use crate::domain::user::{validate_name, validate_timezone};
use crate::domain::AuditAction;
use crate::domain::SiteId;
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{perm, CompanyPermit};
use crate::service::Context;
use crate::service::{now, page_of, Page};

/// Longest accepted address, in characters.
pub const ADDRESS_MAX: usize = 1000;
/// Bounds of `retention_days`.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;

/// Submitted site fields.
#[derive(Debug, Default)]
pub struct SiteInput {
    /// Name.
    pub name: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// IANA zone.
    pub timezone: Option<String>,
}

fn validate_site(s: &mut Site) -> Result<()> {
    let mut errs: Vec<FieldError> = Vec::new();
    s.name = validate_name("name", &s.name, &mut errs);
    if s.address.chars().count() > ADDRESS_MAX {
        errs.push(FieldError::new(
            "address",
            format!("must be at most {ADDRESS_MAX} characters"),
        ));
    }
    validate_timezone("timezone", &s.timezone, &mut errs);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errs))
    }
}

/// Sites of the company (any company role).
pub fn list(
    app: &Context,
    ctx: &CompanyPermit<'_, perm::CompanyRead>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Site>> {
    let rows = app
        .store
        .read(|c| c.list_sites(ctx.company_id(), cursor.unwrap_or(""), limit + 1))?;
    Ok(page_of(rows, limit, |s| s.id.to_string()))
}

/// Creates a site (company admin).
pub fn create(
    app: &Context,
    ctx: &CompanyPermit<'_, perm::SitesManage>,
    input: SiteInput,
) -> Result<Site> {
    let mut site = Site {
        id: SiteId::generate(),
        company: ctx.company_id().clone(),
        name: input.name.unwrap_or_default(),
        address: input.address.unwrap_or_default(),
        timezone: input.timezone.unwrap_or_else(|| "UTC".into()),
        created_at: now(),
    };
    validate_site(&mut site)?;
    app.store.write(|tx| {
        tx.insert_site(ctx.org_id(), &site)?;
        audit::record(
            tx,
            ctx.org_id(),
            &Actor::of(ctx.principal()),
            AuditAction::SiteCreated,
            ("site", site.id.as_str()),
            json!({"company": site.company, "name": site.name, "address": site.address, "timezone": site.timezone}),
        )
    })?;
    Ok(site)
}

fn find<P>(app: &Context, ctx: &CompanyPermit<'_, P>, id: &str) -> Result<Site> {
    let id = SiteId::parse(id).ok_or(Error::NotFound)?;
    app.store
        .read(|c| c.site(ctx.company_id(), &id))?
        .ok_or(Error::NotFound)
}

/// One site.
pub fn get(app: &Context, ctx: &CompanyPermit<'_, perm::CompanyRead>, id: &str) -> Result<Site> {
    find(app, ctx, id)
}

/// Changes a site (company admin).
pub fn update(
    app: &Context,
    ctx: &CompanyPermit<'_, perm::SitesManage>,
    id: &str,
    input: SiteInput,
) -> Result<Site> {
    let mut site = find(app, ctx, id)?;
    if let Some(n) = input.name {
        site.name = n;
    }
    if let Some(a) = input.address {
        site.address = a;
    }
    if let Some(t) = input.timezone {
        site.timezone = t;
    }
    validate_site(&mut site)?;
    let now = now();
    app.store.write(|tx| {
        tx.update_site(&site, now)?;
        audit::record(
            tx,
            ctx.org_id(),
            &Actor::of(ctx.principal()),
            AuditAction::SiteUpdated,
            ("site", site.id.as_str()),
            json!({"company": site.company, "name": site.name, "address": site.address, "timezone": site.timezone}),
        )
    })?;
    Ok(site)
}

/// Deletes a site (company admin).
pub fn delete(app: &Context, ctx: &CompanyPermit<'_, perm::SitesManage>, id: &str) -> Result<()> {
    let site = find(app, ctx, id)?;
    app.store.write(|tx| {
        if !tx.delete_site(ctx.company_id(), &site.id)? {
            return Err(Error::NotFound);
        }
        audit::record(
            tx,
            ctx.org_id(),
            &Actor::of(ctx.principal()),
            AuditAction::SiteDeleted,
            ("site", site.id.as_str()),
            json!({"company": site.company, "name": site.name}),
        )
    })
}

/// The company's data preferences (any company role).
pub fn get_preferences(
    app: &Context,
    ctx: &CompanyPermit<'_, perm::CompanyRead>,
) -> Result<DataPreferences> {
    app.store.read(|c| c.data_preferences(ctx.company_id()))
}

/// ISO 4217 currency codes in active use.
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL";

/// Whether `code` is an ISO 4217 currency code.
pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && currencies().any(|c| c == code)
}

/// Every currency code [`is_currency`] accepts (the OpenAPI `Currency` enum lists the same).
pub fn currencies() -> impl Iterator<Item = &'static str> {
    CURRENCIES.split(' ')
}

/// Replaces the data preferences (company admin) after validating every field.
pub fn put_preferences(
    app: &Context,
    ctx: &CompanyPermit<'_, perm::DataPreferencesManage>,
    p: DataPreferences,
) -> Result<DataPreferences> {
    let mut errs: Vec<FieldError> = Vec::new();
    if !matches!(p.units.as_str(), "metric" | "imperial") {
        errs.push(FieldError::new("units", "must be metric or imperial"));
    }
    validate_timezone("timezone", &p.timezone, &mut errs);
    if !is_currency(&p.currency) {
        errs.push(FieldError::new(
            "currency",
            "must be an ISO 4217 code such as EUR or USD",
        ));
    }
    if !matches!(
        p.date_format.as_str(),
        "YYYY-MM-DD" | "DD/MM/YYYY" | "MM/DD/YYYY"
    ) {
        errs.push(FieldError::new(
            "date_format",
            "must be YYYY-MM-DD, DD/MM/YYYY or MM/DD/YYYY",
        ));
    }
    if !RETENTION_DAYS.contains(&p.retention_days) {
        errs.push(FieldError::new("retention_days", "must be from 1 to 3650"));
    }
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let now = now();
    app.store.write(|tx| {
        let old = tx.data_preferences(ctx.company_id())?;
        tx.put_data_preferences(ctx.company_id(), &p, now)?;
        audit::record(
            tx,
            ctx.org_id(),
            &Actor::of(ctx.principal()),
            AuditAction::DataPreferencesUpdated,
            ("company", ctx.company_id().as_str()),
            json!({"from": old, "to": p}),
        )
    })?;
    Ok(p)
}
