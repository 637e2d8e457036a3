//! The platform database's migrations against a real PostgreSQL: applying
//! twice, beside Supabase's `auth`, concurrently; constraints.

mod common;

use common::pg::{empty_test_db, test_db};
use common::schema::*;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::Arc;
use uuid::Uuid;

#[tokio::test]
async fn migrate_twice_is_a_no_op() {
    let db = test_db().await;
    let migrations = applied_migrations(&db.pool).await;
    assert_eq!(migrations.len(), roomctl::db::MIGRATOR.iter().count());
    assert!(
        migrations.iter().all(|m| m.2),
        "a migration is marked failed"
    );
    let before = fingerprint(&db.pool).await;
    assert!(
        before.contains("policy accounts accounts_select_own"),
        "{before}"
    );

    roomctl::db::migrate(&db.pool).await.unwrap();

    assert_eq!(applied_migrations(&db.pool).await, migrations);
    assert_eq!(fingerprint(&db.pool).await, before);
}

#[tokio::test]
async fn migrations_apply_when_supabase_auth_already_exists() {
    let db = empty_test_db().await;
    // What a Supabase project has before our migrations: the API roles and an
    // `auth` schema owned by its own role, with its own auth.uid().
    sqlx::raw_sql(
        "do $$
         declare r text;
         begin
             foreach r in array array['anon', 'authenticated', 'service_role', 'supabase_auth_admin'] loop
                 begin
                     if r = 'service_role' then
                         execute format('create role %I nologin noinherit bypassrls', r);
                     else
                         execute format('create role %I nologin noinherit', r);
                     end if;
                 exception when duplicate_object or unique_violation then null;
                 end;
             end loop;
         end $$;
         create schema auth authorization supabase_auth_admin;
         create function auth.uid() returns uuid language sql stable
             as $$ select nullif(current_setting('test.supabase_sub', true), '')::uuid $$;
         alter function auth.uid() owner to supabase_auth_admin;
         grant usage on schema auth to anon, authenticated, service_role;",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let uid_before: (String, String) = sqlx::query_as(
        "select prosrc, proowner::regrole::text from pg_proc where oid = 'auth.uid()'::regprocedure",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();

    roomctl::db::migrate(&db.pool).await.unwrap();

    let uid_after: (String, String) = sqlx::query_as(
        "select prosrc, proowner::regrole::text from pg_proc where oid = 'auth.uid()'::regprocedure",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(uid_after, uid_before, "Supabase's auth.uid() was replaced");
    assert!(uid_after.0.contains("test.supabase_sub"));
    let functions_in_auth: i64 = sqlx::query_scalar(
        "select count(*) from pg_proc where pronamespace = 'auth'::regnamespace",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(functions_in_auth, 1);
    let schema_owner: String = sqlx::query_scalar(
        "select nspowner::regrole::text from pg_namespace where nspname = 'auth'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(schema_owner, "supabase_auth_admin");

    // The policies use Supabase's function.
    let alice = customer(&db.pool, "alice", false).await;
    customer(&db.pool, "bob", false).await;
    let mut tx = session(&db.pool, "authenticated", None).await;
    sqlx::query("select set_config('test.supabase_sub', $1, true)")
        .bind(alice.account.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        ids(&mut tx, "accounts").await,
        vec![alice.account.to_string()]
    );
}

#[tokio::test]
async fn migrating_eight_fresh_databases_at_once_succeeds() {
    let mut dbs = Vec::new();
    for _ in 0..8 {
        dbs.push(empty_test_db().await);
    }
    let start = Arc::new(tokio::sync::Barrier::new(dbs.len()));
    let tasks: Vec<_> = dbs
        .iter()
        .map(|db| {
            let pool = db.pool.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                roomctl::db::migrate(&pool).await
            })
        })
        .collect();
    for (db, task) in dbs.iter().zip(tasks) {
        task.await
            .unwrap()
            .unwrap_or_else(|e| panic!("migrating {}: {e}", db.name));
        assert_eq!(
            applied_migrations(&db.pool).await.len(),
            roomctl::db::MIGRATOR.iter().count()
        );
    }
}

/// Roles are global to the cluster, so two databases migrated at once both
/// try to create them. Runs the migration's role-creating block for roles
/// that do not exist yet, from 8 transactions at once that stay open for a
/// moment, so most of them collide on the same new role.
#[tokio::test]
async fn role_creation_in_the_migration_survives_a_race() {
    let start = RLS_MIGRATION
        .find("do $$\ndeclare\n    r text;")
        .expect("the role-creating DO block");
    let len = RLS_MIGRATION[start..].find("\n$$;").expect("its end") + "\n$$;".len();
    let block = &RLS_MIGRATION[start..start + len];
    let roles = "array['anon', 'authenticated', 'service_role']";
    assert!(block.contains(roles), "{block}");
    let prefix = format!("t_race_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let names = [
        format!("{prefix}_anon"),
        format!("{prefix}_authenticated"),
        format!("{prefix}_service"),
    ];
    let block = block.replace(
        roles,
        &format!("array['{}', '{}', '{}']", names[0], names[1], names[2]),
    );

    let db = empty_test_db().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url.clone();
            let block = block.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let mut conn = PgConnection::connect(&url).await?;
                let mut tx = conn.begin().await?;
                barrier.wait().await;
                sqlx::raw_sql(AssertSqlSafe(block))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("select pg_sleep(0.3)")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(())
            })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failures.push(e.to_string());
        }
    }
    let created: i64 = sqlx::query_scalar("select count(*) from pg_roles where rolname like $1")
        .bind(format!("{prefix}_%"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    for name in &names {
        sqlx::raw_sql(AssertSqlSafe(format!("drop role if exists {name}")))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(created, 3);
}

#[tokio::test]
async fn rls_is_enabled_on_every_core_table_and_not_forced() {
    let db = test_db().await;
    for table in CORE_TABLES {
        let (rls, forced): (bool, bool) = sqlx::query_as(
            "select relrowsecurity, relforcerowsecurity from pg_class where oid = $1::regclass",
        )
        .bind(format!("public.{table}"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(rls, "RLS is off on {table}");
        assert!(
            !forced,
            "RLS is forced on {table}: roomctl (the owner) would be filtered"
        );
    }
    let can_login: Vec<(String, bool)> = sqlx::query_as(
        "select rolname::text, rolcanlogin from pg_roles \
         where rolname in ('anon', 'authenticated', 'service_role') order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        can_login,
        vec![
            ("anon".to_string(), false),
            ("authenticated".to_string(), false),
            ("service_role".to_string(), false),
        ]
    );
}

#[tokio::test]
async fn customer_functions_are_security_invoker_and_is_admin_is_a_locked_down_definer() {
    let db = test_db().await;
    let rows: Vec<(String, bool, Option<Vec<String>>)> = sqlx::query_as(
        "select proname::text, prosecdef, proconfig from pg_proc \
         where pronamespace = 'public'::regnamespace and proname <> 'set_updated_at' order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "check_usage_limits",
            "get_user_instance",
            "has_active_subscription",
            "is_admin",
            "reset_daily_usage",
            "track_usage"
        ]
    );
    for (name, definer, config) in rows {
        assert_eq!(
            definer,
            name == "is_admin",
            "{name}: security definer = {definer}"
        );
        assert_eq!(
            config,
            Some(vec![r#"search_path="""#.to_string()]),
            "{name} must pin an empty search_path"
        );
    }
}

#[tokio::test]
async fn api_keys_refuse_a_plain_key() {
    let db = test_db().await;
    let account = account(&db.pool, "alice").await;
    let insert = "insert into public.api_keys (account_id, name, key_prefix, key_hash) \
                  values ($1, 'ci', 'rk_live', $2)";
    for plain in [
        "rk_live_0123456789abcdef0123456789abcdef".to_string(),
        "A".repeat(64),                 // not lowercase hex
        format!("{}0", "a".repeat(64)), // too long
    ] {
        let e = sqlx::query(insert)
            .bind(account)
            .bind(&plain)
            .execute(&db.pool)
            .await
            .expect_err(&format!("stored {plain:?} as a key hash"));
        assert_eq!(sqlstate(&e), "23514", "{e}");
    }
    sqlx::query(insert)
        .bind(account)
        .bind("0123456789abcdef".repeat(4))
        .execute(&db.pool)
        .await
        .unwrap();
}
