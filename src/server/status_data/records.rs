//! The status page's rows from the database: instances (joined with
//! their subscriptions for the tier) and the last reconcile runs, one
//! query each.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

/// One instance as the database has it (`instances` joined with its
/// subscription for the tier).
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    /// `instances.app_name`: roomctl's instance id.
    pub id: String,
    /// `instances.subdomain`.
    pub subdomain: String,
    /// `subscriptions.tier`; `None` while the price maps to no tier.
    pub tier: Option<String>,
    /// `instances.status`.
    pub status: String,
    /// `instances.health_status`: unknown, healthy or unhealthy.
    pub health: String,
    /// `instances.last_health_check`.
    pub health_checked_at: Option<DateTime<Utc>>,
    /// `instances.health_error`.
    pub health_error: Option<String>,
    /// `instances.error_message` (the last reconcile error).
    pub error: Option<String>,
    /// `instances.host`.
    pub host: Option<String>,
    /// `instances.updated_at`: the last change.
    pub updated_at: DateTime<Utc>,
    /// Healthy checks over the last 24 hours and 30 days, in percent.
    pub uptime: (Option<f64>, Option<f64>),
}

/// One row of `reconcile_runs`.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The replica that ran it.
    pub replica: String,
    /// What started it.
    pub trigger: String,
    /// `all`, or instance ids.
    pub scope: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, unless still running.
    pub finished_at: Option<DateTime<Utc>>,
    /// running, ok, partial, failed, refused or interrupted.
    pub outcome: String,
    /// Planned app changes.
    pub planned: i32,
    /// Applied app changes.
    pub applied: i32,
    /// Failed app changes.
    pub failed: i32,
    /// The run's error, secret-free.
    pub error: Option<String>,
}

/// Every instance that is not deprovisioned, failed or unhealthy first,
/// then by id. One query.
pub async fn load_instances(pool: &PgPool) -> Result<Vec<InstanceRecord>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "select i.app_name, i.subdomain, s.tier::text as tier, i.status::text as status,
                i.health_status, i.last_health_check, i.health_error, i.error_message,
                i.host, i.updated_at, u.uptime_24h, u.uptime_30d
           from public.instances i
           join public.subscriptions s on s.id = i.subscription_id",
        crate::health::uptime_join!(),
        "
          where i.status <> 'deprovisioned'
          order by (i.status = 'failed' or i.health_status = 'unhealthy') desc, i.app_name",
    ))
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(InstanceRecord {
                id: r.try_get("app_name")?,
                subdomain: r.try_get("subdomain")?,
                tier: r.try_get("tier")?,
                status: r.try_get("status")?,
                health: r.try_get("health_status")?,
                health_checked_at: r.try_get("last_health_check")?,
                health_error: r.try_get("health_error")?,
                error: r.try_get("error_message")?,
                host: r.try_get("host")?,
                updated_at: r.try_get("updated_at")?,
                uptime: (r.try_get("uptime_24h")?, r.try_get("uptime_30d")?),
            })
        })
        .collect()
}

/// The last `limit` reconcile runs, newest first. One query.
pub async fn load_runs(pool: &PgPool, limit: i64) -> Result<Vec<RunRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "select replica, trigger, scope, started_at, finished_at, outcome,
                planned, applied, failed, error
           from public.reconcile_runs order by started_at desc, id limit $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(RunRecord {
                replica: r.try_get("replica")?,
                trigger: r.try_get("trigger")?,
                scope: r.try_get("scope")?,
                started_at: r.try_get("started_at")?,
                finished_at: r.try_get("finished_at")?,
                outcome: r.try_get("outcome")?,
                planned: r.try_get("planned")?,
                applied: r.try_get("applied")?,
                failed: r.try_get("failed")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
}
