//! The `webhook_events` log: deduplication and outcome of every delivery.

use super::DbError;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Whether the event was already recorded (a replay). A cheap read that
/// lets a replay skip all work; [`claim`] is the authoritative check.
pub async fn seen(pool: &PgPool, stripe_event_id: &str) -> Result<bool, DbError> {
    let row = sqlx::query("select 1 from public.webhook_events where stripe_event_id = $1")
        .bind(stripe_event_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// Records the event inside `tx`; `false` when it is already recorded (a
/// replay, or a concurrent delivery of the same event that committed
/// first). `payload` is the raw body, stored as JSONB.
pub async fn claim(
    tx: &mut PgConnection,
    stripe_event_id: &str,
    event_type: &str,
    created: DateTime<Utc>,
    payload: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "insert into public.webhook_events (stripe_event_id, event_type, event_created_at, payload)
         values ($1, $2, $3, $4::jsonb)
         on conflict (stripe_event_id) do nothing",
    )
    .bind(stripe_event_id)
    .bind(event_type)
    .bind(created)
    .bind(payload)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records how processing ended.
pub async fn finish(
    tx: &mut PgConnection,
    stripe_event_id: &str,
    outcome: &str,
    error: Option<&str>,
    account: Option<Uuid>,
) -> Result<(), DbError> {
    sqlx::query(
        "update public.webhook_events
            set processed_at = now(), outcome = $2, error = $3, account_id = $4
          where stripe_event_id = $1",
    )
    .bind(stripe_event_id)
    .bind(outcome)
    .bind(error)
    .bind(account)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
