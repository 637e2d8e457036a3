//! The worker as `roomctl serve` runs it, with the application state the
//! router shares, and a sampler that notes when each pass started and
//! ended.

use super::fleet::Fleet;
use roomctl::server::view::FleetCache;
use roomctl::server::{self, AppState, Replica, WorkQueue, Worker, WorkerStatus};
use roomctl::webhook::{Processor, Verifier, WebhookSecret};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The webhook signing secret.
pub const SECRET: &str = "whsec_bench_serve";

/// The worker running, and when each of its passes started and ended
/// (sampled from its status every millisecond).
pub struct Running {
    /// The work queue.
    pub queue: WorkQueue,
    /// The worker's status.
    pub status: Arc<Mutex<WorkerStatus>>,
    /// The fleet view the full passes store.
    pub cache: Arc<FleetCache>,
    /// When each pass started.
    pub starts: Arc<Mutex<Vec<Instant>>>,
    ends: Arc<Mutex<Vec<Instant>>>,
    stop: tokio::sync::watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts a worker as `roomctl serve` does (solo leader, one-hour
    /// timer so only our pushes run, no after-pass hook).
    pub fn start(
        f: &Fleet,
        shells: Arc<dyn roomctl::reconcile::database::ShellSource>,
        queue: WorkQueue,
        state: &AppState,
    ) -> Self {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let worker = Worker {
            cfg: f.cfg.clone(),
            pool: f.pool.clone(),
            shells,
            queue: queue.clone(),
            interval: Duration::from_secs(3600),
            jitter: Duration::ZERO,
            backoff: server::queue::Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
            status: state.status.clone(),
            metrics: state.metrics.clone(),
            fleet: state.fleet.clone(),
            replica: Replica::solo("bench"),
            after_pass: None,
        };
        let worker = tokio::spawn(worker.run(stop_rx));
        let (starts, ends) = (Arc::default(), Arc::default());
        let sampler = tokio::spawn({
            let (status, starts, ends): (_, Arc<Mutex<Vec<_>>>, Arc<Mutex<Vec<_>>>) =
                (state.status.clone(), Arc::clone(&starts), Arc::clone(&ends));
            async move {
                loop {
                    let (s, e) = {
                        let s = status.lock().unwrap();
                        (s.passes_started, s.passes_ok + s.passes_failed)
                    };
                    let now = Instant::now();
                    {
                        let mut st = starts.lock().unwrap();
                        while (st.len() as u64) < s {
                            st.push(now);
                        }
                    }
                    {
                        let mut en = ends.lock().unwrap();
                        while (en.len() as u64) < e {
                            en.push(now);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        Self {
            queue,
            status: state.status.clone(),
            cache: state.fleet.clone(),
            starts,
            ends,
            stop,
            worker,
            sampler,
        }
    }

    /// Passes ended so far.
    pub fn passes(&self) -> usize {
        self.ends.lock().unwrap().len()
    }

    /// When pass `k` (0: the start pass) started.
    pub fn started(&self, k: usize) -> Instant {
        self.starts.lock().unwrap()[k]
    }

    /// Waits for pass `k` to end; returns when it did.
    pub async fn ended(&self, k: usize) -> Instant {
        loop {
            if let Some(t) = self.ends.lock().unwrap().get(k) {
                return *t;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Waits until the last run's row is finished: the worker is back
    /// at the queue, so the next push meets an idle worker.
    pub async fn idle(&self, pool: &sqlx::PgPool) {
        let last = self.status.lock().unwrap().last_run;
        if let Some(id) = last {
            super::run_row(pool, id).await;
        }
    }

    /// Stops the worker (the pass in flight finishes).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.worker.await;
        self.sampler.abort();
    }
}

/// Application state with a fleet view that is never computed (full
/// passes store theirs).
pub fn app_state(f: &Fleet, queue: WorkQueue) -> AppState {
    let parts = roomctl::desired::load_parts(&f.cfg.desired_dir, &f.cfg.templates_dir).unwrap();
    let cache = Arc::new(FleetCache::new(Arc::new(|| {
        Box::pin(async { Err("no fleet view computed in this benchmark".to_string()) })
    })));
    AppState::new(
        Verifier::new(vec![WebhookSecret::new(SECRET).unwrap()]).unwrap(),
        Processor {
            pool: f.pool.clone(),
            tiers: Arc::new(parts.tiers),
            policy: parts.platform.subscriptions,
            stripe: None,
        },
        f.pool.clone(),
        queue,
        cache,
        Replica::solo("bench"),
        f.cfg.desired_dir.clone(),
    )
}

/// Logs to stderr with the time since start when `ROOMCTL_LOG` is set.
pub fn init_log() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("ROOMCTL_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_timer(tracing_subscriber::fmt::time::Uptime::default())
            .with_writer(std::io::stderr)
            .try_init();
    }
}
