//! Rows for the health check tests: instances with their account and
//! subscription, and what the checker recorded.

use sqlx::PgPool;
use uuid::Uuid;

/// Inserts an account, a subscription and an instance `name` with
/// `status`, and URLs under `{name}.mindroom.test` when `urls`.
pub async fn instance(pool: &PgPool, name: &str, status: &str, urls: bool) -> Uuid {
    let account: Uuid = sqlx::query_scalar(
        "insert into accounts (email) values ($1 || '@example.com') returning id",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap();
    let sub: Uuid = sqlx::query_scalar(
        "insert into subscriptions (account_id, status, tier) values ($1, 'active', 'starter') returning id",
    )
    .bind(account)
    .fetch_one(pool)
    .await
    .unwrap();
    let url = |prefix: &str| urls.then(|| format!("http://{prefix}{name}.mindroom.test"));
    sqlx::query_scalar(
        "insert into instances (subscription_id, app_name, subdomain, status, host,
                                backend_url, frontend_url, matrix_url)
         values ($1, $2, $2, $3::instance_status, 'host1', $4, $5, $6) returning id",
    )
    .bind(sub)
    .bind(name)
    .bind(status)
    .bind(url("api."))
    .bind(url(""))
    .bind(url("matrix."))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Instance `name`'s `(health_status, health_error, health_failures_in_row)`.
pub async fn row(pool: &PgPool, name: &str) -> (String, Option<String>, i32) {
    sqlx::query_as(
        "select health_status, health_error, health_failures_in_row from instances where app_name = $1",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The single `bigint` `sql` selects.
pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}
