//! A real DNS server for domain-ownership checks: dnsmasq (Debian's `dnsmasq-base`) on
//! loopback, serving only the TXT records a test gives it.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait::wait_until;

/// A loopback port free for both UDP and TCP (dnsmasq answers on both).
pub fn free_dns_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port for the DNS server");
}

/// dnsmasq serving only the given TXT records, on `127.0.0.1:port`; stopped on drop.
pub struct Dnsmasq {
    child: Child,
}

impl Dnsmasq {
    /// Starts it and waits until it answers on TCP.
    pub fn start(port: u16, txt: &[(&str, &str)]) -> Dnsmasq {
        let mut cmd = Command::new("/usr/sbin/dnsmasq");
        cmd.args([
            "--no-daemon",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
        ]);
        for (name, value) in txt {
            cmd.arg(format!("--txt-record={name},{value}"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/sbin/dnsmasq (Debian package dnsmasq-base)");
        let dns = Dnsmasq { child };
        wait_until(
            Duration::from_secs(10),
            &format!("dnsmasq to answer on port {port}"),
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        dns
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
