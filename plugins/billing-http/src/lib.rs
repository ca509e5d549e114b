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
//!
//! The plugin runs without WASI: it only talks to the host through the `host` interface.

wit_bindgen::generate!({
    path: "../wit",
    world: "billing-profile",
});

use std::fmt::Write as _;

use exports::tenantry::plugin::billing_hooks::{
    BillingProfile, FieldError, Guest, Invoice, Member, Organization,
};
use serde::{Deserialize, Serialize};
use tenantry::plugin::host::{self, HttpError, HttpRequest, HttpResponse, LogLevel};
use tenantry::plugin::types::PluginError;

/// The component: implements `billing-hooks` on top of the JSON billing API.
pub struct BillingHttp;

export!(BillingHttp);

/// The most characters of an answer body quoted in an error message.
const MAX_QUOTED_BODY: usize = 200;

/// The longest field-error message the host accepts, in bytes.
const MAX_FIELD_MESSAGE: usize = 500;

impl Guest for BillingHttp {
    fn get_profile(org: Organization) -> Result<Option<BillingProfile>, PluginError> {
        install_panic_hook();
        let api = Api::from_settings()?;
        let url = format!(
            "{}/organizations/{}/profile",
            api.base_url,
            encode_path_segment(&org.id)
        );
        let response = api.send("GET", &url, None)?;
        if response.status == 404 {
            return Ok(None);
        }
        expect_success(&response, "GET", "profile")?;
        let body: ProfileBody = parse_json(&response.body, "profile")?;
        Ok(Some(BillingProfile {
            legal_name: body.legal_name,
            billing_email: body.billing_email,
            address: body.address,
            tax_id: body.tax_id,
            plan: body.plan,
        }))
    }

    fn list_invoices(org: Organization) -> Result<Vec<Invoice>, PluginError> {
        install_panic_hook();
        let api = Api::from_settings()?;
        let url = format!(
            "{}/organizations/{}/invoices",
            api.base_url,
            encode_path_segment(&org.id)
        );
        let response = api.send("GET", &url, None)?;
        expect_success(&response, "GET", "invoices")?;
        let body: InvoicesBody = parse_json(&response.body, "invoices")?;
        let mut invoices: Vec<Invoice> = body
            .invoices
            .into_iter()
            .map(|i| Invoice {
                number: i.number,
                issued_on: i.issued_on,
                amount_cents: i.amount_cents,
                currency: i.currency,
                status: i.status,
                url: i.url,
            })
            .collect();
        // The hook promises newest first; `YYYY-MM-DD` sorts lexically. Stable, so invoices
        // issued on the same day keep the upstream's order.
        invoices.sort_by(|a, b| b.issued_on.cmp(&a.issued_on));
        Ok(invoices)
    }

    fn validate_profile(
        _org: Organization,
        profile: BillingProfile,
    ) -> Result<Vec<FieldError>, PluginError> {
        install_panic_hook();
        let tax_id = match profile.tax_id.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t,
            _ => return Ok(Vec::new()),
        };
        let api = Api::from_settings()?;
        let url = format!("{}/tax-ids/validate", api.base_url);
        let request = serde_json::to_vec(&ValidateRequest { tax_id })
            .map_err(|e| error("upstream_invalid", format!("cannot encode request: {e}")))?;
        let response = api.send("POST", &url, Some(request))?;
        expect_success(&response, "POST", "tax-ids/validate")?;
        let body: ValidateBody = parse_json(&response.body, "tax-ids/validate")?;
        if body.valid {
            return Ok(Vec::new());
        }
        // The host takes at most 500 bytes without control characters.
        let message = body
            .message
            .map(|m| cut(&one_line(&m), MAX_FIELD_MESSAGE))
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "This tax ID is not valid.".to_string());
        Ok(vec![FieldError {
            field: "tax_id".to_string(),
            message,
        }])
    }

    fn can_view_billing(org: Organization, member: Member) -> Result<bool, PluginError> {
        install_panic_hook();
        let api = Api::from_settings()?;
        let url = format!(
            "{}/organizations/{}/billing-viewers",
            api.base_url,
            encode_path_segment(&org.id)
        );
        let response = api.send("GET", &url, None)?;
        if response.status == 404 {
            return Ok(false);
        }
        expect_success(&response, "GET", "billing-viewers")?;
        let body: ViewersBody = parse_json(&response.body, "billing-viewers")?;
        Ok(body
            .emails
            .iter()
            .any(|e| e.trim().eq_ignore_ascii_case(&member.email)))
    }
}

/// `200` answer of `GET /organizations/{id}/billing-viewers`.
#[derive(Deserialize)]
struct ViewersBody {
    emails: Vec<String>,
}

/// `200` answer of `GET /organizations/{id}/profile`.
#[derive(Deserialize)]
struct ProfileBody {
    legal_name: String,
    billing_email: String,
    address: String,
    #[serde(default)]
    tax_id: Option<String>,
    plan: String,
}

/// `200` answer of `GET /organizations/{id}/invoices`.
#[derive(Deserialize)]
struct InvoicesBody {
    invoices: Vec<InvoiceBody>,
}

/// One entry of [`InvoicesBody::invoices`].
#[derive(Deserialize)]
struct InvoiceBody {
    number: String,
    issued_on: String,
    amount_cents: i64,
    currency: String,
    status: String,
    #[serde(default)]
    url: Option<String>,
}

/// Body of `POST /tax-ids/validate`.
#[derive(Serialize)]
struct ValidateRequest<'a> {
    tax_id: &'a str,
}

/// `200` answer of `POST /tax-ids/validate`.
#[derive(Deserialize)]
struct ValidateBody {
    valid: bool,
    #[serde(default)]
    message: Option<String>,
}

/// The billing API as configured in the plugin's settings.
struct Api {
    /// `base_url` without trailing slashes.
    base_url: String,
    /// `api_token`, if set and not blank.
    token: Option<String>,
}

impl Api {
    /// Reads `base_url` and `api_token` from the host.
    fn from_settings() -> Result<Self, PluginError> {
        let base_url = host::setting("base_url")
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| error("misconfigured", "setting `base_url` is missing"))?;
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(error(
                "misconfigured",
                format!("setting `base_url` must be an http:// or https:// URL, got {base_url:?}"),
            ));
        }
        let token = host::setting("api_token")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Ok(Api { base_url, token })
    }

    /// Sends one request (JSON body when `body` is given) and maps host errors to
    /// plugin errors.
    fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, PluginError> {
        let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
        if body.is_some() {
            headers.push(("Content-Type".to_string(), "application/json".to_string()));
        }
        if let Some(token) = &self.token {
            headers.push(("Authorization".to_string(), format!("Bearer {token}")));
        }
        let request = HttpRequest {
            method: method.to_string(),
            url: url.to_string(),
            headers,
            body: body.unwrap_or_default(),
        };
        host::http_send(&request).map_err(|e| match e {
            HttpError::ForbiddenHost(host) => error(
                "upstream_unavailable",
                format!("{method} {url}: host {host} is not in allowed_hosts"),
            ),
            HttpError::Timeout => error(
                "upstream_unavailable",
                format!("{method} {url}: no answer in time"),
            ),
            HttpError::Transport(why) => {
                error("upstream_unavailable", format!("{method} {url}: {why}"))
            }
            HttpError::TooLarge => error(
                "upstream_invalid",
                format!("{method} {url}: answer larger than the response cap"),
            ),
            HttpError::InvalidRequest(why) => error(
                "misconfigured",
                format!("{method} {url}: invalid request: {why}"),
            ),
        })
    }
}

/// `Ok` for a 2xx answer, an `upstream_error` naming the status otherwise.
fn expect_success(response: &HttpResponse, method: &str, what: &str) -> Result<(), PluginError> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    Err(error(
        "upstream_error",
        format!(
            "{method} {what} answered HTTP {}: {}",
            response.status,
            quote_body(&response.body)
        ),
    ))
}

/// Parses an answer body, mapping failures to `upstream_invalid`.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, PluginError> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            "upstream_invalid",
            format!("{what}: unexpected answer: {e}"),
        )
    })
}

/// The start of a body, as one line of text, for error messages.
fn quote_body(body: &[u8]) -> String {
    let text = one_line(&String::from_utf8_lossy(body));
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED_BODY) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// `text` with every control character (line breaks included) replaced by a space.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Percent-encodes one URL path segment: everything but RFC 3986 unreserved characters,
/// and the dots of a `.` or `..` segment (so an identifier cannot climb the path).
fn encode_path_segment(segment: &str) -> String {
    let dot_segment = segment == "." || segment == "..";
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'~')
            || (b == b'.' && !dot_segment);
        if keep {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Builds a plugin error (its message on one line).
fn error(code: &str, message: impl Into<String>) -> PluginError {
    PluginError {
        code: code.to_string(),
        message: one_line(&message.into()),
    }
}

/// Sends panic messages to the host log (the default hook would write to stderr, which the
/// host does not grant).
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info.payload_as_str().unwrap_or("(no message)");
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            host::log(
                LogLevel::Error,
                &format!("billing-http panicked{place}: {message}"),
            );
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::{cut, encode_path_segment, one_line, quote_body};

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode_path_segment("acme-inc_2.0~x"), "acme-inc_2.0~x");
        assert_eq!(encode_path_segment("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
        assert_eq!(encode_path_segment(".."), "%2E%2E");
        assert_eq!(encode_path_segment("."), "%2E");
    }

    #[test]
    fn quotes_bodies_on_one_line() {
        assert_eq!(
            quote_body(b"<h1>502</h1>\r\n<p>bad</p>\r\n"),
            "<h1>502</h1>  <p>bad</p>"
        );
        assert_eq!(quote_body("é".repeat(300).as_bytes()).chars().count(), 201);
        assert_eq!(one_line("a\tb\nc"), "a b c");
        assert_eq!(cut("ééé", 5), "éé");
        assert_eq!(cut("abc", 10), "abc");
    }
}
