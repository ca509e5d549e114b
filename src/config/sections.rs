//! The typed shape of the configuration: one struct per `[section]`, each key exactly once.
//!
//! The layers (defaults, file, environment, flags) are merged into one TOML tree whose leaves
//! carry where they came from, and that tree is deserialized once into [`Sections`]. Unknown
//! keys are refused (`deny_unknown_fields`) and no field has a serde default, so the defaults
//! table (`config::KEYS`) and these structs must list the same keys or every load fails; code
//! reads a key through a field, so a misspelt name does not compile.
//!
//! A leaf keeps its text: what a value means (a number in a range, an address, one of a few
//! words) is decided by the validation in `Config::from_raw`, which reports every problem at
//! once with the key and the layer that set it.

use serde::Deserialize;

/// One value as layered: the layer that set it (`default`, `config file`, `environment`,
/// `flag`), its dotted key and its text. In the merged tree it is the array
/// `[source, key, text]`, a shape no section table has.
#[derive(Deserialize)]
pub(super) struct Leaf(String, String, String);

impl Leaf {
    /// Wraps a value for the merged tree.
    pub(super) fn value(source: &str, key: &str, text: String) -> toml::Value {
        toml::Value::Array(vec![source.into(), key.into(), text.into()])
    }

    /// The layer that set the value, from a leaf of the merged tree.
    pub(super) fn source_of(v: &toml::Value) -> Option<(&str, &str)> {
        match v.as_array()?.as_slice() {
            [toml::Value::String(source), toml::Value::String(key), _] => {
                Some((source.as_str(), key.as_str()))
            }
            _ => None,
        }
    }

    /// Where the value came from.
    pub(super) fn source(&self) -> &str {
        &self.0
    }

    /// The dotted key, for messages.
    pub(super) fn key(&self) -> &str {
        &self.1
    }

    /// The value as given.
    pub(super) fn text(&self) -> &str {
        &self.2
    }

    /// The trimmed value, `None` when empty (an optional setting left unset).
    pub(super) fn opt(&self) -> Option<String> {
        let v = self.2.trim();
        (!v.is_empty()).then(|| v.to_string())
    }
}

/// A free-text key (addresses, paths, URLs, one of a few words).
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct Text(pub(super) Leaf);

/// A whole-number key; its range is checked by [`Whole::get`].
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct Whole(pub(super) Leaf);

/// A `true`/`false` key (also `1`/`0`, `yes`/`no`, `on`/`off`; empty is false).
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct Flag(pub(super) Leaf);

impl std::ops::Deref for Text {
    type Target = Leaf;
    fn deref(&self) -> &Leaf {
        &self.0
    }
}

impl Whole {
    /// The number, or a problem naming the key and its layer (and `min` in its place).
    pub(super) fn get(&self, min: u64, max: u64, errs: &mut Vec<String>) -> u64 {
        let l = &self.0;
        match l.text().trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                errs.push(format!(
                    "`{}` ({}) must be a whole number from {min} to {max}, got {:?}",
                    l.key(),
                    l.source(),
                    l.text()
                ));
                min
            }
        }
    }
}

impl Flag {
    /// The boolean, or a problem naming the key and its layer (and `false` in its place).
    pub(super) fn get(&self, errs: &mut Vec<String>) -> bool {
        let l = &self.0;
        match l.text().trim() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" | "" => false,
            _ => {
                errs.push(format!(
                    "`{}` ({}) must be true or false, got {:?}",
                    l.key(),
                    l.source(),
                    l.text()
                ));
                false
            }
        }
    }
}

/// The whole configuration file, `plugins` aside (see `config::plugins`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Sections {
    pub listen: Text,
    pub data_dir: Text,
    pub public_url: Text,
    pub server_secret: Text,
    pub server_secret_file: Text,
    pub allow_org_creation: Flag,
    pub billing_contact_email: Text,
    /// Former name of `log.format`.
    pub log_format: Text,
    pub database: Database,
    pub tls: Tls,
    pub features: Features,
    pub email: Email,
    pub invitations: Invitations,
    pub http: Http,
    pub metrics: Metrics,
    pub session: Session,
    pub log: Log,
    pub sso: Sso,
    pub debug: Debug,
}

/// `[database]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Database {
    pub checkpoints: Text,
}

/// `[tls]`: outbound TLS.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Tls {
    pub roots: Text,
    pub ca_file: Text,
}

/// `[features]`: defaults of the tenant features.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Features {
    pub api_keys: Flag,
    pub billing: Flag,
    pub sso: Flag,
}

/// `[email]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Email {
    pub mode: Text,
    pub smtp_url: Text,
    pub from: Text,
    pub templates_dir: Text,
    pub give_up_hours: Whole,
    pub plugin: Text,
}

/// `[invitations]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Invitations {
    pub ttl_hours: Whole,
}

/// `[http]`: the listener, its limits and how many requests are handled at once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Http {
    pub read_timeout_secs: Whole,
    pub request_timeout_secs: Whole,
    pub max_connections: Whole,
    pub trusted_proxies: Text,
    pub forwarded_header: Text,
    pub workers: Whole,
}

/// `[metrics]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Metrics {
    pub listen: Text,
    pub bearer_token: Text,
}

/// `[session]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Session {
    pub idle_timeout_hours: Whole,
    pub absolute_timeout_hours: Whole,
}

/// `[log]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Log {
    pub format: Text,
}

/// `[sso]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Sso {
    pub dns_resolver: Text,
}

/// `[debug]`: testing only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Debug {
    pub panic_route: Flag,
}
