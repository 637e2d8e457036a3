//! `noop`: a no-op reconcile of 1,000 instances (3,000 apps) on 10 sandbox
//! hosts, read with `roomctl:observe` and then as hosts with an older
//! plugin (Dokku's own commands, then `--deep`), with what each read costs:
//! wall time, executions and bytes per host, and the CPU this machine spent.

use crate::{Scratch, desired_dir, shells};
use roomctl::reconcile::Reconciler;
use roomctl::ssh::Counters;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Prints the executions and bytes per host (min and max) and the first
/// host's executions by subcommand.
pub fn report_counts(counters: &BTreeMap<String, Arc<Counters>>) {
    let totals: Vec<u64> = counters.values().map(|c| c.total()).collect();
    let bytes: Vec<u64> = counters.values().map(|c| c.bytes()).collect();
    println!(
        "  dokku invocations (= SSH executions) per host: min {} max {}; bytes received per host: min {} max {}",
        totals.iter().min().unwrap(),
        totals.iter().max().unwrap(),
        bytes.iter().min().unwrap(),
        bytes.iter().max().unwrap()
    );
    if let Some((h, c)) = counters.iter().next() {
        println!("  {h} by subcommand: {:?}", c.by_subcommand());
    }
}

/// CPU seconds (user + system) used by waited-for child processes: the emulator runs.
pub fn cpu_seconds_of_children() -> f64 {
    proc_stat_seconds(13)
}

/// CPU seconds (user + system) this process used: roomctl's own work.
fn cpu_seconds_of_self() -> f64 {
    proc_stat_seconds(11)
}

/// The sum of two adjacent clock-tick fields of `/proc/self/stat`, in
/// seconds; `i` counts from the field after the command name (proc(5)'s
/// field 3), so 11 is utime + stime and 13 is cutime + cstime.
fn proc_stat_seconds(i: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (fields.get(i).copied().unwrap_or(0.0) + fields.get(i + 1).copied().unwrap_or(0.0)) / 100.0
}

pub async fn noop() {
    println!(
        "== no-op reconcile: 1,000 instances (3,000 apps) on 10 sandbox hosts, real Dokku costs"
    );
    let dir = Scratch::new();
    let desired = desired_dir(dir.path(), 10, "128g", 1000);
    let t = Instant::now();
    let (s, _) = shells(&desired, dir.path(), &[]);
    let setup = Reconciler::new(desired.clone(), s, &dir.path().join("state"));
    let (p, report) = setup.apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    println!(
        "  setup (costs off): created {} apps in {:.1}s",
        p.summary().create,
        t.elapsed().as_secs_f64()
    );
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let observe = |label: &'static str, deep: bool| {
        let (desired, dir) = (&desired, dir.path());
        async move {
            let mode = std::env::var("BENCH_COSTS").unwrap_or_else(|_| "real".into());
            let env = [("DOKKU_EMU_COSTS", mode)];
            let mut walls = Vec::new();
            for run in 0..runs {
                let (s, counters) = shells(desired, dir, &env);
                let mut r = Reconciler::new(desired.clone(), s, &dir.join("state"));
                r.observe.deep = deep;
                let cpu0 = cpu_seconds_of_children();
                let own0 = cpu_seconds_of_self();
                let t = Instant::now();
                let (p, report) = r.apply(false).await.unwrap();
                let wall = t.elapsed().as_secs_f64();
                assert!(!p.has_changes() && report.rows.is_empty(), "not a no-op");
                walls.push(wall);
                println!(
                    "  {label}, run {}: {wall:.3}s wall; emulator processes used {:.2}s CPU, roomctl {:.2}s CPU on this machine",
                    run + 1,
                    cpu_seconds_of_children() - cpu0,
                    cpu_seconds_of_self() - own0
                );
                if run == 0 {
                    report_counts(&counters);
                }
            }
            walls.sort_by(f64::total_cmp);
            println!(
                "  {label}: median {:.3}s, min {:.3}s, max {:.3}s over {runs} runs",
                walls[walls.len() / 2],
                walls[0],
                walls[walls.len() - 1]
            );
        }
    };
    observe(
        "every fact read with roomctl:observe (plugin 0.2.0, target <= 3 execs per host and <= 0.5 s)",
        false,
    )
    .await;
    if std::env::var("BENCH_FALLBACK").is_ok_and(|v| v == "off") {
        return;
    }
    // The same fleet read as before roomctl:observe existed: hosts whose
    // plugin is older fall back to Dokku's own commands.
    for h in desired.hosts.keys() {
        roomctl::emulator::init_host(
            &dir.path().join("hosts").join(h.as_str()),
            &roomctl::emulator::HostConfig {
                roomctl_plugin: Some("0.1.0".into()),
                ..Default::default()
            },
        )
        .unwrap();
    }
    observe(
        "fallback, plugin 0.1.0 (Dokku's commands, digest-vouched)",
        false,
    )
    .await;
    observe(
        "fallback, plugin 0.1.0, --deep (every fact, per-app commands)",
        true,
    )
    .await;
}
