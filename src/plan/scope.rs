//! Narrowing a plan to some instances ([`Plan::scoped`]), for passes
//! triggered by one customer's webhook, or leaving some out
//! ([`Plan::without`]), for resyncs while those instances back off.

use super::model::{CertificateBudget, HostPlan, Plan};
use crate::domain::InstanceId;

impl Plan {
    /// The part of the plan about the instances in `scope`: their app
    /// plans, placements and notes. Hosts keep their known/unknown state,
    /// so a scoped apply still reports an unreadable host. Apps of other
    /// instances are left out entirely, never treated as unwanted.
    pub fn scoped(&self, scope: &std::collections::BTreeSet<InstanceId>) -> Plan {
        self.filtered(|i| scope.contains(i), false)
    }

    /// The plan without the instances in `left_out`: everything else,
    /// fleet-wide changes (DNS records of no instance, servers) included.
    pub fn without(&self, left_out: &std::collections::BTreeSet<InstanceId>) -> Plan {
        if left_out.is_empty() {
            return self.clone();
        }
        self.filtered(|i| !left_out.contains(i), true)
    }

    /// The plan for the instances `keep` accepts; with `fleet`, changes
    /// that belong to no instance too.
    fn filtered(&self, keep: impl Fn(&InstanceId) -> bool, fleet: bool) -> Plan {
        let scope = Keep(&keep);
        let hosts = self
            .hosts
            .iter()
            .map(|(h, hp)| {
                let hp = match hp {
                    HostPlan::Known { apps } => HostPlan::Known {
                        apps: apps
                            .iter()
                            .filter(|(_, p)| scope.contains(&p.instance))
                            .map(|(a, p)| (a.clone(), p.clone()))
                            .collect(),
                    },
                    unknown => unknown.clone(),
                };
                (h.clone(), hp)
            })
            .collect();
        Plan {
            hosts,
            held: self
                .held
                .iter()
                .filter(|(i, _)| scope.contains(i))
                .map(|(i, w)| (i.clone(), w.clone()))
                .collect(),
            missing: self
                .missing
                .iter()
                .filter(|(i, _)| scope.contains(i))
                .map(|(i, w)| (i.clone(), w.clone()))
                .collect(),
            placements: self
                .placements
                .iter()
                .filter(|(i, _)| scope.contains(i))
                .map(|(i, h)| (i.clone(), h.clone()))
                .collect(),
            notes: self
                .notes
                .iter()
                .filter(|n| n.instance.as_ref().is_none_or(|i| scope.contains(i)))
                .cloned()
                .collect(),
            dns: self
                .dns
                .iter()
                .map(|(zone, zp)| {
                    let zp = match zp {
                        crate::dns::plan::ZonePlan::Known { changes, managed } => {
                            crate::dns::plan::ZonePlan::Known {
                                changes: changes
                                    .iter()
                                    .filter(|c| match c.instance() {
                                        Some(i) => scope.contains(&i),
                                        None => fleet,
                                    })
                                    .cloned()
                                    .collect(),
                                managed: *managed,
                            }
                        }
                        unknown => unknown.clone(),
                    };
                    (zone.clone(), zp)
                })
                .collect(),
            certificates: CertificateBudget {
                waiting: self
                    .certificates
                    .waiting
                    .iter()
                    .filter(|a| {
                        self.apps()
                            .any(|(_, n, p)| n == *a && scope.contains(&p.instance))
                    })
                    .cloned()
                    .collect(),
                ..self.certificates.clone()
            },
            wildcard: self.wildcard.clone(),
            servers: self.servers.clone(),
        }
    }
}

/// Adapts a predicate to the `contains` the filters above call.
struct Keep<'a, F: Fn(&InstanceId) -> bool>(&'a F);

impl<F: Fn(&InstanceId) -> bool> Keep<'_, F> {
    fn contains(&self, i: &InstanceId) -> bool {
        (self.0)(i)
    }
}
