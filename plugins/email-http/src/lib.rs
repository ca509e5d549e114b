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
//!
//! The plugin runs without WASI: it only talks to the host through the `host` interface.

wit_bindgen::generate!({
    path: "../wit",
    world: "email-delivery",
});

use exports::tenantry::plugin::email_hooks::{Delivery, Guest, Message};
use serde::Serialize;
use tenantry::plugin::host::{self, HttpError, HttpRequest, HttpResponse, LogLevel};

/// The component: implements `email-hooks` on top of the JSON email API.
pub struct EmailHttp;

export!(EmailHttp);

/// The most characters of an upstream answer quoted in a reason.
const MAX_QUOTED: usize = 200;

impl Guest for EmailHttp {
    fn deliver(message: Message) -> Delivery {
        install_panic_hook();
        let settings = match Settings::from_host() {
            Ok(s) => s,
            Err(why) => return Delivery::Permanent(why),
        };
        let outgoing = settings.compose(&message);
        let body = match serde_json::to_vec(&outgoing) {
            Ok(b) => b,
            Err(e) => return Delivery::Permanent(format!("cannot encode the request: {e}")),
        };
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Accept".to_string(), "application/json".to_string()),
            ("Idempotency-Key".to_string(), message.id.clone()),
        ];
        if let Some(token) = &settings.api_token {
            headers.push(("Authorization".to_string(), format!("Bearer {token}")));
        }
        let request = HttpRequest {
            method: "POST".to_string(),
            url: settings.endpoint.clone(),
            headers,
            body,
        };
        let outcome = match host::http_send(&request) {
            Ok(response) => classify(&response),
            Err(e) => transport_outcome(e),
        };
        fit_for_host(outcome)
    }
}

/// The longest message ID the host accepts, in bytes.
const MAX_ID: usize = 256;

/// The longest reason kept, in bytes (the host accepts up to 1 000).
const MAX_REASON: usize = 900;

/// Makes an outcome acceptable to the host, which refuses IDs over 256 bytes and text with
/// control characters: reasons go on one line and are cut; an unusable ID is dropped (the
/// message *was* accepted, so it must not turn into a retry).
fn fit_for_host(outcome: Delivery) -> Delivery {
    match outcome {
        Delivery::Delivered(Some(id)) if id.len() > MAX_ID || id.chars().any(char::is_control) => {
            host::log(
                LogLevel::Warn,
                "the email API's message id is too long or has control characters; dropped",
            );
            Delivery::Delivered(None)
        }
        Delivery::Retryable(why) => Delivery::Retryable(cut(&one_line(&why), MAX_REASON)),
        Delivery::Permanent(why) => Delivery::Permanent(cut(&one_line(&why), MAX_REASON)),
        other => other,
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

/// The plugin's settings.
struct Settings {
    endpoint: String,
    api_token: Option<String>,
    brand_name: Option<String>,
    from_override: Option<String>,
}

impl Settings {
    /// Reads the settings; `Err` holds the reason for a `permanent` outcome.
    fn from_host() -> Result<Self, String> {
        let endpoint = optional("endpoint").ok_or("setting `endpoint` is missing")?;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!(
                "setting `endpoint` must be an http:// or https:// URL, got {endpoint:?}"
            ));
        }
        Ok(Settings {
            endpoint,
            api_token: optional("api_token"),
            brand_name: optional("brand_name"),
            from_override: optional("from_override"),
        })
    }

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

/// A setting, trimmed; `None` when unset or blank.
fn optional(name: &str) -> Option<String> {
    host::setting(name)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Subject, text and HTML with the brand applied: `[brand] subject`, a footer line
/// `— sent by brand` at the end of the text (after a blank line), and `<p>— sent by brand</p>` (escaped) before
/// `</body>` of the HTML, or at its end when it has none. An empty HTML part stays empty.
fn brand_message(brand: &str, subject: &str, text: &str, html: &str) -> (String, String, String) {
    let subject = format!("[{brand}] {subject}");

    let mut text = text.to_string();
    if !text.is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str("— sent by ");
    text.push_str(brand);
    text.push('\n');

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

/// Escapes text for HTML content and attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The outcome for an answer of the email API.
fn classify(response: &HttpResponse) -> Delivery {
    let status = response.status;
    if (200..300).contains(&status) {
        let id = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| match v.get("id") {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            });
        return Delivery::Delivered(id);
    }
    let reason = match error_detail(&response.body) {
        Some(detail) => format!("email API answered HTTP {status}: {detail}"),
        None => format!("email API answered HTTP {status}"),
    };
    if status == 408 || status == 429 || status >= 500 {
        Delivery::Retryable(reason)
    } else {
        Delivery::Permanent(reason)
    }
}

/// The API's `"error"` field (a string, or an object with a `"message"`), else the start of
/// the body; `None` for an empty body.
fn error_detail(body: &[u8]) -> Option<String> {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        match value.get("error") {
            Some(serde_json::Value::String(s)) => return Some(truncate(s)),
            Some(serde_json::Value::Object(o)) => {
                if let Some(serde_json::Value::String(s)) = o.get("message") {
                    return Some(truncate(s));
                }
            }
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| truncate(text))
}

/// `s` cut to [`MAX_QUOTED`] characters.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// The outcome when the host could not get an answer.
fn transport_outcome(error: HttpError) -> Delivery {
    match error {
        HttpError::Timeout => Delivery::Retryable("email API did not answer in time".to_string()),
        HttpError::Transport(why) => Delivery::Retryable(format!("email API unreachable: {why}")),
        // The message may have been accepted; the idempotency key makes a retry safe.
        HttpError::TooLarge => {
            Delivery::Retryable("email API answer larger than the response cap".to_string())
        }
        HttpError::ForbiddenHost(host) => {
            Delivery::Permanent(format!("host {host} is not in this plugin's allowed_hosts"))
        }
        HttpError::InvalidRequest(why) => {
            Delivery::Permanent(format!("invalid request to the email API: {why}"))
        }
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
                &format!("email-http panicked{place}: {message}"),
            );
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
        match fit_for_host(Delivery::Permanent("a\nb".into())) {
            Delivery::Permanent(why) => assert_eq!(why, "a b"),
            other => panic!("{other:?}"),
        }
        match fit_for_host(Delivery::Delivered(Some("msg-1".into()))) {
            Delivery::Delivered(Some(id)) => assert_eq!(id, "msg-1"),
            other => panic!("{other:?}"),
        }
    }
}
