//! `serve-busy`: webhook → first dokku command while the worker is busy
//! (issue 14, finding 11). On the `serve-webhook` fleet (1,000 database
//! instances on 10 sandbox hosts, reads at real Dokku costs), and while
//! all of these are in progress:
//!
//! - **resyncs**, back to back: a full resync is asked for every 100 ms;
//! - **an onboarding**: every 15 s, 5 new file instances are added under
//!   `desired-state/instances/`, which the resyncs create (writes at
//!   `BENCH_WRITE_SCALE` of real costs, default 0.25);
//! - **a server boot**: the pool (`min = 1`, an in-memory cloud) gets a
//!   server at the first resync that never answers during the run, so it
//!   stays booting (each resync tries it once, and asks to look again);
//!
//! signed `customer.subscription.created` deliveries go through the real
//! router, one at a time, each once the previous customer's pass ended.
//! Timed: from the delivery leaving the client to the first dokku command
//! naming the new instance's apps. Target: p99 under 500 ms. Also counted:
//! deliveries sent while a resync ran, and the resyncs, onboarded apps and
//! booting servers meanwhile. `BENCH_WEBHOOKS` (default 50) sets the
//! count. A wildcard certificate order is not run here: it needs an ACME
//! CA, which only the tests start (Pebble); the staged order's own test
//! (`tests/tls_wildcard.rs`) shows that the pass returns without waiting.

use super::fleet::{BenchShells, Fleet};
use super::webhook::{quantiles, send};
use super::worker::{Running, app_state, init_log};
use super::{HOSTS, INSTANCES, gap};
use async_trait::async_trait;
use roomctl::apply::Shells;
use roomctl::desired::{Desired, HostSpec};
use roomctl::hetzner::{Cloud, CloudError, CloudServer, CreateServer};
use roomctl::reconcile::Reconciler;
use roomctl::reconcile::database::{PassConfig, ShellSource};
use roomctl::reconcile::pool::{Connect, Provision};
use roomctl::server::{self, Reason, WorkQueue};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The pool's cloud, in memory: a created server is `running` at once.
#[derive(Default)]
struct MemoryCloud {
    servers: Mutex<Vec<CloudServer>>,
}

#[async_trait]
impl Cloud for MemoryCloud {
    async fn servers(&self, _: &str) -> Result<Vec<CloudServer>, CloudError> {
        Ok(self.servers.lock().unwrap().clone())
    }
    async fn create_server(&self, req: &CreateServer) -> Result<CloudServer, CloudError> {
        let mut all = self.servers.lock().unwrap();
        let server = CloudServer {
            id: all.len() as u64 + 1,
            name: req.name.clone(),
            status: "running".into(),
            labels: req.labels.clone(),
            ipv4: Some(std::net::Ipv4Addr::new(198, 51, 100, all.len() as u8 + 1)),
            ipv6: None,
            private_ipv4: None,
            server_type: req.server_type.clone(),
            location: req.location.clone(),
        };
        all.push(server.clone());
        Ok(server)
    }
    async fn delete_server(&self, id: u64) -> Result<(), CloudError> {
        self.servers.lock().unwrap().retain(|s| s.id != id);
        Ok(())
    }
}

/// The bench's shells, with the pool: new servers never answer.
struct BusyShells {
    inner: Arc<BenchShells>,
    cloud: Arc<MemoryCloud>,
}

impl ShellSource for BusyShells {
    fn shells(&self, desired: &Desired) -> Result<Shells, String> {
        self.inner.shells(desired)
    }
    fn pool(&self, r: &mut Reconciler, _: &PassConfig) -> Result<(), String> {
        r.cloud = Some(self.cloud.clone());
        let connect: Connect =
            Arc::new(|h: &HostSpec| Err(format!("{}: connection refused (booting)", h.name)));
        r.connect = Some(connect);
        r.provision = Some(Provision {
            user_data: Arc::new(|_| Ok(String::new())),
            ssh_keys: Vec::new(),
            firewalls: Vec::new(),
            networks: Vec::new(),
            ready_timeout: Duration::from_secs(1800),
            ready_interval: Duration::from_secs(10),
        });
        Ok(())
    }
}

const POOL: &str = "\n[pool]\nname = \"pool\"\nowner = \"bench\"\nserver_type = \"cx42\"\nlocation = \"fsn1\"\nmemory = \"8g\"\nmin = 1\nmax = 2\n";

async fn resyncs_running(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "select count(*) from reconcile_runs where scope like 'all%' and finished_at is null",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn customer_passes_running(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "select count(*) from reconcile_runs where scope not like 'all%' and finished_at is null",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// `serve-busy`.
pub async fn busy() {
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("BENCH_WEBHOOKS", 50.0) as usize;
    let scale = env("BENCH_WRITE_SCALE", 0.25);
    println!(
        "== serve-busy: webhook → first dokku command while resyncs, an onboarding and a server boot run; {INSTANCES} database instances on {HOSTS} sandbox hosts, real Dokku costs (reads), writes x{scale}"
    );
    init_log();
    let Some(mut f) = Fleet::setup("serve-busy", INSTANCES, HOSTS).await else {
        return;
    };
    let hosts = f.cfg.desired_dir.join("hosts.toml");
    let text = std::fs::read_to_string(&hosts).unwrap();
    std::fs::write(&hosts, text + POOL).unwrap();
    f.cfg = Arc::new(PassConfig {
        desired_dir: f.cfg.desired_dir.clone(),
        templates_dir: f.cfg.templates_dir.clone(),
        root: f.cfg.root.clone(),
        state_dir: f.cfg.state_dir.clone(),
        retries: f.cfg.retries,
        backoff: f.cfg.backoff,
        deep: false,
        nginx_test: f.cfg.nginx_test,
        acme: roomctl::apply::certs::AcmeOptions {
            staged: true,
            ..Default::default()
        },
        memo: Default::default(),
    });
    let inner = Arc::new(BenchShells::new(&f.desired, f.dir.path(), true, scale));
    let cloud = Arc::new(MemoryCloud::default());
    let shells = Arc::new(BusyShells {
        inner: inner.clone(),
        cloud: cloud.clone(),
    });
    let queue = WorkQueue::default();
    let state = app_state(&f, queue.clone());
    let run = Running::start(&f, shells, queue.clone(), &state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = server::router(Arc::new(state));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = format!("{base}/webhooks/stripe");
    let client = reqwest::Client::new();
    client.get(format!("{base}/healthz")).send().await.unwrap();
    run.ended(0).await;

    let instances_dir = f.cfg.desired_dir.join("instances");
    let load = tokio::spawn({
        let queue = queue.clone();
        async move {
            let mut batch = 0usize;
            let mut next_batch = Instant::now();
            loop {
                if Instant::now() >= next_batch {
                    let toml: String = (0..5)
                        .map(|i| format!("[[instance]]\nid = \"onb{batch:03}x{i}\"\n\n"))
                        .collect();
                    std::fs::write(instances_dir.join(format!("onboard-{batch:03}.toml")), toml)
                        .unwrap();
                    batch += 1;
                    next_batch += Duration::from_secs(15);
                }
                queue.full(Reason::Timer);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    // Let the first resync create the server and start onboarding.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let mut lat = Vec::new();
    let (mut during_resync, mut during_onboarding) = (0, 0);
    let started = Instant::now();
    for k in 0..n {
        while customer_passes_running(&f.pool).await > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let resync = resyncs_running(&f.pool).await > 0;
        let onboarding = inner.log.first("onb").is_some();
        let (t0, _, app) = send(&client, &url, &f.pool, 10_000 + k).await;
        let t1 = loop {
            match inner.log.first(&format!("{app}-")) {
                Some(t) => break t,
                None => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        };
        during_resync += usize::from(resync);
        during_onboarding += usize::from(onboarding);
        lat.push(gap(t0, t1));
        if std::env::var("BENCH_VERBOSE").is_ok() {
            println!(
                "    {k}: {app} {:.0} ms, resync running: {resync}",
                gap(t0, t1)
            );
        }
    }
    load.abort();
    let runs: Vec<(String, i64)> = sqlx::query_as(
        "select case when scope like 'all%' then 'resync' else 'customer' end || ' ' || outcome, count(*)
           from reconcile_runs group by 1 order by 1",
    )
    .fetch_all(&f.pool)
    .await
    .unwrap();
    let onboarded = std::fs::read_dir(f.dir.path().join("hosts"))
        .unwrap()
        .flatten()
        .flat_map(|h| {
            std::fs::read_dir(h.path().join("fs/home/dokku"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("onb"))
        .count();
    println!(
        "  {n} deliveries in {:.0} s, one at a time: {during_resync} sent while a resync ran, {during_onboarding} while the onboarding was under way",
        started.elapsed().as_secs_f64()
    );
    quantiles("webhook → first dokku command", &mut lat);
    println!(
        "  meanwhile: pool servers created {} (all still booting), onboarded apps {onboarded}, runs {runs:?}",
        cloud.servers.lock().unwrap().len()
    );
    run.stop().await;
    f.drop_database().await;
}
