//! Configuration in two steps: raw layered values (defaults < `tenantry.toml` < `TENANTRY_*`
//! environment < command-line flags, in `layers`) read as typed sections (`sections`: every key
//! is one field, unknown keys are refused), then one validation pass into a typed [`Config`]
//! with clear, lowercase messages. Secrets are redacted in `Debug`.

use std::net::SocketAddr;
use std::path::PathBuf;

mod layers;
pub(crate) mod plugins;
mod sections;
use crate::crypto::Secret;
use crate::error::{Error, Result};
pub use layers::RawConfig;
pub use plugins::PluginConfig;

/// Every configuration key: dotted name, default (as text, empty = none) and a one-line help.
/// The defaults layer and the environment variables (`--help`) come from this table; the keys
/// themselves are the fields of the typed sections (`sections::Sections`), and a key missing
/// from either side fails every load (and the `keys_match_the_typed_sections` test).
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "listen",
        "127.0.0.1:8080",
        "address and port to listen on",
    ),
    (
        "data_dir",
        "./data",
        "directory for the database, secrets and caches",
    ),
    (
        "public_url",
        "",
        "external base URL used for every link (default http://{listen})",
    ),
    (
        "server_secret",
        "",
        "secret for keyed hashes (default: generated into data_dir/secret.key)",
    ),
    (
        "server_secret_file",
        "",
        "file holding the server secret (a secret store: systemd credential, container secret)",
    ),
    (
        "database.checkpoints",
        "server",
        "server | external: who moves the WAL into the database (external: Litestream)",
    ),
    (
        "tls.roots",
        "bundled",
        "bundled | system: CA roots trusted by outbound TLS (SMTP, plugin HTTP)",
    ),
    (
        "tls.ca_file",
        "",
        "PEM file of extra CA certificates trusted by outbound TLS (e.g. a corporate CA)",
    ),
    (
        "allow_org_creation",
        "false",
        "let any signed-in user create organizations",
    ),
    (
        "billing_contact_email",
        "",
        "shown when an organization has no billing data",
    ),
    (
        "features.api_keys",
        "true",
        "default of the api_keys feature for organizations",
    ),
    (
        "features.billing",
        "true",
        "default of the billing feature for organizations",
    ),
    (
        "features.sso",
        "false",
        "default of the sso feature for organizations",
    ),
    ("email.mode", "outbox", "smtp | outbox | plugin"),
    (
        "email.smtp_url",
        "",
        "smtp://host:port or smtps://host:port",
    ),
    (
        "email.from",
        "tenantry@localhost",
        "sender address of outgoing email",
    ),
    (
        "email.templates_dir",
        "",
        "directory whose email templates replace the built-in ones",
    ),
    (
        "email.give_up_hours",
        "24",
        "stop retrying a message this long after it was queued",
    ),
    (
        "invitations.ttl_hours",
        "168",
        "how long an invitation link stays valid",
    ),
    (
        "http.read_timeout_secs",
        "15",
        "deadline for a request header and for an idle keep-alive connection",
    ),
    (
        "http.request_timeout_secs",
        "60",
        "deadline for reading a body and writing a response",
    ),
    (
        "http.max_connections",
        "4096",
        "open client connections at most; past it new ones are closed at once",
    ),
    (
        "http.trusted_proxies",
        "",
        "reverse proxies whose forwarding header is believed: CIDRs or addresses, comma-separated (e.g. 127.0.0.1/32, 10.0.0.0/8)",
    ),
    (
        "http.forwarded_header",
        "x-forwarded-for",
        "x-forwarded-for | forwarded (RFC 7239): the header trusted proxies set",
    ),
    (
        "metrics.listen",
        "",
        "address of a separate listener serving only /metrics, e.g. 127.0.0.1:9464 (default: none)",
    ),
    (
        "metrics.bearer_token",
        "",
        "token /metrics requires (Authorization: Bearer); when set, the main listener serves /metrics too",
    ),
    (
        "http.workers",
        "0",
        "requests handled at once, each on its connection's thread (0 = 4 per core)",
    ),
    (
        "session.idle_timeout_hours",
        "168",
        "a session unused this long expires",
    ),
    (
        "session.absolute_timeout_hours",
        "720",
        "a session expires this long after sign-in",
    ),
    (
        "email.plugin",
        "",
        "name of the email-delivery plugin when email.mode = plugin",
    ),
    (
        "log.format",
        "text",
        "text | json (one JSON object per line, fields as fields)",
    ),
    ("log_format", "", "former name of log.format"),
    (
        "sso.dns_resolver",
        "",
        "host:port of the DNS server that checks SSO domain TXT records (default: the first nameserver of /etc/resolv.conf)",
    ),
    (
        "debug.panic_route",
        "false",
        "testing only: GET /__debug/panic panics inside a handler",
    ),
];

/// Parses a list of CIDRs or bare addresses, separated by commas or white space (a TOML
/// array arrives as its text, `["10.0.0.0/8", "::1"]`).
fn parse_cidrs(list: &sections::Text, errs: &mut Vec<String>) -> Vec<ipnet::IpNet> {
    let inner = list
        .text()
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']');
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
                    "`{}`: {item:?} is not an address or a CIDR like 10.0.0.0/8",
                    list.key()
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

/// The environment variables tenantry reads besides the settings' own, with their flag.
pub const OTHER_ENV_VARS: &[(&str, &str)] = &[("TENANTRY_CONFIG", "--config")];

/// Of `names`, the `TENANTRY_*` variables that name no setting, each with the closest
/// setting's variable when one is close (at most two edits, or a quarter of the name). The
/// file refuses an unknown key; the environment is shared with other programs, so an unknown
/// variable is only warned about, but never silently ignored (`tenantry` warns at start).
pub fn unknown_env_vars(names: impl IntoIterator<Item = String>) -> Vec<(String, Option<String>)> {
    let known: Vec<String> = KEYS
        .iter()
        .map(|(k, ..)| env_var_name(k))
        .chain(OTHER_ENV_VARS.iter().map(|(v, _)| v.to_string()))
        .collect();
    let mut unknown: Vec<(String, Option<String>)> = names
        .into_iter()
        .filter(|n| n.starts_with("TENANTRY_") && !known.contains(n))
        .map(|n| {
            let closest = known
                .iter()
                .map(|k| (strsim::levenshtein(&n, k), k))
                .min()
                .filter(|(d, _)| *d <= 2.max(n.len() / 4))
                .map(|(_, k)| k.clone());
            (n, closest)
        })
        .collect();
    unknown.sort();
    unknown
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
    /// Requests handled at once (`http.workers`).
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
        let s = raw.sections()?;
        let mut errs: Vec<String> = Vec::new();
        let address = |t: &sections::Text, example: &str, errs: &mut Vec<String>| {
            let v = t.opt()?;
            match v.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    errs.push(format!(
                        "`{}` must be an address like {example}, got {v:?}",
                        t.key()
                    ));
                    None
                }
            }
        };

        let listen = match s.listen.text().parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                errs.push(format!(
                    "`{}` ({}) must be an address like 127.0.0.1:8080, got {:?}",
                    s.listen.key(),
                    s.listen.source(),
                    s.listen.text()
                ));
                "127.0.0.1:8080".parse().expect("valid default")
            }
        };
        let public_url = s
            .public_url
            .opt()
            .map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &public_url {
            if !(u.starts_with("http://") || u.starts_with("https://"))
                || u.contains(['?', '#', ' '])
            {
                errs.push(format!(
                    "`{}` must be an http:// or https:// base URL without query, got {u:?}",
                    s.public_url.key()
                ));
            }
        }
        let mut server_secret = s.server_secret.opt().map(Secret::new);
        if let Some(file) = s.server_secret_file.opt() {
            if server_secret.is_some() {
                errs.push(format!(
                    "set `{}` or `{}`, not both",
                    s.server_secret.key(),
                    s.server_secret_file.key()
                ));
            }
            match std::fs::read_to_string(&file) {
                // A trailing newline is how most tools write a secret file; it is not part of it.
                Ok(text) => server_secret = Some(Secret::new(text.trim_end_matches(['\n', '\r']))),
                Err(e) => errs.push(format!(
                    "`{}` {file}: cannot read it: {e}",
                    s.server_secret_file.key()
                )),
            }
        }
        if server_secret
            .as_ref()
            .is_some_and(|v| v.expose().len() < 32)
        {
            errs.push(format!(
                "`{}` must be at least 32 characters",
                s.server_secret.key()
            ));
        }
        let email_mode = match s.email.mode.text() {
            "smtp" => EmailMode::Smtp,
            "outbox" => EmailMode::Outbox,
            "plugin" => EmailMode::Plugin,
            other => {
                errs.push(format!(
                    "`{}` must be smtp, outbox or plugin, got {other:?}",
                    s.email.mode.key()
                ));
                EmailMode::Outbox
            }
        };
        let smtp_url = s.email.smtp_url.opt();
        if let Some(u) = &smtp_url {
            if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
                errs.push(format!(
                    "`{}` must start with smtp:// or smtps://",
                    s.email.smtp_url.key()
                ));
            }
        }
        let email_plugin = s.email.plugin.opt();
        if email_mode == EmailMode::Plugin {
            match &email_plugin {
                None => errs.push(format!(
                    "`{}` is plugin but `{}` is not set",
                    s.email.mode.key(),
                    s.email.plugin.key()
                )),
                Some(n) if !raw.plugins.iter().any(|p| &p.name == n) => errs.push(format!(
                    "`{}` names {n:?}, but there is no [plugins.{n}] table",
                    s.email.plugin.key()
                )),
                Some(_) => {}
            }
        }
        if email_mode == EmailMode::Smtp && smtp_url.is_none() {
            errs.push(format!(
                "`{}` is smtp but `{}` is not set",
                s.email.mode.key(),
                s.email.smtp_url.key()
            ));
        }
        let checkpoints = match s.database.checkpoints.text() {
            "server" => Checkpoints::Server,
            "external" => Checkpoints::External,
            other => {
                errs.push(format!(
                    "`{}` must be server or external, got {other:?}",
                    s.database.checkpoints.key()
                ));
                Checkpoints::Server
            }
        };
        let tls_roots = match s.tls.roots.text() {
            "bundled" => TlsRoots::Bundled,
            "system" => TlsRoots::System,
            other => {
                errs.push(format!(
                    "`{}` must be bundled or system, got {other:?}",
                    s.tls.roots.key()
                ));
                TlsRoots::Bundled
            }
        };
        // `log.format`, or its former name when only that one is set.
        let format_key = if s.log.format.source() == "default" && s.log_format.opt().is_some() {
            &s.log_format
        } else {
            &s.log.format
        };
        let log_format = match format_key.text().trim() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                errs.push(format!(
                    "`{}` must be text or json, got {other:?}",
                    format_key.key()
                ));
                LogFormat::Text
            }
        };
        let trusted_proxies = parse_cidrs(&s.http.trusted_proxies, &mut errs);
        let forwarded_header = match s.http.forwarded_header.text().trim() {
            "x-forwarded-for" => ForwardedHeader::XForwardedFor,
            "forwarded" => ForwardedHeader::Forwarded,
            other => {
                errs.push(format!(
                    "`{}` must be x-forwarded-for or forwarded, got {other:?}",
                    s.http.forwarded_header.key()
                ));
                ForwardedHeader::XForwardedFor
            }
        };
        let metrics_listen = address(&s.metrics.listen, "127.0.0.1:9464", &mut errs);
        let metrics_token = s.metrics.bearer_token.opt().map(Secret::new);
        if metrics_token.as_ref().is_some_and(|t| {
            t.expose().len() < 16 || !t.expose().bytes().all(|b| b.is_ascii_graphic())
        }) {
            errs.push(format!(
                "`{}` must be at least 16 visible ASCII characters (no spaces)",
                s.metrics.bearer_token.key()
            ));
        }
        let workers = match s.http.workers.get(0, 1024, &mut errs) {
            0 => {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
                    * 4
            }
            n => n as usize,
        };
        let sso_dns_resolver = address(&s.sso.dns_resolver, "127.0.0.1:53", &mut errs);
        let hours = 3600;
        let cfg = Config {
            listen,
            data_dir: PathBuf::from(s.data_dir.text()),
            public_url,
            server_secret,
            checkpoints,
            tls_roots,
            tls_ca_file: s.tls.ca_file.opt().map(PathBuf::from),
            allow_org_creation: s.allow_org_creation.get(&mut errs),
            billing_contact_email: s.billing_contact_email.opt(),
            default_features: [
                s.features.api_keys.get(&mut errs),
                s.features.billing.get(&mut errs),
                s.features.sso.get(&mut errs),
            ],
            email_mode,
            smtp_url: smtp_url.map(Secret::new),
            email_from: s.email.from.text().to_string(),
            email_templates_dir: s.email.templates_dir.opt().map(PathBuf::from),
            email_give_up_secs: s.email.give_up_hours.get(1, 24 * 30, &mut errs) as i64 * hours,
            invitation_ttl_hours: s.invitations.ttl_hours.get(1, 24 * 365, &mut errs),
            read_timeout_secs: s.http.read_timeout_secs.get(1, 3600, &mut errs),
            request_timeout_secs: s.http.request_timeout_secs.get(1, 3600, &mut errs),
            max_connections: s.http.max_connections.get(16, 65536, &mut errs) as usize,
            workers,
            session_idle_secs: s.session.idle_timeout_hours.get(1, 24 * 365, &mut errs) as i64
                * hours,
            session_absolute_secs: s
                .session
                .absolute_timeout_hours
                .get(1, 24 * 3650, &mut errs) as i64
                * hours,
            log_format,
            trusted_proxies,
            forwarded_header,
            metrics_listen,
            metrics_token,
            email_plugin,
            plugins: raw.plugins.clone(),
            sso_dns_resolver,
            debug_panic_route: s.debug.panic_route.get(&mut errs),
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
mod tests;
