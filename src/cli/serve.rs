//! `roomctl serve` and `roomctl migrate`, and the database options
//! `plan` and `apply` share with them.

use super::{Connect, Global, fleet, root_secret};
use crate::apply::Shells;
use crate::db;
use crate::desired::{Desired, HostSpec, load_parts};
use crate::domain::HostName;
use crate::reconcile::database::{PassConfig, ShellSource};
use crate::server::{self, AppState, Trigger, Worker, WorkerStatus};
use crate::webhook::{ApiKey, Processor, StripeApi, Verifier, WebhookSecret};
use anyhow::Context;
use clap::Args;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the platform database is.
#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// PostgreSQL URL of the platform database. Prefer the environment
    /// variable: a URL on the command line is visible to other users.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// Connects, or explains that no URL was given.
    pub async fn connect(&self) -> anyhow::Result<sqlx::PgPool> {
        let url = self
            .database_url
            .as_deref()
            .context("no database: set DATABASE_URL or pass --database-url")?;
        db::connect(url, 10, Duration::from_secs(10))
            .await
            .context("cannot connect to the database")
    }
}

/// `roomctl serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    connect: Connect,
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on (port 0 picks a free port; the address is
    /// printed on stdout).
    #[arg(long, env = "ROOMCTL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Webhook signing secrets, comma-separated, current first (several
    /// while one is rotated).
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET",
        hide_env_values = true,
        value_delimiter = ',',
        required = true
    )]
    webhook_secret: Vec<String>,
    /// Stripe API key: when set, each subscription event's subscription is
    /// re-fetched from the API instead of trusting the delivery.
    #[arg(long, env = "STRIPE_API_KEY", hide_env_values = true)]
    stripe_api_key: Option<String>,
    /// Base URL of Stripe's API (for tests and proxies).
    #[arg(long, env = "STRIPE_API_BASE")]
    stripe_api_base: Option<String>,
    /// Time between full reconcile passes, e.g. `5m`.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Apply pending database migrations before serving.
    #[arg(long)]
    migrate: bool,
}

/// Shells built from the hosts of a desired state, reused while the hosts
/// stay the same (so SSH connections survive between passes).
pub struct CachedShells {
    connect: Connect,
    cache: Mutex<Option<(BTreeMap<HostName, HostSpec>, Shells)>>,
    dns: Mutex<Option<Arc<dyn crate::dns::DnsProvider>>>,
}

impl CachedShells {
    /// A cache for hosts reached through `connect`.
    pub fn new(connect: Connect) -> Self {
        Self {
            connect,
            cache: Mutex::new(None),
            dns: Mutex::new(None),
        }
    }
}

impl ShellSource for CachedShells {
    fn pool(&self, r: &mut crate::reconcile::Reconciler, cfg: &PassConfig) -> Result<(), String> {
        fleet::pool_setup(r, &cfg.desired_dir, &cfg.templates_dir, &self.connect)
            .map_err(|e| format!("{e:#}"))
    }

    fn shells(&self, desired: &Desired) -> Result<Shells, String> {
        let mut cache = self.cache.lock().expect("shell cache lock");
        if let Some((hosts, shells)) = cache.as_ref()
            && *hosts == desired.hosts
        {
            return Ok(shells.clone());
        }
        let shells = fleet::shells(desired, &self.connect).map_err(|e| format!("{e:#}"))?;
        *cache = Some((desired.hosts.clone(), shells.clone()));
        Ok(shells)
    }

    fn dns(&self, desired: &Desired) -> Result<Option<Arc<dyn crate::dns::DnsProvider>>, String> {
        if desired.dns.is_none() {
            return Ok(None);
        }
        // One client for the process, so its pacing covers every pass.
        let mut cached = self.dns.lock().expect("dns cache lock");
        if cached.is_none() {
            *cached = fleet::dns_provider(desired, &self.connect).map_err(|e| format!("{e:#}"))?;
        }
        Ok(cached.clone())
    }
}

/// A missing nginx binary only weakens the snippet check in the sandbox.
pub fn nginx_test(sandbox: bool) -> crate::desired::nginx::NginxTest {
    match sandbox {
        true => crate::desired::nginx::NginxTest::IfInstalled,
        false => crate::desired::nginx::NginxTest::Required,
    }
}

/// The pass configuration for the global options.
pub fn pass_config(g: &Global, c: &Connect) -> anyhow::Result<PassConfig> {
    Ok(PassConfig {
        desired_dir: g.desired.clone(),
        templates_dir: g.templates.clone(),
        root: root_secret(c.sandbox.is_some())?,
        state_dir: g.state_dir.clone(),
        retries: 3,
        backoff: Duration::from_millis(500),
        deep: c.deep,
        nginx_test: nginx_test(c.sandbox.is_some()),
        acme: crate::apply::certs::AcmeOptions::from_env().map_err(anyhow::Error::msg)?,
    })
}

/// `roomctl migrate`.
pub async fn migrate(d: &DbArgs) -> anyhow::Result<ExitCode> {
    let pool = d.connect().await?;
    let before = applied(&pool).await;
    db::migrate(&pool).await.context("migration failed")?;
    let after = applied(&pool).await;
    let latest = db::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if after > before {
        println!(
            "applied {} migration(s); the database is at version {latest}",
            after - before
        );
    } else {
        println!("the database is up to date (version {latest})");
    }
    Ok(ExitCode::SUCCESS)
}

async fn applied(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from _sqlx_migrations where success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// `roomctl serve`: until SIGINT or SIGTERM.
pub async fn serve(g: &Global, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = pass_config(g, &a.connect)?;
    let pool = a.db.connect().await?;
    if a.migrate {
        db::migrate(&pool).await.context("migration failed")?;
    }
    let parts = load_parts(&cfg.desired_dir, &cfg.templates_dir)
        .map_err(|e| anyhow::anyhow!("invalid desired state:\n{e}"))?;
    let secrets = a
        .webhook_secret
        .iter()
        .map(|s| WebhookSecret::new(s.trim()).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let verifier = Verifier::new(secrets).map_err(anyhow::Error::msg)?;
    let stripe = match &a.stripe_api_key {
        Some(k) => {
            let key = ApiKey::new(k.clone()).map_err(anyhow::Error::msg)?;
            let api = StripeApi::new(&key, a.stripe_api_base.as_deref(), Duration::from_secs(10))
                .map_err(|e| anyhow::anyhow!("Stripe client: {e}"))?;
            Some(api)
        }
        None => None,
    };
    let processor = Processor {
        pool: pool.clone(),
        tiers: Arc::new(parts.tiers),
        policy: parts.platform.subscriptions,
        stripe,
    };
    let trigger = Trigger::default();
    let status = Arc::new(Mutex::new(WorkerStatus::default()));
    let state = Arc::new(AppState {
        verifier,
        processor,
        trigger: trigger.clone(),
        clock: server::system_clock(),
        status: status.clone(),
    });
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    println!("roomctl serve: listening on http://{addr}");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = Worker {
        cfg,
        pool,
        shells: Arc::new(CachedShells::new(a.connect.clone())),
        trigger,
        interval: a.interval,
        status,
    };
    let worker = tokio::spawn(worker.run(stop_rx.clone()));
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let mut http_stop = stop_rx;
    axum::serve(listener, server::router(state))
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        })
        .await
        .context("HTTP server failed")?;
    worker.await.context("reconcile worker panicked")?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// One pass of `roomctl plan` (`apply` false) or `roomctl apply` over the
/// files and the database's instances; `apply` writes the outcome back.
pub async fn pass_with_database(
    g: &Global,
    c: &Connect,
    d: &DbArgs,
    apply: bool,
    force: bool,
) -> anyhow::Result<(crate::plan::Plan, crate::apply::report::Report)> {
    use crate::reconcile::database::{Scope, run};
    let pool = d.connect().await?;
    let cfg = pass_config(g, c)?;
    let shells = CachedShells::new(c.clone());
    let r = run(&cfg, &pool, &shells, &Scope::All, apply, force).await?;
    Ok((r.plan, r.report))
}
