//! {{NAME}}: a tenantry email plugin (world `email-delivery`) that posts each message to a
//! JSON email API.
//!
//! Settings (`[plugins.NAME.settings]`): `endpoint`, `api_token`. `allowed_hosts` must list
//! the `host:port` of `endpoint`.

use serde::Deserialize;
use serde_json::json;
use tenantry_plugin::email::{self, Delivery, EmailDelivery, Message};
use tenantry_plugin::prelude::*;

/// The settings, read from the host by field name.
#[derive(Deserialize)]
struct Settings {
    endpoint: String,
    api_token: String,
}

/// The plugin.
pub struct Plugin;

impl EmailDelivery for Plugin {
    fn deliver(message: Message) -> Delivery {
        let s: Settings = match settings() {
            Ok(s) => s,
            Err(e) => return Delivery::Permanent(e.message),
        };
        let body = json!({
            "from": message.sender, "to": message.recipient, "subject": message.subject,
            "text": message.text, "html": message.html, "idempotency_key": message.id,
        });
        // 2xx: delivered (with the answer's "id"); 408, 429, 5xx, a timeout or no connection:
        // retryable; any other refusal (bad address, bad request): permanent.
        let request = http::Request::post(&s.endpoint).bearer(&s.api_token).json(&body);
        let outcome = match request.send() {
            Ok(r) => email::outcome(&r, "email API"),
            Err(e) => email::outcome_of_error(e, "email API"),
        };
        // Reasons on one line within the host's bounds; an unusable ID dropped.
        email::fit_for_host(outcome)
    }
}

tenantry_plugin::export_email!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_plugin::testing::MockHost;

    fn message() -> Message {
        Message {
            id: "m1".into(),
            template: "invitation".into(),
            sender: "tenantry@example.test".into(),
            recipient: "ann@example.test".into(),
            subject: "Hello".into(),
            text: "Hello".into(),
            html: "<p>Hello</p>".into(),
            attempt: 1,
        }
    }

    fn host(status: u16) -> MockHost {
        MockHost::new()
            .setting("endpoint", "https://mail.example/send")
            .setting("api_token", "t0ken")
            .on("POST", "https://mail.example/send", status, "{}")
    }

    #[test]
    fn delivers_and_tells_retryable_from_permanent() {
        let h = host(202).install();
        assert!(matches!(Plugin::deliver(message()), Delivery::Delivered(None)));
        assert_eq!(h.requests()[0].header_value("authorization"), Some("Bearer t0ken"));
        drop(h);
        let _h = host(503).install();
        assert!(matches!(Plugin::deliver(message()), Delivery::Retryable(_)));
        drop(_h);
        let _h = host(422).install();
        assert!(matches!(Plugin::deliver(message()), Delivery::Permanent(_)));
    }
}
