//! The client's address behind reverse proxies (`http.trusted_proxies`).
//!
//! Only a peer inside a trusted network is believed, and only about the hops it appended:
//! the forwarding header (`X-Forwarded-For` or RFC 7239 `Forwarded`, whichever is
//! configured) is read from the right, skipping trusted proxies, and the first untrusted hop
//! is the client. Anything a client wrote itself sits further left and is never reached
//! unless every hop to its right is a trusted proxy. A malformed header, or a request from
//! an untrusted peer, leaves the peer's own address.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::ForwardedHeader;

/// The client address of a request from `peer` carrying `headers` (lower-case names).
pub fn client_addr(
    peer: IpAddr,
    headers: &[(String, String)],
    trusted: &[IpNet],
    which: ForwardedHeader,
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(&canonical(*ip)));
    if trusted.is_empty() || !is_trusted(&peer) {
        return peer;
    }
    let name = match which {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    // Repeated header lines form one list, in order.
    let mut hops: Vec<&str> = Vec::new();
    for (_, v) in headers.iter().filter(|(k, _)| k == name) {
        hops.extend(v.split(','));
    }
    if hops.is_empty() {
        return peer;
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        let parsed = match which {
            ForwardedHeader::XForwardedFor => parse_xff_hop(hop),
            ForwardedHeader::Forwarded => parse_forwarded_hop(hop),
        };
        // A hop that is not an address (garbage, `unknown`, an obfuscated name) ends the
        // walk: nothing to its left can be attributed.
        let Some(ip) = parsed else {
            return client;
        };
        let ip = canonical(ip);
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses as IPv4, so `127.0.0.1/32` matches `::ffff:127.0.0.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` element: an address, perhaps with a port (`1.2.3.4:5`,
/// `[::1]:5`).
fn parse_xff_hop(hop: &str) -> Option<IpAddr> {
    parse_node(hop.trim())
}

/// One `Forwarded` element (`for=…;proto=…;by=…`): its `for` parameter.
fn parse_forwarded_hop(element: &str) -> Option<IpAddr> {
    let node = element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
    })?;
    parse_node(node.trim_matches('"'))
}

/// An address as a node: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (host, port) = s.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(p: &str) -> bool {
    p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn xff(peer: &str, values: &[&str], trusted: &[&str]) -> String {
        let headers: Vec<(String, String)> = values
            .iter()
            .map(|v| ("x-forwarded-for".to_string(), v.to_string()))
            .collect();
        client_addr(
            peer.parse().unwrap(),
            &headers,
            &nets(trusted),
            ForwardedHeader::XForwardedFor,
        )
        .to_string()
    }

    fn fwd(peer: &str, value: &str, trusted: &[&str]) -> String {
        let headers = vec![("forwarded".to_string(), value.to_string())];
        client_addr(
            peer.parse().unwrap(),
            &headers,
            &nets(trusted),
            ForwardedHeader::Forwarded,
        )
        .to_string()
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = ["127.0.0.1/32", "10.0.0.0/8"];
        assert_eq!(xff("127.0.0.1", &["203.0.113.9"], &t), "203.0.113.9");
        // A spoofed left part is never reached.
        assert_eq!(
            xff("127.0.0.1", &["6.6.6.6, 203.0.113.9, 10.0.0.2"], &t),
            "203.0.113.9"
        );
        // Repeated lines are one list.
        assert_eq!(
            xff("127.0.0.1", &["6.6.6.6", "203.0.113.9"], &t),
            "203.0.113.9"
        );
        assert_eq!(xff("127.0.0.1", &["203.0.113.9:4711"], &t), "203.0.113.9");
        assert_eq!(xff("127.0.0.1", &["[2001:db8::1]:80"], &t), "2001:db8::1");
        // All hops trusted: the leftmost one.
        assert_eq!(xff("127.0.0.1", &["10.1.1.1, 10.2.2.2"], &t), "10.1.1.1");
        assert_eq!(xff("::ffff:127.0.0.1", &["203.0.113.9"], &t), "203.0.113.9");
    }

    #[test]
    fn untrusted_peers_and_malformed_headers_leave_the_peer() {
        assert_eq!(xff("127.0.0.1", &["203.0.113.9"], &[]), "127.0.0.1");
        assert_eq!(
            xff("192.0.2.1", &["203.0.113.9"], &["127.0.0.1/32"]),
            "192.0.2.1"
        );
        let t = ["127.0.0.1/32"];
        for bad in [
            "",
            "not-an-ip",
            "unknown",
            "1.2.3.4:x",
            "1.2.3.4:99999",
            "[::1",
            "1.2.3.4.5",
            "999.1.1.1",
        ] {
            assert_eq!(xff("127.0.0.1", &[bad], &t), "127.0.0.1", "{bad:?}");
        }
        // Garbage left of a good hop is not reached; garbage right of it stops the walk.
        assert_eq!(xff("127.0.0.1", &["junk, 203.0.113.9"], &t), "203.0.113.9");
        assert_eq!(xff("127.0.0.1", &["203.0.113.9, junk"], &t), "127.0.0.1");
    }

    #[test]
    fn forwarded_elements_give_their_for_parameter() {
        let t = ["127.0.0.1/32"];
        assert_eq!(
            fwd("127.0.0.1", "for=192.0.2.60;proto=http;by=203.0.113.43", &t),
            "192.0.2.60"
        );
        assert_eq!(
            fwd(
                "127.0.0.1",
                "for=6.6.6.6, For=\"[2001:db8:cafe::17]:4711\"",
                &t
            ),
            "2001:db8:cafe::17"
        );
        assert_eq!(fwd("127.0.0.1", "for=_hidden", &t), "127.0.0.1");
        assert_eq!(fwd("127.0.0.1", "proto=https", &t), "127.0.0.1");
        assert_eq!(fwd("192.0.2.1", "for=192.0.2.60", &t), "192.0.2.1");
    }
}
