//! The `host` interface: what a plugin may do, and nothing more. Log lines are tagged with
//! the plugin's name; storage is scoped to it; outbound HTTP goes only to its allowlist,
//! never follows redirects, and is cut at the plugin's timeout and response cap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bindings::tenantry::plugin::host::{
    self, HttpError, HttpRequest, HttpResponse, LogLevel,
};
use super::Loaded;

const MAX_LOG_LINE: usize = 4096;
const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 64 * 1024;
const MAX_RANDOM: u32 = 1024;
const MAX_REQUEST_BODY: usize = 1 << 20;

/// Per-call state held by the `Store`.
pub struct HostState {
    pub(super) plugin: Arc<Loaded>,
    pub(super) limits: Limits,
    pub(super) deadline: Instant,
}

/// Memory and table limits of one call; remembers whether the memory limit was hit so the
/// caller can report it as such rather than as a generic trap.
pub struct Limits {
    pub(super) memory: usize,
    pub(super) memory_hit: bool,
}

/// The error a refused memory growth traps with.
#[derive(Debug)]
pub struct MemoryLimitHit;

impl std::fmt::Display for MemoryLimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("memory limit reached")
    }
}

impl std::error::Error for MemoryLimitHit {}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.memory_hit = true;
            return Err(wasmtime::Error::new(MemoryLimitHit));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 20_000)
    }

    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}

fn clean(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > max {
        let mut cut = max;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

impl super::bindings::tenantry::plugin::types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => log::Level::Trace,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Error => log::Level::Error,
        };
        log::log!(
            target: "tenantry::plugin",
            level,
            "plugin {}: {}",
            self.plugin.config.name,
            clean(&message, MAX_LOG_LINE)
        );
    }

    fn setting(&mut self, name: String) -> Option<String> {
        self.plugin
            .config
            .settings
            .get(&name)
            .map(|s| s.expose().to_string())
    }

    fn kv_get(&mut self, key: String) -> Option<Vec<u8>> {
        if key.len() > MAX_KEY {
            return None;
        }
        match self.plugin.kv.get(&self.plugin.config.name, &key) {
            Ok(v) => v,
            Err(e) => {
                log::error!("plugin {}: kv-get failed: {e}", self.plugin.config.name);
                None
            }
        }
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(format!("keys are 1 to {MAX_KEY} bytes"));
        }
        if value.len() > MAX_VALUE {
            return Err(format!("values are at most {MAX_VALUE} bytes"));
        }
        match self.plugin.kv.set(&self.plugin.config.name, &key, &value) {
            Ok(r) => r,
            Err(e) => {
                log::error!("plugin {}: kv-set failed: {e}", self.plugin.config.name);
                Err("storage is unavailable".into())
            }
        }
    }

    fn kv_delete(&mut self, key: String) {
        if let Err(e) = self.plugin.kv.delete(&self.plugin.config.name, &key) {
            log::error!("plugin {}: kv-delete failed: {e}", self.plugin.config.name);
        }
    }

    fn now_unix_ms(&mut self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn random_bytes(&mut self, len: u32) -> Vec<u8> {
        let mut buf = vec![0u8; len.min(MAX_RANDOM) as usize];
        crate::crypto::fill_random(&mut buf);
        buf
    }

    fn http_send(&mut self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let started = Instant::now();
        let result = self.http(request);
        let outcome = match &result {
            Ok(r) => r.status.to_string(),
            Err(e) => format!("{e:?}"),
        };
        log::debug!(
            "plugin {}: outbound HTTP {} in {} ms",
            self.plugin.config.name,
            outcome,
            started.elapsed().as_millis()
        );
        result
    }
}

/// The `host:port` a URL points at, with the scheme's default port filled in.
pub fn authority_of(url: &str) -> Result<(String, String), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("the URL must be absolute (http:// or https://)")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err("only http:// and https:// URLs are allowed".into()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("URLs with user info are not allowed".into());
    }
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    let authority = authority.to_ascii_lowercase();
    let has_port = match authority.rsplit_once(':') {
        Some((h, p)) => (!h.contains(':') || h.ends_with(']')) && p.parse::<u16>().is_ok(),
        None => false,
    };
    let full = if has_port {
        authority
    } else {
        format!("{authority}:{default_port}")
    };
    Ok((scheme, full))
}

/// Whether `authority` (`host:port`) matches an allowlist entry (`host:port`, or `host` for
/// the scheme's default port).
pub fn allowed(allowlist: &[String], scheme: &str, authority: &str) -> bool {
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    allowlist.iter().any(|entry| {
        let has_port = entry.rsplit_once(':').is_some_and(|(h, p)| {
            (!h.contains(':') || h.ends_with(']')) && p.parse::<u16>().is_ok()
        });
        if has_port {
            entry == authority
        } else {
            format!("{entry}{default_port}") == authority
        }
    })
}

impl HostState {
    fn http(&mut self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let cfg = &self.plugin.config;
        let (scheme, authority) = authority_of(&req.url).map_err(HttpError::InvalidRequest)?;
        if !allowed(&cfg.allowed_hosts, &scheme, &authority) {
            log::warn!(
                "plugin {}: outbound HTTP to {authority} refused (not in allowed_hosts)",
                cfg.name
            );
            return Err(HttpError::ForbiddenHost(authority));
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = remaining.min(Duration::from_millis(cfg.http_timeout_ms));
        if timeout < Duration::from_millis(1) {
            return Err(HttpError::Timeout);
        }
        if req.body.len() > MAX_REQUEST_BODY {
            return Err(HttpError::InvalidRequest(format!(
                "request bodies are at most {MAX_REQUEST_BODY} bytes"
            )));
        }
        let method = req.method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
            return Err(HttpError::InvalidRequest(format!(
                "method {method:?} is not allowed"
            )));
        }
        let mut builder = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(req.url.as_str());
        for (name, value) in &req.headers {
            if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(req.body)
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        let agent = &self.plugin.agent;
        let configured = agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        let mut response = agent.run(configured).map_err(|e| match e {
            ureq::Error::Timeout(_) => HttpError::Timeout,
            ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge,
            other => HttpError::Transport(other.to_string()),
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let cap = cfg.http_max_response_kib * 1024;
        let body = response
            .body_mut()
            .with_config()
            .limit(cap)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge,
                ureq::Error::Timeout(_) => HttpError::Timeout,
                other => HttpError::Transport(other.to_string()),
            })?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// The outbound HTTP client of one plugin: no redirects, no proxy from the environment,
/// statuses returned as they are, TLS trusting the configured roots (`tls.*`).
pub fn agent(roots: &crate::tls::TrustRoots) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let certs: Vec<Certificate<'static>> = roots
        .der()
        .map(|der| Certificate::from_der(der).to_owned())
        .collect();
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&certs))
                .build(),
        )
        .max_redirects(0)
        .http_status_as_error(false)
        .proxy(None)
        .user_agent("tenantry-plugin-host")
        .build()
        .new_agent()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(
            authority_of("https://API.example.com/x?y").unwrap(),
            ("https".into(), "api.example.com:443".into())
        );
        assert_eq!(
            authority_of("http://127.0.0.1:8080").unwrap().1,
            "127.0.0.1:8080"
        );
        assert!(authority_of("ftp://x").is_err());
        assert!(authority_of("http://user@evil.com@good.com/").is_err());
        assert!(authority_of("/relative").is_err());
    }

    /// Issue 14: the plugins' HTTP client trusts `tls.ca_file`. A real HTTPS server (python3)
    /// on loopback with a certificate from a CA made here (openssl): refused with the bundled
    /// roots only, answered once the CA file is added.
    #[test]
    fn plugin_http_trusts_the_configured_ca() {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let dir = std::env::temp_dir().join(crate::crypto::new_id("tenantry-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        let sh = |script: &str| {
            let out = Command::new("sh")
                .args(["-c", script])
                .current_dir(&dir)
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        sh(&format!(
            "openssl req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj '/CN=test CA' \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
        ));
        sh(&format!(
            "openssl req {ec} -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && \
             printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext && \
             openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
             -extfile ext -out srv.pem"
        ));
        let mut server = Command::new("python3")
            .args([
                "-c",
                "import http.server,ssl,sys\n\
                 s=http.server.HTTPServer(('127.0.0.1',0),http.server.SimpleHTTPRequestHandler)\n\
                 c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
                 c.load_cert_chain('srv.pem','srv.key')\n\
                 s.socket=c.wrap_socket(s.socket,server_side=True)\n\
                 print(s.server_address[1],flush=True)\n\
                 s.serve_forever()",
            ])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut port = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let url = format!("https://127.0.0.1:{}/", port.trim());
        let bundled = crate::tls::TrustRoots::bundled();
        let refused = agent(&bundled).get(url.as_str()).call();
        let with_ca = crate::tls::TrustRoots::from_parts(
            crate::config::TlsRoots::Bundled,
            Some(&dir.join("ca.pem")),
        )
        .unwrap();
        let answered = agent(&with_ca).get(url.as_str()).call();
        let _ = server.kill();
        let _ = server.wait();
        let _ = std::fs::remove_dir_all(&dir);
        let err = match refused {
            Ok(r) => panic!("an unknown CA must be refused, got {}", r.status()),
            Err(e) => e,
        };
        assert!(
            err.to_string().to_lowercase().contains("certificate")
                || err.to_string().to_lowercase().contains("issuer"),
            "{err}"
        );
        assert_eq!(answered.expect("trusted with tls.ca_file").status(), 200);
    }

    #[test]
    fn allowlist_matching() {
        let list = vec!["api.example.com".to_string(), "127.0.0.1:9000".to_string()];
        assert!(allowed(&list, "https", "api.example.com:443"));
        assert!(!allowed(&list, "https", "api.example.com:8443"));
        assert!(allowed(&list, "http", "127.0.0.1:9000"));
        assert!(!allowed(&list, "http", "127.0.0.1:9001"));
        assert!(!allowed(&list, "http", "api.example.com.evil.net:80"));
    }
}
