//! The platform database: migrations, row-level security and the SQL
//! functions, against a real PostgreSQL (see tests/common/pg.rs).

mod common;

use common::pg::{empty_test_db, test_db};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Transaction};
use std::sync::Arc;
use uuid::Uuid;

const CORE_TABLES: [&str; 8] = [
    "accounts",
    "subscriptions",
    "instances",
    "webhook_events",
    "audit_logs",
    "usage_metrics",
    "instance_backups",
    "api_keys",
];

/// The tables a customer may read, and which of their rows belong to the
/// account `$1` (read as the owner, to compare with what RLS lets through).
const CUSTOMER_TABLES: [(&str, &str); 7] = [
    ("accounts", "id = $1"),
    ("subscriptions", "account_id = $1"),
    (
        "instances",
        "subscription_id in (select id from public.subscriptions where account_id = $1)",
    ),
    (
        "usage_metrics",
        "subscription_id in (select id from public.subscriptions where account_id = $1)",
    ),
    (
        "instance_backups",
        "instance_id in (select i.id from public.instances i \
         join public.subscriptions s on s.id = i.subscription_id where s.account_id = $1)",
    ),
    ("audit_logs", "account_id = $1"),
    ("api_keys", "account_id = $1"),
];

const RLS_MIGRATION: &str = include_str!("../migrations/20261122000003_row_level_security.sql");

/// One customer's rows: an account with a subscription, a running instance,
/// today's usage, an audit entry, a backup, an API key and a webhook event.
#[derive(Clone, Copy)]
struct Customer {
    account: Uuid,
    subscription: Uuid,
    instance: Uuid,
}

async fn customer(pool: &PgPool, name: &str, admin: bool) -> Customer {
    let account: Uuid = sqlx::query_scalar(
        "insert into public.accounts (email, full_name, is_admin) \
         values ($1 || '@example.com', $1, $2) returning id",
    )
    .bind(name)
    .bind(admin)
    .fetch_one(pool)
    .await
    .unwrap();
    let subscription = subscription(pool, account, "active").await;
    let instance: Uuid = sqlx::query_scalar(
        "insert into public.instances (subscription_id, app_name, subdomain, status) \
         values ($1, $2, $2, 'running') returning id",
    )
    .bind(subscription)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "insert into public.usage_metrics (subscription_id, messages_sent) values ('{subscription}', 5);
         insert into public.audit_logs (account_id, instance_id, actor, action, outcome)
             values ('{account}', '{instance}', 'roomctl', 'create', 'ok');
         insert into public.instance_backups (instance_id, app_name, host, path, size_bytes, sha256)
             values ('{instance}', '{name}', 'host1', '/backups/{name}.tar.gz', 1, repeat('a', 64));
         insert into public.api_keys (account_id, name, key_prefix, key_hash)
             values ('{account}', 'ci', 'rk_{name}', encode(sha256('{name}'::bytea), 'hex'));
         insert into public.webhook_events (stripe_event_id, event_type, account_id, payload)
             values ('evt_{name}', 'customer.updated', '{account}', '{{}}');"
    )))
    .execute(pool)
    .await
    .unwrap();
    Customer {
        account,
        subscription,
        instance,
    }
}

async fn account(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("insert into public.accounts (full_name) values ($1) returning id")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn subscription(pool: &PgPool, account: Uuid, status: &str) -> Uuid {
    sqlx::query_scalar(
        "insert into public.subscriptions (account_id, status, tier) \
         values ($1, $2::public.subscription_status, 'starter') returning id",
    )
    .bind(account)
    .bind(status)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Alice and Bob (customers), Root (an admin) and rows that belong to no one.
async fn world(pool: &PgPool) -> (Customer, Customer, Customer) {
    let alice = customer(pool, "alice", false).await;
    let bob = customer(pool, "bob", false).await;
    let root = customer(pool, "root", true).await;
    sqlx::raw_sql(
        "insert into public.audit_logs (actor, action, outcome) values ('roomctl', 'gc', 'ok');
         insert into public.instance_backups (app_name, host, path, size_bytes, sha256)
             values ('gone', 'host1', '/backups/gone.tar.gz', 1, repeat('b', 64));
         insert into public.api_keys (name, key_prefix, key_hash)
             values ('operator', 'rk_op', repeat('c', 64));",
    )
    .execute(pool)
    .await
    .unwrap();
    (alice, bob, root)
}

/// A transaction acting the way PostgREST does for a request: `role`, and
/// the JWT subject `sub` when signed in. Rolled back when dropped.
async fn session(pool: &PgPool, role: &str, sub: Option<Uuid>) -> Transaction<'static, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("set local role {role}")))
        .execute(&mut *tx)
        .await
        .unwrap();
    if let Some(sub) = sub {
        sqlx::query("select set_config('request.jwt.claim.sub', $1, true)")
            .bind(sub.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx
}

async fn ids(conn: &mut PgConnection, table: &str) -> Vec<String> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "select id::text from public.{table} order by 1"
    )))
    .fetch_all(conn)
    .await
    .unwrap_or_else(|e| panic!("reading {table}: {e}"))
}

async fn own_ids(pool: &PgPool, table: &str, filter: &str, account: Uuid) -> Vec<String> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "select id::text from public.{table} where {filter} order by 1"
    )))
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "select count(*) from public.{table}"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

fn sqlstate(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()).unwrap_or_default(),
        other => panic!("expected a database error, got {other}"),
    }
}

/// Runs `sql` as `role`/`sub` and returns the SQLSTATE it fails with.
async fn refused(pool: &PgPool, role: &str, sub: Option<Uuid>, sql: &str) -> String {
    let mut tx = session(pool, role, sub).await;
    let e = sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut *tx)
        .await
        .expect_err(&format!("{role} was allowed to run: {sql}"));
    sqlstate(&e)
}

const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Everything the migrations define, as sorted text: tables, columns,
/// constraints, indexes, functions (body hash, privileges, settings),
/// policies, triggers, enums, privileges.
const SCHEMA_FINGERPRINT: &str = r#"
select string_agg(line, E'\n' order by line) from (
    select format('column %s.%s.%s %s null=%s default=%s', table_schema, table_name,
                  column_name, data_type, is_nullable, coalesce(column_default, ''))
    from information_schema.columns where table_schema in ('public', 'auth')
    union all
    select format('relation %s %s rls=%s force=%s acl=%s', c.oid::regclass, c.relkind,
                  c.relrowsecurity, c.relforcerowsecurity, coalesce(c.relacl::text, ''))
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('public', 'auth')
    union all
    select format('column-acl %s.%s %s', a.attrelid::regclass, a.attname, a.attacl::text)
    from pg_attribute a join pg_class c on c.oid = a.attrelid
    where c.relnamespace = 'public'::regnamespace and a.attacl is not null
    union all
    select format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    from pg_constraint where connamespace = 'public'::regnamespace
    union all
    select format('index %s', indexdef) from pg_indexes where schemaname = 'public'
    union all
    select format('function %s definer=%s config=%s acl=%s body=%s', p.oid::regprocedure,
                  p.prosecdef, coalesce(p.proconfig::text, ''), coalesce(p.proacl::text, ''),
                  md5(p.prosrc))
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'auth')
    union all
    select format('policy %s %s %s %s using=%s check=%s', polrelid::regclass, polname, polcmd,
                  polroles::regrole[]::text, coalesce(pg_get_expr(polqual, polrelid), ''),
                  coalesce(pg_get_expr(polwithcheck, polrelid), ''))
    from pg_policy
    union all
    select format('trigger %s %s', tgrelid::regclass, tgname) from pg_trigger where not tgisinternal
    union all
    select format('enum %s %s %s', enumtypid::regtype, enumsortorder, enumlabel) from pg_enum
    union all
    select format('schema %s acl=%s', nspname, coalesce(nspacl::text, ''))
    from pg_namespace where nspname in ('public', 'auth')
) as f(line)
"#;

async fn fingerprint(pool: &PgPool) -> String {
    sqlx::query_scalar(SCHEMA_FINGERPRINT)
        .fetch_one(pool)
        .await
        .unwrap()
}

type MigrationRow = (i64, Vec<u8>, bool, chrono::DateTime<chrono::Utc>);

async fn applied_migrations(pool: &PgPool) -> Vec<MigrationRow> {
    sqlx::query_as(
        "select version, checksum, success, installed_on from public._sqlx_migrations order by version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------
// Migrations

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

// ---------------------------------------------------------------------------
// Row-level security

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

// ---------------------------------------------------------------------------
// Functions

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
