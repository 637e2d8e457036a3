//! Narrowing a plan to some instances ([`Plan::scoped`]), for passes
//! triggered by one customer's webhook.

use super::model::{CertificateBudget, HostPlan, Plan};
use crate::domain::InstanceId;

impl Plan {
    /// The part of the plan about the instances in `scope`: their app
    /// plans, placements and notes. Hosts keep their known/unknown state,
    /// so a scoped apply still reports an unreadable host. Apps of other
    /// instances are left out entirely, never treated as unwanted.
    pub fn scoped(&self, scope: &std::collections::BTreeSet<InstanceId>) -> Plan {
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
            placements: self
                .placements
                .iter()
                .filter(|(i, _)| scope.contains(*i))
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
                                    .filter(|c| c.instance().is_some_and(|i| scope.contains(&i)))
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
