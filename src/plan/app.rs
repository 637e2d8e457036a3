//! Diffing one desired app against what was observed of it.

use super::digest::digest;
use super::model::{Action, AppPlan, Change};
use crate::desired::{AppSpec, Platform, TlsMode};
use crate::domain::{EnvKey, EnvValue, InstanceId, Label, PortMapping, RunState, Scheme};
use crate::observed::{AppDetail, ObservedApp, marks};
use std::collections::{BTreeMap, BTreeSet};

/// The env roomctl wants on `app`: its managed env plus the marks, with
/// `owner` (`[platform] owner`) as the owner mark.
pub fn desired_env(
    owner: &Label,
    instance: &InstanceId,
    app: &AppSpec,
) -> BTreeMap<EnvKey, EnvValue> {
    let mut env = app.env.clone();
    let keys: Vec<&str> = app.env.keys().map(|k| k.as_str()).collect();
    let mark = |k: &str| EnvKey::parse(k).expect("mark keys are valid");
    env.insert(mark(marks::INSTANCE), EnvValue::plain(instance.as_str()));
    env.insert(mark(marks::ROLE), EnvValue::plain(app.role.as_str()));
    env.insert(mark(marks::OWNER), EnvValue::plain(owner.as_str()));
    env.insert(mark(marks::KEYS), EnvValue::plain(keys.join(",")));
    env
}

/// Whether the observed `ROOMCTL_KEYS` lists exactly `app`'s env keys.
fn keys_mark_matches(app: &AppSpec, observed: Option<&String>) -> bool {
    let Some(observed) = observed else {
        return false;
    };
    let mut want = app.env.keys().map(|k| k.as_str());
    let mut have = observed.split(',').filter(|k| !k.is_empty());
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The config action for `app` (if anything differs) and whether it
/// changes what the app sees (so a restart is due). Compares in place:
/// the common case, nothing to do, allocates nothing.
fn config_diff(
    owner: &Label,
    instance: &InstanceId,
    app: &AppSpec,
    obs: &ObservedApp,
) -> (Option<Action>, bool) {
    let mut set = BTreeMap::new();
    let mut restart = false;
    // Both maps are sorted by key: one merge pass instead of a lookup per key.
    let mut observed = obs.env.iter().peekable();
    for (k, v) in &app.env {
        while observed
            .next_if(|(ok, _)| ok.as_str() < k.as_str())
            .is_some()
        {}
        let cur = observed
            .next_if(|(ok, _)| ok.as_str() == k.as_str())
            .map(|(_, v)| v);
        if cur.map(String::as_str) != Some(v.expose()) {
            let old = cur.map(|c| {
                if v.is_sensitive() {
                    EnvValue::secret(c.clone())
                } else {
                    EnvValue::plain(c.clone())
                }
            });
            set.insert(k.clone(), (old, v.clone()));
            restart = true;
        }
    }
    let mark = |k: &str| EnvKey::parse(k).expect("mark keys are valid");
    for (key, value) in [
        (marks::INSTANCE, instance.as_str()),
        (marks::ROLE, app.role.as_str()),
        (marks::OWNER, owner.as_str()),
    ] {
        let cur = obs.env.get(key);
        if cur.map(String::as_str) != Some(value) {
            set.insert(
                mark(key),
                (
                    cur.map(|c| EnvValue::plain(c.clone())),
                    EnvValue::plain(value),
                ),
            );
        }
    }
    if !keys_mark_matches(app, obs.env.get(marks::KEYS)) {
        let keys: Vec<&str> = app.env.keys().map(|k| k.as_str()).collect();
        let cur = obs.env.get(marks::KEYS).map(|c| EnvValue::plain(c.clone()));
        set.insert(mark(marks::KEYS), (cur, EnvValue::plain(keys.join(","))));
    }
    // Managed keys that are no longer desired: a merge pass over two sorted sets.
    let mut unset = BTreeSet::new();
    let mut wanted = app.env.keys().map(|k| k.as_str()).peekable();
    for k in &obs.managed_keys {
        while wanted.next_if(|w| *w < k.as_str()).is_some() {}
        if wanted.next_if(|w| *w == k.as_str()).is_some()
            || marks::is_mark(k)
            || !obs.env.contains_key(k)
        {
            continue;
        }
        if let Ok(key) = EnvKey::parse(k) {
            unset.insert(key);
        }
    }
    restart |= !unset.is_empty();
    let action = (!set.is_empty() || !unset.is_empty()).then_some(Action::Config { set, unset });
    (action, restart)
}

/// Dokku adds `https:443:P` for every `http:80:P` once a certificate is
/// active; those are Dokku's, not drift.
fn normalised_ports(observed: &BTreeSet<PortMapping>, tls_active: bool) -> BTreeSet<PortMapping> {
    observed
        .iter()
        .filter(|p| {
            !(tls_active
                && p.scheme == Scheme::Https
                && p.host == 443
                && observed.iter().any(|q| {
                    q.scheme == Scheme::Http && q.host == 80 && q.container == p.container
                }))
        })
        .copied()
        .collect()
}

/// Plans one desired app. `obs` is `None` when the app does not exist.
/// `now` (Unix seconds, see [`crate::observed::Observed::at`]) enables
/// certificate renewal.
pub fn plan_app(
    platform: &Platform,
    instance: &InstanceId,
    state: RunState,
    app: &AppSpec,
    obs: Option<&ObservedApp>,
    now: Option<i64>,
) -> Option<AppPlan> {
    let digest_matches = super::digest::matches(app, state, obs.and_then(|o| o.applied.as_deref()));
    let running = state == RunState::Running;
    let tls = platform.tls == TlsMode::PerApp && app.tls && !app.domains.is_empty();
    let email = || platform.letsencrypt_email.clone().unwrap_or_default();
    let Some(obs) = obs else {
        let mut actions = vec![Action::Create];
        let set = desired_env(&platform.owner, instance, app)
            .into_iter()
            .map(|(k, v)| (k, (None, v)))
            .collect();
        actions.push(Action::Config {
            set,
            unset: BTreeSet::new(),
        });
        if platform.nginx.is_some() && !app.nginx_properties.is_empty() {
            actions.push(super::nginx::set_all(app));
        }
        if !app.domains.is_empty() {
            actions.push(Action::Domains {
                from: None,
                to: app.domains.clone(),
            });
        }
        if !app.ports.is_empty() {
            actions.push(Action::Ports {
                from: None,
                to: app.ports.clone(),
            });
        }
        actions.extend(
            app.storage
                .iter()
                .map(|m| Action::Mount { mount: m.clone() }),
        );
        if app.limits.memory.is_some() || app.limits.cpu.is_some() {
            actions.push(Action::Limits {
                from: None,
                to: app.limits,
            });
        }
        if running {
            actions.push(Action::Deploy {
                from: None,
                to: app.image.clone(),
            });
            if tls {
                actions.push(Action::EnableTls { email: email() });
            }
        }
        actions.push(Action::Stamp {
            digest: digest(app, state),
        });
        return Some(AppPlan {
            instance: instance.clone(),
            role: app.role.clone(),
            change: Change::Create,
            actions,
        });
    };

    let mut actions = vec![];
    let mut needs_restart = false;

    // Config: managed keys and marks only; hand-set keys are left alone.
    // Equal fingerprints mean equal managed env: skip the walk.
    let env_unchanged =
        app.fingerprint.env != 0 && obs.env_fingerprint == Some(app.fingerprint.env);
    let (config, config_restart) = if env_unchanged {
        (None, false)
    } else {
        config_diff(&platform.owner, instance, app, obs)
    };
    needs_restart |= config_restart;
    actions.extend(config);

    // Domains, ports, mounts, run state: compared only when read this run.
    let trusted = obs.detail.is_none() && digest_matches;
    let mut run_action = None;
    if let Some(d) = &obs.detail {
        let AppDetail {
            domains,
            ports,
            storage,
            running: is_running,
            nginx,
        } = d;
        if let (Some(_), Some(observed)) = (&platform.nginx, nginx) {
            actions.extend(super::nginx::diff(&app.nginx_properties, observed));
        }
        let want_domains: BTreeSet<String> = app.domains.iter().map(|d| d.to_string()).collect();
        if *domains != want_domains {
            actions.push(Action::Domains {
                from: Some(domains.clone()),
                to: app.domains.clone(),
            });
        }
        let tls_active = obs.tls_expires.is_some() || obs.env.contains_key(marks::CERT);
        let ports = normalised_ports(ports, tls_active);
        if ports != app.ports {
            actions.push(Action::Ports {
                from: Some(ports),
                to: app.ports.clone(),
            });
        }
        for m in storage.difference(&app.storage) {
            if app.storage.iter().any(|w| w.host_path == m.host_path) {
                actions.push(Action::Unmount { mount: m.clone() });
                needs_restart = true;
            }
        }
        for m in app.storage.difference(storage) {
            actions.push(Action::Mount { mount: m.clone() });
            needs_restart = true;
        }
        run_action = match (running, *is_running) {
            (true, false) if obs.image.is_some() => Some(Action::Start),
            (false, true) => Some(Action::Stop),
            _ => None,
        };
    } else if !trusted {
        // Not read and not vouched for by the digest: set everything again
        // (each command is idempotent).
        if platform.nginx.is_some() && !app.nginx_properties.is_empty() {
            actions.push(super::nginx::set_all(app));
        }
        actions.push(Action::Domains {
            from: None,
            to: app.domains.clone(),
        });
        actions.push(Action::Ports {
            from: None,
            to: app.ports.clone(),
        });
        run_action = Some(if running {
            Action::Restart
        } else {
            Action::Stop
        });
    }

    // Only the limits roomctl sets are compared; one it does not set is left alone.
    let limits_differ = (app.limits.memory.is_some() && app.limits.memory != obs.limits.memory)
        || (app.limits.cpu.is_some() && app.limits.cpu != obs.limits.cpu);
    if limits_differ {
        actions.push(Action::Limits {
            from: Some(obs.limits),
            to: app.limits,
        });
        needs_restart = true;
    }
    let deploy = running && obs.image.as_ref() != Some(&app.image);
    if deploy {
        actions.push(Action::Deploy {
            from: obs.image.clone(),
            to: app.image.clone(),
        });
    }
    if running && tls && obs.tls_expires.is_none() {
        actions.push(Action::EnableTls { email: email() });
    }
    let window = platform.certificates.renew_within.as_secs() as i64;
    if let (true, true, Some(expires), Some(now)) = (running, tls, obs.tls_expires, now)
        && expires < now + window
    {
        actions.push(Action::RenewTls { expires });
    }
    let run_action = match run_action {
        Some(Action::Start) | Some(Action::Restart) if deploy => None,
        None if running && needs_restart && !deploy && obs.image.is_some() => Some(Action::Restart),
        other => other,
    };
    actions.extend(run_action);
    if !digest_matches {
        actions.push(Action::Stamp {
            digest: digest(app, state),
        });
    }
    (!actions.is_empty()).then(|| AppPlan {
        instance: instance.clone(),
        role: app.role.clone(),
        change: Change::Update,
        actions,
    })
}

/// Puts `action` into `actions` before any start, stop, restart or stamp,
/// keeping the order documented on [`Action`].
pub fn insert_before_run(actions: &mut Vec<Action>, action: Action) {
    let at = actions
        .iter()
        .position(|a| {
            matches!(
                a,
                Action::Start | Action::Stop | Action::Restart | Action::Stamp { .. }
            )
        })
        .unwrap_or(actions.len());
    actions.insert(at, action);
}
