//! Row-level security against a real PostgreSQL: each customer sees only
//! their own rows; admins, service_role and the owner as designed.

mod common;

use common::pg::test_db;
use common::schema::*;
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

#[tokio::test]
async fn a_customer_sees_only_their_own_rows_in_every_table() {
    let db = test_db().await;
    let (alice, bob, _root) = world(&db.pool).await;
    for who in [alice, bob] {
        let mut tx = session(&db.pool, "authenticated", Some(who.account)).await;
        for (table, filter) in CUSTOMER_TABLES {
            let own = own_ids(&db.pool, table, filter, who.account).await;
            assert!(!own.is_empty(), "no {table} rows to test with");
            assert!(
                count(&db.pool, table).await > own.len() as i64,
                "{table}: everything is theirs, the test proves nothing"
            );
            assert_eq!(ids(&mut tx, table).await, own, "{table}");
        }
    }
}

#[tokio::test]
async fn a_customer_has_no_access_to_webhook_events() {
    let db = test_db().await;
    let (alice, _, _) = world(&db.pool).await;
    let state = refused(
        &db.pool,
        "authenticated",
        Some(alice.account),
        "select * from public.webhook_events",
    )
    .await;
    assert_eq!(state, INSUFFICIENT_PRIVILEGE);
}

#[tokio::test]
async fn a_customer_cannot_change_their_subscription_instance_or_history() {
    let db = test_db().await;
    let (alice, _, _) = world(&db.pool).await;
    let a = alice.account;
    for sql in [
        format!(
            "update public.subscriptions set max_agents = 99 where id = '{}'",
            alice.subscription
        ),
        format!(
            "update public.instances set status = 'stopped' where id = '{}'",
            alice.instance
        ),
        format!("insert into public.subscriptions (account_id, status) values ('{a}', 'active')"),
        format!("delete from public.accounts where id = '{a}'"),
        format!("delete from public.audit_logs where account_id = '{a}'"),
        format!(
            "update public.usage_metrics set messages_sent = 0 where subscription_id = '{}'",
            alice.subscription
        ),
        format!("update public.api_keys set revoked_at = null where account_id = '{a}'"),
        "truncate public.audit_logs".to_string(),
    ] {
        let state = refused(&db.pool, "authenticated", Some(a), &sql).await;
        assert_eq!(state, INSUFFICIENT_PRIVILEGE, "{sql}");
    }
}

#[tokio::test]
async fn a_customer_can_edit_their_contact_details_and_nothing_else() {
    let db = test_db().await;
    let (alice, bob, _) = world(&db.pool).await;
    let mut tx = session(&db.pool, "authenticated", Some(alice.account)).await;
    let own = sqlx::query(
        "update public.accounts set full_name = 'Alice A.', email = 'a@example.org', \
         company_name = 'A Corp' where id = $1",
    )
    .bind(alice.account)
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(own.rows_affected(), 1);
    let others = sqlx::query("update public.accounts set full_name = 'pwned' where id = $1")
        .bind(bob.account)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(others.rows_affected(), 0, "updated someone else's account");
    tx.commit().await.unwrap();

    let (name, company): (String, String) =
        sqlx::query_as("select full_name, company_name from public.accounts where id = $1")
            .bind(alice.account)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), company.as_str()), ("Alice A.", "A Corp"));
    let bob_name: String =
        sqlx::query_scalar("select full_name from public.accounts where id = $1")
            .bind(bob.account)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(bob_name, "bob");

    let a = alice.account;
    for column in [
        "is_admin = true",
        "stripe_customer_id = 'cus_x'",
        "deleted_at = null",
    ] {
        let sql = format!("update public.accounts set {column} where id = '{a}'");
        let state = refused(&db.pool, "authenticated", Some(a), &sql).await;
        assert_eq!(state, INSUFFICIENT_PRIVILEGE, "{sql}");
    }
}

#[tokio::test]
async fn an_admin_sees_every_account_subscription_and_instance() {
    let db = test_db().await;
    let (_, _, root) = world(&db.pool).await;
    let mut tx = session(&db.pool, "authenticated", Some(root.account)).await;
    for table in ["accounts", "subscriptions", "instances"] {
        assert_eq!(
            ids(&mut tx, table).await.len() as i64,
            count(&db.pool, table).await,
            "{table}"
        );
    }
    // Elsewhere an admin is a customer like any other.
    for (table, filter) in CUSTOMER_TABLES {
        if !["accounts", "subscriptions", "instances"].contains(&table) {
            let own = own_ids(&db.pool, table, filter, root.account).await;
            assert_eq!(ids(&mut tx, table).await, own, "{table}");
        }
    }
    let is_admin: bool = sqlx::query_scalar("select public.is_admin()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(is_admin);
}

#[tokio::test]
async fn a_deleted_admin_account_is_no_longer_admin() {
    let db = test_db().await;
    let (_, _, root) = world(&db.pool).await;
    sqlx::query("update public.accounts set deleted_at = now() where id = $1")
        .bind(root.account)
        .execute(&db.pool)
        .await
        .unwrap();
    let mut tx = session(&db.pool, "authenticated", Some(root.account)).await;
    assert_eq!(
        ids(&mut tx, "accounts").await,
        vec![root.account.to_string()]
    );
}

#[tokio::test]
async fn without_a_signed_in_user_nothing_is_visible() {
    let db = test_db().await;
    world(&db.pool).await;
    let mut tx = session(&db.pool, "authenticated", None).await;
    for (table, _) in CUSTOMER_TABLES {
        assert_eq!(ids(&mut tx, table).await, Vec::<String>::new(), "{table}");
    }
    let uid: Option<Uuid> = sqlx::query_scalar("select auth.uid()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(uid, None);
}

#[tokio::test]
async fn anon_sees_nothing() {
    let db = test_db().await;
    let (alice, _, _) = world(&db.pool).await;
    for table in CORE_TABLES.iter().chain(&["_sqlx_migrations"]) {
        // Even with a subject in the claims: anon is not signed in.
        let sql = format!("select * from public.{table}");
        let state = refused(&db.pool, "anon", Some(alice.account), &sql).await;
        assert_eq!(state, INSUFFICIENT_PRIVILEGE, "{table}");
    }
    let sql = format!("select public.has_active_subscription('{}')", alice.account);
    assert_eq!(
        refused(&db.pool, "anon", None, &sql).await,
        INSUFFICIENT_PRIVILEGE
    );
}

#[tokio::test]
async fn the_migrations_table_is_hidden_from_customers() {
    let db = test_db().await;
    let (alice, _, _) = world(&db.pool).await;
    for sql in [
        "select * from public._sqlx_migrations",
        "delete from public._sqlx_migrations",
    ] {
        let state = refused(&db.pool, "authenticated", Some(alice.account), sql).await;
        assert_eq!(state, INSUFFICIENT_PRIVILEGE, "{sql}");
    }
}

#[tokio::test]
async fn service_role_has_full_access() {
    let db = test_db().await;
    let (alice, _, _) = world(&db.pool).await;
    let mut tx = session(&db.pool, "service_role", None).await;
    for table in CORE_TABLES {
        assert_eq!(
            ids(&mut tx, table).await.len() as i64,
            count(&db.pool, table).await,
            "{table}"
        );
    }
    sqlx::raw_sql(AssertSqlSafe(format!(
        "insert into public.webhook_events (stripe_event_id, event_type, payload)
             values ('evt_service', 'invoice.paid', '{{}}');
         update public.subscriptions set max_agents = 3 where id = '{sub}';
         select public.track_usage('{sub}', 1);
         select public.reset_daily_usage();
         insert into public.audit_logs (actor, action, outcome) values ('stripe', 'sync', 'ok');
         delete from public.api_keys where account_id = '{acc}';",
        sub = alice.subscription,
        acc = alice.account
    )))
    .execute(&mut *tx)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_owner_bypasses_row_level_security() {
    let db = test_db().await;
    world(&db.pool).await;
    // No role, no claims: roomctl's own connection sees and writes everything.
    assert_eq!(count(&db.pool, "accounts").await, 3);
    assert_eq!(count(&db.pool, "webhook_events").await, 3);
    sqlx::query("update public.subscriptions set max_agents = 2")
        .execute(&db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn auth_uid_reads_the_sub_claim_from_either_setting() {
    let db = test_db().await;
    let id = Uuid::new_v4();
    let mut conn = db.pool.acquire().await.unwrap();
    let uid = "select auth.uid()";

    let mut tx = conn.begin().await.unwrap();
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(format!(r#"{{"sub": "{id}", "role": "authenticated"}}"#))
        .execute(&mut *tx)
        .await
        .unwrap();
    let got: Option<Uuid> = sqlx::query_scalar(uid).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(got, Some(id));
    tx.rollback().await.unwrap();

    let mut tx = conn.begin().await.unwrap();
    sqlx::query("select set_config('request.jwt.claim.sub', $1, true)")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let got: Option<Uuid> = sqlx::query_scalar(uid).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(got, Some(id));
    tx.rollback().await.unwrap();

    // Both settings now exist in this session with empty values.
    let got: Option<Uuid> = sqlx::query_scalar(uid).fetch_one(&mut *conn).await.unwrap();
    assert_eq!(got, None);
}
