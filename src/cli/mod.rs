//! The `roomctl` command line.
//!
//! `plan` and `apply` run one reconcile pass against the hosts in
//! `desired-state/hosts.toml` over SSH (or against a local sandbox fleet
//! with `--sandbox DIR`); `demo` runs the whole flow on a sandbox;
//! `validate` only loads the desired state. Exit codes follow Terraform:
//! 0 success / no changes, 1 error, 2 changes pending (`plan
//! --detailed-exitcode`).

mod api_key;
mod database;
mod fleet;
mod serve;

use crate::desired::{self, RootSecret};
use crate::plan::render;
use crate::reconcile::Reconciler;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Keeps a fleet of Dokku hosts in line with the declared MindRoom instances.
#[derive(Debug, Parser)]
#[command(name = "roomctl", version, about)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// Desired-state directory.
    #[arg(
        long,
        global = true,
        env = "ROOMCTL_DESIRED",
        default_value = "desired-state"
    )]
    desired: PathBuf,
    /// Templates directory.
    #[arg(
        long,
        global = true,
        env = "ROOMCTL_TEMPLATES",
        default_value = "templates"
    )]
    templates: PathBuf,
    /// Local state: create journal and backups.
    #[arg(
        long,
        global = true,
        env = "ROOMCTL_STATE_DIR",
        default_value = ".roomctl"
    )]
    state_dir: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

/// How to reach the hosts.
#[derive(Debug, Args, Clone)]
pub struct Connect {
    /// Use a local sandbox fleet (the Dokku emulator) kept in this directory
    /// instead of SSH.
    #[arg(long)]
    sandbox: Option<PathBuf>,
    /// SSH private key for every host.
    #[arg(long, env = "ROOMCTL_SSH_KEY")]
    ssh_key: Option<PathBuf>,
    /// known_hosts file to check host keys against (strict).
    #[arg(long, env = "ROOMCTL_KNOWN_HOSTS")]
    known_hosts: Option<PathBuf>,
    /// On hosts whose roomctl plugin is older than 0.2.0 (read with
    /// Dokku's own commands), read every per-app fact instead of trusting
    /// the applied-settings digest. Hosts with plugin 0.2.0 or later are
    /// read in full on every run (`roomctl:observe`): there it changes
    /// nothing.
    #[arg(long)]
    deep: bool,
    /// Remove empty pool servers above the pool's minimum (under the
    /// destroy guard; a server holding any app is never removed).
    #[arg(long)]
    remove_empty_servers: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        connect: Connect,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error
        /// (an unknown host is an error).
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        db: database::DbArgs,
    },
    /// Compute a fresh plan and apply it.
    Apply {
        #[command(flatten)]
        connect: Connect,
        /// Allow more destroys than `platform.destroy.max_per_run`.
        #[arg(long)]
        force: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: database::DbArgs,
    },
    /// Apply the platform database's migrations (a second run is a no-op).
    Migrate {
        #[command(flatten)]
        db: database::DbArgs,
    },
    /// Serve Stripe webhooks and reconcile continuously.
    Serve(Box<serve::ServeArgs>),
    /// Create, list and revoke the operator API keys of the admin API.
    #[command(subcommand, name = "api-key")]
    ApiKey(api_key::ApiKeyCommand),
    /// Load and validate the desired state, then print a summary.
    Validate,
    /// Run the whole flow on a local sandbox fleet, with no cloud account.
    Demo {
        /// Where the sandbox hosts keep their state: a new or empty
        /// directory, or one an earlier demo made (emptied first).
        #[arg(long, default_value = "sandbox-state")]
        dir: PathBuf,
    },
    /// The Dokku emulator (used by the sandbox as each host's Dokku).
    #[command(hide = true, name = "dokku-emu", disable_help_flag = true)]
    DokkuEmu {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Logs to stderr, filtered by `ROOMCTL_LOG` (e.g. `debug`), by default
/// `default`. async-stripe's webhook module is silenced: it logs, as an
/// error, every event its typed model cannot represent, which roomctl
/// reads itself.
fn init_logging(format: &str, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROOMCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        .add_directive("stripe_webhook=off".parse().expect("directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// The root secret from `ROOMCTL_ROOT_SECRET`. A sandbox without it uses
/// a fixed, public sandbox secret.
pub fn root_secret(sandbox: bool) -> anyhow::Result<RootSecret> {
    match (RootSecret::from_env(), sandbox) {
        (Ok(r), _) => Ok(r),
        (Err(_), true) => Ok(RootSecret::new(crate::sandbox::SANDBOX_ROOT_SECRET)
            .expect("sandbox secret is long enough")),
        (Err(e), false) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Loads the desired state (see [`root_secret`] for the sandbox's secret).
pub fn load_desired(
    desired_dir: &std::path::Path,
    templates: &std::path::Path,
    sandbox: bool,
) -> anyhow::Result<desired::Desired> {
    let root = root_secret(sandbox)?;
    desired::load_parts(desired_dir, templates)
        .and_then(|mut parts| {
            parts.nginx_test = database::nginx_test(sandbox);
            parts.into_desired(&root, &[])
        })
        .map_err(|e| anyhow::anyhow!("invalid desired state:\n{e}"))
}

/// `e` and its causes, `: `-separated, leaving out a cause that only
/// repeats the end of the message before it (some libraries' errors
/// display their source's text as well).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::DokkuEmu { args } = &cli.command {
        return crate::emulator::run(args.clone());
    }
    // A daemon reports what it does; one-shot commands only what went wrong.
    let default = match cli.command {
        Command::Serve(_) => "info,sqlx=warn",
        _ => "warn",
    };
    init_logging(&cli.global.log_format, default);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Validate => {
            let d = load_desired(&g.desired, &g.templates, true)?;
            let apps: usize = d.instances.values().map(|i| i.apps.len()).sum();
            println!(
                "desired state is valid: {} host(s), {} tier(s), {} instance(s), {apps} app(s)",
                d.hosts.len(),
                d.tiers.len(),
                d.instances.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            connect,
            json,
            detailed_exitcode,
            db,
        } => {
            let p = match db.database_url.is_some() {
                true => {
                    database::pass_with_database(g, &connect, &db, false, false)
                        .await?
                        .0
                }
                false => reconciler(g, &connect).await?.plan().await.1,
            };
            if json {
                println!("{}", render::json(&p));
            } else {
                print!(
                    "{}",
                    render::human(&p, render::Style::new(std::io::stdout().is_terminal()))
                );
            }
            // An unread zone is as unknown as an unread host (its records
            // were not compared), and a missing instance that this plan
            // does not create is a fleet that does not match: neither is
            // "no changes".
            let unknown = p.unknown_hosts().count() > 0
                || p.unknown_zones().next().is_some()
                || !p.missing.is_empty();
            Ok(match (detailed_exitcode, unknown, p.has_changes()) {
                (true, true, _) => ExitCode::from(1),
                (true, false, true) => ExitCode::from(2),
                _ => ExitCode::SUCCESS,
            })
        }
        Command::Apply {
            connect,
            force,
            json,
            db,
        } => {
            let (p, report) = match db.database_url.is_some() {
                true => database::pass_with_database(g, &connect, &db, true, force).await?,
                false => {
                    let r = reconciler(g, &connect).await?;
                    r.apply(force).await.context("apply refused")?
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!(
                    "{}",
                    render::human(&p, render::Style::new(std::io::stdout().is_terminal()))
                );
                print!("{}", report.table());
            }
            Ok(if report.failed() > 0 || !report.unknown.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Migrate { db } => database::migrate(&db).await,
        Command::Serve(args) => serve::serve(g, *args).await,
        Command::ApiKey(cmd) => api_key::run(cmd).await,
        Command::Demo { dir } => crate::sandbox::demo(&g.desired, &g.templates, &dir).await,
        Command::DokkuEmu { .. } => unreachable!("handled before the runtime starts"),
    }
}

async fn reconciler(g: &Global, c: &Connect) -> anyhow::Result<Reconciler> {
    let mut desired = load_desired(&g.desired, &g.templates, c.sandbox.is_some())?;
    if let Some(pool) = &mut desired.pool {
        pool.remove_empty = c.remove_empty_servers;
    }
    let shells = fleet::shells(&desired, c)?;
    let dns = fleet::dns_provider(&desired, c)?;
    let acme = crate::apply::certs::AcmeOptions::from_env().map_err(anyhow::Error::msg)?;
    let wildcard =
        crate::apply::certs::Wildcard::for_desired(&desired, dns.clone(), &g.state_dir, &acme);
    let mut r = Reconciler::new(desired, shells, &g.state_dir);
    r.dns = dns;
    r.wildcard = wildcard;
    r.observe.deep = c.deep;
    fleet::pool_setup(&mut r, &g.desired, &g.templates, c)?;
    Ok(r)
}
