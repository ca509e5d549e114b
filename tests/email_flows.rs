//! Email flows end to end over real HTTP and a real SMTP server (Debian's
//! `python3-aiosmtpd`, writing every message into a Maildir): invitations (sign-up from the
//! link, API accept, email mismatch, re-addressing, expired / revoked / used / unknown
//! tokens, unverified accounts), password reset (single use, sessions ended, no account
//! enumeration, links never built from the request's Host, input hardening), SSO-managed
//! accounts, delivery while the SMTP server is down (queued, survives a restart, delivered
//! once it is back) and tokens kept out of the database files and the logs.
//!
//! Every test starts its own SMTP server and its own tenantry server
//! (`TENANTRY_EMAIL_MODE=smtp`); links are checked against the default public URL
//! (`http://{bound address}`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::support::assert_problem;
use crate::support::db::forge_session;
use crate::support::flows::{create_org, create_user, login};
use crate::support::forms::{csrf_cookie, form, input_value, post_form_with_csrf};
use crate::support::server::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD};
use crate::support::wait::poll;
use crate::support::{Response, Session, TestServer};

use smtp::{Email, SmtpServer};

/// Upper bound for one message to go through the outbox to the SMTP server.
const EMAIL_TIMEOUT: Duration = Duration::from_secs(30);

const PW: &str = "a long enough password";
const NEW_PW: &str = "a brand new long password";

// ---------------------------------------------------------------------------
// SMTP test server

mod smtp {
    use std::fs;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use base64::Engine as _;

    use crate::support::server::unique_temp_dir;
    use crate::support::wait::{poll_value, wait_until};

    const PYTHON: &str = "/usr/bin/python3";
    const START_TIMEOUT: Duration = Duration::from_secs(20);

    /// A parsed message from the Maildir.
    #[derive(Debug, Clone)]
    pub struct Email {
        /// File name in `new/` (arrival order key).
        pub file: String,
        /// `To:` header.
        pub to: String,
        /// Envelope recipients (`X-RcptTo`, added by aiosmtpd).
        pub rcpt_to: String,
        /// Decoded `Subject:`.
        pub subject: String,
        /// Decoded `text/plain` part(s).
        pub text: String,
        /// Decoded `text/html` part(s).
        pub html: String,
        /// The raw file, lossy UTF-8.
        pub raw: String,
    }

    impl Email {
        /// True when the message was addressed to `addr` (header or envelope).
        pub fn is_to(&self, addr: &str) -> bool {
            let a = addr.to_ascii_lowercase();
            self.to.to_ascii_lowercase().contains(&a)
                || self.rcpt_to.to_ascii_lowercase().contains(&a)
        }

        /// The first link starting with `prefix` (e.g. `http://127.0.0.1:1234/invite/`),
        /// with its token (URL-safe base64 characters), searched in the decoded text part,
        /// then the HTML part, then the raw file with quoted-printable soft breaks removed.
        pub fn link(&self, prefix: &str) -> Option<String> {
            let raw_unqp = self
                .raw
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
                .replace("=3d", "=");
            for hay in [&self.text, &self.html, &raw_unqp] {
                if let Some(i) = hay.find(prefix) {
                    let rest = &hay[i + prefix.len()..];
                    let token: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    if !token.is_empty() {
                        return Some(format!("{prefix}{token}"));
                    }
                }
            }
            None
        }

        /// Every `http(s)://…` URL in the decoded parts (for "links point at" checks).
        pub fn urls(&self) -> Vec<String> {
            let mut out = Vec::new();
            for hay in [&self.text, &self.html] {
                let mut rest = hay.as_str();
                while let Some(i) = rest.find("http") {
                    let tail = &rest[i..];
                    if tail.starts_with("http://") || tail.starts_with("https://") {
                        let url: String = tail
                            .chars()
                            .take_while(|c| {
                                !c.is_whitespace() && !matches!(c, '"' | '<' | '>' | '\'')
                            })
                            .collect();
                        out.push(url);
                    }
                    rest = &rest[i + 4..];
                }
            }
            out
        }
    }

    /// `python3 -m aiosmtpd … -c aiosmtpd.handlers.Mailbox DIR` as a child process.
    pub struct SmtpServer {
        port: u16,
        dir: PathBuf,
        child: Option<Child>,
    }

    fn free_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        l.local_addr().unwrap().port()
    }

    fn check_python() {
        let ok = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "{PYTHON} cannot import aiosmtpd; these tests need a real SMTP server: \
             run `apt-get install python3-aiosmtpd` (Debian's package for the system python)"
        );
    }

    impl SmtpServer {
        /// Starts a server on a free port with a fresh Maildir.
        pub fn start() -> SmtpServer {
            check_python();
            let dir = unique_temp_dir("tenantry-smtp");
            let mut s = SmtpServer {
                port: free_port(),
                dir,
                child: None,
            };
            s.start_again();
            s
        }

        /// `smtp://127.0.0.1:PORT?tls=none`
        pub fn url(&self) -> String {
            format!("smtp://127.0.0.1:{}?tls=none", self.port)
        }

        fn maildir(&self) -> PathBuf {
            self.dir.join("maildir")
        }

        fn log_path(&self) -> PathBuf {
            self.dir.join("aiosmtpd.log")
        }

        pub fn is_running(&mut self) -> bool {
            self.child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
        }

        /// (Re)starts the server on the same port and Maildir; waits until it accepts.
        pub fn start_again(&mut self) {
            assert!(self.child.is_none(), "SMTP server already running");
            let log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path())
                .expect("open aiosmtpd log");
            let child = Command::new(PYTHON)
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{}", self.port))
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(self.maildir())
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {PYTHON} -m aiosmtpd: {e}"));
            self.child = Some(child);
            let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
            // Some(true): accepting; Some(false): the process is gone; None: not yet.
            let up = poll_value(
                START_TIMEOUT,
                || {
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                        Some(true)
                    } else if !self.is_running() {
                        Some(false)
                    } else {
                        None
                    }
                },
                Option::is_some,
            );
            match up {
                Some(true) => {}
                Some(false) => panic!(
                    "aiosmtpd exited at start (port {}); log:\n{}",
                    self.port,
                    fs::read_to_string(self.log_path()).unwrap_or_default()
                ),
                None => panic!(
                    "aiosmtpd did not accept connections on port {} within {START_TIMEOUT:?}; log:\n{}",
                    self.port,
                    fs::read_to_string(self.log_path()).unwrap_or_default()
                ),
            }
        }

        /// Kills the server (the port then refuses connections). No-op when stopped.
        pub fn stop(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            // Make sure nothing accepts any more.
            let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
            wait_until(
                Duration::from_secs(5),
                &format!("port {} to refuse connections after the stop", self.port),
                || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
            );
        }

        /// Every delivered message, in arrival order.
        pub fn messages(&self) -> Vec<Email> {
            let new = self.maildir().join("new");
            let mut files: Vec<(ArrivalKey, PathBuf)> = match fs::read_dir(&new) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .map(|p| (arrival_key(&p), p))
                    .collect(),
                Err(_) => Vec::new(),
            };
            files.sort();
            files
                .into_iter()
                .filter_map(|(_, p)| fs::read(&p).ok().map(|b| parse(&p, &b)))
                .collect()
        }

        /// Waits until at least `n` messages match `pred`; returns them (arrival order).
        pub fn wait_for_n(
            &self,
            n: usize,
            timeout: Duration,
            pred: impl Fn(&Email) -> bool,
        ) -> Option<Vec<Email>> {
            let found = poll_value(
                timeout,
                || -> Vec<Email> { self.messages().into_iter().filter(|m| pred(m)).collect() },
                |found| found.len() >= n,
            );
            (found.len() >= n).then_some(found)
        }

        /// Waits for the first message matching `pred`.
        pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Email) -> bool) -> Option<Email> {
            self.wait_for_n(1, timeout, pred).map(|mut v| v.remove(0))
        }

        /// A summary of every message so far (for failure messages).
        pub fn summary(&self) -> String {
            self.messages()
                .iter()
                .map(|m| format!("  {} to={:?} subject={:?}", m.file, m.to, m.subject))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }

    impl Drop for SmtpServer {
        fn drop(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            if std::thread::panicking() {
                eprintln!("[SmtpServer] kept {}", self.dir.display());
            } else {
                let _ = fs::remove_dir_all(&self.dir);
            }
        }
    }

    /// Python's Maildir names: `SECS.M<micros>P<pid>Q<counter>.host`.
    type ArrivalKey = (u64, u64, u64, String);

    fn arrival_key(p: &Path) -> ArrivalKey {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut parts = name.splitn(2, '.');
        let secs = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        let rest = parts.next().unwrap_or("");
        let num_after = |tag: char| -> u64 {
            rest.find(tag)
                .map(|i| {
                    rest[i + 1..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        (secs, num_after('M'), num_after('Q'), name)
    }

    // --- a deliberately small MIME reader -------------------------------------

    fn split_head_body(s: &str) -> (&str, &str) {
        match s.find("\n\n") {
            Some(i) => (&s[..i], &s[i + 2..]),
            None => (s, ""),
        }
    }

    /// Unfolded headers, names lower-cased.
    fn headers(head: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = out.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        out
    }

    fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn param(value: &str, name: &str) -> Option<String> {
        value.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
        })
    }

    pub fn decode_qp(s: &str) -> Vec<u8> {
        let s = s.replace("=\r\n", "").replace("=\n", "");
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                if let Ok(v) = u8::from_str_radix(hex, 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        out
    }

    fn decode_b64(s: &str) -> Vec<u8> {
        let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(clean.as_bytes())
            .unwrap_or_else(|_| s.as_bytes().to_vec())
    }

    /// RFC 2047 encoded words (`=?utf-8?b?…?=` / `=?utf-8?q?…?=`); whitespace between two
    /// encoded words is dropped.
    fn decode_words(v: &str) -> String {
        let mut out = String::new();
        let mut rest = v;
        let mut after_word = false;
        while let Some(i) = rest.find("=?") {
            let (before, tail) = rest.split_at(i);
            if !(after_word && before.trim().is_empty()) {
                out.push_str(before);
            }
            after_word = false;
            let parts: Vec<&str> = tail[2..].splitn(3, '?').collect();
            if parts.len() == 3 {
                if let Some(end) = parts[2].find("?=") {
                    let data = &parts[2][..end];
                    let bytes = if parts[1].eq_ignore_ascii_case("b") {
                        decode_b64(data)
                    } else {
                        decode_qp(&data.replace('_', " "))
                    };
                    out.push_str(&String::from_utf8_lossy(&bytes));
                    let consumed = 2 + parts[0].len() + 1 + parts[1].len() + 1 + end + 2;
                    rest = &tail[consumed..];
                    after_word = true;
                    continue;
                }
            }
            out.push_str("=?");
            rest = &tail[2..];
        }
        out.push_str(rest);
        out
    }

    fn walk(head: &str, body: &str, text: &mut String, html: &mut String, depth: usize) {
        let h = headers(head);
        let ctype = header(&h, "content-type")
            .unwrap_or("text/plain")
            .to_string();
        let mime = ctype
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime.starts_with("multipart/") && depth < 5 {
            let Some(boundary) = param(&ctype, "boundary") else {
                return;
            };
            let delim = format!("--{boundary}");
            for part in body.split(&delim).skip(1) {
                if part.starts_with("--") {
                    break;
                }
                let part = part.strip_prefix('\n').unwrap_or(part);
                let (ph, pb) = split_head_body(part);
                walk(ph, pb, text, html, depth + 1);
            }
            return;
        }
        let cte = header(&h, "content-transfer-encoding")
            .unwrap_or("7bit")
            .to_ascii_lowercase();
        let bytes = match cte.as_str() {
            "quoted-printable" => decode_qp(body),
            "base64" => decode_b64(body),
            _ => body.as_bytes().to_vec(),
        };
        let decoded = String::from_utf8_lossy(&bytes).into_owned();
        if mime == "text/html" {
            html.push_str(&decoded);
        } else if mime == "text/plain" {
            text.push_str(&decoded);
        }
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Email {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let norm = raw.replace("\r\n", "\n");
        let (head, body) = split_head_body(&norm);
        let h = headers(head);
        let mut text = String::new();
        let mut html = String::new();
        walk(head, body, &mut text, &mut html, 0);
        Email {
            file: path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            to: header(&h, "to").unwrap_or("").to_string(),
            rcpt_to: header(&h, "x-rcptto").unwrap_or("").to_string(),
            subject: decode_words(header(&h, "subject").unwrap_or("")),
            text,
            html,
            raw,
        }
    }

    #[test]
    fn mime_reader_decodes_qp_base64_and_encoded_words() {
        let msg = "X-RcptTo: a@b.test\nTo: a@b.test\nSubject: =?utf-8?b?SGVsbG8gd8O2cmxk?=\n\
                   Content-Type: multipart/alternative;\n boundary=\"XYZ\"\n\n--XYZ\n\
                   Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n\
                   go to http://h/reset-password?token=3DabcdefghijABCDEFGHIJ012345=\n6789-_xyzXYZ12345678 now\n\
                   --XYZ\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n\
                   PHA+aGk8L3A+\n--XYZ--\n";
        let e = parse(Path::new("1.M1P1Q1.h"), msg.as_bytes());
        assert_eq!(e.subject, "Hello wörld");
        assert!(e.is_to("A@b.test"));
        assert_eq!(e.html, "<p>hi</p>");
        assert_eq!(
            e.link("http://h/reset-password?token=").as_deref(),
            Some("http://h/reset-password?token=abcdefghijABCDEFGHIJ0123456789-_xyzXYZ12345678")
        );
    }
}

// ---------------------------------------------------------------------------
// helpers

struct Env {
    smtp: SmtpServer,
    server: TestServer,
    admin: Session,
}

impl Env {
    fn start() -> Env {
        Self::start_with(&[])
    }

    fn start_with(extra: &[(&str, &str)]) -> Env {
        let smtp = SmtpServer::start();
        let mut b = TestServer::builder()
            .env("TENANTRY_EMAIL_MODE", "smtp")
            .env("TENANTRY_EMAIL_SMTP_URL", smtp.url());
        for (k, v) in extra {
            b = b.env(*k, *v);
        }
        let server = b.start();
        let admin = server.bootstrap_admin();
        Env {
            smtp,
            server,
            admin,
        }
    }

    fn base(&self) -> String {
        self.server.base_url()
    }

    /// Waits for a message to `to` whose subject contains `subject`.
    fn email(&self, to: &str, subject: &str) -> Email {
        self.emails(to, subject, 1).pop().unwrap()
    }

    /// Waits until `n` messages to `to` whose subject contains `subject` arrived.
    fn emails(&self, to: &str, subject: &str, n: usize) -> Vec<Email> {
        self.smtp
            .wait_for_n(n, EMAIL_TIMEOUT, |m| {
                m.is_to(to) && m.subject.contains(subject)
            })
            .unwrap_or_else(|| {
                panic!(
                    "expected {n} email(s) to {to} with subject containing {subject:?} within \
                     {EMAIL_TIMEOUT:?}; got:\n{}\n--- tenantry stderr (tail) ---\n{}",
                    self.smtp.summary(),
                    tail(&self.server.stderr_text(), 40)
                )
            })
    }

    /// The `{public_url}{prefix}TOKEN` link of `m`, asserted to point at the bound address.
    fn link(&self, m: &Email, prefix: &str) -> String {
        let full = format!("{}{prefix}", self.base());
        m.link(&full).unwrap_or_else(|| {
            panic!(
                "no link starting with {full:?} in the email {:?}:\n{}",
                m.subject, m.text
            )
        })
    }

    fn invite_link(&self, to: &str) -> String {
        let m = self.email(to, "invited you");
        self.link(&m, "/invite/")
    }

    /// Follows the confirmation link from the verification email of `email`.
    fn verify(&self, email: &str) {
        let m = self.email(email, "Confirm your email");
        let link = self.link(&m, "/verify-email?token=");
        let r = self.server.client().get(&path_of(&self.base(), &link));
        assert_eq!(r.status, 200, "verification link: {}", r.text());
        assert!(r.text().contains("Email confirmed"), "{}", r.text());
    }

    /// A verified password account, signed in.
    fn verified_user(&mut self, email: &str, name: &str) -> Session {
        create_user(&mut self.admin, email, Some(name), Some(PW));
        self.verify(email);
        login(&self.server, email, PW)
    }

    fn create_company(&mut self, org: &str, name: &str, slug: &str) -> String {
        let r = self.admin.post_json(
            &format!("/api/v1/orgs/{org}/companies"),
            &json!({"name": name, "slug": slug}),
        );
        assert_eq!(r.status, 201, "create company: {}", r.text());
        r.json()["id"].as_str().unwrap().to_string()
    }

    fn invite(&mut self, org: &str, email: &str, access: Value) -> Value {
        let r = self.admin.post_json(
            &format!("/api/v1/orgs/{org}/invitations"),
            &json!({"email": email, "role": "member", "company_access": access}),
        );
        assert_eq!(r.status, 201, "invite {email}: {}", r.text());
        r.json()
    }

    /// The invitation `id` as listed with `?status=all`.
    fn listed_invitation(&mut self, org: &str, id: &str) -> Value {
        let r = self.admin.get(&format!(
            "/api/v1/orgs/{org}/invitations?status=all&limit=100"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("invitation {id} not listed: {}", r.text()))
    }

    fn db(&self) -> rusqlite::Connection {
        open_db(self.server.data_dir())
    }
}

fn open_db(data_dir: &Path) -> rusqlite::Connection {
    let path = data_dir.join("tenantry.db");
    let c = rusqlite::Connection::open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The path (and query) of an absolute link on `base`.
fn path_of(base: &str, link: &str) -> String {
    link.strip_prefix(base)
        .unwrap_or_else(|| panic!("link {link:?} does not start with the public URL {base:?}"))
        .to_string()
}

fn token_of(link: &str) -> String {
    link.rsplit(['/', '=']).next().unwrap().to_string()
}

fn h1(html: &str) -> String {
    let start = html.find("<h1>").map(|i| i + 4).unwrap_or(0);
    let end = html[start..]
        .find("</h1>")
        .map(|i| start + i)
        .unwrap_or(start);
    html[start..end].to_string()
}

/// Posts a signed-in form (session cookie added by the `Session`).
fn post_form(s: &mut Session, path: &str, fields: &[(&str, &str)]) -> Response {
    s.request(
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&form(fields)),
    )
}

fn memberships(s: &mut Session) -> Value {
    let r = s.get("/api/v1/me/memberships");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn company_ids(m: &Value) -> BTreeSet<String> {
    m["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn set_of(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Asserts one organization membership with `role` and exactly `companies`.
fn assert_member_of(m: &Value, org: &str, role: &str, companies: &[&str]) {
    let orgs = m["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 1, "{m}");
    assert_eq!(orgs[0]["id"], org, "{m}");
    assert_eq!(orgs[0]["role"], role, "{m}");
    let access: BTreeSet<String> = orgs[0]["company_access"]
        .as_array()
        .unwrap_or_else(|| panic!("company_access is not a list: {m}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(access, set_of(companies), "{m}");
    assert_eq!(company_ids(m), set_of(companies), "{m}");
    for c in m["companies"].as_array().unwrap() {
        assert_eq!(c["role"], "member", "{m}");
    }
}

/// The whole reset request as a comparable value: status, every header but the request's
/// own ID (different for every request by design), body.
fn fingerprint(r: &Response) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let headers = r
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-request-id"))
        .cloned()
        .collect();
    (r.status, headers, r.body.clone())
}

fn reset_request(server: &TestServer, email: &str) -> Response {
    server
        .client()
        .post_json("/api/v1/auth/password-reset", &json!({ "email": email }))
}

/// Every file under `dir`, concatenated (database, WAL, shared memory, …).
fn all_bytes_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn assert_not_in_files(files: &[(PathBuf, Vec<u8>)], what: &str, token: &str) {
    for (p, b) in files {
        assert!(
            !contains_bytes(b, token.as_bytes()),
            "the raw {what} token appears in {}",
            p.display()
        );
    }
}

// ---------------------------------------------------------------------------
// 1. invitation → email → account from the link; API accept by an existing user

#[test]
fn invitation_email_link_creates_the_account_and_grants_exactly_the_invited_access() {
    let mut env = Env::start();
    let org = create_org(&mut env.admin, "Acme Corp", "acme", None);
    let a = env.create_company(&org, "Alpha Co", "alpha");
    let b = env.create_company(&org, "Beta Co", "beta");
    let _c = env.create_company(&org, "Gamma Co", "gamma");

    let invited = "new.person@example.test";
    let inv = env.invite(&org, invited, json!([a, b]));
    assert_eq!(inv["status"], "pending", "{inv}");
    assert!(
        inv.get("token").is_none(),
        "the API must never show the token: {inv}"
    );

    // The email arrives over SMTP, with the invitation details and a working link.
    let m = env.email(invited, "invited you");
    assert!(m.subject.contains("Acme Corp"), "{}", m.subject);
    assert!(m.text.contains("Admin"), "names the inviter: {}", m.text);
    assert!(m.text.contains("member"), "{}", m.text);
    assert!(
        m.text.contains("Alpha Co") && m.text.contains("Beta Co"),
        "{}",
        m.text
    );
    assert!(!m.text.contains("Gamma Co"), "{}", m.text);
    let link = env.link(&m, "/invite/");
    let path = path_of(&env.base(), &link);
    for url in m.urls() {
        assert!(
            url.starts_with(&env.base()),
            "link {url} does not use the public URL"
        );
    }

    // Signed out: the page offers to create the account for exactly that address.
    let mut s = env.server.session();
    let page = s.get(&path);
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("Acme Corp"), "{html}");
    assert!(
        html.contains(&format!("value=\"{invited}\" disabled")),
        "the email field must be fixed to the invited address: {html}"
    );
    assert!(
        html.contains(&format!("action=\"{path}/signup\"")),
        "{html}"
    );
    let csrf = input_value(&html, "csrf_token").expect("hidden csrf_token");
    let cookie = csrf_cookie(&page).expect("the page sets tenantry_csrf");
    assert_eq!(csrf, cookie);

    // A form post without the CSRF cookie is refused and creates nothing.
    let mut bare = env.server.session();
    let r = post_form(
        &mut bare,
        &format!("{path}/signup"),
        &[
            ("csrf_token", &csrf),
            ("name", "New Person"),
            ("password", PW),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(bare.cookie.is_none());

    // Sign up from the link.
    let r = post_form_with_csrf(
        &mut s,
        &format!("{path}/signup"),
        &cookie,
        &[
            ("csrf_token", &csrf),
            ("name", "New Person"),
            ("password", PW),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let location = r.header("location").unwrap_or_default();
    assert!(
        location.starts_with('/') && !location.starts_with("//"),
        "redirect: {location:?}"
    );
    assert!(
        s.cookie.is_some(),
        "signed in after sign-up: {:?}",
        r.headers
    );
    let me = s.get("/api/v1/me");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["email"], invited, "{}", me.text());
    assert_member_of(&memberships(&mut s), &org, "member", &[&a, &b]);

    // The invitation is consumed; the password works for a normal sign-in.
    assert_eq!(
        env.listed_invitation(&org, inv["id"].as_str().unwrap())["status"],
        "accepted"
    );
    let mut again = login(&env.server, invited, PW);
    assert_member_of(&memberships(&mut again), &org, "member", &[&a, &b]);
    let r = s.get(&path);
    assert_eq!(r.status, 409, "a used link: {}", r.text());

    // The API path: an existing, verified user signs in and accepts with the token.
    let existing = "existing.user@example.test";
    let mut u = env.verified_user(existing, "Existing User");
    assert_eq!(memberships(&mut u)["organizations"], json!([]));
    let inv2 = env.invite(&org, existing, json!([a]));
    let token = token_of(&env.invite_link(existing));
    let r = u.post_json("/api/v1/invitations/accept", &json!({ "token": token }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "accepted", "{}", r.text());
    assert_eq!(r.json()["id"], inv2["id"]);
    assert_member_of(&memberships(&mut u), &org, "member", &[&a]);
}

// ---------------------------------------------------------------------------
// 2. signed in with another address; re-addressing kills the old link

#[test]
fn mismatched_address_is_refused_and_readdressing_moves_the_invitation() {
    let mut env = Env::start();
    let org = create_org(&mut env.admin, "Mismatch Org", "mismatch", None);
    let a = env.create_company(&org, "Alpha Co", "alpha");

    let invited = "nina.snow@example.test";
    let other = "olga.other@example.test";
    let mut o = env.verified_user(other, "Olga Other");

    let inv = env.invite(&org, invited, json!([a]));
    let id = inv["id"].as_str().unwrap().to_string();
    let link = env.invite_link(invited);
    let path = path_of(&env.base(), &link);
    let token = token_of(&link);

    // The page names both addresses (the invited one masked), offers sign-out, names the inviter.
    let page = o.get(&path);
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains(other),
        "names the signed-in address in full: {html}"
    );
    assert!(
        html.contains("n***w@example.test"),
        "names the invited address masked: {html}"
    );
    assert!(
        !html.contains(invited),
        "the invited address must be masked: {html}"
    );
    assert!(
        html.contains("action=\"/logout\""),
        "offers sign-out: {html}"
    );
    assert!(html.contains("Sign out"), "{html}");
    assert!(
        html.contains(&format!("ask {ADMIN_NAME} to resend")),
        "names the inviter and says to ask for a resend: {html}"
    );
    assert!(!html.contains("/signup"), "{html}");

    // The API refuses, and nothing changes.
    let r = o.post_json("/api/v1/invitations/accept", &json!({ "token": token }));
    assert_problem(&r, 403, "email_mismatch");
    assert!(
        !r.text().contains(invited),
        "the problem must not reveal the invited address: {}",
        r.text()
    );
    assert_eq!(memberships(&mut o)["organizations"], json!([]));
    assert_eq!(memberships(&mut o)["companies"], json!([]));
    let listed = env.listed_invitation(&org, &id);
    assert_eq!(listed["status"], "pending", "{listed}");
    assert_eq!(listed["email"], invited, "{listed}");
    let pending = env.admin.get(&format!("/api/v1/orgs/{org}/invitations"));
    assert!(pending.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == id.as_str()));

    // The sign-out form works and comes back to the invitation.
    let csrf = input_value(&html, "csrf_token").expect("csrf token on the sign-out form");
    let mut o2 = o.clone();
    let r = post_form(
        &mut o2,
        "/logout",
        &[("csrf_token", &csrf), ("next", &path)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some(path.as_str()));
    assert!(o2.cookie.is_none());
    let mut o = login(&env.server, other, PW);

    // Superseded links must show the "no longer valid" page (410) and answer
    // `invitation_revoked`. Those checks are collected and asserted at the end, so the rest of
    // the flow is still exercised when they fail.
    let mut dead_link_failures: Vec<String> = Vec::new();
    let mut check_dead = |what: &str, s: &mut Session, path: &str| {
        let r = s.get(path);
        assert_ne!(r.status, 200, "{what}: a superseded link must not work");
        if r.status != 410 || !r.text().contains("no longer valid") {
            dead_link_failures.push(format!(
                "{what}: GET {} → {} {:?} (expected 410 \"no longer valid\")",
                "/invite/…",
                r.status,
                h1(&r.text())
            ));
        }
        if s.cookie.is_none() {
            return; // the API needs a session
        }
        let token = path.trim_start_matches("/invite/");
        let r = s.post_json("/api/v1/invitations/accept", &json!({ "token": token }));
        assert_ne!(
            r.status, 200,
            "{what}: a superseded token must not be accepted"
        );
        let code = r.json()["code"].as_str().unwrap_or_default().to_string();
        if r.status != 410 || code != "invitation_revoked" {
            dead_link_failures.push(format!(
                "{what}: POST /api/v1/invitations/accept → {} {code} (expected 410 invitation_revoked)",
                r.status
            ));
        }
    };

    // A plain resend (same address): new email, new link; the first link is dead.
    let r = env
        .admin
        .post_json(&format!("/api/v1/invitations/{id}/resend"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["email"], invited, "{}", r.text());
    let second = env.emails(invited, "invited you", 2);
    let link2 = env.link(second.last().unwrap(), "/invite/");
    assert_ne!(link2, link);
    let path2 = path_of(&env.base(), &link2);
    check_dead("after resend, the first link", &mut o, &path);
    let page = o.get(&path2);
    assert_eq!(page.status, 200, "the resent link works: {}", page.text());
    assert!(
        page.text().contains("n***w@example.test"),
        "{}",
        page.text()
    );

    // Re-address to the signed-in address.
    let r = env.admin.post_json(
        &format!("/api/v1/invitations/{id}/resend"),
        &json!({ "email": other }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["email"], other, "{}", r.text());
    assert_eq!(r.json()["id"], id.as_str(), "{}", r.text());

    // The old link is dead (its own page and code) ...
    check_dead("after re-addressing, the previous link", &mut o, &path2);
    check_dead(
        "after re-addressing, the first link",
        &mut env.server.session(),
        &path,
    );

    // ... and the new one, from the new email, works for that user.
    let new_link = env.invite_link(other);
    assert_ne!(new_link, link2);
    let new_path = path_of(&env.base(), &new_link);
    let page = o.get(&new_path);
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("Join Mismatch Org"), "{html}");
    let csrf = input_value(&html, "csrf_token").expect("csrf token on the join form");
    let r = post_form(
        &mut o,
        &format!("{new_path}/accept"),
        &[("csrf_token", &csrf)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_member_of(&memberships(&mut o), &org, "member", &[&a]);
    assert_eq!(env.listed_invitation(&org, &id)["status"], "accepted");
    // The original addressee never gets an account out of the old links.
    for p in [&path, &path2] {
        let r = env.server.session().get(p);
        assert_ne!(r.status, 200);
        assert!(!r.text().contains("/signup"));
    }

    assert!(
        dead_link_failures.is_empty(),
        "superseded invitation links are not reported as no longer valid:\n  {}",
        dead_link_failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// 3. expired, revoked, used and unknown tokens; unverified accounts

#[test]
fn unusable_tokens_each_get_their_own_page_and_code() {
    let mut env = Env::start();
    let org = create_org(&mut env.admin, "Tokens Org", "tokens", None);
    let a = env.create_company(&org, "Alpha Co", "alpha");

    let user = "ursula.user@example.test";
    let mut u = env.verified_user(user, "Ursula User");

    // Expired: pushed into the past in the database; the server reads it live.
    let expired_inv = env.invite(&org, "expired.one@example.test", json!([a]));
    let expired_link = env.invite_link("expired.one@example.test");
    let n = env
        .db()
        .execute(
            "UPDATE invitations SET expires_at = ?1 WHERE id = ?2",
            rusqlite::params![now_secs() - 60, expired_inv["id"].as_str().unwrap()],
        )
        .unwrap();
    assert_eq!(n, 1);

    // Revoked.
    let revoked_inv = env.invite(&org, "revoked.one@example.test", json!([a]));
    let revoked_link = env.invite_link("revoked.one@example.test");
    let r = env.admin.delete(&format!(
        "/api/v1/invitations/{}",
        revoked_inv["id"].as_str().unwrap()
    ));
    assert_eq!(r.status, 204, "{}", r.text());

    // Used: accepted once.
    env.invite(&org, user, json!([a]));
    let used_link = env.invite_link(user);
    let r = u.post_json(
        "/api/v1/invitations/accept",
        &json!({ "token": token_of(&used_link) }),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let base = env.base();
    let cases = [
        (
            "expired",
            path_of(&base, &expired_link),
            410,
            "invitation_expired",
        ),
        (
            "revoked",
            path_of(&base, &revoked_link),
            410,
            "invitation_revoked",
        ),
        ("used", path_of(&base, &used_link), 409, "invitation_used"),
        (
            "garbage",
            "/invite/xyz".to_string(),
            404,
            "invitation_not_found",
        ),
        (
            "unknown 43-char",
            format!("/invite/{}", "A".repeat(43)),
            404,
            "invitation_not_found",
        ),
    ];
    let mut headings = Vec::new();
    let mut texts = Vec::new();
    for (what, path, status, code) in &cases {
        for s in [&mut env.server.session(), &mut u] {
            let page = s.get(path);
            assert_eq!(page.status, *status, "{what} page: {}", page.text());
            assert!(
                page.header("content-type")
                    .is_some_and(|c| c.starts_with("text/html")),
                "{what}"
            );
            assert!(!page.text().contains("/signup"), "{what}: {}", page.text());
        }
        let page = env.server.session().get(path);
        headings.push(h1(&page.text()));
        texts.push(page.text());
        let token = path.trim_start_matches("/invite/");
        let r = u.post_json("/api/v1/invitations/accept", &json!({ "token": token }));
        assert_problem(&r, *status, code);
    }
    // expired / revoked / used / not found: four different headings and texts.
    let distinct: BTreeSet<&String> = headings[..4].iter().collect();
    assert_eq!(distinct.len(), 4, "headings must differ: {headings:?}");
    assert_ne!(
        texts[0], texts[1],
        "expired and revoked are both 410 but must read differently"
    );
    assert!(
        headings[0].to_lowercase().contains("expired"),
        "{headings:?}"
    );
    assert!(headings[2].to_lowercase().contains("used"), "{headings:?}");
    assert!(
        headings[3].to_lowercase().contains("not found"),
        "{headings:?}"
    );
    // Used twice through the page's accept form too.
    let page = u.get(&path_of(&base, &used_link));
    assert_eq!(page.status, 409);
    // The API without a session is `unauthenticated`, whatever the token.
    let r = env
        .server
        .client()
        .post_json("/api/v1/invitations/accept", &json!({ "token": "xyz" }));
    assert_problem(&r, 401, "unauthenticated");

    // An unverified account cannot accept until it follows the confirmation link.
    let unverified = "una.verified@example.test";
    create_user(&mut env.admin, unverified, Some("Una Verified"), Some(PW));
    let mut un = login(&env.server, unverified, PW);
    env.invite(&org, unverified, json!([a]));
    let token = token_of(&env.invite_link(unverified));
    let r = un.post_json("/api/v1/invitations/accept", &json!({ "token": token }));
    assert_problem(&r, 403, "email_unverified");
    assert_eq!(memberships(&mut un)["organizations"], json!([]));
    env.verify(unverified);
    let r = un.post_json("/api/v1/invitations/accept", &json!({ "token": token }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_member_of(&memberships(&mut un), &org, "member", &[&a]);
    // A used confirmation link is refused.
    let m = env.email(unverified, "Confirm your email");
    let r = env
        .server
        .client()
        .get(&path_of(&base, &env.link(&m, "/verify-email?token=")));
    assert_eq!(r.status, 400, "{}", r.text());
}

// ---------------------------------------------------------------------------
// 4. password reset end to end

#[test]
fn password_reset_over_smtp_end_to_end() {
    let mut env = Env::start();
    let alice = "alice.reset@example.test";
    create_user(&mut env.admin, alice, Some("Alice Reset"), Some(PW));
    env.verify(alice);
    let mut before1 = login(&env.server, alice, PW);
    let mut before2 = login(&env.server, alice, PW);
    let base = env.base();

    // The page form: "check your email", then a reset email.
    let mut p = env.server.session();
    let page = p.get("/forgot-password");
    assert_eq!(page.status, 200);
    let csrf = input_value(&page.text(), "csrf_token").unwrap();
    let cookie = csrf_cookie(&page).unwrap();
    let r = post_form_with_csrf(
        &mut p,
        "/forgot-password",
        &cookie,
        &[("csrf_token", &csrf), ("email", alice)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .contains("If an account exists for that address, we sent it a link"),
        "{}",
        r.text()
    );
    let first = env
        .emails(alice, "Reset your tenantry password", 1)
        .remove(0);
    let first_link = env.link(&first, "/reset-password?token=");

    // Host / X-Forwarded-Host never change the link.
    let client = env.server.client();
    let origin = client.origin();
    let body = serde_json::to_vec(&json!({ "email": alice })).unwrap();
    for (i, extra) in [("Host", "evil.test"), ("X-Forwarded-Host", "evil.test")]
        .iter()
        .enumerate()
    {
        let r = client.request(
            "POST",
            "/api/v1/auth/password-reset",
            &[
                ("Content-Type", "application/json"),
                ("Origin", &origin),
                *extra,
            ],
            Some(&body),
        );
        assert_eq!(r.status, 202, "{extra:?}: {}", r.text());
        let mails = env.emails(alice, "Reset your tenantry password", i + 2);
        let m = mails.last().unwrap();
        assert!(
            !m.raw.contains("evil.test"),
            "{extra:?} leaked into the email:\n{}",
            m.raw
        );
        let urls = m.urls();
        assert!(!urls.is_empty());
        for u in urls {
            assert!(u.starts_with(&base), "{extra:?}: link {u} is not on {base}");
        }
    }

    // The API request.
    let r = reset_request(&env.server, alice);
    assert_eq!(r.status, 202, "{}", r.text());
    let mails = env.emails(alice, "Reset your tenantry password", 4);
    let link = env.link(mails.last().unwrap(), "/reset-password?token=");
    let token = token_of(&link);
    // A newer link kills the older ones.
    let r = env.server.client().get(&path_of(&base, &first_link));
    assert_eq!(r.status, 400, "an older link must be dead: {}", r.text());
    // The link opens the form.
    let r = env.server.client().get(&path_of(&base, &link));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        input_value(&r.text(), "token").as_deref(),
        Some(token.as_str())
    );

    // Confirm.
    let c = env.server.client();
    let r = c.post_json(
        "/api/v1/auth/password-reset/confirm",
        &json!({"token": token, "password": NEW_PW}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.post_json(
        "/api/v1/auth/password-reset/confirm",
        &json!({"token": token, "password": "yet another long password"}),
    );
    assert_problem(&r, 404, "token_invalid");

    // Sessions opened before the reset are over; the new password works, the old does not.
    for s in [&mut before1, &mut before2] {
        let r = s.get("/api/v1/me");
        assert_problem(&r, 401, "unauthenticated");
    }
    let r = c.post_json(
        "/api/v1/auth/login",
        &json!({"email": alice, "password": PW}),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let mut after = login(&env.server, alice, NEW_PW);
    assert_eq!(after.get("/api/v1/me").status, 200);

    // The notice.
    let notice = env.email(alice, "password was changed");
    assert!(notice.text.contains(alice), "{}", notice.text);

    // The used link now shows the invalid-link page.
    let r = env.server.client().get(&path_of(&base, &link));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Link invalid or expired"), "{}", r.text());
    let r = env.server.client().get("/reset-password?token=not-a-token");
    assert_eq!(r.status, 400);
}

#[test]
fn password_reset_requests_do_not_reveal_accounts_and_reject_bad_input() {
    let mut env = Env::start();
    let known = "bob.known@example.test";
    create_user(&mut env.admin, known, Some("Bob Known"), Some(PW));
    env.verify(known);

    let unknown = "nobody.here@example.test";
    let r_unknown = reset_request(&env.server, unknown);
    let r_known = reset_request(&env.server, known);
    assert_eq!(r_known.status, 202, "{}", r_known.text());
    assert_eq!(
        fingerprint(&r_unknown),
        fingerprint(&r_known),
        "unknown and known addresses must get byte-identical answers:\n{:?}\n{:?}",
        (r_unknown.status, &r_unknown.headers, r_unknown.text()),
        (r_known.status, &r_known.headers, r_known.text()),
    );
    // Only the known one gets an email. Requests are processed and emails delivered in the
    // order they came (one reset queue, one outbox worker taking the oldest first), so once
    // the known address's email is here, one for the unknown address, asked for first, would
    // be here too.
    env.email(known, "Reset your tenantry password");
    assert!(
        !env.smtp.messages().iter().any(|m| m.is_to(unknown)),
        "an email went to an unknown address:\n{}",
        env.smtp.summary()
    );

    // Hostile shapes are refused before anything is queued.
    let c = env.server.client();
    let before = env.smtp.messages().len();
    for body in [
        json!({ "email": [known] }),
        json!({ "email": format!("{known}\r\nBcc: x@y.test") }),
        json!({ "email": "a@b.test\r\nBcc: x@y.test" }),
        json!({ "email": "a@b.test\nBcc: x@y.test" }),
        json!({ "email": { "address": known } }),
    ] {
        let r = c.post_json("/api/v1/auth/password-reset", &body);
        let v = assert_problem(&r, 422, "validation_failed");
        assert!(v.to_string().contains("email"), "names the field: {v}");
    }
    // A valid request after them is the marker: once its email is here, anything the refused
    // ones had queued would be here too (delivered in order).
    assert_eq!(reset_request(&env.server, known).status, 202);
    env.emails(known, "Reset your tenantry password", 2);
    let msgs = env.smtp.messages();
    assert_eq!(
        msgs.len(),
        before + 1,
        "no email for rejected requests (only the marker's):\n{}",
        env.smtp.summary()
    );
    assert!(!msgs.iter().any(|m| m.raw.contains("x@y.test")));
}

// ---------------------------------------------------------------------------
// 5. SSO-managed accounts

#[test]
fn sso_managed_accounts_get_no_reset_email() {
    let mut env = Env::start();
    let sso = "sam.sso@example.test";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args([
            "user",
            "create",
            "--email",
            sso,
            "--name",
            "Sam Sso",
            "--sso",
            "okta",
            "--data-dir",
        ])
        .arg(env.server.data_dir())
        .env_remove("TENANTRY_EMAIL_MODE")
        .output()
        .expect("run tenantry user create");
    assert!(
        out.status.success(),
        "tenantry user create --sso failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let users = env.admin.get("/api/v1/users?limit=100").json();
    let u = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == sso)
        .cloned()
        .unwrap_or_else(|| panic!("SSO user not listed: {users}"));
    let uid = u["id"].as_str().unwrap().to_string();

    // No password sign-in for an SSO account.
    let r = env
        .server
        .client()
        .post_json("/api/v1/auth/login", &json!({"email": sso, "password": PW}));
    assert_eq!(r.status, 401, "{}", r.text());

    // The public request answers exactly as for an unknown address, and sends nothing.
    let r_sso = reset_request(&env.server, sso);
    let r_unknown = reset_request(&env.server, "nobody.sso@example.test");
    assert_eq!(r_sso.status, 202, "{}", r_sso.text());
    assert_eq!(fingerprint(&r_sso), fingerprint(&r_unknown));
    // The admin's reset (queued after the SSO request) arrives; nothing for the SSO account.
    let r = reset_request(&env.server, ADMIN_EMAIL);
    assert_eq!(fingerprint(&r), fingerprint(&r_unknown));
    // (Delivered in order: an email for the SSO account would have come first.)
    env.email(ADMIN_EMAIL, "Reset your tenantry password");
    assert!(
        !env.smtp.messages().iter().any(|m| m.is_to(sso)),
        "an email went to the SSO account:\n{}",
        env.smtp.summary()
    );

    // Signed in (session forged in the DB: no SSO sign-in exists in this build), the personal
    // route answers 409 sso_managed.
    let mut s = env.server.session();
    s.cookie = Some(forge_session(env.server.data_dir(), &uid));
    let me = s.get("/api/v1/me");
    assert_eq!(
        me.status,
        200,
        "the forged session must work: {}",
        me.text()
    );
    assert_eq!(me.json()["email"], sso);
    let r = s.post_json("/api/v1/me/password-reset", &json!({}));
    let v = assert_problem(&r, 409, "sso_managed");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("IT administrator"),
        "{v}"
    );

    // A password account gets the email from the same route; it was asked for after the
    // refused one, so once it is here nothing went to the SSO account (delivered in order).
    let r = env.admin.post_json("/api/v1/me/password-reset", &json!({}));
    assert_eq!(r.status, 202, "{}", r.text());
    env.emails(ADMIN_EMAIL, "Reset your tenantry password", 2);
    assert!(!env.smtp.messages().iter().any(|m| m.is_to(sso)));
}

// ---------------------------------------------------------------------------
// 6. SMTP down: queued, survives a restart, delivered when SMTP is back

#[test]
fn email_waits_for_a_down_smtp_server_across_a_restart() {
    let mut env = Env::start();
    let org = create_org(&mut env.admin, "Queue Org", "queue", None);
    let invited = "queued.invitee@example.test";

    env.smtp.stop();
    let t_down = Instant::now();
    let inv = env.invite(&org, invited, json!("all"));
    let id = inv["id"].as_str().unwrap().to_string();
    let r = reset_request(&env.server, ADMIN_EMAIL);
    assert_eq!(r.status, 202, "{}", r.text());

    // The attempt fails; the message stays queued with the error.
    let listed = poll(Duration::from_secs(15), "a failed delivery attempt", || {
        let v = env.listed_invitation(&org, &id);
        (v["delivery"]["last_error"].is_string()).then_some(v)
    });
    assert_eq!(listed["delivery"]["status"], "queued", "{listed}");
    assert!(
        listed["delivery"]["attempts"].as_i64().unwrap() >= 1,
        "{listed}"
    );
    let reset_row = poll(
        Duration::from_secs(15),
        "the reset email's failed attempt",
        || {
            env.db()
            .query_row(
                "SELECT status, last_error, attempts FROM outbox WHERE template = 'password_reset' AND recipient = ?1",
                [ADMIN_EMAIL],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, i64>(2)?)),
            )
            .ok()
            .filter(|(_, e, _)| e.is_some())
        },
    );
    assert_eq!(reset_row.0, "queued", "{reset_row:?}");

    // Restart tenantry while SMTP is still down: still queued.
    env.server.restart();
    let mut admin = login(&env.server, ADMIN_EMAIL, ADMIN_PASSWORD);
    let r = admin.get(&format!("/api/v1/orgs/{org}/invitations"));
    let v = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(v["delivery"]["status"], "queued", "{v}");
    assert!(env.smtp.messages().is_empty());

    // SMTP back: both arrive (retries back off 5 s, 10 s, 20 s, … so this is bounded).
    env.smtp.start_again();
    let downtime = t_down.elapsed();
    let deadline = Duration::from_secs(75);
    let got = env.smtp.wait_for_n(2, deadline, |m| {
        (m.is_to(invited) && m.subject.contains("invited you"))
            || (m.is_to(ADMIN_EMAIL) && m.subject.contains("Reset your tenantry password"))
    });
    assert!(
        got.is_some(),
        "both queued emails should be delivered within {deadline:?} of SMTP coming back \
         (it was down for {downtime:?}); got:\n{}\n--- stderr tail ---\n{}",
        env.smtp.summary(),
        tail(&env.server.stderr_text(), 40)
    );
    // The invitation link still works and the delivery status says sent.
    let link = env.invite_link(invited);
    assert_eq!(
        env.server.client().get(&path_of(&env.base(), &link)).status,
        200
    );
    let v = poll(Duration::from_secs(10), "delivery status sent", || {
        let r = admin.get(&format!("/api/v1/orgs/{org}/invitations"));
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id.as_str() && i["delivery"]["status"] == "sent")
            .cloned()
    });
    assert!(v["delivery"]["attempts"].as_i64().unwrap() >= 2, "{v}");
    // Exactly one copy of each.
    let msgs = env.smtp.messages();
    assert_eq!(
        msgs.iter().filter(|m| m.is_to(invited)).count(),
        1,
        "{}",
        env.smtp.summary()
    );
}

// ---------------------------------------------------------------------------
// 7. raw tokens never in the database files or the logs

#[test]
fn raw_tokens_stay_out_of_database_files_and_trace_logs() {
    let mut env = Env::start_with(&[("RUST_LOG", "trace")]);
    let org = create_org(&mut env.admin, "Secret Org", "secret", None);
    let invited = "tina.token@example.test";
    let verify_me = "vera.verify@example.test";

    // Queue while SMTP is down, so the sealed bodies sit in the database for a while.
    env.smtp.stop();
    let inv = env.invite(&org, invited, json!("all"));
    let id = inv["id"].as_str().unwrap().to_string();
    let r = reset_request(&env.server, ADMIN_EMAIL);
    assert_eq!(r.status, 202);
    create_user(&mut env.admin, verify_me, Some("Vera Verify"), Some(PW));
    poll(Duration::from_secs(15), "a failed delivery attempt", || {
        let v = env.listed_invitation(&org, &id);
        v["delivery"]["last_error"].is_string().then_some(())
    });
    let while_queued = all_bytes_under(env.server.data_dir());
    env.smtp.start_again();

    let invite_link = env.invite_link(invited);
    let reset_mail = env.email(ADMIN_EMAIL, "Reset your tenantry password");
    let reset_link = env.link(&reset_mail, "/reset-password?token=");
    let verify_mail = env.email(verify_me, "Confirm your email");
    let verify_link = env.link(&verify_mail, "/verify-email?token=");
    let tokens = [
        ("invitation", token_of(&invite_link)),
        ("reset", token_of(&reset_link)),
        ("verification", token_of(&verify_link)),
    ];
    for (what, t) in &tokens {
        assert_eq!(t.len(), 43, "{what} token should be 256 bits: {t}");
        assert_not_in_files(&while_queued, what, t);
    }

    // Use every link through the pages and the API (the tokens travel in paths and queries).
    let base = env.base();
    let mut s = env.server.session();
    let page = s.get(&path_of(&base, &invite_link));
    assert_eq!(page.status, 200);
    let csrf = input_value(&page.text(), "csrf_token").unwrap();
    let cookie = csrf_cookie(&page).unwrap();
    let r = post_form_with_csrf(
        &mut s,
        &format!("{}/signup", path_of(&base, &invite_link)),
        &cookie,
        &[
            ("csrf_token", &csrf),
            ("name", "Tina Token"),
            ("password", PW),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(s.get(&path_of(&base, &invite_link)).status, 409);
    let r = env.server.client().get(&path_of(&base, &reset_link));
    assert_eq!(r.status, 200);
    let r = env.server.client().post_json(
        "/api/v1/auth/password-reset/confirm",
        &json!({"token": tokens[1].1, "password": NEW_PW}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = env.server.client().get(&path_of(&base, &verify_link));
    assert_eq!(r.status, 200);
    env.smtp
        .wait_for(EMAIL_TIMEOUT, |m| {
            m.is_to(ADMIN_EMAIL) && m.subject.contains("password was changed")
        })
        .expect("the password-changed notice");

    let files = all_bytes_under(env.server.data_dir());
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().ends_with("tenantry.db-wal")),
        "expected a WAL file among {:?}",
        files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()
    );
    let logs = format!("{}\n{}", env.server.stdout_text(), env.server.stderr_text());
    assert!(
        logs.contains(" DEBUG ") || logs.contains(" TRACE "),
        "RUST_LOG=trace should let debug/trace lines through"
    );
    // Positive control: the search does see plain data in these files.
    assert!(
        files
            .iter()
            .any(|(_, b)| contains_bytes(b, invited.as_bytes())),
        "the invited address should be readable in the database files (search sanity check)"
    );
    for (what, t) in &tokens {
        assert_not_in_files(&files, what, t);
        assert!(
            !logs.contains(t.as_str()),
            "the raw {what} token appears in the server logs"
        );
    }
    // After a clean stop (checkpoint), the main database file is clean too.
    env.server.stop();
    let files = all_bytes_under(env.server.data_dir());
    for (what, t) in &tokens {
        assert_not_in_files(&files, what, t);
    }
    let logs = format!("{}\n{}", env.server.stdout_text(), env.server.stderr_text());
    for (what, t) in &tokens {
        assert!(
            !logs.contains(t.as_str()),
            "the raw {what} token appears in the server logs"
        );
    }
}

// ---------------------------------------------------------------------------
// Adding an existing account by email is an invitation it accepts (consent)

#[test]
fn adding_an_existing_account_by_email_sends_an_invitation_it_must_accept() {
    let mut env = Env::start();
    let owner = "olga.owner@example.test";
    let mut o = env.verified_user(owner, "Olga Owner");
    let r = env.admin.post_json(
        "/api/v1/orgs",
        &json!({"name": "Consent Org", "slug": "consent", "owner_email": owner}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let org = r.json()["id"].as_str().unwrap().to_string();
    let r = o.post_json(
        &format!("/api/v1/orgs/{org}/companies"),
        &json!({"name": "Alpha Co", "slug": "alpha"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let a = r.json()["id"].as_str().unwrap().to_string();

    let existing = "bob.builder@example.test";
    let mut bob = env.verified_user(existing, "Bob Builder");
    let r = o.post_json(
        &format!("/api/v1/orgs/{org}/members"),
        &json!({"email": existing, "role": "member", "company_access": [a]}),
    );
    assert_eq!(
        r.status,
        202,
        "an add by the owner is an invitation: {}",
        r.text()
    );
    assert_eq!(r.json()["status"], "pending", "{}", r.text());
    // Not a member yet: no consent, no membership.
    assert_eq!(memberships(&mut bob)["organizations"], json!([]));

    // The invitation email arrives; accepting it makes the membership.
    let token = token_of(&env.invite_link(existing));
    let r = bob.post_json("/api/v1/invitations/accept", &json!({ "token": token }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_member_of(&memberships(&mut bob), &org, "member", &[&a]);
}

// ---------------------------------------------------------------------------
// changing one's email address

const CHANGE_SUBJECT: &str = "Confirm your new tenantry sign-in address";
const CHANGED_SUBJECT: &str = "sign-in address was changed";

fn request_email_change(s: &mut Session, email: &str, password: &str) -> Response {
    s.post_json(
        "/api/v1/me/email-change",
        &json!({"email": email, "password": password}),
    )
}

fn field_error(r: &Response, field: &str) {
    field_problem(r, 422, "validation_failed", field);
}

/// A well-formed value the present state refuses (a wrong current password, one's own
/// address): 409 `conflict` naming the field.
fn conflict_error(r: &Response, field: &str) {
    field_problem(r, 409, "conflict", field);
}

fn field_problem(r: &Response, status: u16, code: &str, field: &str) {
    let v = assert_problem(r, status, code);
    assert!(
        v.to_string().contains(&format!("\"{field}\"")),
        "expected an error on {field}: {v}"
    );
}

#[test]
fn email_change_over_smtp_end_to_end() {
    let mut env = Env::start();
    let old = "alice.old@example.test";
    let new = "alice.new@example.test";
    let first = "alice.first@example.test";
    let mut s = env.verified_user(old, "Alice Change");
    let org = create_org(&mut env.admin, "Change Org", "change-org", None);
    let r = env.admin.post_json(
        &format!("/api/v1/orgs/{org}/members"),
        &json!({"email": old, "role": "member", "company_access": "all"}),
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.text());
    let base = env.base();

    // Re-authentication and a valid address are required.
    conflict_error(
        &request_email_change(&mut s, new, "not my password"),
        "password",
    );
    field_error(&request_email_change(&mut s, "not an address", PW), "email");
    conflict_error(&request_email_change(&mut s, old, PW), "email");
    let r = env.server.client().post_json(
        "/api/v1/me/email-change",
        &json!({"email": new, "password": PW}),
    );
    assert_problem(&r, 401, "unauthenticated");

    // An older request's link dies with a newer request.
    let r = request_email_change(&mut s, first, PW);
    assert_eq!(r.status, 202, "{}", r.text());
    let first_link = env.link(
        &env.email(first, CHANGE_SUBJECT),
        "/confirm-email-change?token=",
    );
    let r = request_email_change(&mut s, new, PW);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["status"], "accepted", "{}", r.text());
    let m = env.email(new, CHANGE_SUBJECT);
    assert!(
        m.text.contains(old),
        "the email names the current address: {}",
        m.text
    );
    let link = env.link(&m, "/confirm-email-change?token=");
    let r = env.server.client().get(&path_of(&base, &first_link));
    assert_eq!(r.status, 400, "an older link must be dead: {}", r.text());
    assert_eq!(
        s.get("/api/v1/me").json()["email"],
        old,
        "nothing changes before the link"
    );

    // A reset link mailed to the old address before the change.
    let r = s.post_json("/api/v1/me/password-reset", &json!({}));
    assert_eq!(r.status, 202, "{}", r.text());
    let reset_link = env.link(
        &env.email(old, "Reset your tenantry password"),
        "/reset-password?token=",
    );

    // Fetching the link (as a mail scanner or a link preview would) changes nothing: the
    // page names the new address and asks for a click.
    let page = env.server.client().get(&path_of(&base, &link));
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().contains("Confirm your new address"),
        "{}",
        page.text()
    );
    assert!(page.text().contains(new), "{}", page.text());
    let again = env.server.client().get(&path_of(&base, &link));
    assert_eq!(
        again.status,
        200,
        "fetching twice changes nothing: {}",
        again.text()
    );
    assert_eq!(
        s.get("/api/v1/me").json()["email"],
        old,
        "a GET must not change the address"
    );

    // A post without the form's CSRF pair changes nothing either.
    let mut anon = Session::new(env.server.addr());
    let forged = anon.request(
        "POST",
        "/confirm-email-change",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&form(&[("token", &token_of(&link))])),
    );
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert_eq!(s.get("/api/v1/me").json()["email"], old);

    // Clicking the button changes the address (no session needed), once.
    let cookie = csrf_cookie(&page).expect("the confirmation page sets its CSRF cookie");
    let csrf = input_value(&page.text(), "csrf_token").expect("a CSRF field");
    let token = input_value(&page.text(), "token").expect("the token field");
    let r = post_form_with_csrf(
        &mut anon,
        "/confirm-email-change",
        &cookie,
        &[("csrf_token", &csrf), ("token", &token)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Email address changed"), "{}", r.text());
    assert!(r.text().contains(new), "{}", r.text());
    let r = post_form_with_csrf(
        &mut anon,
        "/confirm-email-change",
        &cookie,
        &[("csrf_token", &csrf), ("token", &token)],
    );
    assert_eq!(r.status, 400, "the link is single-use: {}", r.text());
    let r = env.server.client().get(&path_of(&base, &link));
    assert_eq!(r.status, 400, "the link is single-use: {}", r.text());
    let r = env.server.client().post_json(
        "/api/v1/me/email-change/confirm",
        &json!({"token": token_of(&link)}),
    );
    assert_problem(&r, 404, "token_invalid");

    let me = s.get("/api/v1/me").json();
    assert_eq!(me["email"], new, "{me}");
    assert_eq!(me["email_verified"], true, "{me}");
    let r = env
        .server
        .client()
        .post_json("/api/v1/auth/login", &json!({"email": old, "password": PW}));
    assert_eq!(
        r.status,
        401,
        "the old address no longer signs in: {}",
        r.text()
    );
    let mut again = login(&env.server, new, PW);
    assert_eq!(again.get("/api/v1/me").json()["email"], new);

    // The old address is told, with the new one masked.
    let notice = env.email(old, CHANGED_SUBJECT);
    assert!(
        notice.text.contains("a***w@example.test"),
        "{}",
        notice.text
    );
    assert!(
        !notice.raw.contains(new),
        "the notice must mask the new address:\n{}",
        notice.raw
    );
    assert!(
        notice.text.contains("reset your password"),
        "{}",
        notice.text
    );

    // Audited in the user's organization, without the full addresses.
    let details: String = env
        .db()
        .query_row(
            "SELECT details FROM audit_events WHERE org_id = ?1 AND action = 'user.email_changed'",
            [&org],
            |r| r.get(0),
        )
        .expect("an audit event in the user's organization");
    assert!(
        !details.contains(new) && !details.contains(old),
        "{details}"
    );

    // Links still pending for the old address died with the change.
    let r = env.server.client().get(&path_of(&base, &reset_link));
    assert_eq!(
        r.status,
        400,
        "a reset link to the old address must be dead: {}",
        r.text()
    );

    // The link stays dead for the first address too.
    let r = env.server.client().get(&path_of(&base, &first_link));
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn email_change_refusals_expiry_and_plain_verification_links() {
    let mut env = Env::start();
    let carol = "carol@example.test";
    let dave = "dave@example.test";
    let mut c = env.verified_user(carol, "Carol");
    // Dave's plain verification link, not followed yet.
    create_user(&mut env.admin, dave, Some("Dave"), Some(PW));
    let dave_verify = env.link(
        &env.email(dave, "Confirm your email"),
        "/verify-email?token=",
    );
    let base = env.base();

    // A taken address answers exactly like a free one at request time.
    let free = request_email_change(&mut c, "carol.free@example.test", PW);
    let taken = request_email_change(&mut c, dave, PW);
    assert_eq!(free.status, 202, "{}", free.text());
    assert_eq!((taken.status, taken.json()), (free.status, free.json()));
    // The link (reaching the owner of that address) refuses it and changes nothing.
    let taken_link = env.link(
        &env.email(dave, CHANGE_SUBJECT),
        "/confirm-email-change?token=",
    );
    let r = env.server.client().get(&path_of(&base, &taken_link));
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.text().contains("This address cannot be used"),
        "{}",
        r.text()
    );
    let r = env.server.client().post_json(
        "/api/v1/me/email-change/confirm",
        &json!({"token": token_of(&taken_link)}),
    );
    assert_problem(&r, 409, "conflict");
    assert_eq!(c.get("/api/v1/me").json()["email"], carol);

    // A plain verification link never changes an address, on either route.
    let r = env.server.client().get(&format!(
        "/confirm-email-change?token={}",
        token_of(&dave_verify)
    ));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = env.server.client().post_json(
        "/api/v1/me/email-change/confirm",
        &json!({"token": token_of(&dave_verify)}),
    );
    assert_problem(&r, 404, "token_invalid");
    // … and it still verifies (the purposes do not interfere).
    let r = env.server.client().get(&path_of(&base, &dave_verify));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut d = login(&env.server, dave, PW);
    assert_eq!(d.get("/api/v1/me").json()["email"], dave);

    // A change link does not work as a verification link either.
    let r = request_email_change(&mut c, "carol.verify@example.test", PW);
    assert_eq!(r.status, 202, "{}", r.text());
    let change_link = env.link(
        &env.email("carol.verify@example.test", CHANGE_SUBJECT),
        "/confirm-email-change?token=",
    );
    let r = env
        .server
        .client()
        .get(&format!("/verify-email?token={}", token_of(&change_link)));
    assert_eq!(r.status, 400, "{}", r.text());

    // Expired links are refused.
    let n = env
        .db()
        .execute(
            "UPDATE email_verifications SET expires_at = ?1 WHERE purpose = 'change' AND used_at IS NULL",
            [now_secs() - 1],
        )
        .unwrap();
    assert_eq!(n, 1, "exactly the newest change link is pending");
    let r = env.server.client().get(&path_of(&base, &change_link));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(c.get("/api/v1/me").json()["email"], carol);

    // Addresses of a verified SSO domain must sign in through SSO. (The claim is written
    // straight into the database: an SSO connection needs an identity-provider plugin, which
    // the SSO tests cover; here only the verified domain matters.)
    let db = env.db();
    db.pragma_update(None, "foreign_keys", "OFF").unwrap();
    db.execute(
        "INSERT INTO sso_domain_claims (org_id, domain, token, status, verified_at, created_at) \
             VALUES ('org_ssocorp', 'sso-corp.test', 't', 'verified', ?1, ?1)",
        [now_secs()],
    )
    .unwrap();
    let r = request_email_change(&mut c, "carol@sso-corp.test", PW);
    field_error(&r, "email");
    assert!(r.text().contains("single sign-on"), "{}", r.text());

    // SSO users cannot change their address here.
    env.db()
        .execute(
            "UPDATE users SET auth = 'sso', sso_provider = 'Okta', password_hash = NULL WHERE email = ?1",
            [dave],
        )
        .unwrap();
    let r = request_email_change(&mut d, "dave.new@example.test", PW);
    assert_problem(&r, 409, "sso_managed");
    let page = d.get("/settings/personal/general").text();
    assert!(
        page.contains("managed by your IT administrator (Okta)"),
        "{page}"
    );
    assert!(!page.contains("/settings/personal/general/email"), "{page}");

    // Requests (each mails an address of the caller's choosing) are throttled per account.
    let spam = "carol.spam@example.test";
    let mut accepted = 0;
    let mut limited = false;
    for _ in 0..10 {
        let r = request_email_change(&mut c, spam, PW);
        if r.status == 429 {
            assert_problem(&r, 429, "rate_limited");
            limited = true;
            break;
        }
        assert_eq!(r.status, 202, "{}", r.text());
        accepted += 1;
    }
    assert!(limited, "email-change requests were never throttled");
    assert!(accepted >= 1, "no request went through before the throttle");

    // Wrong passwords are throttled like sign-in failures, and count against sign-in.
    let mut throttled = false;
    for _ in 0..12 {
        let r = request_email_change(&mut c, "carol.x@example.test", "wrong password!");
        if r.status == 429 {
            assert_problem(&r, 429, "rate_limited");
            throttled = true;
            break;
        }
        conflict_error(&r, "password");
    }
    assert!(throttled, "wrong passwords were never throttled");
    let r = env.server.client().post_json(
        "/api/v1/auth/login",
        &json!({"email": carol, "password": PW}),
    );
    assert_problem(&r, 429, "rate_limited");
    assert!(
        !env.smtp
            .messages()
            .iter()
            .any(|m| m.is_to("carol.x@example.test")),
        "no link for a wrong password"
    );
}
