//! `roomctl serve` and `roomctl migrate`, and the database options
//! `plan` and `apply` share with them.

use super::{Connect, Global, fleet, root_secret};
use crate::apply::Shells;
use crate::db;
use crate::desired::{Desired, HostSpec, load_parts};
use crate::domain::HostName;
use crate::reconcile::database::{PassConfig, ShellSource};
use crate::server::{self, AppState, Replica, WorkQueue, Worker, WorkerStatus};
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
    #[arg(long, env = "ROOMCTL_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Up to this much is added at random to each interval.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    jitter: Duration,
    /// First wait before retrying a failing instance (doubles each time).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    backoff: Duration,
    /// Longest wait before retrying a failing instance.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    backoff_max: Duration,
    /// This replica's name in runs and logs (default `hostname:pid`).
    #[arg(long, env = "ROOMCTL_REPLICA")]
    replica: Option<String>,
    /// How often a follower tries to take the leader lock, and the leader
    /// checks that it still holds it.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    leader_poll: Duration,
    /// Send every health check to this address instead of the instance's
    /// DNS name (Host and SNI stay the instance's), e.g. a load balancer,
    /// or the sandbox's local web server.
    #[arg(long, env = "ROOMCTL_HEALTH_CONNECT_TO")]
    health_connect_to: Option<SocketAddr>,
    /// Do not run health checks.
    #[arg(long)]
    no_health_checks: bool,
    /// Quiet time after an edit under desired-state/ before it is validated.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    debounce: Duration,
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
        memo: Default::default(),
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

fn replica_name(given: Option<&str>) -> String {
    given.map(str::to_string).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        format!("{host}:{}", std::process::id())
    })
}

/// `roomctl serve`: until SIGINT or SIGTERM.
pub async fn serve(g: &Global, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = pass_config(g, &a.connect)?;
    let url =
        a.db.database_url
            .clone()
            .context("no database: set DATABASE_URL or pass --database-url")?;
    let pool = a.db.connect().await?;
    if a.migrate {
        db::migrate(&pool).await.context("migration failed")?;
    }
    let files = Arc::new(server::files::DesiredFiles::new(
        &g.desired,
        &g.templates,
        &g.state_dir,
        cfg.root.clone(),
        cfg.nginx_test,
    ));
    if let Err(e) = files.refresh() {
        if !files.has_snapshot() {
            anyhow::bail!("invalid desired state:\n{e}");
        }
        tracing::error!(problems = %e, "desired-state is invalid; serving the last good copy");
    }
    cfg.desired_dir = files.good_dir();
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
    let name = replica_name(a.replica.as_deref());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (leader_tx, leader_rx) = tokio::sync::watch::channel(false);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let election = tokio::spawn(server::leader::run(
        server::leader::Election {
            url: url.clone(),
            replica: name.clone(),
            poll: a.leader_poll,
        },
        leader_tx,
        release_rx,
    ));
    let replica = Replica {
        name: name.clone(),
        leader: leader_rx.clone(),
    };
    let queue = WorkQueue::new(server::queue::Backoff {
        base: a.backoff,
        max: a.backoff_max,
    });
    let cfg = Arc::new(cfg);
    let shells: Arc<dyn ShellSource> = Arc::new(CachedShells::new(a.connect.clone()));
    let fleet = Arc::new(server::view::FleetCache::new(view_compute(
        cfg.clone(),
        pool.clone(),
        shells.clone(),
    )));
    let metrics = Arc::new(server::metrics::Metrics::new());
    let status = Arc::new(Mutex::new(WorkerStatus::default()));
    let pages = server::status_page::load_pages(&g.templates).map_err(anyhow::Error::msg)?;
    let state = Arc::new(AppState {
        verifier,
        processor,
        pool: pool.clone(),
        queue: queue.clone(),
        clock: server::system_clock(),
        status: status.clone(),
        metrics: metrics.clone(),
        fleet: fleet.clone(),
        replica: replica.clone(),
        pages: Arc::new(pages),
        desired_dir: files.good_dir(),
        desired_shown: g.desired.clone(),
    });
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    println!("roomctl serve: {name} listening on http://{addr}");
    tracing::info!(replica = %name, %addr, "serving");
    let worker = Worker {
        cfg,
        pool: pool.clone(),
        shells,
        queue: queue.clone(),
        interval: a.interval,
        jitter: a.jitter,
        backoff: server::queue::Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        },
        status,
        metrics,
        fleet,
        replica: replica.clone(),
        after_pass: None,
    };
    let worker = tokio::spawn(worker.run(stop_rx.clone()));
    if !a.no_health_checks {
        let health = server::health_loop::HealthLoop {
            pool: pool.clone(),
            client: crate::health::HealthClient::new(a.health_connect_to)
                .map_err(|e| anyhow::anyhow!("health check client: {e}"))?,
            desired_dir: files.good_dir(),
            templates_dir: g.templates.clone(),
            queue: queue.clone(),
            metrics: state.metrics.clone(),
            replica: replica.clone(),
        };
        tokio::spawn(health.run(stop_rx.clone()));
    }
    let helpers = [
        tokio::spawn(server::files::watch(
            files.clone(),
            queue.clone(),
            a.debounce,
            stop_rx.clone(),
        )),
        tokio::spawn(server::leader::forward(
            pool.clone(),
            name.clone(),
            queue.clone(),
            leader_rx.clone(),
            stop_rx.clone(),
        )),
        tokio::spawn(server::leader::listen(
            url,
            name.clone(),
            queue.clone(),
            leader_rx,
            stop_rx.clone(),
        )),
    ];
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing the actions in flight");
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
    for h in helpers {
        let _ = h.await;
    }
    let _ = release_tx.send(true);
    let _ = election.await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// A read-only pass over the whole fleet, as a [`server::view::FleetView`].
fn view_compute(
    cfg: Arc<PassConfig>,
    pool: sqlx::PgPool,
    shells: Arc<dyn ShellSource>,
) -> server::view::Compute {
    Arc::new(move || {
        let (cfg, pool, shells) = (cfg.clone(), pool.clone(), shells.clone());
        Box::pin(async move {
            use crate::reconcile::database::{Scope, run};
            let r = run(&cfg, &pool, &*shells, &Scope::All, false, false)
                .await
                .map_err(|e| crate::db::chain(&e))?;
            let desired = r.desired.ok_or("no desired state")?;
            Ok(server::view::FleetView::build(
                &desired,
                &r.observed,
                &r.plan,
            ))
        })
    })
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
