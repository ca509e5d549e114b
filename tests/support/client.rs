//! Minimal raw HTTP/1.1 clients over `std::net::TcpStream` (no crates besides
//! `serde_json`): a one-shot [`Client`] (`Connection: close`, read to EOF), a
//! cookie-carrying [`Session`], and a [`KeepAlive`] connection that sends many
//! requests over one socket.

use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Name of the session cookie set by tenantry.
pub const SESSION_COOKIE: &str = "tenantry_session";

/// Default socket timeout for one-shot requests.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names are lower-cased; values are trimmed. Order is preserved.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name` (case-insensitive), e.g. `set-cookie`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body parsed as JSON; panics with the status and body text otherwise.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}); status {} body: {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// True when the server announced it will close the connection.
    pub fn connection_close(&self) -> bool {
        self.header_all("connection")
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// Serialises a request. Adds `Host` and (when a body is given or the method
/// usually carries one) `Content-Length` unless the caller supplied them.
pub fn encode_request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    connection_close: bool,
) -> Vec<u8> {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        out.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if connection_close && !has("connection") {
        out.push_str("Connection: close\r\n");
    }
    let needs_length = body.is_some() || matches!(method, "POST" | "PUT" | "PATCH");
    if needs_length && !has("content-length") && !has("transfer-encoding") {
        out.push_str(&format!(
            "Content-Length: {}\r\n",
            body.map_or(0, <[u8]>::len)
        ));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    bytes
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r.read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a complete response head",
        ));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| invalid("non-UTF-8 response head line"))
}

/// Reads one response from `r`. `request_method` is needed to know whether a
/// body follows (HEAD). Bodies are framed by Content-Length, chunked encoding,
/// or (with neither) read until EOF.
pub fn read_response(r: &mut impl BufRead, request_method: &str) -> io::Result<Response> {
    loop {
        let status_line = read_line(r)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(invalid(format!("bad status line: {status_line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line: {status_line:?}")))?;

        let mut headers = Vec::new();
        loop {
            let line = read_line(r)?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header line: {line:?}")))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };

        // Interim responses (100 Continue etc.): skip and read the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        if request_method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
            return Ok(resp);
        }

        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            resp.body = read_chunked(r)?;
        } else if let Some(len) = resp.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| invalid(format!("bad content-length: {len:?}")))?;
            let mut body = vec![0; len];
            r.read_exact(&mut body)?;
            resp.body = body;
        } else {
            r.read_to_end(&mut resp.body)?;
        }
        return Ok(resp);
    }
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size_str = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_str, 16)
            .map_err(|_| invalid(format!("bad chunk size line: {line:?}")))?;
        if size == 0 {
            // Trailers until an empty line.
            while !read_line(r)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let crlf = read_line(r)?;
        if !crlf.is_empty() {
            return Err(invalid("missing CRLF after chunk"));
        }
    }
}

/// Parses a complete response held in memory (e.g. everything read to EOF).
pub fn parse_response(bytes: &[u8], request_method: &str) -> io::Result<Response> {
    read_response(&mut Cursor::new(bytes), request_method)
}

/// Writes `bytes` to a fresh connection, half-closes nothing, and reads until
/// EOF (or timeout). Returns the raw bytes. Useful for malformed requests.
pub fn send_raw(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(bytes)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// Sends `head` and then `body` from a separate writer thread (ignoring write
/// errors such as EPIPE/ECONNRESET when the server answers early and closes)
/// while this thread reads the response. This is the right way to send an
/// oversized request: a server may legitimately reply 413/431 before reading
/// everything.
pub fn send_while_reading(
    addr: SocketAddr,
    head: Vec<u8>,
    body: Vec<u8>,
    method: &str,
    timeout: Duration,
) -> io::Result<Response> {
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut w = s.try_clone()?;
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&head);
        for chunk in body.chunks(16 * 1024) {
            if w.write_all(chunk).is_err() {
                break;
            }
        }
    });
    let mut reader = BufReader::new(s);
    let result = read_response(&mut reader, method);
    let _ = reader.get_ref().shutdown(Shutdown::Both);
    let _ = writer.join();
    result
}

/// One-shot client: every request uses a new connection with
/// `Connection: close` and reads until EOF.
#[derive(Debug, Clone)]
pub struct Client {
    pub base: SocketAddr,
    pub timeout: Duration,
    /// The `Origin` unsafe requests of a [`Session`] carry, when the server's `public_url`
    /// names it otherwise than by this address (e.g. `http://localhost:PORT`).
    pub public_origin: Option<String>,
}

impl Client {
    pub fn new(base: SocketAddr) -> Self {
        Client {
            base,
            timeout: DEFAULT_TIMEOUT,
            public_origin: None,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `http://ADDR` (no trailing slash), e.g. for `Origin`; the server's public origin
    /// when it has another one.
    pub fn origin(&self) -> String {
        self.public_origin
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.base))
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let req = encode_request(method, path, &self.base.to_string(), headers, body, true);
        let raw = send_raw(self.base, &req, self.timeout)?;
        parse_response(&raw, method)
    }

    /// Like [`Client::try_request`] but panics with context on I/O errors.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} to {} failed: {e}", self.base))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    /// POST a JSON body (adds `Content-Type: application/json` and, since it
    /// is an unsafe method, `Origin: http://<base>`).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("serialise JSON");
        let origin = self.origin();
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json"), ("Origin", &origin)],
            Some(&bytes),
        )
    }
}

fn is_unsafe_method(method: &str) -> bool {
    !matches!(
        method.to_ascii_uppercase().as_str(),
        "GET" | "HEAD" | "OPTIONS" | "TRACE"
    )
}

/// Extracts the `tenantry_session` value from a `Set-Cookie` header value.
/// Returns `Some("")` for a clearing cookie (empty value or `Max-Age=0`).
pub fn session_cookie_from_set_cookie(value: &str) -> Option<String> {
    let mut parts = value.split(';');
    let (name, val) = parts.next()?.split_once('=')?;
    if name.trim() != SESSION_COOKIE {
        return None;
    }
    let cleared = parts.any(|attr| {
        let attr = attr.trim().to_ascii_lowercase();
        attr == "max-age=0" || attr.starts_with("max-age=-")
    });
    let val = val.trim().trim_matches('"');
    Some(if cleared {
        String::new()
    } else {
        val.to_string()
    })
}

/// A cookie-jar-ish session: remembers `tenantry_session` from `Set-Cookie`,
/// sends it back as `Cookie:`, and adds `Origin: http://<base>` on unsafe
/// methods (POST/PUT/PATCH/DELETE).
#[derive(Debug, Clone)]
pub struct Session {
    pub client: Client,
    pub cookie: Option<String>,
}

impl Session {
    pub fn new(base: SocketAddr) -> Self {
        Session {
            client: Client::new(base),
            cookie: None,
        }
    }

    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let cookie_header = self
            .cookie
            .as_ref()
            .map(|c| format!("{SESSION_COOKIE}={c}"));
        let origin = self.client.origin();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        let has =
            |all: &[(&str, &str)], n: &str| all.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        if let Some(c) = cookie_header.as_deref() {
            if !has(&all, "cookie") {
                all.push(("Cookie", c));
            }
        }
        if is_unsafe_method(method) && !has(&all, "origin") {
            all.push(("Origin", &origin));
        }
        let resp = self.client.try_request(method, path, &all, body)?;
        for sc in resp.header_all("set-cookie") {
            if let Some(v) = session_cookie_from_set_cookie(sc) {
                self.cookie = if v.is_empty() { None } else { Some(v) };
            }
        }
        Ok(resp)
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let base = self.client.base;
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} to {base} failed: {e}"))
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    pub fn delete(&mut self, path: &str) -> Response {
        self.request("DELETE", path, &[], None)
    }

    pub fn send_json(&mut self, method: &str, path: &str, body: &serde_json::Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("serialise JSON");
        self.request(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(&bytes),
        )
    }

    pub fn post_json(&mut self, path: &str, body: &serde_json::Value) -> Response {
        self.send_json("POST", path, body)
    }

    pub fn put_json(&mut self, path: &str, body: &serde_json::Value) -> Response {
        self.send_json("PUT", path, body)
    }

    pub fn patch_json(&mut self, path: &str, body: &serde_json::Value) -> Response {
        self.send_json("PATCH", path, body)
    }
}

/// A persistent (keep-alive) connection: many requests over one socket,
/// responses framed by Content-Length or chunked encoding. Once the server
/// sends `Connection: close` (or the socket fails), [`KeepAlive::is_closed`]
/// turns true and further sends return an error.
#[derive(Debug)]
pub struct KeepAlive {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    closed: bool,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let s = TcpStream::connect_timeout(&addr, DEFAULT_TIMEOUT)?;
        s.set_read_timeout(Some(DEFAULT_TIMEOUT))?;
        s.set_write_timeout(Some(DEFAULT_TIMEOUT))?;
        Self::from_stream(s)
    }

    /// Wraps an already connected socket (timeouts are left as they are).
    pub fn from_stream(stream: TcpStream) -> io::Result<Self> {
        let addr = stream.peer_addr()?;
        let _ = stream.set_nodelay(true);
        Ok(KeepAlive {
            addr,
            reader: BufReader::new(stream),
            closed: false,
        })
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream().set_read_timeout(t)
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends one request and reads exactly one response. Does not add
    /// `Connection: close`. A response without Content-Length or chunked
    /// framing is read until EOF (and the connection is then closed).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "keep-alive connection already closed by the server",
            ));
        }
        let req = encode_request(method, path, &self.addr.to_string(), headers, body, false);
        let result = self
            .reader
            .get_mut()
            .write_all(&req)
            .and_then(|()| read_response(&mut self.reader, method));
        match &result {
            Ok(resp) => {
                let framed = resp.header("content-length").is_some()
                    || resp.header("transfer-encoding").is_some()
                    || method.eq_ignore_ascii_case("HEAD")
                    || resp.status == 204
                    || resp.status == 304;
                if resp.connection_close() || !framed {
                    self.closed = true;
                }
            }
            Err(_) => self.closed = true,
        }
        result
    }

    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.send("GET", path, &[], None)
    }
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn parses_content_length_chunked_and_eof_framing() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhiEXTRA",
            "GET",
        )
        .unwrap();
        assert_eq!(
            (r.status, r.text().as_str(), r.header("x-a")),
            (200, "hi", Some("b"))
        );

        let r = parse_response(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
            "POST",
        )
        .unwrap();
        assert_eq!((r.status, r.text().as_str()), (201, "abcde"));

        let r = parse_response(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 Not Found\r\n\r\ngone",
            "GET",
        )
        .unwrap();
        assert_eq!((r.status, r.text().as_str()), (404, "gone"));

        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD").unwrap();
        assert!(r.body.is_empty());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "GET").is_err());
    }

    #[test]
    fn session_cookie_extraction() {
        let v = "tenantry_session=abc.def; Path=/; HttpOnly; SameSite=Lax";
        assert_eq!(
            session_cookie_from_set_cookie(v).as_deref(),
            Some("abc.def")
        );
        let v = "tenantry_session=; Path=/; Max-Age=0";
        assert_eq!(session_cookie_from_set_cookie(v).as_deref(), Some(""));
        assert_eq!(session_cookie_from_set_cookie("other=1; Path=/"), None);
    }
}
