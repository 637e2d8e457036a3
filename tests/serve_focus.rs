//! A run scoped to a new customer's instance, given a recent full
//! observation, reads one `apps:list` per host where the instance does not
//! live, and still converges exactly like a full run.

mod common;

use common::app::sandbox_reconciler;
use common::desired::Fixture;
use roomctl::apply::Shells;
use roomctl::domain::InstanceId;
use roomctl::observed::focus::{Focus, with_created};
use roomctl::ssh::{Counters, Counting, RemoteShell};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn instances(ids: &[&str]) -> String {
    ids.iter()
        .map(|i| format!("[[instance]]\nid = \"{i}\"\n\n"))
        .collect()
}

fn counted(shells: &Shells) -> (Shells, BTreeMap<String, Arc<Counters>>) {
    let mut out = Shells::new();
    let mut counters = BTreeMap::new();
    for (h, s) in shells {
        let c = Counting::new(s.clone());
        counters.insert(h.to_string(), c.counters.clone());
        out.insert(h.clone(), Arc::new(c) as Arc<dyn RemoteShell>);
    }
    (out, counters)
}

#[tokio::test]
async fn a_new_instance_costs_one_apps_list_on_hosts_it_does_not_land_on() {
    let sandbox = tempfile::tempdir().unwrap();
    let before = Fixture::with_instances(&instances(&["alpha", "beta", "gamma"]));
    let r = sandbox_reconciler(before.load().unwrap(), sandbox.path());
    let (observed, plan, report) = r.apply_observed(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let recent = Arc::new(with_created(&observed, &r.desired, &plan, &report));

    let after = Fixture::with_instances(&instances(&["alpha", "beta", "gamma", "delta"]));
    let mut r = sandbox_reconciler(after.load().unwrap(), sandbox.path());
    let (shells, counters) = counted(&r.shells);
    r.shells = shells;
    let delta = InstanceId::parse("delta").unwrap();
    r.scope = Some(BTreeSet::from([delta.clone()]));
    r.observe.focus = Some(Focus {
        instances: BTreeSet::from([delta.clone()]),
        recent,
    });
    let (plan, report) = r.apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(plan.summary().create, 3, "delta's three apps");
    let host = plan.placements.get(&delta).unwrap().to_string();
    for (h, c) in &counters {
        let by = c.by_subcommand();
        if *h == host {
            assert!(by.get("apps:create") == Some(&3), "{h}: {by:?}");
        } else {
            assert_eq!(by.get("apps:list"), Some(&1), "{h}: {by:?}");
            assert_eq!(c.total(), 1, "only apps:list on {h}: {by:?}");
        }
    }

    // A full run afterwards finds nothing to do.
    let full = sandbox_reconciler(after.load().unwrap(), sandbox.path());
    let (_, plan) = full.plan().await;
    assert!(!plan.has_changes(), "{plan:?}");
}
