//! Planning changes to existing and new apps: order, env, limits, output.

use super::*;

#[test]
fn plan_is_empty_when_fleet_matches_desired() {
    let d = desired(vec![
        instance("acme", RunState::Running, None),
        instance("beta", RunState::Stopped, None),
    ]);
    let o = observed_with(&d, &[("acme", "dokku-1"), ("beta", "dokku-2")]);
    let p = plan(&d, &o);
    assert!(
        !p.has_changes(),
        "{}",
        render::human(&p, render::Style::new(false))
    );
    assert!(render::human(&p, render::Style::new(false)).contains("No changes"));
}

#[test]
fn new_instance_actions_follow_the_fixed_order() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let p = plan(&d, &observed_with(&d, &[]));
    let kinds: Vec<&str> = actions(&p, "dokku-2", "acme-backend")
        .iter()
        .map(|a| match a {
            Action::Create => "create",
            Action::Config { .. } => "config",
            Action::Domains { .. } => "domains",
            Action::Ports { .. } => "ports",
            Action::Mount { .. } => "storage",
            Action::Limits { .. } => "resources",
            Action::Deploy { .. } => "image",
            Action::EnableTls { .. } => "tls",
            Action::Stamp { .. } => "stamp",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "create",
            "config",
            "domains",
            "ports",
            "storage",
            "resources",
            "image",
            "tls",
            "stamp"
        ]
    );
}

#[test]
fn only_managed_env_keys_are_compared_and_dropped_ones_are_unset() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let mut o = observed_with(&d, &[("acme", "dokku-1")]);
    let a = app_mut(&mut o, "dokku-1", "acme-backend");
    // A key roomctl managed before the template dropped it.
    a.env.insert("OLD_MANAGED".into(), "x".into());
    a.managed_keys.insert("OLD_MANAGED".into());
    let keys: Vec<&str> = a.managed_keys.iter().map(String::as_str).collect();
    let keys = keys.join(",");
    a.env.insert(crate::observed::marks::KEYS.into(), keys);
    a.env.insert("HAND_SET".into(), "changed by hand".into());
    a.env_fingerprint = Some(crate::observed::env_fingerprint(&a.env));
    let p = plan(&d, &o);
    let acts = actions(&p, "dokku-1", "acme-backend");
    let Action::Config { set, unset } = &acts[0] else {
        panic!("{acts:?}")
    };
    assert_eq!(
        unset.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["OLD_MANAGED"]
    );
    assert!(set.keys().all(|k| k.as_str() == "ROOMCTL_KEYS"), "{set:?}");
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::Config { set, .. } if set.contains_key("HAND_SET")))
    );
    assert_eq!(acts.last(), Some(&Action::Restart));
}

#[test]
fn tier_change_updates_limits_and_env_then_restarts_without_redeploying() {
    let d0 = desired(vec![instance("acme", RunState::Running, None)]);
    let o = observed_with(&d0, &[("acme", "dokku-1")]);
    let mut d = d0.clone();
    for a in d.instances.get_mut("acme").unwrap().apps.values_mut() {
        a.limits.memory = Some(MemoryMb(2048));
        a.env
            .insert(EnvKey::parse("MAX_AGENTS").unwrap(), EnvValue::plain("50"));
        a.seal(&InstanceId::parse("acme").unwrap(), &platform().owner);
    }
    let p = plan(&d, &o);
    let acts = actions(&p, "dokku-1", "acme-backend");
    assert!(matches!(&acts[0], Action::Config { set, .. } if set.len() == 1));
    assert!(matches!(&acts[1], Action::Limits { to, .. } if to.memory == Some(MemoryMb(2048))));
    assert_eq!(acts[2], Action::Restart);
    assert_eq!(acts.len(), 3);
    let text = render::human(&p, render::Style::new(false));
    assert!(text.contains("env MAX_AGENTS: \"5\" -> \"50\""), "{text}");
}

#[test]
fn secrets_never_appear_in_plan_output() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let p = plan(&d, &observed_with(&d, &[]));
    let text = render::human(&p, render::Style::new(false)) + &render::json(&p);
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("(sensitive)"));
}

#[test]
fn plans_are_deterministic() {
    let d = desired(
        (0..20)
            .map(|i| instance(&format!("i{i}"), RunState::Running, None))
            .collect(),
    );
    let o = observed_with(&d, &[]);
    assert_eq!(render::json(&plan(&d, &o)), render::json(&plan(&d, &o)));
}

#[test]
fn env_fingerprints_agree_exactly_when_the_managed_env_does() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let id = InstanceId::parse("acme").unwrap();
    let spec = &d.instances["acme"].apps["acme-backend"];
    let obs = converged(&id, spec, RunState::Running);
    assert_eq!(
        obs.env_fingerprint,
        Some(spec.fingerprint.env),
        "converged env must match"
    );
    let fp = |env: &BTreeMap<String, String>| crate::observed::env_fingerprint(env);
    let mut changed = obs.env.clone();
    changed.insert("MAX_AGENTS".into(), "6".into());
    assert_ne!(fp(&changed), spec.fingerprint.env);
    let mut missing = obs.env.clone();
    missing.remove("MAX_AGENTS");
    assert_ne!(fp(&missing), spec.fingerprint.env);
    let mut hand_set = obs.env.clone();
    hand_set.insert("UNMANAGED".into(), "anything".into());
    assert_eq!(
        fp(&hand_set),
        spec.fingerprint.env,
        "keys outside the managed set do not count"
    );
    let mut other_owner = obs.env.clone();
    other_owner.insert(crate::observed::marks::INSTANCE.into(), "other".into());
    assert_ne!(fp(&other_owner), spec.fingerprint.env);
}
