//! The fleet as operators see it on the status page and through the API:
//! hosts with capacity and reachability, the pending plan, and which
//! instances drift. Built from a read-only plan ([`FleetView::build`] is
//! pure); [`FleetCache`] computes at most one at a time and reuses a
//! recent one, since observing a large fleet takes seconds.

use crate::desired::Desired;
use crate::observed::Observed;
use crate::plan::Plan;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One host.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostView {
    /// Host name.
    pub name: String,
    /// Whether it could be read in full.
    pub reachable: bool,
    /// Why not, when it could not.
    pub reason: Option<String>,
    /// Memory roomctl may place on it (MiB); 0 when the host is no longer
    /// desired.
    pub capacity_mb: u64,
    /// Memory limits of the apps on it (MiB).
    pub used_mb: u64,
    /// `capacity_mb - used_mb`, at least 0.
    pub free_mb: u64,
    /// Apps on it.
    pub apps: usize,
}

/// The fleet at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct FleetView {
    /// When the observation behind it was made.
    pub computed_at: DateTime<Utc>,
    /// Hosts, by name.
    pub hosts: Vec<HostView>,
    /// The pending plan, as `roomctl plan` prints it (no colour, no secret).
    pub plan_text: String,
    /// Planned app changes.
    pub changes: usize,
    /// Instances with planned changes (drift, or work not yet done).
    pub drifted: BTreeSet<String>,
    /// Hosts that could not be read.
    pub unknown_hosts: usize,
    /// Instance → host, where the plan places or finds it.
    pub placements: std::collections::BTreeMap<String, String>,
    /// Instances declared in `desired-state/` files (they have no database
    /// row): id → (tier, desired run state).
    pub from_files: std::collections::BTreeMap<String, (String, String)>,
}

impl FleetView {
    /// The view of `plan`, made from `desired` and `observed`.
    pub fn build(desired: &Desired, observed: &Observed, plan: &Plan) -> Self {
        let mut names: BTreeSet<&crate::domain::HostName> = desired.hosts.keys().collect();
        names.extend(observed.hosts.keys());
        let hosts = names
            .into_iter()
            .map(|h| {
                let capacity_mb = desired.hosts.get(h).map_or(0, |s| u64::from(s.memory.0));
                let obs = observed.hosts.get(h);
                let state = obs.and_then(|o| o.known());
                let used_mb = state.map_or(0, |s| {
                    s.apps
                        .values()
                        .map(|a| u64::from(a.limits.memory.map_or(0, |m| m.0)))
                        .sum()
                });
                HostView {
                    name: h.to_string(),
                    reachable: state.is_some(),
                    reason: match obs {
                        Some(crate::observed::HostObservation::Unknown { reason }) => {
                            Some(reason.clone())
                        }
                        None => Some("not observed".into()),
                        _ => None,
                    },
                    capacity_mb,
                    used_mb,
                    free_mb: capacity_mb.saturating_sub(used_mb),
                    apps: state.map_or(0, |s| s.apps.len()),
                }
            })
            .collect::<Vec<_>>();
        let drifted = plan
            .apps()
            .filter(|(_, _, p)| !p.actions.is_empty())
            .map(|(_, _, p)| p.instance.to_string())
            .collect();
        Self {
            computed_at: observed
                .at
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .unwrap_or_else(Utc::now),
            unknown_hosts: hosts.iter().filter(|h| !h.reachable).count(),
            hosts,
            plan_text: crate::plan::render::human(plan, crate::plan::render::Style::new(false)),
            changes: {
                let s = plan.summary();
                s.create + s.update + s.stop + s.destroy + s.dns
            },
            drifted,
            from_files: desired
                .instances
                .iter()
                .filter(|(_, i)| matches!(i.instance.source, crate::desired::Source::File { .. }))
                .map(|(id, i)| {
                    let d = &i.instance;
                    (id.to_string(), (d.tier.to_string(), d.state.to_string()))
                })
                .collect(),
            placements: plan
                .placements
                .iter()
                .map(|(i, h)| (i.to_string(), h.to_string()))
                .collect(),
        }
    }
}

/// Computes a fresh view (a read-only pass), or says why it cannot.
pub type Compute =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<FleetView, String>> + Send>> + Send + Sync>;

/// The latest view, recomputed when older than asked, one computation at
/// a time.
pub struct FleetCache {
    compute: Compute,
    latest: Mutex<Option<(Instant, Arc<FleetView>)>>,
    running: tokio::sync::Mutex<()>,
    observed: Mutex<Option<(Instant, Arc<crate::observed::Observed>)>>,
}

impl FleetCache {
    /// A cache that computes with `compute`.
    pub fn new(compute: Compute) -> Self {
        Self {
            compute,
            latest: Mutex::new(None),
            running: tokio::sync::Mutex::new(()),
            observed: Mutex::new(None),
        }
    }

    /// Stores the worker's last full observation (taken now).
    pub fn put_observed(&self, o: crate::observed::Observed) {
        *self.observed.lock().expect("fleet cache lock") = Some((Instant::now(), Arc::new(o)));
    }

    /// Replaces the stored observation with `f` of it, keeping the time of
    /// the full read it came from.
    pub fn update_observed(
        &self,
        f: impl FnOnce(&crate::observed::Observed) -> crate::observed::Observed,
    ) {
        let mut g = self.observed.lock().expect("fleet cache lock");
        if let Some((at, o)) = g.as_ref() {
            *g = Some((*at, Arc::new(f(o))));
        }
    }

    /// The last full observation, if at most `max_age` old.
    pub fn observed(&self, max_age: Duration) -> Option<Arc<crate::observed::Observed>> {
        let g = self.observed.lock().expect("fleet cache lock");
        g.as_ref()
            .filter(|(at, _)| at.elapsed() <= max_age)
            .map(|(_, o)| o.clone())
    }

    /// The latest view, whatever its age.
    pub fn latest(&self) -> Option<Arc<FleetView>> {
        self.latest
            .lock()
            .expect("fleet cache lock")
            .as_ref()
            .map(|(_, v)| v.clone())
    }

    /// Stores a view computed elsewhere (the worker's own plan).
    pub fn put(&self, view: FleetView) {
        *self.latest.lock().expect("fleet cache lock") = Some((Instant::now(), Arc::new(view)));
    }

    /// Forgets the latest view (the fleet changed), so the next
    /// [`FleetCache::get`] computes a new one.
    pub fn invalidate(&self) {
        *self.latest.lock().expect("fleet cache lock") = None;
    }

    fn fresh(&self, max_age: Duration) -> Option<Arc<FleetView>> {
        let l = self.latest.lock().expect("fleet cache lock");
        l.as_ref()
            .filter(|(at, _)| at.elapsed() <= max_age)
            .map(|(_, v)| v.clone())
    }

    /// A view at most `max_age` old, computing one if needed (callers
    /// arriving meanwhile wait for that same computation).
    pub async fn get(&self, max_age: Duration) -> Result<Arc<FleetView>, String> {
        if let Some(v) = self.fresh(max_age) {
            return Ok(v);
        }
        let _one = self.running.lock().await;
        if let Some(v) = self.fresh(max_age) {
            return Ok(v);
        }
        let view = (self.compute)().await?;
        self.put(view);
        Ok(self.latest().expect("just stored"))
    }
}
