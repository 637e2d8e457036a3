//! Bringing a case's hosts to their starting point: "before" applied,
//! then foreign apps made and roomctl's apps drifted by hand.

use super::strategy::{Case, Drift, Foreign, OWNER};
use super::world::{Log, World};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Whether `name` with `env` is roomctl's, by the rule stated in the
/// issue (and not by calling roomctl's own): its name is
/// `{ROOMCTL_INSTANCE}-{ROOMCTL_ROLE}` and its owner mark is this
/// platform's or absent.
pub fn ours(name: &str, env: &BTreeMap<String, String>) -> bool {
    let (Some(i), Some(r)) = (env.get("ROOMCTL_INSTANCE"), env.get("ROOMCTL_ROLE")) else {
        return false;
    };
    name == format!("{i}-{r}") && env.get("ROOMCTL_OWNER").is_none_or(|o| o == OWNER)
}

/// Every app on every host: (host, app) → env.
pub type Apps = BTreeMap<(String, String), BTreeMap<String, String>>;

pub fn read_apps(w: &World) -> Apps {
    let mut out = BTreeMap::new();
    for h in &w.hosts {
        for a in w.apps(h) {
            let env = w.env(h, &a);
            out.insert((h.clone(), a), env);
        }
    }
    out
}

/// The apps that are not roomctl's.
pub fn foreign(apps: &Apps) -> BTreeSet<(String, String)> {
    apps.iter()
        .filter(|((_, a), env)| !ours(a, env))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Applies `case.before`, then makes the foreign apps and the drift.
pub async fn prepare(w: &World, case: &Case) {
    if !case.before.is_empty() {
        w.write_instances(&case.before);
        let log = Arc::new(Log::default());
        let r = w.reconciler(w.desired(), &log, false);
        let (_, report) = r.apply(true).await.expect("the first apply is refused");
        assert_eq!(report.failed(), 0, "first apply: {}", report.table());
    }
    let ours: Vec<(String, String)> = read_apps(w).into_keys().collect();
    for (h, f) in &case.foreign {
        let host = &w.hosts[h % w.hosts.len()];
        make_foreign(w, host, f, &ours);
    }
    // Drift only to apps that still exist: Dokku takes `nginx:set` for a
    // name no app has (differential/061), and the app roomctl then
    // creates under it inherits the property (see BENCHMARKS.md §10).
    let mut gone = BTreeSet::new();
    for (i, d) in &case.drift {
        if ours.is_empty() {
            break;
        }
        let (host, app) = &ours[i % ours.len()];
        if gone.contains(&(host, app)) {
            continue;
        }
        drift(w, host, app, d);
        if matches!(d, Drift::Destroy) {
            gone.insert((host, app));
        }
    }
}

fn make_foreign(w: &World, host: &str, f: &Foreign, ours: &[(String, String)]) {
    let mark = |name: &str, pairs: &[(&str, &str)]| {
        let mut words = vec!["config:set", "--no-restart", name];
        let set: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        words.extend(set.iter().map(String::as_str));
        w.dokku(host, &words);
    };
    match f {
        Foreign::HandMade { name, env } => {
            if w.dokku(host, &["apps:create", name]).status.success() && *env {
                mark(name, &[("FOO", "bar")]);
            }
        }
        Foreign::Clone { source, name } => {
            let on_host: Vec<&String> = ours
                .iter()
                .filter(|(h, _)| h == host)
                .map(|(_, a)| a)
                .collect();
            if let Some(src) = on_host.get(source % on_host.len().max(1)) {
                let new = format!("{src}-{name}");
                w.dokku(host, &["apps:clone", "--skip-deploy", src, &new]);
            }
        }
        Foreign::OtherOwner { id, role } => {
            let name = format!("{id}-{role}");
            if w.dokku(host, &["apps:create", &name]).status.success() {
                let marks = [
                    ("ROOMCTL_INSTANCE", *id),
                    ("ROOMCTL_ROLE", *role),
                    ("ROOMCTL_OWNER", "mindroom-staging"),
                ];
                mark(&name, &marks);
            }
        }
        Foreign::CopiedMarks { id, role, name } => {
            if w.dokku(host, &["apps:create", name]).status.success() {
                let marks = [
                    ("ROOMCTL_INSTANCE", *id),
                    ("ROOMCTL_ROLE", *role),
                    ("ROOMCTL_OWNER", OWNER),
                ];
                mark(name, &marks);
            }
        }
    }
}

fn drift(w: &World, host: &str, app: &str, d: &Drift) {
    let keys: Vec<String> = w.env(host, app).into_keys().collect();
    let key = |i: usize| keys.get(i % keys.len().max(1)).cloned();
    match d {
        Drift::SetEnv { key: k, value } => {
            let k = k.and_then(key).unwrap_or_else(|| "HAND_SET".into());
            let kv = format!("{k}={value}");
            w.dokku(host, &["config:set", "--no-restart", app, &kv]);
        }
        Drift::UnsetEnv { key: k } => {
            if let Some(k) = key(*k) {
                w.dokku(host, &["config:unset", "--no-restart", app, &k]);
            }
        }
        Drift::Disown => {
            let kv = "ROOMCTL_OWNER=mindroom-staging";
            w.dokku(host, &["config:set", "--no-restart", app, kv]);
        }
        Drift::AddDomain => {
            w.dokku(host, &["domains:add", app, "hand.example.org"]);
        }
        Drift::ClearDomains => {
            w.dokku(host, &["domains:clear", app]);
        }
        Drift::NginxProperty { key, value } => {
            w.dokku(host, &["nginx:set", app, key, value]);
        }
        Drift::UnsetSnippet => {
            w.dokku(host, &["roomctl:nginx-unset", app]);
        }
        Drift::Ports => {
            w.dokku(host, &["ports:set", app, "http:80:1234"]);
        }
        Drift::Stop => {
            w.dokku(host, &["ps:stop", app]);
        }
        Drift::Destroy => {
            w.dokku(host, &["apps:destroy", app, "--force"]);
        }
    }
}
