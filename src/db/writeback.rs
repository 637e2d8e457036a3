//! After an apply: what happened, written back to `instances` and
//! `audit_logs`.
//!
//! [`outcomes`] is pure: from the rows in scope, what each wants, the
//! desired state, the observation, the plan and the apply report, it
//! computes each instance's new status and one audit entry per planned
//! action. [`write`] stores them in one transaction. Running it again
//! after a crash recomputes the same statuses from a fresh observation, so
//! the table converges with the fleet.

use super::DbError;
use super::billing::{self, Audit};
use super::lifecycle::Want;
use super::model::{InstanceRow, InstanceStatus};
use crate::apply::backup::BackupRecord;
use crate::apply::report::{Outcome, Report};
use crate::desired::Desired;
use crate::domain::InstanceId;
use crate::observed::Observed;
use crate::plan::{Change, HostPlan, Plan};
use serde_json::json;
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The new state of one `instances` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceUpdate {
    /// `instances.id`.
    pub id: Uuid,
    /// New status.
    pub status: InstanceStatus,
    /// Host it lives on.
    pub host: Option<String>,
    /// URLs by role (`frontend`, `backend`, `matrix`).
    pub urls: BTreeMap<String, String>,
    /// Memory limit of the whole instance.
    pub memory_mb: Option<i32>,
    /// CPU limit of the whole instance.
    pub cpu_millicores: Option<i32>,
    /// Why it failed or is waiting; `None` clears the message.
    pub error: Option<String>,
}

/// One audit entry for an action of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionAudit {
    /// The account, for database instances.
    pub account: Option<Uuid>,
    /// The `instances` row, for database instances.
    pub instance: Option<Uuid>,
    /// `app.<action kind>`, e.g. `app.create`.
    pub action: String,
    /// The app.
    pub app: String,
    /// `ok`, `failed` or `skipped` (not run after an earlier failure).
    pub outcome: &'static str,
    /// Host, instance, change and, on failure, the (secret-free) error.
    pub details: serde_json::Value,
}

/// What to write back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Rows whose state is known now.
    pub instances: Vec<InstanceUpdate>,
    /// One entry per planned action.
    pub audit: Vec<ActionAudit>,
    /// Backups taken by this apply, by `instances.id`.
    pub backups: Vec<(Uuid, BackupRecord)>,
    /// The reconcile run these outcomes belong to (`reconcile_runs.id`),
    /// stored on every audit row.
    pub run: Option<Uuid>,
}

/// Computes the write-back. `rows` are the database instances in scope,
/// `wants` what each (by `app_name`) wants now. A row is left untouched
/// when a host it may live on could not be read.
pub fn outcomes(
    rows: &[InstanceRow],
    wants: &BTreeMap<String, Want>,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
    report: &Report,
) -> Outcomes {
    let by_name: BTreeMap<&str, &InstanceRow> =
        rows.iter().map(|r| (r.app_name.as_str(), r)).collect();
    let any_unknown = plan.unknown_hosts().next().is_some();
    let mut failures: BTreeMap<&str, String> = BTreeMap::new();
    let mut destroyed: BTreeSet<&str> = BTreeSet::new();
    for r in &report.rows {
        match &r.outcome {
            Outcome::Failed { step, error, .. } => {
                failures
                    .entry(r.instance.as_str())
                    .or_insert_with(|| format!("app {} on {}: {step}: {error}", r.app, r.host));
            }
            Outcome::Done if r.change == Change::Destroy => {
                destroyed.insert(r.app.as_str());
            }
            Outcome::Done => {}
        }
    }
    let mut out = Outcomes::default();
    for row in rows {
        let Some(want) = wants.get(&row.app_name) else {
            continue;
        };
        let id = InstanceId::parse(&row.app_name).ok();
        let placed = id.as_ref().and_then(|i| plan.placements.get(i));
        let host_unknown = match placed {
            Some(h) => matches!(plan.hosts.get(h), Some(HostPlan::Unknown { .. })),
            None => any_unknown,
        };
        // A held instance's apps cannot all be read: its row says what it
        // said before.
        let held = id.as_ref().is_some_and(|i| plan.held.contains_key(i));
        if host_unknown || held {
            continue;
        }
        let mut update = InstanceUpdate {
            id: row.id,
            status: row.status,
            host: placed.map(|h| h.to_string()).or_else(|| row.host.clone()),
            urls: BTreeMap::new(),
            memory_mb: None,
            cpu_millicores: None,
            error: None,
        };
        if let Some(spec) = id.as_ref().and_then(|i| desired.instances.get(i)) {
            update.memory_mb = i32::try_from(spec.memory.0).ok();
            let cpu: u32 = spec
                .apps
                .values()
                .filter_map(|a| a.limits.cpu)
                .map(|c| c.0)
                .sum();
            update.cpu_millicores = i32::try_from(cpu).ok().filter(|c| *c > 0);
            for app in spec.apps.values() {
                if let Some(d) = app.domains.iter().next() {
                    let scheme = if app.tls { "https" } else { "http" };
                    update
                        .urls
                        .insert(app.role.to_string(), format!("{scheme}://{d}"));
                }
            }
        }
        update.status = match (want, failures.get(row.app_name.as_str())) {
            (_, Some(err)) => {
                update.error = Some(err.clone());
                InstanceStatus::Failed
            }
            (Want::Running | Want::Stopped, None) if placed.is_none() => {
                let notes: Vec<&str> = plan
                    .notes
                    .iter()
                    .filter(|n| n.instance.as_ref() == id.as_ref())
                    .map(|n| n.message.as_str())
                    .collect();
                update.error = Some(if notes.is_empty() {
                    "not placed on any host yet".to_string()
                } else {
                    notes.join("; ")
                });
                InstanceStatus::Provisioning
            }
            (Want::Running, None) => InstanceStatus::Running,
            (Want::Stopped, None) => InstanceStatus::Stopped,
            (Want::Deprovisioned, None) => {
                let left = observed
                    .hosts
                    .values()
                    .filter_map(|o| o.known())
                    .flat_map(|s| s.apps.iter())
                    .filter(|(_, a)| a.instance().map(InstanceId::as_str) == Some(&row.app_name))
                    .any(|(name, _)| !destroyed.contains(name.as_str()));
                if left {
                    InstanceStatus::Deprovisioning
                } else {
                    InstanceStatus::Deprovisioned
                }
            }
        };
        out.instances.push(update);
    }
    for r in &report.rows {
        let Some(HostPlan::Known { apps }) = plan.hosts.get(&r.host) else {
            continue;
        };
        let Some(app_plan) = apps.get(&r.app) else {
            continue;
        };
        let row = by_name.get(r.instance.as_str());
        let failed = match &r.outcome {
            Outcome::Failed { error, .. } => Some(error.as_str()),
            Outcome::Done => None,
        };
        for (i, action) in app_plan.actions.iter().enumerate() {
            let outcome = match (i.cmp(&r.done), failed) {
                (std::cmp::Ordering::Less, _) => "ok",
                (std::cmp::Ordering::Equal, Some(_)) => "failed",
                _ if failed.is_none() => "ok",
                _ => "skipped",
            };
            let mut details = json!({
                "host": r.host.as_str(),
                "instance": r.instance.as_str(),
                "change": format!("{:?}", r.change).to_lowercase(),
            });
            if outcome == "failed" {
                details["error"] = json!(failed);
            }
            out.audit.push(ActionAudit {
                account: row.map(|r| r.account_id),
                instance: row.map(|r| r.id),
                action: format!("app.{}", action.kind()),
                app: r.app.to_string(),
                outcome,
                details,
            });
        }
    }
    out
}

/// Stores `o` in one transaction. Timestamps: `provisioned_at` is set the
/// first time an instance runs, `deprovisioned_at` when it is gone.
pub async fn write(pool: &PgPool, o: &Outcomes) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    for u in &o.instances {
        sqlx::query(
            "update public.instances set
                 status = $2::public.instance_status,
                 host = $3,
                 frontend_url = coalesce($4, frontend_url),
                 backend_url = coalesce($5, backend_url),
                 matrix_url = coalesce($6, matrix_url),
                 memory_limit_mb = coalesce($7, memory_limit_mb),
                 cpu_limit_millicores = coalesce($8, cpu_limit_millicores),
                 error_message = $9,
                 provisioned_at = case when $2 = 'running' then coalesce(provisioned_at, now())
                                       else provisioned_at end,
                 deprovisioned_at = case when $2 = 'deprovisioned' then now() else null end
             where id = $1
               and (status::text, host, error_message, frontend_url, backend_url, matrix_url,
                    memory_limit_mb, cpu_limit_millicores)
                   is distinct from
                   ($2, $3, $9, coalesce($4, frontend_url), coalesce($5, backend_url),
                    coalesce($6, matrix_url), coalesce($7, memory_limit_mb),
                    coalesce($8, cpu_limit_millicores))",
        )
        .bind(u.id)
        .bind(u.status.as_db())
        .bind(&u.host)
        .bind(u.urls.get("frontend"))
        .bind(u.urls.get("backend"))
        .bind(u.urls.get("matrix"))
        .bind(u.memory_mb)
        .bind(u.cpu_millicores)
        .bind(&u.error)
        .execute(&mut *tx)
        .await?;
    }
    for (instance, b) in &o.backups {
        sqlx::query(
            "insert into public.instance_backups (instance_id, app_name, host, path, size_bytes, sha256, created_at)
             select $1, $2, $3, $4, $5, $6, to_timestamp($7)
              where not exists (select 1 from public.instance_backups where path = $4)",
        )
        .bind(instance)
        .bind(&b.app)
        .bind(&b.host)
        .bind(&b.path)
        .bind(i64::try_from(b.size).unwrap_or(i64::MAX))
        .bind(&b.sha256)
        .bind(b.at as f64)
        .execute(&mut *tx)
        .await?;
    }
    for a in &o.audit {
        let entry = Audit {
            account: a.account,
            instance: a.instance,
            actor: "roomctl",
            action: &a.action,
            target: Some(&a.app),
            outcome: a.outcome,
            details: a.details.clone(),
        };
        billing::audit_in_run(&mut tx, &entry, o.run).await?;
    }
    tx.commit().await?;
    Ok(())
}
