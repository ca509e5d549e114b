//! `billing-http`: a tenantry plugin (world `billing-profile`) that reads an organization's
//! billing profile and invoices from a JSON billing API and asks it to validate tax IDs.
//!
//! Settings (`[plugins.NAME.settings]` in `tenantry.toml`):
//!
//! * `base_url` (required): the API's root, e.g. `http://127.0.0.1:8081`.
//! * `api_token` (optional): sent as `Authorization: Bearer …` on every request.
//!
//! Upstream contract (see `README.md` for the full description):
//!
//! * `GET {base_url}/organizations/{id}/profile` → 200 profile JSON, 404 when there is none.
//! * `GET {base_url}/organizations/{id}/invoices` → 200 `{"invoices": [...]}`.
//! * `POST {base_url}/tax-ids/validate` with `{"tax_id": "…"}` → 200 `{"valid", "message"}`.
//! * `GET {base_url}/organizations/{id}/billing-viewers` → 200 `{"emails": [...]}`: people
//!   who may read billing although their role does not include it; 404 means nobody.
//!
//! Errors come back as `plugin-error` with code `upstream_error` (unexpected HTTP status),
//! `upstream_unavailable` (transport error, timeout, host not on the allowlist),
//! `upstream_invalid` (an answer that is not the JSON described above, or too large) or
//! `misconfigured` (missing or unusable `base_url`).

use serde::Deserialize;
use tenantry_plugin::billing::*;
use tenantry_plugin::http::{HttpError, Request, Response};
use tenantry_plugin::prelude::*;
use tenantry_plugin::text::{cut, one_line, path_segment};

/// The component: implements `billing-hooks` on top of the JSON billing API.
pub struct BillingHttp;

tenantry_plugin::export_billing!(BillingHttp);

/// The longest field-error message the host accepts, in bytes.
const MAX_FIELD_MESSAGE: usize = 500;

impl Billing for BillingHttp {
    fn get_profile(org: Organization) -> Result<Option<BillingProfile>> {
        let api = Api::from_settings()?;
        let response = api.send(Request::get(api.org_url(&org, "profile")))?;
        if response.status == 404 {
            return Ok(None);
        }
        // The upstream's JSON has the hook's field names.
        response.json_ok("GET profile").map(Some)
    }

    fn list_invoices(org: Organization) -> Result<Vec<Invoice>> {
        #[derive(Deserialize)]
        struct Body {
            invoices: Vec<Invoice>,
        }
        let api = Api::from_settings()?;
        let response = api.send(Request::get(api.org_url(&org, "invoices")))?;
        let mut invoices = response.json_ok::<Body>("GET invoices")?.invoices;
        // The hook promises newest first; `YYYY-MM-DD` sorts lexically. Stable, so invoices
        // issued on the same day keep the upstream's order.
        invoices.sort_by(|a, b| b.issued_on.cmp(&a.issued_on));
        Ok(invoices)
    }

    fn validate_profile(_org: Organization, profile: BillingProfile) -> Result<Vec<FieldError>> {
        #[derive(Deserialize)]
        struct Body {
            valid: bool,
            #[serde(default)]
            message: Option<String>,
        }
        let tax_id = match profile.tax_id.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t,
            _ => return Ok(Vec::new()),
        };
        let api = Api::from_settings()?;
        let request = Request::post(format!("{}/tax-ids/validate", api.base_url))
            .json(&serde_json::json!({ "tax_id": tax_id }));
        let body: Body = api.send(request)?.json_ok("POST tax-ids/validate")?;
        if body.valid {
            return Ok(Vec::new());
        }
        // The host takes at most 500 bytes without control characters.
        let message = body
            .message
            .map(|m| cut(&one_line(&m), MAX_FIELD_MESSAGE).to_string())
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "This tax ID is not valid.".to_string());
        Ok(vec![FieldError {
            field: "tax_id".to_string(),
            message,
        }])
    }

    fn can_view_billing(org: Organization, member: Member) -> Result<bool> {
        #[derive(Deserialize)]
        struct Body {
            emails: Vec<String>,
        }
        let api = Api::from_settings()?;
        let response = api.send(Request::get(api.org_url(&org, "billing-viewers")))?;
        if response.status == 404 {
            return Ok(false);
        }
        let body: Body = response.json_ok("GET billing-viewers")?;
        Ok(body
            .emails
            .iter()
            .any(|e| e.trim().eq_ignore_ascii_case(&member.email)))
    }
}

/// The plugin's settings.
#[derive(Deserialize)]
struct Settings {
    base_url: String,
    api_token: Option<String>,
}

/// The billing API as configured in the plugin's settings.
struct Api {
    /// `base_url` without trailing slashes.
    base_url: String,
    /// `api_token`, if set and not blank.
    token: Option<String>,
}

impl Api {
    fn from_settings() -> Result<Self> {
        let s: Settings = settings()?;
        let base_url = s.base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::misconfigured(format!(
                "setting `base_url` must be an http:// or https:// URL, got {base_url:?}"
            )));
        }
        Ok(Api {
            base_url,
            token: s.api_token,
        })
    }

    /// `{base_url}/organizations/{id}/{what}`, the ID percent-encoded.
    fn org_url(&self, org: &Organization, what: &str) -> String {
        let id = path_segment(&org.id);
        format!("{}/organizations/{id}/{what}", self.base_url)
    }

    /// Sends `request` with `Accept: application/json` and the token, mapping host errors.
    fn send(&self, mut request: Request) -> Result<Response> {
        request = request.header("Accept", "application/json");
        if let Some(token) = &self.token {
            request = request.bearer(token);
        }
        let (method, url) = (request.method.clone(), request.url.clone());
        request.send().map_err(|e| {
            let code = match e {
                HttpError::TooLarge => "upstream_invalid",
                HttpError::InvalidRequest(_) => "misconfigured",
                _ => "upstream_unavailable",
            };
            Error::new(code, format!("{method} {url}: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tenantry_plugin::testing::MockHost;

    const BASE: &str = "https://billing.example/api";

    fn org() -> Organization {
        Organization {
            id: "org_1 /..".into(),
            slug: "acme".into(),
            name: "Acme".into(),
        }
    }

    fn configured() -> MockHost {
        MockHost::new()
            .setting("base_url", format!("{BASE}/"))
            .setting("api_token", "t0k")
    }

    #[test]
    fn reads_the_profile_by_organization_id() {
        let url = format!("{BASE}/organizations/org_1%20%2F../profile");
        let profile = json!({"legal_name": "Acme Ltd", "billing_email": "b@acme.example",
                             "address": "1 Road", "plan": "business", "extra": 1});
        let host = configured().on_json("GET", &url, 200, &profile).install();
        let p = BillingHttp::get_profile(org()).unwrap().unwrap();
        assert_eq!((p.legal_name.as_str(), p.tax_id), ("Acme Ltd", None));
        let sent = &host.requests()[0];
        assert_eq!(sent.header_value("authorization"), Some("Bearer t0k"));
        assert_eq!(sent.header_value("accept"), Some("application/json"));

        let _host = configured().on("GET", &url, 404, "").install();
        assert_eq!(BillingHttp::get_profile(org()).unwrap(), None);
    }

    #[test]
    fn sorts_invoices_newest_first() {
        let url = format!("{BASE}/organizations/org_1%20%2F../invoices");
        let invoice = |n: &str, d: &str| {
            json!({"number": n, "issued_on": d, "amount_cents": 100, "currency": "EUR",
                   "status": "paid"})
        };
        let body = json!({"invoices": [invoice("a", "2025-01-01"), invoice("b", "2025-03-01"),
                                       invoice("c", "2025-01-01")]});
        let _host = configured().on_json("GET", &url, 200, &body).install();
        let numbers: Vec<String> = BillingHttp::list_invoices(org())
            .unwrap()
            .into_iter()
            .map(|i| i.number)
            .collect();
        assert_eq!(numbers, ["b", "a", "c"]);
    }

    #[test]
    fn upstream_failures_have_their_codes() {
        let url = format!("{BASE}/organizations/org_1%20%2F../invoices");
        let _host = configured()
            .on("GET", &url, 500, "<h1>oops</h1>\r\nsorry")
            .on("GET", &url, 200, "{\"invoices\": 3}")
            .install();
        let e = BillingHttp::list_invoices(org()).unwrap_err();
        assert_eq!(e.code, "upstream_error");
        assert_eq!(
            e.message,
            "GET invoices answered HTTP 500: <h1>oops</h1>  sorry"
        );
        let e = BillingHttp::list_invoices(org()).unwrap_err();
        assert_eq!(e.code, "upstream_invalid");

        let _host = configured().allow_host("elsewhere.example").install();
        let e = BillingHttp::list_invoices(org()).unwrap_err();
        assert_eq!(e.code, "upstream_unavailable");
        assert!(e.message.contains("billing.example:443"), "{e}");

        let _host = MockHost::new().install();
        assert_eq!(
            BillingHttp::list_invoices(org()).unwrap_err(),
            Error::misconfigured("setting `base_url` is missing")
        );
        let _host = MockHost::new()
            .setting("base_url", "billing.example")
            .install();
        assert_eq!(
            BillingHttp::list_invoices(org()).unwrap_err().code,
            "misconfigured"
        );
    }

    #[test]
    fn validates_tax_ids_upstream() {
        let url = format!("{BASE}/tax-ids/validate");
        let host = configured()
            .on_json("POST", &url, 200, &json!({"valid": true}))
            .on_json(
                "POST",
                &url,
                200,
                &json!({"valid": false, "message": "no\nsuch"}),
            )
            .on_json("POST", &url, 200, &json!({"valid": false, "message": " "}))
            .install();
        let profile = |tax_id: Option<&str>| BillingProfile {
            legal_name: "A".into(),
            billing_email: "a@b.c".into(),
            address: "x".into(),
            tax_id: tax_id.map(Into::into),
            plan: "p".into(),
        };
        assert_eq!(
            BillingHttp::validate_profile(org(), profile(Some(" "))).unwrap(),
            []
        );
        assert!(host.requests().is_empty(), "no tax ID, no request");
        assert_eq!(
            BillingHttp::validate_profile(org(), profile(Some("DE1"))).unwrap(),
            []
        );
        assert_eq!(host.requests()[0].body, br#"{"tax_id":"DE1"}"#);
        let errors = BillingHttp::validate_profile(org(), profile(Some("DE1"))).unwrap();
        assert_eq!(
            (errors[0].field.as_str(), errors[0].message.as_str()),
            ("tax_id", "no such")
        );
        let errors = BillingHttp::validate_profile(org(), profile(Some("DE1"))).unwrap();
        assert_eq!(errors[0].message, "This tax ID is not valid.");
    }

    #[test]
    fn billing_viewers_come_from_the_api() {
        let url = format!("{BASE}/organizations/org_1%20%2F../billing-viewers");
        let member = |email: &str| Member {
            user_id: "usr_1".into(),
            email: email.into(),
            role: "member".into(),
        };
        let _host = configured()
            .on_json(
                "GET",
                &url,
                200,
                &json!({"emails": [" Finance@Acme.example "]}),
            )
            .install();
        assert!(BillingHttp::can_view_billing(org(), member("finance@acme.example")).unwrap());
        assert!(!BillingHttp::can_view_billing(org(), member("other@acme.example")).unwrap());
        let _host = configured().on("GET", &url, 404, "").install();
        assert!(!BillingHttp::can_view_billing(org(), member("finance@acme.example")).unwrap());
    }
}
