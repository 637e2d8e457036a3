//! Signed but unlucky or hostile Stripe deliveries against a real
//! PostgreSQL: NUL characters in strings, events of the same second that
//! disagree, and event types written to look like metric lines.

mod common;

use common::app::{TestApp, fixture, spawn_app};
use serde_json::{Value, json};

/// A fixture delivery as JSON, to edit before posting.
fn event(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

async fn post(app: &TestApp, e: &Value) -> (u16, Value) {
    app.post(serde_json::to_string(e).unwrap().as_bytes()).await
}

async fn status_of(app: &TestApp, sub: &str) -> String {
    sqlx::query_scalar::<_, String>(
        "select status::text from subscriptions where stripe_subscription_id = $1",
    )
    .bind(sub)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_nul_in_a_customer_name_is_stored_as_a_replacement_character_and_the_event_applies() {
    let app = spawn_app().await;
    let mut e = event("01-customer-created");
    e["data"]["object"]["name"] = json!("Ali\u{0}ce");
    e["data"]["object"]["metadata"] = json!({"no\u{0}te": "a\u{0}b"});
    let body = serde_json::to_string(&e).unwrap();
    assert!(body.contains("\\u0000"), "the delivery carries the escape");

    assert_eq!(
        app.post(body.as_bytes()).await,
        (200, json!({"status": "applied"}))
    );
    let name: String = app.scalar("select full_name from accounts").await;
    assert_eq!(name, "Ali\u{FFFD}ce");
    let note: String = app
        .scalar("select payload #>> '{data,object,metadata,no\u{FFFD}te}' from webhook_events")
        .await;
    assert_eq!(note, "a\u{FFFD}b");
    // A redelivery is a replay, not a second failure or a second row.
    assert_eq!(
        app.post(body.as_bytes()).await,
        (200, json!({"status": "duplicate"}))
    );
}

#[tokio::test]
async fn a_nul_in_a_subscription_event_still_requests_its_instance() {
    let app = spawn_app().await;
    let mut e = event("03-subscription-created-starter");
    e["data"]["object"]["metadata"] = json!({"team": "\u{0}"});
    e["data"]["object"]["items"]["data"][0]["metadata"] = json!({"k": "v\u{0}"});
    assert_eq!(post(&app, &e).await, (200, json!({"status": "applied"})));
    assert_eq!(status_of(&app, "sub_FixtureAlice").await, "active");
    let instances: i64 = app.scalar("select count(*) from instances").await;
    assert_eq!(instances, 1);
}

#[tokio::test]
async fn an_update_of_the_same_second_never_revives_a_cancelled_subscription() {
    let app = spawn_app().await;
    app.deliver("03-subscription-created-starter").await;
    let deleted = event("10-subscription-deleted");
    let mut revived = event("05-subscription-updated-professional");
    revived["id"] = json!("evt_same_second_active");
    revived["created"] = deleted["created"].clone();
    assert_eq!(post(&app, &deleted).await.0, 200);

    assert_eq!(
        post(&app, &revived).await,
        (200, json!({"status": "stale"}))
    );
    assert_eq!(status_of(&app, "sub_FixtureAlice").await, "cancelled");
}

#[tokio::test]
async fn a_cancellation_of_the_same_second_wins_over_an_update_delivered_first() {
    let app = spawn_app().await;
    app.deliver("03-subscription-created-starter").await;
    let deleted = event("10-subscription-deleted");
    let mut active = event("05-subscription-updated-professional");
    active["id"] = json!("evt_same_second_active");
    active["created"] = deleted["created"].clone();
    assert_eq!(post(&app, &active).await.0, 200);

    assert_eq!(
        post(&app, &deleted).await,
        (200, json!({"status": "applied"}))
    );
    assert_eq!(status_of(&app, "sub_FixtureAlice").await, "cancelled");
}

#[tokio::test]
async fn an_update_of_the_same_second_never_undeletes_a_customer() {
    let app = spawn_app().await;
    let mut deleted = event("01-customer-created");
    deleted["id"] = json!("evt_customer_deleted");
    deleted["type"] = json!("customer.deleted");
    let mut updated = event("01-customer-created");
    updated["id"] = json!("evt_customer_updated");
    updated["type"] = json!("customer.updated");
    assert_eq!(post(&app, &deleted).await.0, 200);

    assert_eq!(
        post(&app, &updated).await,
        (200, json!({"status": "stale"}))
    );
    let deleted_at: Option<chrono::DateTime<chrono::Utc>> =
        app.scalar("select deleted_at from accounts").await;
    assert!(deleted_at.is_some(), "the customer stays deleted");
}

#[tokio::test]
async fn a_hostile_event_type_cannot_add_a_line_to_the_metrics() {
    let app = spawn_app().await;
    let mut e = event("11-unknown-event-type");
    e["type"] = json!("x\"} 1\nroomctl_leader 7\n# \\");
    assert_eq!(post(&app, &e).await.0, 200);

    let text = app.metrics.encode(0, 0, false);
    let webhook_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("roomctl_webhook_events_total"))
        .collect();
    assert_eq!(webhook_lines.len(), 1, "{text}");
    assert!(
        webhook_lines[0].ends_with(",outcome=\"recorded\"} 1"),
        "{text}"
    );
    let leader: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("roomctl_leader"))
        .collect();
    assert_eq!(leader, ["roomctl_leader 0"], "{text}");
}
