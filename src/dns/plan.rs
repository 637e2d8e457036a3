//! Planning one zone: the pure diff between the records roomctl wants and
//! the records the provider has.
//!
//! Only records carrying this installation's mark are ever edited or
//! deleted. A wanted record whose name is taken by someone else's
//! conflicting record (a parking ALIAS, a hand-made CNAME, …) is not
//! created, and the conflict is reported.

use super::desired::owner_of;
use super::record::{DnsRecord, RecordKey, RecordType};
use crate::domain::InstanceId;
use serde::Serialize;
use std::collections::BTreeMap;

/// One change to a zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DnsChange {
    /// Create a record.
    Create {
        /// The record (no id).
        record: DnsRecord,
    },
    /// Edit a roomctl record in place.
    Update {
        /// Provider id of the record.
        id: String,
        /// What it is.
        from: DnsRecord,
        /// What it becomes.
        to: DnsRecord,
    },
    /// Delete a roomctl record.
    Delete {
        /// The record, with its id.
        record: DnsRecord,
    },
}

impl DnsChange {
    /// The instance the change is for (from the mark), `None` for fixed records.
    pub fn instance(&self) -> Option<InstanceId> {
        let r = match self {
            DnsChange::Create { record } | DnsChange::Delete { record } => record,
            DnsChange::Update { to, .. } => to,
        };
        owner_of(r)
            .and_then(|(_, i)| i)
            .and_then(|i| InstanceId::parse(i).ok())
    }

    /// Whether the change edits or deletes an existing record.
    pub fn is_destructive(&self) -> bool {
        !matches!(self, DnsChange::Create { .. })
    }
}

/// The plan for one zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ZonePlan {
    /// The zone could not be read: no changes this run.
    Unknown {
        /// Why.
        reason: String,
    },
    /// The zone was read.
    Known {
        /// Changes: creates and updates first, deletes last.
        changes: Vec<DnsChange>,
        /// How many records carry this installation's mark.
        managed: usize,
    },
}

/// Whether someone else's record of type `b` at a name stops roomctl
/// from adding its record of type `a` there: DNS forbids the pair (a
/// CNAME beside anything, an ALIAS beside an address), or both would
/// answer for the name (two A records would send half the traffic to
/// someone else's host).
fn conflicts(a: &RecordType, b: &RecordType) -> bool {
    use RecordType::*;
    let addressy = |t: &RecordType| matches!(t, A | Aaaa | Alias);
    a == b && matches!(a, A | Aaaa | Cname | Alias)
        || matches!(a, Cname) != matches!(b, Cname)
        || matches!((a, b), (Alias, _) | (_, Alias)) && addressy(a) && addressy(b)
}

/// Diffs `wanted` (all marked with `owner`) against `observed`. Deletes
/// are planned only when `allow_deletes` (they are held back while any
/// host is unknown: an instance there may still need its records).
pub fn plan_zone(
    owner: &str,
    wanted: &[DnsRecord],
    observed: &[DnsRecord],
    allow_deletes: bool,
) -> (ZonePlan, Vec<(Option<InstanceId>, String)>) {
    let (ours, theirs): (Vec<&DnsRecord>, Vec<&DnsRecord>) = observed
        .iter()
        .partition(|r| owner_of(r).is_some_and(|(o, _)| o == owner));
    let mut want_by_key: BTreeMap<RecordKey, Vec<&DnsRecord>> = BTreeMap::new();
    for w in wanted {
        want_by_key.entry(w.key()).or_default().push(w);
    }
    let mut have_by_key: BTreeMap<RecordKey, Vec<&DnsRecord>> = BTreeMap::new();
    for h in &ours {
        have_by_key.entry(h.key()).or_default().push(h);
    }
    let mut changes = Vec::new();
    let mut deletes = Vec::new();
    let mut notes = Vec::new();
    for (key, want) in &want_by_key {
        let have = have_by_key.remove(key).unwrap_or_default();
        let blockers: Vec<&&DnsRecord> = theirs
            .iter()
            .filter(|t| t.name == key.name && conflicts(&t.kind, &key.kind))
            .collect();
        let mut unmatched_have: Vec<&DnsRecord> = Vec::new();
        let mut unmatched_want: Vec<&DnsRecord> = want.clone();
        for h in have {
            match unmatched_want.iter().position(|w| w.content == h.content) {
                Some(i) => {
                    let w = unmatched_want.remove(i);
                    if !(w.ttl == h.ttl && w.prio == h.prio && w.notes == h.notes) {
                        changes.push(update(h, w));
                    }
                }
                None => unmatched_have.push(h),
            }
        }
        for w in unmatched_want {
            if let Some(h) = unmatched_have.pop() {
                changes.push(update(h, w));
            } else if let Some(b) = blockers.first() {
                let instance = DnsChange::Create { record: w.clone() }.instance();
                notes.push((
                    instance,
                    format!(
                        "DNS: {} {} is not created: {} {} → {} exists and is not roomctl's (left alone)",
                        w.kind, w.name, b.kind, b.name, b.content
                    ),
                ));
            } else {
                changes.push(DnsChange::Create { record: w.clone() });
            }
        }
        deletes.extend(unmatched_have);
    }
    deletes.extend(have_by_key.into_values().flatten());
    if allow_deletes {
        changes.extend(
            deletes
                .into_iter()
                .map(|r| DnsChange::Delete { record: r.clone() }),
        );
    } else if !deletes.is_empty() {
        notes.push((
            None,
            format!(
                "DNS: {} record deletion(s) held back while a host is unknown",
                deletes.len()
            ),
        ));
    }
    (
        ZonePlan::Known {
            changes,
            managed: ours.len(),
        },
        notes,
    )
}

fn update(have: &DnsRecord, want: &DnsRecord) -> DnsChange {
    DnsChange::Update {
        id: have.id.clone().unwrap_or_default(),
        from: have.clone(),
        to: want.clone(),
    }
}

#[cfg(test)]
mod tests;
