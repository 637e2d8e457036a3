//! The pool: creates when instances do not fit, removals only when asked,
//! nothing on a partial picture, never a server that is not the pool's.

use super::*;
use crate::desired::pool::PoolSpec;
use crate::hetzner::{CloudServer, OWNER_LABEL, POOL_LABEL};
use crate::observed::CloudObservation;
use crate::plan::servers::{ServerAction, ServerSection};

fn pool(min: usize, max: usize) -> PoolSpec {
    PoolSpec {
        name: Label::parse("pool").unwrap(),
        owner: Label::parse("prod").unwrap(),
        server_type: "cx42".into(),
        location: "fsn1".into(),
        image: "debian-12".into(),
        memory: MemoryMb(2048),
        min,
        max,
        headroom: MemoryMb(0),
        max_sessions: 20,
        labels: BTreeMap::new(),
        remove_empty: false,
    }
}

fn server(name: &str, id: u64, owner: &str) -> CloudServer {
    CloudServer {
        id,
        name: name.into(),
        status: "running".into(),
        labels: BTreeMap::from([
            (OWNER_LABEL.to_string(), owner.to_string()),
            (POOL_LABEL.to_string(), "pool".to_string()),
        ]),
        ipv4: Some(std::net::Ipv4Addr::new(10, 0, 0, id as u8)),
        ipv6: None,
        private_ipv4: None,
        server_type: "cx42".into(),
        location: "fsn1".into(),
    }
}

/// Desired `n` instances of 1 GiB, no fixed hosts, and the pool; observed
/// `servers` in the cloud, each an empty known host.
fn world(n: usize, p: PoolSpec, servers: Vec<CloudServer>) -> (Desired, Observed) {
    let instances = (0..n)
        .map(|i| instance(&format!("i{i}"), RunState::Running, None))
        .collect();
    let mut d = desired(instances);
    d.hosts.clear();
    d.pool = Some(p);
    let d = d.with_pool_servers(&servers);
    let mut o = observed_with(&d, &[]);
    o.cloud = Some(CloudObservation::Known(servers));
    (d, o)
}

fn actions(p: &Plan) -> Vec<ServerAction> {
    p.server_actions().cloned().collect()
}

#[test]
fn instances_that_do_not_fit_create_servers_up_to_the_maximum() {
    let (d, o) = world(5, pool(0, 2), vec![server("pool-1", 1, "prod")]);
    let p = crate::plan::plan(&d, &o);
    // pool-1 holds 2 of the 1 GiB instances; 3 are left: 2 servers, capped at max 2.
    assert_eq!(
        actions(&p),
        [ServerAction::Create {
            name: HostName::parse("pool-2").unwrap(),
            server_type: "cx42".into(),
            location: "fsn1".into(),
        }]
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.message.contains("at its maximum of 2")),
        "{:?}",
        p.notes
    );
}

#[test]
fn the_pool_is_not_changed_while_the_cloud_is_unknown() {
    let (d, mut o) = world(5, pool(0, 5), vec![]);
    o.cloud = Some(CloudObservation::Unknown {
        reason: "503".into(),
    });
    let p = crate::plan::plan(&d, &o);
    assert!(actions(&p).is_empty());
    assert!(matches!(p.servers, Some(ServerSection::Unknown { .. })));
}

#[test]
fn a_server_starting_up_counts_as_capacity_on_its_way() {
    let mut starting = server("pool-1", 1, "prod");
    starting.status = "initializing".into();
    let (d, o) = world(2, pool(0, 5), vec![starting]);
    assert!(!d.hosts.contains_key("pool-1"), "not a host until running");
    let p = crate::plan::plan(&d, &o);
    assert!(actions(&p).is_empty(), "{:?}", actions(&p));
}

#[test]
fn an_empty_server_is_removed_only_when_asked_and_never_below_the_minimum() {
    let servers = vec![
        server("pool-1", 1, "prod"),
        server("pool-2", 2, "prod"),
        server("pool-3", 3, "prod"),
    ];
    let (d, o) = world(0, pool(1, 5), servers.clone());
    let p = crate::plan::plan(&d, &o);
    assert!(actions(&p).is_empty());
    assert!(
        p.notes
            .iter()
            .any(|n| n.message.contains("--remove-empty-servers"))
    );

    let mut asked = pool(1, 5);
    asked.remove_empty = true;
    let (d, o) = world(0, asked, servers);
    let p = crate::plan::plan(&d, &o);
    let removed: Vec<String> = actions(&p)
        .iter()
        .map(|a| match a {
            ServerAction::Delete { name, .. } => name.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        removed,
        ["pool-3", "pool-2"],
        "highest first, keeping the minimum of 1"
    );
}

#[test]
fn a_server_holding_any_app_or_not_labelled_as_the_pools_is_never_removed() {
    let mut asked = pool(0, 5);
    asked.remove_empty = true;
    let servers = vec![
        server("pool-1", 1, "prod"),
        server("pool-2", 2, "someone-else"),
    ];
    let (d, mut o) = world(0, asked, servers);
    assert!(
        !d.hosts.contains_key("pool-2"),
        "not the pool's: not a host either"
    );
    let HostObservation::Known(state) = o.hosts.get_mut("pool-1").unwrap() else {
        panic!()
    };
    let mut foreign = converged(
        &InstanceId::parse("x").unwrap(),
        &app("x", "backend", 256),
        RunState::Running,
    );
    foreign.owner = Owner::Foreign;
    state.apps.insert("hand-made".into(), foreign);
    let p = crate::plan::plan(&d, &o);
    assert!(actions(&p).is_empty(), "{:?}", actions(&p));
}
