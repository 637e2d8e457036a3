//! Per-app certificates (Dokku's letsencrypt plugin) on sandbox hosts: the
//! weekly issuance budget, read back from `letsencrypt:list`, and renewal
//! inside the renewal window.

mod common;

use common::app::sandbox_reconciler;
use common::desired::Fixture;
use roomctl::plan::{Plan, render};
use roomctl::reconcile::Reconciler;
use std::process::Command;

struct World {
    fixture: Fixture,
    sandbox: tempfile::TempDir,
}

impl World {
    fn new(instances: &str, budget: u32) -> Self {
        let fixture = Fixture::with_instances(instances);
        let platform = fixture.desired().join("platform.toml");
        let text = std::fs::read_to_string(&platform).unwrap();
        std::fs::write(
            &platform,
            format!("{text}\n[platform.certificates]\nweekly_budget = {budget}\n"),
        )
        .unwrap();
        Self {
            fixture,
            sandbox: tempfile::tempdir().unwrap(),
        }
    }

    fn reconciler(&self) -> Reconciler {
        let desired = self.fixture.load().unwrap_or_else(|e| panic!("{e}"));
        sandbox_reconciler(desired, self.sandbox.path())
    }

    /// Runs one emulator command on `host` (test hooks on).
    fn dokku(&self, host: &str, cmd: &str) -> String {
        let out = Command::new(common::emulator_bin())
            .arg("--root")
            .arg(self.sandbox.path().join("hosts").join(host))
            .env("SSH_ORIGINAL_COMMAND", cmd)
            .env("DOKKU_EMU_TEST_HOOKS", "1")
            .env_remove("DOKKU_EMU_COSTS")
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Apps with a certificate on `host`, from `letsencrypt:list`.
    fn certified(&self, host: &str) -> Vec<String> {
        let out = self.dokku(host, "--quiet letsencrypt:list");
        roomctl::dokku::parse::letsencrypt_list(&out)
            .unwrap()
            .into_keys()
            .collect()
    }
}

fn text(p: &Plan) -> String {
    render::human(p, render::Style::new(false))
}

fn instances(n: usize) -> String {
    (0..n)
        .map(|i| format!("[[instance]]\nid = \"i{i}\"\nhost = \"dokku-1\"\n\n"))
        .collect()
}

#[tokio::test]
async fn a_mass_onboarding_issues_no_more_than_the_weekly_budget_and_the_plan_shows_what_waits() {
    let w = World::new(&instances(3), 4);
    let (plan, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(plan.certificates.planned, 4, "{}", text(&plan));
    assert_eq!(plan.certificates.waiting.len(), 5);
    assert!(
        text(&plan).contains("certificates waiting for the weekly budget: "),
        "{}",
        text(&plan)
    );
    assert_eq!(w.certified("dokku-1").len(), 4);

    // A week's budget is spent: the next run issues nothing new, and the
    // apps themselves are converged.
    let (_, again) = w.reconciler().plan().await;
    assert_eq!(again.certificates.used, Some(4));
    assert_eq!(again.certificates.planned, 0);
    assert_eq!(again.certificates.waiting.len(), 5);
    assert!(again.apps().next().is_none(), "{}", text(&again));
    assert!(text(&again).contains(
        "5 certificate(s) wait for the weekly budget: 4 issued in the last 7 days, budget 4"
    ));
}

#[tokio::test]
async fn a_certificate_inside_the_renewal_window_is_renewed_and_the_next_plan_is_empty() {
    let w = World::new(&instances(1), 40);
    w.reconciler().apply(false).await.unwrap();
    assert_eq!(w.certified("dokku-1").len(), 3);
    let soon = chrono::Utc::now().timestamp() + 10 * 86_400;
    w.dokku("dokku-1", &format!("emu:seed-cert i0-backend {soon}"));

    let (_, plan) = w.reconciler().plan().await;
    let kinds: Vec<&str> = plan
        .apps()
        .flat_map(|(_, _, p)| p.actions.iter().map(|a| a.kind()))
        .collect();
    assert_eq!(kinds, ["renew_tls"], "{}", text(&plan));
    assert!(text(&plan).contains("renew letsencrypt certificate (expires "));

    let (_, report) = w.reconciler().apply(false).await.unwrap();
    assert_eq!(report.failed(), 0, "{}", report.table());
    let list =
        roomctl::dokku::parse::letsencrypt_list(&w.dokku("dokku-1", "letsencrypt:list")).unwrap();
    assert!(list["i0-backend"] > chrono::Utc::now().timestamp() + 80 * 86_400);
    let (_, again) = w.reconciler().plan().await;
    assert!(again.apps().next().is_none(), "{}", text(&again));
}
