//! Email delivery edge cases: a permanent SMTP refusal is marked `failed` and shown to the
//! organization's admins on the invitation (no endless retries), and the development outbox
//! page shows held messages to instance admins only.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::wait::{poll_value, wait_until};
use crate::support::TestServer;

/// A tiny SMTP server that accepts the envelope sender and refuses every recipient with
/// `550`, counting the attempts (a remote relay saying "no such mailbox"), until `accept` is
/// set: then it takes messages, counting them in `delivered` and keeping their text.
pub(crate) struct RefusingSmtp {
    pub(crate) port: u16,
    attempts: Arc<AtomicUsize>,
    pub(crate) accept: Arc<AtomicBool>,
    pub(crate) delivered: Arc<AtomicUsize>,
    received: Arc<std::sync::Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl RefusingSmtp {
    pub(crate) fn start() -> RefusingSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let attempts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = Arc::new(AtomicBool::new(false));
        let delivered = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(std::sync::Mutex::new(String::new()));
        let (a, s) = (attempts.clone(), stop.clone());
        let (ok, got, text) = (accept.clone(), delivered.clone(), received.clone());
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
                let mut in_data = false;
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            got.fetch_add(1, Ordering::Relaxed);
                            if w.write_all(b"250 queued\r\n").is_err() {
                                break;
                            }
                        } else {
                            text.lock().unwrap().push_str(&line);
                        }
                        line.clear();
                        continue;
                    }
                    let cmd = line.to_ascii_uppercase();
                    // A refusal quotes the address, as real relays do.
                    let refusal = format!(
                        "550 5.1.1 <{}>: no such mailbox\r\n",
                        line.split(['<', '>']).nth(1).unwrap_or("")
                    );
                    let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250 refusing.test\r\n"
                    } else if cmd.starts_with("MAIL")
                        || (cmd.starts_with("RCPT") && ok.load(Ordering::Relaxed))
                    {
                        b"250 ok\r\n"
                    } else if cmd.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if cmd.starts_with("RCPT") {
                        a.fetch_add(1, Ordering::Relaxed);
                        refusal.as_bytes()
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
            accept,
            delivered,
            received,
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

    let delivery = poll_value(
        Duration::from_secs(30),
        || {
            let list = admin.get(&format!("/api/v1/orgs/{org}/invitations"));
            assert_eq!(list.status, 200);
            list.json()["data"][0]["delivery"].clone()
        },
        |d| d["status"] == "failed",
    );
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("550"),
        "{delivery}"
    );
    // Permanent: no retry after the back-off. What is tested is that nothing happens, so this
    // is a fixed quiet period: longer than the first retry's back-off (5 s).
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

/// The value after `marker` up to the next `"` in a page.
fn attr_after(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)? + marker.len();
    Some(html[at..].split('"').next()?.to_string())
}

/// Instance › Email Delivery: counts, failed messages with masked recipients and no body,
/// paging, and Retry once the mail server accepts again (attempts reset, delivered, audited);
/// a message whose content was erased cannot be retried; only instance administrators see
/// the page, and retrying needs the form token.
#[test]
fn email_delivery_page_lists_failed_messages_and_retries_them() {
    const PATH: &str = "/settings/instance/email-delivery";
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
    // 26 invitations, all refused: one more than a page of failed messages.
    let who = |i: usize| match i {
        0 => "oldest@example.test".to_string(),
        25 => "newest@example.test".to_string(),
        i => format!("fill{i:02}@example.test"),
    };
    for i in 0..26 {
        let inv = admin.post_json(
            &format!("/api/v1/orgs/{org}/invitations"),
            &json!({"email": who(i), "role": "member", "company_access": "all"}),
        );
        assert_eq!(inv.status, 201, "{}", inv.text());
    }
    let data_dir = server.data_dir().to_path_buf();
    let db = rusqlite::Connection::open(data_dir.join("tenantry.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let failed = || -> i64 {
        db.query_row(
            "SELECT count(*) FROM outbox WHERE status = 'failed'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    wait_until(Duration::from_secs(30), "26 failed messages", || {
        failed() == 26
    });

    let page = admin.get(PATH);
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("<h1>Email Delivery</h1>"), "{html}");
    assert!(html.contains("<dt>Failed</dt><dd>26</dd>"), "{html}");
    assert!(html.contains("<dt>Sent</dt><dd>0</dd>"), "{html}");
    // Newest first, masked, with the reason; never the body (its invitation link).
    assert!(html.contains("n***t@example.test"), "{html}");
    assert!(
        html.contains("&lt;n***t@example.test&gt;: no such mailbox"),
        "the address in the error is masked too: {html}"
    );
    assert!(
        !html.contains("newest@example.test"),
        "recipient not masked"
    );
    assert!(html.contains("550"), "{html}");
    assert!(!html.contains("/invite/"), "a body was shown");
    assert!(
        !html.contains("o***t@example.test"),
        "the oldest is on page two"
    );
    // (Handlebars writes `=` in attributes as `&#x3D;`.)
    let older = attr_after(
        &html,
        "<a href=\"/settings/instance/email-delivery?before&#x3D;",
    )
    .expect("a link to older failed messages");
    let page2 = admin.get(&format!("{PATH}?before={older}"));
    assert_eq!(page2.status, 200);
    let html2 = page2.text();
    assert!(html2.contains("o***t@example.test"), "{html2}");
    assert_eq!(html2.matches(">Retry</button>").count(), 1, "{html2}");
    assert!(html2.contains("Newest failed messages"));
    // A made-up page cursor: the newest page with a message, not an error.
    let r = admin.get(&format!("{PATH}?before=nonsense"));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("does not exist"));

    // Retry the oldest once the server accepts again.
    let action = format!(
        "{PATH}/{}",
        attr_after(&html2, "action=\"/settings/instance/email-delivery/").unwrap()
    );
    assert!(action.ends_with("/retry"), "{action}");
    let csrf = attr_after(&html2, "name=\"csrf_token\" value=\"").unwrap();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    // Without the form token: refused, nothing queued.
    let r = admin.request("POST", &action, &form, Some(b"csrf_token=forged"));
    assert_eq!(r.status, 403);
    assert_eq!(failed(), 26);

    smtp.accept.store(true, Ordering::Relaxed);
    let body = format!("csrf_token={csrf}");
    let r = admin.request("POST", &action, &form, Some(body.as_bytes()));
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(&*format!("{PATH}?notice=retried"))
    );
    wait_until(
        Duration::from_secs(30),
        "the retried message delivered",
        || smtp.delivered.load(Ordering::Relaxed) == 1,
    );
    assert!(
        smtp.received
            .lock()
            .unwrap()
            .contains("oldest@example.test"),
        "the retried message went to its recipient"
    );
    // The SMTP server counts the message before the outbox worker has its answer and marks
    // the message sent: wait for that mark.
    let oldest = || -> (String, i64) {
        db.query_row(
            "SELECT status, attempts FROM outbox WHERE recipient = 'oldest@example.test'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let (status, attempts) = poll_value(Duration::from_secs(30), oldest, |(s, _)| s == "sent");
    assert_eq!(
        (status.as_str(), attempts),
        ("sent", 1),
        "the retried message marked sent within 30 s, its attempts reset"
    );
    let html = admin.get(&format!("{PATH}?notice=retried")).text();
    assert!(html.contains("queued again"), "{html}");
    assert!(html.contains("<dt>Sent</dt><dd>1</dd>"), "{html}");
    assert!(html.contains("<dt>Failed</dt><dd>25</dd>"), "{html}");
    let log = admin.get(&format!("/api/v1/orgs/{org}/audit-log"));
    assert!(
        log.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "email.retried"),
        "{}",
        log.text()
    );
    // Retrying a message that has not failed (now sent) says so.
    let r = admin.request("POST", &action, &form, Some(body.as_bytes()));
    assert_eq!(r.status, 409);
    assert!(r.text().contains("has not failed"), "{}", r.text());
    assert_eq!(smtp.delivered.load(Ordering::Relaxed), 1);
    // An unknown message: not found.
    let r = admin.request(
        "POST",
        &format!("{PATH}/999999/retry"),
        &form,
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 404);

    // A failed message whose content was erased (as messages that failed before contents
    // were kept): shown as not retryable, and a retry is refused.
    db.execute(
        "UPDATE outbox SET sealed_body = NULL WHERE recipient = 'newest@example.test'",
        [],
    )
    .unwrap();
    let id: i64 = db
        .query_row(
            "SELECT id FROM outbox WHERE recipient = 'newest@example.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let html = admin.get(PATH).text();
    assert!(html.contains("Cannot be retried"), "{html}");
    assert!(!html.contains(&format!("{PATH}/{id}/retry")));
    let r = admin.request(
        "POST",
        &format!("{PATH}/{id}/retry"),
        &form,
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 409);
    assert!(r.text().contains("cannot be sent again"), "{}", r.text());
    assert_eq!(failed(), 25);

    // Not an instance administrator: the page does not exist; signed out: sign in first.
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
    assert_eq!(plain.get(PATH).status, 404);
    let plain_page = plain.get("/settings/personal/general").text();
    let plain_csrf = attr_after(&plain_page, "name=\"csrf_token\" value=\"").unwrap();
    let r = plain.request(
        "POST",
        &format!("{PATH}/{id}/retry"),
        &form,
        Some(format!("csrf_token={plain_csrf}").as_bytes()),
    );
    assert_eq!(r.status, 404);
    assert_eq!(server.session().get(PATH).status, 303);
}
