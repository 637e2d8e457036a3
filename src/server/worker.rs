//! The reconcile worker: while this replica leads, takes batches from the
//! [`WorkQueue`] and runs one pass each, one at a time; queues a full
//! resync every `interval` (plus jitter) and at each start of leadership.
//!
//! Every run gets an id: it is on every log line of the run (a `tracing`
//! span), on its `reconcile_runs` row and on its audit rows. On shutdown,
//! or when leadership is lost, the pass in progress starts no new action
//! (the actions in flight finish), is recorded `interrupted`, and the
//! worker stops; the next run, here or on another replica, carries on.

use super::Replica;
use super::metrics::Metrics;
use super::queue::{Backoff, Batch, Lane, Reason, WorkQueue};
use super::view::{FleetCache, FleetView};
use crate::domain::InstanceId;
use crate::reconcile::database::{self, PassConfig, PassResult, RunOptions, Scope, ShellSource};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

/// What the worker has done, for `/status.json` and tests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerStatus {
    /// Passes started.
    pub passes_started: u64,
    /// Passes finished without error.
    pub passes_ok: u64,
    /// Passes that failed.
    pub passes_failed: u64,
    /// The last run's id.
    pub last_run: Option<Uuid>,
    /// The last pass's error, if it failed (never holds a secret).
    pub last_error: Option<String>,
    /// How long the last pass took, in milliseconds.
    pub last_pass_ms: Option<u64>,
    /// Milliseconds from the oldest request a pass served (a webhook's
    /// trigger, or the timer) to the pass starting.
    pub last_trigger_latency_ms: Option<u64>,
}

/// Called after each applied pass with its result (restarts asked for by
/// operators or the health checker run here).
pub type AfterPass = Arc<
    dyn Fn(PassResult) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// The worker.
pub struct Worker {
    /// Pass configuration.
    pub cfg: Arc<PassConfig>,
    /// The database.
    pub pool: PgPool,
    /// Shells for the hosts.
    pub shells: Arc<dyn ShellSource>,
    /// The work queue.
    pub queue: WorkQueue,
    /// Time between full resyncs.
    pub interval: Duration,
    /// Up to this much is added at random to each interval, so replicas
    /// and restarts do not line up.
    pub jitter: Duration,
    /// Wait after a pass that failed as a whole (database down), doubling.
    pub backoff: Backoff,
    /// Shared status.
    pub status: Arc<Mutex<WorkerStatus>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The fleet view cache, refreshed by full passes.
    pub fleet: Arc<FleetCache>,
    /// This replica (the worker runs only while it leads).
    pub replica: Replica,
    /// Runs after each pass.
    pub after_pass: Option<AfterPass>,
}

fn jittered(interval: Duration, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return interval;
    }
    let mut b = [0u8; 8];
    let r = getrandom::fill(&mut b).map_or(0, |()| u64::from_le_bytes(b));
    let nanos = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX).max(1);
    interval + Duration::from_nanos(r % nanos)
}

/// Why a lane stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneEnd {
    /// Shutdown.
    Stop,
    /// Leadership lost.
    Lost,
}

impl Worker {
    /// Runs until `shutdown` turns true. While this replica leads, two
    /// lanes run side by side, each one pass at a time: full resyncs
    /// (timer, start, "look again" requests) and targeted passes
    /// (webhooks, files, operators, retries), so a webhook never waits
    /// behind a resync. They share this process's host fences, and claims
    /// keep them off each other's instances ([`super::queue::Claims`]).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut leader = self.replica.leader.clone();
        let fences = Arc::new(crate::apply::fence::FenceShare::default());
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                r = leader.wait_for(|l| *l) => if r.is_err() { break },
            }
            tracing::info!(replica = %self.replica.name, "leading: reconciling");
            super::runs::close_abandoned(&self.pool).await;
            self.queue.full(Reason::Start);
            let (full, targeted) = tokio::join!(
                self.lane(Lane::Full, &fences, &shutdown, &leader),
                self.lane(Lane::Targeted, &fences, &shutdown, &leader),
            );
            if full == LaneEnd::Stop || targeted == LaneEnd::Stop {
                break;
            }
            tracing::warn!(replica = %self.replica.name, "no longer the leader: reconciling stops");
        }
        tracing::info!("reconcile worker stopped");
    }

    /// One lane: takes its batches and runs them, until shutdown or
    /// leadership is lost. The full lane also keeps the resync timer.
    async fn lane(
        &self,
        lane: Lane,
        fences: &Arc<crate::apply::fence::FenceShare>,
        shutdown: &watch::Receiver<bool>,
        leader: &watch::Receiver<bool>,
    ) -> LaneEnd {
        let (mut shutdown, timer) = (shutdown.clone(), lane == Lane::Full);
        let mut errors = 0u32;
        let mut next_full = Instant::now() + jittered(self.interval, self.jitter);
        loop {
            let batch = tokio::select! {
                b = self.queue.next_lane(lane) => b,
                _ = tokio::time::sleep_until(next_full), if timer => {
                    self.queue.full(Reason::Timer);
                    next_full = Instant::now() + jittered(self.interval, self.jitter);
                    continue;
                }
                _ = shutdown.wait_for(|s| *s) => return LaneEnd::Stop,
                _ = super::lost(leader.clone()) => return LaneEnd::Lost,
            };
            if batch.full {
                next_full = Instant::now() + jittered(self.interval, self.jitter);
            }
            let ok = self.pass(&batch, fences, &shutdown, leader).await;
            if ok {
                errors = 0;
                continue;
            }
            errors += 1;
            let wait = self.backoff.wait(errors);
            tracing::warn!(wait_ms = ms(wait), "pass failed; waiting before the next");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => return LaneEnd::Stop,
            }
        }
    }

    /// One run; false when it failed as a whole (its work is queued again).
    async fn pass(
        &self,
        batch: &Batch,
        fences: &Arc<crate::apply::fence::FenceShare>,
        shutdown: &watch::Receiver<bool>,
        leader: &watch::Receiver<bool>,
    ) -> bool {
        let run = Uuid::new_v4();
        let trigger = batch.reason().as_str();
        let scope = match batch.full {
            true => Scope::AllExcept(batch.excluded.clone()),
            false => Scope::Some {
                accounts: batch.accounts.clone(),
                instances: batch.instances.clone(),
            },
        };
        let span = tracing::info_span!("reconcile", run = %run, trigger);
        async {
            let halt = Arc::new(AtomicBool::new(false));
            let watcher = tokio::spawn({
                let (halt, mut s, l) = (halt.clone(), shutdown.clone(), leader.clone());
                async move {
                    tokio::select! {
                        r = async { s.wait_for(|s| *s).await.is_err() } => if r { std::future::pending::<()>().await },
                        _ = super::lost(l) => {}
                    }
                    halt.store(true, Ordering::SeqCst);
                }
            });
            let started = Instant::now();
            let latency = batch.since.map(|t| started.saturating_duration_since(t));
            {
                let mut s = self.status.lock().expect("status lock");
                s.passes_started += 1;
                s.last_run = Some(run);
                s.last_trigger_latency_ms = latency.map(ms);
            }
            let label = scope.label(None);
            tracing::info!(scope = %label, "reconcile run started");
            super::runs::start(&self.pool, run, &self.replica.name, trigger, &label).await;
            let claims = Arc::new(self.queue.claims());
            let opts = RunOptions {
                apply: true,
                force: false,
                run: Some(run),
                halt: Some(halt.clone()),
                recent: match batch.full {
                    true => None,
                    false => self.fleet.observed(self.interval * 2),
                },
                claims: Some(claims.clone()),
                fences: Some(fences.clone()),
                reserve: batch.full,
            };
            let result =
                database::run_with(&self.cfg, &self.pool, &*self.shells, &scope, &opts).await;
            drop(opts);
            if let Ok(r) = &result {
                claims.requeue(batch.reason());
                if let Some(at) = r.report.look_again() {
                    let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                    tracing::info!(wait_ms = ms(wait), waiting = r.report.waiting.len(), "started work a later pass finishes: looking again then");
                    self.queue.full_at(Instant::now() + wait);
                }
            }
            drop(claims);
            watcher.abort();
            let halted = halt.load(Ordering::SeqCst);
            let secs = started.elapsed().as_secs_f64();
            self.status.lock().expect("status lock").last_pass_ms = Some(ms(started.elapsed()));
            match result {
                Ok(r) => {
                    self.finished(batch, &r, run, trigger, halted, secs).await;
                    if let Some(hook) = &self.after_pass
                        && !halted
                    {
                        hook(r).await;
                    }
                    true
                }
                Err(e) => {
                    let msg = crate::db::chain(&e);
                    let outcome = match e {
                        database::PassError::Guard(_) => "refused",
                        _ => "failed",
                    };
                    tracing::error!(error = %msg, transient = e.is_transient(), "reconcile run failed");
                    {
                        let mut s = self.status.lock().expect("status lock");
                        s.passes_failed += 1;
                        s.last_error = Some(msg.clone());
                    }
                    self.metrics.run(trigger, outcome, secs);
                    super::runs::finish(&self.pool, run, outcome, (0, 0, 0), Some(&msg)).await;
                    if e.is_transient() {
                        requeue(&self.queue, batch);
                    }
                    !e.is_transient()
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn finished(
        &self,
        batch: &Batch,
        r: &PassResult,
        run: Uuid,
        trigger: &str,
        halted: bool,
        secs: f64,
    ) {
        let failed: BTreeSet<InstanceId> = r
            .report
            .rows
            .iter()
            .filter(|row| matches!(row.outcome, crate::apply::report::Outcome::Failed { .. }))
            .map(|row| row.instance.clone())
            .collect();
        let scope: BTreeSet<InstanceId> = match (&r.ids, &r.desired) {
            (Some(ids), _) => ids.clone(),
            (None, Some(d)) => d.instances.keys().cloned().collect(),
            (None, None) => BTreeSet::new(),
        };
        let ok: BTreeSet<InstanceId> = scope
            .difference(&failed)
            .filter(|i| !r.report.deferred.contains(*i))
            .cloned()
            .collect();
        if halted {
            requeue(&self.queue, batch);
        } else {
            self.queue.finished(&ok, &failed);
        }
        let applied = r
            .report
            .rows
            .iter()
            .filter(|row| matches!(row.outcome, crate::apply::report::Outcome::Done))
            .count();
        let planned = r.report.rows.len();
        let bad = r.report.failed()
            + r.report.dns_failed()
            + r.report
                .servers
                .iter()
                .filter(|s| s.error.is_some())
                .count();
        let outcome = match (halted, bad) {
            (true, _) => "interrupted",
            (false, 0) => "ok",
            (false, _) => "partial",
        };
        self.metrics.actions(&r.plan, &r.report);
        self.metrics.run(trigger, outcome, secs);
        if let Some(d) = &r.desired {
            let after = |o: &crate::observed::Observed| {
                crate::observed::focus::with_created(o, d, &r.plan, &r.report)
            };
            match batch.full {
                true => self.fleet.put_observed(after(&r.observed)),
                false => self.fleet.update_observed(after),
            }
        }
        if batch.full
            && let Some(d) = &r.desired
        {
            let view = FleetView::build(d, &r.observed, &r.plan);
            self.metrics.fleet(view.drifted.len(), view.unknown_hosts);
            if view.changes == 0 {
                self.fleet.put(view);
            } else {
                self.fleet.invalidate();
            }
        } else if planned > 0 {
            self.fleet.invalidate();
        }
        {
            let mut s = self.status.lock().expect("status lock");
            s.passes_ok += 1;
            s.last_error = None;
        }
        let summary = r.plan.summary();
        tracing::info!(
            outcome,
            create = summary.create,
            update = summary.update,
            stop = summary.stop,
            destroy = summary.destroy,
            dns = summary.dns,
            failed = failed.len(),
            ms = (secs * 1000.0) as u64,
            "reconcile run finished"
        );
        let counts = (planned, applied, r.report.failed());
        super::runs::finish(&self.pool, run, outcome, counts, None).await;
    }
}

/// Puts a batch that did not run back in the queue.
fn requeue(queue: &WorkQueue, b: &Batch) {
    let reason = b.reason();
    if b.full {
        queue.full(reason);
    }
    for a in &b.accounts {
        queue.account(*a, reason);
    }
    for i in &b.instances {
        queue.instance(i.clone(), reason);
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
