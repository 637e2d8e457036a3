//! Runs health rounds ([`crate::health::run_round`]) every
//! `[platform.health] interval` while this replica leads, feeds the
//! metrics, and queues the restarts a round asks for.

use super::Replica;
use super::metrics::Metrics;
use super::queue::{Reason, WorkQueue};
use crate::domain::InstanceId;
use crate::health::{HealthClient, HealthSettings};
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What the loop needs.
pub struct HealthLoop {
    /// The database.
    pub pool: PgPool,
    /// The checker.
    pub client: HealthClient,
    /// Where the settings are read before each round (the last good
    /// `desired-state/` snapshot), with the templates directory.
    pub desired_dir: PathBuf,
    /// Templates directory.
    pub templates_dir: PathBuf,
    /// The queue restarts go to.
    pub queue: WorkQueue,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// This replica: rounds run only while it leads.
    pub replica: Replica,
}

impl HealthLoop {
    fn settings(&self) -> HealthSettings {
        match crate::desired::load_parts(&self.desired_dir, &self.templates_dir) {
            Ok(p) => p.platform.health,
            Err(e) => {
                tracing::warn!(problems = %e, "health checks use default settings: desired state unreadable");
                HealthSettings::default()
            }
        }
    }

    /// Runs rounds until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut leader = self.replica.leader.clone();
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                r = leader.wait_for(|l| *l) => if r.is_err() { return },
            }
            let settings = self.settings();
            match crate::health::run_round(&self.pool, &settings, &self.client).await {
                Ok(round) => {
                    self.metrics
                        .health(round.healthy, round.unhealthy, round.unknown);
                    tracing::info!(
                        healthy = round.healthy,
                        unhealthy = round.unhealthy,
                        unknown = round.unknown,
                        reported = round.reported.len(),
                        "health round finished"
                    );
                    for id in &round.restart {
                        if let Ok(id) = InstanceId::parse(id) {
                            tracing::warn!(instance = %id, "unhealthy too long: restart queued");
                            self.queue.instance(id, Reason::Health);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %crate::db::chain(&e), transient = e.is_transient(), "health round failed");
                }
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(settings.interval) => {}
            }
        }
    }
}
