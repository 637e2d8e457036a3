//! Observing for a run scoped to a few instances (a webhook's), fast.
//!
//! A full read of a busy host takes seconds (its bulk reports grow with
//! the app count, and env has one read per app). A scoped run only acts on
//! its own instances; the rest of a host matters only for placement (the
//! memory its apps hold). So a host is read *focused*: one `apps:list`,
//! and when none of the scoped instances' apps is on the host and the host
//! holds exactly the apps of a recent full observation, that observation
//! stands for the host. Any other case (a scoped app is there, apps came
//! or went, no recent observation, the list fails) falls back to the full
//! read, so a scoped instance's own apps are always read fresh.

use super::model::{HostObservation, HostState, ObservedApp, Owner};
use super::read::apps_list;
use crate::apply::report::Report;
use crate::desired::Desired;
use crate::domain::{HostName, InstanceId};
use crate::plan::{Change, Plan};
use crate::ssh::RemoteShell;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A recent full observation and the instances a run is scoped to.
#[derive(Debug, Clone)]
pub struct Focus {
    /// The instances the run acts on.
    pub instances: BTreeSet<InstanceId>,
    /// The last full observation (at most a resync interval old).
    pub recent: Arc<super::Observed>,
}

/// The host's state from `focus.recent`, if one `apps:list` shows that it
/// still holds exactly those apps and none of the scoped instances' apps.
pub async fn quiet_host(
    desired: &Desired,
    host: &HostName,
    shell: &Arc<dyn RemoteShell>,
    focus: &Focus,
) -> Option<HostState> {
    let HostObservation::Known(recent) = focus.recent.hosts.get(host)? else {
        return None;
    };
    let listed: BTreeSet<String> = apps_list(&**shell).await.ok()?.into_iter().collect();
    let scoped = focus
        .instances
        .iter()
        .filter_map(|i| desired.instances.get(i))
        .flat_map(|spec| spec.apps.keys().map(|a| a.to_string()));
    let owned_by_scope = recent
        .apps
        .iter()
        .filter(|(_, a)| a.instance().is_some_and(|i| focus.instances.contains(i)))
        .map(|(n, _)| n.clone());
    if scoped.chain(owned_by_scope).any(|a| listed.contains(&a)) {
        return None;
    }
    let known: BTreeSet<String> = recent.apps.keys().cloned().collect();
    (known == listed).then(|| recent.clone())
}

/// `recent` with the apps `plan` created (per `report`) added, holding
/// their desired limits: what the next focused read needs to find the
/// hosts quiet and count their memory.
pub fn with_created(
    recent: &super::Observed,
    desired: &Desired,
    plan: &Plan,
    report: &Report,
) -> super::Observed {
    let mut out = recent.clone();
    for row in report
        .rows
        .iter()
        .filter(|r| r.change == Change::Create && r.done > 0)
    {
        let Some(HostObservation::Known(state)) = out.hosts.get_mut(&row.host) else {
            continue;
        };
        let spec = desired
            .instances
            .get(&row.instance)
            .and_then(|i| i.apps.get(&row.app));
        let Some((_, _, p)) = plan
            .apps()
            .find(|(h, a, _)| **h == row.host && **a == row.app)
        else {
            continue;
        };
        state.apps.insert(
            row.app.to_string(),
            ObservedApp {
                owner: Owner::Roomctl {
                    instance: p.instance.clone(),
                    role: p.role.clone(),
                },
                env: Default::default(),
                managed_keys: Default::default(),
                env_fingerprint: None,
                applied: None,
                image: None,
                limits: spec.map(|s| s.limits).unwrap_or_default(),
                tls_expires: None,
                nginx: None,
                detail: None,
                installed_cert: None,
            },
        );
    }
    out
}
