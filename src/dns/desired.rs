//! The records the fleet should have, and roomctl's ownership mark.
//!
//! Pure: from the desired state and where each instance is placed. Every
//! record roomctl writes carries `roomctl:{owner}:{instance}` in the
//! provider's `notes` field (`-` for the platform's fixed records), so
//! ownership can be proven from the provider alone, even with roomctl's
//! own state lost.

use super::record::{DnsRecord, RecordType};
use crate::desired::Desired;
use crate::desired::dns::DnsSpec;
use crate::domain::{HostName, InstanceId, Label};
use std::collections::BTreeMap;

/// The ownership mark for a record of `instance` (or a fixed record).
pub fn mark(owner: &Label, instance: Option<&InstanceId>) -> String {
    format!(
        "roomctl:{owner}:{}",
        instance.map_or("-", InstanceId::as_str)
    )
}

/// Who a record belongs to, by its notes: `Some((owner, instance))` for a
/// roomctl record (instance `None` for a fixed one), `None` for anything
/// else.
pub fn owner_of(r: &DnsRecord) -> Option<(&str, Option<&str>)> {
    let rest = r.notes.as_deref()?.strip_prefix("roomctl:")?;
    let (owner, instance) = rest.split_once(':')?;
    Some((owner, (instance != "-").then_some(instance)))
}

/// Whether `name` lies in `zone` (the apex included).
pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// The records of the placed instances (A and AAAA for each of their
/// domains, pointing at their host) and the fixed records, each marked.
/// Also returns notes about instances whose host has no address.
pub fn desired_records(
    desired: &Desired,
    spec: &DnsSpec,
    placements: &BTreeMap<InstanceId, HostName>,
) -> (Vec<DnsRecord>, Vec<(Option<InstanceId>, String)>) {
    let zone = spec.zone.as_str();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for r in &spec.records {
        let mut rec = DnsRecord::new(&r.name, r.kind.clone(), r.content.clone());
        rec.ttl = r.ttl;
        rec.prio = r.prio;
        rec.notes = Some(mark(&spec.owner, None));
        out.push(rec);
    }
    for (id, host) in placements {
        let (Some(inst), Some(h)) = (desired.instances.get(id), desired.hosts.get(host)) else {
            continue;
        };
        if h.ipv4.is_none() && h.ipv6.is_none() {
            let m = format!(
                "host {host} has no ipv4 or ipv6 in hosts.toml: no DNS records for its instances"
            );
            notes.push((Some(id.clone()), m));
            continue;
        }
        let addresses = [
            h.ipv4.map(|a| (RecordType::A, a.to_string())),
            h.ipv6.map(|a| (RecordType::Aaaa, a.to_string())),
        ];
        for app in inst.apps.values() {
            for d in app.domains.iter().filter(|d| in_zone(d.as_str(), zone)) {
                for (kind, content) in addresses.iter().flatten() {
                    let mut rec = DnsRecord::new(d.as_str(), kind.clone(), content.clone());
                    rec.ttl = spec.ttl;
                    rec.notes = Some(mark(&spec.owner, Some(id)));
                    out.push(rec);
                }
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.same_data(b));
    (out, notes)
}
