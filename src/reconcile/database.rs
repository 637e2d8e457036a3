//! A reconcile pass whose desired state includes the subscriptions
//! database, followed by the write-back of what happened.
//!
//! Every pass re-reads `desired-state/` and the database, so operator
//! edits and Stripe changes both take effect. A pass may be scoped to some
//! accounts: the whole fleet is still observed (placement needs every
//! host's load) but only those accounts' instances are planned, applied
//! and written back.

use super::Reconciler;
use crate::apply::Shells;
use crate::apply::guards::GuardError;
use crate::apply::report::Report;
use crate::db::DbError;
use crate::db::lifecycle::Want;
use crate::db::source::{DatabaseSource, Snapshot};
use crate::db::writeback::{self, Outcomes};
use crate::desired::{Desired, DesiredError, RootSecret, load_parts};
use crate::dns::DnsProvider;
use crate::domain::InstanceId;
use crate::plan::Plan;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// Which instances a pass touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every instance of every source.
    All,
    /// Every instance but these (instances backing off after failures).
    AllExcept(BTreeSet<InstanceId>),
    /// Only the database instances of these accounts.
    Accounts(BTreeSet<Uuid>),
    /// The database instances of `accounts`, and `instances` from any
    /// source.
    Some {
        /// Accounts whose instances run.
        accounts: BTreeSet<Uuid>,
        /// Instances that run.
        instances: BTreeSet<InstanceId>,
    },
}

impl Scope {
    /// `all`, `all but N`, or the instance ids, for logs and the run table.
    pub fn label(&self, ids: Option<&BTreeSet<InstanceId>>) -> String {
        match (self, ids) {
            (Scope::All, _) => "all".into(),
            (Scope::AllExcept(x), _) if x.is_empty() => "all".into(),
            (Scope::AllExcept(x), _) => format!("all but {}", join(x)),
            (_, Some(ids)) => join(ids),
            (Scope::Accounts(a), None) => format!("{} account(s)", a.len()),
            (
                Scope::Some {
                    accounts,
                    instances,
                },
                None,
            ) => match (accounts.len(), instances.is_empty()) {
                (0, _) => join(instances),
                (n, true) => format!("{n} account(s)"),
                (n, false) => format!("{}; {n} account(s)", join(instances)),
            },
        }
    }
}

fn join(ids: &BTreeSet<InstanceId>) -> String {
    ids.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(",")
}

/// How a pass applies.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Apply (false: plan only).
    pub apply: bool,
    /// Override the destroy guards.
    pub force: bool,
    /// The run's id, stored on its audit rows.
    pub run: Option<Uuid>,
    /// Stops the apply after the actions in flight (see `Reconciler::halt`).
    pub halt: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// A recent full observation: a scoped run reads in full only the
    /// hosts where its instances live (see [`crate::observed::focus`]).
    pub recent: Option<Arc<crate::observed::Observed>>,
    /// Claims the instances the plan changes, among passes that run at
    /// once ([`super::Claim`]).
    pub claims: Option<Arc<dyn super::Claim>>,
    /// Fences shared with the process's other passes.
    pub fences: Option<Arc<crate::apply::fence::FenceShare>>,
    /// Run at most one command fewer at once per host than the host
    /// allows ([`crate::ssh::Reserve`]): a resync beside webhook passes.
    pub reserve: bool,
}

/// Builds one shell per host of a desired state, and its DNS provider.
pub trait ShellSource: Send + Sync {
    /// The shells for `desired`'s hosts, or why they cannot be built.
    fn shells(&self, desired: &Desired) -> Result<Shells, String>;

    /// The DNS provider for `desired`'s zone, if any (none by default).
    fn dns(&self, desired: &Desired) -> Result<Option<Arc<dyn DnsProvider>>, String> {
        let _ = desired;
        Ok(None)
    }

    /// Sets up `r`'s pool (cloud, shells to pool servers, provisioning of
    /// new ones) for `cfg`; nothing by default.
    fn pool(&self, r: &mut Reconciler, cfg: &PassConfig) -> Result<(), String> {
        let _ = (r, cfg);
        Ok(())
    }
}

/// What a pass needs besides the database.
pub struct PassConfig {
    /// The `desired-state/` directory.
    pub desired_dir: PathBuf,
    /// The templates directory.
    pub templates_dir: PathBuf,
    /// Root secret for derived secrets.
    pub root: RootSecret,
    /// roomctl's state directory (journal, backups).
    pub state_dir: PathBuf,
    /// Retries after a command's first attempt.
    pub retries: u32,
    /// First retry backoff.
    pub backoff: std::time::Duration,
    /// Re-read every per-app fact instead of trusting the applied digest.
    pub deep: bool,
    /// Whether a missing `nginx` binary fails the pass (real hosts) or
    /// only weakens the snippet check (the sandbox).
    pub nginx_test: crate::desired::nginx::NginxTest,
    /// The ACME client's deployment options (wildcard mode). With
    /// [`AcmeOptions::staged`](crate::apply::certs::AcmeOptions::staged)
    /// no pass waits: neither for an order's DNS nor for a new server.
    pub acme: crate::apply::certs::AcmeOptions,
    /// Instance renderings shared by the passes of this process, so a
    /// pass re-renders only what changed since the last one.
    pub memo: Arc<crate::desired::RenderMemo>,
}

/// A failed pass. Nothing was applied unless the error says so.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The desired state (files or database rows) is invalid.
    /// (The problems are the message, not a source: they are shown once.)
    #[error("desired state is invalid:\n{0}")]
    Desired(DesiredError),
    /// The database could not be read or written.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The shells could not be built.
    #[error("cannot reach the hosts: {0}")]
    Shells(String),
    /// A destroy guard refused the plan; nothing was applied.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// The apply ran but its outcome could not be written back; the next
    /// pass recomputes it.
    #[error("applied, but writing the outcome back failed")]
    WriteBack(#[source] DbError),
}

impl From<DesiredError> for PassError {
    fn from(e: DesiredError) -> Self {
        PassError::Desired(e)
    }
}

impl PassError {
    /// Whether the next pass may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            PassError::Db(e) | PassError::WriteBack(e) => e.is_transient(),
            PassError::Shells(_) => true,
            PassError::Desired(_) | PassError::Guard(_) => false,
        }
    }
}

/// The result of a pass.
#[derive(Debug, Clone, Default)]
pub struct PassResult {
    /// The instances the pass was scoped to (`None`: the whole fleet).
    pub ids: Option<BTreeSet<InstanceId>>,
    /// The desired state it planned with.
    pub desired: Option<Arc<Desired>>,
    /// What it observed before applying.
    pub observed: crate::observed::Observed,
    /// The (scoped) plan.
    pub plan: Plan,
    /// The apply report (empty for a plan-only pass).
    pub report: Report,
    /// What was written back.
    pub outcomes: Outcomes,
}

/// Loads the desired state from `cfg`'s files and the database at `now`.
/// Returns it with the snapshot and what each database instance wants.
pub async fn load_desired(
    cfg: &PassConfig,
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<(Desired, Snapshot, BTreeMap<String, Want>), PassError> {
    let mut parts = load_parts(&cfg.desired_dir, &cfg.templates_dir)?;
    parts.nginx_test = cfg.nginx_test;
    parts.memo = Some(cfg.memo.clone());
    let snapshot = Snapshot::load(pool, None).await?;
    let tiers = parts.tiers.clone();
    let source = DatabaseSource {
        snapshot: &snapshot,
        tiers: &tiers,
        policy: parts.platform.subscriptions,
        now,
    };
    let wants = snapshot
        .rows
        .iter()
        .map(|r| (r.app_name.clone(), source.want(r)))
        .collect();
    let desired = parts.into_desired(&cfg.root, &[&source])?;
    Ok((desired, snapshot, wants))
}

/// Runs one pass: load, observe, plan (scoped), and when `apply`, check
/// the guards, apply and write back.
pub async fn run(
    cfg: &PassConfig,
    pool: &PgPool,
    shells: &dyn ShellSource,
    scope: &Scope,
    apply: bool,
    force: bool,
) -> Result<PassResult, PassError> {
    let opts = RunOptions {
        apply,
        force,
        ..RunOptions::default()
    };
    run_with(cfg, pool, shells, scope, &opts).await
}

/// [`run`] with every option.
pub async fn run_with(
    cfg: &PassConfig,
    pool: &PgPool,
    shells: &dyn ShellSource,
    scope: &Scope,
    opts: &RunOptions,
) -> Result<PassResult, PassError> {
    let (desired, snapshot, wants) = load_desired(cfg, pool, Utc::now()).await?;
    tracing::debug!(instances = desired.instances.len(), "desired state loaded");
    let (rows, ids): (Vec<_>, Option<BTreeSet<InstanceId>>) = match scope {
        Scope::All | Scope::AllExcept(_) => (snapshot.rows.clone(), None),
        Scope::Accounts(accounts) => select(&snapshot, accounts, &BTreeSet::new()),
        Scope::Some {
            accounts,
            instances,
        } => select(&snapshot, accounts, instances),
    };
    // A scoped pass claims its instances at once, so a resync running
    // beside it leaves them to it instead of racing it to the first
    // command; those another pass already holds are refused again when
    // this pass claims what its plan changes.
    if let (Some(ids), Some(claims)) = (&ids, &opts.claims) {
        claims.claim(ids);
    }
    if ids.as_ref().is_some_and(BTreeSet::is_empty) {
        return Ok(PassResult {
            ids,
            ..PassResult::default()
        });
    }
    let source = shells;
    let dns = source.dns(&desired).map_err(PassError::Shells)?;
    let mut shells = source.shells(&desired).map_err(PassError::Shells)?;
    if opts.reserve {
        for s in shells.values_mut() {
            *s = Arc::new(crate::ssh::Reserve::new(s.clone()));
        }
    }
    let wildcard = crate::apply::certs::Wildcard::for_desired(
        &desired,
        dns.clone(),
        &cfg.state_dir,
        &cfg.acme,
    );
    let mut r = Reconciler::new(desired, shells, &cfg.state_dir);
    r.dns = dns;
    r.wildcard = wildcard;
    r.scope = ids.clone();
    if let Scope::AllExcept(x) = scope {
        r.exclude = x.clone();
    }
    r.halt = opts.halt.clone();
    r.staged = cfg.acme.staged;
    r.claims = opts.claims.clone();
    r.fences = opts.fences.clone();
    r.retries = cfg.retries;
    r.backoff = cfg.backoff;
    r.observe.deep = cfg.deep;
    if let (Some(ids), Some(recent), false) = (&ids, &opts.recent, cfg.deep) {
        r.observe.focus = Some(crate::observed::focus::Focus {
            instances: ids.clone(),
            recent: recent.clone(),
        });
    }
    source.pool(&mut r, cfg).map_err(PassError::Shells)?;
    if !opts.apply {
        let (observed, plan) = r.plan().await;
        return Ok(PassResult {
            ids,
            desired: Some(r.desired.clone()),
            observed,
            plan,
            ..Default::default()
        });
    }
    let started = Utc::now().timestamp().max(0) as u64;
    let (observed, plan, report) = r.apply_observed(opts.force).await?;
    let halted = opts
        .halt
        .as_ref()
        .is_some_and(|h| h.load(std::sync::atomic::Ordering::SeqCst));
    if !halted {
        // Restarts asked for by operators or the health checker.
        super::restart::after_pass(&r, pool, &observed).await;
    }
    let left: BTreeSet<InstanceId> = r.exclude.union(&report.deferred).cloned().collect();
    let rows: Vec<_> = match &left {
        x if x.is_empty() => rows,
        x => rows
            .into_iter()
            .filter(|row| InstanceId::parse(&row.app_name).is_ok_and(|i| !x.contains(&i)))
            .collect(),
    };
    let mut outcomes = writeback::outcomes(&rows, &wants, &r.desired, &observed, &plan, &report);
    outcomes.run = opts.run;
    // The backups this apply recorded (destroys of database instances).
    outcomes.backups = r
        .backups
        .records()
        .into_iter()
        .filter(|b| b.at >= started && !b.path.is_empty())
        .filter_map(|b| {
            let row = rows.iter().find(|row| row.app_name == b.instance)?;
            Some((row.id, b))
        })
        .collect();
    writeback::write(pool, &outcomes)
        .await
        .map_err(PassError::WriteBack)?;
    Ok(PassResult {
        ids,
        desired: Some(r.desired.clone()),
        observed,
        plan,
        report,
        outcomes,
    })
}

/// The rows of `accounts`, and the ids of those rows plus `instances`.
fn select(
    snapshot: &Snapshot,
    accounts: &BTreeSet<Uuid>,
    instances: &BTreeSet<InstanceId>,
) -> (
    Vec<crate::db::model::InstanceRow>,
    Option<BTreeSet<InstanceId>>,
) {
    let rows: Vec<_> = snapshot
        .rows
        .iter()
        .filter(|r| {
            accounts.contains(&r.account_id)
                || InstanceId::parse(&r.app_name).is_ok_and(|i| instances.contains(&i))
        })
        .cloned()
        .collect();
    let mut ids: BTreeSet<InstanceId> = rows
        .iter()
        .filter_map(|r| InstanceId::parse(&r.app_name).ok())
        .collect();
    ids.extend(instances.iter().cloned());
    (rows, Some(ids))
}
