//! `POST /webhooks/stripe` against a real PostgreSQL: signatures,
//! deduplication, ordering, failures, and the reconcile it triggers on a
//! sandbox fleet.

mod common;

use common::app::{AppOptions, TestApp, eventually, fixture, spawn_app, spawn_app_with};
use common::fake_stripe::{FakeStripe, Mode};
use serde_json::{Value, json};
use std::time::Duration;

async fn subscription(app: &TestApp, id: &str) -> (String, Option<String>, Option<String>) {
    sqlx::query_as::<_, (String, Option<String>, Option<String>)>(
        "select status::text, tier::text, error from subscriptions where stripe_subscription_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn instance(
    app: &TestApp,
    sub: &str,
) -> Option<(String, String, Option<String>, Option<String>)> {
    sqlx::query_as::<_, (String, String, Option<String>, Option<String>)>(
        "select i.app_name, i.status::text, i.host, i.frontend_url
           from instances i join subscriptions s on s.id = i.subscription_id
          where s.stripe_subscription_id = $1",
    )
    .bind(sub)
    .fetch_optional(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_subscription_brings_up_a_running_instance_and_its_deletion_stops_it() {
    let app = spawn_app_with(AppOptions {
        worker: true,
        ..Default::default()
    })
    .await;
    for f in ["01-customer-created", "02-checkout-session-completed"] {
        assert_eq!(app.deliver(f).await.0, 200, "{f}");
    }
    let (status, body) = app.deliver("03-subscription-created-starter").await;
    assert_eq!((status, body), (200, json!({"status": "applied"})));

    let (name, host) = eventually(Duration::from_secs(60), "the instance to run", || async {
        match instance(&app, "sub_FixtureAlice").await {
            Some((name, s, Some(host), _)) if s == "running" => Some((name, host)),
            _ => None,
        }
    })
    .await;
    let (_, _, _, url) = instance(&app, "sub_FixtureAlice").await.unwrap();
    assert_eq!(
        url.as_deref(),
        Some(format!("https://{name}.mindroom.chat").as_str())
    );
    for role in ["backend", "frontend", "matrix"] {
        let a = app
            .sandbox_app(&host, &format!("{name}-{role}"))
            .expect("app exists on its host");
        assert_eq!(a["running"], json!(true), "{role} runs");
    }
    let provisioned: Option<chrono::DateTime<chrono::Utc>> =
        app.scalar("select provisioned_at from instances").await;
    assert!(provisioned.is_some());
    let audited: i64 = app
        .scalar("select count(*) from audit_logs where actor = 'roomctl' and action = 'app.create' and outcome = 'ok'")
        .await;
    assert_eq!(audited, 3, "one audit entry per create");

    // A replay changes nothing and starts no pass.
    let before = (
        app.counts().await,
        app.status.lock().unwrap().passes_started,
    );
    let updated: chrono::DateTime<chrono::Utc> =
        app.scalar("select updated_at from instances").await;
    assert_eq!(
        app.deliver("03-subscription-created-starter").await,
        (200, json!({"status": "duplicate"}))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        (
            app.counts().await,
            app.status.lock().unwrap().passes_started
        ),
        before
    );
    assert_eq!(
        app.scalar::<chrono::DateTime<chrono::Utc>>("select updated_at from instances")
            .await,
        updated
    );

    assert_eq!(app.deliver("10-subscription-deleted").await.0, 200);
    eventually(Duration::from_secs(60), "the instance to stop", || async {
        let (_, s, _, _) = instance(&app, "sub_FixtureAlice").await?;
        (s == "stopped").then_some(())
    })
    .await;
    for role in ["backend", "frontend", "matrix"] {
        let a = app
            .sandbox_app(&host, &format!("{name}-{role}"))
            .expect("kept: retention has not passed");
        assert_eq!(a["running"], json!(false), "{role} stopped");
    }
    let before = app.counts().await;
    assert_eq!(
        app.deliver("10-subscription-deleted").await,
        (200, json!({"status": "duplicate"}))
    );
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn the_fixture_story_leaves_the_newest_state_and_records_every_event() {
    let app = spawn_app().await;
    let story = [
        ("01-customer-created", "applied"),
        ("02-checkout-session-completed", "recorded"),
        ("03-subscription-created-starter", "applied"),
        ("04-invoice-payment-succeeded", "recorded"),
        ("05-subscription-updated-professional", "applied"),
        ("06-subscription-updated-starter-stale", "stale"),
        ("07-invoice-payment-failed", "recorded"),
        ("08-subscription-updated-past-due", "applied"),
        ("09-subscription-trial-will-end", "applied"),
        ("10-subscription-deleted", "applied"),
        ("11-unknown-event-type", "recorded"),
        ("12-subscription-created-unknown-price", "rejected"),
    ];
    for (f, outcome) in story {
        assert_eq!(
            app.deliver(f).await,
            (200, json!({"status": outcome})),
            "{f}"
        );
    }
    assert_eq!(
        subscription(&app, "sub_FixtureAlice").await,
        ("cancelled".into(), Some("professional".into()), None),
        "the stale starter update did not win"
    );
    let email: Option<String> = app
        .scalar("select email from accounts where stripe_customer_id = 'cus_FixtureAlice'")
        .await;
    assert_eq!(email.as_deref(), Some("alice@example.com"));
    let events: Vec<(String, String)> = sqlx::query_as(
        "select stripe_event_id, outcome from webhook_events order by stripe_event_id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(events.len(), 12);
    assert!(events.iter().all(|(_, o)| !o.is_empty()));
    let failed_payments: i64 =
        app.scalar("select count(*) from audit_logs where action = 'invoice.payment_failed' and outcome = 'failed'").await;
    assert_eq!(failed_payments, 1);
}

#[tokio::test]
async fn an_unknown_price_is_recorded_as_an_error_and_never_becomes_free() {
    let app = spawn_app().await;
    assert_eq!(
        app.deliver("12-subscription-created-unknown-price").await.1,
        json!({"status": "rejected"})
    );
    let (status, tier, error) = subscription(&app, "sub_FixtureBob").await;
    assert_eq!((status.as_str(), tier), ("active", None));
    assert!(error.unwrap().contains("price_fixture_not_in_any_tier"));
    let audit: Value = app
        .scalar("select details from audit_logs where action = 'subscription.unknown_price' and outcome = 'error'")
        .await;
    assert_eq!(audit["price"], json!("price_fixture_not_in_any_tier"));
    assert!(
        instance(&app, "sub_FixtureBob").await.is_none(),
        "no instance without a tier"
    );
    let error_event: Option<String> = app
        .scalar("select error from webhook_events where stripe_event_id = 'evt_fx_12'")
        .await;
    assert!(error_event.is_some());
}

#[tokio::test]
async fn an_older_event_never_overwrites_newer_subscription_state() {
    let app = spawn_app().await;
    app.deliver("05-subscription-updated-professional").await;
    assert_eq!(
        app.deliver("06-subscription-updated-starter-stale").await.1,
        json!({"status": "stale"})
    );
    assert_eq!(
        subscription(&app, "sub_FixtureAlice").await.1.as_deref(),
        Some("professional")
    );
    let price: String = app
        .scalar("select stripe_price_id from subscriptions")
        .await;
    assert_eq!(price, "price_fixture_professional_monthly");
}

#[tokio::test]
async fn bad_signatures_answer_400_and_write_nothing() {
    let app = spawn_app().await;
    let empty = app.counts().await;
    let body = fixture("03-subscription-created-starter");
    let now = chrono::Utc::now().timestamp();
    let cases = [
        Some(roomctl::webhook::sign(&body, "whsec_wrong", now)),
        Some(roomctl::webhook::sign(
            &body,
            common::app::SECRET,
            now - 301,
        )),
        Some("t=1,v0=abc".to_string()),
        Some("nonsense".to_string()),
        None,
    ];
    for header in &cases {
        let (status, _) = app.post_with(&body, header.as_deref()).await;
        assert_eq!(status, 400, "{header:?}");
    }
    let tampered = fixture("n1-tampered-body");
    let header = roomctl::webhook::sign(&body, common::app::SECRET, now);
    assert_eq!(app.post_with(&tampered, Some(&header)).await.0, 400);
    assert_eq!(app.counts().await, empty);
}

#[tokio::test]
async fn malformed_json_answers_400_and_an_oversized_body_413() {
    let app = spawn_app().await;
    let empty = app.counts().await;
    assert_eq!(app.post(b"{\"id\": \"evt_1\", \"type\": ").await.0, 400);
    assert_eq!(app.post(br#"{"id":"evt_x","type":"customer.subscription.created","created":1,"data":{"object":{"object":"subscription"}}}"#).await.0, 400);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20));
    assert_eq!(app.post(big.as_bytes()).await.0, 413);
    assert_eq!(app.counts().await, empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_of_one_event_apply_it_once() {
    let app = spawn_app().await;
    let body = fixture("03-subscription-created-starter");
    let answers = app.post_concurrently(vec![body; 8]).await;
    let applied = answers
        .iter()
        .filter(|a| a.1 == json!({"status": "applied"}))
        .count();
    let duplicates = answers
        .iter()
        .filter(|a| a.1 == json!({"status": "duplicate"}))
        .count();
    assert_eq!((applied, duplicates), (1, 7), "{answers:?}");
    let counts = app.counts().await;
    assert!(counts.contains(&("webhook_events".to_string(), 1)));
    assert!(counts.contains(&("instances".to_string(), 1)));
    assert!(counts.contains(&("subscriptions".to_string(), 1)));
}

#[tokio::test]
async fn a_failure_while_processing_answers_5xx_and_leaves_no_partial_write() {
    let app = spawn_app().await;
    app.deliver("01-customer-created").await;
    let before = app.counts().await;
    // The last write of a subscription event is its audit entry: make it fail.
    sqlx::raw_sql(
        "create function fail_audit() returns trigger language plpgsql as $$ begin raise exception 'disk full'; end $$;
         create trigger fail_audit before insert on audit_logs for each row execute function fail_audit();",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    let (status, body) = app.deliver("03-subscription-created-starter").await;
    assert!(status >= 500, "{status} {body}");
    assert!(
        !body.to_string().contains("disk full"),
        "no internals leak: {body}"
    );
    assert_eq!(
        app.counts().await,
        before,
        "nothing of the event was written"
    );

    sqlx::raw_sql("drop trigger fail_audit on audit_logs")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        app.deliver("03-subscription-created-starter").await,
        (200, json!({"status": "applied"})),
        "Stripe's retry succeeds"
    );
}

#[tokio::test]
async fn an_unreachable_database_answers_503() {
    let app = spawn_app().await;
    app.db.pool.close().await;
    assert_eq!(app.deliver("01-customer-created").await.0, 503);
}

/// An app that re-fetches from a fake Stripe whose current copy of the
/// subscription is the object of the fixture delivery `name`.
async fn app_with_stripe_holding(name: &str) -> (FakeStripe, TestApp) {
    let stripe = FakeStripe::start().await;
    let app = spawn_app_with(AppOptions {
        stripe: Some(stripe.url.clone()),
        ..Default::default()
    })
    .await;
    let current: Value = serde_json::from_slice(&fixture(name)).unwrap();
    stripe.put(current["data"]["object"].clone());
    (stripe, app)
}

#[tokio::test]
async fn with_an_api_key_the_subscription_is_refetched_instead_of_trusting_the_payload() {
    let (stripe, app) = app_with_stripe_holding("05-subscription-updated-professional").await;
    // The delivery carries the stale starter copy; Stripe says professional.
    assert_eq!(
        app.deliver("06-subscription-updated-starter-stale").await,
        (200, json!({"status": "applied"}))
    );
    assert_eq!(
        subscription(&app, "sub_FixtureAlice").await.1.as_deref(),
        Some("professional")
    );
    assert_eq!(stripe.calls(), 1);
    // A replay is deduplicated before any call to Stripe.
    app.deliver("06-subscription-updated-starter-stale").await;
    assert_eq!(stripe.calls(), 1);
}

#[tokio::test]
async fn a_stripe_api_outage_answers_503_and_writes_nothing() {
    let (stripe, app) = app_with_stripe_holding("03-subscription-created-starter").await;
    let empty = app.counts().await;
    for mode in [
        Mode::RateLimited,
        Mode::ServerError,
        Mode::Slow(Duration::from_secs(4)),
    ] {
        stripe.set_mode(mode.clone());
        let (status, _) = app.deliver("03-subscription-created-starter").await;
        assert_eq!(status, 503, "{mode:?}");
        assert_eq!(app.counts().await, empty, "{mode:?}");
    }
    stripe.set_mode(Mode::Normal);
    assert_eq!(app.deliver("03-subscription-created-starter").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_events_for_one_customer_all_apply_and_the_newest_wins() {
    let names = [
        "01-customer-created",
        "02-checkout-session-completed",
        "03-subscription-created-starter",
        "04-invoice-payment-succeeded",
        "05-subscription-updated-professional",
        "06-subscription-updated-starter-stale",
        "09-subscription-trial-will-end",
    ];
    for _round in 0..5 {
        let app = spawn_app().await;
        let answers = app
            .post_concurrently(names.iter().map(|n| fixture(n)).collect())
            .await;
        for (name, (status, body)) in names.iter().zip(&answers) {
            assert_eq!(*status, 200, "{name}: {body}");
        }
        // 09 (past_due, professional) is the newest subscription event.
        assert_eq!(
            subscription(&app, "sub_FixtureAlice").await,
            ("past_due".into(), Some("professional".into()), None)
        );
        let n: i64 = app.scalar("select count(*) from webhook_events").await;
        assert_eq!(n, names.len() as i64);
    }
}
