//! A test fleet: N Dokku hosts, each a real sshd on loopback whose forced
//! command is the Dokku emulator, plus a desired-state dir built from the
//! repo's platform, tiers and template.

use super::emulator_bin;
use super::sshd::SshdHost;
use roomctl::apply::Shells;
use roomctl::desired::{Desired, RootSecret};
use roomctl::reconcile::Reconciler;
use roomctl::ssh::{Counters, Counting, OpensshShell, Output, RemoteShell};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Host names of the test fleet, in order.
pub const HOSTS: [&str; 2] = ["host-a", "host-b"];

/// A running test fleet.
pub struct TestFleet {
    /// sshd per host, in [`HOSTS`] order.
    pub sshd: Vec<SshdHost>,
    /// The scratch dir: `desired/`, `hosts/<name>/` (emulator roots), `state/`.
    pub dir: tempfile::TempDir,
    /// Per-host execution counters of the last reconciler built.
    pub counters: Vec<Arc<Counters>>,
}

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Starts sshd hosts `host-a` and `host-b` (16 GiB each) and a desired-state
/// dir with no instances yet.
pub fn spawn_fleet() -> TestFleet {
    super::require::tar();
    let dir = tempfile::Builder::new()
        .prefix("roomctl-fleet-")
        .tempdir()
        .unwrap();
    let d = dir.path().join("desired");
    std::fs::create_dir_all(d.join("instances")).unwrap();
    std::fs::copy(repo("desired-state/platform.toml"), d.join("platform.toml")).unwrap();
    std::fs::copy(repo("desired-state/tiers.toml"), d.join("tiers.toml")).unwrap();
    let mut hosts = String::new();
    let mut sshd = vec![];
    for h in HOSTS {
        let root = dir.path().join("hosts").join(h);
        std::fs::create_dir_all(&root).unwrap();
        let s = SshdHost::start_emulator(&emulator_bin(), &root);
        hosts.push_str(&format!(
            "[[host]]\nname = \"{h}\"\naddress = \"127.0.0.1\"\nport = {}\nmemory = \"16g\"\n\n",
            s.port()
        ));
        sshd.push(s);
    }
    std::fs::write(d.join("hosts.toml"), hosts).unwrap();
    TestFleet {
        sshd,
        dir,
        counters: vec![],
    }
}

impl TestFleet {
    /// The desired-state dir.
    pub fn desired_dir(&self) -> PathBuf {
        self.dir.path().join("desired")
    }

    /// Replaces `instances/test.toml`.
    pub fn set_instances(&self, toml: &str) {
        std::fs::write(self.desired_dir().join("instances/test.toml"), toml).unwrap();
    }

    /// Edits `platform.toml` by replacing `from` with `to`.
    pub fn edit_platform(&self, from: &str, to: &str) {
        let p = self.desired_dir().join("platform.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "platform.toml has no {from:?}");
        std::fs::write(p, text.replace(from, to)).unwrap();
    }

    /// Loads the desired state (which runs `nginx -t`).
    pub fn desired(&self) -> Desired {
        super::require::nginx();
        let root = RootSecret::new("integration-test-root-secret-0123456789").unwrap();
        roomctl::desired::load(&self.desired_dir(), &repo("templates"), &root)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The emulator root of host `i`.
    pub fn root(&self, i: usize) -> PathBuf {
        self.dir.path().join("hosts").join(HOSTS[i])
    }

    /// A reconciler over SSH to every host, counting executions per host.
    pub fn reconciler(&mut self) -> Reconciler {
        let mut shells = Shells::new();
        self.counters.clear();
        for (i, h) in HOSTS.iter().enumerate() {
            let c = Counting::new(OpensshShell::new(self.sshd[i].target(h)));
            self.counters.push(c.counters.clone());
            shells.insert(h.parse().unwrap(), Arc::new(c) as Arc<dyn RemoteShell>);
        }
        let mut r = Reconciler::new(self.desired(), shells, &self.dir.path().join("state"));
        r.backoff = std::time::Duration::from_millis(20);
        r
    }

    /// Runs a Dokku command directly on host `i`'s emulator (as an operator
    /// would by hand), returning its output.
    pub fn dokku(&self, i: usize, line: &str) -> Output {
        let out = Command::new(emulator_bin())
            .arg("--root")
            .arg(self.root(i))
            .env("SSH_ORIGINAL_COMMAND", line)
            .output()
            .unwrap();
        Output {
            stdout: out.stdout,
            stderr: out.stderr,
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// An app's env on host `i`, via `config:export --format json`.
    pub fn env(&self, i: usize, app: &str) -> std::collections::BTreeMap<String, String> {
        let out = self.dokku(i, &format!("config:export --format json {app}"));
        assert_eq!(out.code, 0, "{}", out.stderr_text());
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// App names on host `i`.
    pub fn apps(&self, i: usize) -> Vec<String> {
        serde_json::from_slice(&self.dokku(i, "apps:list --format json").stdout).unwrap()
    }

    /// Writes a fault file for `subcommand` on host `i` (`None` removes it).
    pub fn fault(&self, i: usize, subcommand: &str, fault: Option<&str>) {
        let dir = self.root(i).join(".faults");
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(subcommand);
        match fault {
            Some(text) => std::fs::write(f, text).unwrap(),
            None => {
                let _ = std::fs::remove_file(f);
            }
        }
    }

    /// The state dir (journal, backups).
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

/// Where an emulator host keeps a mount's data.
pub fn data_dir(root: &Path, host_path: &str) -> PathBuf {
    root.join("fs").join(host_path.trim_start_matches('/'))
}
