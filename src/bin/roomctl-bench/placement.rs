//! `placement`: `placement::place` alone for 10,000 instances on 100 hosts
//! (issue 5's target: under 100 ms, deterministic, and an instance already
//! placed never moves).

use roomctl::desired::Desired;
use roomctl::observed::{HostObservation, HostState, Observed};
use roomctl::plan::placement::place;
use std::time::Instant;

/// Best and median of `reps` timed runs of `f`, in milliseconds.
fn time_ms(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

/// An observation of `desired`'s hosts with only the instances in `keep`
/// (every `keep`-th instance) converged where `converged` put them.
fn partly_converged(desired: &Desired, hosts: usize, every: usize) -> Observed {
    let full = super::converged(desired, hosts);
    let kept: std::collections::BTreeSet<String> = desired
        .instances
        .keys()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(_, id)| format!("{id}-"))
        .collect();
    let mut o = full;
    for h in o.hosts.values_mut() {
        if let HostObservation::Known(s) = h {
            s.apps
                .retain(|name, _| kept.iter().any(|prefix| name.starts_with(prefix.as_str())));
        }
    }
    o
}

/// Runs the benchmark and prints the results.
pub fn run() {
    let n: usize = std::env::var("BENCH_PLACEMENT_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    println!("== placement alone: {n} instances on 100 hosts");
    let dir = super::Scratch::new();
    let desired = super::desired_dir(dir.path(), 100, "128g", n);
    let empty = Observed {
        hosts: desired
            .hosts
            .keys()
            .map(|h| (h.clone(), HostObservation::Known(HostState::default())))
            .collect(),
        ..Observed::default()
    };
    let half = partly_converged(&desired, 100, 2);
    let full = super::converged(&desired, 100);
    for (name, obs) in [
        ("empty fleet (every instance new)", &empty),
        ("half placed, half new", &half),
        ("every instance placed", &full),
    ] {
        let first = place(&desired, obs);
        let (best, median) = time_ms(21, || {
            std::hint::black_box(place(&desired, obs));
        });
        let again = place(&desired, obs);
        assert_eq!(first.hosts, again.hosts, "placement is deterministic");
        println!(
            "  {name}: best {best:.1} ms, median {median:.1} ms of 21 (target < 100 ms); {} placed, identical on every run",
            first.hosts.len()
        );
        if std::ptr::eq(obs, &half) {
            let full_placement = place(&desired, &full);
            let moved = full_placement
                .hosts
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == 0)
                .filter(|(_, (id, h))| first.hosts.get(*id) != Some(*h))
                .count();
            println!("  already placed instances that moved: {moved} (must be 0)");
            assert_eq!(moved, 0);
        }
    }
}
