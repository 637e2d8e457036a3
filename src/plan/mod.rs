//! Planning: the pure function `plan(&Desired, &Observed) -> Plan`.
//!
//! No I/O happens here. The planner places new instances
//! ([`placement`]), diffs each desired app against what was observed
//! ([`app`]), stops apps whose instance left the desired set and, when
//! enabled, backs them up and destroys them. Only roomctl's own apps are
//! ever touched; only managed env keys are compared. Hosts that could not
//! be read get no actions. Output order is deterministic (`BTreeMap`s all
//! the way down, actions in a fixed order within an app).

pub mod app;
pub mod digest;
mod model;
pub mod placement;
pub mod render;

pub use model::*;

use crate::desired::Desired;
use crate::domain::{AppName, HostName};
use crate::observed::{HostObservation, HostState, Observed, Owner};
use std::collections::{BTreeMap, BTreeSet};

/// Computes the plan that brings `observed` to `desired`.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let placement = placement::place(desired, observed);
    let mut notes = placement.notes;
    let mut hosts = BTreeMap::new();
    let by_host = group_by_host(&placement.hosts);

    for (host, obs) in &observed.hosts {
        let state = match obs {
            HostObservation::Unknown { reason } => {
                hosts.insert(
                    host.clone(),
                    HostPlan::Unknown {
                        reason: reason.clone(),
                    },
                );
                continue;
            }
            HostObservation::Known(s) => s,
        };
        let mut apps = BTreeMap::new();
        let mut wanted_here: BTreeSet<&str> = BTreeSet::new();
        for id in by_host.get(host).into_iter().flatten() {
            let spec = &desired.instances[*id];
            let mut blocked = false;
            for name in spec.apps.keys() {
                wanted_here.insert(name.as_str());
                let obs_app = state.apps.get(name.as_str());
                if let Some(o) = obs_app
                    && o.instance() != Some(id)
                {
                    notes.push(Note {
                        instance: Some((*id).clone()),
                        message: format!("app {name} on {host} exists but is not marked as this instance's; roomctl leaves it alone and does not create the instance's apps there"),
                    });
                    blocked = true;
                }
            }
            if blocked {
                continue;
            }
            for (name, app) in &spec.apps {
                let obs_app = state.apps.get(name.as_str());
                if let Some(p) =
                    app::plan_app(&desired.platform, id, spec.instance.state, app, obs_app)
                {
                    apps.insert(name.clone(), p);
                }
            }
        }
        for (name, o) in &state.apps {
            if wanted_here.contains(name.as_str()) || o.owner == Owner::Foreign {
                continue;
            }
            let (instance, role) = match &o.owner {
                Owner::Roomctl { instance, role } | Owner::Interrupted { instance, role } => {
                    (instance, role)
                }
                Owner::Foreign => continue,
            };
            if desired.instances.get(instance).is_some_and(|s| {
                s.apps.contains_key(name.as_str()) && placement.hosts.get(instance) != Some(host)
            }) {
                // A duplicate on a second host: noted by placement, left alone.
                continue;
            }
            let Ok(app_name) = AppName::listed(name) else {
                continue;
            };
            match app::plan_orphan(&desired.platform, instance, role, o) {
                Some(p) => {
                    apps.insert(app_name, p);
                }
                None if o.detail.as_ref().is_some_and(|d| !d.running) => notes.push(Note {
                    instance: Some(instance.clone()),
                    message: format!("app {name} on {host} is no longer desired; it is stopped and kept (destruction is disabled)"),
                }),
                None => {}
            }
        }
        hosts.insert(host.clone(), HostPlan::Known { apps });
    }
    notes.sort();
    notes.dedup();
    Plan {
        hosts,
        placements: placement.hosts,
        notes,
    }
}

fn group_by_host(
    placements: &BTreeMap<crate::domain::InstanceId, HostName>,
) -> BTreeMap<&HostName, Vec<&crate::domain::InstanceId>> {
    let mut m: BTreeMap<&HostName, Vec<_>> = BTreeMap::new();
    for (id, h) in placements {
        m.entry(h).or_default().push(id);
    }
    m
}

/// The apps on `host` whose per-app facts must be read before planning:
/// roomctl's apps whose applied digest does not match the desired one,
/// apps no longer desired, interrupted creates, or every app of roomctl's
/// when `deep`. Foreign apps are never read further.
pub fn needs_detail(desired: &Desired, state: &HostState, deep: bool) -> BTreeSet<String> {
    state
        .apps
        .iter()
        .filter(|(name, o)| {
            let (instance, interrupted) = match &o.owner {
                Owner::Foreign => return false,
                Owner::Interrupted { instance, .. } => (instance, true),
                Owner::Roomctl { instance, .. } => (instance, false),
            };
            if deep || interrupted {
                return true;
            }
            let Some(spec) = desired.instances.get(instance) else {
                return true;
            };
            match spec.apps.get(name.as_str()) {
                Some(app) => {
                    o.applied.as_deref() != Some(digest::digest(app, spec.instance.state).as_str())
                }
                None => true,
            }
        })
        .map(|(n, _)| n.clone())
        .collect()
}

#[cfg(test)]
mod tests;
