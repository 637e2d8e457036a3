//! The admin API of `roomctl serve`, end to end: the real router on
//! 127.0.0.1 with a fresh database, a fixed fleet view and a
//! desired-state directory declaring two instances in a file (see
//! `common::admin`).

mod common;

use chrono::{Duration as Days, Utc};
use common::admin::{Key, SHOWN, spawn, view};
use common::instances::seed_instance;
use roomctl::db::api_keys::{self, Scope};
use roomctl::db::lifecycle::Want;
use roomctl::server::Reason;
use serde_json::{Value, json};

/// Every admin endpoint (and some that do not exist), as (method, path).
const ENDPOINTS: [(&str, &str); 12] = [
    ("GET", "/api/instances"),
    ("GET", "/api/instances/acme"),
    ("POST", "/api/instances/acme/start"),
    ("POST", "/api/instances/acme/stop"),
    ("POST", "/api/instances/acme/restart"),
    ("POST", "/api/reconcile"),
    ("GET", "/api/plan"),
    ("GET", "/api/secret-admin-thing"),
    ("POST", "/api/instances/acme/destroy"),
    ("DELETE", "/api/instances/acme"),
    ("GET", "/api/instances/Not_An_Id"),
    ("GET", "/api"),
];

#[tokio::test]
async fn every_endpoint_answers_401_without_a_valid_key_and_only_healthz_is_open() {
    let a = spawn(Ok(view())).await;
    seed_instance(&a.db.pool, "acme", "active").await;
    let forged = format!("rmk_{}", "0".repeat(48));
    for (method, path) in ENDPOINTS {
        for key in [Key::None, Key::Bearer(&forged), Key::Bearer("not-a-key")] {
            let (status, body) = a.call(method, path, key, None).await;
            assert_eq!(status, 401, "{method} {path}: {body}");
            assert_eq!(body, json!({"error": "a valid API key is required"}));
        }
    }
    let (status, _) = a.call("GET", "/healthz", Key::None, None).await;
    assert_eq!(status, 200);
    assert_eq!(a.queue.depth(), 0, "nothing was queued");
}

#[tokio::test]
async fn revoked_and_expired_keys_are_refused() {
    let a = spawn(Ok(view())).await;
    let revoked = a.key("old", Scope::Write).await;
    assert_eq!(
        a.call("GET", "/api/instances", Key::Bearer(&revoked), None)
            .await
            .0,
        200
    );
    assert_eq!(
        api_keys::revoke(&a.db.pool, &revoked[..12]).await.unwrap(),
        1
    );
    assert_eq!(
        a.call("GET", "/api/instances", Key::Bearer(&revoked), None)
            .await
            .0,
        401
    );
    let past = Some(Utc::now() - Days::seconds(1));
    let (_, expired) = api_keys::create(&a.db.pool, "gone", &[Scope::Write], past)
        .await
        .unwrap();
    assert_eq!(
        a.call("GET", "/api/instances", Key::Bearer(&expired), None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_read_key_reads_but_changes_nothing() {
    let a = spawn(Ok(view())).await;
    seed_instance(&a.db.pool, "acme", "active").await;
    let read = a.key("viewer", Scope::Read).await;
    for (method, path) in ENDPOINTS {
        let (status, body) = a.call(method, path, Key::Bearer(&read), None).await;
        let want = match (method, path) {
            ("GET", "/api/instances/Not_An_Id") => 400,
            (_, "/api/secret-admin-thing" | "/api/instances/acme/destroy" | "/api") => 404,
            ("DELETE", _) => 405,
            ("GET", _) => 200,
            _ => 403,
        };
        assert_eq!(status, want, "{method} {path}: {body}");
    }
    assert_eq!(a.queue.depth(), 0, "nothing was queued");
    assert_eq!(a.want("acme").await, Want::Running);
}

#[tokio::test]
async fn a_key_in_the_cookie_reads_but_never_changes() {
    let a = spawn(Ok(view())).await;
    seed_instance(&a.db.pool, "acme", "active").await;
    let write = a.key("browser", Scope::Write).await;
    assert_eq!(
        a.call("GET", "/api/instances", Key::Cookie(&write), None)
            .await
            .0,
        200
    );
    let (status, _) = a
        .call(
            "POST",
            "/api/instances/acme/stop",
            Key::Cookie(&write),
            None,
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(a.want("acme").await, Want::Running);
}

#[tokio::test]
async fn a_stop_is_audited_queued_and_survives_reconciles_until_a_start() {
    let a = spawn(Ok(view())).await;
    seed_instance(&a.db.pool, "acme", "active").await;
    let write = a.key("ops", Scope::Write).await;

    let (status, body) = a
        .call(
            "POST",
            "/api/instances/acme/stop",
            Key::Bearer(&write),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["changed"], true);
    assert_eq!(body["instance"]["want"], "stopped");
    assert_eq!(body["instance"]["subscription_wants"], "running");
    assert_eq!(body["instance"]["operator_stopped_by"], "operator:ops");
    let by: Option<String> = sqlx::query_scalar(
        "select operator_stopped_by from instances where app_name = 'acme' and operator_stopped_at is not null",
    )
    .fetch_optional(&a.db.pool)
    .await
    .unwrap();
    assert_eq!(by.as_deref(), Some("operator:ops"));
    let audit: Vec<(String, String, String)> =
        sqlx::query_as("select actor, action, outcome from audit_logs where target = 'acme'")
            .fetch_all(&a.db.pool)
            .await
            .unwrap();
    assert_eq!(
        audit,
        [("operator:ops".into(), "instance.stop".into(), "ok".into())]
    );
    let batch = a.queue.try_take().unwrap();
    assert_eq!(
        batch
            .instances
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>(),
        ["acme"]
    );
    assert_eq!(batch.reason(), Reason::Admin);
    // Every later pass reads the same: the paying subscription is overruled.
    assert_eq!(a.want("acme").await, Want::Stopped);

    let (_, again) = a
        .call(
            "POST",
            "/api/instances/acme/stop",
            Key::Bearer(&write),
            None,
        )
        .await;
    assert_eq!(again["changed"], false);

    let (status, body) = a
        .call(
            "POST",
            "/api/instances/acme/start",
            Key::Bearer(&write),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["instance"]["operator_stopped"], false);
    assert_eq!(body["instance"]["want"], "running");
    assert_eq!(a.want("acme").await, Want::Running);
    let outcomes: Vec<String> =
        sqlx::query_scalar("select outcome from audit_logs where target = 'acme' order by id")
            .fetch_all(&a.db.pool)
            .await
            .unwrap();
    assert_eq!(outcomes, ["ok", "skipped", "ok"]);
}

#[tokio::test]
async fn a_restart_is_requested_for_a_running_instance_and_refused_once_stopped() {
    let a = spawn(Ok(view())).await;
    seed_instance(&a.db.pool, "acme", "active").await;
    let write = a.key("ops", Scope::Write).await;
    let (status, body) = a
        .call(
            "POST",
            "/api/instances/acme/restart",
            Key::Bearer(&write),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["instance"]["restart_pending"], true);
    assert_eq!(body["instance"]["restart_requested_by"], "operator:ops");
    let pending: bool = sqlx::query_scalar(
        "select restart_requested_at > coalesce(restarted_at, '-infinity') from instances",
    )
    .fetch_one(&a.db.pool)
    .await
    .unwrap();
    assert!(pending);

    // A stop cancels the pending restart; a restart of the stopped instance is refused.
    let (_, body) = a
        .call(
            "POST",
            "/api/instances/acme/stop",
            Key::Bearer(&write),
            None,
        )
        .await;
    assert_eq!(body["instance"]["restart_pending"], false);
    let (status, body) = a
        .call(
            "POST",
            "/api/instances/acme/restart",
            Key::Bearer(&write),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("start it"),
        "{body}"
    );
}

#[tokio::test]
async fn instances_declared_in_files_are_refused_with_the_file_to_edit() {
    let a = spawn(Ok(view())).await;
    seed_instance(&a.db.pool, "shadowed", "active").await;
    let write = a.key("ops", Scope::Write).await;
    for id in ["filed", "shadowed"] {
        let (status, body) = a
            .call(
                "POST",
                &format!("/api/instances/{id}/stop"),
                Key::Bearer(&write),
                None,
            )
            .await;
        assert_eq!(status, 409, "{body}");
        let e = body["error"].as_str().unwrap();
        assert!(
            e.contains(&format!("{SHOWN}/instances/ops.toml:")) && e.contains("edit that file"),
            "{e}"
        );
    }
    let (status, _) = a
        .call(
            "POST",
            "/api/instances/nobody/stop",
            Key::Bearer(&write),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = a
        .call(
            "POST",
            "/api/instances/Bad_Id/stop",
            Key::Bearer(&write),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(a.queue.depth(), 0);
    assert_eq!(a.want("shadowed").await, Want::Running);
}

#[tokio::test]
async fn the_list_shows_status_health_host_and_drift_once_a_view_exists() {
    let a = spawn(Ok(view())).await;
    seed_instance(&a.db.pool, "beta", "active").await;
    seed_instance(&a.db.pool, "acme", "past_due").await;
    sqlx::query("update instances set health_status = 'unhealthy', health_error = 'backend: 502', last_health_check = now(), frontend_url = 'https://acme.example' where app_name = 'acme'")
        .execute(&a.db.pool)
        .await
        .unwrap();
    // The 40-day-old check is outside every window.
    for (ago, healthy) in [
        ("1 hour", true),
        ("2 hours", true),
        ("3 hours", false),
        ("4 hours", true),
        ("3 days", false),
        ("40 days", true),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into health_checks (instance_id, checked_at, healthy)
             select id, now() - interval '{ago}', {healthy} from instances where app_name = 'acme'"
        )))
        .execute(&a.db.pool)
        .await
        .unwrap();
    }
    let read = a.key("viewer", Scope::Read).await;
    let (_, list) = a
        .call("GET", "/api/instances", Key::Bearer(&read), None)
        .await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    // Database instances first, then those declared only in files.
    assert_eq!(ids, ["acme", "beta", "filed", "shadowed"]);
    let source = list[2]["source"].as_str().unwrap();
    assert!(
        source.starts_with(&format!("{SHOWN}/instances/")),
        "{source}"
    );
    assert!(
        list[2].get("status").is_none(),
        "a file instance has no row"
    );
    let acme = &list[0];
    assert_eq!(acme["status"], "running");
    assert_eq!(acme["host"], "dokku-1");
    assert_eq!(acme["tier"], "starter");
    assert_eq!(acme["health_status"], "unhealthy");
    assert_eq!(acme["health_error"], "backend: 502");
    assert!(acme["last_health_check"].is_string());
    assert_eq!(acme["operator_stopped"], false);
    assert_eq!(acme["urls"], json!({"frontend": "https://acme.example"}));
    assert_eq!(acme["drift"], Value::Null, "no view yet");
    assert!(acme["account"].is_string());
    assert_eq!(
        (&acme["uptime_24h"], &acme["uptime_30d"]),
        (&json!(75.0), &json!(60.0)),
        "3 of 4 checks healthy today, 3 of 5 in 30 days"
    );
    assert_eq!(list[1]["uptime_24h"], Value::Null, "beta was never checked");

    let (status, plan) = a.call("GET", "/api/plan", Key::Bearer(&read), None).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["plan"], "~ acme-backend (dokku-1)\n");
    assert_eq!(plan["changes"], 1);
    assert_eq!(plan["drifted"], json!(["acme"]));
    assert_eq!(plan["hosts"][0]["free_mb"], 13312);
    let (_, list) = a
        .call("GET", "/api/instances", Key::Bearer(&read), None)
        .await;
    assert_eq!(
        (&list[0]["drift"], &list[1]["drift"]),
        (&json!(true), &json!(false))
    );
    let (_, one) = a
        .call("GET", "/api/instances/beta", Key::Bearer(&read), None)
        .await;
    assert_eq!(one, list[1]);
}

#[tokio::test]
async fn the_plan_is_503_with_the_reason_when_it_cannot_be_computed() {
    let a = spawn(Err("desired state is invalid: tiers.toml:3".into())).await;
    let read = a.key("viewer", Scope::Read).await;
    let (status, body) = a.call("GET", "/api/plan", Key::Bearer(&read), None).await;
    assert_eq!(status, 503);
    assert!(
        body["error"].as_str().unwrap().contains("tiers.toml:3"),
        "{body}"
    );
}

#[tokio::test]
async fn reconcile_queues_the_named_instances_or_the_whole_fleet() {
    let a = spawn(Ok(view())).await;
    let write = a.key("ops", Scope::Write).await;
    let (status, body) = a
        .call("POST", "/api/reconcile", Key::Bearer(&write), None)
        .await;
    assert_eq!((status, &body["queued"]["full"]), (202, &json!(true)));
    assert!(a.queue.try_take().unwrap().full);

    let named = json!({"instances": ["acme", "beta"]});
    let (status, body) = a
        .call("POST", "/api/reconcile", Key::Bearer(&write), Some(named))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["queued"]["instances"], json!(["acme", "beta"]));
    let batch = a.queue.try_take().unwrap();
    assert!(!batch.full);
    assert_eq!(batch.instances.len(), 2);

    for bad in [
        json!({"instances": ["Bad_Id"]}),
        json!({"instances": []}),
        json!({"all": true}),
    ] {
        let (status, body) = a
            .call("POST", "/api/reconcile", Key::Bearer(&write), Some(bad))
            .await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(a.queue.depth(), 0);
}

#[tokio::test]
async fn a_customers_key_never_opens_the_admin_api() {
    let a = spawn(Ok(view())).await;
    seed_instance(&a.db.pool, "acme", "active").await;
    let key = a.key("customer", Scope::Write).await;
    sqlx::query("update api_keys set account_id = (select id from accounts limit 1)")
        .execute(&a.db.pool)
        .await
        .unwrap();
    assert_eq!(
        a.call("GET", "/api/instances", Key::Bearer(&key), None)
            .await
            .0,
        401
    );
}
