//! Shared fixtures of the database schema tests (`db_*.rs`): customers
//! with a row in every table, sessions as a role, and schema fingerprints.
#![allow(dead_code)]

use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

pub const CORE_TABLES: [&str; 8] = [
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
pub const CUSTOMER_TABLES: [(&str, &str); 7] = [
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

pub const RLS_MIGRATION: &str =
    include_str!("../../migrations/20261122000003_row_level_security.sql");

/// One customer's rows: an account with a subscription, a running instance,
/// today's usage, an audit entry, a backup, an API key and a webhook event.
#[derive(Clone, Copy)]
pub struct Customer {
    pub account: Uuid,
    pub subscription: Uuid,
    pub instance: Uuid,
}

pub async fn customer(pool: &PgPool, name: &str, admin: bool) -> Customer {
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

pub async fn account(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("insert into public.accounts (full_name) values ($1) returning id")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

pub async fn subscription(pool: &PgPool, account: Uuid, status: &str) -> Uuid {
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
pub async fn world(pool: &PgPool) -> (Customer, Customer, Customer) {
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
pub async fn session(
    pool: &PgPool,
    role: &str,
    sub: Option<Uuid>,
) -> Transaction<'static, Postgres> {
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

pub async fn ids(conn: &mut PgConnection, table: &str) -> Vec<String> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "select id::text from public.{table} order by 1"
    )))
    .fetch_all(conn)
    .await
    .unwrap_or_else(|e| panic!("reading {table}: {e}"))
}

pub async fn own_ids(pool: &PgPool, table: &str, filter: &str, account: Uuid) -> Vec<String> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "select id::text from public.{table} where {filter} order by 1"
    )))
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap()
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "select count(*) from public.{table}"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

pub fn sqlstate(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()).unwrap_or_default(),
        other => panic!("expected a database error, got {other}"),
    }
}

/// Runs `sql` as `role`/`sub` and returns the SQLSTATE it fails with.
pub async fn refused(pool: &PgPool, role: &str, sub: Option<Uuid>, sql: &str) -> String {
    let mut tx = session(pool, role, sub).await;
    let e = sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut *tx)
        .await
        .expect_err(&format!("{role} was allowed to run: {sql}"));
    sqlstate(&e)
}

pub const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Everything the migrations define, as sorted text: tables, columns,
/// constraints, indexes, functions (body hash, privileges, settings),
/// policies, triggers, enums, privileges.
pub const SCHEMA_FINGERPRINT: &str = r#"
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

pub async fn fingerprint(pool: &PgPool) -> String {
    sqlx::query_scalar(SCHEMA_FINGERPRINT)
        .fetch_one(pool)
        .await
        .unwrap()
}

pub type MigrationRow = (i64, Vec<u8>, bool, chrono::DateTime<chrono::Utc>);

pub async fn applied_migrations(pool: &PgPool) -> Vec<MigrationRow> {
    sqlx::query_as(
        "select version, checksum, success, installed_on from public._sqlx_migrations order by version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}
