//! Ownership by name and marks together, other platforms' apps, and apps
//! whose env Dokku cannot read.

use super::*;

fn state_mut<'a>(o: &'a mut Observed, host: &str) -> &'a mut HostState {
    match o.hosts.get_mut(host).unwrap() {
        HostObservation::Known(s) => s,
        _ => unreachable!(),
    }
}

#[test]
fn a_clone_carrying_roomctl_marks_is_never_stopped_or_destroyed() {
    let mut d = desired(vec![instance("acme", RunState::Running, None)]);
    d.platform.destroy_enabled = true;
    let mut o = observed_with(&d, &[("acme", "dokku-1")]);
    let mut clone = app_mut(&mut o, "dokku-1", "acme-backend").clone();
    clone.owner = Owner::Disowned {
        why: "it carries the marks of acme/backend but roomctl names that app acme-backend".into(),
    };
    clone.detail = Some(AppDetail {
        running: false,
        ..Default::default()
    });
    state_mut(&mut o, "dokku-1")
        .apps
        .insert("acme-backend-copy".into(), clone);
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{p:?}");
    assert!(
        p.notes.iter().any(|n| n
            .message
            .contains("app acme-backend-copy on dokku-1 is not roomctl's")),
        "{:?}",
        p.notes
    );
}

#[test]
fn an_app_without_the_owner_mark_gets_it_and_nothing_else() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let mut o = observed_with(&d, &[("acme", "dokku-1")]);
    let a = app_mut(&mut o, "dokku-1", "acme-backend");
    a.env.remove(crate::observed::marks::OWNER);
    a.env_fingerprint = Some(crate::observed::env_fingerprint(&a.env));
    let p = plan(&d, &o);
    let acts = actions(&p, "dokku-1", "acme-backend");
    let [Action::Config { set, unset }] = acts else {
        panic!("{acts:?}")
    };
    assert!(unset.is_empty());
    assert_eq!(
        set.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        [crate::observed::marks::OWNER]
    );
}

#[test]
fn an_unreadable_app_holds_its_instance_and_nothing_else_on_the_host() {
    let d = desired(vec![
        instance("acme", RunState::Running, Some("dokku-1")),
        instance("beta", RunState::Running, Some("dokku-1")),
        instance("gamma", RunState::Running, Some("dokku-1")),
    ]);
    let mut o = observed_with(&d, &[("acme", "dokku-1"), ("gamma", "dokku-1")]);
    // acme's backend cannot be read; its frontend drifted (would be changed).
    let a = app_mut(&mut o, "dokku-1", "acme-backend");
    a.owner = Owner::Unreadable {
        reason: "unterminated quoted value \"x\\\\\"".into(),
    };
    a.env.clear();
    app_mut(&mut o, "dokku-1", "acme-frontend").image = None;
    // gamma also drifted: it is changed as usual.
    app_mut(&mut o, "dokku-1", "gamma-frontend").image = None;
    let p = plan(&d, &o);
    let HostPlan::Known { apps } = &p.hosts["dokku-1"] else {
        panic!()
    };
    assert!(
        !apps.keys().any(|a| a.as_str().starts_with("acme-")),
        "{apps:?}"
    );
    assert!(apps.contains_key("beta-backend") && apps.contains_key("gamma-frontend"));
    assert!(
        p.notes.iter().any(
            |n| n.instance.as_ref().is_some_and(|i| i.as_str() == "acme")
                && n.message
                    .contains("held: Dokku cannot read the env of app acme-backend on dokku-1")
        ),
        "{:?}",
        p.notes
    );
}

#[test]
fn an_unplaced_instance_whose_app_name_is_unreadable_is_not_placed_anywhere() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let mut o = observed_with(&d, &[]);
    let mut stray = converged(
        &InstanceId::parse("acme").unwrap(),
        &d.instances["acme"].apps["acme-backend"],
        RunState::Running,
    );
    stray.owner = Owner::Unreadable {
        reason: "zero length string".into(),
    };
    state_mut(&mut o, "dokku-2")
        .apps
        .insert("acme-backend".into(), stray);
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{p:?}");
    assert!(!p.placements.contains_key("acme"));
}

#[test]
fn another_platforms_app_with_a_desired_name_blocks_creation_and_is_left_alone() {
    let d = desired(vec![instance("acme", RunState::Running, Some("dokku-1"))]);
    let mut o = observed_with(&d, &[]);
    let mut theirs = converged(
        &InstanceId::parse("acme").unwrap(),
        &d.instances["acme"].apps["acme-backend"],
        RunState::Running,
    );
    theirs.owner = Owner::Disowned {
        why: "it belongs to another roomctl deployment (owner `staging`)".into(),
    };
    state_mut(&mut o, "dokku-1")
        .apps
        .insert("acme-backend".into(), theirs);
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{p:?}");
    assert!(
        p.notes.iter().any(|n| n.message.contains("not marked")),
        "{:?}",
        p.notes
    );
}
