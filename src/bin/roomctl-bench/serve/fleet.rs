//! The fleet both `serve` benchmarks run on, and the shells they watch it
//! through.
//!
//! [`Fleet::setup`] makes a fresh database (migrated) in
//! `BENCH_DATABASE_URL`'s server holding 1,000 active subscriptions with
//! one instance each (inserted in one statement), a desired-state
//! directory with 10 big sandbox hosts, no file instances and
//! [`PRICE`] mapped to `starter`, and converges the hosts once with one
//! database pass, the emulator's costs off.
//!
//! [`BenchShells`] are what the worker then uses: per host, a
//! [`Recorder`] counted by [`Counting`]. The recorder keeps the host's 8
//! sessions, charges reads at real Dokku's costs and writes at real costs
//! or scaled down ([`BenchShells::real_writes`]), and logs when each
//! command ran ([`Log`]).

use crate::{Scratch, emulator, repo};
use async_trait::async_trait;
use roomctl::apply::Shells;
use roomctl::desired::{Desired, RootSecret};
use roomctl::dokku::CommandLine;
use roomctl::reconcile::database::{self, PassConfig, RunOptions, Scope, ShellSource};
use roomctl::ssh::{Counters, Counting, LocalShell, Output, RemoteShell, ShellError};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The price of the webhook deliveries; the bench's `tiers.toml` maps it
/// to `starter`.
pub const PRICE: &str = "price_bench_starter";

/// The database, the desired state and the sandbox hosts of one run.
pub struct Fleet {
    /// Holds `desired/`, `hosts/` (the emulator's) and `state/`.
    pub dir: Scratch,
    /// The benchmark's own database.
    pub pool: PgPool,
    /// The server's `postgres` database, to drop ours at the end.
    admin: PgPool,
    /// Our database's name.
    name: String,
    /// What the worker's passes read.
    pub cfg: Arc<PassConfig>,
    /// The files' desired state (hosts only).
    pub desired: Desired,
}

impl Fleet {
    /// Sets everything up and converges, or says why not and returns
    /// `None` (no `BENCH_DATABASE_URL`).
    pub async fn setup(what: &str, instances: usize, hosts: usize) -> Option<Self> {
        let Ok(base) = std::env::var("BENCH_DATABASE_URL") else {
            eprintln!(
                "{what}: skipped; set BENCH_DATABASE_URL to a PostgreSQL server URL (a fresh database is created there)"
            );
            return None;
        };
        let admin = roomctl::db::connect(&base, 1, Duration::from_secs(10))
            .await
            .expect("bench database server");
        let name = format!("bench_{}_{}", what.replace('-', "_"), std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("BENCH_DATABASE_URL must end in /DATABASE"),
        };
        // As many connections as `roomctl serve` opens.
        let pool = roomctl::db::connect(&url, 10, Duration::from_secs(10))
            .await
            .unwrap();
        roomctl::db::migrate(&pool).await.unwrap();
        let t = Instant::now();
        insert_instances(&pool, instances).await;
        println!(
            "  {instances} database instances inserted in {:.3}s (one statement)",
            t.elapsed().as_secs_f64()
        );

        let dir = Scratch::new();
        let desired = crate::desired_dir(dir.path(), hosts, "256g", 0);
        let tiers_path = dir.path().join("desired/tiers.toml");
        let tiers = std::fs::read_to_string(&tiers_path).unwrap().replace(
            "[tier.starter]\n",
            &format!("[tier.starter]\nstripe_prices = [\"{PRICE}\"]\n"),
        );
        std::fs::write(&tiers_path, tiers).unwrap();
        let cfg = Arc::new(PassConfig {
            desired_dir: dir.path().join("desired"),
            templates_dir: repo("templates"),
            root: RootSecret::new("benchmark-root-secret-0123456789abcdef").unwrap(),
            state_dir: dir.path().join("state"),
            retries: 3,
            backoff: Duration::from_millis(500),
            deep: false,
            nginx_test: roomctl::desired::nginx::NginxTest::IfInstalled,
            acme: Default::default(),
            memo: Default::default(),
        });
        let fleet = Self {
            dir,
            pool,
            admin,
            name,
            cfg,
            desired,
        };
        fleet.converge().await;
        Some(fleet)
    }

    /// One database pass that creates every instance, costs off.
    async fn converge(&self) {
        let t = Instant::now();
        let shells = BenchShells::new(&self.desired, self.dir.path(), false, 1.0);
        let opts = RunOptions {
            apply: true,
            ..RunOptions::default()
        };
        let r = database::run_with(&self.cfg, &self.pool, &shells, &Scope::All, &opts)
            .await
            .unwrap_or_else(|e| panic!("converging: {}", roomctl::db::chain(&e)));
        assert_eq!(r.report.failed(), 0, "{}", r.report.table());
        println!(
            "  converged (costs off): created {} apps in {:.1}s",
            r.plan.summary().create,
            t.elapsed().as_secs_f64()
        );
    }

    /// Closes the pool and drops the database.
    pub async fn drop_database(self) {
        self.pool.close().await;
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database {} with (force)",
            self.name
        )))
        .execute(&self.admin)
        .await;
    }
}

/// `n` accounts, each with an active free-tier subscription and one
/// instance `f000001`…, in one statement.
async fn insert_instances(pool: &PgPool, n: usize) {
    sqlx::query(
        "with a as (
             insert into public.accounts (stripe_customer_id, email)
             select 'cus_fleet_' || g, 'fleet' || g || '@example.com'
               from generate_series(1, $1) g
             returning id, stripe_customer_id
         ), s as (
             insert into public.subscriptions
                 (account_id, stripe_subscription_id, tier, status, last_stripe_event_at)
             select id, replace(stripe_customer_id, 'cus_', 'sub_'),
                    'free'::public.subscription_tier, 'active'::public.subscription_status, now()
               from a
             returning id, stripe_subscription_id
         )
         insert into public.instances (subscription_id, app_name, subdomain)
         select id, name, name
           from (select id, 'f' || lpad(split_part(stripe_subscription_id, '_', 3), 6, '0') as name
                   from s) x",
    )
    .bind(i32::try_from(n).expect("instances fit i32"))
    .execute(pool)
    .await
    .unwrap();
}

/// One command's time on a host.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// When it started (a session was free).
    pub start: Instant,
    /// When it returned.
    pub end: Instant,
    /// Whether it changes state.
    pub write: bool,
}

/// When commands ran, on every host.
#[derive(Default)]
pub struct Log {
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    /// Every word that may be an app name → when a command first named it.
    first: BTreeMap<String, Instant>,
    spans: Vec<Span>,
}

impl Log {
    fn started(&self, cmd: &CommandLine) -> Instant {
        let now = Instant::now();
        let mut l = self.inner.lock().expect("log lock");
        for w in cmd.words() {
            if !w.starts_with('-') && !w.contains(['=', ':', ' ']) && w.len() < 64 {
                l.first.entry(w.to_string()).or_insert(now);
            }
        }
        now
    }

    fn ended(&self, start: Instant, write: bool) {
        let end = Instant::now();
        let mut l = self.inner.lock().expect("log lock");
        l.spans.push(Span { start, end, write });
    }

    /// When a command first named an app starting with `prefix`.
    pub fn first(&self, prefix: &str) -> Option<Instant> {
        let l = self.inner.lock().expect("log lock");
        l.first
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, t)| *t)
            .min()
    }

    /// The spans so far, forgetting them.
    pub fn take_spans(&self) -> Vec<Span> {
        std::mem::take(&mut self.inner.lock().expect("log lock").spans)
    }
}

/// One host's shell: the emulator with the host's 8 sessions, reads and
/// writes charged separately, every command logged.
struct Recorder {
    reads: LocalShell,
    writes: LocalShell,
    scaled_writes: LocalShell,
    real_writes: Arc<AtomicBool>,
    sessions: tokio::sync::Semaphore,
    log: Arc<Log>,
}

impl Recorder {
    async fn run(&self, cmd: &CommandLine, input: Option<&[u8]>) -> Result<Output, ShellError> {
        let _session = self.sessions.acquire().await.expect("never closed");
        let write = roomctl::emulator::costs::is_write(cmd.subcommand());
        let shell = match (write, self.real_writes.load(Ordering::Relaxed)) {
            (false, _) => &self.reads,
            (true, true) => &self.writes,
            (true, false) => &self.scaled_writes,
        };
        let start = self.log.started(cmd);
        let out = match input {
            Some(i) => shell.exec_input(cmd, i).await,
            None => shell.exec(cmd).await,
        };
        self.log.ended(start, write);
        out
    }
}

#[async_trait]
impl RemoteShell for Recorder {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        self.run(cmd, None).await
    }
    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError> {
        self.run(cmd, Some(input)).await
    }
    fn max_parallel(&self) -> usize {
        8
    }
    /// The fence, held as on a real host (charged as a read).
    async fn hold(&self, cmd: &CommandLine) -> Result<Option<roomctl::ssh::Held>, ShellError> {
        self.reads.hold(cmd).await
    }
}

/// The worker's shells: the same ones every pass, as `serve` keeps its
/// SSH connections between passes.
pub struct BenchShells {
    shells: Shells,
    /// Invocations per host, by subcommand.
    pub counters: BTreeMap<String, Arc<Counters>>,
    /// When each command ran.
    pub log: Arc<Log>,
    /// Writes at real costs (true) or at the scale given to [`Self::new`].
    pub real_writes: Arc<AtomicBool>,
}

impl BenchShells {
    /// Shells for `desired`'s hosts under `dir/hosts`; with `costs`, reads
    /// at real Dokku's costs and writes at `write_scale` of them.
    pub fn new(desired: &Desired, dir: &Path, costs: bool, write_scale: f64) -> Self {
        let (log, real_writes) = (Arc::new(Log::default()), Arc::new(AtomicBool::new(false)));
        let mut shells = Shells::new();
        let mut counters = BTreeMap::new();
        for h in desired.hosts.keys() {
            let local = |scale: f64| {
                let s = LocalShell::new(emulator(), dir.join("hosts").join(h.as_str()), 8)
                    .with_host_name(h.as_str());
                match costs {
                    true => s
                        .with_env("DOKKU_EMU_COSTS", "real")
                        .with_env("DOKKU_EMU_COST_SCALE", scale.to_string()),
                    false => s,
                }
            };
            let c = Counting::new(Recorder {
                reads: local(1.0),
                writes: local(1.0),
                scaled_writes: local(write_scale),
                real_writes: real_writes.clone(),
                sessions: tokio::sync::Semaphore::new(8),
                log: log.clone(),
            });
            counters.insert(h.to_string(), c.counters.clone());
            shells.insert(h.clone(), Arc::new(c) as Arc<dyn RemoteShell>);
        }
        Self {
            shells,
            counters,
            log,
            real_writes,
        }
    }

    /// Forgets the counts and spans so far.
    pub fn reset(&self) {
        for c in self.counters.values() {
            c.reset();
        }
        self.log.take_spans();
    }
}

impl ShellSource for BenchShells {
    fn shells(&self, _: &Desired) -> Result<Shells, String> {
        Ok(self.shells.clone())
    }
}
