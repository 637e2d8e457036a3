//! Operator actions on a database instance (the admin API): stop, start
//! and restart, and the instances as operators see them.
//!
//! An action only changes desired state; the reconciler does the work, so
//! a change survives every later pass. Each runs in one transaction with
//! its `audit_logs` row (actor `operator:{key name}`, action
//! `instance.stop|start|restart`):
//! - stop sets `operator_stopped_at/by`: the instance wants `Stopped`
//!   whatever its subscription says ([`with_operator_stop`]) until an
//!   operator starts it; a restart not yet done is cancelled;
//! - start clears them: the subscription decides again;
//! - restart sets `restart_requested_at/by`, for an instance that runs or
//!   should; [`crate::reconcile::restart`] carries it out.
//!
//! An instance declared in `desired-state/instances/*.toml` belongs to its
//! file (which wins over the database): it is refused, with where to edit.

use super::DbError;
use super::billing::{self, Audit};
use super::lifecycle::{SubscriptionClock, Want, want, with_operator_stop};
use super::model::SubStatus;
use crate::desired::SubscriptionPolicy;
use crate::domain::InstanceId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What an operator may do to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run it again (the subscription permitting).
    Start,
    /// Keep it stopped, whatever its subscription says.
    Stop,
    /// Restart its apps once.
    Restart,
}

impl Action {
    /// `start`, `stop` or `restart`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }

    /// The `audit_logs.action`: `instance.{start|stop|restart}`.
    pub fn audit_action(self) -> &'static str {
        match self {
            Action::Start => "instance.start",
            Action::Stop => "instance.stop",
            Action::Restart => "instance.restart",
        }
    }
}

/// The instances `desired-state/instances/*.toml` declare, with where
/// (`path:line`).
pub type FileInstances = BTreeMap<InstanceId, String>;

/// Why an action was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No live instance has this id.
    #[error("no instance `{0}`")]
    NotFound(InstanceId),
    /// The instance is declared in a desired-state file.
    #[error("instance `{id}` is declared in {at}: edit that file to change it")]
    InFile {
        /// The instance.
        id: InstanceId,
        /// Where (`path:line`).
        at: String,
    },
    /// A restart of an instance that neither runs nor should.
    #[error("instance `{id}` cannot be restarted: {why}")]
    NotRunning {
        /// The instance.
        id: InstanceId,
        /// Its state, and what would make it run.
        why: String,
    },
    /// The database could not be read or written.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A live database instance as the admin API shows it: its row, its
/// health, the operator's overrides and what it wants now.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceInfo {
    /// roomctl's instance id (`instances.app_name`).
    pub id: String,
    /// The paying account.
    pub account: Uuid,
    /// `subscriptions.tier`.
    pub tier: Option<String>,
    /// `instances.status`, as the last pass wrote it.
    pub status: String,
    /// The host it lives on.
    pub host: Option<String>,
    /// `unknown`, `healthy` or `unhealthy`.
    pub health_status: String,
    /// When it was last checked.
    pub last_health_check: Option<DateTime<Utc>>,
    /// The last check's error.
    pub health_error: Option<String>,
    /// Healthy checks over the last 24 hours, in percent (`None` without
    /// checks).
    pub uptime_24h: Option<f64>,
    /// Healthy checks over the last 30 days, in percent (`None` without
    /// checks).
    pub uptime_30d: Option<f64>,
    /// Whether an operator's stop holds it stopped.
    pub operator_stopped: bool,
    /// When that stop was made.
    pub operator_stopped_at: Option<DateTime<Utc>>,
    /// Who made it (`operator:{key name}`).
    pub operator_stopped_by: Option<String>,
    /// The last restart asked for.
    pub restart_requested_at: Option<DateTime<Utc>>,
    /// Who asked.
    pub restart_requested_by: Option<String>,
    /// When the last restart was done.
    pub restarted_at: Option<DateTime<Utc>>,
    /// Whether a restart waits for the next pass.
    pub restart_pending: bool,
    /// What it should be now: `running`, `stopped` or `deprovisioned`.
    pub want: &'static str,
    /// What its subscription alone wants.
    pub subscription_wants: &'static str,
    /// URLs by role (`frontend`, `backend`, `matrix`).
    pub urls: BTreeMap<String, String>,
    #[serde(skip)]
    row_id: Uuid,
}

const SELECT: &str = concat!(
    "
    select i.id as row_id, i.app_name, s.account_id, s.tier::text as tier, i.status::text as status,
           i.host, i.health_status, i.last_health_check, i.health_error,
           u.uptime_24h, u.uptime_30d,
           i.operator_stopped_at, i.operator_stopped_by,
           i.restart_requested_at, i.restart_requested_by, i.restarted_at,
           i.frontend_url, i.backend_url, i.matrix_url,
           s.status::text as sub_status, s.trial_ends_at, s.cancelled_at, s.status_changed_at
      from public.instances i
      join public.subscriptions s on s.id = i.subscription_id",
    crate::health::uptime_join!(),
    "
     where i.status <> 'deprovisioned' and ($1::text is null or i.app_name = $1)
     order by i.app_name"
);

fn info(
    r: &PgRow,
    policy: &SubscriptionPolicy,
    now: DateTime<Utc>,
) -> Result<InstanceInfo, DbError> {
    let sub_status: String = r.try_get("sub_status")?;
    let clock = SubscriptionClock {
        status: SubStatus::from_db(&sub_status).ok_or_else(|| {
            DbError::Query(sqlx::Error::Decode(
                format!("unknown subscription_status value {sub_status:?}").into(),
            ))
        })?,
        trial_ends_at: r.try_get("trial_ends_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
        status_changed_at: r.try_get("status_changed_at")?,
    };
    let stopped_at: Option<DateTime<Utc>> = r.try_get("operator_stopped_at")?;
    let requested: Option<DateTime<Utc>> = r.try_get("restart_requested_at")?;
    let restarted: Option<DateTime<Utc>> = r.try_get("restarted_at")?;
    let sub = want(&clock, policy, now);
    let mut urls = BTreeMap::new();
    for role in ["frontend", "backend", "matrix"] {
        if let Some(u) = r.try_get::<Option<String>, _>(format!("{role}_url").as_str())? {
            urls.insert(role.to_string(), u);
        }
    }
    Ok(InstanceInfo {
        id: r.try_get("app_name")?,
        account: r.try_get("account_id")?,
        tier: r.try_get("tier")?,
        status: r.try_get("status")?,
        host: r.try_get("host")?,
        health_status: r.try_get("health_status")?,
        last_health_check: r.try_get("last_health_check")?,
        health_error: r.try_get("health_error")?,
        uptime_24h: r.try_get("uptime_24h")?,
        uptime_30d: r.try_get("uptime_30d")?,
        operator_stopped: stopped_at.is_some(),
        operator_stopped_at: stopped_at,
        operator_stopped_by: r.try_get("operator_stopped_by")?,
        restart_requested_at: requested,
        restart_requested_by: r.try_get("restart_requested_by")?,
        restarted_at: restarted,
        restart_pending: requested.is_some_and(|q| restarted.is_none_or(|d| q > d)),
        want: with_operator_stop(sub, stopped_at.is_some()).as_str(),
        subscription_wants: sub.as_str(),
        urls,
        row_id: r.try_get("row_id")?,
    })
}

/// Every live (not deprovisioned) database instance, by id, with what
/// each wants at `now` under `policy`.
pub async fn list(
    pool: &PgPool,
    policy: &SubscriptionPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<InstanceInfo>, DbError> {
    let rows = sqlx::query(SELECT)
        .bind(None::<&str>)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| info(r, policy, now)).collect()
}

/// The live database instance `id`, if any.
pub async fn get(
    pool: &PgPool,
    id: &InstanceId,
    policy: &SubscriptionPolicy,
    now: DateTime<Utc>,
) -> Result<Option<InstanceInfo>, DbError> {
    let row = sqlx::query(SELECT)
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    row.map(|r| info(&r, policy, now)).transpose()
}

async fn locked(
    tx: &mut PgConnection,
    id: &InstanceId,
    policy: &SubscriptionPolicy,
) -> Result<Option<InstanceInfo>, DbError> {
    let sql = sqlx::AssertSqlSafe(format!("{SELECT} for update of i"));
    let row = sqlx::query(sql)
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    row.map(|r| info(&r, policy, Utc::now())).transpose()
}

/// An action that was accepted.
#[derive(Debug, Clone, Serialize)]
pub struct Acted {
    /// The instance afterwards: its new desired state.
    pub instance: InstanceInfo,
    /// Whether anything changed (a second stop changes nothing).
    pub changed: bool,
}

/// Does `action` to instance `id` for `actor` (`operator:{key name}`),
/// under the lifecycle `policy`, in one transaction with its audit row.
/// Refuses an instance `files` declares ([`OperatorError::InFile`]), an
/// unknown one, and a restart of an instance that neither runs nor wants
/// to ([`OperatorError::NotRunning`]).
pub async fn act(
    pool: &PgPool,
    policy: &SubscriptionPolicy,
    files: &FileInstances,
    id: &InstanceId,
    action: Action,
    actor: &str,
) -> Result<Acted, OperatorError> {
    if let Some(at) = files.get(id) {
        return Err(OperatorError::InFile {
            id: id.clone(),
            at: at.clone(),
        });
    }
    let mut tx = pool.begin().await.map_err(DbError::from)?;
    let before = locked(&mut tx, id, policy)
        .await?
        .ok_or_else(|| OperatorError::NotFound(id.clone()))?;
    let mut details = json!({ "status": before.status, "want": before.want });
    let sql = match action {
        Action::Stop if before.operator_stopped => None,
        Action::Stop => {
            if before.restart_pending {
                details["cancelled_restart"] = json!(before.restart_requested_at);
            }
            Some(
                "update public.instances set operator_stopped_at = now(), operator_stopped_by = $2,
                    restart_requested_at = case when restart_requested_at > coalesce(restarted_at, '-infinity')
                                                then null else restart_requested_at end,
                    restart_requested_by = case when restart_requested_at > coalesce(restarted_at, '-infinity')
                                                then null else restart_requested_by end
                  where id = $1",
            )
        }
        Action::Start if !before.operator_stopped => None,
        Action::Start => {
            details["stopped_by"] = json!(before.operator_stopped_by);
            Some(
                "update public.instances set operator_stopped_at = null, operator_stopped_by = null
                  where id = $1",
            )
        }
        Action::Restart => {
            restartable(&before).map_err(|why| OperatorError::NotRunning {
                id: id.clone(),
                why,
            })?;
            Some(
                "update public.instances set restart_requested_at = now(), restart_requested_by = $2
                  where id = $1",
            )
        }
    };
    if let Some(sql) = sql {
        let mut q = sqlx::query(sql).bind(before.row_id);
        if sql.contains("$2") {
            q = q.bind(actor);
        }
        q.execute(&mut *tx).await.map_err(DbError::from)?;
    }
    let entry = Audit {
        account: Some(before.account),
        instance: Some(before.row_id),
        actor,
        action: action.audit_action(),
        target: Some(&before.id),
        outcome: if sql.is_some() { "ok" } else { "skipped" },
        details,
    };
    billing::audit(&mut tx, &entry).await?;
    let after = locked(&mut tx, id, policy)
        .await?
        .ok_or_else(|| OperatorError::NotFound(id.clone()))?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(Acted {
        instance: after,
        changed: sql.is_some(),
    })
}

/// Whether `i` may be restarted: not held stopped by an operator, and
/// running or wanted running.
fn restartable(i: &InstanceInfo) -> Result<(), String> {
    if i.operator_stopped {
        return Err(format!(
            "{} stopped it; start it instead",
            i.operator_stopped_by.as_deref().unwrap_or("an operator")
        ));
    }
    if i.status == "running" || i.want == Want::Running.as_str() {
        return Ok(());
    }
    Err(format!(
        "it is {} and its subscription wants it {}",
        i.status, i.want
    ))
}

#[cfg(test)]
mod tests;
