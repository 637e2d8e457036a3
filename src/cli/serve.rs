//! `roomctl serve`: the always-on reconciler, its HTTP server and its
//! background loops, until SIGINT or SIGTERM.

use super::database::{CachedShells, DbArgs, pass_config};
use super::{Connect, Global};
use crate::db;
use crate::desired::load_parts;
use crate::reconcile::database::{PassConfig, ShellSource};
use crate::server::{self, AppState, Replica, WorkQueue, Worker, WorkerStatus};
use crate::webhook::{ApiKey, Processor, StripeApi, Verifier, WebhookSecret};
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Time a client has to send a request header; a connection that
    /// sends none in time is closed.
    #[arg(long, env = "ROOMCTL_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,
    /// A connection that moves no byte for this long is closed.
    #[arg(long, env = "ROOMCTL_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// Connections served at once; more wait until one closes.
    #[arg(long, env = "ROOMCTL_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
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
    // The daemon never waits inside a pass: certificate orders and new
    // servers are finished by passes it queues for later.
    cfg.acme.staged = true;
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
    let limits = server::http::HttpLimits {
        header_read_timeout: a.header_read_timeout,
        idle_timeout: a.idle_timeout,
        max_connections: a.max_connections as usize,
    };
    let stopped = async move {
        let _ = http_stop.wait_for(|s| *s).await;
    };
    server::http::serve(listener, server::router(state), limits, stopped)
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
