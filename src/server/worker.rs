//! The reconcile worker: one pass at a time, woken by the [`Trigger`] or
//! by the timer, until shutdown.

use super::trigger::{Pending, Trigger};
use crate::reconcile::database::{self, PassConfig, Scope, ShellSource};
use serde::Serialize;
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the worker has done, for `/status` and tests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerStatus {
    /// Passes started.
    pub passes_started: u64,
    /// Passes finished without error.
    pub passes_ok: u64,
    /// Passes that failed.
    pub passes_failed: u64,
    /// The last pass's error, if it failed (never holds a secret).
    pub last_error: Option<String>,
    /// How long the last pass took, in milliseconds.
    pub last_pass_ms: Option<u64>,
    /// Milliseconds from the oldest request a pass served (a webhook's
    /// trigger, or the timer) to the pass starting.
    pub last_trigger_latency_ms: Option<u64>,
}

/// The worker.
pub struct Worker {
    /// Pass configuration.
    pub cfg: PassConfig,
    /// The database.
    pub pool: PgPool,
    /// Shells for the hosts.
    pub shells: Arc<dyn ShellSource>,
    /// Wake-ups.
    pub trigger: Trigger,
    /// Time between full passes.
    pub interval: Duration,
    /// Shared status.
    pub status: Arc<Mutex<WorkerStatus>>,
}

impl Worker {
    /// Runs a full pass at once, then passes as triggered or every
    /// `interval`, until `shutdown` turns true. A pass in progress is
    /// finished first: stopping mid-apply would only leave work for the
    /// next start.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        self.trigger.full();
        let mut next_full = tokio::time::Instant::now() + self.interval;
        loop {
            let work: Pending = tokio::select! {
                w = self.trigger.wait() => w,
                _ = tokio::time::sleep_until(next_full) => Pending { full: true, ..Default::default() },
                _ = shutdown.changed() => break,
            };
            if *shutdown.borrow() {
                break;
            }
            let woken = work.since.unwrap_or_else(Instant::now);
            if work.full {
                next_full = tokio::time::Instant::now() + self.interval;
            }
            let scope = if work.full {
                Scope::All
            } else {
                Scope::Accounts(work.accounts)
            };
            self.pass(&scope, woken).await;
        }
        tracing::info!("reconcile worker stopped");
    }

    async fn pass(&self, scope: &Scope, woken: Instant) {
        let started = Instant::now();
        {
            let mut s = self.status.lock().expect("status lock");
            s.passes_started += 1;
            s.last_trigger_latency_ms = Some(ms(started - woken));
        }
        let label = match scope {
            Scope::All => "all".to_string(),
            Scope::Accounts(a) => format!("{} account(s)", a.len()),
        };
        tracing::info!(scope = %label, "reconcile pass started");
        let result = database::run(&self.cfg, &self.pool, &*self.shells, scope, true, false).await;
        let mut s = self.status.lock().expect("status lock");
        s.last_pass_ms = Some(ms(started.elapsed()));
        match result {
            Ok(r) => {
                s.passes_ok += 1;
                s.last_error = None;
                let summary = r.plan.summary();
                tracing::info!(
                    scope = %label,
                    create = summary.create,
                    update = summary.update,
                    stop = summary.stop,
                    destroy = summary.destroy,
                    failed = r.report.failed(),
                    ms = ms(started.elapsed()),
                    "reconcile pass finished"
                );
            }
            Err(e) => {
                s.passes_failed += 1;
                let msg = crate::db::chain(&e);
                s.last_error = Some(msg.clone());
                tracing::error!(scope = %label, error = %msg, transient = e.is_transient(), "reconcile pass failed");
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
