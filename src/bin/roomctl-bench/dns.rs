//! DNS benchmarks: the DNS part of a reconcile (read the zone, plan, apply)
//! through the real [`PorkbunClient`] against the Porkbun fake of the
//! integration tests, rate-limited like Porkbun (about 1 request/s per key,
//! bursts answered 503).
//!
//! - `dns-noop`: a zone of 3,000 instance records that are already what
//!   roomctl desires, plus fixed and foreign records; nothing to change.
//! - `dns-onboard`: 100 new instances (300 new records) into that zone,
//!   then a second pass on the result.
//!
//! The hosts are not read over SSH: they are observed in memory, with every
//! instance's apps already running where they are placed (the Dokku side
//! is what `noop` and `onboard` measure). Placement, `plan()`, the DNS
//! guard and `apply_changes` are roomctl's own, called as
//! `Reconciler::apply` calls them.

#[path = "../../../tests/common/fake_porkbun.rs"]
#[allow(dead_code)]
mod fake_porkbun;

use async_trait::async_trait;
use fake_porkbun::{FakeOptions, FakePorkbun, RateLimit};
use roomctl::desired::{Desired, RootSecret};
use roomctl::dns::apply::{apply_changes, observe_zone};
use roomctl::dns::plan::{DnsChange, ZonePlan};
use roomctl::dns::porkbun::{PorkbunClient, PorkbunConfig};
use roomctl::dns::{DnsError, DnsProvider, DnsRecord, RecordType};
use roomctl::domain::{HostName, InstanceId};
use roomctl::observed::{HostObservation, HostState, Observed, ObservedApp, Owner, marks};
use roomctl::plan::Plan;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Instant;

/// The zone: the shipped `dns.toml` defaults to the platform's base domain.
const ZONE: &str = "mindroom.chat";
/// Sandbox hosts the instances are spread over.
const HOSTS: usize = 10;

/// `name` from the environment, or `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A desired state of `n` free-tier instances on [`HOSTS`] hosts that have
/// an IPv4 address only (so 3 A records per instance), with the shipped
/// platform, tiers and `dns.toml`.
fn desired_with_dns(dir: &Path, n: usize) -> Desired {
    let d = dir.join("desired");
    std::fs::create_dir_all(d.join("instances")).unwrap();
    for f in ["platform.toml", "tiers.toml", "dns.toml"] {
        std::fs::copy(super::repo(&format!("desired-state/{f}")), d.join(f)).unwrap();
    }
    let hosts: String = (0..HOSTS)
        .map(|i| {
            format!(
                "[[host]]\nname = \"host-{i:02}\"\naddress = \"10.0.0.{i}\"\nipv4 = \"203.0.113.{}\"\nmemory = \"256g\"\n\n",
                100 + i
            )
        })
        .collect();
    std::fs::write(d.join("hosts.toml"), hosts).unwrap();
    let inst: String = (0..n)
        .map(|i| format!("[[instance]]\nid = \"i{i:06}\"\n\n"))
        .collect();
    std::fs::write(d.join("instances/bench.toml"), inst).unwrap();
    let root = RootSecret::new("benchmark-root-secret-0123456789abcdef").unwrap();
    let repo = super::repo("templates");
    roomctl::desired::load(&d, &repo, &root).unwrap_or_else(|e| panic!("{e}"))
}

/// The first `n` instances, instance `i` on host `i % HOSTS`: where a
/// previous reconcile put them.
fn spread(desired: &Desired, n: usize) -> BTreeMap<InstanceId, HostName> {
    let hosts: Vec<&HostName> = desired.hosts.keys().collect();
    let ids = desired.instances.keys().take(n).enumerate();
    ids.map(|(i, id)| (id.clone(), hosts[i % hosts.len()].clone()))
        .collect()
}

/// The hosts as observed when the `placed` instances' apps run where they
/// are placed, converged, and nothing else does.
fn fleet(desired: &Desired, placed: &BTreeMap<InstanceId, HostName>) -> Observed {
    let mut states: BTreeMap<HostName, HostState> = desired
        .hosts
        .keys()
        .map(|h| {
            let read = HostState {
                nginx_read: true,
                ..HostState::default()
            };
            (h.clone(), read)
        })
        .collect();
    for (id, host) in placed {
        let spec = &desired.instances[id];
        let state = states.get_mut(host).expect("placed on a desired host");
        for a in spec.apps.values() {
            let mut env: BTreeMap<String, String> =
                roomctl::plan::app::desired_env(&desired.platform.owner, id, a)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.expose().to_string()))
                    .collect();
            let digest = roomctl::plan::digest::digest(a, spec.instance.state);
            env.insert(marks::APPLIED.into(), digest.clone());
            let app = ObservedApp {
                owner: Owner::Roomctl {
                    instance: id.clone(),
                    role: a.role.clone(),
                },
                env_fingerprint: Some(roomctl::observed::env_fingerprint(&env)),
                env,
                managed_keys: a.env.keys().map(|k| k.to_string()).collect(),
                applied: Some(digest),
                image: Some(a.image.clone()),
                limits: a.limits,
                tls_expires: Some(2_000_000_000),
                nginx: a.nginx.clone(),
                detail: None,
                installed_cert: None,
            };
            state.apps.insert(a.name.to_string(), app);
        }
    }
    let hosts = states.into_iter();
    Observed {
        hosts: hosts.map(|(h, s)| (h, HostObservation::Known(s))).collect(),
        dns: BTreeMap::new(),
        at: None,
        certs: None,
        cloud: None,
    }
}

/// Records someone else made by hand in the zone; roomctl must leave them.
fn foreign_records() -> Vec<DnsRecord> {
    let mut mx = DnsRecord::new(ZONE, RecordType::Mx, "mail.example.net");
    mx.prio = Some(10);
    vec![
        mx,
        DnsRecord::new(
            ZONE,
            RecordType::Txt,
            "v=spf1 include:_spf.example.net ~all",
        ),
        DnsRecord::new("_dmarc.mindroom.chat", RecordType::Txt, "v=DMARC1; p=none"),
        DnsRecord::new("www.mindroom.chat", RecordType::Cname, "mindroom.chat"),
        DnsRecord::new("docs.mindroom.chat", RecordType::A, "192.0.2.50"),
    ]
}

/// A [`DnsProvider`] that counts roomctl's calls by kind; each may be
/// several HTTP requests when the client retries.
struct Tally<P> {
    inner: P,
    /// Calls of `records`, `create`, `edit` and `delete`.
    kinds: [AtomicU64; 4],
}

impl<P> Tally<P> {
    /// `inner`, counted from zero.
    fn new(inner: P) -> Self {
        Self {
            inner,
            kinds: Default::default(),
        }
    }

    /// The calls so far, by kind.
    fn counts(&self) -> [u64; 4] {
        self.kinds.each_ref().map(|k| k.load(SeqCst))
    }
}

#[async_trait]
impl<P: DnsProvider> DnsProvider for Tally<P> {
    async fn records(&self, zone: &str) -> Result<Vec<DnsRecord>, DnsError> {
        self.kinds[0].fetch_add(1, SeqCst);
        self.inner.records(zone).await
    }
    async fn create(&self, zone: &str, r: &DnsRecord) -> Result<String, DnsError> {
        self.kinds[1].fetch_add(1, SeqCst);
        self.inner.create(zone, r).await
    }
    async fn edit(&self, zone: &str, id: &str, r: &DnsRecord) -> Result<(), DnsError> {
        self.kinds[2].fetch_add(1, SeqCst);
        self.inner.edit(zone, id, r).await
    }
    async fn delete(&self, zone: &str, id: &str) -> Result<(), DnsError> {
        self.kinds[3].fetch_add(1, SeqCst);
        self.inner.delete(zone, id).await
    }
}

/// The fake, rate-limited like Porkbun, holding [`ZONE`] without parking
/// records and with the foreign records.
async fn porkbun() -> FakePorkbun {
    let fake = FakePorkbun::start(FakeOptions {
        zones: vec![ZONE.into()],
        rate_limit: Some(RateLimit::default()),
        parking: false,
        ..Default::default()
    })
    .await;
    foreign_records().into_iter().for_each(|r| {
        fake.seed(ZONE, r);
    });
    fake
}

/// A client with roomctl's production settings (1 s pacing, 5 tries,
/// 2 s first backoff), pointed at the fake.
fn client(fake: &FakePorkbun) -> Tally<PorkbunClient> {
    let config = PorkbunConfig {
        base_url: fake.url.clone(),
        ..PorkbunConfig::default()
    };
    Tally::new(PorkbunClient::with_config(FakePorkbun::keys(), config).unwrap())
}

/// Seeds the zone with the records roomctl wants for the `placed`
/// instances and the fixed records, marked as roomctl marks them.
fn seed_converged(fake: &FakePorkbun, desired: &Desired, placed: &BTreeMap<InstanceId, HostName>) {
    let spec = desired.dns.as_ref().expect("dns.toml is loaded");
    let (wanted, _) = roomctl::dns::desired::desired_records(desired, spec, placed);
    wanted.into_iter().for_each(|r| {
        fake.seed(ZONE, r);
    });
}

/// What one DNS pass measured.
struct Pass {
    observe: f64,
    plan: f64,
    apply: f64,
    wall: f64,
    read: usize,
    changes: usize,
    failed: usize,
    app_changes: usize,
    requests: u64,
    refused: u64,
    kinds: [u64; 4],
}

/// One DNS pass as `Reconciler::apply` makes it: read the zone, plan
/// (hosts as `hosts`), the DNS guard, creates and edits, then deletes.
async fn pass(
    fake: &FakePorkbun,
    dns: &Tally<PorkbunClient>,
    desired: &Desired,
    mut hosts: Observed,
) -> (Plan, Pass) {
    let (requests, refused, kinds) = (fake.requests(), fake.refused(), dns.counts());
    let t = Instant::now();
    let zone = observe_zone(dns, ZONE).await;
    let observe = t.elapsed().as_secs_f64();
    let read = match &zone {
        roomctl::observed::ZoneObservation::Known(records) => records.len(),
        roomctl::observed::ZoneObservation::Unknown { reason } => panic!("zone unread: {reason}"),
    };
    hosts.dns.insert(ZONE.into(), zone);
    let t1 = Instant::now();
    let plan = roomctl::plan::plan(desired, &hosts);
    let plan_secs = t1.elapsed().as_secs_f64();
    roomctl::apply::guards::check_dns(&plan, desired.dns.as_ref(), false).unwrap();
    let t2 = Instant::now();
    let mut rows = Vec::new();
    for deletes in [false, true] {
        for (zone, zp) in &plan.dns {
            if let ZonePlan::Known { changes, .. } = zp {
                let picked: Vec<&DnsChange> = changes
                    .iter()
                    .filter(|c| matches!(c, DnsChange::Delete { .. }) == deletes)
                    .collect();
                rows.extend(apply_changes(dns, zone, &picked).await);
            }
        }
    }
    let apply = t2.elapsed().as_secs_f64();
    let now = dns.counts();
    let s = plan.summary();
    let measured = Pass {
        observe,
        plan: plan_secs,
        apply,
        wall: t.elapsed().as_secs_f64(),
        read,
        changes: s.dns,
        failed: rows
            .iter()
            .filter(|r| r.error.is_some() || r.skipped)
            .count(),
        app_changes: s.create + s.update + s.stop + s.destroy,
        requests: fake.requests() - requests,
        refused: fake.refused() - refused,
        kinds: std::array::from_fn(|i| now[i] - kinds[i]),
    };
    (plan, measured)
}

/// Prints one pass.
fn report(name: &str, p: &Pass) {
    let [records, create, edit, delete] = p.kinds;
    println!(
        "  {name}: {:.3}s wall (zone read {:.3}s, plan {:.3}s, apply {:.3}s)",
        p.wall, p.observe, p.plan, p.apply
    );
    println!(
        "    API calls (fake's counter): {}, refused 503: {}; by kind: retrieve {records}, create {create}, edit {edit}, delete {delete}",
        p.requests, p.refused
    );
    println!(
        "    records read: {}; DNS changes planned: {}, failed or skipped: {}; app changes planned (not applied here): {}",
        p.read, p.changes, p.failed, p.app_changes
    );
}

/// `dns-noop`: 1,000 converged instances (`BENCH_DNS_INSTANCES`), nothing
/// to change. Target: 1 API call per zone.
pub async fn noop() {
    let n = env_or("BENCH_DNS_INSTANCES", 1000);
    let limit = RateLimit::default();
    println!(
        "== DNS no-op: {n} instances x 3 hostnames, Porkbun fake at {}/s (burst {}), production client pacing",
        limit.per_sec, limit.burst
    );
    let dir = super::Scratch::new();
    let desired = desired_with_dns(dir.path(), n);
    let placed = spread(&desired, n);
    let fake = porkbun().await;
    seed_converged(&fake, &desired, &placed);
    println!("  zone {ZONE} holds {} records", fake.records(ZONE).len());
    let dns = client(&fake);
    let (_, p) = pass(&fake, &dns, &desired, fleet(&desired, &placed)).await;
    report("no-op pass (target: 1 API call per zone)", &p);
    assert_eq!((p.changes, p.app_changes), (0, 0), "not a no-op");
    println!("  zone holds {} records after", fake.records(ZONE).len());
}

/// `dns-onboard`: 100 new instances (`BENCH_DNS_NEW`) into a zone of 1,000
/// (`BENCH_DNS_INSTANCES`); wall time against the rate limit's floor, then
/// a second pass on the result with a fresh client.
pub async fn onboard() {
    let existing = env_or("BENCH_DNS_INSTANCES", 1000);
    let new = env_or("BENCH_DNS_NEW", 100);
    let limit = RateLimit::default();
    println!(
        "== DNS onboarding: {new} new instances into a zone of {existing}, Porkbun fake at {}/s (burst {}), production client pacing",
        limit.per_sec, limit.burst
    );
    let dir = super::Scratch::new();
    let desired = desired_with_dns(dir.path(), existing + new);
    let placed = spread(&desired, existing);
    let fake = porkbun().await;
    seed_converged(&fake, &desired, &placed);
    let before = fake.records(ZONE).len();
    println!("  zone {ZONE} holds {before} records");
    let dns = client(&fake);
    let (plan, p) = pass(&fake, &dns, &desired, fleet(&desired, &placed)).await;
    report("onboarding pass", &p);
    assert_eq!(p.failed, 0, "DNS changes failed");
    let floor = p.requests as f64 / limit.per_sec;
    let strict = (p.requests as f64 - limit.burst).max(0.0) / limit.per_sec;
    let paced = (p.requests as f64 - 1.0).max(0.0) / limit.per_sec;
    println!(
        "    rate-limit bound: {} calls / {}/s = {floor:.1}s; wall = {:.3}x that",
        p.requests,
        limit.per_sec,
        p.wall / floor
    );
    println!(
        "    strict floor with the burst of {}: {strict:.1}s; the client's 1 s pacing: {paced:.1}s; wall above pacing (roomctl's own time): {:.3}s",
        limit.burst,
        p.wall - paced
    );
    let after = fake.records(ZONE).len();
    println!("  zone holds {after} records ({} new)", after - before);
    let dns = client(&fake);
    let (_, p2) = pass(&fake, &dns, &desired, fleet(&desired, &plan.placements)).await;
    report(
        "second pass, fresh client (target: 1 API call, no change)",
        &p2,
    );
    assert_eq!(
        (p2.changes, p2.app_changes),
        (0, 0),
        "second pass not a no-op"
    );
}
