//! The command line: `serve`, `init`, `user`, `backup`, `restore`, `openapi`.

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod plugin;
mod scaffold;

use crate::config::{Config, LogFormat, RawConfig};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::service;
use crate::service::Context;

/// `tenantry --version`: the package version and the build information from build.rs.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TENANTRY_BUILD_COMMIT"),
    ", ",
    env!("TENANTRY_BUILD_DATE"),
    ", ",
    env!("TENANTRY_BUILD_PROFILE"),
    " build, ",
    env!("TENANTRY_BUILD_TARGET"),
    ")"
);

/// tenantry — the settings backend and pages of a multi-tenant product.
#[derive(Parser, Debug)]
#[command(name = "tenantry", version = VERSION, about, after_long_help = env_help())]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command accepts.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Configuration file (default: ./tenantry.toml when present).
    #[arg(long, global = true, env = "TENANTRY_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long, global = true, env = "TENANTRY_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

/// Options of a command that lists things.
#[derive(Args, Debug, Clone)]
pub struct ListOptions {
    /// Print one JSON array instead of tab-separated lines.
    #[arg(long)]
    json: bool,
}

/// The closing part of `--help`: every configuration key's environment variable.
fn env_help() -> String {
    let mut out = String::from(
        "Every configuration key can also be set in the environment \
         (file < environment < flags):\n",
    );
    // `log_format` is the former name of `log.format` (the same variable).
    for (key, _, _) in crate::config::KEYS.iter().filter(|k| k.0 != "log_format") {
        out.push_str(&format!(
            "  {:<42} {key}\n",
            crate::config::env_var_name(key)
        ));
    }
    for (var, flag) in crate::config::OTHER_ENV_VARS {
        out.push_str(&format!("  {var:<42} {flag}\n"));
    }
    out
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Listen address (overrides `listen`).
        #[arg(long, env = "TENANTRY_LISTEN")]
        listen: Option<String>,
        /// Public base URL for links (overrides `public_url`).
        #[arg(long, env = "TENANTRY_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Create the first instance admin non-interactively (password on stdin).
    Init {
        #[command(flatten)]
        common: Common,
        /// Email of the first admin.
        #[arg(long)]
        admin_email: String,
        /// Name of the first admin.
        #[arg(long, default_value = "Administrator")]
        admin_name: String,
        /// Read the password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Write an online, consistent copy of the database to FILE.
    Backup {
        #[command(flatten)]
        common: Common,
        /// Destination file (must not exist).
        file: PathBuf,
    },
    /// Replace the database with a backup (refused while a server runs on the data dir).
    Restore {
        #[command(flatten)]
        common: Common,
        /// Backup file.
        file: PathBuf,
    },
    /// Check and list WebAssembly plugins.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print a shell completion script (e.g. `tenantry completions bash > /etc/bash_completion.d/tenantry`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user.
    Create {
        #[command(flatten)]
        common: Common,
        /// Email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Create an SSO account for this provider (no password).
        #[arg(long)]
        sso: Option<String>,
    },
    /// List users (reads the database only; never creates or migrates it).
    List {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        list: ListOptions,
    },
    /// Disable a user (ends their sessions).
    Disable {
        #[command(flatten)]
        common: Common,
        /// User ID or email.
        user: String,
    },
    /// Reset a user's two-step sign-in (authenticator, recovery codes and passkeys), for
    /// someone who lost them; audited in their organizations and emailed to them.
    ResetTwoStep {
        #[command(flatten)]
        common: Common,
        /// The user's email.
        email: String,
    },
}

#[derive(Subcommand, Debug)]
enum OrgCommand {
    /// Create an organization owned by an existing user.
    Create {
        #[command(flatten)]
        common: Common,
        /// Name.
        #[arg(long)]
        name: String,
        /// Unique slug (a-z, 0-9, -).
        #[arg(long)]
        slug: String,
        /// Email of the owner (an existing user).
        #[arg(long)]
        owner_email: String,
    },
    /// List organizations (reads the database only; never creates or migrates it).
    List {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        list: ListOptions,
    },
    /// Import invoices from a JSON file (`[{number, issued_on, amount_cents, currency, status, url?}]`).
    ImportInvoices {
        #[command(flatten)]
        common: Common,
        /// Organization ID.
        #[arg(long)]
        org: String,
        /// JSON file.
        file: PathBuf,
    },
    /// Show, allow or deny the configured plugins an organization may use (SSO, billing).
    Plugins {
        #[command(flatten)]
        common: Common,
        /// Organization ID.
        #[arg(long)]
        org: String,
        /// A configured plugin to allow (repeatable).
        #[arg(long)]
        allow: Vec<String>,
        /// A plugin to deny (repeatable).
        #[arg(long)]
        deny: Vec<String>,
    },
    /// Approve a domain an organization listed in its SSO settings, without its DNS record.
    SsoApprove {
        #[command(flatten)]
        common: Common,
        /// Organization ID.
        #[arg(long)]
        org: String,
        /// The domain, as listed in the organization's SSO settings.
        #[arg(long)]
        domain: String,
    },
}

fn load_config(common: &Common, flags: &[(&str, Option<String>)]) -> Result<Config> {
    let env = |k: &str| std::env::var(k).ok();
    let mut raw = RawConfig::load(common.config.as_deref(), &env)?;
    // clap fills a flag from its environment variable too; say where a value came from.
    let source = |key: &str, value: &str| {
        if env(&crate::config::env_var_name(key)).as_deref() == Some(value) {
            "environment"
        } else {
            "flag"
        }
    };
    if let Some(d) = &common.data_dir {
        let d = d.display().to_string();
        let src = source("data_dir", &d);
        raw.set("data_dir", d, src);
    }
    for (k, v) in flags {
        if let Some(v) = v {
            raw.set(k, v.clone(), source(k, v));
        }
    }
    Config::from_raw(&raw)
}

/// Starts logging, then warns about `TENANTRY_*` variables that name no setting.
fn init_logging(format: LogFormat) {
    crate::logging::init(format);
    let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
    for (name, closest) in crate::config::unknown_env_vars(names) {
        match closest {
            Some(c) => log::warn!(
                "environment variable {name} is not a tenantry setting and is ignored; did you mean {c}?"
            ),
            None => log::warn!(
                "environment variable {name} is not a tenantry setting and is ignored (`tenantry --help` lists them)"
            ),
        }
    }
}

fn read_password_stdin() -> Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Config(format!("cannot read the password from stdin: {e}")))?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        return Err(Error::Config("no password on stdin".into()));
    }
    Ok(Secret::new(pw))
}

fn open_app(config: Config) -> Result<Context> {
    let listen = config.listen;
    crate::app::open(config, listen)
}

/// Opens the app for a command that queues email, whose links must work: without a
/// `public_url` of its own, the command uses the one the server recorded at its last start
/// (a server started with `--public-url` and a CLI run without it agree); with one that
/// differs from the server's, it keeps its own and warns.
fn open_app_for_email(config: Config) -> Result<Context> {
    let own = config.public_url.clone();
    let mut app = open_app(config)?;
    let recorded = app
        .store
        .read(|c| c.instance_setting(crate::runtime::PUBLIC_URL_SETTING))?;
    match (own, recorded) {
        (None, Some(url)) => app.public_url = url,
        (None, None) => eprintln!(
            "tenantry: warning: no public URL is configured and the server has not recorded one; \
             links in email from this command use {} (set `public_url` or start the server first)",
            app.public_url
        ),
        (Some(own), Some(url)) if own != url => eprintln!(
            "tenantry: warning: links in email from this command use public URL {own}, \
             but the server last started with {url}"
        ),
        _ => {}
    }
    Ok(app)
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tenantry: {e}");
            match e {
                Error::Config(_)
                | Error::Validation(_)
                | Error::Conflict(_)
                | Error::SchemaTooNew { .. } => 2,
                _ => 1,
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            common,
            listen,
            public_url,
        } => {
            let config = load_config(&common, &[("listen", listen), ("public_url", public_url)])?;
            init_logging(config.log_format);
            serve(config)
        }
        Command::Init {
            common,
            admin_email,
            admin_name,
            password_stdin: _,
        } => {
            let config = load_config(&common, &[])?;
            init_logging(config.log_format);
            let password = read_password_stdin()?;
            let app = open_app(config)?;
            let user = service::setup::init_admin(
                &app,
                service::setup::SetupInput {
                    email: admin_email,
                    password,
                    name: admin_name,
                },
            )?;
            println!("created instance admin {} ({})", user.email, user.id);
            Ok(())
        }
        Command::User { command } => user_command(command),
        Command::Org { command } => org_command(command),
        Command::Backup { common, file } => {
            let config = load_config(&common, &[])?;
            init_logging(config.log_format);
            crate::store::backup(&config.data_dir, &file)?;
            println!("backup written to {}", file.display());
            if let Some(secret) = crate::app::backup_secret(&config, &file)? {
                println!(
                    "server secret written to {} (keep it with the backup, as private as the data)",
                    secret.display()
                );
            }
            Ok(())
        }
        Command::Restore { common, file } => {
            let config = load_config(&common, &[])?;
            init_logging(config.log_format);
            crate::store::restore(&config.data_dir, &file)?;
            println!(
                "restored {} into {}",
                file.display(),
                config.data_dir.display()
            );
            if crate::app::restore_secret(&config, &file)? {
                println!("server secret restored from the backup");
            } else if config.server_secret.is_none() {
                println!(
                    "note: no {}.secret.key beside the backup; sessions, API keys and stored credentials need the secret it was made with",
                    file.display()
                );
            }
            Ok(())
        }
        Command::Plugin { command } => plugin::run(command),
        Command::Openapi => {
            println!("{}", crate::http::api::system::OPENAPI.trim_end());
            Ok(())
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "tenantry", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn user_command(cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Create {
            common,
            email,
            name,
            password_stdin,
            sso,
        } => {
            let config = load_config(&common, &[])?;
            init_logging(config.log_format);
            if password_stdin && sso.is_some() {
                return Err(Error::Config(
                    "--password-stdin and --sso exclude each other".into(),
                ));
            }
            let password = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let app = open_app_for_email(config)?;
            let user = service::users::create_by_operator(
                &app,
                &service::authz::operator(),
                service::users::NewUserInput {
                    email,
                    name,
                    password,
                    sso,
                },
            )?;
            println!("created user {} ({})", user.email, user.id);
            Ok(())
        }
        UserCommand::List { common, list } => {
            let config = load_config(&common, &[])?;
            init_logging(config.log_format);
            let app = crate::app::open_read_only(config)?;
            let mut cursor: Option<String> = None;
            let mut all = Vec::new();
            loop {
                let page = service::users::list(&app, cursor.as_deref(), service::PAGE_MAX)?;
                for u in &page.data {
                    if list.json {
                        all.push(serde_json::json!({
                            "id": u.id.to_string(),
                            "email": u.email.as_str(),
                            "name": u.name,
                            "auth": u.auth.as_str(),
                            "disabled": u.disabled,
                        }));
                    } else {
                        println!(
                            "{}\t{}\t{}\t{}{}",
                            u.id,
                            u.email,
                            u.name,
                            u.auth.as_str(),
                            if u.disabled { "\tdisabled" } else { "" }
                        );
                    }
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            if list.json {
                println!("{:#}", serde_json::Value::Array(all));
            }
            Ok(())
        }
        UserCommand::Disable { common, user } => {
            let config = load_config(&common, &[])?;
            init_logging(config.log_format);
            let app = open_app(config)?;
            let id = match crate::domain::UserId::parse(&user) {
                Some(id) => id,
                None => {
                    let email = crate::domain::Email::parse(&user).map_err(|_| {
                        Error::Config(format!("{user:?} is neither a user ID nor an email"))
                    })?;
                    app.store
                        .read(|c| c.user_by_email(&email))?
                        .ok_or_else(|| Error::Config(format!("no user with email {email}")))?
                        .id
                }
            };
            let u = service::users::set_disabled(&app, None, &id, true)?;
            println!("disabled {} ({})", u.email, u.id);
            Ok(())
        }
        UserCommand::ResetTwoStep { common, email } => {
            let config = load_config(&common, &[])?;
            init_logging(config.log_format);
            let app = open_app_for_email(config)?;
            match service::two_step::reset_by_operator(&app, &service::authz::operator(), &email) {
                Ok(true) => println!("reset two-step sign-in of {email}; they were emailed"),
                Ok(false) => println!("{email} has no two-step sign-in; nothing to reset"),
                Err(Error::NotFound) => {
                    return Err(Error::Config(format!("no user with email {email}")))
                }
                Err(Error::Validation(_)) => {
                    return Err(Error::Config(format!("{email:?} is not an email address")))
                }
                Err(e) => return Err(e),
            }
            Ok(())
        }
    }
}

fn org_command(cmd: OrgCommand) -> Result<()> {
    if let OrgCommand::List { common, list } = &cmd {
        return org_list(common, list);
    }
    let common = match &cmd {
        OrgCommand::Create { common, .. }
        | OrgCommand::List { common, .. }
        | OrgCommand::ImportInvoices { common, .. }
        | OrgCommand::Plugins { common, .. }
        | OrgCommand::SsoApprove { common, .. } => common.clone(),
    };
    let config = load_config(&common, &[])?;
    init_logging(config.log_format);
    let app = open_app(config)?;
    let op = service::authz::operator();
    match cmd {
        OrgCommand::Create {
            name,
            slug,
            owner_email,
            ..
        } => {
            let org = service::orgs::create_by_operator(
                &app,
                &op,
                service::orgs::NewOrg {
                    name,
                    slug,
                    owner_email: Some(owner_email),
                },
            )?;
            println!("created organization {} ({})", org.slug, org.id);
        }
        OrgCommand::List { .. } => unreachable!("handled by org_list"),
        OrgCommand::ImportInvoices { org, file, .. } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", file.display())))?;
            let items: Vec<service::org_settings::InvoiceInput> = serde_json::from_str(&text)
                .map_err(|e| {
                    Error::Config(format!(
                        "{} is not a JSON list of invoices: {e}",
                        file.display()
                    ))
                })?;
            let r = service::org_settings::import_invoices_by_operator(&app, &op, &org, items)?;
            println!(
                "imported invoices: {} created, {} updated",
                r.created, r.updated
            );
        }
        OrgCommand::Plugins {
            org, allow, deny, ..
        } => {
            let names = service::org_plugins::change_by_operator(&app, &op, &org, &allow, &deny)?;
            if names.is_empty() {
                println!("organization {org} may use no plugin");
            } else {
                println!("organization {org} may use: {}", names.join(", "));
            }
        }
        OrgCommand::SsoApprove { org, domain, .. } => {
            let d = service::sso_domains::approve_by_operator(&app, &op, &org, &domain)?;
            println!(
                "sso domain {} of organization {org} is {}",
                d.domain,
                d.status.as_str()
            );
        }
    }
    Ok(())
}

fn org_list(common: &Common, list: &ListOptions) -> Result<()> {
    let config = load_config(common, &[])?;
    init_logging(config.log_format);
    let app = crate::app::open_read_only(config)?;
    let mut cursor: Option<String> = None;
    let mut all = Vec::new();
    loop {
        let page = service::orgs::list_all(&app, cursor.as_deref(), service::PAGE_MAX)?;
        for o in &page.data {
            if list.json {
                all.push(serde_json::json!({
                    "id": o.id.to_string(),
                    "slug": o.slug,
                    "name": o.name,
                }));
            } else {
                println!("{}\t{}\t{}", o.id, o.slug, o.name);
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if list.json {
        println!("{:#}", serde_json::Value::Array(all));
    }
    Ok(())
}

fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                Ok(()) => log::debug!("raised the open-files limit from {soft} to {hard}"),
                Err(e) => log::warn!("could not raise the open-files limit ({soft}): {e}"),
            }
        }
    }
}

fn serve(config: Config) -> Result<()> {
    raise_open_files_limit();
    let listener = TcpListener::bind(config.listen)
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", config.listen)))?;
    let server = crate::runtime::run(listener, config)?;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, server.stop_flag()).map_err(Error::internal)?;
    }
    {
        let mut out = std::io::stdout().lock();
        if let Some(m) = server.metrics_addr() {
            let _ = writeln!(out, "tenantry metrics on http://{m}/metrics");
        }
        let _ = writeln!(out, "tenantry listening on http://{}", server.addr());
        if let Some(token) = server.setup_token() {
            let _ = writeln!(
                out,
                "No instance admin yet. Open this one-time link to create one: {}/setup?token={}",
                server.public_url(),
                token.expose()
            );
        }
        let _ = out.flush();
    }
    server.wait()
}
