//! Planner tests: pure, no I/O.

use super::*;
use crate::desired::{
    AppSpec, Desired, DesiredInstance, HostSpec, InstanceSpec, Platform, Source, TlsMode,
};
use crate::domain::*;
use crate::observed::{AppDetail, HostObservation, HostState, ObservedApp, Owner};
use std::collections::{BTreeMap, BTreeSet};

fn platform() -> Platform {
    Platform {
        base_domain: Fqdn::parse("mindroom.test").unwrap(),
        template: "instance.toml.tera".into(),
        tls: TlsMode::PerApp,
        letsencrypt_email: Some("ops@mindroom.test".into()),
        images: BTreeMap::new(),
        default_tier: Label::parse("free").unwrap(),
        destroy_enabled: false,
        max_destroys_per_run: 3,
    }
}

fn host(name: &str, mem: u32) -> (HostName, HostSpec) {
    let h = HostName::parse(name).unwrap();
    (
        h.clone(),
        HostSpec {
            name: h,
            address: "127.0.0.1".into(),
            port: 22,
            user: "dokku".into(),
            ipv4: None,
            ipv6: None,
            memory: MemoryMb(mem),
            max_sessions: 10,
        },
    )
}

fn app(id: &str, role: &str, mem: u32) -> AppSpec {
    let name = AppName::parse(&format!("{id}-{role}")).unwrap();
    let mut spec = AppSpec {
        name: name.clone(),
        role: Label::parse(role).unwrap(),
        image: ImageRef::parse(&format!("mindroom/{role}:1")).unwrap(),
        env: BTreeMap::from([
            (EnvKey::parse("MAX_AGENTS").unwrap(), EnvValue::plain("5")),
            (
                EnvKey::parse("SHARED_SECRET").unwrap(),
                EnvValue::secret(format!("s3cr3t-{id}")),
            ),
        ]),
        domains: BTreeSet::from([Fqdn::parse(&format!("{role}.{id}.mindroom.test")).unwrap()]),
        ports: BTreeSet::from([PortMapping::parse("http:80:8765").unwrap()]),
        storage: BTreeSet::from([Mount::new(
            &format!("/var/lib/dokku/data/storage/{name}"),
            "/data",
        )
        .unwrap()]),
        limits: Limits {
            memory: Some(MemoryMb(mem)),
            cpu: Some(Cpu(500)),
        },
        tls: true,
        fingerprint: Default::default(),
    };
    spec.seal(&InstanceId::parse(id).unwrap());
    spec
}

fn instance(id: &str, state: RunState, pin: Option<&str>) -> (InstanceId, InstanceSpec) {
    let iid = InstanceId::parse(id).unwrap();
    let apps: BTreeMap<AppName, AppSpec> = ["backend", "frontend"]
        .iter()
        .map(|r| app(id, r, 512))
        .map(|a| (a.name.clone(), a))
        .collect();
    let inst = DesiredInstance {
        id: iid.clone(),
        subdomain: Label::parse(id).unwrap(),
        tier: Label::parse("free").unwrap(),
        state,
        pinned_host: pin.map(|p| HostName::parse(p).unwrap()),
        env: BTreeMap::new(),
        overrides: BTreeMap::new(),
        source: Source::File {
            path: "instances/test.toml".into(),
            line: 1,
        },
    };
    (
        iid,
        InstanceSpec {
            instance: inst,
            memory: MemoryMb(1024),
            apps,
        },
    )
}

fn desired(instances: Vec<(InstanceId, InstanceSpec)>) -> Desired {
    Desired {
        platform: platform(),
        hosts: BTreeMap::from([host("dokku-1", 4096), host("dokku-2", 8192)]),
        tiers: BTreeMap::new(),
        instances: instances.into_iter().collect(),
    }
}

/// What a host looks like after roomctl applied `spec` in full.
fn converged(id: &InstanceId, spec: &AppSpec, state: RunState) -> ObservedApp {
    let mut env: BTreeMap<String, String> = app::desired_env(id, spec)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.expose().to_string()))
        .collect();
    env.insert("HAND_SET".into(), "by an operator".into());
    env.insert(
        crate::observed::marks::APPLIED.into(),
        digest::digest(spec, state),
    );
    let managed_keys = spec.env.keys().map(|k| k.to_string()).collect();
    let env_fingerprint = Some(crate::observed::env_fingerprint(&env));
    ObservedApp {
        owner: Owner::Roomctl {
            instance: id.clone(),
            role: spec.role.clone(),
        },
        env,
        env_fingerprint,
        managed_keys,
        applied: Some(digest::digest(spec, state)),
        image: (state == RunState::Running).then(|| spec.image.clone()),
        limits: spec.limits,
        tls_expires: (state == RunState::Running).then_some(1_900_000_000),
        detail: None,
    }
}

fn observed_with(d: &Desired, on: &[(&str, &str)]) -> Observed {
    let mut o = Observed::default();
    for h in d.hosts.keys() {
        o.hosts
            .insert(h.clone(), HostObservation::Known(HostState::default()));
    }
    for (id, h) in on {
        let spec = &d.instances[*id];
        let HostObservation::Known(state) = o.hosts.get_mut(*h).unwrap() else {
            unreachable!()
        };
        for a in spec.apps.values() {
            state.apps.insert(
                a.name.to_string(),
                converged(&spec.instance.id, a, spec.instance.state),
            );
        }
    }
    o
}

fn app_mut<'a>(o: &'a mut Observed, host: &str, app: &str) -> &'a mut ObservedApp {
    match o.hosts.get_mut(host).unwrap() {
        HostObservation::Known(s) => s.apps.get_mut(app).unwrap(),
        _ => panic!("unknown"),
    }
}

fn actions<'a>(p: &'a Plan, host: &str, app: &str) -> &'a [Action] {
    match &p.hosts[host] {
        HostPlan::Known { apps } => &apps[app].actions,
        _ => panic!("unknown host"),
    }
}

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
        a.seal(&InstanceId::parse("acme").unwrap());
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
fn foreign_app_with_a_desired_name_is_never_touched() {
    let d = desired(vec![instance("acme", RunState::Running, Some("dokku-1"))]);
    let mut o = observed_with(&d, &[]);
    let HostObservation::Known(s) = o.hosts.get_mut("dokku-1").unwrap() else {
        unreachable!()
    };
    let mut foreign = converged(
        &InstanceId::parse("acme").unwrap(),
        &d.instances["acme"].apps["acme-backend"],
        RunState::Running,
    );
    foreign.owner = Owner::Foreign;
    s.apps.insert("acme-backend".into(), foreign);
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{p:?}");
    assert!(p.notes.iter().any(|n| n.message.contains("not marked")));
}

#[test]
fn instance_leaving_the_desired_set_is_stopped_first_and_destroyed_only_when_enabled() {
    let d_before = desired(vec![instance("gone", RunState::Running, None)]);
    let mut o = observed_with(&d_before, &[("gone", "dokku-1")]);
    let mut d = desired(vec![]);
    for name in ["gone-backend", "gone-frontend"] {
        let a = app_mut(&mut o, "dokku-1", name);
        a.detail = Some(AppDetail {
            running: true,
            storage: BTreeSet::from([Mount::parse("/s/x:/data").unwrap()]),
            ..Default::default()
        });
    }
    let p = plan(&d, &o);
    assert_eq!(actions(&p, "dokku-1", "gone-backend"), [Action::Stop]);

    for name in ["gone-backend", "gone-frontend"] {
        app_mut(&mut o, "dokku-1", name)
            .detail
            .as_mut()
            .unwrap()
            .running = false;
    }
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "destruction is disabled by default");
    d.platform.destroy_enabled = true;
    let p = plan(&d, &o);
    let acts = actions(&p, "dokku-1", "gone-backend");
    assert!(matches!(&acts[0], Action::Backup { mounts } if mounts.len() == 1));
    assert_eq!(acts[1], Action::Destroy);
    d.platform.max_destroys_per_run = 1;
    assert!(crate::apply::guards::check(&p, &d.platform, false).is_err());
    assert!(crate::apply::guards::check(&p, &d.platform, true).is_ok());
}

#[test]
fn stopping_an_instance_stops_its_apps_and_deploys_nothing() {
    let d0 = desired(vec![instance("acme", RunState::Running, None)]);
    let mut o = observed_with(&d0, &[("acme", "dokku-1")]);
    let mut d = d0.clone();
    d.instances.get_mut("acme").unwrap().instance.state = RunState::Stopped;
    // The digest no longer matches, so observe reads the details:
    let HostObservation::Known(s) = o.hosts.get_mut("dokku-1").unwrap() else {
        unreachable!()
    };
    assert_eq!(needs_detail(&d, s, false).len(), 2);
    for a in s.apps.values_mut() {
        a.detail = Some(AppDetail {
            running: true,
            ..detail_of(&d, "acme-backend")
        });
    }
    let p = plan(&d, &o);
    let acts = actions(&p, "dokku-1", "acme-backend");
    assert!(acts.contains(&Action::Stop), "{acts:?}");
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::Deploy { .. } | Action::Restart))
    );
}

fn detail_of(d: &Desired, app: &str) -> AppDetail {
    let spec = d
        .instances
        .values()
        .flat_map(|i| i.apps.values())
        .find(|a| a.name.as_str() == app)
        .unwrap();
    AppDetail {
        domains: spec.domains.iter().map(|d| d.to_string()).collect(),
        ports: spec.ports.clone(),
        storage: spec.storage.clone(),
        running: true,
    }
}

#[test]
fn dokku_added_https_ports_are_not_drift() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let mut o = observed_with(&d, &[("acme", "dokku-1")]);
    let mut det = detail_of(&d, "acme-backend");
    det.ports
        .insert(PortMapping::parse("https:443:8765").unwrap());
    app_mut(&mut o, "dokku-1", "acme-backend").detail = Some(det);
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{p:?}");
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
