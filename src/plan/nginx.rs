//! nginx for one app: Dokku's own properties (`nginx:set`) and roomctl's
//! snippet (`roomctl:nginx-set`).

use super::model::Action;
use crate::desired::AppSpec;
use crate::observed::ObservedApp;
use std::collections::{BTreeMap, BTreeSet};

/// Sets every nginx property `app` wants (a new app, or one whose
/// properties were not read and that the digest does not vouch for).
pub(super) fn set_all(app: &AppSpec) -> Action {
    Action::NginxProperties {
        set: app
            .nginx_properties
            .iter()
            .map(|(k, v)| (k.clone(), (None, Some(v.clone()))))
            .collect(),
        rebuild: false,
    }
}

/// The nginx property changes that bring `observed` (the managed keys that
/// are set) to `wanted`: every managed key is either desired or unset.
pub(super) fn diff(
    wanted: &crate::nginx::properties::NginxProperties,
    observed: &crate::nginx::properties::NginxProperties,
) -> Option<Action> {
    let set: BTreeMap<String, (Option<String>, Option<String>)> = observed
        .keys()
        .chain(wanted.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| observed.get(*k) != wanted.get(*k))
        .map(|k| {
            (
                k.clone(),
                (observed.get(k).cloned(), wanted.get(k).cloned()),
            )
        })
        .collect();
    (!set.is_empty()).then_some(Action::NginxProperties {
        set,
        rebuild: false,
    })
}

/// Sets [`Action::NginxProperties`]'s `rebuild` on `actions` (one app's,
/// in order): the properties take effect when nginx's config is rebuilt,
/// which a later domains, ports, deploy, start, restart, certificate or
/// snippet change does anyway; otherwise `proxy:build-config` must run.
pub fn settle_nginx_rebuild(actions: &mut [Action]) {
    let Some(at) = actions
        .iter()
        .position(|a| matches!(a, Action::NginxProperties { .. }))
    else {
        return;
    };
    let later = actions[at + 1..].iter().any(|a| {
        matches!(
            a,
            Action::Domains { .. }
                | Action::Ports { .. }
                | Action::Deploy { .. }
                | Action::Start
                | Action::Restart
                | Action::EnableTls { .. }
                | Action::RenewTls { .. }
                | Action::InstallCert { .. }
                | Action::Nginx { .. }
        )
    });
    if let Action::NginxProperties { rebuild, .. } = &mut actions[at] {
        *rebuild = !later;
    }
}

/// The nginx snippet action of `app` (of instance `spec`), if its
/// installed snippet differs from the desired one. Only when the host's
/// snippets were read (`read`): an unread snippet is never assumed absent.
pub fn plan_nginx(
    desired: &crate::desired::Desired,
    spec: &crate::desired::InstanceSpec,
    app: &AppSpec,
    obs: Option<&ObservedApp>,
    read: bool,
) -> Option<Action> {
    let installed = match obs {
        Some(_) if !read => return None,
        Some(o) => o.nginx.clone(),
        None => None,
    };
    if installed == app.nginx {
        return None;
    }
    let content = match &app.nginx {
        Some(_) => Some(
            desired
                .nginx
                .as_ref()?
                .snippet(spec, app.role.as_str())?
                .content,
        ),
        None => None,
    };
    Some(Action::Nginx {
        from: installed,
        to: app.nginx.clone(),
        content,
    })
}
