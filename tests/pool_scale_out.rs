//! The pool end to end in the sandbox: more instances than the fixed host
//! fits; apply creates a server through the fake Hetzner API (with
//! Terraform's ids and cloud-init), the server becomes a sandbox host, the
//! instances land on it in the same run, and a second apply changes
//! nothing. Servers that are not the pool's, or hold apps, are never
//! deleted.

mod common;

use common::desired::{Fixture, repo};
use common::fake_hetzner::{FakeHetzner, FakeOptions};
use roomctl::desired::HostSpec;
use roomctl::hetzner::{CloudServer, OWNER_LABEL, POOL_LABEL};
use roomctl::plan::{Plan, render};
use roomctl::reconcile::Reconciler;
use roomctl::reconcile::pool::{Connect, provision};
use roomctl::ssh::{LocalShell, RemoteShell};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const HOSTS: &str = r#"
[[host]]
name = "dokku-1"
address = "127.0.0.1"
ipv4 = "203.0.113.10"
memory = "2g"

[pool]
name = "pool"
owner = "test"
server_type = "cx42"
location = "fsn1"
memory = "8g"
min = 0
max = 3
"#;

const OUTPUTS: &str = r#"{
  "network_id": {"sensitive": false, "type": "number", "value": 11},
  "firewall_id": {"sensitive": false, "type": "number", "value": 22},
  "ssh_key_ids": {"sensitive": false, "type": ["list", "number"], "value": [33]},
  "location": {"sensitive": false, "type": "string", "value": "fsn1"}
}"#;

/// One instance on the fixed host, so pool servers stay empty.
const PINNED: &str = "[[instance]]\nid = \"i0\"\nhost = \"dokku-1\"\n";

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl roomctl@test";

fn instances(n: usize) -> String {
    (0..n)
        .map(|i| format!("[[instance]]\nid = \"i{i}\"\n\n"))
        .collect()
}

struct World {
    fixture: Fixture,
    sandbox: tempfile::TempDir,
    cloud: FakeHetzner,
}

impl World {
    async fn new(instances: &str) -> Self {
        let fixture = Fixture::with_instances(instances);
        fixture.write("desired-state/hosts.toml", HOSTS);
        fixture.write("desired-state/terraform-outputs.json", OUTPUTS);
        std::fs::remove_file(fixture.desired().join("dns.toml")).unwrap();
        Self {
            fixture,
            sandbox: tempfile::tempdir().unwrap(),
            cloud: FakeHetzner::start(FakeOptions::default()).await,
        }
    }

    fn reconciler(&self, remove_empty: bool) -> Reconciler {
        self.reconciler_booted(remove_empty, None)
    }

    /// With `booted`, new servers answer only once it is true.
    fn reconciler_booted(
        &self,
        remove_empty: bool,
        booted: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> Reconciler {
        let mut desired = self.fixture.load().unwrap_or_else(|e| panic!("{e}"));
        desired.pool.as_mut().unwrap().remove_empty = remove_empty;
        let dir = self.sandbox.path().to_path_buf();
        let connect: Connect = Arc::new(move |h: &HostSpec| {
            if let Some(b) = &booted
                && !b.load(std::sync::atomic::Ordering::SeqCst)
            {
                return Err(format!("{}: connection refused (booting)", h.name));
            }
            let shell = LocalShell::new(
                common::emulator_bin(),
                dir.join("hosts").join(h.name.as_str()),
                8,
            )
            .with_host_name(h.name.as_str());
            Ok(Arc::new(shell) as Arc<dyn RemoteShell>)
        });
        let mut prov = provision(
            &desired,
            &self.fixture.desired(),
            &self.fixture.dir.path().join("templates"),
            &repo().join("dokku-plugin/roomctl"),
            KEY,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        prov.ready_timeout = Duration::from_secs(10);
        prov.ready_interval = Duration::from_millis(20);
        let mut r = common::app::sandbox_reconciler(desired, self.sandbox.path());
        r.cloud = Some(Arc::new(self.cloud.client()));
        r.connect = Some(connect);
        r.provision = Some(prov);
        r
    }

    fn apps_on(&self, host: &str) -> Vec<String> {
        let out = std::process::Command::new(common::emulator_bin())
            .arg("--root")
            .arg(self.sandbox.path().join("hosts").join(host))
            .env("SSH_ORIGINAL_COMMAND", "apps:list --format json")
            .env_remove("DOKKU_EMU_COSTS")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }
}

fn text(p: &Plan) -> String {
    render::human(p, render::Style::new(false))
}

fn labelled(name: &str, owner: Option<&str>) -> CloudServer {
    let mut labels = BTreeMap::new();
    if let Some(o) = owner {
        labels.insert(OWNER_LABEL.to_string(), o.to_string());
        labels.insert(POOL_LABEL.to_string(), "pool".to_string());
    }
    CloudServer {
        id: 0,
        name: name.into(),
        status: "running".into(),
        labels,
        ipv4: Some("198.51.100.7".parse().unwrap()),
        ipv6: None,
        private_ipv4: None,
        server_type: "cx42".into(),
        location: "fsn1".into(),
    }
}

#[tokio::test]
async fn instances_that_do_not_fit_get_a_new_server_in_the_same_run_and_a_second_apply_changes_nothing()
 {
    let w = World::new(&instances(3)).await;
    let (plan, report) = w.reconciler(false).apply(false).await.unwrap();
    assert_eq!(report.servers_failed(), 0, "{}", report.table());
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(report.servers.len(), 1, "{}", report.table());

    let created = w.cloud.created();
    assert_eq!(created.len(), 1);
    let c = &created[0];
    assert_eq!(c.server.name, "pool-1");
    assert_eq!(c.server.labels[OWNER_LABEL], "test");
    assert_eq!(c.server.labels[POOL_LABEL], "pool");
    assert_eq!(
        (c.firewalls.clone(), c.networks.clone()),
        (vec![22], vec![11])
    );
    assert_eq!(c.ssh_keys, ["33"]);
    assert!(c.user_data.starts_with("#cloud-config"), "{}", c.user_data);
    assert!(
        c.user_data.contains("roomctl@test"),
        "roomctl's key is registered"
    );

    // The same run placed the instance that did not fit on the new server.
    let on_fixed = w.apps_on("dokku-1");
    let on_new = w.apps_on("pool-1");
    assert_eq!(on_fixed.len() + on_new.len(), 9, "{on_fixed:?} {on_new:?}");
    assert!(!on_new.is_empty(), "{}", text(&plan));

    let (_, again) = w.reconciler(false).plan().await;
    assert!(!again.has_changes(), "{}", text(&again));
    assert!(
        text(&again).contains("servers: 1 in the pool, no changes"),
        "{}",
        text(&again)
    );
}

#[tokio::test]
async fn a_server_not_labelled_as_the_pools_or_holding_apps_is_never_deleted() {
    let w = World::new(PINNED).await;
    w.cloud.seed(labelled("stranger", None));
    w.cloud.seed(labelled("pool-7", Some("test")));
    // pool-7 holds an app someone made by hand.
    let shell = LocalShell::new(
        common::emulator_bin(),
        w.sandbox.path().join("hosts/pool-7"),
        1,
    );
    let made = shell
        .exec(&roomctl::dokku::CommandLine::raw(&["apps:create", "hand-made"]).unwrap())
        .await
        .unwrap();
    assert_eq!(made.code, 0, "{made:?}");

    let (plan, report) = w.reconciler(true).apply(false).await.unwrap();
    assert_eq!(plan.server_actions().count(), 0, "{}", text(&plan));
    assert!(report.servers.is_empty());
    let names: Vec<String> = w.cloud.servers().into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"stranger".to_string()) && names.contains(&"pool-7".to_string()));
    assert_eq!(w.apps_on("pool-7"), ["hand-made"]);
}

#[tokio::test]
async fn an_empty_pool_server_is_removed_only_with_the_flag() {
    let w = World::new(PINNED).await;
    w.cloud.seed(labelled("pool-1", Some("test")));
    let (_, plan) = w.reconciler(false).plan().await;
    assert_eq!(plan.server_actions().count(), 0, "{}", text(&plan));
    assert!(
        text(&plan).contains("--remove-empty-servers"),
        "{}",
        text(&plan)
    );

    let (plan, report) = w.reconciler(true).apply(false).await.unwrap();
    assert_eq!(plan.server_actions().count(), 1, "{}", text(&plan));
    assert_eq!(report.servers_failed(), 0, "{}", report.table());
    assert!(w.cloud.servers().iter().all(|s| s.name != "pool-1"));
}

#[tokio::test]
async fn a_staged_apply_does_not_wait_for_a_new_server_and_places_instances_once_it_answers() {
    let w = World::new(&instances(3)).await;
    let booted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let staged = || {
        let mut r = w.reconciler_booted(false, Some(booted.clone()));
        r.staged = true;
        r
    };
    let started = std::time::Instant::now();
    let (_, report) = staged().apply(false).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.servers_failed(), 0, "{}", report.table());
    assert_eq!(w.cloud.created().len(), 1);
    let waiting: Vec<&str> = report.waiting.iter().map(|x| x.what.as_str()).collect();
    assert_eq!(waiting, ["server pool-1: booting"]);
    assert!(w.apps_on("pool-1").is_empty());

    // Still booting: counted as capacity on its way, not created again.
    let (plan, report) = staged().apply(false).await.unwrap();
    assert_eq!(w.cloud.created().len(), 1, "{}", text(&plan));
    assert_eq!(report.waiting.len(), 1, "{}", report.table());
    assert!(plan.server_actions().next().is_none(), "{}", text(&plan));

    booted.store(true, std::sync::atomic::Ordering::SeqCst);
    let (plan, report) = staged().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert!(report.waiting.is_empty(), "{}", report.table());
    let (on_fixed, on_new) = (w.apps_on("dokku-1"), w.apps_on("pool-1"));
    assert_eq!(on_fixed.len() + on_new.len(), 9, "{on_fixed:?} {on_new:?}");
    assert!(!on_new.is_empty(), "{}", text(&plan));
    let (_, again) = staged().plan().await;
    assert!(!again.has_changes(), "{}", text(&again));
    assert!(again.missing.is_empty(), "{}", text(&again));
}
