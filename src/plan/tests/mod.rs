//! Planner tests: pure, no I/O. Shared fixtures here; tests by topic below.

mod diff;
mod lifecycle;
mod nginx_props;
mod ownership;
mod placement;
mod pool;

pub(super) use super::*;
pub(super) use crate::desired::{
    AppSpec, Desired, DesiredInstance, HostSpec, InstanceSpec, Platform, Source, TlsMode,
};
pub(super) use crate::domain::*;
pub(super) use crate::observed::{AppDetail, HostObservation, HostState, ObservedApp, Owner};
pub(super) use std::collections::{BTreeMap, BTreeSet};

pub(super) fn platform() -> Platform {
    Platform {
        base_domain: Fqdn::parse("mindroom.test").unwrap(),
        owner: Label::parse("test-owner").unwrap(),
        template: "instance.toml.tera".into(),
        tls: TlsMode::PerApp,
        letsencrypt_email: Some("ops@mindroom.test".into()),
        images: BTreeMap::new(),
        default_tier: Label::parse("free").unwrap(),
        destroy_enabled: false,
        max_destroys_per_run: 3,
        subscriptions: Default::default(),
        nginx: None,
        certificates: Default::default(),
        acme_directory: String::new(),
        health: Default::default(),
    }
}

pub(super) fn host(name: &str, mem: u32) -> (HostName, HostSpec) {
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
            sandbox: None,
        },
    )
}

pub(super) fn app(id: &str, role: &str, mem: u32) -> AppSpec {
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
        nginx: None,
        nginx_properties: Default::default(),
        fingerprint: Default::default(),
    };
    spec.seal(&InstanceId::parse(id).unwrap(), &platform().owner);
    spec
}

pub(super) fn instance(id: &str, state: RunState, pin: Option<&str>) -> (InstanceId, InstanceSpec) {
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

pub(super) fn desired(instances: Vec<(InstanceId, InstanceSpec)>) -> Desired {
    Desired {
        platform: platform(),
        hosts: BTreeMap::from([host("dokku-1", 4096), host("dokku-2", 8192)]),
        tiers: BTreeMap::new(),
        instances: instances.into_iter().collect(),
        notes: Vec::new(),
        dns: None,
        nginx: None,
        pool: None,
    }
}

/// What a host looks like after roomctl applied `spec` in full.
pub(super) fn converged(id: &InstanceId, spec: &AppSpec, state: RunState) -> ObservedApp {
    let mut env: BTreeMap<String, String> = app::desired_env(&platform().owner, id, spec)
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
        nginx: spec.nginx.clone(),
        detail: None,
        installed_cert: None,
    }
}

pub(super) fn observed_with(d: &Desired, on: &[(&str, &str)]) -> Observed {
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

pub(super) fn app_mut<'a>(o: &'a mut Observed, host: &str, app: &str) -> &'a mut ObservedApp {
    match o.hosts.get_mut(host).unwrap() {
        HostObservation::Known(s) => s.apps.get_mut(app).unwrap(),
        _ => panic!("unknown"),
    }
}

pub(super) fn actions<'a>(p: &'a Plan, host: &str, app: &str) -> &'a [Action] {
    match &p.hosts[host] {
        HostPlan::Known { apps } => &apps[app].actions,
        _ => panic!("unknown host"),
    }
}
