//! `/orgs/{org}/billing`: the billing overview page (profile and recent invoices), or the
//! "temporarily unavailable" notice with the billing contact when a billing plugin fails.

use serde::Serialize;

use crate::domain::entities::{BillingProfile, Invoice};
use crate::error::{Error, Result};
use crate::http::auth::optional_session;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::org_access;
use crate::service::org_settings;
use crate::service::Context;

/// What `billing.hbs` shows: the overview, or the unavailable notice when `available` is false.
#[derive(Serialize)]
struct BillingPageView {
    org: String,
    available: bool,
    profile: Option<BillingProfile>,
    message: String,
    contact: Option<String>,
    invoices: Vec<Invoice>,
    two_step_banner: Option<String>,
}

/// `GET /orgs/{org}/billing`.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    let Some(s) = optional_session(app, req)? else {
        return Ok(Resp::see_other("/login"));
    };
    let access = org_access(app, &s.principal, req.param("org"))?;
    let overview = crate::service::authz::require_billing_read(app, &access).and_then(|permit| {
        let b = org_settings::get_billing(app, &permit)?;
        Ok((b, org_settings::list_invoices(app, &permit, None, 20)?))
    });
    let org = access.org().name.clone();
    let (status, mut view) = match overview {
        Ok((billing, invoices)) => (
            200,
            BillingPageView {
                org,
                available: true,
                profile: billing.profile,
                message: billing.message,
                contact: billing.billing_contact_email,
                invoices: invoices.data,
                two_step_banner: None,
            },
        ),
        Err(Error::BillingUnavailable { contact }) => (
            503,
            BillingPageView {
                org,
                available: false,
                profile: None,
                message: crate::http::problem::billing_unavailable_text(contact.as_deref()),
                contact,
                invoices: Vec::new(),
                two_step_banner: None,
            },
        ),
        Err(e) => return Err(e),
    };
    // During an organization's two-step grace period (see `http::two_step_gate`).
    if let (Some((org, deadline)), Ok(user)) = (&req.two_step_grace, s.principal.user()) {
        view.two_step_banner = Some(format!(
            "{org} requires two-step sign-in from {}. Turn it on in Personal > Security before then to keep using {org}.",
            crate::http::pages::settings::when(user, *deadline)
        ));
    }
    let html = app.views.page("billing", "Billing", &view)?;
    Ok(Resp::html(status, html))
}
