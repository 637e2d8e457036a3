//! Placement: which host each desired instance lives on.
//!
//! Rules, in order:
//! 1. An instance whose apps already run on a known host stays there, even
//!    if its pin now names another host (instances never move by themselves).
//! 2. If any host is unknown, an instance found nowhere is not placed: it
//!    may already live on the unknown host, and creating it elsewhere would
//!    duplicate it.
//! 3. A pinned instance goes to its pinned host if it fits.
//! 4. Otherwise it goes to the known host with the most free memory that
//!    fits its tier; ties go to the lower host name.
//!
//! Instances are placed in id order, so the result is deterministic.

use super::model::Note;
use crate::desired::Desired;
use crate::domain::{HostName, InstanceId};
use crate::observed::{HostObservation, Observed};
use std::collections::{BTreeMap, BTreeSet};

/// Placement result: where each placeable instance goes, and notes for the rest.
#[derive(Debug, Default)]
pub struct Placement {
    /// Instance → host.
    pub hosts: BTreeMap<InstanceId, HostName>,
    /// Instances that exist now (not new), with their host.
    pub existing: BTreeSet<InstanceId>,
    /// Why some instances were not placed, and other findings.
    pub notes: Vec<Note>,
}

fn note(instance: &InstanceId, message: String) -> Note {
    Note {
        instance: Some(instance.clone()),
        message,
    }
}

/// Places every desired instance. Pure.
pub fn place(desired: &Desired, observed: &Observed) -> Placement {
    let mut out = Placement::default();
    // Where each instance's apps are now, and memory used by apps that are
    // not part of a desired instance (foreign apps, leftovers).
    let mut found: BTreeMap<&InstanceId, BTreeSet<&HostName>> = BTreeMap::new();
    let mut used: BTreeMap<&HostName, u64> = BTreeMap::new();
    let mut unknown: Vec<&HostName> = vec![];
    for (host, obs) in &observed.hosts {
        let Some(state) = obs.known() else {
            unknown.push(host);
            continue;
        };
        let u = used.entry(host).or_default();
        for app in state.apps.values() {
            match app.instance() {
                Some(id) if desired.instances.contains_key(id) => {
                    found.entry(id).or_default().insert(host);
                }
                _ => *u += u64::from(app.limits.memory.map_or(0, |m| m.0)),
            }
        }
    }
    let known = |h: &HostName| matches!(observed.hosts.get(h), Some(HostObservation::Known(_)));

    // Existing instances first: they hold their memory wherever they are.
    for (id, spec) in &desired.instances {
        let Some(hosts) = found.get(id) else { continue };
        let host = *hosts.iter().next().expect("non-empty");
        if hosts.len() > 1 {
            let list: Vec<&str> = hosts.iter().map(|h| h.as_str()).collect();
            out.notes.push(note(id, format!("apps of this instance exist on several hosts ({}); roomctl changes it on {host} only", list.join(", "))));
        }
        if let Some(pin) = &spec.instance.pinned_host
            && pin != host
        {
            out.notes.push(note(
                id,
                format!(
                    "pinned to {pin} but runs on {host}; roomctl never moves an instance by itself"
                ),
            ));
        }
        *used.entry(host).or_default() += u64::from(spec.memory.0);
        out.hosts.insert(id.clone(), host.clone());
        out.existing.insert(id.clone());
    }

    for (id, spec) in &desired.instances {
        if out.hosts.contains_key(id) {
            continue;
        }
        if !unknown.is_empty() {
            let list: Vec<&str> = unknown.iter().map(|h| h.as_str()).collect();
            out.notes.push(note(
                id,
                format!(
                    "not placed: host {} is unknown and may already hold this instance",
                    list.join(", ")
                ),
            ));
            continue;
        }
        let need = u64::from(spec.memory.0);
        let free = |h: &HostName, used: &BTreeMap<&HostName, u64>| {
            let cap = u64::from(desired.hosts[h].memory.0);
            cap.saturating_sub(used.get(h).copied().unwrap_or(0))
        };
        let choice = match &spec.instance.pinned_host {
            Some(pin) if !known(pin) => {
                out.notes.push(note(
                    id,
                    format!("not placed: pinned host {pin} is not in the fleet"),
                ));
                continue;
            }
            Some(pin) if free(pin, &used) < need => {
                out.notes.push(note(id, format!("not placed: pinned host {pin} has {} MiB free, the instance needs {need} MiB", free(pin, &used))));
                continue;
            }
            Some(pin) => pin,
            None => {
                let best = desired
                    .hosts
                    .keys()
                    .filter(|h| known(h))
                    .map(|h| (free(h, &used), h))
                    .filter(|(f, _)| *f >= need)
                    .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)));
                match best {
                    Some((_, h)) => h,
                    None => {
                        out.notes
                            .push(note(id, format!("not placed: no host has {need} MiB free")));
                        continue;
                    }
                }
            }
        };
        let choice = desired
            .hosts
            .get_key_value(choice)
            .map(|(k, _)| k)
            .expect("host in desired");
        *used.entry(choice).or_default() += need;
        out.hosts.insert(id.clone(), choice.clone());
    }
    out
}
