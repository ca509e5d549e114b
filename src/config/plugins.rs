//! `[plugins.NAME]` tables: which component file, which hosts it may call, its settings and
//! its limits. Read from the config file only (settings are often secrets; keep the file 0600).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::crypto::Secret;

/// One configured plugin.
#[derive(Clone)]
pub struct PluginConfig {
    /// Name used in URLs, organization settings and logs (`[a-z0-9-]`, 1–63).
    pub name: String,
    /// The component (`.wasm`), relative paths resolved against the config file's folder.
    pub file: PathBuf,
    /// `host:port` (or `host`, meaning port 80/443 by scheme) the plugin may call.
    pub allowed_hosts: Vec<String>,
    /// Values the plugin reads with `host.setting` (redacted in `Debug`).
    pub settings: BTreeMap<String, Secret>,
    /// Linear-memory limit per call, in MiB.
    pub memory_mib: u64,
    /// Deadline of one call, in milliseconds (outbound HTTP included).
    pub timeout_ms: u64,
    /// Deadline of one outbound HTTP request, in milliseconds.
    pub http_timeout_ms: u64,
    /// Largest outbound HTTP response body accepted, in KiB.
    pub http_max_response_kib: u64,
    /// Calls of this plugin that may run at once; more fail at once as busy, so a slow
    /// upstream cannot hold every HTTP worker.
    pub max_concurrent_calls: u64,
}

impl fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConfig")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .field("memory_mib", &self.memory_mib)
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

const FIELDS: &str =
    "file, allowed_hosts, settings, memory_mib, timeout_ms, http_timeout_ms, http_max_response_kib, max_concurrent_calls";

/// Whether `name` is a valid plugin name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

/// Parses the `plugins` table of a config file.
pub fn parse(value: &toml::Value, base: &Path) -> Result<Vec<PluginConfig>, String> {
    let table = value
        .as_table()
        .ok_or("`plugins` must be a table of [plugins.NAME] tables")?;
    let mut out = Vec::new();
    for (name, v) in table {
        if !valid_name(name) {
            return Err(format!(
                "plugin name {name:?} must be 1 to 63 lowercase letters, digits or hyphens"
            ));
        }
        let t = v
            .as_table()
            .ok_or_else(|| format!("`plugins.{name}` must be a table"))?;
        let mut p = PluginConfig {
            name: name.clone(),
            file: PathBuf::new(),
            allowed_hosts: Vec::new(),
            settings: BTreeMap::new(),
            memory_mib: 64,
            timeout_ms: 5000,
            http_timeout_ms: 3000,
            http_max_response_kib: 1024,
            max_concurrent_calls: 4,
        };
        for (k, v) in t {
            let key = format!("plugins.{name}.{k}");
            match k.as_str() {
                "file" => {
                    let f = v.as_str().ok_or(format!("`{key}` must be a path"))?;
                    let f = Path::new(f);
                    p.file = if f.is_absolute() {
                        f.to_path_buf()
                    } else {
                        base.join(f)
                    };
                }
                "allowed_hosts" => {
                    let list = v
                        .as_array()
                        .ok_or(format!("`{key}` must be a list of \"host:port\""))?;
                    for h in list {
                        let h = h.as_str().filter(|h| valid_host_entry(h)).ok_or(format!(
                            "`{key}` entries must look like \"api.example.com:443\", got {h}"
                        ))?;
                        p.allowed_hosts.push(h.to_ascii_lowercase());
                    }
                }
                "settings" => {
                    let st = v
                        .as_table()
                        .ok_or(format!("`{key}` must be a table of values"))?;
                    for (sk, sv) in st {
                        let text = match sv {
                            toml::Value::String(s) => s.clone(),
                            toml::Value::Integer(_)
                            | toml::Value::Float(_)
                            | toml::Value::Boolean(_) => sv.to_string(),
                            _ => {
                                return Err(format!(
                                    "`{key}.{sk}` must be a string, number or boolean"
                                ))
                            }
                        };
                        p.settings.insert(sk.clone(), Secret::new(text));
                    }
                }
                "memory_mib" => p.memory_mib = int(v, &key, 1, 1024)?,
                "timeout_ms" => p.timeout_ms = int(v, &key, 10, 600_000)?,
                "http_timeout_ms" => p.http_timeout_ms = int(v, &key, 10, 600_000)?,
                "http_max_response_kib" => p.http_max_response_kib = int(v, &key, 1, 64 * 1024)?,
                "max_concurrent_calls" => p.max_concurrent_calls = int(v, &key, 1, 64)?,
                _ => return Err(format!("unknown key `{key}` (plugin keys: {FIELDS})")),
            }
        }
        if p.file.as_os_str().is_empty() {
            return Err(format!("`plugins.{name}.file` is required"));
        }
        out.push(p);
    }
    Ok(out)
}

fn int(v: &toml::Value, key: &str, min: u64, max: u64) -> Result<u64, String> {
    v.as_integer()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
        .ok_or(format!(
            "`{key}` must be a whole number from {min} to {max}"
        ))
}

/// `host` or `host:port`, no scheme, path or user info.
fn valid_host_entry(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => (host, Some(port)),
        _ => (h, None),
    };
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Vec<PluginConfig>, String> {
        let t: toml::Table = s.parse().unwrap();
        parse(&t["plugins"], Path::new("/etc/tenantry"))
    }

    #[test]
    fn a_full_table() {
        let p = parse_str(
            "[plugins.sso-oidc]\nfile = \"p/sso.wasm\"\nallowed_hosts = [\"idp.example.com:443\"]\n\
             memory_mib = 32\n[plugins.sso-oidc.settings]\nclient_secret = \"s3cret\"\nport = 8\n",
        )
        .unwrap();
        assert_eq!(p[0].file, PathBuf::from("/etc/tenantry/p/sso.wasm"));
        assert_eq!(p[0].memory_mib, 32);
        assert_eq!(p[0].settings["port"].expose(), "8");
        assert!(!format!("{p:?}").contains("s3cret"));
    }

    #[test]
    fn bad_tables_are_refused() {
        for bad in [
            "[plugins.Bad]\nfile = \"x\"",
            "[plugins.a]\nallowed_hosts = [\"x\"]",
            "[plugins.a]\nfile = \"x\"\nallowed_hosts = [\"http://x\"]",
            "[plugins.a]\nfile = \"x\"\nmemory_mib = 0",
            "[plugins.a]\nfile = \"x\"\nfilee = 1",
            "[plugins.a]\nfile = \"x\"\nsettings = { a = [1] }",
        ] {
            assert!(parse_str(bad).is_err(), "{bad}");
        }
    }
}
