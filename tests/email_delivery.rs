//! Email delivery edge cases: a permanent SMTP refusal is marked `failed` and shown to the
//! organization's admins on the invitation (no endless retries), and the development outbox
//! page shows held messages to instance admins only.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::TestServer;

/// A tiny SMTP server that accepts the envelope sender and refuses every recipient with
/// `550`, counting the attempts (a remote relay saying "no such mailbox").
struct RefusingSmtp {
    port: u16,
    attempts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl RefusingSmtp {
    fn start() -> RefusingSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let attempts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (attempts.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let _ = w.write_all(b"220 refusing.test ESMTP\r\n");
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250 refusing.test\r\n"
                    } else if cmd.starts_with("MAIL") {
                        b"250 ok\r\n"
                    } else if cmd.starts_with("RCPT") {
                        a.fetch_add(1, Ordering::Relaxed);
                        b"550 5.1.1 no such mailbox\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    if w.write_all(reply).is_err() {
                        break;
                    }
                    line.clear();
                }
            }
        });
        RefusingSmtp {
            port,
            attempts,
            stop,
        }
    }
}

impl Drop for RefusingSmtp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_permanent_smtp_refusal_is_shown_on_the_invitation_and_not_retried() {
    let smtp = RefusingSmtp::start();
    let server = TestServer::builder()
        .env("TENANTRY_EMAIL_MODE", "smtp")
        .env(
            "TENANTRY_EMAIL_SMTP_URL",
            format!("smtp://127.0.0.1:{}?tls=none", smtp.port),
        )
        .start();
    let mut admin = server.bootstrap_admin();
    let org = admin.post_json("/api/v1/orgs", &json!({"name": "Acme", "slug": "acme"}));
    assert_eq!(org.status, 201, "{}", org.text());
    let org = org.json()["id"].as_str().unwrap().to_string();
    let inv = admin.post_json(
        &format!("/api/v1/orgs/{org}/invitations"),
        &json!({"email": "nobody@example.test", "role": "member", "company_access": "all"}),
    );
    assert_eq!(inv.status, 201, "{}", inv.text());

    let deadline = Instant::now() + Duration::from_secs(30);
    let delivery = loop {
        let list = admin.get(&format!("/api/v1/orgs/{org}/invitations"));
        assert_eq!(list.status, 200);
        let d = list.json()["data"][0]["delivery"].clone();
        if d["status"] == "failed" || Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("550"),
        "{delivery}"
    );
    // Permanent: no retry after the back-off (the first retry would come after 5 s).
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        smtp.attempts.load(Ordering::Relaxed),
        1,
        "a permanent failure was retried"
    );
}

#[test]
fn the_development_outbox_page_shows_held_messages_to_instance_admins_only() {
    let server = TestServer::builder()
        .env("TENANTRY_EMAIL_MODE", "outbox")
        .start();
    let mut admin = server.bootstrap_admin();
    let org = admin.post_json("/api/v1/orgs", &json!({"name": "Acme", "slug": "acme"}));
    let org = org.json()["id"].as_str().unwrap().to_string();
    let r = admin.post_json(
        &format!("/api/v1/orgs/{org}/invitations"),
        &json!({"email": "held@example.test", "role": "member", "company_access": "all"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["delivery"]["status"], "held");

    let page = admin.get("/dev/outbox");
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("held@example.test"), "{html}");
    assert!(
        html.contains("/invite/"),
        "the held body with its link is shown"
    );

    // Signed out: sent to sign in; a signed-in non-admin: refused.
    assert_eq!(server.session().get("/dev/outbox").status, 303);
    let u = admin.post_json(
        "/api/v1/users",
        &json!({"email": "plain@example.test", "name": "Plain", "password": "plain-password-1"}),
    );
    assert_eq!(u.status, 201);
    let mut plain = server.session();
    let r = plain.post_json(
        "/api/v1/auth/login",
        &json!({"email": "plain@example.test", "password": "plain-password-1"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(plain.get("/dev/outbox").status, 403);
}

#[test]
fn the_development_outbox_page_does_not_exist_when_sending_for_real() {
    let server = TestServer::builder()
        .env("TENANTRY_EMAIL_MODE", "smtp")
        .env("TENANTRY_EMAIL_SMTP_URL", "smtp://127.0.0.1:9?tls=none")
        .start();
    let mut admin = server.bootstrap_admin();
    assert_eq!(admin.get("/dev/outbox").status, 404);
}
