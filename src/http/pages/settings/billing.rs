//! Organization › Billing: the profile (a form for those who may change it, read-only for
//! the others), invoices with money written in their currency (€129.00), the billing contact
//! as a mailto link when there is no billing data, and the "temporarily unavailable" state
//! when the organization's billing system cannot be reached.

use serde::Serialize;

use super::{
    done, field_errors, org_href, posted, render, Ctx, FieldView, FormView, LearnMore, Page,
};
use crate::domain::entities::BillingProfile;
use crate::domain::Permission;
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{self, org_access, perm, OrgAccess};
use crate::service::org_settings;
use crate::service::Context;

const LEARN: LearnMore = LearnMore {
    href: "/settings/help/organization",
    label: "billing",
};

/// An amount in a currency's minor unit, written for people: `€129.00`, `¥1200`,
/// `CHF 10.50`.
pub fn money(minor: i64, currency: &str) -> String {
    let digits: u32 = match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let unit = 10u64.pow(digits);
    let number = if digits == 0 {
        abs.to_string()
    } else {
        format!(
            "{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = digits as usize
        )
    };
    match currency {
        "EUR" => format!("{sign}€{number}"),
        "USD" => format!("{sign}${number}"),
        "GBP" => format!("{sign}£{number}"),
        "JPY" => format!("{sign}¥{number}"),
        other => format!("{sign}{other} {number}"),
    }
}

#[derive(Serialize)]
struct InvoiceRow {
    number: String,
    url: Option<String>,
    issued_on: String,
    amount: String,
    status: &'static str,
}

#[derive(Serialize)]
struct BillingPageView {
    org: String,
    available: bool,
    message: String,
    contact: Option<String>,
    form: Option<FormView>,
    facts: Vec<(String, String)>,
    invoices: Vec<InvoiceRow>,
}

fn profile_form(c: &Ctx, org: &str, p: Option<&BillingProfile>) -> FormView {
    let v = |f: fn(&BillingProfile) -> String| p.map(f).unwrap_or_default();
    FormView::new(
        c,
        &format!("{}/profile", org_href(org, "billing")),
        "Save billing profile",
        vec![
            FieldView::input(
                "legal_name",
                "Legal name",
                "text",
                &v(|p| p.legal_name.clone()),
            )
            .autocomplete("organization"),
            FieldView::input(
                "billing_email",
                "Billing email",
                "email",
                &v(|p| p.billing_email.clone()),
            )
            .hint("Invoices are sent to this address."),
            FieldView::input("address", "Address", "text", &v(|p| p.address.clone()))
                .autocomplete("street-address"),
            FieldView::input(
                "tax_id",
                "Tax ID (optional)",
                "text",
                &v(|p| p.tax_id.clone().unwrap_or_default()),
            ),
            FieldView::input("plan", "Plan", "text", &v(|p| p.plan.clone())),
        ],
    )
}

fn view(app: &Context, c: &Ctx, access: &OrgAccess) -> Result<(u16, BillingPageView)> {
    let org = access.org_id().to_string();
    let manage = access.explain(Permission::BillingManage).0;
    let overview = authz::require_billing_read(app, access).and_then(|permit| {
        let billing = org_settings::get_billing(app, &permit)?;
        Ok((
            billing,
            org_settings::list_invoices(app, &permit, None, 50)?,
        ))
    });
    let (billing, invoices) = match overview {
        Ok(x) => x,
        Err(Error::BillingUnavailable { contact }) => {
            return Ok((
                503,
                BillingPageView {
                    org: access.org().name.clone(),
                    available: false,
                    message: crate::http::problem::billing_unavailable_text(contact.as_deref()),
                    contact,
                    form: None,
                    facts: Vec::new(),
                    invoices: Vec::new(),
                },
            ))
        }
        Err(e) => return Err(e),
    };
    let facts = billing
        .profile
        .as_ref()
        .map(|p| {
            vec![
                ("Legal name".to_string(), p.legal_name.clone()),
                ("Billing email".into(), p.billing_email.clone()),
                ("Address".into(), p.address.clone()),
                (
                    "Tax ID".into(),
                    p.tax_id.clone().unwrap_or_else(|| "—".into()),
                ),
                ("Plan".into(), p.plan.clone()),
            ]
        })
        .unwrap_or_default();
    Ok((
        200,
        BillingPageView {
            org: access.org().name.clone(),
            available: true,
            message: if billing.profile.is_some() {
                String::new()
            } else {
                "No billing profile has been set up for this organization yet.".into()
            },
            contact: billing.billing_contact_email.clone(),
            form: manage.then(|| profile_form(c, &org, billing.profile.as_ref())),
            facts,
            invoices: invoices
                .data
                .into_iter()
                .map(|i| InvoiceRow {
                    amount: money(i.amount_cents, &i.currency),
                    number: i.number,
                    url: i.url,
                    issued_on: i.issued_on,
                    status: i.status.label(),
                })
                .collect(),
        },
    ))
}

fn page(
    app: &Context,
    c: &Ctx,
    v: &BillingPageView,
    notice: Option<&str>,
    status: u16,
) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title: "Billing",
            template: "settings/billing",
            data: v,
            notice,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/orgs/{org}/billing` (through the section dispatcher).
pub fn show(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let (status, v) = view(app, c, &access)?;
    let notice = (req.query_param("notice").as_deref() == Some("saved"))
        .then_some("The billing profile is saved.");
    page(app, c, &v, notice, status)
}

/// `POST /settings/orgs/{org}/billing/profile`.
pub fn save(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let f = req.form();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let tax = get("tax_id");
    let input = BillingProfile {
        legal_name: get("legal_name"),
        billing_email: get("billing_email"),
        address: get("address"),
        tax_id: (!tax.trim().is_empty()).then_some(tax),
        plan: get("plan"),
    };
    match access
        .permit::<perm::BillingManage>()
        .and_then(|permit| org_settings::put_billing_profile(app, &permit, input))
    {
        Ok(_) => Ok(done(
            &org_href(access.org_id().as_str(), "billing"),
            "saved",
        )),
        Err(e) => {
            let errs = field_errors(e)?;
            let (status, mut v) = view(app, &c, &access)?;
            v.form = v.form.map(|form| form.with_errors(&f, &errs));
            page(app, &c, &v, None, if status == 200 { 422 } else { status })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn money_is_written_in_its_currency() {
        assert_eq!(money(12900, "EUR"), "€129.00");
        assert_eq!(money(1200, "USD"), "$12.00");
        assert_eq!(money(5, "GBP"), "£0.05");
        assert_eq!(money(1200, "JPY"), "¥1200");
        assert_eq!(money(1050, "CHF"), "CHF 10.50");
        assert_eq!(money(12345, "KWD"), "KWD 12.345");
        assert_eq!(money(-250, "EUR"), "-€2.50");
    }
}
