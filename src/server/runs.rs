//! The `reconcile_runs` table: one row per run, started and finished by
//! the worker. Writing it is best effort: a run is never held up or failed
//! because its bookkeeping row could not be written (the log has it).

use sqlx::PgPool;
use uuid::Uuid;

/// Records that run `id` started.
pub async fn start(pool: &PgPool, id: Uuid, replica: &str, trigger: &str, scope: &str) {
    let r = sqlx::query(
        "insert into public.reconcile_runs (id, replica, trigger, scope) values ($1, $2, $3, $4)
         on conflict (id) do nothing",
    )
    .bind(id)
    .bind(replica)
    .bind(trigger)
    .bind(scope)
    .execute(pool)
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %crate::db::chain(&e), "cannot record the run's start");
    }
}

/// Records how run `id` ended: `outcome`, (planned, applied, failed) app
/// counts and the error, if any.
pub async fn finish(
    pool: &PgPool,
    id: Uuid,
    outcome: &str,
    (planned, applied, failed): (usize, usize, usize),
    error: Option<&str>,
) {
    let n = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    let r = sqlx::query(
        "update public.reconcile_runs
            set finished_at = now(), outcome = $2, planned = $3, applied = $4, failed = $5,
                error = $6
          where id = $1",
    )
    .bind(id)
    .bind(outcome)
    .bind(n(planned))
    .bind(n(applied))
    .bind(n(failed))
    .bind(error)
    .execute(pool)
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %crate::db::chain(&e), "cannot record the run's end");
    }
}

/// Marks runs left `running` as `interrupted`: only the leader runs, so
/// when a replica takes the lead, any run still `running` belongs to a
/// leader that died mid-run. Called when leadership starts.
pub async fn close_abandoned(pool: &PgPool) {
    let r = sqlx::query(
        "update public.reconcile_runs set outcome = 'interrupted', finished_at = now(),
                error = 'its replica stopped or lost the lead during the run'
          where outcome = 'running'",
    )
    .execute(pool)
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %crate::db::chain(&e), "cannot close abandoned runs");
    }
}
