//! One health check round: read the running instances, check them, record
//! the results, report the ones that just became persistently unhealthy.
//!
//! Results are written in one transaction after every check is done, one
//! statement per instance (its row, its `health_checks` row and, when it
//! is reported, its audit row), then old history is pruned. A failed write
//! records nothing; the next round checks again. An instance that stopped
//! running while it was checked is left alone.

use super::client::{EndpointCheck, HealthClient, InstanceUrls};
use super::{Endpoint, HealthError, HealthSettings};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// An instance's health after a check (`instances.health_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Every endpoint answered as required.
    Healthy,
    /// At least one endpoint did not.
    Unhealthy,
    /// Not checked: its URLs are not recorded yet.
    Unknown,
}

impl Health {
    /// The `instances.health_status` value.
    pub fn as_db(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Unknown => "unknown",
        }
    }
}

/// One instance's result in a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceResult {
    /// Healthy, unhealthy or unknown.
    pub health: Health,
    /// Each checked endpoint's outcome (none when unknown).
    pub endpoints: BTreeMap<Endpoint, EndpointCheck>,
    /// `instances.health_error`: each failing endpoint and why, e.g.
    /// `backend: 502 Bad Gateway; matrix: timed out after 10s`.
    pub error: Option<String>,
    /// Failures in a row, this check included (0 when healthy).
    pub failures_in_row: u32,
}

/// What one round found and did. Maps and lists are sorted by instance id
/// (`instances.app_name`), so its JSON is deterministic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    /// When the results were recorded (`last_health_check`).
    pub checked_at: DateTime<Utc>,
    /// Every instance checked and recorded, by instance id.
    pub instances: BTreeMap<String, InstanceResult>,
    /// Instances that reached `unhealthy_after` failures in a row with this
    /// check: reported once per streak (warning and `health.unhealthy`
    /// audit row).
    pub reported: Vec<String>,
    /// Reported instances whose restart was requested
    /// (`restart_requested_by = 'health'`); the daemon restarts them.
    pub restart: Vec<String>,
    /// Instances found healthy.
    pub healthy: usize,
    /// Instances found unhealthy.
    pub unhealthy: usize,
    /// Instances not checked for lack of URLs.
    pub unknown: usize,
    /// `health_checks` rows older than the retention removed.
    pub pruned: u64,
}

/// A running instance as the round reads it.
struct Target {
    id: Uuid,
    account: Uuid,
    name: String,
    urls: InstanceUrls,
}

/// Runs one round: checks every `running` instance with `client` (at most
/// `settings.concurrency` at a time, each instance's endpoints
/// concurrently), records the results and prunes history older than
/// `settings.retention`. Errors only when the database fails: reading
/// (nothing was checked) or writing (nothing was recorded).
pub async fn run_round(
    pool: &PgPool,
    settings: &HealthSettings,
    client: &HealthClient,
) -> Result<Round, HealthError> {
    let targets = read_targets(pool)
        .await
        .map_err(|e| HealthError::Read(e.into()))?;
    let checks = check_all(&targets, settings, client).await;
    let results = targets
        .iter()
        .map(|t| result(t, checks.get(&t.name).cloned().unwrap_or_default()))
        .collect::<Vec<_>>();
    let round = record(pool, settings, &targets, results)
        .await
        .map_err(|e| HealthError::Write(e.into()))?;
    for name in &round.reported {
        let r = &round.instances[name];
        tracing::warn!(
            instance = %name,
            failures_in_row = r.failures_in_row,
            error = r.error.as_deref().unwrap_or(""),
            restart = round.restart.contains(name),
            "instance unhealthy"
        );
    }
    tracing::debug!(
        healthy = round.healthy,
        unhealthy = round.unhealthy,
        unknown = round.unknown,
        pruned = round.pruned,
        "health check round done"
    );
    Ok(round)
}

async fn read_targets(pool: &PgPool) -> Result<Vec<Target>, sqlx::Error> {
    type Row = (
        Uuid,
        Uuid,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "select i.id, s.account_id, i.app_name, i.backend_url, i.frontend_url, i.matrix_url
           from public.instances i
           join public.subscriptions s on s.id = i.subscription_id
          where i.status = 'running'
          order by i.app_name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, account, name, backend, frontend, matrix)| {
            let urls = Endpoint::ALL
                .into_iter()
                .zip([backend, frontend, matrix])
                .filter_map(|(e, u)| Some((e, u.filter(|u| !u.trim().is_empty())?)))
                .collect();
            Target {
                id,
                account,
                name,
                urls,
            }
        })
        .collect())
}

/// Checks the targets with all their URLs, `settings.concurrency` at a time.
async fn check_all(
    targets: &[Target],
    settings: &HealthSettings,
    client: &HealthClient,
) -> BTreeMap<String, BTreeMap<Endpoint, EndpointCheck>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
    let settings = Arc::new(settings.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for t in targets
        .iter()
        .filter(|t| t.urls.len() == Endpoint::ALL.len())
    {
        let (permits, settings, client) = (permits.clone(), settings.clone(), client.clone());
        let (name, urls) = (t.name.clone(), t.urls.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let checks = client.check_instance(&urls, &settings).await;
            (name, checks)
        });
    }
    let mut out = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((name, checks)) => {
                out.insert(name, checks);
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

/// The result of a target from its endpoint checks (before the streak is
/// known).
fn result(t: &Target, endpoints: BTreeMap<Endpoint, EndpointCheck>) -> InstanceResult {
    let missing: Vec<&str> = Endpoint::ALL
        .iter()
        .filter(|e| !t.urls.contains_key(e))
        .map(|e| e.as_str())
        .collect();
    let (health, error) = if !missing.is_empty() {
        let m = format!("not checked: no URL recorded for {}", missing.join(", "));
        (Health::Unknown, Some(m))
    } else {
        let errors: Vec<String> = endpoints
            .iter()
            .filter_map(|(e, c)| Some(format!("{e}: {}", c.error.as_deref()?)))
            .collect();
        if errors.is_empty() {
            (Health::Healthy, None)
        } else {
            (Health::Unhealthy, Some(errors.join("; ")))
        }
    };
    InstanceResult {
        health,
        endpoints,
        error,
        failures_in_row: 0,
    }
}

/// The statement that records one instance's check (see the module docs).
/// `$1` id, `$2` health, `$3` error, `$4` endpoints, `$5` account,
/// `$6` unhealthy_after, `$7` restart_unhealthy.
const RECORD: &str = "
with u as (
    update public.instances set
        health_status = $2::text,
        last_health_check = now(),
        health_error = $3::text,
        health_failures_in_row = case $2::text
            when 'healthy' then 0
            when 'unhealthy' then health_failures_in_row + 1
            else health_failures_in_row end,
        restart_requested_at = case
            when $7 and $2::text = 'unhealthy' and health_failures_in_row + 1 = $6
            then now() else restart_requested_at end,
        restart_requested_by = case
            when $7 and $2::text = 'unhealthy' and health_failures_in_row + 1 = $6
            then 'health' else restart_requested_by end
     where id = $1 and status = 'running'
     returning id, app_name, health_failures_in_row,
               ($2::text = 'unhealthy' and health_failures_in_row = $6) as reported
), h as (
    insert into public.health_checks (instance_id, checked_at, healthy, endpoints, error)
    select id, now(), $2::text = 'healthy', $4, $3::text from u where $2::text <> 'unknown'
), a as (
    insert into public.audit_logs (account_id, instance_id, actor, action, target, outcome, details)
    select $5, id, 'roomctl', 'health.unhealthy', app_name, 'failed',
           jsonb_build_object('failures_in_row', health_failures_in_row,
                              'error', $3::text, 'restart_requested', $7)
      from u where reported
)
select health_failures_in_row, reported from u";

async fn record(
    pool: &PgPool,
    settings: &HealthSettings,
    targets: &[Target],
    results: Vec<InstanceResult>,
) -> Result<Round, sqlx::Error> {
    let threshold = i32::try_from(settings.unhealthy_after).unwrap_or(i32::MAX);
    let mut tx = pool.begin().await?;
    let checked_at: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(&mut *tx)
        .await?;
    let mut round = Round {
        checked_at,
        instances: BTreeMap::new(),
        reported: Vec::new(),
        restart: Vec::new(),
        healthy: 0,
        unhealthy: 0,
        unknown: 0,
        pruned: 0,
    };
    for (t, mut r) in targets.iter().zip(results) {
        let endpoints = serde_json::to_value(&r.endpoints).unwrap_or_default();
        let row: Option<(i32, bool)> = sqlx::query_as(RECORD)
            .bind(t.id)
            .bind(r.health.as_db())
            .bind(&r.error)
            .bind(endpoints)
            .bind(t.account)
            .bind(threshold)
            .bind(settings.restart_unhealthy)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((failures, reported)) = row else {
            continue;
        };
        r.failures_in_row = u32::try_from(failures).unwrap_or(0);
        if reported {
            round.reported.push(t.name.clone());
            if settings.restart_unhealthy {
                round.restart.push(t.name.clone());
            }
        }
        match r.health {
            Health::Healthy => round.healthy += 1,
            Health::Unhealthy => round.unhealthy += 1,
            Health::Unknown => round.unknown += 1,
        }
        round.instances.insert(t.name.clone(), r);
    }
    let pruned = sqlx::query(
        "delete from public.health_checks where checked_at < now() - make_interval(secs => $1)",
    )
    .bind(settings.retention.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    round.pruned = pruned.rows_affected();
    tx.commit().await?;
    Ok(round)
}
