//! How subscription states age into stopped and deprovisioned instances,
//! end to end: webhooks in, the worker on a sandbox fleet, rows out.

mod common;

use common::app::{AppOptions, TestApp, eventually, spawn_app_with};
use std::time::Duration;

async fn instance_status(app: &TestApp) -> Option<String> {
    sqlx::query_scalar::<_, String>("select status::text from instances")
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
}

async fn wait_status(app: &TestApp, want: &str) {
    eventually(Duration::from_secs(60), want, || async {
        (instance_status(app).await.as_deref() == Some(want)).then_some(())
    })
    .await;
}

fn apps_on_sandbox(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for host in ["dokku-1", "dokku-2"] {
        // Dokku's apps are the directories under /home/dokku.
        let dir = app
            .sandbox
            .path()
            .join("hosts")
            .join(host)
            .join("fs/home/dokku");
        for e in std::fs::read_dir(dir).into_iter().flatten() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() && !name.starts_with('.') {
                out.push(name);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_cancelled_subscription_past_retention_is_backed_up_then_deprovisioned() {
    let app = spawn_app_with(AppOptions {
        worker: true,
        interval: Some(Duration::from_millis(300)),
        platform: Some(|t| {
            t.replace("enabled = false", "enabled = true")
                + "\n[platform.subscriptions]\nretention = \"0s\"\n"
        }),
        ..Default::default()
    })
    .await;
    app.deliver("03-subscription-created-starter").await;
    wait_status(&app, "running").await;
    assert_eq!(apps_on_sandbox(&app).len(), 3);

    app.deliver("10-subscription-deleted").await;
    wait_status(&app, "deprovisioned").await;
    assert!(
        apps_on_sandbox(&app).is_empty(),
        "{:?}",
        apps_on_sandbox(&app)
    );
    let gone: Option<chrono::DateTime<chrono::Utc>> =
        app.scalar("select deprovisioned_at from instances").await;
    assert!(gone.is_some());
    // Every app with storage was archived before its destroy, and the
    // archive is recorded with its checksum.
    let backups: Vec<(String, String, i64)> =
        sqlx::query_as("select app_name, path, size_bytes from instance_backups order by app_name")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let names: Vec<&str> = backups.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(
        names.len(),
        2,
        "backend and matrix have storage: {backups:?}"
    );
    for (_, path, size) in &backups {
        assert_eq!(std::fs::metadata(path).unwrap().len() as i64, *size);
    }
    let destroyed: i64 = app
        .scalar("select count(*) from audit_logs where action = 'app.destroy' and outcome = 'ok'")
        .await;
    assert_eq!(destroyed, 3);
}

#[tokio::test]
async fn without_destroy_enabled_a_deprovisioned_instance_is_only_stopped() {
    let app = spawn_app_with(AppOptions {
        worker: true,
        interval: Some(Duration::from_millis(300)),
        platform: Some(|t| t.to_string() + "\n[platform.subscriptions]\nretention = \"0s\"\n"),
        ..Default::default()
    })
    .await;
    app.deliver("03-subscription-created-starter").await;
    wait_status(&app, "running").await;
    app.deliver("10-subscription-deleted").await;
    wait_status(&app, "deprovisioning").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        instance_status(&app).await.as_deref(),
        Some("deprovisioning")
    );
    assert_eq!(apps_on_sandbox(&app).len(), 3, "customer data kept");
}

#[tokio::test]
async fn past_due_stops_the_instance_once_the_grace_period_is_over() {
    let app = spawn_app_with(AppOptions {
        worker: true,
        platform: Some(|t| t.to_string() + "\n[platform.subscriptions]\npast_due_grace = \"0s\"\n"),
        ..Default::default()
    })
    .await;
    app.deliver("05-subscription-updated-professional").await;
    wait_status(&app, "running").await;
    app.deliver("08-subscription-updated-past-due").await;
    wait_status(&app, "stopped").await;
}

#[tokio::test]
async fn an_unreadable_host_leaves_instance_rows_untouched_until_it_can_be_read() {
    let app = spawn_app_with(AppOptions {
        worker: true,
        ..Default::default()
    })
    .await;
    let faults = app.sandbox.path().join("hosts/dokku-2/.faults");
    std::fs::create_dir_all(&faults).unwrap();
    // Every read of the host fails: the focused one (apps:list) and the
    // full one (roomctl:observe).
    for read in ["apps:list", "roomctl:observe"] {
        std::fs::write(faults.join(read), "exit:1").unwrap();
    }
    app.deliver("03-subscription-created-starter").await;
    eventually(
        Duration::from_secs(60),
        "the triggered pass to finish",
        || async {
            let s = app.status.lock().unwrap().clone();
            (s.passes_started >= 2 && s.passes_ok + s.passes_failed == s.passes_started)
                .then_some(())
        },
    )
    .await;
    let row: (String, Option<String>, Option<String>) =
        sqlx::query_as("select status::text, host, error_message from instances")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        ("provisioning".into(), None, None),
        "nothing is decided on a partial read"
    );
    assert_eq!(
        apps_on_sandbox(&app).len(),
        0,
        "nothing is placed while a host is unknown"
    );

    for read in ["apps:list", "roomctl:observe"] {
        std::fs::remove_file(faults.join(read)).unwrap();
    }
    app.queue.full(roomctl::server::Reason::Admin);
    wait_status(&app, "running").await;
}

#[tokio::test]
async fn a_held_instances_row_is_left_as_it_was() {
    let app = spawn_app_with(AppOptions {
        worker: true,
        ..Default::default()
    })
    .await;
    app.deliver("03-subscription-created-starter").await;
    wait_status(&app, "running").await;
    let before: (String, Option<i32>) =
        sqlx::query_as("select status::text, memory_limit_mb from instances")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    // Someone leaves one of its apps with an env Dokku cannot read
    // (real-edge-cases/002-005): the instance is held.
    let backend = apps_on_sandbox(&app)
        .into_iter()
        .find(|a| a.ends_with("-backend"))
        .unwrap();
    let host = ["dokku-1", "dokku-2"]
        .into_iter()
        .find(|h| {
            app.sandbox
                .path()
                .join(format!("hosts/{h}/fs/home/dokku/{backend}"))
                .is_dir()
        })
        .unwrap();
    let root = app.sandbox.path().join("hosts").join(host);
    for cmd in [
        format!("config:set --encoded --no-restart {backend} ZZ_A=ZW5kIg=="),
        format!("config:set --no-restart {backend} ZZ_B=plain"),
    ] {
        let o = std::process::Command::new(common::emulator_bin())
            .arg("--root")
            .arg(&root)
            .env("SSH_ORIGINAL_COMMAND", &cmd)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    }
    // The customer upgrades meanwhile: the pass runs, the instance is held.
    let passes = app.status.lock().unwrap().passes_started;
    app.deliver("05-subscription-updated-professional").await;
    eventually(Duration::from_secs(60), "the triggered pass", || async {
        let s = app.status.lock().unwrap().clone();
        (s.passes_started > passes && s.passes_ok + s.passes_failed == s.passes_started)
            .then_some(())
    })
    .await;
    let after: (String, Option<i32>) =
        sqlx::query_as("select status::text, memory_limit_mb from instances")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(after, before, "the held instance's row is untouched");
}
