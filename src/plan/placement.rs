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
//!    fits its tier and where no app that is not its own holds one of its
//!    app names (a foreign app there would keep it from being created);
//!    ties go to the lower host name. Only when every host that fits holds
//!    such a name does it go where it fits best, to be reported missing.
//!
//! An instance with an app whose env Dokku cannot read (by name, on any
//! host) is *held*: placed only where it already lives, and changed
//! nowhere (see [`Placement::held`]).
//!
//! Instances are placed in id order, so the result is deterministic.

use super::model::Note;
use crate::desired::Desired;
use crate::domain::{HostName, InstanceId};
use crate::observed::Observed;
use std::collections::{BTreeMap, HashMap};
use xxhash_rust::xxh3::Xxh3Builder;

/// Placement result: where each placeable instance goes, and notes for the rest.
#[derive(Debug, Default)]
pub struct Placement {
    /// Instance → host.
    pub hosts: BTreeMap<InstanceId, HostName>,
    /// Instances held as a whole this run, with why: an app of theirs (by
    /// name) has an env that Dokku cannot read, so whose it is and what it
    /// holds are unknown. Nothing of theirs is created, changed or
    /// destroyed (apps, DNS records, certificates) until it is repaired.
    pub held: BTreeMap<InstanceId, String>,
    /// Why some instances were not placed, and other findings.
    pub notes: Vec<Note>,
    /// Unpinned instances left unplaced only for lack of memory, with the
    /// memory each needs (MiB): what a bigger pool would fix.
    pub short: Vec<(InstanceId, u64)>,
    /// Free memory (MiB) left on the known hosts after placement.
    pub free: u64,
}

fn note(instance: &InstanceId, message: String) -> Note {
    Note {
        instance: Some(instance.clone()),
        message,
    }
}

type Found<'a> = HashMap<&'a str, Vec<(usize, u64)>, Xxh3Builder>;

/// Adds `last` (an instance id and the memory of its apps) on host `i`.
fn flush<'a>(i: usize, last: Option<(&'a str, u64)>, found: &mut Found<'a>) {
    if let Some((id, mem)) = last {
        let at = found.entry(id).or_default();
        match at.iter_mut().find(|(h, _)| *h == i) {
            Some((_, m)) => *m += mem,
            None => at.push((i, mem)),
        }
    }
}

/// Places every desired instance. Pure. Hosts are indexed once, so placing
/// an instance is one scan over a small array.
pub fn place(desired: &Desired, observed: &Observed) -> Placement {
    let mut out = Placement::default();
    let names: Vec<&HostName> = desired.hosts.keys().collect();
    let index: BTreeMap<&HostName, usize> =
        names.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let cap: Vec<u64> = desired
        .hosts
        .values()
        .map(|h| u64::from(h.memory.0))
        .collect();
    let mut used = vec![0u64; names.len()];
    let mut known = vec![false; names.len()];
    let mut states: Vec<Option<&crate::observed::HostState>> = vec![None; names.len()];
    let mut unknown: Vec<&HostName> = vec![];
    // Where each instance's apps are now, with the memory they hold per
    // host. A hash index, looked up per desired instance and otherwise only
    // summed over, so the result stays deterministic.
    let mut found: Found = HashMap::default();
    let mut unreadable: HashMap<&str, (&HostName, &str), Xxh3Builder> = HashMap::default();
    for (host, obs) in &observed.hosts {
        let Some(&i) = index.get(host) else { continue };
        let Some(state) = obs.known() else {
            unknown.push(host);
            continue;
        };
        known[i] = true;
        states[i] = Some(state);
        // An instance's apps (`{id}-{role}`) are mostly adjacent in name
        // order: add to the last entry without hashing again.
        let mut last: Option<(&str, u64)> = None;
        for (name, app) in &state.apps {
            if let crate::observed::Owner::Unreadable { reason } = &app.owner {
                unreadable.insert(name.as_str(), (host, reason.as_str()));
            }
            let mem = u64::from(app.limits.memory.map_or(0, |m| m.0));
            match app.instance() {
                Some(id) => match &mut last {
                    Some((l, m)) if *l == id.as_str() => *m += mem,
                    _ => {
                        flush(i, last.take(), &mut found);
                        last = Some((id.as_str(), mem));
                    }
                },
                None => used[i] += mem,
            }
        }
        flush(i, last, &mut found);
    }

    if !unreadable.is_empty() {
        for (id, spec) in &desired.instances {
            let hit = spec
                .apps
                .keys()
                .find_map(|a| unreadable.get(a.as_str()).map(|h| (a, h)));
            if let Some((app, (host, reason))) = hit {
                let why = format!(
                    "held: Dokku cannot read the env of app {app} on {host} ({reason}), so whose it is is unknown; nothing of this instance is created, changed or destroyed until its ENV file is repaired"
                );
                out.notes.push(note(id, why.clone()));
                out.held.insert(id.clone(), why);
            }
        }
    }
    // Existing instances first: they hold their memory wherever they are.
    let mut assigned: Vec<Option<usize>> = vec![None; desired.instances.len()];
    for (pos, (id, spec)) in desired.instances.iter().enumerate() {
        let Some(at) = found.remove(id.as_str()) else {
            continue;
        };
        let i = at[0].0;
        let host = names[i];
        if at.len() > 1 {
            let list: Vec<&str> = at.iter().map(|&(j, _)| names[j].as_str()).collect();
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
        used[i] += u64::from(spec.memory.0);
        assigned[pos] = Some(i);
    }
    // What is left belongs to instances no longer desired: it still holds memory.
    for at in found.values() {
        for &(i, mem) in at {
            used[i] += mem;
        }
    }

    let unknown_list = unknown
        .iter()
        .map(|h| h.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    for (pos, (id, spec)) in desired.instances.iter().enumerate() {
        if assigned[pos].is_some() || out.held.contains_key(id) {
            continue;
        }
        if !unknown.is_empty() {
            out.notes.push(note(
                id,
                format!(
                    "not placed: host {unknown_list} is unknown and may already hold this instance"
                ),
            ));
            continue;
        }
        let need = u64::from(spec.memory.0);
        let free = |i: usize, used: &[u64]| cap[i].saturating_sub(used[i]);
        let choice = match &spec.instance.pinned_host {
            Some(pin) => match index.get(pin) {
                Some(&i) if known[i] && free(i, &used) >= need => i,
                Some(&i) if known[i] => {
                    out.notes.push(note(id, format!("not placed: pinned host {pin} has {} MiB free, the instance needs {need} MiB", free(i, &used))));
                    continue;
                }
                _ => {
                    out.notes.push(note(
                        id,
                        format!("not placed: pinned host {pin} is not in the fleet"),
                    ));
                    continue;
                }
            },
            None => {
                // An instance placed nowhere yet owns no app anywhere: any
                // app with one of its names is someone else's.
                let taken = |i: usize| {
                    states[i]
                        .is_some_and(|s| spec.apps.keys().any(|a| s.apps.contains_key(a.as_str())))
                };
                let mut best: Option<(bool, u64, usize)> = None;
                for (i, &is_known) in known.iter().enumerate() {
                    let f = free(i, &used);
                    let clear = !taken(i);
                    if is_known && f >= need && best.is_none_or(|(bc, bf, _)| (clear, f) > (bc, bf))
                    {
                        best = Some((clear, f, i));
                    }
                }
                match best.map(|(_, f, i)| (f, i)) {
                    Some((_, i)) => i,
                    None => {
                        out.notes
                            .push(note(id, format!("not placed: no host has {need} MiB free")));
                        out.short.push((id.clone(), need));
                        continue;
                    }
                }
            }
        };
        used[choice] += need;
        assigned[pos] = Some(choice);
    }
    out.free = (0..names.len())
        .filter(|&i| known[i])
        .map(|i| cap[i].saturating_sub(used[i]))
        .sum();
    // Ids come in sorted order, so the map is built in bulk.
    out.hosts = desired
        .instances
        .keys()
        .zip(&assigned)
        .filter_map(|(id, a)| a.map(|i| (id.clone(), names[i].clone())))
        .collect();
    out
}
