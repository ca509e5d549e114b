//! Responses and how they are written. Every response is serialised by us and written through
//! `Request::into_writer`, because tiny_http silently drops a `Connection` header set on its
//! own `Response` type and we need `Connection: close` on refusals and at shutdown.

use std::io::Write;

/// A response about to be written.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers (name, value); `Content-Length` and `Connection` are added when written.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Resp {
    /// An empty response with a status.
    pub fn new(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response.
    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Resp {
        Resp::new(status)
            .header("Content-Type", "application/json")
            .body({
                let mut body = Vec::with_capacity(256);
                match serde_json::to_writer(&mut body, value) {
                    Ok(()) => body,
                    Err(_) => Vec::new(),
                }
            })
    }

    /// An HTML page.
    pub fn html(status: u16, html: String) -> Resp {
        Resp::new(status)
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'")
            .header("X-Frame-Options", "DENY")
            .body(html.into_bytes())
    }

    /// A 303 redirect (after a form post).
    pub fn see_other(location: &str) -> Resp {
        Resp::new(303).header("Location", location)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Resp {
        self.body = body;
        self
    }

    /// Serialises status line, headers and body (no body for HEAD).
    pub fn to_bytes(&self, close: bool, head: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (k, v) in &self.headers {
            // Values may carry input (a redirect target, a file name): no control character
            // other than HTAB ever reaches the wire, and a name that is not a token is
            // dropped, so input can never end a header line or start a new one.
            if k.is_empty() || !k.bytes().all(is_tchar) {
                continue;
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            if v.chars().all(|c| c == '\t' || !c.is_control()) {
                out.extend_from_slice(v.as_bytes());
            } else {
                let v: String = v
                    .chars()
                    .filter(|c| *c == '\t' || !c.is_control())
                    .collect();
                out.extend_from_slice(v.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("cache-control"))
        {
            out.extend_from_slice(b"Cache-Control: no-store\r\n");
        }
        out.extend_from_slice(b"X-Content-Type-Options: nosniff\r\n");
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// A header-name character (RFC 9110 §5.6.2 `tchar`).
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Writes a serialised response to the connection and flushes it.
pub fn write_to(mut w: Box<dyn Write + Send>, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes)?;
    w.flush()
}

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 11: no response header carries CR or LF, whatever a handler put in it.
    #[test]
    fn header_lines_cannot_be_split() {
        let r = Resp::new(303)
            .header("Location", "/x\r\nSet-Cookie: evil=1")
            .header("X-Bad\r\nInjected", "v");
        let text = String::from_utf8(r.to_bytes(false, false)).unwrap();
        assert!(!text.contains("\r\nSet-Cookie"), "{text}");
        assert!(!text.contains("Injected"), "{text}");
        assert!(
            text.contains("Location: /xSet-Cookie: evil=1\r\n"),
            "{text}"
        );
    }
}
