//! Placement: most free memory, pins, never moving, unknown hosts.

use super::*;

#[test]
fn new_instances_go_to_the_host_with_most_free_memory_and_pins_win() {
    let d = desired(vec![
        instance("acme", RunState::Running, None),
        instance("pinned", RunState::Running, Some("dokku-1")),
    ]);
    let p = plan(&d, &observed_with(&d, &[]));
    assert_eq!(p.placements["acme"].as_str(), "dokku-2");
    assert_eq!(p.placements["pinned"].as_str(), "dokku-1");
}

#[test]
fn placed_instance_never_moves_even_if_pinned_elsewhere() {
    let d = desired(vec![instance("acme", RunState::Running, Some("dokku-2"))]);
    let p = plan(&d, &observed_with(&d, &[("acme", "dokku-1")]));
    assert_eq!(p.placements["acme"].as_str(), "dokku-1");
    assert!(!p.has_changes());
    assert!(p.notes.iter().any(|n| n.message.contains("never moves")));
}

#[test]
fn unknown_host_gets_no_actions_and_defers_new_placements() {
    let d = desired(vec![
        instance("acme", RunState::Running, None),
        instance("new", RunState::Running, None),
    ]);
    let mut o = observed_with(&d, &[("acme", "dokku-2")]);
    o.hosts.insert(
        HostName::parse("dokku-1").unwrap(),
        HostObservation::Unknown {
            reason: "cannot connect".into(),
        },
    );
    let p = plan(&d, &o);
    assert!(matches!(p.hosts["dokku-1"], HostPlan::Unknown { .. }));
    assert!(
        !p.placements.contains_key("new"),
        "must not create what may live on the unknown host"
    );
    assert!(!p.has_changes());
    let text = render::human(&p, render::Style::new(false));
    assert!(
        text.contains("UNKNOWN") && text.contains("not placed"),
        "{text}"
    );
}

#[test]
fn a_new_instance_is_placed_where_no_foreign_app_holds_one_of_its_app_names() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let first = plan(&d, &observed_with(&d, &[])).placements["acme"].clone();
    // Someone made an app named like one of acme's on that host (using no
    // memory, so only its name can keep acme away).
    let mut o = observed_with(&d, &[]);
    let mut foreign = converged(
        &InstanceId::parse("acme").unwrap(),
        &d.instances["acme"].apps["acme-backend"],
        RunState::Running,
    );
    foreign.owner = Owner::Foreign;
    foreign.limits.memory = None;
    let HostObservation::Known(s) = o.hosts.get_mut(first.as_str()).unwrap() else {
        unreachable!()
    };
    s.apps.insert("acme-backend".into(), foreign);
    let p = plan(&d, &o);
    assert_ne!(p.placements["acme"], first, "{:?}", p.notes);
    assert!(p.missing.is_empty(), "{:?}", p.missing);
    assert_eq!(p.summary().create, d.instances["acme"].apps.len());
}

#[test]
fn a_new_instance_whose_app_name_is_taken_on_every_host_is_missing_not_placed_elsewhere() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let mut o = observed_with(&d, &[]);
    for h in d.hosts.keys() {
        let mut foreign = converged(
            &InstanceId::parse("acme").unwrap(),
            &d.instances["acme"].apps["acme-backend"],
            RunState::Running,
        );
        foreign.owner = Owner::Foreign;
        foreign.limits.memory = None;
        let HostObservation::Known(s) = o.hosts.get_mut(h.as_str()).unwrap() else {
            unreachable!()
        };
        s.apps.insert("acme-backend".into(), foreign);
    }
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{p:?}");
    assert!(p.missing.contains_key("acme"), "{:?}", p.missing);
}
