//! The health checker against a real PostgreSQL and real HTTP servers on
//! 127.0.0.1: what a round records, when it reports and restarts, uptime,
//! and the failures that are errors rather than results.

mod common;

#[path = "health_checks/fake.rs"]
mod fake;
#[path = "health_checks/rows.rs"]
mod rows;

use common::pg::{TestDb, test_db};
use fake::{Answer, FakeInstance};
use roomctl::health::{
    Endpoint, Health, HealthClient, HealthError, HealthSettings, Round, instance_health, run_round,
    uptime,
};
use rows::{count, instance, row};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A database with the running instance `acme`, a fake instance server and
/// a client connecting to it.
async fn setup() -> (TestDb, FakeInstance, HealthClient) {
    let db = test_db().await;
    instance(&db.pool, "acme", "running", true).await;
    let fake = FakeInstance::start().await;
    let client = HealthClient::new(Some(fake.addr)).unwrap();
    (db, fake, client)
}

fn settings() -> HealthSettings {
    HealthSettings {
        timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

async fn round(db: &TestDb, s: &HealthSettings, client: &HealthClient) -> Round {
    run_round(&db.pool, s, client).await.unwrap()
}

#[tokio::test]
async fn a_healthy_instance_is_recorded_healthy_with_full_uptime() {
    let (db, fake, client) = setup().await;
    let r = round(&db, &settings(), &client).await;

    assert_eq!((r.healthy, r.unhealthy, r.unknown), (1, 0, 0));
    let acme = &r.instances["acme"];
    assert_eq!(
        (acme.health, acme.error.as_deref()),
        (Health::Healthy, None)
    );
    assert!(acme.endpoints.values().all(|c| c.status == Some(200)));
    assert!(r.reported.is_empty() && r.restart.is_empty());
    assert_eq!(row(&db.pool, "acme").await, ("healthy".into(), None, 0));
    let (last, endpoints): (Option<chrono::DateTime<chrono::Utc>>, Value) = sqlx::query_as(
        "select i.last_health_check, h.endpoints from instances i join health_checks h on h.instance_id = i.id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(last, Some(r.checked_at));
    for e in ["backend", "frontend", "matrix"] {
        assert_eq!(endpoints[e]["status"], json!(200), "{endpoints}");
    }
    assert_eq!(
        fake.hosts(),
        [
            "acme.mindroom.test",
            "api.acme.mindroom.test",
            "matrix.acme.mindroom.test"
        ],
        "the URLs' hosts are kept while connecting to the fake"
    );
    let up = uptime(&db.pool, chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(
        up.into_iter().collect::<Vec<_>>(),
        [("acme".to_string(), 100.0)]
    );
    let summary = instance_health(&db.pool).await.unwrap();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].health, Health::Healthy);
    assert_eq!(
        (summary[0].uptime_24h, summary[0].uptime_30d),
        (Some(100.0), Some(100.0))
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["instances"]["acme"]["health"], json!("healthy"));
}

#[tokio::test]
async fn a_backend_answering_502_makes_the_instance_unhealthy_naming_the_endpoint() {
    let (db, fake, client) = setup().await;
    fake.answer("/api/health", Answer::Status(502));
    let r = round(&db, &settings(), &client).await;

    assert_eq!((r.healthy, r.unhealthy), (0, 1));
    let acme = &r.instances["acme"];
    assert_eq!(acme.endpoints[&Endpoint::Backend].status, Some(502));
    assert!(acme.endpoints[&Endpoint::Matrix].healthy());
    let want = "backend: 502 Bad Gateway";
    assert_eq!(
        row(&db.pool, "acme").await,
        ("unhealthy".into(), Some(want.into()), 1)
    );
    let (healthy, error, endpoints): (bool, Option<String>, Value) =
        sqlx::query_as("select healthy, error, endpoints from health_checks")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((healthy, error.as_deref()), (false, Some(want)));
    assert_eq!(endpoints["backend"]["error"], json!("502 Bad Gateway"));
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_within_the_configured_timeout() {
    let (db, fake, client) = setup().await;
    fake.answer("/_matrix/client/versions", Answer::Hang);
    let s = HealthSettings {
        timeout: Duration::from_millis(300),
        ..settings()
    };
    let started = Instant::now();
    let r = round(&db, &s, &client).await;

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let acme = &r.instances["acme"];
    assert_eq!(acme.error.as_deref(), Some("matrix: timed out after 300ms"));
    assert!(acme.endpoints[&Endpoint::Matrix].ms >= 300);
}

#[tokio::test]
async fn a_matrix_answer_of_200_that_is_not_versions_json_is_unhealthy() {
    let (db, fake, client) = setup().await;
    for body in ["<html>It works!</html>", r#"{"errcode": "M_UNRECOGNIZED"}"#] {
        fake.answer("/_matrix/client/versions", Answer::Body("text/html", body));
        let r = round(&db, &settings(), &client).await;
        let acme = &r.instances["acme"];
        assert_eq!(acme.health, Health::Unhealthy, "{body}");
        assert_eq!(
            acme.error.as_deref(),
            Some("matrix: answer is not JSON with a `versions` array")
        );
        assert_eq!(acme.endpoints[&Endpoint::Matrix].status, Some(200));
    }
}

#[tokio::test]
async fn n_failures_in_a_row_report_the_instance_once_and_request_its_restart() {
    let (db, fake, client) = setup().await;
    fake.answer("/", Answer::Status(503));
    let s = HealthSettings {
        unhealthy_after: 3,
        restart_unhealthy: true,
        ..settings()
    };
    let audits = "select count(*) from audit_logs where actor = 'roomctl' \
                  and action = 'health.unhealthy' and outcome = 'failed' and target = 'acme'";
    let requested = "select count(*) from instances where restart_requested_at is not null";
    for _ in 0..2 {
        let r = round(&db, &s, &client).await;
        assert!(r.reported.is_empty() && r.restart.is_empty());
    }
    assert_eq!(count(&db.pool, requested).await, 0);

    let third = round(&db, &s, &client).await;
    assert_eq!(third.instances["acme"].failures_in_row, 3);
    assert_eq!(
        (third.reported, third.restart),
        (vec!["acme".into()], vec!["acme".into()])
    );
    let by: Option<String> = sqlx::query_scalar("select restart_requested_by from instances")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(by.as_deref(), Some("health"));
    assert_eq!(count(&db.pool, audits).await, 1);

    let fourth = round(&db, &s, &client).await;
    assert!(
        fourth.reported.is_empty() && fourth.restart.is_empty(),
        "once per streak"
    );
    assert_eq!(fourth.instances["acme"].failures_in_row, 4);
    assert_eq!(count(&db.pool, audits).await, 1);
}

#[tokio::test]
async fn without_restart_unhealthy_a_reported_instance_is_not_restarted() {
    let (db, fake, client) = setup().await;
    fake.answer("/", Answer::Status(500));
    let s = HealthSettings {
        unhealthy_after: 1,
        ..settings()
    };
    let r = round(&db, &s, &client).await;
    assert_eq!(r.reported, ["acme"]);
    assert!(r.restart.is_empty());
    let requested = "select count(*) from instances where restart_requested_at is not null";
    assert_eq!(count(&db.pool, requested).await, 0);
}

#[tokio::test]
async fn a_healthy_check_resets_the_streak() {
    let (db, fake, client) = setup().await;
    let s = HealthSettings {
        unhealthy_after: 3,
        ..settings()
    };
    for healthy in [false, false, true, false, false] {
        let answer = if healthy {
            Answer::Healthy
        } else {
            Answer::Status(502)
        };
        fake.answer("/api/health", answer);
        let r = round(&db, &s, &client).await;
        assert!(r.reported.is_empty(), "never three failures in a row");
        if healthy {
            assert_eq!(row(&db.pool, "acme").await, ("healthy".into(), None, 0));
        }
    }
    assert_eq!(row(&db.pool, "acme").await.2, 2);
}

#[tokio::test]
async fn uptime_over_four_checks_with_one_failure_is_75_percent() {
    let (db, fake, client) = setup().await;
    for healthy in [true, false, true, true] {
        let answer = if healthy {
            Answer::Healthy
        } else {
            Answer::Status(500)
        };
        fake.answer("/", answer);
        round(&db, &settings(), &client).await;
    }
    let up = uptime(&db.pool, chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(up.get("acme"), Some(&75.0));
    let summary = instance_health(&db.pool).await.unwrap();
    assert_eq!(
        (summary[0].uptime_24h, summary[0].uptime_30d),
        (Some(75.0), Some(75.0))
    );
}

#[tokio::test]
async fn endpoints_are_checked_concurrently_and_instances_a_few_at_a_time() {
    let (db, fake, client) = setup().await;
    for name in ["bobs", "cara", "dave"] {
        instance(&db.pool, name, "running", true).await;
    }
    for path in ["/api/health", "/", "/_matrix/client/versions"] {
        fake.answer(path, Answer::Slow(Duration::from_millis(300)));
    }
    let s = HealthSettings {
        concurrency: 2,
        ..settings()
    };
    let r = round(&db, &s, &client).await;
    assert_eq!(r.healthy, 4);
    assert_eq!(fake.max_in_flight(), 6, "2 instances × 3 endpoints");
}

#[tokio::test]
async fn stopped_instances_are_not_checked() {
    let (db, fake, client) = setup().await;
    instance(&db.pool, "bobs", "stopped", true).await;
    let r = round(&db, &settings(), &client).await;

    assert_eq!(r.instances.keys().collect::<Vec<_>>(), ["acme"]);
    assert!(
        fake.hosts().iter().all(|h| !h.contains("bobs")),
        "{:?}",
        fake.hosts()
    );
    let bobs: (String, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
        "select health_status, last_health_check from instances where app_name = 'bobs'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(bobs, ("unknown".into(), None));
    let up = uptime(&db.pool, chrono::Duration::days(30)).await.unwrap();
    assert!(!up.contains_key("bobs"), "no checks, no uptime");
}

#[tokio::test]
async fn an_instance_without_urls_is_unknown_with_an_error_saying_so() {
    let (db, _fake, client) = setup().await;
    instance(&db.pool, "newco", "running", false).await;
    let r = round(&db, &settings(), &client).await;

    assert_eq!((r.healthy, r.unknown), (1, 1));
    let want = "not checked: no URL recorded for backend, frontend, matrix";
    assert_eq!(r.instances["newco"].error.as_deref(), Some(want));
    assert_eq!(
        row(&db.pool, "newco").await,
        ("unknown".into(), Some(want.into()), 0)
    );
    let checks = "select count(*) from health_checks h join instances i on i.id = h.instance_id \
                  where i.app_name = 'newco'";
    assert_eq!(
        count(&db.pool, checks).await,
        0,
        "unknown counts neither way"
    );
}

#[tokio::test]
async fn redirects_are_followed_on_the_same_host_only() {
    let (db, fake, client) = setup().await;
    fake.answer("/", Answer::Redirect("/login".into()));
    fake.answer("/login", Answer::Healthy);
    let r = round(&db, &settings(), &client).await;
    assert_eq!(r.instances["acme"].health, Health::Healthy);

    fake.answer("/", Answer::Redirect("http://elsewhere.test/".into()));
    let r = round(&db, &settings(), &client).await;
    assert_eq!(
        r.instances["acme"].error.as_deref(),
        Some("frontend: redirected to another host")
    );
    assert!(fake.hosts().iter().all(|h| h != "elsewhere.test"));
}

#[tokio::test]
async fn an_endpoint_nobody_listens_on_is_a_connection_error() {
    let db = test_db().await;
    instance(&db.pool, "acme", "running", true).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = HealthClient::new(Some(closed)).unwrap();
    let r = round(&db, &settings(), &client).await;
    let error = r.instances["acme"].error.clone().unwrap();
    assert!(error.starts_with("backend: connection failed"), "{error}");
    assert!(
        !error.contains("mindroom.test"),
        "no URLs in errors: {error}"
    );
}

#[tokio::test]
async fn history_older_than_the_retention_is_pruned() {
    let (db, _fake, client) = setup().await;
    sqlx::query(
        "insert into health_checks (instance_id, checked_at, healthy)
         select id, now() - interval '40 days', false from instances",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let r = round(&db, &settings(), &client).await;
    assert_eq!(r.pruned, 1);
    assert_eq!(
        count(&db.pool, "select count(*) from health_checks").await,
        1
    );
}

#[tokio::test]
async fn an_unreachable_database_is_an_error_not_an_empty_round() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&format!("postgres://postgres@{closed}/none"))
        .unwrap();
    let client = HealthClient::new(None).unwrap();

    let e = run_round(&pool, &settings(), &client).await.unwrap_err();
    assert!(matches!(e, HealthError::Read(_)), "{e:?}");
    assert!(e.is_transient(), "{e:?}");
    let e = uptime(&pool, chrono::Duration::days(1)).await.unwrap_err();
    assert!(
        matches!(e, HealthError::History(_)) && e.is_transient(),
        "{e:?}"
    );
    assert!(instance_health(&pool).await.is_err());
}
