//! Fault injection (issue 14, finding 12): representative applies on a
//! sandbox fleet (two emulated Dokku hosts, the Porkbun fake) with one
//! command failed in each way a host fails (error exit, timeout,
//! connection drop mid-output, process killed, a failure after the
//! command's work; see `common/faults.rs`), then a fresh run without
//! faults. The applies: an onboarding with DNS, TLS and nginx, a tier
//! change, a destroy with backup and a host move. After each trial: the
//! fleet converges, the app and DNS record that are not roomctl's are
//! byte-identical, no `apps:destroy` ran without its backup recorded, and
//! no desired instance is missing without the plan saying so (a run that
//! reported success left a converged fleet).
//!
//! The same trials fail each Porkbun request of those applies (HTML 503,
//! WAF 202, an answer past the client timeout), each Hetzner request of a
//! pool scale-out (429, 503, a lost answer), and take the database away
//! at each command of a pass (`fault_injection/database.rs`).
//!
//! The short form fails each number once, the kinds in turn (the
//! database every fourth command). The long form fails every number in
//! every way:
//!
//! ```text
//! ROOMCTL_FAULT_ALL=1 scripts/test --test fault_injection -- --test-threads 1 --nocapture
//! ```

#[path = "fault_injection/cloud.rs"]
mod cloud;
mod common;
#[path = "fault_injection/database.rs"]
mod database;
#[path = "fault_injection/trial.rs"]
mod trial;
#[path = "fault_injection/world.rs"]
mod world;

use common::fake_hetzner::CloudFault;
use common::fake_porkbun::DnsFault;
use common::faults::{Faults, Kind};
use trial::{ACME, SCENARIOS, Scenario, all, clean, not_converged, pick, sweep, sweep_dns};
use world::{DNS_TIMEOUT, World};

async fn sweep_and_check(s: &Scenario) {
    let t = std::time::Instant::now();
    let (trials, commands, failures) = sweep(s, all()).await;
    println!(
        "{}: {commands} commands, {trials} trials, {} failed, {:.1}s",
        s.name,
        failures.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_onboarding_with_dns_tls_and_nginx_converges_after_any_one_failed_command() {
    sweep_and_check(&SCENARIOS[0]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tier_change_converges_after_any_one_failed_command() {
    sweep_and_check(&SCENARIOS[1]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destroy_converges_after_any_one_failed_command_and_never_runs_without_its_backup() {
    sweep_and_check(&SCENARIOS[2]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_move_converges_after_any_one_failed_command() {
    sweep_and_check(&SCENARIOS[3]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_apply_converges_after_any_one_porkbun_request_is_refused_challenged_or_too_slow() {
    let kinds = [
        DnsFault::RateLimited,
        DnsFault::Challenge,
        DnsFault::Slow(DNS_TIMEOUT * 2),
    ];
    let mut failures = Vec::new();
    for s in &SCENARIOS {
        let t = std::time::Instant::now();
        let (trials, requests, failed) = sweep_dns(s, &kinds, all()).await;
        println!(
            "{} (DNS): {requests} requests, {trials} trials, {} failed, {:.1}s",
            s.name,
            failed.len(),
            t.elapsed().as_secs_f64()
        );
        failures.extend(failed);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_scale_out_converges_after_any_one_hetzner_request_is_refused_or_its_answer_lost() {
    let t = std::time::Instant::now();
    let (requests, problems) = cloud::run(None).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let kinds = [
        CloudFault::RateLimited,
        CloudFault::Unavailable,
        CloudFault::LostAnswer,
    ];
    let (mut failures, mut trials) = (Vec::new(), 0);
    for n in 1..=requests {
        for kind in pick(&kinds, n as usize, all()) {
            trials += 1;
            let (_, problems) = cloud::run(Some((n, kind))).await;
            if !problems.is_empty() {
                failures.push(problems.join("\n"));
            }
        }
    }
    println!(
        "pool scale-out (Hetzner): {requests} requests, {trials} trials, {} failed, {:.1}s",
        failures.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_going_away_at_any_command_of_a_pass_fails_it_and_the_next_pass_converges() {
    let t = std::time::Instant::now();
    let w = database::World::new().await;
    let counted = w.faults(None);
    let r = w.pass(true, &counted).await.unwrap();
    assert!(clean(&r.report), "{}", r.report.table());
    let c = counted.count();
    // The short form takes every fourth command; the long form all.
    let step = if all() { 1 } else { 4 };
    let mut failures = Vec::new();
    let mut trials = 0;
    for n in (1..=c).step_by(step) {
        trials += 1;
        let problems = database::trial(n).await;
        if !problems.is_empty() {
            failures.push(problems.join("\n"));
        }
    }
    println!(
        "onboarding from the database: {c} commands, {trials} trials, {} failed, {:.1}s",
        failures.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_turns_connections_away_fails_the_pass_as_transient_before_any_command() {
    let w = database::World::new().await;
    (w.away())();
    let faults = w.faults(None);
    let result = w.pass(true, &faults).await;
    w.back();
    // Transient: the worker requeues the pass instead of dropping it.
    match result {
        Err(e) => assert!(e.is_transient(), "{}", roomctl::db::chain(&e)),
        Ok(r) => panic!("a pass without its database:\n{}", r.report.table()),
    }
    assert_eq!(faults.count(), 0, "{:?}", faults.log());
    let problems = w.converges().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_whose_database_read_is_cut_off_acts_on_nothing_and_the_next_pass_converges() {
    use sqlx::Connection;
    let w = database::World::new().await;
    // Another session holds the instances table, so the pass's read waits
    // on it; the server then ends the waiting session and turns away new
    // ones before the table is let go.
    let mut locker = sqlx::PgConnection::connect(w.url()).await.unwrap();
    sqlx::raw_sql("begin; lock table public.instances in access exclusive mode")
        .execute(&mut locker)
        .await
        .unwrap();
    let faults = w.faults(None);
    let cut = async {
        for _ in 0..1000 {
            let ended: Vec<bool> = sqlx::query_scalar(
                "select pg_terminate_backend(pid) from pg_stat_activity
                 where datname = current_database() and wait_event_type = 'Lock'",
            )
            .fetch_all(&mut locker)
            .await
            .unwrap();
            if !ended.is_empty() {
                return (w.away())();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the pass never waited on the instances table");
    };
    let (result, ()) = tokio::join!(w.pass(true, &faults), cut);
    drop(locker);
    w.back();
    match result {
        Err(e) => assert!(e.is_transient(), "{e}"),
        Ok(r) => panic!("the pass went on from a cut read:\n{}", r.report.table()),
    }
    assert_eq!(faults.count(), 0, "{:?}", faults.log());
    assert_eq!(w.row().await, ("provisioning".to_string(), None));
    let problems = w.converges().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_killed_after_dokku_made_the_app_is_adopted_by_the_next_run() {
    let w = World::new(ACME).await;
    // The OOM killer ends `apps:create` after Dokku made the app: the
    // client sees exit 137, and the app is there, unmarked.
    let killed = Faults::first("apps:create acme-backend", Kind::Killed, w.backups());
    let (_, report) = w.reconciler(&killed).apply(false).await.unwrap();
    assert_eq!(report.failed(), 1, "{}", report.table());
    assert!(w.apps("dokku-1").contains(&"acme-backend".to_string()));
    let (_, report) = w.reconciler(&w.faults(None)).apply(false).await.unwrap();
    assert!(clean(&report), "{}", report.table());
    assert_eq!(w.env("dokku-1", "acme-backend")["ROOMCTL_INSTANCE"], "acme");
    let (_, p) = w.reconciler(&w.faults(None)).plan().await;
    assert_eq!(not_converged(&p), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_fails_after_dokku_made_the_app_is_adopted_by_the_next_run() {
    let w = World::new(ACME).await;
    // A `post-create` trigger fails: `apps:create` exits 1, the app stays.
    let failed = Faults::first("apps:create acme-backend", Kind::LateExit, w.backups());
    let (_, report) = w.reconciler(&failed).apply(false).await.unwrap();
    assert_eq!(report.failed(), 1, "{}", report.table());
    assert!(w.apps("dokku-1").contains(&"acme-backend".to_string()));
    let (_, report) = w.reconciler(&w.faults(None)).apply(false).await.unwrap();
    assert!(clean(&report), "{}", report.table());
    assert_eq!(w.env("dokku-1", "acme-backend")["ROOMCTL_INSTANCE"], "acme");
    let (_, p) = w.reconciler(&w.faults(None)).plan().await;
    assert_eq!(not_converged(&p), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_harness_sees_a_destroy_without_a_backup_and_a_touched_foreign_app() {
    use roomctl::dokku::CommandLine;
    let w = World::new("").await;
    let (files, records) = w.foreign();
    assert!(files.keys().any(|f| f.contains("dokku-1")), "{files:?}");
    assert!(files.keys().any(|f| f.contains("dokku-2")), "{files:?}");
    assert_eq!(records.len(), 1, "{records:?}");
    let faults = w.faults(None);
    let r = w.reconciler(&faults);
    let host: roomctl::domain::HostName = "dokku-1".parse().unwrap();
    let shell = &r.shells[&host];
    let set = CommandLine::raw(&["config:set", "--no-restart", world::FOREIGN_APP, "A=1"]);
    assert_eq!(shell.exec(&set.unwrap()).await.unwrap().code, 0);
    assert_ne!(w.foreign().0, files, "a config change of the foreign app");
    let destroy = CommandLine::raw(&["apps:destroy", world::FOREIGN_APP, "--force"]);
    shell.exec(&destroy.unwrap()).await.unwrap();
    assert_eq!(faults.violations().len(), 1, "{:?}", faults.violations());
}
