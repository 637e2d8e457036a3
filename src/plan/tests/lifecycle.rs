//! Ownership and lifecycle: foreign apps, stop before destroy, run state, drift.

use super::*;

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
    assert!(matches!(&acts[0], Action::Backup { mounts, .. } if mounts.len() == 1));
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
        nginx: Some(spec.nginx_properties.clone()),
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

fn stopped_orphan(read: crate::observed::ReadMode, deployed: bool) -> Plan {
    let d_before = desired(vec![instance("gone", RunState::Stopped, None)]);
    let mut o = observed_with(&d_before, &[("gone", "dokku-1")]);
    let HostObservation::Known(s) = o.hosts.get_mut("dokku-1").unwrap() else {
        unreachable!()
    };
    s.read = read;
    for name in ["gone-backend", "gone-frontend"] {
        let a = app_mut(&mut o, "dokku-1", name);
        a.image = deployed.then(|| ImageRef::parse("mindroom/backend:1").unwrap());
        a.detail = Some(AppDetail {
            storage: BTreeSet::from([Mount::parse("/s/x:/data").unwrap()]),
            ..Default::default()
        });
    }
    let mut d = desired(vec![]);
    d.platform.destroy_enabled = true;
    plan(&d, &o)
}

#[test]
fn a_never_deployed_app_with_storage_is_backed_up_on_the_host_by_the_plugin_and_destroyed() {
    let observe = crate::observed::ReadMode::Observe {
        plugin: "0.2.0".into(),
        bytes: 1,
    };
    let p = stopped_orphan(observe, false);
    let acts = actions(&p, "dokku-1", "gone-backend");
    assert!(
        matches!(
            &acts[0],
            Action::Backup {
                via: crate::plan::BackupVia::Plugin,
                ..
            }
        ),
        "{acts:?}"
    );
    assert_eq!(acts[1], Action::Destroy);
    let cmds = crate::apply::commands::commands(&AppName::parse("gone-backend").unwrap(), &acts[0]);
    assert_eq!(cmds[0].wire(), "roomctl:storage-export gone-backend /s/x");
}

#[test]
fn without_the_plugin_a_never_deployed_app_with_storage_is_kept_and_noted() {
    let p = stopped_orphan(crate::observed::ReadMode::Commands, false);
    assert!(!p.has_changes(), "{p:?}");
    assert!(
        p.notes.iter().any(|n| n.message.contains("app gone-backend on dokku-1 is no longer desired, but it has storage but was never deployed")),
        "{:?}",
        p.notes
    );
    let p = stopped_orphan(crate::observed::ReadMode::Commands, true);
    let acts = actions(&p, "dokku-1", "gone-backend");
    assert!(
        matches!(
            &acts[0],
            Action::Backup {
                via: crate::plan::BackupVia::Run,
                ..
            }
        ),
        "{acts:?}"
    );
}

#[test]
fn an_app_that_lost_its_certificate_has_its_facts_read_though_the_digest_vouches_for_them() {
    let d = desired(vec![instance("acme", RunState::Running, None)]);
    let mut o = observed_with(&d, &[("acme", "dokku-1")]);
    let HostObservation::Known(s) = o.hosts.get_mut("dokku-1").unwrap() else {
        unreachable!()
    };
    assert!(needs_detail(&d, s, false).is_empty());
    // `domains:clear` by hand removes the certificate too; the digest
    // still vouches for the domains.
    s.apps.get_mut("acme-backend").unwrap().tls_expires = None;
    let wanted: Vec<String> = needs_detail(&d, s, false).into_iter().collect();
    assert_eq!(wanted, ["acme-backend"]);
}
