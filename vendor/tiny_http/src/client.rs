use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufReader, BufWriter, ErrorKind, Read};

use std::net::SocketAddr;
use std::str::FromStr;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{HTTPVersion, Method};
use crate::connection::Connection;
use crate::Limits;
use crate::util::RefinedTcpStream;
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::Request;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
pub struct ClientConnection {
    // address of the client
    remote_addr: IoResult<Option<SocketAddr>>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // true if the connection goes through SSL
    secure: bool,

    // PATCH(limits): the connection's limits, a handle on its socket (lingering close and
    // socket options), and the flag a request's body sets when it is dropped unread.
    limits: Limits,
    control: Option<Connection>,
    unfinished: Arc<AtomicBool>,

    // PATCH(perf): the buffer every request line and header line is read into.
    line: Vec<u8>,
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader,
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    ReadIoError(IoError),
    /// PATCH(limits): request line + headers over `Limits::max_header_bytes`.
    HeaderTooLarge,
    /// PATCH(framing): a bare LF or CR, a control character, non-ASCII bytes or an obs-fold
    /// in the request line or a header, or ambiguous body framing.
    Malformed(&'static str),
    /// PATCH(limits): no complete header within `Limits::header_timeout`.
    HeaderTimeout,
    /// PATCH(body): the previous request left its body unread, or asked to close.
    Finished,
    /// PATCH(framing): an HTTP version other than 1.0 and 1.1.
    UnsupportedVersion,
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    ///
    /// PATCH(limits): with limits and a handle on the socket (0.12.0's `new` is gone).
    pub(crate) fn with_limits(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
        limits: Limits,
        control: Option<Connection>,
    ) -> ClientConnection {
        let remote_addr = read_socket.peer_addr();
        let secure = read_socket.secure();

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(1024, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            secure,
            limits,
            control,
            unfinished: Arc::new(AtomicBool::new(false)),
            line: Vec::with_capacity(256),
        }
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line.
    ///
    /// PATCH(limits, framing): counts every byte against `budget` (request line and headers
    /// share it), refuses bare LF, bare CR, control characters other than HTAB and non-ASCII
    /// bytes, and enforces the header deadline from the request's first byte.
    ///
    /// PATCH(perf): scans the connection's read buffer a chunk at a time (0.12.0 read one
    /// byte per `Read::read` call, and the header deadline was checked with a clock read
    /// per byte). The deadline is checked each time bytes arrive from the socket, so a
    /// client trickling its header byte by byte is still checked at every byte.
    ///
    /// PATCH(perf): the line goes into `buf` (cleared first), one buffer reused for every
    /// line of every request on the connection, instead of a new string per line.
    fn read_next_line(
        &mut self,
        buf: &mut Vec<u8>,
        budget: &mut usize,
        started: &mut Option<Instant>,
    ) -> Result<(), ReadError> {
        use std::io::BufRead;

        let header_timeout = self.limits.header_timeout;
        let reader = match self.next_header_source.turn_mut() {
            Some(r) => r,
            None => {
                return Err(ReadError::ReadIoError(IoError::new(
                    ErrorKind::ConnectionAborted,
                    "the connection's reader is gone",
                )))
            }
        };
        buf.clear();
        let mut prev_byte_was_cr = false;

        loop {
            let chunk = match reader.fill_buf() {
                Ok([]) => {
                    return Err(ReadError::ReadIoError(IoError::new(
                        ErrorKind::ConnectionAborted,
                        "Unexpected EOF",
                    )))
                }
                Ok(chunk) => chunk,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::ReadIoError(e)),
            };
            let start = *started.get_or_insert_with(Instant::now);
            if let Some(limit) = header_timeout {
                if start.elapsed() > limit {
                    return Err(ReadError::HeaderTimeout);
                }
            }

            let mut used = 0;
            let mut outcome = None;
            for &byte in chunk {
                used += 1;
                if *budget == 0 {
                    outcome = Some(Err(ReadError::HeaderTooLarge));
                    break;
                }
                *budget -= 1;

                if byte == b'\n' {
                    outcome = Some(if prev_byte_was_cr {
                        Ok(())
                    } else {
                        Err(ReadError::Malformed("a bare LF ends a line"))
                    });
                    break;
                }
                if prev_byte_was_cr {
                    outcome = Some(Err(ReadError::Malformed("a bare CR in a line")));
                    break;
                }
                if byte >= 0x80 {
                    outcome = Some(Err(ReadError::Malformed("the request header is not ASCII")));
                    break;
                }
                if (byte < 0x20 && byte != b'\t' && byte != b'\r') || byte == 0x7f {
                    outcome = Some(Err(ReadError::Malformed("a control character in a line")));
                    break;
                }

                prev_byte_was_cr = byte == b'\r';
            }
            // Everything before the end of the line (or the offending byte) is line content.
            let content = match outcome {
                Some(_) => used - 1,
                None => used,
            };
            buf.extend_from_slice(&chunk[..content]);
            reader.consume(used);

            match outcome {
                None => {}
                Some(Ok(())) => {
                    buf.pop(); // removing the '\r'
                    return Ok(());
                }
                Some(Err(e)) => return Err(e),
            }
        }
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        // PATCH(body): once the previous request is done with the socket, stop if it left its
        // body unread or asked for the connection to close: what follows is not a request.
        self.next_header_source.wait_turn();
        if self.unfinished.load(Ordering::SeqCst) {
            return Err(ReadError::Finished);
        }
        let mut budget = self.limits.max_header_bytes;
        let mut started = None;
        // PATCH(perf): the connection's line buffer (kept between requests).
        let mut line = std::mem::take(&mut self.line);
        let result = self.read_head(&mut line, &mut budget, &mut started);
        self.line = line;
        let (method, path, version, headers) = result?;

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // building the next reader
        let request = crate::request::new_request(
            self.secure,
            method,
            path,
            version.clone(),
            headers,
            *self.remote_addr.as_ref().unwrap(),
            data_source,
            writer,
            self.unfinished.clone(),
            crate::request::Prefetch {
                max_bytes: self.limits.prefetch_body_bytes,
                deadline: self.limits.body_timeout.map(|d| Instant::now() + d),
                budget: self.limits.prefetch_budget.clone(),
            },
        )
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version)
                }
                request::RequestCreationError::BadFraming => ReadError::Malformed(
                    "the body framing is ambiguous: send one valid Content-Length, or \
                     Transfer-Encoding: chunked alone",
                ),
            }
        })?;

        // return the request
        Ok(request)
    }

    /// Reads a request line and headers into their parts, using `line` for each line.
    #[allow(clippy::type_complexity)]
    fn read_head(
        &mut self,
        line: &mut Vec<u8>,
        budget: &mut usize,
        started: &mut Option<Instant>,
    ) -> Result<(Method, String, HTTPVersion, Vec<crate::Header>), ReadError> {
        // reading the request line
        let (method, path, version) = {
            self.read_next_line(line, budget, started)?;
            // RFC 9112 §2.2: empty lines before the request line are ignored.
            let mut blank = 0;
            while line.is_empty() && blank < 4 {
                self.read_next_line(line, budget, started)?;
                blank += 1;
            }

            let (method, path, version) = parse_request_line(ascii_str(line)?)?;
            if version != HTTPVersion(1, 1) && version != HTTPVersion(1, 0) {
                return Err(ReadError::UnsupportedVersion);
            }
            (method, path, version)
        };

        // getting all headers
        let headers = {
            // PATCH(perf): room for a typical request's headers without growing.
            let mut headers = Vec::with_capacity(16);
            loop {
                self.read_next_line(line, budget, started)?;

                if line.is_empty() {
                    break;
                };
                if line[0] == b' ' || line[0] == b'\t' {
                    // obs-fold (RFC 9112 §5.2): refused, never unfolded.
                    return Err(ReadError::Malformed("an obs-fold (a line starting with white space)"));
                }
                headers.push(match FromStr::from_str(ascii_str(line)?) {
                    Ok(h) => h,
                    _ => return Err(ReadError::WrongHeader),
                });
            }

            headers
        };

        Ok((method, path, version, headers))
    }
}

impl ClientConnection {
    /// PATCH(limits): answers a request that will not be served with a problem+json body and
    /// `Connection: close`, then closes gracefully: the sending side is shut first and a
    /// bounded amount of what the client is still sending is read and discarded, so the
    /// client sees the answer instead of a reset.
    fn refuse(&mut self, status: u16, code: &str, title: &str, detail: &str) {
        let body = format!(
            "{{\"type\":\"about:blank\",\"title\":\"{title}\",\"status\":{status},\"detail\":\"{detail}\",\"code\":\"{code}\"}}"
        );
        let head = format!(
            "HTTP/1.1 {status} {title}\r\nContent-Type: application/problem+json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut writer = self.sink.next().unwrap();
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(body.as_bytes());
        let _ = writer.flush();
        drop(writer);
        self.linger();
    }

    /// PATCH(limits): lingering close: shut the sending side, then read and discard what the
    /// client is still sending (bounded in bytes and time) before the socket is closed, so
    /// a response already sent is not destroyed by a reset.
    fn linger(&mut self) {
        if let Some(control) = self.control.as_mut() {
            let _ = control.shutdown(std::net::Shutdown::Write);
            let _ = control.set_read_timeout(Some(LINGER));
            let mut sink = [0u8; 4096];
            let mut left = LINGER_BYTES;
            let started = Instant::now();
            while left > 0 && started.elapsed() < LINGER {
                match control.read(&mut sink) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        }
    }
}

/// PATCH(limits): lingering close, bounded in time and bytes.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        use crate::{Response, StatusCode};

        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        loop {
            let rq = match self.read() {
                Err(ReadError::WrongRequestLine) => {
                    self.refuse(400, "bad_request", "Bad request", "the request line is malformed");
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::WrongHeader) => {
                    self.refuse(400, "bad_request", "Bad request", "a request header is malformed");
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::Malformed(why)) => {
                    self.refuse(400, "bad_request", "Bad request", why);
                    return None;
                }

                Err(ReadError::HeaderTooLarge) => {
                    let detail = format!(
                        "the request line and headers are limited to {} bytes",
                        self.limits.max_header_bytes
                    );
                    self.refuse(
                        431,
                        "headers_too_large",
                        "Request headers too large",
                        &detail,
                    );
                    return None;
                }

                Err(ReadError::HeaderTimeout) => {
                    self.limits.deadline_closes.fetch_add(1, Ordering::Relaxed);
                    self.refuse(
                        408,
                        "request_timeout",
                        "Request timeout",
                        "the request header did not arrive in time",
                    );
                    return None;
                }

                Err(ReadError::ReadIoError(ref err))
                    if matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) =>
                {
                    // request timeout (a socket read timeout is `WouldBlock` on Unix)
                    self.limits.deadline_closes.fetch_add(1, Ordering::Relaxed);
                    self.refuse(
                        408,
                        "request_timeout",
                        "Request timeout",
                        "no request arrived in time",
                    );
                    return None; // closing the connection
                }

                Err(ReadError::ExpectationFailed(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response = Response::new_empty(StatusCode(417));
                    response.raw_print(writer, ver, &[], true, None).ok();
                    return None; // TODO: should be recoverable, but needs handling in case of body
                }

                Err(ReadError::UnsupportedVersion) => {
                    self.refuse(
                        505,
                        "http_version_not_supported",
                        "HTTP version not supported",
                        "this server speaks HTTP/1.1 and HTTP/1.0",
                    );
                    return None;
                }

                Err(ReadError::Finished) => {
                    // The previous request's reader is released before its response is
                    // written (`into_writer` drops the request): wait for the response
                    // writer to be done (the sink hands out writers in order) before
                    // shutting the sending side.
                    if let Some(mut after_last) = self.sink.next() {
                        let _ = after_last.flush();
                    }
                    self.linger();
                    return None;
                }

                Err(ReadError::ReadIoError(_)) => return None,

                Ok(rq) => rq,
            };

            // PATCH(framing): versions other than 1.0 and 1.1 are refused in `read`, before a
            // request exists (0.12.0 answered 505 here through a second writer that waited
            // for the request's own writer: the connection's thread hung for good).

            // updating the status of the connection
            let connection_header = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Connection"))
                .map(|h| h.value.as_str());

            let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

            match lowercase {
                Some(ref val) if val.contains("close") => self.no_more_requests = true,
                Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
                Some(ref val)
                    if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
                {
                    self.no_more_requests = true
                }
                None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
                _ => (),
            };

            // returning the request
            return Some(rq);
        }
    }
}

/// PATCH(perf): a line `read_next_line` accepted (ASCII only) as text.
fn ascii_str(line: &[u8]) -> Result<&str, ReadError> {
    std::str::from_utf8(line).map_err(|_| ReadError::Malformed("the request header is not ASCII"))
}

/// Parses a "HTTP/1.1" string.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let (major, minor) = match version {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return Err(ReadError::WrongRequestLine),
    };

    Ok(HTTPVersion(major, minor))
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');

    let method = parts.next().and_then(|w| w.parse().ok());
    let path = parts.next().map(ToOwned::to_owned);
    let version = parts.next().and_then(|w| parse_http_version(w).ok());

    method
        .and_then(|method| Some((method, path?, version?)))
        .ok_or(ReadError::WrongRequestLine)
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
