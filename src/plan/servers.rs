//! Growing and shrinking the pool of Hetzner servers (`[pool]`).
//!
//! - **Out.** When unpinned instances could not be placed for lack of
//!   memory, or the free memory left after placement is below the pool's
//!   `headroom`, or the pool has fewer than `min` servers, the plan creates
//!   `ceil(missing / server memory)` servers, up to `max`. Servers still
//!   starting count as capacity already on its way.
//! - **In.** Only with `remove_empty` (`apply --remove-empty-servers`): a
//!   pool server that was read and holds no app at all (roomctl's or
//!   anyone's), with no instance placed on it, above `min`, is removed;
//!   the apply checks it is still empty right before deleting.
//! - **Never** while the cloud or any host is unknown: nothing is created
//!   or removed on a partial picture. Servers without roomctl's two labels
//!   are not the pool's and are never touched.

use super::model::Note;
use super::placement::Placement;
use crate::desired::Desired;
use crate::desired::pool::PoolSpec;
use crate::domain::HostName;
use crate::observed::{CloudObservation, HostObservation, Observed};
use serde::Serialize;
use std::collections::BTreeSet;

/// A change to the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ServerAction {
    /// Create a server (cloud-init installs Dokku), wait until it answers
    /// `dokku version` over SSH.
    Create {
        /// Its name, also its host name.
        name: HostName,
        /// Server type.
        server_type: String,
        /// Location.
        location: String,
    },
    /// Delete an empty pool server.
    Delete {
        /// Its name.
        name: HostName,
        /// Hetzner's id.
        id: u64,
    },
}

impl ServerAction {
    /// The server's name.
    pub fn name(&self) -> &HostName {
        match self {
            ServerAction::Create { name, .. } | ServerAction::Delete { name, .. } => name,
        }
    }
}

/// The pool part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ServerSection {
    /// The cloud could not be read.
    Unknown {
        /// Why.
        reason: String,
    },
    /// What changes.
    Known {
        /// Servers in the pool now (any status).
        servers: usize,
        /// Creates and deletes, creates first.
        actions: Vec<ServerAction>,
    },
}

/// The smallest `{pool}-{n}` names, `n` from 1, not taken by `taken`.
fn free_names(pool: &PoolSpec, taken: &BTreeSet<String>, count: usize) -> Vec<HostName> {
    (1..)
        .map(|n| format!("{}-{n}", pool.name))
        .filter(|n| !taken.contains(n))
        .filter_map(|n| HostName::parse(&n).ok())
        .take(count)
        .collect()
}

/// Plans the pool: `None` without a `[pool]`.
pub fn plan_servers(
    desired: &Desired,
    observed: &Observed,
    placement: &Placement,
    notes: &mut Vec<Note>,
) -> Option<ServerSection> {
    let pool = desired.pool.as_ref()?;
    let servers = match &observed.cloud {
        Some(CloudObservation::Known(all)) => {
            all.iter().filter(|s| pool.owns(s)).collect::<Vec<_>>()
        }
        Some(CloudObservation::Unknown { reason }) => {
            return Some(ServerSection::Unknown {
                reason: reason.clone(),
            });
        }
        None => {
            return Some(ServerSection::Unknown {
                reason: "the cloud was not read (no Hetzner API configured)".into(),
            });
        }
    };
    let mut actions = Vec::new();
    let section = |actions| {
        Some(ServerSection::Known {
            servers: servers.len(),
            actions,
        })
    };
    if observed.hosts.values().any(|h| h.known().is_none()) {
        notes.push(Note {
            instance: None,
            message: "pool unchanged: a host is unknown, so the capacity is unknown".into(),
        });
        return section(actions);
    }
    let per_server = u64::from(pool.memory.0).max(1);
    // Servers created but not yet hosts: capacity on its way.
    let starting = servers
        .iter()
        .filter(|s| !desired.hosts.keys().any(|h| h.as_str() == s.name))
        .count() as u64;
    let incoming = starting * per_server;
    let fits: Vec<&(crate::domain::InstanceId, u64)> = placement
        .short
        .iter()
        .filter(|(id, need)| {
            let fits = *need <= per_server;
            if !fits {
                notes.push(Note {
                    instance: Some(id.clone()),
                    message: format!(
                        "needs {need} MiB: more than a {} pool server has ({per_server} MiB)",
                        pool.server_type
                    ),
                });
            }
            fits
        })
        .collect();
    let short: u64 = fits.iter().map(|(_, m)| m).sum();
    let headroom = u64::from(pool.headroom.0).saturating_sub(placement.free);
    let missing = (short + headroom).saturating_sub(incoming);
    let by_memory = missing.div_ceil(per_server) as usize;
    let by_min = pool.min.saturating_sub(servers.len());
    let room = pool.max.saturating_sub(servers.len());
    let create = by_memory.max(by_min).min(room);
    if by_memory.max(by_min) > room {
        notes.push(Note {
            instance: None,
            message: format!(
                "pool {} is at its maximum of {} servers: {} more would be needed",
                pool.name,
                pool.max,
                by_memory.max(by_min) - room
            ),
        });
    }
    let taken: BTreeSet<String> = servers
        .iter()
        .map(|s| s.name.clone())
        .chain(desired.hosts.keys().map(|h| h.to_string()))
        .collect();
    for name in free_names(pool, &taken, create) {
        actions.push(ServerAction::Create {
            name,
            server_type: pool.server_type.clone(),
            location: pool.location.clone(),
        });
    }
    if create == 0 && short == 0 {
        let placed: BTreeSet<&HostName> = placement.hosts.values().collect();
        let mut empty: Vec<(&HostName, u64)> = servers
            .iter()
            .filter_map(|s| {
                let (name, host) = desired.hosts.get_key_value(s.name.as_str())?;
                let HostObservation::Known(state) = observed.hosts.get(name)? else {
                    return None;
                };
                (state.apps.is_empty() && !placed.contains(name)).then_some((&host.name, s.id))
            })
            .collect();
        // Highest numbers go first; keep headroom and the minimum.
        empty.sort_by(|a, b| b.0.cmp(a.0));
        let spare_by_min = servers.len().saturating_sub(pool.min);
        let spare_by_headroom =
            (placement.free.saturating_sub(u64::from(pool.headroom.0)) / per_server) as usize;
        let removable = spare_by_min.min(spare_by_headroom).min(empty.len());
        for (name, id) in empty.into_iter().take(removable) {
            if pool.remove_empty {
                actions.push(ServerAction::Delete {
                    name: name.clone(),
                    id,
                });
            } else {
                notes.push(Note {
                    instance: None,
                    message: format!("server {name} is empty and not needed; `roomctl apply --remove-empty-servers` removes it"),
                });
            }
        }
    }
    section(actions)
}
