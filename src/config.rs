//! Configuration in two steps: raw layered values (defaults < `tenantry.toml` < `TENANTRY_*`
//! environment < command-line flags), then one validation pass into a typed [`Config`] with
//! clear, lowercase messages. Secrets are redacted in `Debug`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub(crate) mod plugins;
use crate::crypto::Secret;
use crate::error::{Error, Result};
pub use plugins::PluginConfig;

/// The type of a configuration key, used for parsing and for the reference table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Str,
    /// `true`/`false`.
    Bool,
    /// Non-negative integer.
    Int,
}

/// Every configuration key: name, type, default (as text, empty = none) and a one-line help.
pub const KEYS: &[(&str, Kind, &str, &str)] = &[
    (
        "listen",
        Kind::Str,
        "127.0.0.1:8080",
        "address and port to listen on",
    ),
    (
        "data_dir",
        Kind::Str,
        "./data",
        "directory for the database, secrets and caches",
    ),
    (
        "public_url",
        Kind::Str,
        "",
        "external base URL used for every link (default http://{listen})",
    ),
    (
        "server_secret",
        Kind::Str,
        "",
        "secret for keyed hashes (default: generated into data_dir/secret.key)",
    ),
    (
        "server_secret_file",
        Kind::Str,
        "",
        "file holding the server secret (a secret store: systemd credential, container secret)",
    ),
    (
        "database.checkpoints",
        Kind::Str,
        "server",
        "server | external: who moves the WAL into the database (external: Litestream)",
    ),
    (
        "tls.roots",
        Kind::Str,
        "bundled",
        "bundled | system: CA roots trusted by outbound TLS (SMTP, plugin HTTP)",
    ),
    (
        "tls.ca_file",
        Kind::Str,
        "",
        "PEM file of extra CA certificates trusted by outbound TLS (e.g. a corporate CA)",
    ),
    (
        "allow_org_creation",
        Kind::Bool,
        "false",
        "let any signed-in user create organizations",
    ),
    (
        "billing_contact_email",
        Kind::Str,
        "",
        "shown when an organization has no billing data",
    ),
    (
        "features.api_keys",
        Kind::Bool,
        "true",
        "default of the api_keys feature for organizations",
    ),
    (
        "features.billing",
        Kind::Bool,
        "true",
        "default of the billing feature for organizations",
    ),
    (
        "features.sso",
        Kind::Bool,
        "false",
        "default of the sso feature for organizations",
    ),
    ("email.mode", Kind::Str, "outbox", "smtp | outbox | plugin"),
    (
        "email.smtp_url",
        Kind::Str,
        "",
        "smtp://host:port or smtps://host:port",
    ),
    (
        "email.from",
        Kind::Str,
        "tenantry@localhost",
        "sender address of outgoing email",
    ),
    (
        "email.templates_dir",
        Kind::Str,
        "",
        "directory whose email templates replace the built-in ones",
    ),
    (
        "email.give_up_hours",
        Kind::Int,
        "24",
        "stop retrying a message this long after it was queued",
    ),
    (
        "invitations.ttl_hours",
        Kind::Int,
        "168",
        "how long an invitation link stays valid",
    ),
    (
        "http.read_timeout_secs",
        Kind::Int,
        "15",
        "deadline for a request header and for an idle keep-alive connection",
    ),
    (
        "http.request_timeout_secs",
        Kind::Int,
        "60",
        "deadline for reading a body and writing a response",
    ),
    (
        "http.max_connections",
        Kind::Int,
        "4096",
        "open client connections at most; past it new ones are closed at once",
    ),
    (
        "http.trusted_proxies",
        Kind::Str,
        "",
        "reverse proxies whose forwarding header is believed: CIDRs or addresses, comma-separated (e.g. 127.0.0.1/32, 10.0.0.0/8)",
    ),
    (
        "http.forwarded_header",
        Kind::Str,
        "x-forwarded-for",
        "x-forwarded-for | forwarded (RFC 7239): the header trusted proxies set",
    ),
    (
        "metrics.listen",
        Kind::Str,
        "",
        "address of a separate listener serving only /metrics, e.g. 127.0.0.1:9464 (default: none)",
    ),
    (
        "metrics.bearer_token",
        Kind::Str,
        "",
        "token /metrics requires (Authorization: Bearer); when set, the main listener serves /metrics too",
    ),
    (
        "http.workers",
        Kind::Int,
        "0",
        "request worker threads (0 = 4 per core)",
    ),
    (
        "session.idle_timeout_hours",
        Kind::Int,
        "168",
        "a session unused this long expires",
    ),
    (
        "session.absolute_timeout_hours",
        Kind::Int,
        "720",
        "a session expires this long after sign-in",
    ),
    (
        "email.plugin",
        Kind::Str,
        "",
        "name of the email-delivery plugin when email.mode = plugin",
    ),
    (
        "log.format",
        Kind::Str,
        "text",
        "text | json (one JSON object per line, fields as fields)",
    ),
    ("log_format", Kind::Str, "", "former name of log.format"),
    (
        "sso.dns_resolver",
        Kind::Str,
        "",
        "host:port of the DNS server that checks SSO domain TXT records (default: the first nameserver of /etc/resolv.conf)",
    ),
    (
        "debug.panic_route",
        Kind::Bool,
        "false",
        "testing only: GET /__debug/panic panics inside a handler",
    ),
];

/// Layered raw values keyed by dotted name, before validation.
#[derive(Default)]
pub struct RawConfig {
    values: BTreeMap<String, (String, &'static str)>,
    plugins: Vec<PluginConfig>,
}

impl RawConfig {
    /// Loads `file` (when given, or `./tenantry.toml` when it exists), then the environment.
    pub fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<RawConfig> {
        let mut raw = RawConfig::default();
        let default_file = Path::new("tenantry.toml");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None if default_file.exists() => Some(default_file.to_path_buf()),
            None => None,
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::Config(format!("cannot read config file {}: {e}", path.display()))
            })?;
            raw.merge_toml(&text, &path)?;
        }
        for (key, _, _, _) in KEYS {
            let var = env_var_name(key);
            if let Some(v) = env(&var) {
                raw.set(key, v, "environment");
            }
        }
        Ok(raw)
    }

    fn merge_toml(&mut self, text: &str, path: &Path) -> Result<()> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e| Error::Config(format!("{} is not valid TOML: {e}", path.display())))?;
        if let Some(plugins) = table.remove("plugins") {
            let base = path.parent().unwrap_or(Path::new("."));
            self.plugins = plugins::parse(&plugins, base)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        }
        let mut flat = Vec::new();
        flatten("", &toml::Value::Table(table), &mut flat);
        for (key, value) in flat {
            if !KEYS.iter().any(|(k, ..)| *k == key) {
                return Err(Error::Config(format!(
                    "unknown key `{key}` in {} (see the configuration reference in the README)",
                    path.display()
                )));
            }
            let text = match value {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            self.set(&key, text, "config file");
        }
        Ok(())
    }

    /// Sets a value from a given source (a flag overrides everything before it).
    pub fn set(&mut self, key: &str, value: String, source: &'static str) {
        self.values.insert(key.to_string(), (value, source));
    }

    fn get(&self, key: &str) -> Option<&(String, &'static str)> {
        self.values.get(key)
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// Parses a list of CIDRs or bare addresses, separated by commas or white space (a TOML
/// array arrives as its text, `["10.0.0.0/8", "::1"]`).
fn parse_cidrs(text: &str, errs: &mut Vec<String>) -> Vec<ipnet::IpNet> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    let mut out = Vec::new();
    for item in inner
        .split([',', ' ', '\n', '\t'])
        .map(|s| s.trim().trim_matches(['"', '\'']))
        .filter(|s| !s.is_empty())
    {
        match item.parse::<ipnet::IpNet>() {
            Ok(net) => out.push(net.trunc()),
            Err(_) => match item.parse::<std::net::IpAddr>() {
                Ok(ip) => out.push(ipnet::IpNet::from(ip)),
                Err(_) => errs.push(format!(
                    "`http.trusted_proxies`: {item:?} is not an address or a CIDR like 10.0.0.0/8"
                )),
            },
        }
    }
    out
}

/// `http.read_timeout_secs` → `TENANTRY_HTTP_READ_TIMEOUT_SECS`.
pub fn env_var_name(key: &str) -> String {
    format!("TENANTRY_{}", key.to_uppercase().replace('.', "_"))
}

/// How outgoing email is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailMode {
    /// Built-in SMTP delivery.
    Smtp,
    /// Development outbox: stored and viewable, not sent.
    Outbox,
    /// Delivered by the configured email-delivery plugin.
    Plugin,
}

/// Who checkpoints the WAL (moves committed pages into the database file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoints {
    /// The server, every second (PASSIVE, never blocking writers).
    Server,
    /// Another process that owns checkpoints, such as Litestream; the server never runs one.
    External,
}

/// Which CA roots outbound TLS trusts (before `tls.ca_file` is added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsRoots {
    /// Mozilla's roots, compiled in.
    Bundled,
    /// The platform's store (`/etc/ssl/certs`, `SSL_CERT_FILE`, `SSL_CERT_DIR`).
    System,
}

/// Which header a trusted proxy sets to name the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …`.
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated configuration. Built once at start; passed explicitly.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Explicit public URL; `None` means `http://{bound address}`.
    pub public_url: Option<String>,
    /// Explicit server secret (from `server_secret` or `server_secret_file`); `None` means
    /// the generated file in the data dir.
    pub server_secret: Option<Secret>,
    /// Who checkpoints the WAL.
    pub checkpoints: Checkpoints,
    /// CA roots of outbound TLS.
    pub tls_roots: TlsRoots,
    /// Extra CA certificates of outbound TLS (PEM file).
    pub tls_ca_file: Option<PathBuf>,
    /// Whether any signed-in user may create organizations.
    pub allow_org_creation: bool,
    /// Billing contact email.
    pub billing_contact_email: Option<String>,
    /// Default tenant features: api_keys, billing, sso.
    pub default_features: [bool; 3],
    /// Email delivery mode.
    pub email_mode: EmailMode,
    /// SMTP URL when `email_mode` is SMTP.
    pub smtp_url: Option<Secret>,
    /// Sender address.
    pub email_from: String,
    /// Email template override directory.
    pub email_templates_dir: Option<PathBuf>,
    /// Retry window of a message, in seconds.
    pub email_give_up_secs: i64,
    /// Invitation lifetime in hours.
    pub invitation_ttl_hours: u64,
    /// Header / idle deadline in seconds.
    pub read_timeout_secs: u64,
    /// Body-read / response-write deadline in seconds.
    pub request_timeout_secs: u64,
    /// Open connections at most.
    pub max_connections: usize,
    /// Worker threads.
    pub workers: usize,
    /// Session idle timeout in seconds.
    pub session_idle_secs: i64,
    /// Session absolute timeout in seconds.
    pub session_absolute_secs: i64,
    /// Log format.
    pub log_format: LogFormat,
    /// Peers whose forwarding header names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The forwarding header trusted proxies set.
    pub forwarded_header: ForwardedHeader,
    /// A separate listener serving only `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token `/metrics` requires; when set, the main listener serves it too.
    pub metrics_token: Option<Secret>,
    /// The email-delivery plugin when `email_mode` is `Plugin`.
    pub email_plugin: Option<String>,
    /// Configured plugins (`[plugins.NAME]` tables).
    pub plugins: Vec<PluginConfig>,
    /// The DNS server that checks SSO domain TXT records; `None`: the system resolver.
    pub sso_dns_resolver: Option<SocketAddr>,
    /// Testing only: enable the panic route.
    pub debug_panic_route: bool,
}

impl Config {
    /// Validates raw values into a config, collecting every problem into one message.
    pub fn from_raw(raw: &RawConfig) -> Result<Config> {
        let mut errs: Vec<String> = Vec::new();
        let get = |key: &str| -> (String, &'static str) {
            raw.get(key).cloned().unwrap_or_else(|| {
                let d = KEYS
                    .iter()
                    .find(|(k, ..)| *k == key)
                    .map(|k| k.2)
                    .unwrap_or("");
                (d.to_string(), "default")
            })
        };
        let int = |key: &str, min: u64, max: u64, errs: &mut Vec<String>| -> u64 {
            let (v, src) = get(key);
            match v.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    errs.push(format!(
                        "`{key}` ({src}) must be a whole number from {min} to {max}, got {v:?}"
                    ));
                    min
                }
            }
        };
        let bool_ = |key: &str, errs: &mut Vec<String>| -> bool {
            let (v, src) = get(key);
            match v.trim() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" | "" => false,
                _ => {
                    errs.push(format!("`{key}` ({src}) must be true or false, got {v:?}"));
                    false
                }
            }
        };
        let opt = |key: &str| -> Option<String> {
            let v = get(key).0;
            (!v.trim().is_empty()).then(|| v.trim().to_string())
        };

        let (listen_s, src) = get("listen");
        let listen = match listen_s.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                errs.push(format!(
                    "`listen` ({src}) must be an address like 127.0.0.1:8080, got {listen_s:?}"
                ));
                "127.0.0.1:8080".parse().expect("valid default")
            }
        };
        let public_url = opt("public_url").map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &public_url {
            if !(u.starts_with("http://") || u.starts_with("https://"))
                || u.contains(['?', '#', ' '])
            {
                errs.push(format!(
                    "`public_url` must be an http:// or https:// base URL without query, got {u:?}"
                ));
            }
        }
        let mut server_secret = opt("server_secret").map(Secret::new);
        if let Some(file) = opt("server_secret_file") {
            if server_secret.is_some() {
                errs.push("set `server_secret` or `server_secret_file`, not both".into());
            }
            match std::fs::read_to_string(&file) {
                // A trailing newline is how most tools write a secret file; it is not part of it.
                Ok(text) => server_secret = Some(Secret::new(text.trim_end_matches(['\n', '\r']))),
                Err(e) => errs.push(format!("`server_secret_file` {file}: cannot read it: {e}")),
            }
        }
        if server_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            errs.push("`server_secret` must be at least 32 characters".into());
        }
        let email_mode = match get("email.mode").0.as_str() {
            "smtp" => EmailMode::Smtp,
            "outbox" => EmailMode::Outbox,
            "plugin" => EmailMode::Plugin,
            other => {
                errs.push(format!(
                    "`email.mode` must be smtp, outbox or plugin, got {other:?}"
                ));
                EmailMode::Outbox
            }
        };
        let smtp_url = opt("email.smtp_url");
        if let Some(u) = &smtp_url {
            if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
                errs.push("`email.smtp_url` must start with smtp:// or smtps://".into());
            }
        }
        let email_plugin = opt("email.plugin");
        if email_mode == EmailMode::Plugin {
            match &email_plugin {
                None => errs.push("`email.mode` is plugin but `email.plugin` is not set".into()),
                Some(n) if !raw.plugins.iter().any(|p| &p.name == n) => errs.push(format!(
                    "`email.plugin` names {n:?}, but there is no [plugins.{n}] table"
                )),
                Some(_) => {}
            }
        }
        if email_mode == EmailMode::Smtp && smtp_url.is_none() {
            errs.push("`email.mode` is smtp but `email.smtp_url` is not set".into());
        }
        let checkpoints = match get("database.checkpoints").0.as_str() {
            "server" => Checkpoints::Server,
            "external" => Checkpoints::External,
            other => {
                errs.push(format!(
                    "`database.checkpoints` must be server or external, got {other:?}"
                ));
                Checkpoints::Server
            }
        };
        let tls_roots = match get("tls.roots").0.as_str() {
            "bundled" => TlsRoots::Bundled,
            "system" => TlsRoots::System,
            other => {
                errs.push(format!(
                    "`tls.roots` must be bundled or system, got {other:?}"
                ));
                TlsRoots::Bundled
            }
        };
        // `log.format`, or its former name when only that one is set.
        let log_key = if raw.get("log.format").is_none() && opt("log_format").is_some() {
            "log_format"
        } else {
            "log.format"
        };
        let log_format = match get(log_key).0.trim() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                errs.push(format!("`{log_key}` must be text or json, got {other:?}"));
                LogFormat::Text
            }
        };
        let trusted_proxies = parse_cidrs(&get("http.trusted_proxies").0, &mut errs);
        let forwarded_header = match get("http.forwarded_header").0.trim() {
            "x-forwarded-for" => ForwardedHeader::XForwardedFor,
            "forwarded" => ForwardedHeader::Forwarded,
            other => {
                errs.push(format!(
                    "`http.forwarded_header` must be x-forwarded-for or forwarded, got {other:?}"
                ));
                ForwardedHeader::XForwardedFor
            }
        };
        let metrics_listen = opt("metrics.listen").and_then(|v| match v.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                errs.push(format!(
                    "`metrics.listen` must be an address like 127.0.0.1:9464, got {v:?}"
                ));
                None
            }
        });
        let metrics_token = opt("metrics.bearer_token").map(Secret::new);
        if metrics_token.as_ref().is_some_and(|t| {
            t.expose().len() < 16 || !t.expose().bytes().all(|b| b.is_ascii_graphic())
        }) {
            errs.push(
                "`metrics.bearer_token` must be at least 16 visible ASCII characters (no spaces)"
                    .into(),
            );
        }
        let workers = match int("http.workers", 0, 1024, &mut errs) {
            0 => {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
                    * 4
            }
            n => n as usize,
        };
        let sso_dns_resolver =
            opt("sso.dns_resolver").and_then(|v| match v.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    errs.push(format!(
                        "`sso.dns_resolver` must be an address like 127.0.0.1:53, got {v:?}"
                    ));
                    None
                }
            });
        let cfg = Config {
            listen,
            data_dir: PathBuf::from(get("data_dir").0),
            public_url,
            server_secret,
            checkpoints,
            tls_roots,
            tls_ca_file: opt("tls.ca_file").map(PathBuf::from),
            allow_org_creation: bool_("allow_org_creation", &mut errs),
            billing_contact_email: opt("billing_contact_email"),
            default_features: [
                bool_("features.api_keys", &mut errs),
                bool_("features.billing", &mut errs),
                bool_("features.sso", &mut errs),
            ],
            email_mode,
            smtp_url: smtp_url.map(Secret::new),
            email_from: get("email.from").0,
            email_templates_dir: opt("email.templates_dir").map(PathBuf::from),
            email_give_up_secs: int("email.give_up_hours", 1, 24 * 30, &mut errs) as i64 * 3600,
            invitation_ttl_hours: int("invitations.ttl_hours", 1, 24 * 365, &mut errs),
            read_timeout_secs: int("http.read_timeout_secs", 1, 3600, &mut errs),
            request_timeout_secs: int("http.request_timeout_secs", 1, 3600, &mut errs),
            max_connections: int("http.max_connections", 16, 65536, &mut errs) as usize,
            workers,
            session_idle_secs: int("session.idle_timeout_hours", 1, 24 * 365, &mut errs) as i64
                * 3600,
            session_absolute_secs: int("session.absolute_timeout_hours", 1, 24 * 3650, &mut errs)
                as i64
                * 3600,
            log_format,
            trusted_proxies,
            forwarded_header,
            metrics_listen,
            metrics_token,
            email_plugin,
            plugins: raw.plugins.clone(),
            sso_dns_resolver,
            debug_panic_route: bool_("debug.panic_route", &mut errs),
        };
        if errs.is_empty() {
            Ok(cfg)
        } else {
            Err(Error::Config(errs.join("; ")))
        }
    }

    /// The public base URL, given the address the server actually bound.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(file: &str, env: &[(&str, &str)]) -> Result<Config> {
        let dir = std::env::temp_dir().join(format!("tenantry-cfg-{}", crate::crypto::new_id("t")));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tenantry.toml");
        std::fs::write(&path, file).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone());
        let raw = RawConfig::load(Some(&path), &lookup)?;
        Config::from_raw(&raw)
    }

    #[test]
    fn defaults() {
        let c = cfg("", &[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.read_timeout_secs, 15);
        assert_eq!(c.invitation_ttl_hours, 168);
        assert_eq!(c.public_url_for(c.listen), "http://127.0.0.1:8080");
    }

    #[test]
    fn env_overrides_file() {
        let c = cfg(
            "listen = \"127.0.0.1:9000\"\n[http]\nread_timeout_secs = 5\n",
            &[("TENANTRY_HTTP_READ_TIMEOUT_SECS", "7")],
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.read_timeout_secs, 7);
    }

    #[test]
    fn unknown_and_bad_keys_are_reported() {
        let e = cfg("lisen = \"x\"", &[]).unwrap_err().to_string();
        assert!(e.contains("unknown key `lisen`"), "{e}");
        let e = cfg(
            "",
            &[
                ("TENANTRY_HTTP_READ_TIMEOUT_SECS", "soon"),
                ("TENANTRY_LISTEN", "nowhere"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("http.read_timeout_secs") && e.contains("`listen`"),
            "{e}"
        );
    }

    #[test]
    fn proxies_metrics_and_log_format_are_validated() {
        let c = cfg(
            "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.168.1.7/24\"]\nforwarded_header = \"forwarded\"\n[metrics]\nlisten = \"127.0.0.1:0\"\nbearer_token = \"0123456789abcdef-token\"\n[log]\nformat = \"json\"\n",
            &[],
        )
        .unwrap();
        let nets: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/8", "::1/128", "192.168.1.0/24"]);
        assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
        assert!(c.metrics_listen.is_some());
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(!format!("{c:?}").contains("abcdef-token"));
        let c = cfg(
            "",
            &[("TENANTRY_HTTP_TRUSTED_PROXIES", "127.0.0.1/32, 10.1.2.3")],
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(c.log_format, LogFormat::Text);
        let c = cfg("log_format = \"json\"", &[]).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        let e = cfg(
            "[http]\ntrusted_proxies = \"10.0.0.0/33\"\nforwarded_header = \"x-real-ip\"\n[metrics]\nbearer_token = \"short\"\nlisten = \"nowhere\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        for key in [
            "http.trusted_proxies",
            "http.forwarded_header",
            "metrics.bearer_token",
            "metrics.listen",
        ] {
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let c = cfg(
            "server_secret = \"0123456789abcdef0123456789abcdef-very-secret\"",
            &[],
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
