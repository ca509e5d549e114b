//! {{NAME}}: a tenantry billing plugin (world `billing-profile`) that reads an
//! organization's billing profile from a JSON API.
//!
//! Settings (`[plugins.NAME.settings]`): `base_url`, `api_token` (optional).
//! `allowed_hosts` must list the `host:port` of `base_url`.

use serde::Deserialize;
use tenantry_plugin::billing::{Billing, BillingProfile, Invoice, Organization};
use tenantry_plugin::prelude::*;
use tenantry_plugin::text::path_segment;

/// The settings, read from the host by field name.
#[derive(Deserialize)]
struct Settings {
    base_url: String,
    api_token: Option<String>,
}

/// The API's profile. Adapt the field names to your billing system.
#[derive(Deserialize)]
struct Profile {
    legal_name: String,
    billing_email: String,
    address: String,
    tax_id: Option<String>,
    plan: String,
}

/// The plugin.
pub struct Plugin;

impl Billing for Plugin {
    fn get_profile(org: Organization) -> Result<Option<BillingProfile>> {
        let s: Settings = settings()?;
        let url = format!("{}/organizations/{}/profile", s.base_url, path_segment(&org.id));
        let mut request = http::Request::get(&url).header("accept", "application/json");
        if let Some(token) = &s.api_token {
            request = request.bearer(token);
        }
        let response = request.send()?;
        if response.status == 404 {
            return Ok(None);
        }
        let p: Profile = response.error_for_status()?.json()?;
        Ok(Some(BillingProfile {
            legal_name: p.legal_name,
            billing_email: p.billing_email,
            address: p.address,
            tax_id: p.tax_id,
            plan: p.plan,
        }))
    }

    fn list_invoices(_org: Organization) -> Result<Vec<Invoice>> {
        Ok(Vec::new())
    }
}

tenantry_plugin::export_billing!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tenantry_plugin::testing::MockHost;

    fn org() -> Organization {
        Organization { id: "org_1".into(), slug: "acme".into(), name: "Acme".into() }
    }

    #[test]
    fn reads_the_profile_and_knows_a_missing_one() {
        let host = MockHost::new()
            .setting("base_url", "https://billing.example")
            .setting("api_token", "t0ken")
            .on_json(
                "GET",
                "https://billing.example/organizations/org_1/profile",
                200,
                &json!({"legal_name": "Acme Ltd", "billing_email": "ap@acme.example",
                        "address": "1 Road", "tax_id": null, "plan": "pro"}),
            )
            .install();
        let profile = Plugin::get_profile(org()).unwrap().unwrap();
        assert_eq!(profile.legal_name, "Acme Ltd");
        assert_eq!(host.requests()[0].header_value("authorization"), Some("Bearer t0ken"));
    }

    #[test]
    fn an_api_that_answers_an_error_is_an_error() {
        let _host = MockHost::new()
            .setting("base_url", "https://billing.example")
            .on("GET", "https://billing.example/organizations/org_1/profile", 503, "down")
            .install();
        assert_eq!(Plugin::get_profile(org()).unwrap_err().code, "upstream_unavailable");
    }
}
