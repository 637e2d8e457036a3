//! Benchmarks for roomctl (results go in BENCHMARKS.md).
//!
//! `cargo build --release --bins && target/release/roomctl-bench [noop|onboard|plan|all]`
//! (or one of `webhooks`, `dns-noop`, `dns-onboard`)
//!
//! - `noop`: a no-op reconcile of 1,000 instances (3,000 apps) on 10
//!   sandbox hosts, the emulator charging real Dokku's costs
//!   (`BENCH_RUNS` runs of each read, default 3; `BENCH_COSTS=off` runs
//!   it without the charged costs, `report` logs them to each host's
//!   `.costs.log`; `BENCH_FALLBACK=off` skips the reads of hosts with an
//!   older plugin).
//! - `onboard`: 100 new instances over 10 hosts, the emulator charging
//!   real costs (scaled) with one write at a time per host; wall time
//!   against the sum of unavoidable Dokku costs on the busiest host.
//! - `plan`: `plan()` alone for 100,000 instances, and peak memory.
//! - `placement`: placement alone for 10,000 instances on 100 hosts.
//! - `webhooks`: Stripe webhook ingestion over loopback into PostgreSQL
//!   (`BENCH_DATABASE_URL`); not part of `all`.
//! - `dns-noop`: the DNS part of a no-op reconcile, 3,000 instance records
//!   through the Porkbun client against the rate-limited Porkbun fake;
//!   not part of `all`.
//! - `dns-onboard`: 100 new instances (300 records) into that zone at
//!   Porkbun's rate limit, then a second pass; not part of `all`.
//! - `serve-resync`, `serve-webhook`: `roomctl serve`'s worker on 1,000
//!   database instances: a no-op timer resync, and the latency from a
//!   webhook to the first dokku command (see `serve.rs`); they need
//!   `BENCH_DATABASE_URL` and skip without it.
//! - `crash`: kill -9 trials of `roomctl apply` on the sandbox, checked
//!   against the invariants; `crash --serve` kills the `roomctl serve`
//!   leader instead (needs `BENCH_DATABASE_URL`); see `crash/`; not part
//!   of `all`.

mod crash;
mod dns;
mod noop;
mod placement;
mod serve;
mod webhooks;

use roomctl::apply::Shells;
use roomctl::desired::{Desired, RootSecret};
use roomctl::observed::{HostObservation, HostState, Observed, ObservedApp, Owner, marks};
use roomctl::reconcile::Reconciler;
use roomctl::ssh::{Counters, Counting, LocalShell, RemoteShell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);
impl Scratch {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("roomctl-bench-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn emulator() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let emu = exe.with_file_name("dokku-emu");
    assert!(
        emu.exists(),
        "build the emulator first: cargo build --release --bins"
    );
    emu
}

/// A desired-state dir with `hosts` hosts of `mem` and `n` free-tier instances.
fn desired_dir(dir: &Path, hosts: usize, mem: &str, n: usize) -> Desired {
    let d = dir.join("desired");
    std::fs::create_dir_all(d.join("instances")).unwrap();
    std::fs::copy(repo("desired-state/platform.toml"), d.join("platform.toml")).unwrap();
    std::fs::copy(repo("desired-state/tiers.toml"), d.join("tiers.toml")).unwrap();
    let hosts_toml: String = (0..hosts)
        .map(|i| {
            format!(
                "[[host]]\nname = \"host-{i:02}\"\naddress = \"10.0.0.{i}\"\nmemory = \"{mem}\"\n\n"
            )
        })
        .collect();
    std::fs::write(d.join("hosts.toml"), hosts_toml).unwrap();
    let inst: String = (0..n)
        .map(|i| format!("[[instance]]\nid = \"i{i:06}\"\n\n"))
        .collect();
    std::fs::write(d.join("instances/bench.toml"), inst).unwrap();
    let root = RootSecret::new("benchmark-root-secret-0123456789abcdef").unwrap();
    roomctl::desired::load(&d, &repo("templates"), &root).unwrap_or_else(|e| panic!("{e}"))
}

fn shells(
    desired: &Desired,
    dir: &Path,
    env: &[(&str, String)],
) -> (Shells, BTreeMap<String, Arc<Counters>>) {
    let mut shells = Shells::new();
    let mut counters = BTreeMap::new();
    for h in desired.hosts.keys() {
        let mut s = LocalShell::new(emulator(), dir.join("hosts").join(h.as_str()), 8)
            .with_host_name(h.as_str());
        for (k, v) in env {
            s = s.with_env(*k, v.clone());
        }
        let c = Counting::new(s);
        counters.insert(h.to_string(), c.counters.clone());
        shells.insert(h.clone(), Arc::new(c) as Arc<dyn RemoteShell>);
    }
    (shells, counters)
}

/// Seconds of Dokku time the plan's commands cost on `host`, without
/// roomctl's own bookkeeping (the stamp), with the emulator's cost table.
fn unavoidable(plan: &roomctl::plan::Plan, host: &str, root: &Path) -> f64 {
    let mut secs = 0.0;
    for (h, app, ap) in plan.apps() {
        if h.as_str() != host {
            continue;
        }
        for a in &ap.actions {
            if matches!(a, roomctl::plan::Action::Stamp { .. }) {
                continue;
            }
            for c in roomctl::apply::commands::commands(app, a) {
                let words: Vec<String> = c.words().iter().map(|w| w.to_string()).collect();
                secs += roomctl::emulator::costs::cost(root, &words);
            }
        }
    }
    secs
}

async fn onboard(scale: f64) {
    println!(
        "== onboarding: 100 new instances over 10 hosts, real Dokku costs x{scale}, one write at a time per host"
    );
    let dir = Scratch::new();
    let desired = desired_dir(dir.path(), 10, "64g", 100);
    let env = [
        ("DOKKU_EMU_COSTS", "real".to_string()),
        ("DOKKU_EMU_COST_SCALE", scale.to_string()),
        ("DOKKU_EMU_SERIAL_WRITES", "1".to_string()),
    ];
    let (s, counters) = shells(&desired, dir.path(), &env);
    let r = Reconciler::new(desired.clone(), s, &dir.path().join("state"));
    let (_, planned) = r.plan().await;
    let mut per_host: Vec<(f64, String)> = desired
        .hosts
        .keys()
        .map(|h| {
            (
                unavoidable(
                    &planned,
                    h.as_str(),
                    &dir.path().join("hosts").join(h.as_str()),
                ),
                h.to_string(),
            )
        })
        .collect();
    per_host.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (bound, busiest) = per_host[0].clone();
    for c in counters.values() {
        c.reset();
    }
    let t = Instant::now();
    let (p, report) = r.apply(false).await.unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let apps_on_busiest = p.apps().filter(|(h, _, _)| h.as_str() == busiest).count();
    println!(
        "  created {} apps; busiest host {busiest} with {apps_on_busiest} apps",
        p.summary().create
    );
    println!(
        "  unavoidable Dokku time on {busiest}: {:.1}s real ({:.2}s at x{scale})",
        bound,
        bound * scale
    );
    println!(
        "  wall time (observe + plan + apply): {wall:.2}s = {:.3}x the bound (target <= 1.3x)",
        wall / (bound * scale)
    );
    noop::report_counts(&counters);
}

fn converged(desired: &Desired, hosts: usize) -> Observed {
    let mut o = Observed::default();
    let names: Vec<_> = desired.hosts.keys().cloned().collect();
    let mut states: Vec<HostState> = (0..hosts)
        .map(|_| HostState {
            nginx_read: true,
            ..HostState::default()
        })
        .collect();
    for (i, (id, spec)) in desired.instances.iter().enumerate() {
        for a in spec.apps.values() {
            let mut env: BTreeMap<String, String> =
                roomctl::plan::app::desired_env(&desired.platform.owner, id, a)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.expose().to_string()))
                    .collect();
            let digest = roomctl::plan::digest::digest(a, spec.instance.state);
            env.insert(marks::APPLIED.into(), digest.clone());
            let env_fingerprint = Some(roomctl::observed::env_fingerprint(&env));
            states[i % hosts].apps.insert(
                a.name.to_string(),
                ObservedApp {
                    owner: Owner::Roomctl {
                        instance: id.clone(),
                        role: a.role.clone(),
                    },
                    env,
                    env_fingerprint,
                    managed_keys: a.env.keys().map(|k| k.to_string()).collect(),
                    applied: Some(digest),
                    image: Some(a.image.clone()),
                    limits: a.limits,
                    tls_expires: Some(2_000_000_000),
                    nginx: a.nginx.clone(),
                    detail: None,
                    installed_cert: None,
                },
            );
        }
    }
    for (h, s) in names.into_iter().zip(states) {
        o.hosts.insert(h, HostObservation::Known(s));
    }
    o
}

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn plan_alone() {
    println!("== plan() alone: 100,000 instances (300,000 apps) on 100 hosts");
    let dir = Scratch::new();
    let t = Instant::now();
    let n: usize = std::env::var("BENCH_PLAN_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let desired = desired_dir(dir.path(), 100, "4096g", n);
    println!(
        "  loading + rendering the desired state: {:.2}s (not part of plan)",
        t.elapsed().as_secs_f64()
    );
    let fresh = Observed {
        hosts: desired
            .hosts
            .keys()
            .map(|h| (h.clone(), HostObservation::Known(HostState::default())))
            .collect(),
        dns: Default::default(),
        at: None,
        certs: None,
        cloud: None,
    };
    let full = converged(&desired, 100);
    println!("  peak RSS with inputs built: {:.0} MiB", peak_rss_mib());
    let cases = [
        ("converged fleet (no-op)", &full),
        ("empty fleet (all creates)", &fresh),
    ];
    let only_noop = std::env::var("BENCH_PLAN_ONLY_NOOP").is_ok();
    for (name, obs) in cases.into_iter().take(if only_noop { 1 } else { 2 }) {
        let mut best = f64::MAX;
        let mut changes = 0;
        let reps: usize = std::env::var("BENCH_PLAN_REPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3);
        for _ in 0..reps {
            let t = Instant::now();
            let p = roomctl::plan::plan(&desired, obs);
            best = best.min(t.elapsed().as_secs_f64());
            changes = p.summary().create + p.summary().update;
        }
        let t = Instant::now();
        let _ = roomctl::plan::placement::place(&desired, obs);
        println!(
            "  {name}: placement alone {:.3}s",
            t.elapsed().as_secs_f64()
        );
        println!(
            "  {name}: best of 3 {best:.3}s (target < 0.5 s), {changes} app changes; peak RSS so far {:.0} MiB",
            peak_rss_mib()
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    let scale: f64 = std::env::var("BENCH_COST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.02);
    match what {
        "noop" => noop::noop().await,
        "crash" => crash::run(&args[1..], scale).await,
        "onboard" => onboard(scale).await,
        "plan" => plan_alone(),
        "placement" => placement::run(),
        "webhooks" => webhooks::run().await,
        "dns-noop" => dns::noop().await,
        "dns-onboard" => dns::onboard().await,
        "serve-resync" => serve::resync().await,
        "serve-webhook" => serve::webhook().await,
        "serve-busy" => serve::busy().await,
        "all" => {
            plan_alone();
            placement::run();
            noop::noop().await;
            onboard(scale).await;
            serve::resync().await;
            serve::webhook().await;
        }
        other => eprintln!(
            "unknown benchmark {other}: use noop, onboard, plan, placement, webhooks, dns-noop, dns-onboard, serve-resync, serve-webhook, serve-busy, crash or all"
        ),
    }
}
