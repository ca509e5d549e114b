//! Outbound HTTP through the host (`host::http-send`), with errors mapped to plugin codes.

use serde_json::{Map, Value};

use crate::tenantry::plugin::host::{self, HttpError, HttpRequest, HttpResponse};
use crate::util::clip;
use crate::{code, Failure};

/// Sends one request; any failure to get an answer becomes `upstream_unavailable`.
/// `what` names the endpoint in messages (e.g. `"token endpoint"`).
pub(crate) fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    what: &str,
) -> Result<HttpResponse, Failure> {
    let request = HttpRequest {
        method: method.to_string(),
        url: url.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body,
    };
    host::http_send(&request).map_err(|e| {
        let why = match e {
            HttpError::ForbiddenHost(h) => {
                return Failure::new(
                    code::HOST_NOT_ALLOWED,
                    format!(
                        "{what} ({method} {url}): host `{h}` is not on this plugin's allowed_hosts; \
                         add \"{h}\" to allowed_hosts (with the port when the URL has one)"
                    ),
                );
            }
            HttpError::InvalidRequest(m) => format!("invalid request: {m}"),
            HttpError::Timeout => "timed out".to_string(),
            HttpError::TooLarge => "answer larger than the plugin's response cap".to_string(),
            HttpError::Transport(m) => format!("transport error: {m}"),
        };
        Failure::new(
            code::UPSTREAM_UNAVAILABLE,
            format!("{what} ({method} {url}): {why}"),
        )
    })
}

/// Whether `status` is 2xx.
pub(crate) fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// GETs a JSON object: non-2xx is `upstream_unavailable`; a body that is not a JSON object
/// is `bad_body_code`.
pub(crate) fn get_json_object(
    url: &str,
    what: &str,
    bad_body_code: &'static str,
) -> Result<Map<String, Value>, Failure> {
    let response = send(
        "GET",
        url,
        &[("accept", "application/json")],
        Vec::new(),
        what,
    )?;
    if !is_success(response.status) {
        let hint = if (300..400).contains(&response.status) {
            " (redirects are not followed)"
        } else {
            ""
        };
        return Err(Failure::new(
            code::UPSTREAM_UNAVAILABLE,
            format!("{what} ({url}) answered HTTP {}{hint}", response.status),
        ));
    }
    parse_object(&response.body).ok_or_else(|| {
        Failure::new(
            bad_body_code,
            format!("{what} ({url}) did not answer a JSON object"),
        )
    })
}

/// `body` as a JSON object, if it is one.
pub(crate) fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// A short description of an OAuth error answer (`error` and `error_description`), or the
/// start of the body when it is not one.
pub(crate) fn describe_error_body(body: &[u8]) -> String {
    if let Some(map) = parse_object(body) {
        if let Some(error) = map.get("error").and_then(Value::as_str) {
            return match map.get("error_description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{}: {}", clip(error, 100), clip(d, 300)),
                _ => clip(error, 100),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "empty body".to_string()
    } else {
        format!("body `{}`", clip(text, 200))
    }
}
