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
pub mod certs;
pub mod digest;
mod host;
mod missing;
mod model;
pub mod nginx;
pub mod orphan;
pub mod placement;
pub mod render;
mod scope;
pub mod servers;
pub mod wildcard;

pub use model::*;

use crate::desired::Desired;
use crate::dns::plan::ZonePlan;
use crate::domain::HostName;
use crate::observed::{HostObservation, HostState, Observed, Owner, ZoneObservation};
use std::collections::{BTreeMap, BTreeSet};

/// Computes the plan that brings `observed` to `desired`. Hosts are
/// planned independently (in parallel for large fleets); the result does
/// not depend on the order in which they finish.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let mut placement = placement::place(desired, observed);
    let by_host = group_by_host(&placement.hosts);
    let wildcard = wildcard::section(
        desired,
        observed.certs.as_ref(),
        observed.at,
        &placement.hosts,
    );
    let hosts: Vec<(&HostName, &HostObservation)> = observed.hosts.iter().collect();
    let apps: usize = observed
        .hosts
        .values()
        .filter_map(|o| o.known())
        .map(|s| s.apps.len())
        .sum();
    let threads = if apps < 5_000 {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(hosts.len().max(1))
    };
    let chunk = hosts.len().div_ceil(threads).max(1);
    let planned: Vec<(HostName, HostPlan, Vec<Note>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = hosts
            .chunks(chunk)
            .map(|part| {
                let by_host = &by_host;
                let held = &placement.held;
                let wildcard = wildcard.as_ref();
                scope.spawn(move || {
                    part.iter()
                        .map(|(h, o)| {
                            let empty = Vec::new();
                            let ids = by_host.get(h).unwrap_or(&empty);
                            let ctx = host::Ctx {
                                now: observed.at,
                                wildcard,
                                certs: observed.certs.as_ref(),
                                held,
                            };
                            let (hp, notes) = host::plan_host(desired, h, o, ids, &ctx);
                            ((*h).clone(), hp, notes)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("planner thread panicked"))
            .collect()
    });
    let mut notes = std::mem::take(&mut placement.notes);
    notes.extend(desired.notes.iter().map(|(id, message)| Note {
        instance: Some(id.clone()),
        message: message.clone(),
    }));
    if desired.nginx.as_ref().is_some_and(|n| !n.tested) {
        notes.push(Note {
            instance: None,
            message: "nginx is not installed here: the snippets passed roomctl's own checks but not `nginx -t` (the roomctl Dokku plugin runs it on each host before installing)".into(),
        });
    }
    let mut out = BTreeMap::new();
    for (h, hp, n) in planned {
        notes.extend(n);
        out.insert(h, hp);
    }
    let mut dns = BTreeMap::new();
    if let Some(spec) = &desired.dns {
        let zone = spec.zone.to_string();
        let zp = match observed.dns.get(&zone) {
            Some(ZoneObservation::Known(records)) => {
                let (wanted, n1) =
                    crate::dns::desired::desired_records(desired, spec, &placement.hosts);
                let all_known = observed.hosts.values().all(|h| h.known().is_some());
                // A held instance's records are neither wanted nor seen:
                // they stay exactly as they are.
                let held = |r: &crate::dns::DnsRecord| {
                    crate::dns::desired::owner_of(r).is_some_and(|(o, i)| {
                        o == spec.owner.as_str()
                            && i.is_some_and(|i| placement.held.keys().any(|h| h.as_str() == i))
                    })
                };
                let wanted: Vec<_> = wanted.into_iter().filter(|r| !held(r)).collect();
                let records: Vec<_> = records.iter().filter(|r| !held(r)).cloned().collect();
                let (zp, n2) =
                    crate::dns::plan::plan_zone(spec.owner.as_str(), &wanted, &records, all_known);
                notes.extend(
                    n1.into_iter()
                        .chain(n2)
                        .map(|(instance, message)| Note { instance, message }),
                );
                zp
            }
            Some(ZoneObservation::Unknown { reason }) => ZonePlan::Unknown {
                reason: reason.clone(),
            },
            None => ZonePlan::Unknown {
                reason: "the zone was not read".into(),
            },
        };
        dns.insert(zone, zp);
    }
    let servers = servers::plan_servers(desired, observed, &placement, &mut notes);
    let certificates = certs::apply_budget(desired, observed, &mut out);
    if !certificates.waiting.is_empty() {
        let used = certificates
            .used
            .map_or("an unknown number (a host could not be read)".into(), |u| {
                u.to_string()
            });
        notes.push(Note {
            instance: None,
            message: format!(
                "{} certificate(s) wait for the weekly budget: {} issued in the last 7 days, budget {} ([platform.certificates] weekly_budget)",
                certificates.waiting.len(),
                used,
                certificates.budget
            ),
        });
    }
    notes.sort();
    notes.dedup();
    let mut p = Plan {
        hosts: out,
        held: placement.held,
        placements: placement.hosts,
        missing: BTreeMap::new(),
        notes,
        dns,
        certificates,
        wildcard,
        servers,
    };
    p.missing = missing::missing(desired, observed, &p);
    p
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
/// roomctl's apps whose applied digest does not match the desired one or
/// that lost the certificate they should have, apps no longer desired,
/// interrupted creates, or every app of roomctl's when `deep`. Foreign
/// apps are never read further.
pub fn needs_detail(desired: &Desired, state: &HostState, deep: bool) -> BTreeSet<String> {
    state
        .apps
        .iter()
        .filter(|(_, o)| o.detail.is_none())
        .filter(|(name, o)| {
            let (instance, interrupted) = match &o.owner {
                Owner::Foreign | Owner::Disowned { .. } | Owner::Unreadable { .. } => return false,
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
                    !digest::matches(app, spec.instance.state, o.applied.as_deref())
                        || lost_certificate(desired, app, spec.instance.state, o)
                }
                None => true,
            }
        })
        .map(|(n, _)| n.clone())
        .collect()
}

/// Whether a running app that should have its own certificate has none:
/// whatever removed it (clearing its domains does) may have changed what
/// the digest vouches for, and enabling Let's Encrypt again on stale
/// facts fails the same way every run.
fn lost_certificate(
    desired: &Desired,
    app: &crate::desired::AppSpec,
    state: crate::domain::RunState,
    o: &crate::observed::ObservedApp,
) -> bool {
    desired.platform.tls == crate::desired::TlsMode::PerApp
        && app.tls
        && !app.domains.is_empty()
        && state == crate::domain::RunState::Running
        && o.tls_expires.is_none()
}

#[cfg(test)]
mod tests;
