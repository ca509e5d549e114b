//! Outbound SMTP against a real SMTP server (aiosmtpd, `tests/fixtures/smtp_server.py`):
//! a password with `+` in `email.smtp_url` reaches the server as `+` (the user info
//! was once decoded as a form, `+` became a space), and a relay whose certificate is signed by a
//! private CA (made here with the openssl command) is refused until `tls.ca_file` names
//! that CA (outbound TLS trusts a custom CA bundle). The same roots go to the
//! plugins' HTTP client: `plugin_http_trusts_the_configured_ca` in src/plugin_host/host_api.rs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cli::{path_str, tenantry, TempDir};
use crate::support::wait::poll_value;
use crate::support::TestServer;

const PYTHON: &str = "/usr/bin/python3";
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// `tests/fixtures/smtp_server.py` as a child process.
struct Smtp {
    port: u16,
    maildir: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Smtp {
    fn start(dir: &Path, extra: &[&str]) -> Smtp {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = dir.join(format!("maildir-{port}"));
        let log = dir.join(format!("smtp-{port}.log"));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_server.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(["--port", &port.to_string(), "--maildir", path_str(&maildir)])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap_or_else(|e| panic!("{PYTHON} {script}: {e} (the tests need python3-aiosmtpd)"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "SMTP server did not start: {}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        Smtp {
            port,
            maildir,
            log,
            child,
        }
    }

    fn delivered(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| fs::read_to_string(e.path()).ok())
            .collect()
    }

    fn wait_delivered(&self, what: &str, server: &TestServer) -> Vec<String> {
        let got = poll_value(DELIVERY_TIMEOUT, || self.delivered(), |got| !got.is_empty());
        assert!(
            !got.is_empty(),
            "{what}: nothing delivered within {DELIVERY_TIMEOUT:?}\n--- smtp log ---\n{}\n--- tenantry log ---\n{}",
            fs::read_to_string(&self.log).unwrap_or_default(),
            server.stderr_text()
        );
        got
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the tenantry log shows a failed delivery attempt; returns that line.
fn wait_failed_attempt(server: &TestServer) -> String {
    let line = poll_value(
        DELIVERY_TIMEOUT,
        || {
            server
                .stderr_text()
                .lines()
                .find(|l| l.contains("will be retried") || l.contains("failed permanently"))
                .map(str::to_string)
        },
        Option::is_some,
    );
    line.unwrap_or_else(|| {
        panic!(
            "no failed delivery attempt logged within {DELIVERY_TIMEOUT:?}:\n{}",
            server.stderr_text()
        )
    })
}

/// Queues one email (the verification message of a new user) in `data`, through the CLI.
fn queue_one_email(tmp: &TempDir, data: &Path, envs: &[(&str, &str)]) {
    tenantry(
        &[
            "user",
            "create",
            "--data-dir",
            path_str(data),
            "--email",
            "new.user@example.test",
            "--name",
            "New User",
        ],
        None,
        envs,
        &tmp.path,
    )
    .assert_success("user create");
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem).
pub(crate) fn make_ca_and_server_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tenantry test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &args);
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[test]
fn smtp_password_with_plus_reaches_the_server_unchanged() {
    let tmp = TempDir::new("tenantry-smtp-auth");
    let password = "pa+ss w0rd+";
    let smtp = Smtp::start(
        &tmp.path,
        &["--user", "mailer@example.test", "--password", password],
    );
    // In the URL: `@` of the user and the space of the password percent-encoded, `+` as is.
    let url = format!(
        "smtp://mailer%40example.test:pa+ss%20w0rd+@127.0.0.1:{}?tls=none",
        smtp.port
    );
    let envs = [
        ("TENANTRY_EMAIL_MODE", "smtp"),
        ("TENANTRY_EMAIL_SMTP_URL", url.as_str()),
    ];
    let data = tmp.join("data");
    queue_one_email(&tmp, &data, &envs);
    // The real binary: delivery attempts are read from its log.
    let mut b = TestServer::builder().binary().data_dir(&data);
    for (k, v) in envs {
        b = b.env(k, v);
    }
    let server = b.start();
    let mail = smtp.wait_delivered("AUTH with a `+` in the password", &server);
    assert!(
        mail[0].contains("new.user@example.test"),
        "unexpected message: {}",
        mail[0]
    );
    assert!(
        !fs::read_to_string(&smtp.log)
            .unwrap()
            .contains("auth refused"),
        "the server refused a login first"
    );
    assert!(
        !server.stderr_text().contains(password),
        "the SMTP password reached the log"
    );
}

#[test]
fn smtp_over_tls_trusts_a_private_ca_only_when_configured() {
    let tmp = TempDir::new("tenantry-smtp-ca");
    let (ca, cert, key) = make_ca_and_server_cert(&tmp.path);
    for mode in ["smtps", "starttls"] {
        let smtp = Smtp::start(
            &tmp.path,
            &[
                "--tls",
                mode,
                "--cert",
                path_str(&cert),
                "--key",
                path_str(&key),
            ],
        );
        let url = match mode {
            "smtps" => format!("smtps://127.0.0.1:{}", smtp.port),
            _ => format!("smtp://127.0.0.1:{}?tls=required", smtp.port),
        };
        let envs = [
            ("TENANTRY_EMAIL_MODE", "smtp"),
            ("TENANTRY_EMAIL_SMTP_URL", url.as_str()),
        ];
        let data = tmp.join(&format!("data-{mode}"));
        queue_one_email(&tmp, &data, &envs);

        // Without the CA: the certificate is not trusted, nothing is delivered.
        // The real binary: delivery attempts are read from its log.
        let mut b = TestServer::builder().binary().data_dir(&data);
        for (k, v) in envs {
            b = b.env(k, v);
        }
        let mut server = b.clone().start();
        let line = wait_failed_attempt(&server);
        assert!(
            line.to_ascii_lowercase().contains("certificate")
                || line.to_ascii_lowercase().contains("issuer"),
            "{mode}: the failure does not name the certificate: {line}"
        );
        assert!(
            smtp.delivered().is_empty(),
            "{mode}: delivered without the CA"
        );
        server.stop();

        // With `tls.ca_file` naming the CA: delivered.
        let server = b.env("TENANTRY_TLS_CA_FILE", path_str(&ca)).start();
        let mail = smtp.wait_delivered(&format!("{mode} with tls.ca_file"), &server);
        assert!(mail[0].contains("new.user@example.test"), "{}", mail[0]);
    }

    // A CA file that is not PEM is refused at start with a message naming the key.
    let junk = tmp.join("junk.pem");
    fs::write(&junk, "not a certificate").unwrap();
    let out = tenantry(
        &[
            "user",
            "create",
            "--data-dir",
            path_str(&tmp.join("d3")),
            "--email",
            "x@example.test",
            "--name",
            "X",
        ],
        None,
        &[
            ("TENANTRY_EMAIL_MODE", "smtp"),
            ("TENANTRY_EMAIL_SMTP_URL", "smtps://127.0.0.1:1"),
            ("TENANTRY_TLS_CA_FILE", path_str(&junk)),
        ],
        &tmp.path,
    );
    assert_eq!(out.code(), Some(2), "{}", out.all());
    assert!(out.stderr.contains("tls.ca_file"), "{}", out.stderr);
    assert!(
        !tmp.join("d3").exists(),
        "a data dir was created before the check"
    );
}
