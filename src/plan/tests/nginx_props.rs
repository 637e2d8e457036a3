//! Dokku's nginx properties (`nginx:set`) instead of snippet directives
//! that Dokku's own nginx.conf already carries.

use super::*;

fn with_nginx(mut d: Desired) -> Desired {
    d.platform.nginx = Some(Default::default());
    let owner = d.platform.owner.clone();
    for spec in d.instances.values_mut() {
        for a in spec.apps.values_mut() {
            if a.role.as_str() == "backend" {
                a.nginx_properties = BTreeMap::from([
                    ("client-max-body-size".into(), "100M".into()),
                    ("proxy-read-timeout".into(), "600s".into()),
                ]);
            }
            a.seal(&spec.instance.id, &owner);
        }
    }
    d
}

fn observed_props(o: &mut Observed, app: &str, props: &[(&str, &str)]) {
    let a = app_mut(o, "dokku-1", app);
    let spec_detail = a.detail.get_or_insert_with(Default::default);
    spec_detail.nginx = Some(
        props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
}

fn read_as_desired(d: &Desired, o: &mut Observed, app: &str) {
    let spec = d
        .instances
        .values()
        .flat_map(|i| i.apps.values())
        .find(|a| a.name.as_str() == app)
        .unwrap();
    let a = app_mut(o, "dokku-1", app);
    a.detail = Some(AppDetail {
        domains: spec.domains.iter().map(|d| d.to_string()).collect(),
        ports: spec.ports.clone(),
        storage: spec.storage.clone(),
        running: true,
        nginx: Some(spec.nginx_properties.clone()),
    });
}

#[test]
fn a_new_app_gets_its_nginx_properties_right_after_its_config() {
    let d = with_nginx(desired(vec![instance(
        "acme",
        RunState::Running,
        Some("dokku-1"),
    )]));
    let p = plan(&d, &observed_with(&d, &[]));
    let acts = actions(&p, "dokku-1", "acme-backend");
    assert!(matches!(acts[1], Action::Config { .. }), "{acts:?}");
    let Action::NginxProperties { set, rebuild } = &acts[2] else {
        panic!("{acts:?}")
    };
    assert!(!rebuild, "domains:set rebuilds nginx.conf afterwards");
    assert_eq!(set["client-max-body-size"], (None, Some("100M".into())));
    let frontend = actions(&p, "dokku-1", "acme-frontend");
    assert!(
        !frontend
            .iter()
            .any(|a| matches!(a, Action::NginxProperties { .. }))
    );
}

#[test]
fn drifted_and_stray_properties_are_repaired_and_the_config_rebuilt() {
    let d = with_nginx(desired(vec![instance(
        "acme",
        RunState::Running,
        Some("dokku-1"),
    )]));
    let mut o = observed_with(&d, &[("acme", "dokku-1")]);
    read_as_desired(&d, &mut o, "acme-backend");
    observed_props(
        &mut o,
        "acme-backend",
        &[
            ("client-max-body-size", "1m"),
            ("proxy-read-timeout", "600s"),
            ("send-timeout", "5s"),
        ],
    );
    let p = plan(&d, &o);
    let acts = actions(&p, "dokku-1", "acme-backend");
    let [Action::NginxProperties { set, rebuild }, ..] = acts else {
        panic!("{acts:?}")
    };
    assert!(*rebuild, "nothing else rebuilds nginx.conf: {acts:?}");
    assert_eq!(
        set,
        &BTreeMap::from([
            (
                "client-max-body-size".into(),
                (Some("1m".into()), Some("100M".into()))
            ),
            ("send-timeout".into(), (Some("5s".into()), None)),
        ])
    );
    let cmds = crate::apply::commands::commands(&AppName::parse("acme-backend").unwrap(), &acts[0]);
    let wire: Vec<String> = cmds.iter().map(|c| c.wire()).collect();
    assert_eq!(
        wire,
        [
            "nginx:set acme-backend client-max-body-size 100M",
            "nginx:set acme-backend send-timeout",
            "proxy:build-config acme-backend",
        ]
    );
}

#[test]
fn properties_matching_the_desired_ones_plan_nothing() {
    let d = with_nginx(desired(vec![instance(
        "acme",
        RunState::Running,
        Some("dokku-1"),
    )]));
    let mut o = observed_with(&d, &[("acme", "dokku-1")]);
    for app in ["acme-backend", "acme-frontend"] {
        read_as_desired(&d, &mut o, app);
    }
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{p:?}");
}

#[test]
fn without_the_nginx_table_properties_are_not_managed() {
    let mut d = with_nginx(desired(vec![instance(
        "acme",
        RunState::Running,
        Some("dokku-1"),
    )]));
    d.platform.nginx = None;
    let mut o = observed_with(&d, &[("acme", "dokku-1")]);
    read_as_desired(&d, &mut o, "acme-backend");
    observed_props(&mut o, "acme-backend", &[("send-timeout", "5s")]);
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{p:?}");
}
