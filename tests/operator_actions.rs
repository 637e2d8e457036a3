//! Operator actions carried out on a sandbox fleet (the Dokku emulator),
//! with a database instance deployed by a real pass: a stop through
//! reconcile passes, restarts through the restart executor
//! (`reconcile::restart::run_restarts`).

mod common;

use chrono::Utc;
use common::app::{SandboxShells, billing_fixture, sandbox_reconciler};
use common::desired::{Fixture, root};
use common::instances::seed_instance;
use common::pg::{TestDb, test_db};
use roomctl::apply::Shells;
use roomctl::db::operator::{self, Action};
use roomctl::desired::Desired;
use roomctl::domain::InstanceId;
use roomctl::observed::{HostObservation, Observed};
use roomctl::reconcile::database::{PassConfig, Scope, ShellSource, load_desired, run};
use roomctl::reconcile::restart::{RestartOutcome, RestartRow, after_pass, run_restarts};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const APPS: [&str; 3] = ["acme-backend", "acme-frontend", "acme-matrix"];

struct Fleet {
    db: TestDb,
    cfg: PassConfig,
    sandbox: tempfile::TempDir,
    _fixture: Fixture,
}

/// Instance `acme` of an active subscription, deployed by one pass.
async fn deployed() -> Fleet {
    let db = test_db().await;
    let fixture = billing_fixture();
    let sandbox = tempfile::tempdir().unwrap();
    let cfg = PassConfig {
        desired_dir: fixture.desired(),
        templates_dir: fixture.dir.path().join("templates"),
        root: root(),
        state_dir: sandbox.path().join("state"),
        retries: 0,
        backoff: Duration::from_millis(10),
        deep: false,
        nginx_test: Default::default(),
        acme: Default::default(),
        memo: Default::default(),
    };
    seed_instance(&db.pool, "acme", "active").await;
    let f = Fleet {
        db,
        cfg,
        sandbox,
        _fixture: fixture,
    };
    let r = run(
        &f.cfg,
        &f.db.pool,
        &f.shells_source(),
        &Scope::All,
        true,
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.report.failed(), 0, "{}", r.report.table());
    assert_eq!(f.containers().len(), 3);
    f
}

impl Fleet {
    fn shells_source(&self) -> SandboxShells {
        SandboxShells {
            dir: self.sandbox.path().to_path_buf(),
            costs: None,
        }
    }

    /// The desired state, the observation and the shells a pass would use.
    async fn observe(&self) -> (Desired, Observed, Shells) {
        let (desired, _, _) = load_desired(&self.cfg, &self.db.pool, Utc::now())
            .await
            .unwrap();
        let shells = self.shells_source().shells(&desired).unwrap();
        let (observed, _) = sandbox_reconciler(desired.clone(), self.sandbox.path())
            .plan()
            .await;
        (desired, observed, shells)
    }

    /// The restarts of a pass scoped to `scope` (all when `None`).
    async fn restarts(&self, scope: Option<&BTreeSet<InstanceId>>) -> Vec<RestartRow> {
        let (desired, _, _) = load_desired(&self.cfg, &self.db.pool, Utc::now())
            .await
            .unwrap();
        let mut r = sandbox_reconciler(desired, self.sandbox.path());
        r.scope = scope.cloned();
        let (observed, _) = r.plan().await;
        after_pass(&r, &self.db.pool, &observed).await
    }

    async fn act(&self, action: Action) {
        let policy = Default::default();
        let acme = InstanceId::parse("acme").unwrap();
        operator::act(
            &self.db.pool,
            &policy,
            &BTreeMap::new(),
            &acme,
            action,
            "operator:ops",
        )
        .await
        .unwrap();
    }

    async fn request(&self) {
        self.act(Action::Restart).await;
    }

    /// One reconcile pass; returns the instance's status afterwards and
    /// whether the plan had changes.
    async fn pass(&self) -> (String, bool) {
        let r = run(
            &self.cfg,
            &self.db.pool,
            &self.shells_source(),
            &Scope::All,
            true,
            false,
        )
        .await
        .unwrap();
        assert_eq!(r.report.failed(), 0, "{}", r.report.table());
        let status = sqlx::query_scalar("select status::text from instances")
            .fetch_one(&self.db.pool)
            .await
            .unwrap();
        (status, r.plan.has_changes())
    }

    /// Whether each app runs, per the emulator: its live container
    /// (`/home/dokku/APP/CONTAINER.web.1`) in the emulator's fake Docker.
    fn running(&self) -> Vec<bool> {
        let mut out = Vec::new();
        for (host, _, cid) in self.container_ids() {
            let path = self
                .sandbox
                .path()
                .join(format!("hosts/{host}/docker/containers/{cid}.json"));
            let text = std::fs::read_to_string(path).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            out.push(v["State"]["Running"].as_bool().unwrap());
        }
        out
    }

    /// (host, app, live container id) of every deployed app.
    fn container_ids(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for host in ["dokku-1", "dokku-2"] {
            for app in APPS {
                let path = self
                    .sandbox
                    .path()
                    .join(format!("hosts/{host}/fs/home/dokku/{app}/CONTAINER.web.1"));
                if let Ok(text) = std::fs::read_to_string(path) {
                    out.push((host.to_string(), app.to_string(), text.trim().to_string()));
                }
            }
        }
        out
    }

    async fn pending(&self) -> bool {
        sqlx::query_scalar(
            "select restart_requested_at > coalesce(restarted_at, '-infinity') from instances",
        )
        .fetch_one(&self.db.pool)
        .await
        .unwrap()
    }

    /// Each app's emulator container id (a restart replaces it), by app.
    fn containers(&self) -> BTreeMap<String, String> {
        self.container_ids()
            .into_iter()
            .map(|(_, app, cid)| (app, cid))
            .collect()
    }

    async fn host(&self) -> String {
        sqlx::query_scalar("select host from instances")
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    async fn audit(&self, action: &str) -> Vec<(String, String)> {
        sqlx::query_as("select target, outcome from audit_logs where action = $1 order by id")
            .bind(action)
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn an_operators_stop_stops_the_apps_and_holds_through_later_passes() {
    let f = deployed().await;
    assert_eq!(f.running(), [true; 3]);
    f.act(Action::Stop).await;
    assert_eq!(f.pass().await, ("stopped".to_string(), true));
    assert_eq!(f.running(), [false; 3]);
    assert_eq!(
        f.pass().await,
        ("stopped".to_string(), false),
        "the next pass keeps it"
    );
    f.act(Action::Start).await;
    assert_eq!(f.pass().await, ("running".to_string(), true));
    assert_eq!(f.running(), [true; 3]);
}

#[tokio::test]
async fn a_requested_restart_restarts_every_app_once_and_is_then_done() {
    let f = deployed().await;
    let before = f.containers();
    f.request().await;
    let rows = f.restarts(None).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].requested_by.as_deref(), Some("operator:ops"));
    let RestartOutcome::Done { apps } = &rows[0].outcome else {
        panic!("{rows:?}");
    };
    let host = f.host().await;
    let done: Vec<(String, String)> = apps
        .iter()
        .map(|(h, a)| (h.to_string(), a.to_string()))
        .collect();
    assert_eq!(done, APPS.map(|a| (host.clone(), a.to_string())));
    let after = f.containers();
    for app in APPS {
        assert_ne!(before[app], after[app], "{app} was not restarted");
    }
    assert!(!f.pending().await);
    let audit = f.audit("app.restart").await;
    assert_eq!(audit, APPS.map(|a| (a.to_string(), "ok".to_string())));

    assert_eq!(f.restarts(None).await, [], "a done request is not repeated");
    assert_eq!(f.containers(), after);
}

#[tokio::test]
async fn a_restart_waits_while_a_host_is_unknown() {
    let f = deployed().await;
    f.request().await;
    let (desired, mut observed, shells) = f.observe().await;
    let host = f.host().await.parse().unwrap();
    observed.hosts.insert(
        host,
        HostObservation::Unknown {
            reason: "cannot connect".into(),
        },
    );
    let before = f.containers();
    let rows = run_restarts(&f.db.pool, &desired, &observed, &shells, None).await;
    assert!(
        matches!(&rows[0].outcome, RestartOutcome::Waiting { reason } if reason.contains("cannot connect")),
        "{rows:?}"
    );
    assert_eq!(f.containers(), before, "nothing ran");
    assert!(f.pending().await, "retried next pass");
    assert!(f.restarts(None).await[0].is_done());
}

#[tokio::test]
async fn a_failed_restart_is_audited_and_retried_next_pass() {
    let f = deployed().await;
    f.request().await;
    let faults = f
        .sandbox
        .path()
        .join("hosts")
        .join(f.host().await)
        .join(".faults");
    std::fs::create_dir_all(&faults).unwrap();
    std::fs::write(faults.join("ps:restart"), "exit:1").unwrap();
    let rows = f.restarts(None).await;
    assert!(
        matches!(&rows[0].outcome, RestartOutcome::Failed { app, error, .. }
            if app.as_str() == "acme-backend" && error.contains("injected fault")),
        "{rows:?}"
    );
    assert!(f.pending().await);
    assert_eq!(
        f.audit("app.restart").await,
        [("acme-backend".into(), "failed".into())]
    );

    std::fs::remove_file(faults.join("ps:restart")).unwrap();
    assert!(f.restarts(None).await[0].is_done());
    assert!(!f.pending().await);
}

#[tokio::test]
async fn a_request_outside_the_scope_or_not_wanted_running_is_left_pending() {
    let f = deployed().await;
    f.request().await;
    let other = BTreeSet::from([InstanceId::parse("beta").unwrap()]);
    assert_eq!(f.restarts(Some(&other)).await, []);
    sqlx::query("update subscriptions set status = 'incomplete'")
        .execute(&f.db.pool)
        .await
        .unwrap();
    let before = f.containers();
    assert_eq!(f.restarts(None).await, []);
    assert_eq!(f.containers(), before);
    assert!(f.pending().await);
    assert_eq!(f.audit("app.restart").await, []);
}
