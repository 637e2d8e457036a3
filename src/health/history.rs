//! The health history: uptime from `health_checks`, and each instance's
//! health as the status page and the admin list show it.
//!
//! Uptime is the share of healthy checks among the checks recorded in a
//! window, in percent; checks skipped for lack of URLs are not recorded,
//! so they count neither way. A read that fails is an error, never "no
//! history".

use super::HealthError;
use super::round::Health;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// Uptime in percent (0 to 100) over the last `window`, by instance id
/// (`instances.app_name`). Instances without checks in the window are
/// absent.
pub async fn uptime(
    pool: &PgPool,
    window: chrono::Duration,
) -> Result<BTreeMap<String, f64>, HealthError> {
    let secs = window.num_milliseconds() as f64 / 1000.0;
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "select i.app_name,
                (100.0 * count(*) filter (where h.healthy) / count(*))::float8
           from public.health_checks h
           join public.instances i on i.id = h.instance_id
          where h.checked_at > now() - make_interval(secs => $1)
          group by i.app_name",
    )
    .bind(secs)
    .fetch_all(pool)
    .await
    .map_err(|e| HealthError::History(e.into()))?;
    Ok(rows.into_iter().collect())
}

/// A `left join lateral … u` onto `public.instances i` that adds
/// `u.uptime_24h` and `u.uptime_30d` (percent, `null` without checks in
/// the window), for queries that list instances. A macro so that
/// `concat!` can build `'static` SQL with it.
macro_rules! uptime_join {
    () => {
        "
      left join lateral (
        select (100.0 * count(*) filter (where h.healthy and h.checked_at > now() - interval '24 hours')
                  / nullif(count(*) filter (where h.checked_at > now() - interval '24 hours'), 0)
               )::float8 as uptime_24h,
               (100.0 * count(*) filter (where h.healthy) / nullif(count(*), 0))::float8 as uptime_30d
          from public.health_checks h
         where h.instance_id = i.id and h.checked_at > now() - interval '30 days'
      ) u on true"
    };
}
pub(crate) use uptime_join;

/// One instance's health, for the status page and the admin list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceHealth {
    /// The instance id (`instances.app_name`).
    pub instance: String,
    /// `instances.status` (`running`, `stopped`, …).
    pub status: String,
    /// The last check's verdict; [`Health::Unknown`] before the first.
    pub health: Health,
    /// When it was last checked.
    pub last_check: Option<DateTime<Utc>>,
    /// The last check's error, when it was not healthy.
    pub error: Option<String>,
    /// Failures in a row since the last healthy check.
    pub failures_in_row: u32,
    /// Whether a restart was asked for (by an operator or the health
    /// checker) and not done yet.
    pub restart_pending: bool,
    /// Uptime over the last 24 hours in percent; `None` without checks.
    pub uptime_24h: Option<f64>,
    /// Uptime over the last 30 days in percent; `None` without checks.
    pub uptime_30d: Option<f64>,
}

type Row = (
    String,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<String>,
    i32,
    bool,
    Option<f64>,
    Option<f64>,
);

/// The health of every instance that is not deprovisioned, sorted by
/// instance id, in one query.
pub async fn instance_health(pool: &PgPool) -> Result<Vec<InstanceHealth>, HealthError> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "select i.app_name, i.status::text, i.health_status, i.last_health_check,
                i.health_error, i.health_failures_in_row,
                coalesce(i.restart_requested_at > coalesce(i.restarted_at, '-infinity'), false),
                u.uptime_24h, u.uptime_30d
           from public.instances i",
        uptime_join!(),
        "
          where i.status <> 'deprovisioned'
          order by i.app_name",
    ))
    .fetch_all(pool)
    .await
    .map_err(|e| HealthError::History(e.into()))?;
    Ok(rows
        .into_iter()
        .map(|r| InstanceHealth {
            instance: r.0,
            status: r.1,
            health: match r.2.as_str() {
                "healthy" => Health::Healthy,
                "unhealthy" => Health::Unhealthy,
                _ => Health::Unknown,
            },
            last_check: r.3,
            error: r.4,
            failures_in_row: u32::try_from(r.5).unwrap_or(0),
            restart_pending: r.6,
            uptime_24h: r.7,
            uptime_30d: r.8,
        })
        .collect())
}
