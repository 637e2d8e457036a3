//! A fleet for one fault trial: the shipped platform (per-app TLS, nginx
//! snippets, `dns.toml`) on two sandbox hosts, the Porkbun fake holding
//! the zone, and an app and a DNS record that are not roomctl's.

use crate::common::app::SandboxShells;
use crate::common::desired::Fixture;
use crate::common::fake_porkbun::{FakeOptions, FakePorkbun};
use crate::common::faults::{self, Faults};
use roomctl::apply::backup::BackupStore;
use roomctl::dns::porkbun::PorkbunClient;
use roomctl::dns::{DnsRecord, RecordType};
use roomctl::reconcile::Reconciler;
use roomctl::reconcile::database::ShellSource;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// The managed zone.
pub const ZONE: &str = "mindroom.chat";
/// The sandbox hosts of the shipped `hosts.toml`.
pub const HOSTS: [&str; 2] = ["dokku-1", "dokku-2"];
/// The app someone else runs on every host.
pub const FOREIGN_APP: &str = "legacy-site";

/// The Porkbun client's timeout in trials (a slow answer comes later).
pub const DNS_TIMEOUT: Duration = Duration::from_millis(300);

/// One trial's fleet.
pub struct World {
    /// The desired state (a copy of the shipped one).
    pub fixture: Fixture,
    /// Emulator roots under `hosts/`, roomctl's state under `state/`.
    pub sandbox: tempfile::TempDir,
    /// The zone's DNS.
    pub porkbun: FakePorkbun,
}

impl World {
    /// A fleet with `instances` declared, destruction enabled, and the
    /// foreign app and record in place.
    pub async fn new(instances: &str) -> Self {
        let fixture = Fixture::with_instances(instances);
        let platform = fixture.desired().join("platform.toml");
        let text = std::fs::read_to_string(&platform).unwrap();
        let text = text
            .replace("enabled = false", "enabled = true")
            .replace("max_per_run = 3", "max_per_run = 10");
        std::fs::write(platform, text).unwrap();
        let porkbun = FakePorkbun::start(FakeOptions {
            zones: vec![ZONE.into()],
            rate_limit: None,
            parking: false,
            ..Default::default()
        })
        .await;
        let mut foreign = DnsRecord::new(&format!("legacy.{ZONE}"), RecordType::A, "192.0.2.7");
        foreign.ttl = 3600;
        porkbun.seed(ZONE, foreign);
        let w = Self {
            fixture,
            sandbox: tempfile::tempdir().unwrap(),
            porkbun,
        };
        let desired = w.fixture.load().unwrap_or_else(|e| panic!("{e}"));
        SandboxShells {
            dir: w.dir(),
            costs: None,
        }
        .shells(&desired)
        .unwrap();
        for h in HOSTS {
            for line in [
                format!("apps:create {FOREIGN_APP}"),
                format!("config:set --no-restart {FOREIGN_APP} OWNER=marketing"),
                format!("domains:add {FOREIGN_APP} legacy.example.com"),
            ] {
                let out = w.dokku(h, &line);
                assert!(out.status.success(), "{line}: {out:?}");
            }
        }
        w
    }

    fn dir(&self) -> PathBuf {
        self.sandbox.path().to_path_buf()
    }

    /// Replaces the declared instances.
    pub fn set_instances(&self, toml: &str) {
        self.fixture.write("desired-state/instances/a.toml", toml);
    }

    /// Takes `host` out of `hosts.toml` (its emulator root stays).
    pub fn retire(&self, host: &str) {
        let path = self.fixture.desired().join("hosts.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let blocks: Vec<&str> = text.split("[[host]]\n").collect();
        let kept: Vec<&str> = blocks
            .into_iter()
            .filter(|b| !b.starts_with(&format!("name = \"{host}\"")))
            .collect();
        assert_ne!(kept.join(""), text, "no host {host} in hosts.toml");
        std::fs::write(path, kept.join("[[host]]\n")).unwrap();
    }

    /// A reconciler over the sandbox and the Porkbun fake, every command
    /// going through `faults`; two retries with a 1 ms backoff, so that
    /// retries after a fault run too.
    pub fn reconciler(&self, faults: &Arc<Faults>) -> Reconciler {
        let desired = self.fixture.load().unwrap_or_else(|e| panic!("{e}"));
        let shells = SandboxShells {
            dir: self.dir(),
            costs: None,
        }
        .shells(&desired)
        .unwrap();
        let shells = faults::wrap(shells, faults);
        let mut r = Reconciler::new(desired, shells, &self.dir().join("state"));
        r.retries = 2;
        r.backoff = Duration::from_millis(1);
        let mut config = self.porkbun.config();
        config.base_delay = Duration::from_millis(5);
        config.timeout = DNS_TIMEOUT;
        let client = PorkbunClient::with_config(FakePorkbun::keys(), config).unwrap();
        r.dns = Some(Arc::new(client));
        r
    }

    /// Faults for a run of this world: fail command `at`, or none.
    pub fn faults(&self, at: Option<(usize, faults::Kind)>) -> Arc<Faults> {
        Faults::new(at, self.backups())
    }

    /// roomctl's backup store.
    pub fn backups(&self) -> BackupStore {
        BackupStore::new(self.dir().join("state/backups"))
    }

    /// Runs one emulator command on `host`, as an operator would.
    pub fn dokku(&self, host: &str, line: &str) -> std::process::Output {
        Command::new(crate::common::emulator_bin())
            .arg("--root")
            .arg(self.root(host))
            .env("SSH_ORIGINAL_COMMAND", line)
            .env_remove("DOKKU_EMU_COSTS")
            .output()
            .unwrap()
    }

    /// The emulator root of `host`.
    pub fn root(&self, host: &str) -> PathBuf {
        self.sandbox.path().join("hosts").join(host)
    }

    /// App names on `host`.
    pub fn apps(&self, host: &str) -> Vec<String> {
        serde_json::from_slice(&self.dokku(host, "apps:list --format json").stdout).unwrap()
    }

    /// An app's env on `host`.
    pub fn env(&self, host: &str, app: &str) -> BTreeMap<String, String> {
        let out = self.dokku(host, &format!("config:export --format json {app}"));
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// Everything that is not roomctl's: each host's files of the foreign
    /// app (path and bytes), and the zone's records without roomctl's mark.
    pub fn foreign(&self) -> (BTreeMap<String, Vec<u8>>, Vec<DnsRecord>) {
        let mut files = BTreeMap::new();
        for h in HOSTS {
            let root = self.root(h);
            walk(&root, &root, &mut files);
        }
        let records = self
            .porkbun
            .records(ZONE)
            .into_iter()
            .filter(|r| {
                !r.notes
                    .as_deref()
                    .is_some_and(|n| n.starts_with("roomctl:"))
            })
            .collect();
        (files, records)
    }
}

/// Collects the files under `dir` whose path names the foreign app.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let file_type = e.file_type().unwrap();
        if file_type.is_dir() {
            walk(root, &path, out);
        } else if file_type.is_file() && path.to_string_lossy().contains(FOREIGN_APP) {
            let rel = path.strip_prefix(root.parent().unwrap()).unwrap();
            out.insert(
                rel.display().to_string(),
                std::fs::read(&path).unwrap_or_default(),
            );
        }
    }
}
