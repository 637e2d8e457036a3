//! Hetzner faults: a pool scale-out (three instances that the fixed host
//! cannot hold, so the pass creates `pool-1` through the Hetzner fake and
//! places them on it) with one API request failed, then a fresh run.

use crate::common::desired::{Fixture, repo};
use crate::common::fake_hetzner::{CloudFault, FakeHetzner, FakeOptions};
use crate::trial::{clean, not_converged};
use roomctl::desired::HostSpec;
use roomctl::hetzner::{CloudServer, POOL_LABEL};
use roomctl::plan::servers::ServerSection;
use roomctl::reconcile::Reconciler;
use roomctl::reconcile::pool::{Connect, provision};
use roomctl::ssh::{LocalShell, RemoteShell};
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

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl roomctl@test";

/// A fleet with a pool, and a server in the project that is not the pool's.
struct World {
    fixture: Fixture,
    sandbox: tempfile::TempDir,
    cloud: FakeHetzner,
}

impl World {
    async fn new() -> Self {
        let instances: String = (0..3)
            .map(|i| format!("[[instance]]\nid = \"i{i}\"\n\n"))
            .collect();
        let fixture = Fixture::with_instances(&instances);
        fixture.write("desired-state/hosts.toml", HOSTS);
        fixture.write("desired-state/terraform-outputs.json", OUTPUTS);
        std::fs::remove_file(fixture.desired().join("dns.toml")).unwrap();
        let cloud = FakeHetzner::start(FakeOptions::default()).await;
        cloud.seed(CloudServer {
            id: 0,
            name: "stranger".into(),
            status: "running".into(),
            labels: Default::default(),
            ipv4: Some("198.51.100.7".parse().unwrap()),
            ipv6: None,
            private_ipv4: None,
            server_type: "cx22".into(),
            location: "fsn1".into(),
        });
        Self {
            fixture,
            sandbox: tempfile::tempdir().unwrap(),
            cloud,
        }
    }

    fn reconciler(&self) -> Reconciler {
        let desired = self.fixture.load().unwrap_or_else(|e| panic!("{e}"));
        let dir = self.sandbox.path().to_path_buf();
        let connect: Connect = Arc::new(move |h: &HostSpec| {
            let root = dir.join("hosts").join(h.name.as_str());
            let shell = LocalShell::new(crate::common::emulator_bin(), root, 8)
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
        let mut r = crate::common::app::sandbox_reconciler(desired, self.sandbox.path());
        let mut api = self.cloud.client();
        api.backoff = Duration::from_millis(5);
        r.cloud = Some(Arc::new(api));
        r.connect = Some(connect);
        r.provision = Some(prov);
        r
    }

    /// The servers, sorted by name, as `name status labels`.
    fn servers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .cloud
            .servers()
            .iter()
            .map(|s| format!("{} {} {:?}", s.name, s.status, s.labels))
            .collect();
        v.sort();
        v
    }
}

/// One trial: request `at` of the scale-out failed with `kind` (`None`:
/// no fault). Returns the requests the faulted run sent and the broken
/// invariants.
pub async fn run(at: Option<(u64, CloudFault)>) -> (u64, Vec<String>) {
    let w = World::new().await;
    let stranger: Vec<String> = w
        .servers()
        .into_iter()
        .filter(|s| s.starts_with("stranger"))
        .collect();
    let before = w.cloud.requests();
    w.cloud.fault_at(at.map(|(n, k)| (before + n, k)));
    let mut problems = Vec::new();
    let report = w.reconciler().apply(false).await.unwrap().1;
    let requests = w.cloud.requests() - before;
    w.cloud.fault_at(None);
    let (_, p) = w.reconciler().plan().await;
    if let (true, Some(why)) = (clean(&report), not_converged(&p)) {
        problems.push(format!("the faulted run reported success, but:\n{why}"));
    }
    let (_, fresh) = w.reconciler().apply(false).await.unwrap();
    if !clean(&fresh) {
        problems.push(format!("the fresh run failed:\n{}", fresh.table()));
    }
    let (_, p) = w.reconciler().plan().await;
    if let Some(why) = not_converged(&p) {
        problems.push(format!("not converged after a fresh run:\n{why}"));
    }
    if !matches!(p.servers, Some(ServerSection::Known { servers: 1, .. })) {
        problems.push(format!("the pool is not one server: {:?}", w.servers()));
    }
    let pool: Vec<CloudServer> = w.cloud.servers();
    if pool
        .iter()
        .filter(|s| s.labels.contains_key(POOL_LABEL))
        .count()
        != 1
    {
        problems.push(format!("servers: {:?}", w.servers()));
    }
    if !w.servers().iter().any(|s| stranger.contains(s)) {
        problems.push(format!("the stranger server changed: {:?}", w.servers()));
    }
    if let (Some((n, kind)), false) = (at, problems.is_empty()) {
        let log = w.cloud.log();
        problems.insert(
            0,
            format!("scale-out: {kind:?} at Hetzner request {n} ({log:?})"),
        );
    }
    (requests, problems)
}
