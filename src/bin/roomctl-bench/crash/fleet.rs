//! The fleet every crash trial starts from, made once and copied per
//! trial.
//!
//! [`Template::make`] writes the desired state (the shipped one, hosts
//! big enough for everything, destroy enabled, and `new` file instances
//! `crash00`…), and converges a sandbox, Dokku's costs off, to the state
//! *before* the onboarding: the shipped instances plus the instances of
//! [`GONE`] (stopped), which the trial's desired state no longer has (so
//! every trial also backs up and destroys their apps). Then it plants the
//! apps of [`FOREIGN`] on every host: apps roomctl does not own, with env
//! and domains of their own, whose files ([`Trial::foreign`]) must come
//! out of the trial byte for byte.

use super::{emu, roomctl_with};
use crate::Scratch;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Instances converged before the trial and left out of its desired
/// state: the trial destroys their apps, after a backup. (One: removing
/// two would delete more than 30% of the zone's records, which the DNS
/// guard refuses without `--force`.)
pub const GONE: [&str; 1] = ["gone0"];

/// Apps planted on every host before the trial, owned by someone else.
pub const FOREIGN: [&str; 2] = ["legacy-blog", "ops-grafana"];

/// A converged fleet and the trial's desired state, copied by each trial.
pub struct Template {
    dir: Scratch,
    /// The file instances the trial adds.
    pub new: Vec<String>,
}

/// One trial's copy of the template: `desired/`, `sandbox/`, `state/`.
pub struct Trial {
    dir: Scratch,
}

impl Trial {
    /// The trial's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Every file of the [`FOREIGN`] apps on every host, with its bytes:
    /// the files under a directory named after one of them (its app
    /// directory, its env, its properties).
    pub fn foreign(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.path().join("sandbox/hosts"), &mut |p| {
            if p.components()
                .any(|c| FOREIGN.iter().any(|f| c.as_os_str() == *f))
            {
                out.insert(p.to_path_buf(), std::fs::read(p).unwrap_or_default());
            }
        });
        out
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            walk(&e.path(), f);
        } else if t.is_file() {
            f(&e.path());
        }
    }
}

/// File instances `ids`, in `state` (`running` or `stopped`).
fn instances(ids: &[String], state: &str) -> String {
    ids.iter()
        .map(|i| format!("[[instance]]\nid = \"{i}\"\nstate = \"{state}\"\n\n"))
        .collect()
}

/// The shipped desired state with `extra` file instances (`extra_state`),
/// hosts of 128g, destroy enabled and a certificate budget for all, in `d`.
fn desired(d: &Path, extra: &[String], extra_state: &str) {
    copy(&crate::repo("desired-state"), d);
    std::fs::write(
        d.join("instances/crash.toml"),
        instances(extra, extra_state),
    )
    .unwrap();
    // Room for all of them: a trial is about crashes, not capacity.
    let hosts = std::fs::read_to_string(d.join("hosts.toml")).unwrap();
    std::fs::write(
        d.join("hosts.toml"),
        hosts.replace("memory = \"16g\"", "memory = \"128g\""),
    )
    .unwrap();
    let platform = std::fs::read_to_string(d.join("platform.toml")).unwrap();
    let enabled = platform
        .replace("enabled = false", "enabled = true")
        .replace("max_per_run = 3", "max_per_run = 10");
    assert_ne!(
        platform, enabled,
        "platform.toml's [platform.destroy] moved"
    );
    assert!(!enabled.contains("[platform.certificates]"));
    // Every app gets its certificate within the trial: none waits for
    // the weekly budget.
    let budget = "\n[platform.certificates]\nweekly_budget = 10000\n";
    std::fs::write(d.join("platform.toml"), enabled + budget).unwrap();
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

impl Template {
    /// Makes the template with `new` file instances to onboard.
    pub fn make(new: usize) -> Self {
        let dir = Scratch::new();
        let new: Vec<String> = (0..new).map(|i| format!("crash{i:02}")).collect();
        let gone: Vec<String> = GONE.iter().map(|g| g.to_string()).collect();
        let before = dir.path().join("before");
        // Stopped already: a removed instance's running apps are stopped
        // by one run and destroyed by a later one; stopped, the trial's
        // first run backs them up and destroys them.
        desired(&before, &gone, "stopped");
        let out = roomctl_with(dir.path(), &before, None, &["apply"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "converging the fleet before the trials failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_dir_all(&before).unwrap();
        desired(&dir.path().join("desired"), &new, "running");
        for host in hosts(dir.path()) {
            for app in FOREIGN {
                for line in [
                    format!("apps:create {app}"),
                    format!("config:set --no-restart {app} OWNER=someone-else TOKEN=t0p-{app}"),
                    format!("domains:set {app} {app}.example.org"),
                ] {
                    let o = emu(&host, &line);
                    assert!(o.status.success(), "planting {app}: {line}: {o:?}");
                }
            }
        }
        // The trials' command logs start empty.
        for host in hosts(dir.path()) {
            let _ = std::fs::remove_file(host.join(".commands.log"));
        }
        Self { dir, new }
    }

    /// A fresh copy for one trial.
    pub fn trial(&self) -> Trial {
        let dir = Scratch::new();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(self.dir.path().join("."))
            .arg(dir.path())
            .stdin(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "copying the template");
        Trial { dir }
    }
}

/// The sandbox's host roots under trial directory `dir`.
pub fn hosts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("sandbox/hosts"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}
