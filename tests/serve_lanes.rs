//! `serve` never makes a customer's webhook wait behind a resync: while a
//! full pass onboards instances at Dokku's real (scaled) costs, a new
//! subscription's pass runs beside it, and both converge.

mod common;

use common::app::{AppOptions, TestApp, eventually, spawn_app_with};
use roomctl::server::queue::Reason;
use std::time::Duration;

fn app_dirs(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for host in ["dokku-1", "dokku-2"] {
        let dir = app
            .sandbox
            .path()
            .join("hosts")
            .join(host)
            .join("fs/home/dokku");
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() && !name.starts_with('.') {
                out.push(name);
            }
        }
    }
    out
}

async fn resync_running(app: &TestApp) -> bool {
    sqlx::query_scalar::<_, bool>(
        "select exists(select 1 from reconcile_runs where scope like 'all%' and finished_at is null)",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_webhooks_pass_runs_beside_a_resync_that_onboards_and_both_converge() {
    let app = spawn_app_with(AppOptions {
        worker: true,
        costs: Some(0.5),
        ..Default::default()
    })
    .await;
    let busy: String = (0..4)
        .map(|i| format!("[[instance]]\nid = \"busy{i}\"\nhost = \"dokku-1\"\n\n"))
        .collect();
    app.fixture
        .write("desired-state/instances/busy.toml", &busy);
    app.queue.full(Reason::Timer);
    eventually(
        Duration::from_secs(60),
        "the resync creating apps",
        || async {
            app_dirs(&app)
                .iter()
                .any(|a| a.starts_with("busy"))
                .then_some(())
        },
    )
    .await;
    assert!(resync_running(&app).await, "the resync is still at work");

    app.deliver("03-subscription-created-starter").await;
    let customer: String = eventually(Duration::from_secs(30), "the instance row", || async {
        sqlx::query_scalar::<_, String>("select app_name from instances")
            .fetch_optional(&app.db.pool)
            .await
            .unwrap()
    })
    .await;
    let prefix = format!("{customer}-");
    let resync_during = eventually(
        Duration::from_secs(60),
        "the customer's first app",
        || async {
            let running = resync_running(&app).await;
            app_dirs(&app)
                .iter()
                .any(|a| a.starts_with(&prefix))
                .then_some(running)
        },
    )
    .await;
    assert!(
        resync_during,
        "the customer's pass waited for the resync to finish"
    );

    eventually(Duration::from_secs(120), "everything running", || async {
        let status: Option<String> = sqlx::query_scalar("select status::text from instances")
            .fetch_optional(&app.db.pool)
            .await
            .unwrap();
        let done = !resync_running(&app).await
            && status.as_deref() == Some("running")
            && app_dirs(&app).len() == 15;
        done.then_some(())
    })
    .await;
    let failed: i64 = sqlx::query_scalar(
        "select count(*) from reconcile_runs where outcome not in ('ok', 'running')",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(failed, 0, "every pass ended ok");
}
