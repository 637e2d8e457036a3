//! The `webhook_events` log: deduplication and outcome of every delivery.

use super::DbError;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Whether the event was already recorded (a replay). A cheap read that
/// lets a replay skip all work; [`record`] is the authoritative check.
pub async fn seen(pool: &PgPool, stripe_event_id: &str) -> Result<bool, DbError> {
    let row = sqlx::query("select 1 from public.webhook_events where stripe_event_id = $1")
        .bind(stripe_event_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// Records a processed event inside `tx`, with its outcome; `false` when
/// it is already recorded (a concurrent delivery of the same event
/// committed first), in which case the caller must roll back. `payload`
/// is the body as [`crate::webhook::event::stored_payload`] gives it,
/// stored as JSONB.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    tx: &mut PgConnection,
    stripe_event_id: &str,
    event_type: &str,
    created: DateTime<Utc>,
    payload: &str,
    outcome: &str,
    error: Option<&str>,
    account: Option<Uuid>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "insert into public.webhook_events
             (stripe_event_id, event_type, event_created_at, payload, processed_at, outcome, error, account_id)
         values ($1, $2, $3, $4::jsonb, now(), $5, $6, $7)
         on conflict (stripe_event_id) do nothing",
    )
    .bind(stripe_event_id)
    .bind(event_type)
    .bind(created)
    .bind(payload)
    .bind(outcome)
    .bind(error)
    .bind(account)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
