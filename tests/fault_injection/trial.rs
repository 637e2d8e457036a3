//! One trial: a fresh fleet brought to a scenario's starting point, an
//! apply with one fault, a fresh apply without faults, and the invariants.

use crate::common::fake_porkbun::DnsFault;
use crate::common::faults::Kind;
use crate::world::World;
use roomctl::apply::report::Report;
use roomctl::plan::{Plan, render};

/// A representative apply: the fleet brought to its start by applying
/// each of `setup`'s declarations without faults, then `after` declared
/// (and `retire`'s host taken out of `hosts.toml`) and applied with a
/// fault.
pub struct Scenario {
    /// Its name in messages.
    pub name: &'static str,
    /// Instances applied first, one clean pass each, in order.
    pub setup: &'static [&'static str],
    /// Instances of the faulted apply.
    pub after: &'static str,
    /// A host retired before the faulted apply.
    pub retire: Option<&'static str>,
}

/// One starter instance on `dokku-1`.
pub const ACME: &str = "[[instance]]\nid = \"acme\"\ntier = \"starter\"\nhost = \"dokku-1\"\n";

/// The four applies of finding 12. roomctl never moves an instance by
/// itself (`src/plan/placement.rs`), so a host move is the instance
/// re-pinned to `dokku-2` while `dokku-1` is retired from `hosts.toml`:
/// the pass creates it on `dokku-2` and points its DNS records there. A
/// departed instance is stopped by one pass and backed up and destroyed
/// by the next, so the destroy starts from the stopped instance.
pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "onboarding with DNS, TLS and nginx",
        setup: &[],
        after: ACME,
        retire: None,
    },
    Scenario {
        name: "tier change",
        setup: &[ACME],
        after: "[[instance]]\nid = \"acme\"\ntier = \"professional\"\nhost = \"dokku-1\"\n",
        retire: None,
    },
    Scenario {
        name: "destroy with backup",
        setup: &[ACME, ""],
        after: "",
        retire: None,
    },
    Scenario {
        name: "host move",
        setup: &[ACME],
        after: "[[instance]]\nid = \"acme\"\ntier = \"starter\"\nhost = \"dokku-2\"\n",
        retire: Some("dokku-1"),
    },
];

fn text(p: &Plan) -> String {
    render::human(p, render::Style::new(false))
}

/// Why `p` is not a converged fleet, if it is not.
pub fn not_converged(p: &Plan) -> Option<String> {
    let unknown = p.unknown_hosts().next().is_some() || p.unknown_zones().next().is_some();
    (unknown || p.has_changes() || !p.missing.is_empty()).then(|| text(p))
}

/// Whether a run reported every step done, every host and zone read.
pub fn clean(r: &Report) -> bool {
    r.failed() == 0
        && r.dns_failed() == 0
        && r.certs_failed() == 0
        && r.servers_failed() == 0
        && r.unknown.is_empty()
}

/// A fleet at the scenario's starting point.
pub async fn start(s: &Scenario) -> World {
    let w = World::new("").await;
    for step in s.setup {
        w.set_instances(step);
        let (_, report) = w.reconciler(&w.faults(None)).apply(false).await.unwrap();
        assert!(clean(&report), "{}: setup\n{}", s.name, report.table());
    }
    w.set_instances(s.after);
    if let Some(host) = s.retire {
        w.retire(host);
    }
    w
}

/// The one fault of a trial.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The N-th Dokku command of the run fails.
    Shell(usize, Kind),
    /// The N-th Porkbun request of the run fails.
    Dns(u64, DnsFault),
}

/// What one trial found.
pub struct Outcome {
    /// Commands the faulted run issued.
    pub commands: usize,
    /// Porkbun requests the faulted run sent.
    pub dns_requests: u64,
    /// The broken invariants (empty: the trial passed).
    pub problems: Vec<String>,
}

/// Runs scenario `s` with `fault`, then a fresh run, and checks the
/// invariants.
pub async fn run(s: &Scenario, fault: Option<Fault>) -> Outcome {
    let w = start(s).await;
    let foreign = w.foreign();
    let dns_before = w.porkbun.requests();
    let faulted = match fault {
        Some(Fault::Shell(n, kind)) => w.faults(Some((n, kind))),
        Some(Fault::Dns(n, kind)) => {
            w.porkbun.fault_at(Some((dns_before + n, kind)));
            w.faults(None)
        }
        None => w.faults(None),
    };
    let mut problems = Vec::new();
    let report = match w.reconciler(&faulted).apply(false).await {
        Ok((_, report)) => Some(report),
        Err(e) => {
            problems.push(format!("the faulted run was refused by a guard: {e}"));
            None
        }
    };
    // No instance silently missing: a run that reports no failure left a
    // converged fleet, and an app of a desired instance that is not there
    // is one the next plan creates or names as missing.
    let dns_requests = w.porkbun.requests() - dns_before;
    w.porkbun.fault_at(None);
    let (_, after_fault) = w.reconciler(&w.faults(None)).plan().await;
    if let Some(r) = &report
        && clean(r)
        && let Some(why) = not_converged(&after_fault)
    {
        problems.push(format!(
            "the faulted run reported success, but the fleet is not converged:\n{}\n{why}",
            r.table()
        ));
    }
    problems.extend(silently_missing(&w, &after_fault));
    let fresh = w.faults(None);
    match w.reconciler(&fresh).apply(false).await {
        Ok((_, r)) if !clean(&r) => problems.push(format!("the fresh run failed:\n{}", r.table())),
        Ok(_) => {}
        Err(e) => problems.push(format!("the fresh run was refused by a guard: {e}")),
    }
    let (_, p) = w.reconciler(&w.faults(None)).plan().await;
    if let Some(why) = not_converged(&p) {
        problems.push(format!("not converged after a fresh run:\n{why}"));
    }
    if w.foreign() != foreign {
        problems.push("the foreign app or DNS record changed".into());
    }
    problems.extend(faulted.violations());
    problems.extend(fresh.violations());
    if let (Some(fault), false) = (fault, problems.is_empty()) {
        let cmd = faulted.failed_command().unwrap_or_default();
        problems.insert(0, format!("{}: {fault:?} ({cmd})", s.name));
    }
    Outcome {
        commands: faulted.count(),
        dns_requests,
        problems,
    }
}

/// The desired instances' apps that are on no host and that plan `p`
/// neither creates nor reports missing, while every host was read.
fn silently_missing(w: &World, p: &Plan) -> Vec<String> {
    if p.unknown_hosts().next().is_some() {
        return Vec::new();
    }
    let desired = w.fixture.load().unwrap();
    let planned: Vec<String> = p.apps().map(|(_, a, _)| a.to_string()).collect();
    let present: Vec<String> = desired
        .hosts
        .keys()
        .map(|h| h.as_str())
        .flat_map(|h| {
            w.apps(h)
                .into_iter()
                .filter(|a| w.env(h, a).contains_key("ROOMCTL_INSTANCE"))
        })
        .collect();
    let mut out = Vec::new();
    for i in desired.instances.values() {
        for app in i.apps.keys().map(ToString::to_string) {
            let seen = present.contains(&app) || planned.contains(&app);
            if !seen && !p.missing.contains_key(&i.instance.id) {
                out.push(format!(
                    "{app} of {} is on no host, and the plan neither creates it nor calls it missing:\n{}",
                    i.instance.id,
                    text(p)
                ));
            }
        }
    }
    out
}

/// Trials of `s` for every command number up to the clean run's count:
/// all kinds at every number with `all`, else one kind per number in
/// turn. Returns (trials, commands of the clean run, failures).
pub async fn sweep(s: &Scenario, all: bool) -> (usize, usize, Vec<String>) {
    let clean_run = run(s, None).await;
    assert!(
        clean_run.problems.is_empty(),
        "{}: the run without faults broke an invariant:\n{}",
        s.name,
        clean_run.problems.join("\n")
    );
    let c = clean_run.commands;
    let mut failures = Vec::new();
    let mut trials = 0;
    for n in 1..=c {
        for kind in pick(&Kind::ALL, n, all) {
            trials += 1;
            let o = run(s, Some(Fault::Shell(n, kind))).await;
            if !o.problems.is_empty() {
                failures.push(o.problems.join("\n"));
            }
        }
    }
    (trials, c, failures)
}

/// Trials of `s` with each Porkbun request of the clean run failed:
/// in each of `kinds`' ways with `all`, else one way per request in
/// turn. Returns (trials, requests of the clean run, failures).
pub async fn sweep_dns(s: &Scenario, kinds: &[DnsFault], all: bool) -> (usize, u64, Vec<String>) {
    let d = run(s, None).await.dns_requests;
    let mut failures = Vec::new();
    let mut trials = 0;
    for n in 1..=d {
        for kind in pick(kinds, n as usize, all) {
            trials += 1;
            let o = run(s, Some(Fault::Dns(n, kind))).await;
            if !o.problems.is_empty() {
                failures.push(o.problems.join("\n"));
            }
        }
    }
    (trials, d, failures)
}

/// The kinds to try at number `n`: all of them with `all`, else one, in
/// turn.
pub fn pick<K: Copy>(kinds: &[K], n: usize, all: bool) -> Vec<K> {
    match all {
        true => kinds.to_vec(),
        false => vec![kinds[n % kinds.len()]],
    }
}

/// Whether the long form was asked for (`ROOMCTL_FAULT_ALL=1`).
pub fn all() -> bool {
    std::env::var("ROOMCTL_FAULT_ALL").as_deref() == Ok("1")
}
