//! Outbound HTTP through the host: only to the plugin's `allowed_hosts`, no redirects
//! followed, cut at the plugin's HTTP timeout and response cap.
//!
//! ```ignore
//! let user: UserInfo = http::Request::get("https://id.example.com/userinfo")
//!     .bearer(&token)
//!     .send()?
//!     .json()?;
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Result};

/// An HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// GET, POST, PUT, PATCH, DELETE or HEAD.
    pub method: String,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

impl Request {
    /// A request with any method.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Request::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `Authorization: Bearer {token}`.
    pub fn bearer(self, token: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", token.as_ref());
        self.header("Authorization", value)
    }

    /// Sets an `application/x-www-form-urlencoded` body.
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        self.body = crate::text::form_encode(pairs).into_bytes();
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    /// Sets a JSON body (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => self.body = bytes,
            // Only a map with non-string keys or a failing `Serialize` gets here.
            Err(e) => log::error!(
                "{} {}: cannot encode the JSON body: {e}",
                self.method,
                self.url
            ),
        }
        self.header("Content-Type", "application/json")
    }

    /// The value of header `name` (case-insensitive), if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Sends the request and waits for the answer.
    pub fn send(self) -> Result<Response, HttpError> {
        crate::sys::http_send(&self)
    }

    /// Sends the request; no answer is an [`Error`] naming `what` (e.g. `"token endpoint"`),
    /// the method and the URL: `host_not_allowed` with the `allowed_hosts` entry to add, else
    /// `upstream_unavailable`. Any status is an answer.
    pub fn send_for(self, what: &str) -> Result<Response> {
        let at = format!("{what} ({} {})", self.method, self.url);
        self.send().map_err(|e| match e {
            HttpError::ForbiddenHost(h) => Error::new(
                "host_not_allowed",
                format!("{at}: host `{h}` is not on this plugin's allowed_hosts; add \"{h}\" to allowed_hosts (with the port when the URL has one)"),
            ),
            e => Error::upstream_unavailable(format!("{at}: {e}")),
        })
    }
}

/// An HTTP answer (any status: a non-2xx answer is not an error here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as JSON; an error `upstream_invalid` when it is not the expected JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                "upstream_invalid",
                format!("unexpected answer (HTTP {}): {e}", self.status),
            )
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body of a 2xx answer as JSON, for `what` (e.g. `"GET invoices"`): another status
    /// is `upstream_error` naming it and quoting the start of the body (on one line), a body
    /// that is not the expected JSON `upstream_invalid`.
    pub fn json_ok<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        if !self.is_success() {
            let body = crate::text::excerpt(crate::text::one_line(&self.text()).trim(), 200);
            let message = format!("{what} answered HTTP {}: {body}", self.status);
            return Err(Error::new("upstream_error", message));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            let message = format!("{what}: unexpected answer: {e}");
            Error::new("upstream_invalid", message)
        })
    }

    /// Errors `upstream_unavailable` unless the status is 2xx; the message names the status
    /// and quotes the start of the body.
    pub fn error_for_status(self) -> Result<Response> {
        if self.is_success() {
            return Ok(self);
        }
        Err(Error::upstream_unavailable(format!(
            "answered HTTP {}: {}",
            self.status,
            crate::text::excerpt(crate::text::one_line(&self.text()).trim(), 200)
        )))
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why the host could not get an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The URL's `host:port` is not on the plugin's `allowed_hosts`.
    ForbiddenHost(String),
    /// The request could not be built (bad method, URL or header).
    InvalidRequest(String),
    /// No complete answer within the plugin's HTTP timeout.
    Timeout,
    /// The answer's body was larger than the plugin's response cap.
    TooLarge,
    /// Connection refused, TLS failure and the like.
    Transport(String),
}

impl core::fmt::Display for HttpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HttpError::ForbiddenHost(host) => write!(
                f,
                "host {host} is not in this plugin's allowed_hosts (add \"{host}\" to it)"
            ),
            HttpError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            HttpError::Timeout => f.write_str("no answer in time"),
            HttpError::TooLarge => f.write_str("answer larger than the response cap"),
            HttpError::Transport(why) => write!(f, "unreachable: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// `ForbiddenHost` → `host_not_allowed` (the message names the `host:port` to add to
/// `allowed_hosts`); everything else → `upstream_unavailable`.
impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        let code = match e {
            HttpError::ForbiddenHost(_) => "host_not_allowed",
            _ => "upstream_unavailable",
        };
        Error::new(code, e.to_string())
    }
}

/// `GET url` with `Accept: application/json`, the answer parsed as JSON. A non-2xx answer
/// is `upstream_unavailable`, a body that is not the expected JSON `upstream_invalid`.
pub fn get_json<T: DeserializeOwned>(url: &str) -> Result<T> {
    let response = Request::get(url)
        .header("Accept", "application/json")
        .send()
        .map_err(|e| with_context("GET", url, e.into()))?;
    let response = response
        .error_for_status()
        .map_err(|e| with_context("GET", url, e))?;
    response.json().map_err(|e| with_context("GET", url, e))
}

/// `GET url` asking for JSON, for `what` (e.g. `"JWKS"`): the answer when it is 2xx. No
/// answer is an error as [`Request::send_for`] says; another status `upstream_unavailable`
/// naming it (and that redirects are not followed, for a 3xx).
pub fn get_ok(url: &str, what: &str) -> Result<Response> {
    let request = Request::get(url).header("accept", "application/json");
    let response = request.send_for(what)?;
    if response.is_success() {
        return Ok(response);
    }
    let status = response.status;
    let redirect = match (300..400).contains(&status) {
        true => " (redirects are not followed)",
        false => "",
    };
    let message = format!("{what} ({url}) answered HTTP {status}{redirect}");
    Err(Error::upstream_unavailable(message))
}

/// What an error answer says, for a message: its JSON `"error"` (a string, or an object's
/// `"message"`), else the start of the body; none for an empty body. At most 200
/// characters (and `…`).
pub fn error_detail(body: &[u8]) -> Option<String> {
    const MAX_QUOTED: usize = 200;
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let error = json.as_ref().and_then(|v| v.get("error"));
    let message = match error {
        Some(serde_json::Value::Object(o)) => o.get("message"),
        other => other,
    };
    if let Some(text) = message.and_then(|m| m.as_str()) {
        return Some(crate::text::excerpt(text, MAX_QUOTED));
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| crate::text::excerpt(text, MAX_QUOTED))
}

/// Whether `url` is an absolute `http://` or `https://` URL with a host, and without a
/// fragment, whitespace or control characters.
pub fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or(url.strip_prefix("http://"));
    let has_host = rest.is_some_and(|r| !r.is_empty() && !r.starts_with(['/', '?']));
    let clean = !url
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
    has_host && clean && !url.contains('#')
}

/// Whether the host of `url` is loopback (`localhost`, `127.0.0.0/8`, `[::1]`): where plain
/// `http://` is acceptable.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let ipv4 = host.parse::<std::net::Ipv4Addr>();
    host.eq_ignore_ascii_case("localhost") || host == "::1" || ipv4.is_ok_and(|ip| ip.is_loopback())
}

/// `POST url` with a form body; the answer whatever its status.
pub fn post_form(url: &str, form: &[(&str, &str)]) -> Result<Response> {
    Request::post(url)
        .form(form)
        .send()
        .map_err(|e| with_context("POST", url, e.into()))
}

/// `POST url` with a JSON body; the answer whatever its status.
pub fn post_json<T: Serialize + ?Sized>(url: &str, body: &T) -> Result<Response> {
    Request::post(url)
        .json(body)
        .send()
        .map_err(|e| with_context("POST", url, e.into()))
}

/// `e` with `METHOD url: ` in front of its message.
fn with_context(method: &str, url: &str, e: Error) -> Error {
    Error::new(e.code, format!("{method} {url}: {}", e.message))
}
