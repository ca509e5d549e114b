//! `email-http`: a tenantry plugin (world `email-delivery`) that brands each outgoing message
//! and sends it through a JSON email API.
//!
//! Settings (`[plugins.NAME.settings]` in `tenantry.toml`):
//!
//! * `endpoint` (required): the full URL messages are POSTed to.
//! * `api_token` (optional): sent as `Authorization: Bearer …`.
//! * `brand_name` (optional): prefixes the subject with `[brand_name] ` and appends the footer
//!   line `— sent by brand_name` to the text part and an escaped `<p>` to the HTML part.
//! * `from_override` (optional): replaces the sender address.
//!
//! Request: `POST {endpoint}` with the JSON object
//! `{"from","to","subject","text","html","template","idempotency_key"}` (the key is the
//! message ID, stable across retries; it is also sent as the `Idempotency-Key` header).
//!
//! Outcome: 2xx → `delivered` (with the answer's `"id"` when there is one); 408, 429, 5xx,
//! timeouts, transport errors and oversized answers → `retryable`; other statuses, a host that
//! is not on the allowlist, or a missing `endpoint` → `permanent`.

use serde::{Deserialize, Serialize};
use tenantry_plugin::email::*;
use tenantry_plugin::http::Request;
use tenantry_plugin::prelude::*;
use tenantry_plugin::text::escape_html;

/// The component: implements `email-hooks` on top of the JSON email API.
pub struct EmailHttp;

tenantry_plugin::export_email!(EmailHttp);

impl EmailDelivery for EmailHttp {
    fn deliver(message: Message) -> Delivery {
        let settings: Settings = match settings() {
            Ok(s) => s,
            Err(e) => return Delivery::Permanent(e.message),
        };
        if !(settings.endpoint.starts_with("http://") || settings.endpoint.starts_with("https://"))
        {
            return Delivery::Permanent(format!(
                "setting `endpoint` must be an http:// or https:// URL, got {:?}",
                settings.endpoint
            ));
        }
        let mut request = Request::post(&settings.endpoint)
            .json(&settings.compose(&message))
            .header("Accept", "application/json")
            .header("Idempotency-Key", &message.id);
        if let Some(token) = &settings.api_token {
            request = request.bearer(token);
        }
        // 2xx delivered; 408, 429, 5xx and no answer retryable; the rest permanent.
        let outcome = match request.send() {
            Ok(response) => outcome(&response, "email API"),
            Err(e) => outcome_of_error(e, "email API"),
        };
        fit_for_host(outcome)
    }
}

/// The JSON body POSTed to the endpoint.
#[derive(Serialize)]
struct Outgoing<'a> {
    from: &'a str,
    to: &'a str,
    subject: String,
    text: String,
    html: String,
    template: &'a str,
    idempotency_key: &'a str,
}

/// The plugin's settings (blank values count as unset).
#[derive(Deserialize)]
struct Settings {
    endpoint: String,
    api_token: Option<String>,
    brand_name: Option<String>,
    from_override: Option<String>,
}

impl Settings {
    /// The request body for `message`, branded and with the sender replaced as configured.
    fn compose<'a>(&'a self, message: &'a Message) -> Outgoing<'a> {
        let (subject, text, html) = match &self.brand_name {
            Some(brand) => brand_message(brand, &message.subject, &message.text, &message.html),
            None => (
                message.subject.clone(),
                message.text.clone(),
                message.html.clone(),
            ),
        };
        Outgoing {
            from: self.from_override.as_deref().unwrap_or(&message.sender),
            to: &message.recipient,
            subject,
            text,
            html,
            template: &message.template,
            idempotency_key: &message.id,
        }
    }
}

/// Subject, text and HTML with the brand applied: `[brand] subject`, a footer line
/// `— sent by brand` at the end of the text (after a blank line), and `<p>— sent by brand</p>`
/// (escaped) before `</body>` of the HTML, or at its end when it has none. An empty HTML part
/// stays empty.
fn brand_message(brand: &str, subject: &str, text: &str, html: &str) -> (String, String, String) {
    let subject = format!("[{brand}] {subject}");

    let mut text = text.to_string();
    if !text.is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&format!("— sent by {brand}\n"));

    let html = if html.is_empty() {
        String::new()
    } else {
        let footer = format!("<p>— sent by {}</p>", escape_html(brand));
        // ASCII lower-casing keeps byte offsets, so the index is valid in `html`.
        match html.to_ascii_lowercase().rfind("</body>") {
            Some(at) => format!("{}{footer}{}", &html[..at], &html[at..]),
            None => format!("{html}{footer}"),
        }
    };
    (subject, text, html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use tenantry_plugin::http::{error_detail, HttpError};
    use tenantry_plugin::testing::MockHost;

    const ENDPOINT: &str = "https://mail.example/v1/messages";

    fn message() -> Message {
        Message {
            id: "msg_1".into(),
            template: "invitation".into(),
            sender: "no-reply@tenantry.example".into(),
            recipient: "ada@example.com".into(),
            subject: "You are invited".into(),
            text: "Hello".into(),
            html: "<html><body><p>Hello</p></body></html>".into(),
            attempt: 1,
        }
    }

    #[test]
    fn brands_and_posts_the_message() {
        let host = MockHost::new()
            .setting("endpoint", ENDPOINT)
            .setting("api_token", "mail-token")
            .setting("brand_name", "A&B")
            .setting("from_override", "no-reply@acme.example")
            .on_json("POST", ENDPOINT, 202, &json!({"id": 42}))
            .install();
        assert_eq!(
            EmailHttp::deliver(message()),
            Delivery::Delivered(Some("42".into()))
        );
        let sent = &host.requests()[0];
        assert_eq!(sent.header_value("idempotency-key"), Some("msg_1"));
        assert_eq!(
            sent.header_value("authorization"),
            Some("Bearer mail-token")
        );
        assert_eq!(sent.header_value("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(
            body,
            json!({"from": "no-reply@acme.example", "to": "ada@example.com",
                   "subject": "[A&B] You are invited", "text": "Hello\n\n— sent by A&B\n",
                   "html": "<html><body><p>Hello</p><p>— sent by A&amp;B</p></body></html>",
                   "template": "invitation", "idempotency_key": "msg_1"})
        );
    }

    #[test]
    fn answers_decide_retry_or_give_up() {
        let host = MockHost::new()
            .setting("endpoint", ENDPOINT)
            .on("POST", ENDPOINT, 503, "")
            .on_json(
                "POST",
                ENDPOINT,
                429,
                &json!({"error": {"message": "slow\ndown"}}),
            )
            .on_json("POST", ENDPOINT, 422, &json!({"error": "bad address"}))
            .on("POST", ENDPOINT, 200, "not json")
            .on_json("POST", ENDPOINT, 200, &json!({"id": "x".repeat(300)}))
            .install();
        let outcomes: Vec<Delivery> = (0..5).map(|_| EmailHttp::deliver(message())).collect();
        assert_eq!(
            outcomes,
            [
                Delivery::Retryable("email API answered HTTP 503".into()),
                Delivery::Retryable("email API answered HTTP 429: slow down".into()),
                Delivery::Permanent("email API answered HTTP 422: bad address".into()),
                Delivery::Delivered(None),
                Delivery::Delivered(None),
            ]
        );
        assert!(host
            .logs()
            .iter()
            .any(|(_, m)| m.contains("message id is too long")));
        // Without brand_name the message goes unchanged.
        let body: Value = serde_json::from_slice(&host.requests()[0].body).unwrap();
        assert_eq!(body["subject"], "You are invited");
        assert_eq!(body["from"], "no-reply@tenantry.example");
    }

    #[test]
    fn host_failures_and_settings() {
        let _host = MockHost::new()
            .setting("endpoint", ENDPOINT)
            .allow_host("other.example:443")
            .install();
        assert_eq!(
            EmailHttp::deliver(message()),
            Delivery::Permanent(
                "host mail.example:443 is not in this plugin's allowed_hosts".into()
            )
        );
        let _host = MockHost::new()
            .setting("endpoint", ENDPOINT)
            .respond_with(|_| Err(HttpError::Timeout))
            .allow_host("mail.example")
            .install();
        assert_eq!(
            EmailHttp::deliver(message()),
            Delivery::Retryable("email API did not answer in time".into())
        );
        let _host = MockHost::new().setting("endpoint", " ").install();
        assert_eq!(
            EmailHttp::deliver(message()),
            Delivery::Permanent("setting `endpoint` is missing".into())
        );
        let _host = MockHost::new()
            .setting("endpoint", "mail.example")
            .install();
        assert!(
            matches!(EmailHttp::deliver(message()), Delivery::Permanent(m) if m.contains("http://"))
        );
    }

    #[test]
    fn brands_subject_text_and_html() {
        let (s, t, h) = brand_message(
            "A&B",
            "Hi",
            "Hello",
            "<html><BODY><p>Hello</p></Body></html>",
        );
        assert_eq!(s, "[A&B] Hi");
        assert_eq!(t, "Hello\n\n— sent by A&B\n");
        assert_eq!(
            h,
            "<html><BODY><p>Hello</p><p>— sent by A&amp;B</p></Body></html>"
        );
        let (_, t, h) = brand_message("X", "s", "", "");
        assert_eq!(t, "— sent by X\n");
        assert_eq!(h, "");
        let (_, _, h) = brand_message("<X>", "s", "", "<p>hi</p>");
        assert_eq!(h, "<p>hi</p><p>— sent by &lt;X&gt;</p>");
    }

    #[test]
    fn error_details() {
        assert_eq!(
            error_detail(br#"{"error":"bad address"}"#).as_deref(),
            Some("bad address")
        );
        assert_eq!(
            error_detail(br#"{"error":{"message":"nope"}}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(error_detail(b"  ").as_deref(), None);
        assert_eq!(error_detail(b"oops").as_deref(), Some("oops"));
    }

    #[test]
    fn reasons_fit_the_host() {
        let long = format!("x\r\n{}", "é".repeat(1000));
        match fit_for_host(Delivery::Retryable(long)) {
            Delivery::Retryable(why) => {
                assert!(why.len() <= MAX_REASON);
                assert!(why.starts_with("x  é"));
                assert!(!why.chars().any(char::is_control));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fit_for_host(Delivery::Permanent("a\nb".into())),
            Delivery::Permanent("a b".into())
        );
    }
}
