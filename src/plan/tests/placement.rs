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
