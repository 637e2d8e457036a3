//! The invariants every crash trial is checked against, once its fleet
//! has converged (a plan with `--detailed-exitcode` exiting 0 is the
//! trial's own check), read from the sandbox hosts themselves:
//!
//! - every app carries roomctl's marks, except the planted foreign ones;
//! - every desired instance has its apps, and no app of a removed
//!   instance is left;
//! - the foreign apps' files are what they were, byte for byte;
//! - every `apps:destroy` that ran was of a removed instance's app, after
//!   a backup of that app was recorded in the state dir's manifest.

use super::emu;
use super::fleet::{FOREIGN, GONE, Trial, hosts};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One app on a sandbox host.
struct App {
    host: String,
    name: String,
    /// Its `ROOMCTL_INSTANCE`, if it has one.
    instance: Option<String>,
}

fn apps(trial: &Trial) -> Vec<App> {
    let mut out = Vec::new();
    for root in hosts(trial.path()) {
        let host = root.file_name().unwrap().to_string_lossy().to_string();
        let listed = String::from_utf8_lossy(&emu(&root, "--quiet apps:list").stdout).to_string();
        for name in listed.lines().filter(|l| !l.is_empty()) {
            let env = emu(&root, &format!("config:export --format json {name}"));
            let env: BTreeMap<String, String> =
                serde_json::from_slice(&env.stdout).unwrap_or_default();
            out.push(App {
                host: host.clone(),
                name: name.to_string(),
                instance: env.get("ROOMCTL_INSTANCE").cloned(),
            });
        }
    }
    out
}

/// `(host, app)` of every `apps:destroy` that succeeded on the hosts.
fn destroyed(trial: &Trial) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for root in hosts(trial.path()) {
        let host = root.file_name().unwrap().to_string_lossy().to_string();
        let log = std::fs::read_to_string(root.join(".commands.log")).unwrap_or_default();
        for line in log.lines().filter(|l| l.starts_with("0 ")) {
            let words: Vec<&str> = line
                .split(' ')
                .skip(1)
                .filter(|w| !w.starts_with("--"))
                .collect();
            if words.first() == Some(&"apps:destroy")
                && let Some(app) = words.get(1)
            {
                out.push((host.clone(), app.to_string()));
            }
        }
    }
    out
}

/// `(host, app)` of every backup recorded in the trial's state dir.
fn backed_up(trial: &Trial) -> BTreeSet<(String, String)> {
    let manifest = trial.path().join("state/backups/manifest.jsonl");
    std::fs::read_to_string(manifest)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<roomctl::apply::backup::BackupRecord>(l).ok())
        .map(|r| (r.host, r.app))
        .collect()
}

/// The broken invariants of `trial`, one line each (empty: all held).
/// `expected` are the instance ids the desired state holds; `foreign` the
/// foreign apps' files before the trial ([`Trial::foreign`]).
pub fn broken(
    trial: &Trial,
    expected: &BTreeSet<String>,
    foreign: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let apps = apps(trial);
    let unmarked: Vec<String> = apps
        .iter()
        .filter(|a| a.instance.is_none() && !FOREIGN.contains(&a.name.as_str()))
        .map(|a| format!("{}/{}", a.host, a.name))
        .collect();
    if !unmarked.is_empty() {
        problems.push(format!("apps without marks: {}", unmarked.join(", ")));
    }
    let present: BTreeSet<&str> = apps.iter().filter_map(|a| a.instance.as_deref()).collect();
    let missing: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|i| !present.contains(i))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("instances without apps: {}", missing.join(", ")));
    }
    let left: Vec<&str> = GONE
        .iter()
        .copied()
        .filter(|g| present.contains(g))
        .collect();
    if !left.is_empty() {
        problems.push(format!("removed instances still on the hosts: {left:?}"));
    }
    let now = trial.foreign();
    if &now != foreign {
        let changed: Vec<String> = foreign
            .keys()
            .chain(now.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|p| foreign.get(*p) != now.get(*p))
            .map(|p| {
                p.strip_prefix(trial.path())
                    .unwrap_or(p)
                    .display()
                    .to_string()
            })
            .collect();
        problems.push(format!(
            "foreign apps' files changed: {}",
            changed.join(", ")
        ));
    }
    let backups = backed_up(trial);
    for (host, app) in destroyed(trial) {
        if !GONE.iter().any(|g| app.starts_with(&format!("{g}-"))) {
            problems.push(format!(
                "{host}/{app} destroyed, not a removed instance's app"
            ));
        }
        if !backups.contains(&(host.clone(), app.clone())) {
            problems.push(format!("{host}/{app} destroyed without a recorded backup"));
        }
    }
    problems
}
