//! One case's world: a desired-state dir written from a [`Case`], sandbox
//! hosts (the Dokku emulator on a temp dir each, run per command as sshd
//! would run it), and a reconciler whose shells record every command.

use super::strategy::{Case, Inst, Plugin};
use roomctl::desired::{Desired, RootSecret};
use roomctl::dokku::CommandLine;
use roomctl::reconcile::Reconciler;
use roomctl::ssh::{LocalShell, Output, RemoteShell, ShellError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Every command a reconciler ran: host and words, in order; and each
/// `apps:destroy` that ran before its app's backup was recorded.
#[derive(Default)]
pub struct Log {
    pub commands: Mutex<Vec<(String, Vec<String>)>>,
    pub unguarded: Mutex<Vec<String>>,
}

/// A shell that records each command, and checks at each `apps:destroy`
/// that the backup store already holds a backup of that app.
struct Recording {
    host: String,
    inner: LocalShell,
    log: Arc<Log>,
    backups: roomctl::apply::backup::BackupStore,
}

impl Recording {
    fn record(&self, cmd: &CommandLine) {
        let words: Vec<String> = cmd.words().iter().map(|w| w.to_string()).collect();
        if cmd.subcommand() == "apps:destroy" {
            let app = words.iter().skip(1).find(|w| !w.starts_with("--"));
            let backed_up = app.is_some_and(|a| {
                self.backups
                    .records()
                    .iter()
                    .any(|r| r.host == self.host && &r.app == a)
            });
            if !backed_up {
                self.log.unguarded.lock().unwrap().push(cmd.shown());
            }
        }
        self.log
            .commands
            .lock()
            .unwrap()
            .push((self.host.clone(), words));
    }
}

#[async_trait::async_trait]
impl RemoteShell for Recording {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        self.record(cmd);
        self.inner.exec(cmd).await
    }
    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError> {
        self.record(cmd);
        self.inner.exec_input(cmd, input).await
    }
    fn max_parallel(&self) -> usize {
        self.inner.max_parallel()
    }
    async fn hold(&self, cmd: &CommandLine) -> Result<Option<roomctl::ssh::Held>, ShellError> {
        self.record(cmd);
        self.inner.hold(cmd).await
    }
}

/// A case's desired-state dir and hosts.
pub struct World {
    pub dir: tempfile::TempDir,
    pub hosts: Vec<String>,
}

impl World {
    /// Writes the platform (destroy on or off), tiers and hosts of `case`
    /// and sets the sandbox hosts up.
    pub fn new(case: &Case) -> World {
        let dir = tempfile::Builder::new()
            .prefix("roomctl-prop-")
            .tempdir()
            .unwrap();
        let d = dir.path().join("desired");
        std::fs::create_dir_all(d.join("instances")).unwrap();
        let platform = std::fs::read_to_string(repo("desired-state/platform.toml")).unwrap();
        let destroy = format!("enabled = {}", case.destroy_enabled);
        std::fs::write(
            d.join("platform.toml"),
            platform.replace("enabled = false", &destroy),
        )
        .unwrap();
        std::fs::copy(repo("desired-state/tiers.toml"), d.join("tiers.toml")).unwrap();
        let w = World {
            hosts: (1..=case.plugins.len())
                .map(|i| format!("dokku-{i}"))
                .collect(),
            dir,
        };
        w.write_hosts(case, false);
        for (h, plugin) in w.hosts.iter().zip(&case.plugins) {
            let config = roomctl::emulator::HostConfig {
                global_vhost: None,
                roomctl_plugin: match plugin {
                    Plugin::Current => roomctl::emulator::HostConfig::default().roomctl_plugin,
                    Plugin::Old => Some("0.1.0".into()),
                },
            };
            roomctl::emulator::init_host(&w.root(h), &config).unwrap();
        }
        w
    }

    /// `hosts.toml`, hosts in name order or (`reversed`) the other way.
    pub fn write_hosts(&self, case: &Case, reversed: bool) {
        let mut text = String::new();
        let mut hosts: Vec<(&String, &Plugin)> = self.hosts.iter().zip(&case.plugins).collect();
        if reversed {
            hosts.reverse();
        }
        for (h, _) in hosts {
            text.push_str(&format!(
                "[[host]]\nname = \"{h}\"\naddress = \"127.0.0.1\"\nmemory = \"64g\"\n\n"
            ));
        }
        std::fs::write(self.desired_dir().join("hosts.toml"), text).unwrap();
    }

    /// `instances/fleet.toml` with `insts`, in the order given.
    pub fn write_instances(&self, insts: &[Inst]) {
        let mut text = String::new();
        for i in insts {
            text.push_str(&format!(
                "[[instance]]\nid = \"{}\"\ntier = \"{}\"\n",
                i.id, i.tier
            ));
            if let Some(h) = i.host {
                text.push_str(&format!(
                    "host = \"{}\"\n",
                    self.hosts[h % self.hosts.len()]
                ));
            }
            if i.stopped {
                text.push_str("state = \"stopped\"\n");
            }
            if let Some(v) = &i.welcome {
                let v = serde_json::to_string(v).unwrap();
                text.push_str(&format!("[instance.env.backend]\nWELCOME = {v}\n"));
            }
            text.push('\n');
        }
        std::fs::write(self.desired_dir().join("instances/fleet.toml"), text).unwrap();
    }

    pub fn desired_dir(&self) -> PathBuf {
        self.dir.path().join("desired")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn root(&self, host: &str) -> PathBuf {
        self.dir.path().join("hosts").join(host)
    }

    /// Loads the desired state as `roomctl plan` does.
    pub fn desired(&self) -> Desired {
        let root = RootSecret::new("property-test-root-secret-0123456789").unwrap();
        roomctl::desired::load(&self.desired_dir(), &repo("templates"), &root)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A reconciler over every host, recording into `log`. `deep` reads
    /// every fact of every app of roomctl's.
    pub fn reconciler(&self, desired: Desired, log: &Arc<Log>, deep: bool) -> Reconciler {
        let backups = roomctl::apply::backup::BackupStore::new(self.state().join("backups"));
        let shells = self
            .hosts
            .iter()
            .map(|h| {
                let inner = LocalShell::new(emulator(), self.root(h), 4).with_host_name(h);
                let shell = Recording {
                    host: h.clone(),
                    inner,
                    log: log.clone(),
                    backups: backups.clone(),
                };
                (h.parse().unwrap(), Arc::new(shell) as Arc<dyn RemoteShell>)
            })
            .collect();
        let mut r = Reconciler::new(desired, shells, &self.state());
        r.retries = 0;
        r.observe.deep = deep;
        r
    }

    /// Runs a Dokku command on `host` as an operator would by hand.
    pub fn dokku(&self, host: &str, words: &[&str]) -> std::process::Output {
        std::process::Command::new(emulator())
            .arg("--root")
            .arg(self.root(host))
            .args(words)
            .output()
            .unwrap()
    }

    /// The apps on `host`.
    pub fn apps(&self, host: &str) -> Vec<String> {
        let o = self.dokku(host, &["apps:list", "--format", "json"]);
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    }

    /// An app's env.
    pub fn env(&self, host: &str, app: &str) -> BTreeMap<String, String> {
        let o = self.dokku(host, &["config:export", "--format", "json", app]);
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    }

    /// Every file of the host's state that belongs to `app` (a path with a
    /// component named after it), with its bytes.
    pub fn snapshot(&self, host: &str, app: &str) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.root(host), &self.root(host), app, false, &mut out);
        out
    }
}

fn walk(base: &Path, dir: &Path, app: &str, inside: bool, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if dir == base && p.file_name().is_some_and(|n| n == "locks") {
            // Per-app locks: any command takes one, reads too.
            continue;
        }
        let inside = inside
            || p.file_name().is_some_and(|n| {
                n == app || n.to_string_lossy().strip_suffix(".json") == Some(app)
            });
        if p.is_dir() {
            walk(base, &p, app, inside, out);
        } else if inside {
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            out.insert(rel, std::fs::read(&p).unwrap_or_default());
        }
    }
}

/// The `dokku-emu` binary cargo built for this test run.
pub fn emulator() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dokku-emu"))
}
