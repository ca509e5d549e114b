//! `tenantry plugin check|list|test|call|new`.

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
    /// Call one hook of a component from the command line, without a server: prints the
    /// hook's answer (or the plugin error, or the trap) as JSON with the time the call took.
    /// Exit code 0 when the hook answered, 1 on a plugin error, 2 on bad usage or a trap.
    /// The call runs through the server's plugin host (fresh instance, memory limit,
    /// deadline, allowlisted HTTP); key-value storage lives in memory for this one call.
    Call {
        /// The component (`.wasm`).
        file: PathBuf,
        /// The hook: its WIT function name, e.g. `get-profile`, `start`, `deliver`.
        #[arg(long)]
        hook: String,
        /// The hook's parameters as a JSON object keyed by WIT parameter name (kebab-case or
        /// snake_case), e.g. `{"org": {"id": "org_1", "slug": "acme", "name": "Acme"}}`;
        /// `@FILE` reads it from a file, `-` from standard input.
        #[arg(long, default_value = "{}")]
        input: String,
        /// A setting the plugin reads (`host.setting`), repeatable.
        #[arg(long = "setting", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// A `host:port` the plugin may call, repeatable (as `allowed_hosts`).
        #[arg(long = "allow-host", value_name = "HOST:PORT")]
        allow_hosts: Vec<String>,
        /// The call's deadline in milliseconds (as `timeout_ms`; default 5000).
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Write a new plugin crate on the SDK, with native tests against the SDK's mock host:
    /// `NAME/src/lib.rs` implements the world; the SDK and the WIT of this tenantry are
    /// written under `NAME/sdk/` and `NAME/wit/`, so it builds without tenantry's sources.
    New {
        /// The crate's name (lowercase letters, digits, `-`, `_`).
        name: String,
        /// The world: `sso` (an OAuth 2 sign-in with a user endpoint), `billing-profile`
        /// (a profile from a JSON API) or `email-delivery` (messages to a JSON API).
        #[arg(long)]
        world: String,
        /// The folder to create `NAME/` in (default: the current one).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// List the configured plugins and their state (loads each, using the compile cache;
    /// the database is not opened).
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
        PluginCommand::New { name, world, dir } => {
            let root = super::scaffold::write(&name, &world, &dir)?;
            println!("wrote {} (world {world})", root.display());
            println!(
                "  cd {} && cargo test && cargo build --release --target wasm32-wasip2",
                root.display()
            );
            Ok(())
        }
        PluginCommand::Call {
            file,
            hook,
            input,
            settings,
            allow_hosts,
            timeout_ms,
        } => {
            let code = call(&file, &hook, &input, &settings, &allow_hosts, timeout_ms)?;
            if code != 0 {
                // The answer is printed already; only the exit code is left to say.
                std::process::exit(code);
            }
            Ok(())
        }
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
    let app = crate::app::open_with_plugins(config, listen)?;
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
    // Loading runs no hook, so the plugins' storage is never touched: an in-memory one
    // stands in, and the database is neither opened nor created (only the compile cache is
    // written).
    let host = crate::plugin_host::PluginHost::load(
        &config.plugins,
        &config.data_dir,
        Arc::new(crate::service::plugin_kv::MemoryKv::default()),
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

/// The `--input` text: inline JSON, `@FILE`, or `-` for standard input.
fn read_input(input: &str) -> Result<serde_json::Value> {
    let text = match input {
        "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| Error::Config(format!("cannot read --input from stdin: {e}")))?;
            s
        }
        _ => match input.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("cannot read --input file {path}: {e}")))?,
            None => input.to_string(),
        },
    };
    serde_json::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "--input is not valid JSON ({e}); give the hook's parameters as an object, \
             e.g. --input '{{\"org\": {{\"id\": \"org_1\", \"slug\": \"acme\", \"name\": \"Acme\"}}}}'"
        ))
    })
}

/// The plugin's configuration for one call, checked like a `[plugins.NAME]` table.
fn call_config(
    file: &Path,
    settings: &[String],
    allow_hosts: &[String],
    timeout_ms: Option<u64>,
) -> Result<crate::config::PluginConfig> {
    let mut table = toml::Table::new();
    table.insert("file".into(), file.display().to_string().into());
    table.insert(
        "allowed_hosts".into(),
        toml::Value::Array(allow_hosts.iter().map(|h| h.clone().into()).collect()),
    );
    let mut st = toml::Table::new();
    for s in settings {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("--setting {s:?} must look like NAME=VALUE")))?;
        st.insert(k.trim().to_string(), v.to_string().into());
    }
    table.insert("settings".into(), st.into());
    if let Some(ms) = timeout_ms {
        table.insert(
            "timeout_ms".into(),
            i64::try_from(ms).unwrap_or(i64::MAX).into(),
        );
    }
    let mut plugins = toml::Table::new();
    plugins.insert(CALL_NAME.into(), table.into());
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut parsed =
        crate::config::plugins::parse(&toml::Value::Table(plugins), &cwd).map_err(|e| {
            let e = e
                .replace(
                    &format!("`plugins.{CALL_NAME}.allowed_hosts` entries"),
                    "--allow-host values",
                )
                .replace(&format!("`plugins.{CALL_NAME}.timeout_ms`"), "--timeout-ms");
            Error::Config(e)
        })?;
    Ok(parsed.remove(0))
}

/// The plugin's name in log lines of `plugin call`.
const CALL_NAME: &str = "call";

/// `plugin call`: answers the exit code (0 answered, 1 plugin error, 2 trap); bad usage is
/// an `Err` (exit code 2 too).
fn call(
    file: &Path,
    hook: &str,
    input: &str,
    settings: &[String],
    allow_hosts: &[String],
    timeout_ms: Option<u64>,
) -> Result<i32> {
    let input = read_input(input)?;
    let config = call_config(file, settings, allow_hosts, timeout_ms)?;
    if !file.is_file() {
        return Err(Error::Config(format!(
            "no component file {}",
            file.display()
        )));
    }
    crate::logging::init(crate::config::LogFormat::Text);
    // A private compile cache for this call only: a shared one could be written by others.
    let scratch = std::env::temp_dir().join(format!(
        "tenantry-plugin-call-{}-{}",
        std::process::id(),
        crate::crypto::random_bytes::<8>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    std::fs::create_dir(&scratch)
        .map_err(|e| Error::Config(format!("cannot create {}: {e}", scratch.display())))?;
    let result = call_in(&scratch, config, hook, &input);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn call_in(
    scratch: &Path,
    config: crate::config::PluginConfig,
    hook: &str,
    input: &serde_json::Value,
) -> Result<i32> {
    use crate::plugin_host::Answer;
    use crate::service::hooks::HookError;
    let host = crate::plugin_host::PluginHost::load(
        std::slice::from_ref(&config),
        scratch,
        Arc::new(crate::service::plugin_kv::MemoryKv::default()),
        &crate::tls::TrustRoots::bundled(),
    )?;
    if let Some(error) = host.status().into_iter().find_map(|s| s.error) {
        return Err(Error::Config(error));
    }
    let started = std::time::Instant::now();
    let outcome = host
        .call_by_name(CALL_NAME, hook, input)
        .map_err(Error::Config)?;
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (code, body) = match outcome {
        Ok(Answer::Value(v)) => (0, serde_json::json!({ "ok": v })),
        Ok(Answer::PluginError { code, message }) => (
            1,
            serde_json::json!({ "plugin_error": { "code": code, "message": message } }),
        ),
        Err(HookError::Plugin { code, message }) => (
            1,
            serde_json::json!({ "plugin_error": { "code": code, "message": message } }),
        ),
        Err(e) => (
            2,
            serde_json::json!({ "failed": { "code": e.code(), "message": e.to_string() } }),
        ),
    };
    let mut out = serde_json::json!({ "hook": hook });
    if let (Some(o), Some(b)) = (out.as_object_mut(), body.as_object()) {
        o.extend(b.clone());
        o.insert(
            "took_ms".into(),
            serde_json::json!((took_ms * 1000.0).round() / 1000.0),
        );
    }
    println!("{out:#}");
    Ok(code)
}
