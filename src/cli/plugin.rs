//! `tenantry plugin check|list|test`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;

use super::{init_logging, load_config, Common};
use crate::error::{Error, Result};
use crate::service::hooks::Hooks;

/// Plugin commands.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Check a component against the plugin contract: which world it implements, what it
    /// imports, and whether this host can run it (exit code 2 when it cannot).
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the configured plugins and their state (loads each, using the compile cache).
    List {
        #[command(flatten)]
        common: Common,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Test a configured single sign-on plugin's provider configuration before anyone signs
    /// in: discovery through the allowlist, issuer, signing keys, client authentication at
    /// the token endpoint; each failed check names its fix (exit code 2 when one fails).
    Test {
        #[command(flatten)]
        common: Common,
        /// The configured plugin's name (`[plugins.NAME]`).
        name: String,
        /// The organization (slug or `org_…` ID) whose sign-ins the test stands for; also
        /// checks that it may use the plugin.
        #[arg(long)]
        org: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a plugin command.
pub fn run(cmd: PluginCommand) -> Result<()> {
    match cmd {
        PluginCommand::Check { file, json } => check(&file, json),
        PluginCommand::List { common, json } => list(&common, json),
        PluginCommand::Test {
            common,
            name,
            org,
            json,
        } => test(&common, &name, org.as_deref(), json),
    }
}

fn test(common: &Common, name: &str, org: Option<&str>, json: bool) -> Result<()> {
    let config = load_config(common, &[])?;
    init_logging(config.log_format);
    let listen = config.listen;
    let app = crate::app::App::open_with_plugins(config, listen)?;
    let org_id = match org {
        None => None,
        Some(o) => {
            let found = app.store.read(|c| match crate::domain::OrgId::parse(o) {
                Some(id) => c.org(&id),
                None => c.org_by_slug(o),
            })?;
            let org = found
                .ok_or_else(|| Error::Config(format!("no organization {o:?} (slug or ID)")))?;
            if !crate::service::org_plugins::allowed(&app, &org.id, name)? {
                return Err(Error::Config(format!(
                    "organization {} may not use plugin {name:?} (tenantry org plugins --org {} --allow {name})",
                    org.slug, org.id
                )));
            }
            Some(org.id)
        }
    };
    let result =
        crate::service::sso::run_checks(&app, name, org_id.as_ref().map_or("", |id| id.as_str()));
    if json {
        println!("{:#}", serde_json::json!(result));
    } else {
        println!("{name}: configuration test");
        for c in &result.checks {
            println!(
                "  {}  {:<20} {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
            if let Some(fix) = &c.fix {
                println!("        fix: {fix}");
            }
        }
        println!(
            "  result: {}",
            if result.ok {
                "every check passed"
            } else {
                "a check failed"
            }
        );
    }
    if result.ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "the configuration test of plugin {name:?} failed: {}",
            result
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

fn check(file: &Path, json: bool) -> Result<()> {
    let found = crate::plugin_host::inspect(file).map_err(Error::Config)?;
    if json {
        let v = serde_json::json!({
            "file": file.display().to_string(),
            "ok": found.ok(),
            "worlds": found.worlds,
            "imports": found.imports,
            "exports": found.exports,
            "extras": found.extras,
            "problems": found.problems,
        });
        println!("{v:#}");
    } else {
        println!("{}", file.display());
        println!(
            "  worlds:  {}",
            if found.worlds.is_empty() {
                "none".to_string()
            } else {
                found.worlds.join(", ")
            }
        );
        println!("  exports: {}", found.exports.join(", "));
        println!("  imports:");
        for i in &found.imports {
            let how = match i.provided_as {
                "granted" => "granted by the host".to_string(),
                "partly granted" => format!(
                    "granted by the host, except {} (defined as a trap)",
                    i.traps.join(", ")
                ),
                _ => "not granted: defined as a trap (the call fails if the plugin uses it)"
                    .to_string(),
            };
            println!("    {}  — {how}", i.name);
        }
        if found.ok() {
            println!(
                "  result:  ok, satisfies the tenantry:plugin@{} contract{}",
                crate::plugin_host::CONTRACT_VERSION,
                if found.worlds.contains(&"sso") && found.extras.is_empty() {
                    " (built against 2.0.0: no sso-extras)"
                } else {
                    ""
                }
            );
        }
    }
    if found.ok() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{} does not satisfy the plugin contract: {}",
            file.display(),
            found.problems.join("; ")
        )))
    }
}

fn list(common: &Common, json: bool) -> Result<()> {
    let config = load_config(common, &[])?;
    init_logging(config.log_format);
    let store = Arc::new(crate::store::Store::open(&config.data_dir)?);
    let host = crate::plugin_host::PluginHost::load(
        &config.plugins,
        &config.data_dir,
        Arc::new(crate::service::plugin_kv::StoreKv::new(store)),
        &crate::tls::TrustRoots::load(&config)?,
    )?;
    let status = host.status();
    if json {
        println!("{:#}", serde_json::json!(status));
        return Ok(());
    }
    if status.is_empty() {
        println!("no plugins configured (add [plugins.NAME] tables to the config file)");
        return Ok(());
    }
    for p in &status {
        println!("{}  {}", p.name, p.state);
        println!("  file:          {}", p.file);
        if !p.worlds.is_empty() {
            println!("  worlds:        {}", p.worlds.join(", "));
        }
        println!(
            "  allowed hosts: {}",
            if p.allowed_hosts.is_empty() {
                "none".to_string()
            } else {
                p.allowed_hosts.join(", ")
            }
        );
        if let Some(e) = &p.error {
            println!("  error:         {e}");
        }
    }
    Ok(())
}
