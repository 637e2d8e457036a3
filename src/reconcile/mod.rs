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
use crate::dns::DnsProvider;
use crate::dns::plan::{DnsChange, ZonePlan};
use crate::domain::{HostName, InstanceId};
use crate::observed::Observed;
use crate::observed::ZoneObservation;
use crate::observed::fleet::{ObserveOptions, observe};
use crate::plan::{Plan, plan};
use fleet::Fleet;
use std::collections::{BTreeMap, BTreeSet};
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
    /// The DNS provider for `desired.dns`'s zone; without one the zone is
    /// unknown and no DNS change is made.
    pub dns: Option<Arc<dyn DnsProvider>>,
    /// Ordering and installing wildcard certificates (`tls = "wildcard"`);
    /// without it, wildcard certificates are unknown and nothing is
    /// ordered or installed.
    pub wildcard: Option<crate::apply::certs::Wildcard>,
    /// The Hetzner API for the pool's servers (`[pool]` in `hosts.toml`);
    /// without it the pool is unknown and no server is created or removed.
    pub cloud: Option<Arc<dyn crate::hetzner::Cloud>>,
    /// Opens shells to pool servers (the fixed hosts' are in `shells`).
    pub connect: Option<pool::Connect>,
    /// What new servers get: cloud-init, Terraform's ids, readiness wait.
    pub provision: Option<pool::Provision>,
    /// When set, only these instances are planned and applied (see
    /// [`Plan::scoped`]); the rest of the fleet is observed, for placement,
    /// but left alone.
    pub scope: Option<BTreeSet<InstanceId>>,
    /// Instances left out of the plan (see [`Plan::without`]): those
    /// backing off after failures, during a resync.
    pub exclude: BTreeSet<InstanceId>,
    /// Whether an apply with changes holds every host's fence first and
    /// plans again under it ([`crate::apply::fence`]); on by default.
    pub fence: bool,
    /// When set and true, the apply starts no further action: each app
    /// stops after the action in flight (shutdown, or leadership lost).
    pub halt: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Whether the pass never waits for a new server to boot (`serve`):
    /// it marks the server booting and asks to run again
    /// ([`booting`]); the CLI's one-shot apply waits in place.
    pub staged: bool,
    /// New pool servers still booting.
    pub booting: booting::Booting,
    /// Claims the instances the plan changes before anything is applied,
    /// when other passes of this process run at the same time (`serve`).
    pub claims: Option<Arc<dyn Claim>>,
    /// Fences shared with the other passes of this process, so two of its
    /// passes never fence each other out.
    pub fences: Option<Arc<crate::apply::fence::FenceShare>>,
}

/// Claims instances for one pass, among passes that run at once.
pub trait Claim: Send + Sync + std::fmt::Debug {
    /// Claims `ids`; returns those refused, which this pass must leave
    /// alone (a later one does them).
    fn claim(&self, ids: &BTreeSet<InstanceId>) -> BTreeSet<InstanceId>;
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
            exclude: BTreeSet::new(),
            fence: true,
            halt: None,
            staged: false,
            booting: booting::Booting::new(state_dir),
            claims: None,
            fences: None,
            dns: None,
            wildcard: None,
            cloud: None,
            connect: None,
            provision: None,
        }
    }

    /// Observes the fleet and plans.
    pub async fn plan(&self) -> (Observed, Plan) {
        let pass = self.plan_fleet(&BTreeMap::new(), None).await;
        (pass.observed, pass.plan)
    }

    /// Reads the cloud, observes the fleet and plans; also returns the
    /// desired state and shells the plan was made with. The hosts of
    /// `fenced` (another run holds their fence) are unknown. With
    /// `again`, only its hosts are observed anew, the rest taken from its
    /// observation.
    async fn plan_fleet(
        &self,
        fenced: &BTreeMap<HostName, String>,
        again: Option<(&Observed, &BTreeSet<HostName>)>,
    ) -> Planned {
        let Fleet {
            desired,
            shells,
            cloud,
            booting,
        } = self.fleet().await;
        let shells = match fenced.is_empty() {
            true => shells,
            false => crate::apply::fence::fenced_out(&shells, fenced),
        };
        let read: Shells = match again {
            Some((_, hosts)) => shells
                .iter()
                .filter(|(h, _)| hosts.contains(*h))
                .map(|(h, s)| (h.clone(), s.clone()))
                .collect(),
            None => shells.clone(),
        };
        let hosts = async {
            let mut o = observe(&desired, &read, &self.journal, &self.observe).await;
            if let Some((before, hosts)) = again {
                for (h, seen) in &before.hosts {
                    if !hosts.contains(h) {
                        o.hosts.insert(h.clone(), seen.clone());
                    }
                }
            }
            o
        };
        let zone = async {
            let spec = desired.dns.as_ref()?;
            let zone = spec.zone.to_string();
            let obs = match &self.dns {
                Some(p) => crate::dns::apply::observe_zone(&**p, &zone).await,
                None => ZoneObservation::Unknown {
                    reason: "no DNS provider configured".into(),
                },
            };
            Some((zone, obs))
        };
        let (mut observed, zone) = tokio::join!(hosts, zone);
        observed.dns.extend(zone);
        observed.cloud = cloud;
        if desired.platform.tls == crate::desired::TlsMode::Wildcard {
            observed.certs = Some(match &self.wildcard {
                Some(w) => crate::observed::CertsObservation::read(&w.store, chrono::Utc::now()),
                None => crate::observed::CertsObservation::Unknown {
                    reason: "no ACME client configured (needs a DNS provider for dns.toml's zone)"
                        .into(),
                },
            });
        }
        let p = plan(&desired, &observed);
        let p = match &self.scope {
            Some(scope) => p.scoped(scope),
            None => p,
        };
        let p = p.without(&self.exclude);
        Planned {
            desired,
            shells,
            observed,
            plan: p,
            booting,
        }
    }

    /// Observes, plans, checks the guards and applies. Returns the plan
    /// that was applied and the report.
    pub async fn apply(&self, force: bool) -> Result<(Plan, Report), GuardError> {
        let (observed, p, report) = self.apply_observed(force).await?;
        // Freeing a large fleet's observation takes milliseconds (12 ms for
        // 3,000 apps); nobody waits for it.
        tokio::task::spawn_blocking(move || drop(observed));
        Ok((p, report))
    }

    /// Like [`Reconciler::apply`], also returning what was observed
    /// before applying.
    pub async fn apply_observed(
        &self,
        force: bool,
    ) -> Result<(Observed, Plan, Report), GuardError> {
        let mut fenced = BTreeMap::new();
        let reading = tokio::time::Instant::now();
        let mut pass = self.plan_fleet(&fenced, None).await;
        tracing::debug!(changes = pass.plan.has_changes(), "observed and planned");
        // Hosts are changed under their fence only: hold the fence of every
        // host the plan changes, observe again those another process may
        // have changed meanwhile and plan again, so the plan applied there
        // is one no other run can change under it. A no-op pass asks for
        // nothing; a host whose fence this process held since before this
        // pass began reading is not read again.
        let mut _fences = Vec::new();
        if self.fence {
            let changing: BTreeSet<HostName> =
                pass.plan.apps().map(|(h, _, _)| h.clone()).collect();
            if !changing.is_empty() {
                let asked: Shells = pass
                    .shells
                    .iter()
                    .filter(|(h, _)| changing.contains(*h))
                    .map(|(h, s)| (h.clone(), s.clone()))
                    .collect();
                let holder = crate::apply::fence::holder();
                let got = match &self.fences {
                    Some(share) => share.acquire_all(&asked, &holder, reading).await,
                    None => crate::apply::fence::acquire_all(&asked, &holder).await,
                };
                _fences = got.held;
                fenced = got.busy;
                let again: BTreeSet<HostName> = got
                    .fresh
                    .into_iter()
                    .chain(fenced.keys().cloned())
                    .collect();
                if !again.is_empty() {
                    let before = pass.observed;
                    pass = self.plan_fleet(&fenced, Some((&before, &again))).await;
                }
                crate::apply::fence::confine(&mut pass.plan, &changing);
                tracing::debug!(read_again = again.len(), "planned under the fence");
            }
        }
        guards::check(&pass.plan, &pass.desired.platform, force)?;
        guards::check_dns(&pass.plan, pass.desired.dns.as_ref(), force)?;
        let mut server_rows = Vec::new();
        let creates: Vec<_> = pass
            .plan
            .server_actions()
            .filter(|a| matches!(a, crate::plan::servers::ServerAction::Create { .. }))
            .cloned()
            .collect();
        let creates: Vec<_> = creates.iter().collect();
        if let (false, None) = (creates.is_empty(), &self.provision) {
            server_rows.extend(creates.iter().map(|a| pool::ServerRow {
                name: a.name().to_string(),
                op: "create",
                error: Some("new servers cannot be provisioned: Terraform outputs, cloud-init or roomctl's SSH public key is missing (see the log)".into()),
            }));
        }
        if let (Some(cloud), Some(pool), Some(provision)) =
            (&self.cloud, &pass.desired.pool, &self.provision)
            && !creates.is_empty()
        {
            let booting = self.staged.then_some(&self.booting);
            let connect = self.connect.as_ref();
            server_rows =
                pool::create_servers(&**cloud, pool, provision, connect, booting, &creates).await;
            // Staged, a later pass places instances on the new servers
            // once they answer; this one does not wait.
            if !self.staged && server_rows.iter().any(|r| r.error.is_none()) {
                // Place instances on the new servers in this same run.
                pass = self.plan_fleet(&fenced, None).await;
                guards::check(&pass.plan, &pass.desired.platform, force)?;
                guards::check_dns(&pass.plan, pass.desired.dns.as_ref(), force)?;
            }
        }
        let Planned {
            desired: _,
            shells,
            observed,
            plan: mut p,
            mut booting,
        } = pass;
        let deferred = match &self.claims {
            Some(claims) => claims.claim(&p.changed_instances()),
            None => BTreeSet::new(),
        };
        if !deferred.is_empty() {
            tracing::info!(
                instances = deferred.len(),
                "left to a later pass: another pass changes them"
            );
            p = p.without(&deferred);
        }
        if self.staged
            && let Some(provision) = &self.provision
        {
            let again = chrono::Utc::now()
                + chrono::Duration::from_std(provision.ready_interval)
                    .unwrap_or(chrono::Duration::MAX);
            booting.extend(
                server_rows
                    .iter()
                    .filter(|r| r.op == "create" && r.error.is_none())
                    .map(|r| crate::apply::report::Waiting {
                        what: r.name.clone(),
                        until: again,
                    }),
            );
        }
        let orders: Vec<_> = p.cert_orders().cloned().collect();
        let (order_rows, certs) = match &self.wildcard {
            Some(w) => {
                let rows = crate::apply::certs::order_all(w, &orders).await;
                let waiting = rows
                    .iter()
                    .filter(|r| r.waiting.is_some())
                    .map(|r| r.cert.clone())
                    .collect();
                crate::apply::certs::defer_installs(&mut p, &waiting);
                let failed = rows
                    .iter()
                    .filter(|r| r.error.is_some())
                    .map(|r| r.cert.clone())
                    .collect();
                (rows, Some((w.store.clone(), failed)))
            }
            None => (Vec::new(), None),
        };
        let opts = ApplyOptions {
            retries: self.retries,
            backoff: self.backoff,
            journal: self.journal.clone(),
            backups: self.backups.clone(),
            certs,
            halt: self.halt.clone(),
        };
        let mut dns_rows = self
            .apply_dns(&p, |c| !matches!(c, DnsChange::Delete { .. }))
            .await;
        let mut report = crate::apply::apply(&p, &shells, opts).await;
        dns_rows.extend(
            self.apply_dns(&p, |c| matches!(c, DnsChange::Delete { .. }))
                .await,
        );
        report.dns = dns_rows;
        report.certs = order_rows;
        if let Some(cloud) = &self.cloud {
            let deletes: Vec<_> = p
                .server_actions()
                .filter(|a| matches!(a, crate::plan::servers::ServerAction::Delete { .. }))
                .collect();
            server_rows.extend(pool::delete_servers(&**cloud, &shells, &deletes).await);
        }
        report.servers = server_rows;
        report.deferred = deferred;
        report.waiting = booting
            .into_iter()
            .map(|mut w| {
                w.what = format!("server {}: booting", w.what);
                w
            })
            .chain(report.certs.iter().filter_map(|r| {
                Some(crate::apply::report::Waiting {
                    what: format!("certificate {}: DNS propagation", r.cert),
                    until: r.waiting?,
                })
            }))
            .collect();
        Ok((observed, p, report))
    }

    /// Applies the plan's DNS changes that `which` selects, zone by zone.
    async fn apply_dns(
        &self,
        p: &Plan,
        which: impl Fn(&DnsChange) -> bool,
    ) -> Vec<crate::dns::apply::DnsRow> {
        let Some(provider) = &self.dns else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for (zone, zp) in &p.dns {
            if let ZonePlan::Known { changes, .. } = zp {
                let picked: Vec<&DnsChange> = changes.iter().filter(|c| which(c)).collect();
                rows.extend(crate::dns::apply::apply_changes(&**provider, zone, &picked).await);
            }
        }
        rows
    }
}

/// A pass's plan with what it was made from.
struct Planned {
    desired: Arc<Desired>,
    shells: Shells,
    observed: Observed,
    plan: Plan,
    booting: Vec<crate::apply::report::Waiting>,
}

pub mod booting;
pub mod database;
mod fleet;
pub mod pool;
pub mod restart;
