//! Restarts asked for by operators (the admin API) or the health checker:
//! `instances.restart_requested_at` later than `restarted_at`.
//!
//! [`run_restarts`] runs `ps:restart` on each app of each such instance
//! that is wanted running, on the host where the observation finds the
//! app, then sets `restarted_at` and writes one `app.restart` audit row
//! per app. Nothing is done for an instance while a host it may live on
//! could not be read, or after a failed restart: the request stays and
//! the next pass retries it. An instance that is not wanted running keeps
//! its request until it is (an operator's stop cancels it, see
//! [`crate::db::operator`]). An instance with no app deployed yet has
//! nothing to restart (its first deploy starts it): the request is marked
//! done with an `instance.restart` row, outcome `skipped`.

use super::Reconciler;
use crate::apply::Shells;
use crate::db::DbError;
use crate::db::billing::{self, Audit};
use crate::desired::{Desired, InstanceSpec};
use crate::dokku::command;
use crate::domain::{AppName, HostName, InstanceId, RunState};
use crate::observed::{CloudObservation, HostObservation, Observed};
use crate::ssh::RemoteShell;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgPool, Row};
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

/// What became of one instance's restart request this pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartRow {
    /// The instance.
    pub instance: InstanceId,
    /// Who asked (`operator:{key name}`, or the health checker).
    pub requested_by: Option<String>,
    /// What happened.
    pub outcome: RestartOutcome,
}

/// The outcome of one restart request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RestartOutcome {
    /// Every app was restarted (host, app) and the request marked done.
    Done {
        /// The apps restarted, with their hosts.
        apps: Vec<(HostName, AppName)>,
    },
    /// No app of the instance exists yet: marked done, nothing run.
    NotDeployed,
    /// Nothing was run: a host it may live on is unknown. Retried.
    Waiting {
        /// Which host, and why.
        reason: String,
    },
    /// A restart failed; the apps before it were restarted. Retried.
    Failed {
        /// The host.
        host: HostName,
        /// The app whose restart failed.
        app: AppName,
        /// Why (secret-free: the command is shown masked).
        error: String,
    },
}

impl RestartRow {
    /// Whether the request is done (restarted, or nothing to restart).
    pub fn is_done(&self) -> bool {
        matches!(
            self.outcome,
            RestartOutcome::Done { .. } | RestartOutcome::NotDeployed
        )
    }
}

/// A request not yet done, as read from the database.
struct Pending {
    row_id: Uuid,
    account: Uuid,
    id: InstanceId,
    requested_at: DateTime<Utc>,
    requested_by: Option<String>,
}

async fn pending(pool: &PgPool) -> Result<Vec<Pending>, DbError> {
    let rows = sqlx::query(
        "select i.id, s.account_id, i.app_name, i.restart_requested_at, i.restart_requested_by
           from public.instances i
           join public.subscriptions s on s.id = i.subscription_id
          where i.status <> 'deprovisioned'
            and i.restart_requested_at > coalesce(i.restarted_at, '-infinity')
          order by i.app_name",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.try_get("app_name")?;
        let Ok(id) = InstanceId::parse(&name) else {
            continue;
        };
        out.push(Pending {
            row_id: r.try_get("id")?,
            account: r.try_get("account_id")?,
            id,
            requested_at: r.try_get("restart_requested_at")?,
            requested_by: r.try_get("restart_requested_by")?,
        });
    }
    Ok(out)
}

type Target = (HostName, AppName, Arc<dyn RemoteShell>);

/// Where `spec`'s apps are: (host, app, shell) for each app found on a
/// known host, or why nothing may run yet.
fn locate(
    spec: &InstanceSpec,
    observed: &Observed,
    shells: &Shells,
) -> Result<Vec<Target>, String> {
    let id = &spec.instance.id;
    let unknown: Vec<String> = observed
        .hosts
        .iter()
        .filter_map(|(h, o)| match o {
            HostObservation::Unknown { reason } => Some(format!("host {h} is unknown: {reason}")),
            HostObservation::Known(_) => None,
        })
        .collect();
    let mut out = Vec::new();
    for app in spec.apps.keys() {
        let hosts: Vec<&HostName> = observed
            .hosts
            .iter()
            .filter_map(|(h, o)| o.known().map(|s| (h, s)))
            .filter(|(_, s)| {
                s.apps
                    .get(app.as_str())
                    .is_some_and(|a| a.instance() == Some(id))
            })
            .map(|(h, _)| h)
            .collect();
        if hosts.is_empty() && !unknown.is_empty() {
            return Err(unknown.join("; "));
        }
        for h in hosts {
            let shell = shells
                .get(h)
                .ok_or_else(|| format!("no shell for host {h}"))?;
            out.push((h.clone(), app.clone(), shell.clone()));
        }
    }
    Ok(out)
}

/// What [`restart`] did.
struct Ran {
    /// The apps restarted, in order.
    done: Vec<(HostName, AppName)>,
    /// The restart that failed and stopped the rest, with why.
    failed: Option<(HostName, AppName, String)>,
}

/// Restarts `targets` in order; stops at the first failure.
async fn restart(targets: Vec<Target>) -> Ran {
    let mut done = Vec::new();
    for (host, app, shell) in targets {
        let cmd = command::ps_restart(&app);
        let error = match shell.exec(&cmd).await {
            Ok(out) if out.code == 0 => None,
            Ok(out) => Some(format!(
                "`{cmd}` exited {}: {}",
                out.code,
                crate::apply::dokku_message(&out)
            )),
            Err(e) => Some(e.to_string()),
        };
        match error {
            None => done.push((host, app)),
            Some(e) => {
                return Ran {
                    done,
                    failed: Some((host, app, e)),
                };
            }
        }
    }
    Ran { done, failed: None }
}

/// Carries out every pending restart of an instance in `scope` (all when
/// `None`) that `desired` wants running, on the hosts `observed` found
/// its apps on, through `shells`. Returns one row per request acted on
/// or waiting; instances not wanted running are left out (and keep their
/// request). Database errors are logged: the next pass retries.
pub async fn run_restarts(
    pool: &PgPool,
    desired: &Desired,
    observed: &Observed,
    shells: &Shells,
    scope: Option<&BTreeSet<InstanceId>>,
) -> Vec<RestartRow> {
    let requests = match pending(pool).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %crate::db::chain(&e), "cannot read pending restarts");
            return Vec::new();
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut rows = Vec::new();
    for p in requests {
        if scope.is_some_and(|s| !s.contains(&p.id)) {
            continue;
        }
        let Some(spec) = desired.instances.get(&p.id) else {
            continue;
        };
        if spec.instance.state != RunState::Running {
            continue;
        }
        match locate(spec, observed, shells) {
            Err(reason) => rows.push(row(&p, RestartOutcome::Waiting { reason })),
            Ok(targets) => {
                tasks.spawn(async move {
                    let result = restart(targets).await;
                    (p, result)
                });
            }
        }
    }
    let mut finished = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(r) => finished.push(r),
            Err(e) => tracing::error!(error = %e, "a restart task panicked"),
        }
    }
    finished.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    for (p, Ran { done, failed }) in finished {
        let outcome = match (failed, done.is_empty()) {
            (Some((host, app, error)), _) => RestartOutcome::Failed { host, app, error },
            (None, true) => RestartOutcome::NotDeployed,
            (None, false) => RestartOutcome::Done { apps: done.clone() },
        };
        let r = row(&p, outcome);
        if let Err(e) = record(pool, &p, &done, &r).await {
            tracing::error!(instance = %p.id, error = %crate::db::chain(&e), "cannot record a restart");
        }
        match &r.outcome {
            RestartOutcome::Failed { error, .. } => {
                tracing::warn!(instance = %p.id, error = %error, "restart failed; retried next pass")
            }
            RestartOutcome::NotDeployed => {
                tracing::info!(instance = %p.id, "restart: no app deployed yet, nothing to do")
            }
            _ => tracing::info!(instance = %p.id, apps = done.len(), "restarted"),
        }
        rows.push(r);
    }
    rows
}

/// [`run_restarts`] after a pass of `r` that observed `observed`: with
/// `r`'s desired state, its scope, and shells for every host, the pool's
/// servers included (which `r.shells` alone lacks), those still booting
/// left out.
pub async fn after_pass(r: &Reconciler, pool: &PgPool, observed: &Observed) -> Vec<RestartRow> {
    let desired = match &observed.cloud {
        Some(CloudObservation::Known(servers)) => {
            let booting = r.booting.list();
            let mut ready = servers.clone();
            ready.retain(|s| !booting.contains_key(&s.name));
            Arc::new(r.desired.with_pool_servers(&ready))
        }
        _ => r.desired.clone(),
    };
    let shells = super::pool::extend_shells(&r.shells, &desired.hosts, r.connect.as_ref());
    run_restarts(pool, &desired, observed, &shells, r.scope.as_ref()).await
}

fn row(p: &Pending, outcome: RestartOutcome) -> RestartRow {
    RestartRow {
        instance: p.id.clone(),
        requested_by: p.requested_by.clone(),
        outcome,
    }
}

/// Writes the audit rows of `r` and, when done, `restarted_at` — unless a
/// newer request came meanwhile, which then stays pending.
async fn record(
    pool: &PgPool,
    p: &Pending,
    done: &[(HostName, AppName)],
    r: &RestartRow,
) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    let base = json!({
        "instance": p.id.as_str(),
        "requested_by": p.requested_by,
        "requested_at": p.requested_at,
    });
    let mut entries: Vec<(&str, String, &str, serde_json::Value)> = Vec::new();
    for (host, app) in done {
        let mut d = base.clone();
        d["host"] = json!(host.as_str());
        entries.push(("app.restart", app.to_string(), "ok", d));
    }
    match &r.outcome {
        RestartOutcome::Failed { host, app, error } => {
            let mut d = base.clone();
            d["host"] = json!(host.as_str());
            d["error"] = json!(error);
            entries.push(("app.restart", app.to_string(), "failed", d));
        }
        RestartOutcome::NotDeployed => {
            let mut d = base.clone();
            d["reason"] = json!("no app deployed yet");
            entries.push(("instance.restart", p.id.to_string(), "skipped", d));
        }
        RestartOutcome::Done { .. } | RestartOutcome::Waiting { .. } => {}
    }
    for (action, target, outcome, details) in entries {
        let entry = Audit {
            account: Some(p.account),
            instance: Some(p.row_id),
            actor: "roomctl",
            action,
            target: Some(&target),
            outcome,
            details,
        };
        billing::audit(&mut tx, &entry).await?;
    }
    if r.is_done() {
        sqlx::query(
            "update public.instances set restarted_at = now()
              where id = $1 and restart_requested_at = $2",
        )
        .bind(p.row_id)
        .bind(p.requested_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
