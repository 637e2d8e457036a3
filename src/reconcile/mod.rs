//! One reconcile pass: observe → plan → (guards) → apply.
//!
//! The CLI's `plan` and `apply`, the sandbox demo and later the daemon all
//! go through here, so they behave the same.

use crate::apply::backup::BackupStore;
use crate::apply::guards::{self, GuardError};
use crate::apply::journal::Journal;
use crate::apply::report::Report;
use crate::apply::{ApplyOptions, Shells};
use crate::desired::Desired;
use crate::domain::InstanceId;
use crate::observed::Observed;
use crate::observed::fleet::{ObserveOptions, observe};
use crate::plan::{Plan, plan};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Everything a reconcile pass needs.
pub struct Reconciler {
    /// The desired state.
    pub desired: Arc<Desired>,
    /// One shell per host.
    pub shells: Shells,
    /// The create journal.
    pub journal: Journal,
    /// The backup store.
    pub backups: BackupStore,
    /// Observation options.
    pub observe: ObserveOptions,
    /// Retries after the first attempt of a command, for transient failures.
    pub retries: u32,
    /// First retry backoff.
    pub backoff: Duration,
    /// When set, only these instances are planned and applied (see
    /// [`Plan::scoped`]); the rest of the fleet is observed, for placement,
    /// but left alone.
    pub scope: Option<BTreeSet<InstanceId>>,
}

impl Reconciler {
    /// A reconciler keeping its journal in `state_dir/journal` and backups
    /// in `state_dir/backups`.
    pub fn new(desired: Desired, shells: Shells, state_dir: &Path) -> Self {
        Self {
            desired: Arc::new(desired),
            shells,
            journal: Journal::new(state_dir.join("journal")),
            backups: BackupStore::new(state_dir.join("backups")),
            observe: ObserveOptions::default(),
            retries: 3,
            backoff: Duration::from_millis(500),
            scope: None,
        }
    }

    /// Observes the fleet and plans.
    pub async fn plan(&self) -> (Observed, Plan) {
        let observed = observe(&self.desired, &self.shells, &self.journal, &self.observe).await;
        let p = plan(&self.desired, &observed);
        let p = match &self.scope {
            Some(scope) => p.scoped(scope),
            None => p,
        };
        (observed, p)
    }

    /// Observes, plans, checks the guards and applies. Returns the plan
    /// that was applied and the report.
    pub async fn apply(&self, force: bool) -> Result<(Plan, Report), GuardError> {
        let (_, p, report) = self.apply_observed(force).await?;
        Ok((p, report))
    }

    /// Like [`Reconciler::apply`], also returning what was observed
    /// before applying.
    pub async fn apply_observed(
        &self,
        force: bool,
    ) -> Result<(Observed, Plan, Report), GuardError> {
        let (observed, p) = self.plan().await;
        guards::check(&p, &self.desired.platform, force)?;
        let opts = ApplyOptions {
            retries: self.retries,
            backoff: self.backoff,
            journal: self.journal.clone(),
            backups: self.backups.clone(),
        };
        let report = crate::apply::apply(&p, &self.shells, opts).await;
        Ok((observed, p, report))
    }
}

pub mod database;
