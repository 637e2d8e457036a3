//! Fault injection (issue 14, finding 12): representative applies on a
//! sandbox fleet (two emulated Dokku hosts, the Porkbun fake) with one
//! command failed in each way a host fails (error exit, timeout,
//! connection drop mid-output, process killed; see `common/faults.rs`),
//! then a fresh run without faults. After each trial: the fleet converges,
//! the app and DNS record that are not roomctl's are byte-identical, no
//! `apps:destroy` ran without its backup recorded, and no desired instance
//! is missing without the plan saying so.
//!
//! The short form fails each command number once, the kinds in turn. The
//! long form fails every command number in every way:
//!
//! ```text
//! ROOMCTL_FAULT_ALL=1 scripts/test --test fault_injection -- --test-threads 1 --nocapture
//! ```

#[path = "fault_injection/cloud.rs"]
mod cloud;
mod common;
#[path = "fault_injection/trial.rs"]
mod trial;
#[path = "fault_injection/world.rs"]
mod world;

use common::fake_hetzner::CloudFault;
use common::fake_porkbun::DnsFault;
use common::faults::{Faults, Kind};
use trial::{ACME, SCENARIOS, Scenario, all, clean, not_converged, sweep, sweep_dns};
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
        let (trials, requests, failed) = sweep_dns(s, &kinds).await;
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
    let mut failures = Vec::new();
    for n in 1..=requests {
        for kind in kinds {
            let (_, problems) = cloud::run(Some((n, kind))).await;
            if !problems.is_empty() {
                failures.push(problems.join("\n"));
            }
        }
    }
    println!(
        "pool scale-out (Hetzner): {requests} requests, {} trials, {} failed, {:.1}s",
        requests * 3,
        failures.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
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
