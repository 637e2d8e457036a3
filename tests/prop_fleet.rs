//! Property tests over random fleets (issue 14, finding 14): 1–2 sandbox
//! hosts (the Dokku emulator on a temp dir each, run per command exactly
//! as sshd would run it), a random "before" desired state applied to
//! them, random foreign apps (hand-made, clones carrying copied marks,
//! another deployment's apps, copied marks under another name) and random
//! drift of roomctl's apps (env, marks, domains, nginx properties and
//! snippet, ports, stopped or destroyed apps), then a random "now"
//! desired state (new, changed and cancelled instances). They check that
//!
//! - the plan is deterministic, also when the desired files and the
//!   observation are built in another order;
//! - applying it and planning again gives no changes but the destroys of
//!   apps it stopped (destroyed by a second apply), read as deep as the
//!   apply read (or deeper where a host's plugin reads every fact
//!   anyway), and no instance is missing but those whose app name a
//!   foreign app holds;
//! - neither the plan nor the commands the apply ran name an app that is
//!   not roomctl's (ownership judged by name, marks and owner together),
//!   and every foreign app's files are byte for byte as they were;
//! - every destroy respects the guards: none when destruction is off,
//!   more than `max_per_run` only with `--force`, and each `apps:destroy`
//!   runs only once its app's backup is recorded.
//!
//! The suite runs a few cases per property (`PROPTEST_CASES`, default 6);
//! the long form, with its results in BENCHMARKS.md §10, is
//! `PROPTEST_CASES=250 cargo test --release --test prop_fleet`.

#[path = "prop_fleet/setup.rs"]
mod setup;
#[path = "prop_fleet/strategy.rs"]
mod strategy;
#[path = "prop_fleet/world.rs"]
mod world;

use proptest::prelude::*;
use roomctl::apply::guards::GuardError;
use roomctl::plan::{Action, Change, Plan, render};
use std::collections::BTreeSet;
use std::sync::Arc;
use strategy::Plugin;
use world::{Log, World};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(6);
    ProptestConfig {
        cases,
        // Shrinking re-runs whole fleets: a few steps say enough.
        max_shrink_iters: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn text(p: &Plan) -> String {
    render::human(p, render::Style::new(false))
}

/// Subcommands that only read: the observation may run them on any app.
const READS: [&str; 22] = [
    "version",
    "apps:list",
    "apps:report",
    "apps:exists",
    "config:export",
    "config:show",
    "config:get",
    "config:keys",
    "domains:report",
    "ports:report",
    "ports:list",
    "proxy:report",
    "storage:list",
    "storage:report",
    "resource:report",
    "ps:report",
    "git:report",
    "nginx:report",
    "letsencrypt:list",
    "letsencrypt:report",
    "roomctl:observe",
    "roomctl:nginx-report",
];

/// The apps of `foreign` that the plan names.
fn planned_foreign(p: &Plan, foreign: &BTreeSet<(String, String)>) -> Vec<String> {
    p.apps()
        .filter(|(h, a, _)| foreign.contains(&(h.to_string(), a.to_string())))
        .map(|(h, a, _)| format!("{h}/{a}"))
        .collect()
}

async fn determinism(case: strategy::Case) -> Result<(), TestCaseError> {
    let w = World::new(&case);
    setup::prepare(&w, &case).await;
    w.write_instances(&case.now);
    let desired = w.desired();
    let log = Arc::new(Log::default());
    let (observed, first) = w.reconciler(desired.clone(), &log, false).plan().await;
    let again = roomctl::plan::plan(&desired, &observed);
    prop_assert_eq!(&first, &again, "the same inputs planned twice");
    // The same fleet declared in another order: instances shuffled, hosts
    // reversed; and the observation rebuilt in reverse insertion order.
    let mut shuffled = case.now.clone();
    let n = shuffled.len();
    for i in (1..n).rev() {
        shuffled.swap(i, (case.shuffle.rotate_left(i as u32) as usize) % (i + 1));
    }
    w.write_instances(&shuffled);
    w.write_hosts(&case, true);
    let other = w.desired();
    let mut reversed = observed.clone();
    reversed.hosts = observed
        .hosts
        .iter()
        .rev()
        .map(|(h, o)| (h.clone(), o.clone()))
        .collect();
    let third = roomctl::plan::plan(&other, &reversed);
    prop_assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&third).unwrap(),
        "the fleet declared in another order"
    );
    prop_assert_eq!(&first, &third);
    Ok(())
}

/// What is not roomctl's on the hosts, and its files before any apply.
struct Foreign {
    apps: BTreeSet<(String, String)>,
    snapshots: Vec<std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>>,
}

/// One apply, checked: the guards refuse only what they must (more
/// destroys than `max_per_run`, then forced), nothing fails, neither the
/// plan nor a changing command names a foreign app, every `apps:destroy`
/// ran after its backup was recorded, every app gone has a backup, and
/// every foreign app's files are as they were.
async fn checked_apply(
    w: &World,
    case: &strategy::Case,
    foreign: &Foreign,
) -> Result<Plan, TestCaseError> {
    let before = setup::read_apps(w);
    let log = Arc::new(Log::default());
    let r = w.reconciler(w.desired(), &log, case.deep);
    let (p, report) = match r.apply(false).await {
        Ok(done) => done,
        Err(GuardError::TooManyDestroys { count, limit }) => {
            prop_assert!(case.destroy_enabled && count > limit);
            r.apply(true).await.unwrap()
        }
        Err(e) => return Err(TestCaseError::fail(format!("guard: {e}"))),
    };
    prop_assert_eq!(report.failed(), 0, "{}\n{}", text(&p), report.table());
    let named = planned_foreign(&p, &foreign.apps);
    prop_assert!(
        named.is_empty(),
        "the plan names foreign apps {named:?}:\n{}",
        text(&p)
    );
    let destroys = p
        .apps()
        .filter(|(_, _, a)| a.actions.contains(&Action::Destroy))
        .count();
    prop_assert!(destroys == 0 || case.destroy_enabled, "{}", text(&p));
    for (h, words) in log.commands.lock().unwrap().iter() {
        if READS.contains(&words[0].as_str()) {
            continue;
        }
        let named = words
            .iter()
            .find(|w| foreign.apps.contains(&(h.clone(), w.to_string())));
        prop_assert!(
            named.is_none(),
            "{h}: `{}` names a foreign app",
            words.join(" ")
        );
    }
    let unguarded = log.unguarded.lock().unwrap().clone();
    prop_assert!(
        unguarded.is_empty(),
        "destroyed before backup: {unguarded:?}"
    );
    for ((h, a), snap) in foreign.apps.iter().zip(&foreign.snapshots) {
        prop_assert!(&w.snapshot(h, a) == snap, "foreign app {h}/{a} changed");
    }
    let after = setup::read_apps(w);
    let records = r.backups.records();
    for (h, a) in before.keys().filter(|k| !after.contains_key(*k)) {
        prop_assert!(
            records.iter().any(|b| &b.host == h && &b.app == a),
            "{h}/{a} is gone without a backup"
        );
    }
    Ok(p)
}

async fn convergence(case: strategy::Case) -> Result<(), TestCaseError> {
    let w = World::new(&case);
    setup::prepare(&w, &case).await;
    w.write_instances(&case.now);
    let apps = setup::foreign(&setup::read_apps(&w));
    let snapshots = apps.iter().map(|(h, a)| w.snapshot(h, a)).collect();
    let foreign = Foreign { apps, snapshots };
    let first = checked_apply(&w, &case, &foreign).await?;
    // Planning again: what is left is at most the destroy (after a
    // backup) of apps the apply stopped. Read as the apply read, or deeper
    // where that changes nothing: a host with the current plugin is read
    // in full anyway, one with an older plugin is read in full only with
    // `--deep` (where the digest vouches for an app, drift in its
    // domains, ports, mounts, nginx properties and run state is not seen,
    // as the plan's note says).
    let deep = case.deep || case.plugins.iter().all(|p| matches!(p, Plugin::Current));
    let log = Arc::new(Log::default());
    let (_, p) = w.reconciler(w.desired(), &log, deep).plan().await;
    for (h, a, ap) in p.apps() {
        let stopped = first
            .apps()
            .any(|(h1, a1, ap1)| (h1, a1) == (h, a) && ap1.change == Change::Stop);
        prop_assert!(
            ap.change == Change::Destroy && stopped,
            "after apply, {h}/{a}:\n{}",
            text(&p)
        );
    }
    if p.has_changes() {
        checked_apply(&w, &case, &foreign).await?;
    }
    let (_, p) = w.reconciler(w.desired(), &log, deep).plan().await;
    prop_assert!(!p.has_changes(), "after apply:\n{}", text(&p));
    prop_assert!(p.unknown_hosts().next().is_none(), "{}", text(&p));
    // Only instances whose app name a foreign app holds are missing.
    let blocked: BTreeSet<&str> = foreign
        .apps
        .iter()
        .filter_map(|(_, a)| a.rsplit_once('-'))
        .filter(|(_, role)| strategy::ROLES.contains(role))
        .map(|(id, _)| id)
        .collect();
    for id in p.missing.keys() {
        prop_assert!(blocked.contains(id.as_str()), "{id} missing:\n{}", text(&p));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plan_is_deterministic_for_any_fleet(case in strategy::case(6)) {
        runtime().block_on(determinism(case))?;
    }

    #[test]
    fn applying_any_plan_converges_touches_only_roomctls_apps_and_backs_up_before_destroying(
        case in strategy::case(6)
    ) {
        runtime().block_on(convergence(case))?;
    }
}
