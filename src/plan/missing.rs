//! Desired instances this plan neither finds nor creates. A plan with
//! nothing to do while one of them exists is not "no changes": the
//! renderer says which are missing and `plan --detailed-exitcode` exits 1.

use super::model::{Action, HostPlan, Plan};
use crate::desired::Desired;
use crate::domain::InstanceId;
use crate::observed::{HostObservation, Observed};
use std::collections::BTreeMap;

/// Every desired instance (not held) with an app that is neither roomctl's
/// for that instance on its placed host nor created by `plan`, with why.
/// An instance on an unknown host is not listed (the host is reported
/// unknown instead); one without a placement is.
pub fn missing(
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
) -> BTreeMap<InstanceId, String> {
    let mut out = BTreeMap::new();
    for (id, spec) in &desired.instances {
        if plan.held.contains_key(id) {
            continue;
        }
        let Some(host) = plan.placements.get(id) else {
            out.insert(
                id.clone(),
                "it has no host (see the notes for why)".to_string(),
            );
            continue;
        };
        let Some(HostObservation::Known(state)) = observed.hosts.get(host) else {
            continue;
        };
        let planned = match plan.hosts.get(host) {
            Some(HostPlan::Known { apps }) => Some(apps),
            _ => None,
        };
        let absent: Vec<&str> = spec
            .apps
            .keys()
            .filter(|name| {
                let ours = state
                    .apps
                    .get(name.as_str())
                    .is_some_and(|o| o.instance() == Some(id));
                let created = planned
                    .and_then(|apps| apps.get(*name))
                    .is_some_and(|p| p.actions.contains(&Action::Create));
                !ours && !created
            })
            .map(|n| n.as_str())
            .collect();
        if !absent.is_empty() {
            out.insert(
                id.clone(),
                format!(
                    "{} on {host} is not roomctl's app of this instance and is not created by this plan (see the notes for why)",
                    absent.join(", ")
                ),
            );
        }
    }
    out
}
