//! A minimal blocking DNS client for one job: reading the TXT records of a name (SSO domain
//! verification). Messages are built and parsed by `hickory-proto`; the exchange is one UDP
//! query, repeated over TCP when the answer is truncated. The resolver is `sso.dns_resolver`
//! or the first `nameserver` of `/etc/resolv.conf`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// How long one exchange may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why TXT records could not be read.
#[derive(Debug)]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
    /// No resolver answered, or it answered with an error.
    Unavailable(String),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::NoSuchName => f.write_str("the name does not exist"),
            DnsError::Unavailable(m) => write!(f, "DNS lookup failed: {m}"),
        }
    }
}

/// The resolver from `/etc/resolv.conf` (its first name server, port 53).
pub fn system_resolver() -> Result<SocketAddr, DnsError> {
    let text = std::fs::read("/etc/resolv.conf")
        .map_err(|e| DnsError::Unavailable(format!("cannot read /etc/resolv.conf: {e}")))?;
    let conf = resolv_conf::Config::parse(&text)
        .map_err(|e| DnsError::Unavailable(format!("cannot parse /etc/resolv.conf: {e}")))?;
    conf.nameservers
        .first()
        .map(|ns| SocketAddr::new(ns.into(), 53))
        .ok_or_else(|| DnsError::Unavailable("/etc/resolv.conf lists no nameserver".into()))
}

/// The TXT strings of `name` (each record's character-strings joined), asked of `resolver`.
pub fn txt_records(resolver: SocketAddr, name: &str) -> Result<Vec<String>, DnsError> {
    let qname = Name::from_ascii(name)
        .map_err(|e| DnsError::Unavailable(format!("{name:?} is not a DNS name: {e}")))?;
    let id = u16::from_be_bytes(crate::crypto::random_bytes::<2>());
    let mut query = Message::new();
    query
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(qname, RecordType::TXT));
    let bytes = query
        .to_vec()
        .map_err(|e| DnsError::Unavailable(format!("cannot encode the query: {e}")))?;
    let mut answer = udp_exchange(resolver, &bytes, id)?;
    if answer.truncated() {
        answer = tcp_exchange(resolver, &bytes, id)?;
    }
    match answer.response_code() {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Err(DnsError::NoSuchName),
        other => {
            return Err(DnsError::Unavailable(format!(
                "the resolver answered {other}"
            )))
        }
    }
    Ok(answer
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::TXT(txt) => Some(
                txt.txt_data()
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect())
}

fn unavailable(e: impl std::fmt::Display) -> DnsError {
    DnsError::Unavailable(e.to_string())
}

fn parse_answer(buf: &[u8], id: u16) -> Result<Option<Message>, DnsError> {
    let msg = Message::from_vec(buf).map_err(unavailable)?;
    // An answer to another question (or a spoofed one) is ignored, not trusted.
    Ok((msg.id() == id && msg.message_type() == MessageType::Response).then_some(msg))
}

fn udp_exchange(resolver: SocketAddr, query: &[u8], id: u16) -> Result<Message, DnsError> {
    let bind: SocketAddr = if resolver.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid address")
    } else {
        "[::]:0".parse().expect("valid address")
    };
    let socket = UdpSocket::bind(bind).map_err(unavailable)?;
    socket.connect(resolver).map_err(unavailable)?;
    socket.send(query).map_err(unavailable)?;
    let mut buf = [0u8; 4096];
    // One deadline for the whole exchange, however many stray datagrams arrive.
    let deadline = Instant::now() + TIMEOUT;
    for _ in 0..8 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left)).map_err(unavailable)?;
        let n = socket
            .recv(&mut buf)
            .map_err(|e| DnsError::Unavailable(format!("no answer from {resolver}: {e}")))?;
        if let Some(msg) = parse_answer(&buf[..n], id)? {
            return Ok(msg);
        }
    }
    Err(DnsError::Unavailable(format!(
        "no matching answer from {resolver}"
    )))
}

fn tcp_exchange(resolver: SocketAddr, query: &[u8], id: u16) -> Result<Message, DnsError> {
    let mut stream = TcpStream::connect_timeout(&resolver, TIMEOUT).map_err(unavailable)?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(unavailable)?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(unavailable)?;
    let len = u16::try_from(query.len()).map_err(unavailable)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).map_err(unavailable)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(unavailable)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).map_err(unavailable)?;
    parse_answer(&buf, id)?
        .ok_or_else(|| DnsError::Unavailable(format!("no matching answer from {resolver}")))
}
