//! The layers of the configuration — defaults < `tenantry.toml` < `TENANTRY_*` environment <
//! flags — merged into one tree whose leaves remember their layer, then read as the typed
//! sections.

use std::path::{Path, PathBuf};

use super::{env_var_name, plugins, sections, PluginConfig, KEYS};
use crate::error::{Error, Result};

/// Layered raw values before validation: one TOML tree whose leaves say which layer set them
/// (see [`sections`]), and the `[plugins.NAME]` tables of the file.
pub struct RawConfig {
    pub(super) tree: toml::Table,
    file: Option<PathBuf>,
    pub(super) plugins: Vec<PluginConfig>,
}

impl Default for RawConfig {
    /// The defaults layer alone.
    fn default() -> Self {
        let mut raw = RawConfig {
            tree: toml::Table::new(),
            file: None,
            plugins: Vec::new(),
        };
        for (key, default, _) in KEYS {
            raw.set(key, default.to_string(), "default");
        }
        raw
    }
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
        for (key, _, _) in KEYS {
            if let Some(v) = env(&env_var_name(key)) {
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
        self.file = Some(path.to_path_buf());
        overlay(&mut self.tree, "", table, "config file");
        // Unknown keys and misplaced tables in the file are refused even where a later layer
        // sets the same key.
        self.sections().map(drop)
    }

    /// Sets a value from a given source (a flag overrides everything before it).
    pub fn set(&mut self, key: &str, value: String, source: &'static str) {
        let mut table = &mut self.tree;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                table.insert(part.to_string(), sections::Leaf::value(source, key, value));
                return;
            }
            table = subtable(table, part);
        }
    }

    /// The merged layers as typed sections; a key no section has, or a table where a value
    /// belongs (or the reverse), is refused here.
    pub(super) fn sections(&self) -> Result<sections::Sections> {
        let tree = toml::Value::Table(self.tree.clone());
        serde_path_to_error::deserialize(tree).map_err(|e| {
            let path: Vec<&str> = e
                .path()
                .iter()
                .map_while(|s| match s {
                    serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
                    _ => None,
                })
                .collect();
            Error::Config(self.shape_problem(&path, e.inner()))
        })
    }

    /// The message for a tree that does not fit the sections, at `path`.
    fn shape_problem(&self, path: &[&str], error: &toml::de::Error) -> String {
        let dotted = path.join(".");
        let mut node = None;
        let mut table = Some(&self.tree);
        for part in path {
            node = table.and_then(|t| t.get(*part));
            table = node.and_then(|n| n.as_table());
        }
        let known = KEYS.iter().any(|(k, ..)| *k == dotted);
        let section = KEYS.iter().any(|(k, ..)| {
            k.strip_prefix(dotted.as_str())
                .is_some_and(|r| r.starts_with('.'))
        });
        // The first value under the path: which layer wrote it, and its full key.
        match (node, node.and_then(first_leaf)) {
            (Some(toml::Value::Table(_)), Some((source, _))) if known => {
                format!("`{dotted}` ({source}) must be one value, not a table")
            }
            (Some(toml::Value::Array(_)), Some((source, _))) if section => {
                format!("`{dotted}` ({source}) must be a table of keys, like [{dotted}]")
            }
            (Some(_), Some((source, key))) if !known && !section => match &self.file {
                Some(file) if source == "config file" => format!(
                    "unknown key `{key}` in {} (see the configuration reference in the README)",
                    file.display()
                ),
                _ => format!("unknown key `{key}` ({source})"),
            },
            _ => format!(
                "the configuration does not fit its sections at `{dotted}`: {}",
                error.message()
            ),
        }
    }
}

/// Lays the values of a file table over `base`, tagged with `source`. An empty table sets
/// nothing.
fn overlay(base: &mut toml::Table, prefix: &str, over: toml::Table, source: &str) {
    for (k, v) in over {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) if t.is_empty() => {}
            toml::Value::Table(t) => overlay(subtable(base, &k), &key, t, source),
            toml::Value::String(s) => {
                base.insert(k, sections::Leaf::value(source, &key, s));
            }
            other => {
                base.insert(k, sections::Leaf::value(source, &key, other.to_string()));
            }
        }
    }
}

/// The table `name` of `table`, created (or put in place of a value) when needed: a later
/// layer's shape wins, and the sections judge it.
fn subtable<'a>(table: &'a mut toml::Table, name: &str) -> &'a mut toml::Table {
    let node = table
        .entry(name)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !node.is_table() {
        *node = toml::Value::Table(toml::Table::new());
    }
    match node {
        toml::Value::Table(t) => t,
        _ => unreachable!("made a table above"),
    }
}

/// The layer and key of the first leaf at or under `v`.
fn first_leaf(v: &toml::Value) -> Option<(&str, &str)> {
    sections::Leaf::source_of(v).or_else(|| v.as_table()?.values().find_map(first_leaf))
}
