//! `roomctl migrate` and `roomctl serve` run as an operator runs them: the
//! real binary, a real database, signed webhooks over loopback, SIGTERM.

mod common;

use common::app::{SECRET, billing_fixture, eventually, fixture};
use common::pg::{empty_test_db, test_db};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn roomctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_roomctl"));
    c.env_remove("DATABASE_URL")
        .env_remove("ROOMCTL_ROOT_SECRET");
    c
}

#[tokio::test]
async fn migrate_applies_everything_once_and_then_reports_up_to_date() {
    let db = empty_test_db().await;
    let first = roomctl()
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.starts_with("applied 4 migration(s)"), "{out}");
    let second = roomctl()
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).starts_with("the database is up to date"));
}

#[tokio::test]
async fn migrate_without_a_database_says_how_to_give_one() {
    let out = roomctl().arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

#[tokio::test]
async fn serve_turns_a_signed_webhook_into_a_running_instance_and_stops_on_sigterm() {
    let db = test_db().await;
    let f = billing_fixture();
    let sandbox = tempfile::tempdir().unwrap();
    let mut child = roomctl()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1h",
            "--sandbox",
        ])
        .arg(sandbox.path())
        .arg("--desired")
        .arg(f.desired())
        .arg("--templates")
        .arg(f.dir.path().join("templates"))
        .arg("--state-dir")
        .arg(sandbox.path().join("state"))
        .env("DATABASE_URL", &db.url)
        .env("STRIPE_WEBHOOK_SECRET", format!("{SECRET},whsec_older"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");

    let body = fixture("03-subscription-created-starter");
    let header = roomctl::webhook::sign(&body, SECRET, chrono::Utc::now().timestamp());
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{url}/webhooks/stripe"))
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    eventually(Duration::from_secs(60), "the instance to run", || async {
        let s: Option<String> = sqlx::query_scalar("select status::text from instances")
            .fetch_optional(&db.pool)
            .await
            .unwrap();
        (s.as_deref() == Some("running")).then_some(())
    })
    .await;
    let health = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    common::require::kill();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let logs = String::from_utf8_lossy(&status.stderr);
    assert!(
        !logs.contains(SECRET),
        "the webhook secret never reaches the logs"
    );
}
