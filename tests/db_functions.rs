//! The platform's SQL functions against a real PostgreSQL.

mod common;

use common::pg::test_db;
use common::schema::*;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

#[tokio::test]
async fn get_user_instance_lists_live_instances_newest_first() {
    let db = test_db().await;
    let alice = account(&db.pool, "alice").await;
    let bob = account(&db.pool, "bob").await;
    let mut expected = Vec::new();
    for (app, status, age_days) in [
        ("old", "deprovisioned", 30),
        ("mid", "running", 20),
        ("new", "stopped", 10),
        ("newest", "provisioning", 1),
    ] {
        let sub = subscription(&db.pool, alice, "active").await;
        sqlx::query(
            "insert into public.instances (subscription_id, app_name, subdomain, status, created_at) \
             values ($1, $2, $2, $3::public.instance_status, now() - make_interval(days => $4))",
        )
        .bind(sub)
        .bind(app)
        .bind(status)
        .bind(age_days)
        .execute(&db.pool)
        .await
        .unwrap();
        if status != "deprovisioned" {
            expected.insert(0, app.to_string());
        }
    }
    let bob_sub = subscription(&db.pool, bob, "active").await;
    sqlx::query(
        "insert into public.instances (subscription_id, app_name, subdomain) values ($1, 'bobs', 'bobs')",
    )
    .bind(bob_sub)
    .execute(&db.pool)
    .await
    .unwrap();

    let apps = |account: Uuid| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("select app_name from public.get_user_instance($1)")
                .bind(account)
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(apps(alice).await, expected);
    assert_eq!(apps(bob).await, ["bobs"]);
    assert!(apps(Uuid::new_v4()).await.is_empty());
}

#[tokio::test]
async fn a_customer_calling_the_functions_still_sees_only_their_own_rows() {
    let db = test_db().await;
    let (alice, bob, _) = world(&db.pool).await;
    let mut tx = session(&db.pool, "authenticated", Some(alice.account)).await;

    let own: Vec<Uuid> = sqlx::query_scalar("select id from public.get_user_instance($1)")
        .bind(alice.account)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(own, [alice.instance]);
    let others: Vec<Uuid> = sqlx::query_scalar("select id from public.get_user_instance($1)")
        .bind(bob.account)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert!(others.is_empty(), "saw Bob's instance");

    let active = "select public.has_active_subscription($1)";
    let mine: bool = sqlx::query_scalar(active)
        .bind(alice.account)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let bobs: bool = sqlx::query_scalar(active)
        .bind(bob.account)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(mine);
    assert!(!bobs, "saw Bob's subscription");

    let limits = "select count(*) from public.check_usage_limits($1)";
    let mine: i64 = sqlx::query_scalar(limits)
        .bind(alice.subscription)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let bobs: i64 = sqlx::query_scalar(limits)
        .bind(bob.subscription)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!((mine, bobs), (1, 0));
    drop(tx);

    // Customers report no usage of their own.
    let a = alice.account;
    for sql in [
        format!("select public.track_usage('{}', 1)", alice.subscription),
        "select public.reset_daily_usage()".to_string(),
    ] {
        let state = refused(&db.pool, "authenticated", Some(a), &sql).await;
        assert_eq!(state, INSUFFICIENT_PRIVILEGE, "{sql}");
    }
}

type Usage = (i32, i32, f64, bool);

async fn track(pool: &PgPool, args: &str) -> Result<Usage, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "select messages_sent, agents_used, storage_used_gb::float8, metric_date = current_date \
         from public.track_usage({args})"
    )))
    .fetch_one(pool)
    .await
}

async fn usage_rows(pool: &PgPool, sub: Uuid) -> Vec<(i32, i32, f64, i32)> {
    sqlx::query_as(
        "select messages_sent, agents_used, storage_used_gb::float8, current_date - metric_date \
         from public.usage_metrics where subscription_id = $1 order by metric_date desc",
    )
    .bind(sub)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn track_usage_counts_messages_and_sets_gauges_in_todays_row() {
    let db = test_db().await;
    let acc = account(&db.pool, "alice").await;
    let sub = subscription(&db.pool, acc, "active").await;

    assert_eq!(
        track(&db.pool, &format!("'{sub}', 3")).await.unwrap(),
        (3, 0, 0.0, true)
    );
    assert_eq!(
        track(&db.pool, &format!("'{sub}', 2, 4, 1.5"))
            .await
            .unwrap(),
        (5, 4, 1.5, true)
    );
    // Gauges not given are kept; the default adds no messages.
    assert_eq!(
        track(&db.pool, &format!("'{sub}'")).await.unwrap(),
        (5, 4, 1.5, true)
    );
    assert_eq!(
        track(
            &db.pool,
            &format!("p_subscription_id => '{sub}', p_storage_gb => 0.25")
        )
        .await
        .unwrap(),
        (5, 4, 0.25, true)
    );
    // A gauge may go down to zero.
    assert_eq!(
        track(&db.pool, &format!("'{sub}', 0, 0, 0")).await.unwrap(),
        (5, 0, 0.0, true)
    );
    assert_eq!(usage_rows(&db.pool, sub).await, [(5, 0, 0.0, 0)]);
}

#[tokio::test]
async fn track_usage_starts_a_new_day_from_the_latest_gauges() {
    let db = test_db().await;
    let acc = account(&db.pool, "alice").await;
    let sub = subscription(&db.pool, acc, "active").await;
    sqlx::query(
        "insert into public.usage_metrics (subscription_id, metric_date, messages_sent, agents_used, storage_used_gb) \
         values ($1, current_date - 5, 50, 1, 0.5), ($1, current_date - 2, 70, 3, 2.5)",
    )
    .bind(sub)
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        track(&db.pool, &format!("'{sub}', 1")).await.unwrap(),
        (1, 3, 2.5, true)
    );
    assert_eq!(
        usage_rows(&db.pool, sub).await,
        [(1, 3, 2.5, 0), (70, 3, 2.5, 2), (50, 1, 0.5, 5)]
    );
}

#[tokio::test]
async fn track_usage_rejects_negative_input_and_unknown_subscriptions() {
    let db = test_db().await;
    let acc = account(&db.pool, "alice").await;
    let sub = subscription(&db.pool, acc, "active").await;
    for (args, param) in [
        (format!("'{sub}', -1"), "p_messages"),
        (format!("'{sub}', 0, -1"), "p_agents"),
        (format!("'{sub}', 0, null, -0.001"), "p_storage_gb"),
    ] {
        let e = track(&db.pool, &args).await.expect_err(&args);
        assert_eq!(sqlstate(&e), "22023", "{e}");
        assert!(e.to_string().contains(param), "{e}");
        assert!(e.to_string().contains("negative"), "{e}");
    }
    assert!(usage_rows(&db.pool, sub).await.is_empty());

    let e = track(&db.pool, &format!("'{}', 1", Uuid::new_v4()))
        .await
        .expect_err("usage for a subscription that does not exist");
    assert_eq!(sqlstate(&e), "23503", "{e}");
}

#[tokio::test]
async fn has_active_subscription_follows_status_and_trial_end() {
    let db = test_db().await;
    let cases = [
        ("active", "null", true),
        ("trialing", "null", true),
        ("trialing", "now() + interval '1 day'", true),
        ("trialing", "now() - interval '1 second'", false),
        ("past_due", "null", false),
        ("cancelled", "null", false),
        ("incomplete", "null", false),
        ("paused", "null", false),
    ];
    for (status, trial_end, expected) in cases {
        let acc = account(&db.pool, status).await;
        let sub = subscription(&db.pool, acc, status).await;
        sqlx::query(AssertSqlSafe(format!(
            "update public.subscriptions set trial_ends_at = {trial_end} where id = $1"
        )))
        .bind(sub)
        .execute(&db.pool)
        .await
        .unwrap();
        let active: bool = sqlx::query_scalar("select public.has_active_subscription($1)")
            .bind(acc)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(active, expected, "{status}, trial ends {trial_end}");
    }

    // Any one good subscription is enough; none at all is not.
    let acc = account(&db.pool, "mixed").await;
    subscription(&db.pool, acc, "cancelled").await;
    subscription(&db.pool, acc, "active").await;
    let none = account(&db.pool, "none").await;
    for (acc, expected) in [(acc, true), (none, false), (Uuid::new_v4(), false)] {
        let active: bool = sqlx::query_scalar("select public.has_active_subscription($1)")
            .bind(acc)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(active, expected);
    }
    let null: bool = sqlx::query_scalar("select public.has_active_subscription(null)")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!null);
}

type Limits = (bool, i32, i32, i32, i32, f64, i32);

async fn limits(pool: &PgPool, sub: Uuid) -> Vec<Limits> {
    sqlx::query_as(
        "select within_limits, messages_today, max_messages_per_day, agents_used, max_agents, \
         storage_used_gb::float8, max_storage_gb from public.check_usage_limits($1)",
    )
    .bind(sub)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn check_usage_limits_counts_a_missing_usage_row_as_zero() {
    let db = test_db().await;
    let acc = account(&db.pool, "alice").await;
    let sub = subscription(&db.pool, acc, "active").await;
    // Yesterday's usage does not count today.
    sqlx::query(
        "insert into public.usage_metrics (subscription_id, metric_date, messages_sent, agents_used, storage_used_gb) \
         values ($1, current_date - 1, 1000, 9, 9)",
    )
    .bind(sub)
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(limits(&db.pool, sub).await, [(true, 0, 100, 0, 1, 0.0, 1)]);
    assert!(limits(&db.pool, Uuid::new_v4()).await.is_empty());
}

#[tokio::test]
async fn check_usage_limits_flags_any_limit_exceeded() {
    let db = test_db().await;
    let acc = account(&db.pool, "alice").await;
    let sub = subscription(&db.pool, acc, "active").await;
    sqlx::query(
        "update public.subscriptions set max_messages_per_day = 10, max_agents = 2, max_storage_gb = 5 \
         where id = $1",
    )
    .bind(sub)
    .execute(&db.pool)
    .await
    .unwrap();

    // Exactly at every limit is still within them.
    track(&db.pool, &format!("'{sub}', 10, 2, 5"))
        .await
        .unwrap();
    assert_eq!(limits(&db.pool, sub).await, [(true, 10, 10, 2, 2, 5.0, 5)]);

    track(&db.pool, &format!("'{sub}', 1")).await.unwrap();
    assert_eq!(limits(&db.pool, sub).await, [(false, 11, 10, 2, 2, 5.0, 5)]);

    sqlx::query("update public.usage_metrics set messages_sent = 0 where subscription_id = $1")
        .bind(sub)
        .execute(&db.pool)
        .await
        .unwrap();
    track(&db.pool, &format!("'{sub}', 0, 3")).await.unwrap();
    assert_eq!(limits(&db.pool, sub).await, [(false, 0, 10, 3, 2, 5.0, 5)]);

    track(&db.pool, &format!("'{sub}', 0, 2, 5.001"))
        .await
        .unwrap();
    assert_eq!(
        limits(&db.pool, sub).await,
        [(false, 0, 10, 2, 2, 5.001, 5)]
    );
}

#[tokio::test]
async fn reset_daily_usage_starts_the_day_once_and_prunes_old_rows() {
    let db = test_db().await;
    let mut subs = Vec::new();
    for status in [
        "active",
        "trialing",
        "past_due",
        "cancelled",
        "incomplete",
        "paused",
    ] {
        let acc = account(&db.pool, status).await;
        subs.push((status, subscription(&db.pool, acc, status).await));
    }
    let active = subs[0].1;
    let trialing = subs[1].1;
    let cancelled = subs[3].1;
    sqlx::query(
        "insert into public.usage_metrics (subscription_id, metric_date, messages_sent, agents_used, storage_used_gb) \
         values ($1, current_date - 100, 1, 1, 1), ($1, current_date - 90, 2, 2, 2), \
                ($1, current_date - 1, 40, 3, 1.25), ($2, current_date - 91, 5, 5, 5)",
    )
    .bind(active)
    .bind(cancelled)
    .execute(&db.pool)
    .await
    .unwrap();
    // Usage already recorded today is left alone.
    track(&db.pool, &format!("'{trialing}', 7, 1"))
        .await
        .unwrap();

    let reset = "select public.reset_daily_usage()";
    let inserted: i32 = sqlx::query_scalar(reset).fetch_one(&db.pool).await.unwrap();
    assert_eq!(
        inserted, 2,
        "active and past_due get a row; trialing had one"
    );

    // Gauges carried over, messages start at zero; 90 days kept, older gone.
    assert_eq!(
        usage_rows(&db.pool, active).await,
        [(0, 3, 1.25, 0), (40, 3, 1.25, 1), (2, 2, 2.0, 90)]
    );
    assert_eq!(usage_rows(&db.pool, trialing).await, [(7, 1, 0.0, 0)]);
    assert_eq!(usage_rows(&db.pool, subs[2].1).await, [(0, 0, 0.0, 0)]);
    for (status, sub) in &subs[3..] {
        assert!(
            usage_rows(&db.pool, *sub).await.is_empty(),
            "{status} got a row"
        );
    }

    let before = count(&db.pool, "usage_metrics").await;
    let again: i32 = sqlx::query_scalar(reset).fetch_one(&db.pool).await.unwrap();
    assert_eq!(again, 0);
    assert_eq!(count(&db.pool, "usage_metrics").await, before);

    // A shorter retention prunes more; today's rows always stay.
    let none: i32 = sqlx::query_scalar("select public.reset_daily_usage(0)")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(none, 0);
    assert_eq!(usage_rows(&db.pool, active).await, [(0, 3, 1.25, 0)]);
}

#[tokio::test]
async fn reset_daily_usage_rejects_a_negative_retention() {
    let db = test_db().await;
    for arg in ["-1", "null"] {
        let e = sqlx::query(AssertSqlSafe(format!(
            "select public.reset_daily_usage({arg})"
        )))
        .execute(&db.pool)
        .await
        .expect_err(arg);
        assert_eq!(sqlstate(&e), "22023", "{e}");
        assert!(e.to_string().contains("p_keep_days"), "{e}");
    }
}
