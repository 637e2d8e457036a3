//! Planning one host.

use super::app;
use super::model::{HostPlan, Note};
use crate::desired::Desired;
use crate::domain::{AppName, HostName, InstanceId};
use crate::observed::{HostObservation, Owner};
use std::collections::BTreeMap;

/// What every host's planning shares besides the desired state.
pub struct Ctx<'a> {
    /// The observation time ([`crate::observed::Observed::at`]).
    pub now: Option<i64>,
    /// The wildcard certificate plan, in wildcard mode.
    pub wildcard: Option<&'a super::wildcard::WildcardSection>,
    /// The certificate store, in wildcard mode.
    pub certs: Option<&'a crate::observed::CertsObservation>,
    /// Instances held this run ([`super::placement::Placement::held`]).
    pub held: &'a BTreeMap<InstanceId, String>,
}

/// Plans `host`: the desired apps of the instances `ids` placed on it, and
/// roomctl's apps on it that are no longer desired there.
pub fn plan_host(
    desired: &Desired,
    host: &HostName,
    obs: &HostObservation,
    ids: &[&InstanceId],
    ctx: &Ctx<'_>,
) -> (HostPlan, Vec<Note>) {
    let state = match obs {
        HostObservation::Unknown { reason } => {
            return (
                HostPlan::Unknown {
                    reason: reason.clone(),
                },
                vec![],
            );
        }
        HostObservation::Known(s) => s,
    };
    let mut notes = vec![];
    if state.read == crate::observed::ReadMode::Commands {
        notes.push(Note {
            instance: None,
            message: format!(
                "{host} was read with Dokku's own commands: its roomctl plugin is missing or older than 0.2.0, so domains, ports, mounts, nginx properties and run state are read only where the applied-settings digest does not vouch for them (or with --deep); install dokku-plugin/roomctl to read every fact in one exec"
            ),
        });
    }
    let mut apps = BTreeMap::new();
    let mut matched = 0;
    let mut observed = Vec::new();
    for (name, o) in &state.apps {
        if let Owner::Disowned { why } = &o.owner {
            notes.push(Note {
                instance: None,
                message: format!("app {name} on {host} is not roomctl's: {why}; it is left alone"),
            });
        }
    }
    for id in ids {
        if ctx.held.contains_key(*id) {
            continue;
        }
        let spec = &desired.instances[*id];
        // Look each app up once; the buffer is reused across instances.
        observed.clear();
        observed.extend(spec.apps.keys().map(|name| state.apps.get(name.as_str())));
        let theirs = |o: &Option<&crate::observed::ObservedApp>| {
            o.is_some_and(|o| o.instance() != Some(*id))
        };
        if observed.iter().any(theirs) {
            for (name, _) in spec.apps.keys().zip(&observed).filter(|(_, o)| theirs(o)) {
                notes.push(Note {
                    instance: Some((*id).clone()),
                    message: format!("app {name} on {host} exists but is not marked as this instance's; roomctl leaves it alone and does not create the instance's apps there"),
                });
            }
            continue;
        }
        for ((name, spec_app), obs_app) in spec.apps.iter().zip(&observed) {
            matched += usize::from(obs_app.is_some());
            let mut planned = app::plan_app(
                &desired.platform,
                id,
                spec.instance.state,
                spec_app,
                *obs_app,
                ctx.now,
            );
            let install = super::wildcard::install_action(
                desired,
                ctx.wildcard,
                ctx.certs,
                ctx.now,
                spec_app,
                *obs_app,
            );
            let nginx =
                super::nginx::plan_nginx(desired, spec, spec_app, *obs_app, state.nginx_read);
            for action in install.into_iter().chain(nginx) {
                let p = planned.get_or_insert_with(|| super::model::AppPlan {
                    instance: (*id).clone(),
                    role: spec_app.role.clone(),
                    change: super::model::Change::Update,
                    actions: vec![],
                });
                app::insert_before_run(&mut p.actions, action);
            }
            if let Some(mut p) = planned {
                super::nginx::settle_nginx_rebuild(&mut p.actions);
                apps.insert(name.clone(), p);
            }
        }
    }
    // Every roomctl app here was matched to a desired app: nothing is left over.
    let ours = state.apps.values().filter(|o| o.owner.is_ours()).count();
    if ours == matched {
        return (HostPlan::Known { apps }, notes);
    }
    for (name, o) in &state.apps {
        let (instance, role) = match &o.owner {
            Owner::Roomctl { instance, role } | Owner::Interrupted { instance, role } => {
                (instance, role)
            }
            Owner::Foreign | Owner::Disowned { .. } | Owner::Unreadable { .. } => continue,
        };
        let desired_app = desired
            .instances
            .get(instance)
            .is_some_and(|s| s.apps.contains_key(name.as_str()));
        if desired_app {
            // Planned above when the instance lives here; a duplicate on a
            // second host is noted by placement and left alone.
            continue;
        }
        let Ok(app_name) = AppName::listed(name) else {
            continue;
        };
        match super::orphan::plan_orphan(&desired.platform, instance, role, o, state.can_export_storage()) {
            Ok(Some(p)) => {
                apps.insert(app_name, p);
            }
            Ok(None) if o.detail.as_ref().is_some_and(|d| !d.running) => notes.push(Note {
                instance: Some(instance.clone()),
                message: format!("app {name} on {host} is no longer desired; it is stopped and kept (destruction is disabled)"),
            }),
            Ok(None) => {}
            Err(why) => notes.push(Note {
                instance: Some(instance.clone()),
                message: format!("app {name} on {host} is no longer desired, but {why}"),
            }),
        }
    }
    (HostPlan::Known { apps }, notes)
}
