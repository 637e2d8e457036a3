//! The admin API under `/api/`, for operators holding an API key (see
//! [`super::auth`]; create one with `roomctl api-key create`):
//!
//! - `GET /api/instances` (read): every live database instance, by id,
//!   with its status, health, uptime (24 h and 30 d), host, operator
//!   overrides, what it wants now and whether the latest fleet view finds
//!   it drifted (`null` before the first view);
//! - `GET /api/instances/{id}` (read): one of them;
//! - `POST /api/instances/{id}/start|stop|restart` (write): changes the
//!   instance's desired state ([`crate::db::operator`]), so the change
//!   survives every later pass, and queues the instance; 202 with the new
//!   desired state, 404 for an unknown instance, 409 for one declared in
//!   `desired-state/instances/*.toml` or a restart of a stopped one;
//! - `POST /api/reconcile` (write): `{"instances": ["acme"]}` queues those
//!   instances, no body (or `{}`) a full resync; 202 with what was queued;
//! - `GET /api/plan` (read): the pending plan from a fleet view at most
//!   15 s old; 503 with the reason when none can be computed.
//!
//! Every other request under `/api/` is authenticated before it is
//! answered 404 (or 405), so without a valid key nothing, not even which
//! paths exist, can be learned. Path ids must be valid instance ids (400).

use super::auth::{Reader, Writer};
use super::{AppState, Reason};
use crate::db::DbError;
use crate::db::operator::{self, Action, FileInstances, InstanceInfo, OperatorError};
use crate::desired::{FileSource, InstanceSource, Source};
use crate::domain::{InstanceId, Label};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// How old a fleet view `GET /api/plan` accepts before computing anew.
pub const PLAN_MAX_AGE: Duration = Duration::from_secs(15);

/// The admin routes, to merge into [`super::router`].
pub fn routes() -> Router<Arc<AppState>> {
    let only = |m: MethodRouter<Arc<AppState>>| m.fallback(not_allowed);
    Router::new()
        .route("/api/instances", only(get(list)))
        .route("/api/instances/{id}", only(get(detail)))
        .route("/api/instances/{id}/start", only(post(start)))
        .route("/api/instances/{id}/stop", only(post(stop)))
        .route("/api/instances/{id}/restart", only(post(restart)))
        .route("/api/reconcile", only(post(reconcile)))
        .route("/api/plan", only(get(plan)))
        .route("/api", any(unknown))
        .route("/api/", any(unknown))
        .route("/api/{*rest}", any(unknown))
}

/// A refused admin request, answered `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405, after authentication.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the instance's state or source.
    #[error("{0}")]
    Conflict(String),
    /// 503: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the details are in the log only.
    #[error("internal error; see roomctl's log")]
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %crate::db::chain(&e), "admin API: database error");
        if e.is_transient() {
            ApiError::Unavailable("the database is unavailable; retry later".into())
        } else {
            ApiError::Internal
        }
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::NotFound(_) => ApiError::NotFound(e.to_string()),
            OperatorError::InFile { .. } | OperatorError::NotRunning { .. } => {
                ApiError::Conflict(e.to_string())
            }
            OperatorError::Db(e) => e.into(),
        }
    }
}

/// An instance with its drift: whether the latest fleet view plans
/// changes for it (`None` before the first view).
#[derive(Debug, Serialize)]
struct Listed {
    #[serde(flatten)]
    instance: InstanceInfo,
    drift: Option<bool>,
}

fn with_drift(app: &AppState, instances: Vec<InstanceInfo>) -> Vec<Listed> {
    let view = app.fleet.latest();
    instances
        .into_iter()
        .map(|i| Listed {
            drift: view.as_ref().map(|v| v.drifted.contains(&i.id)),
            instance: i,
        })
        .collect()
}

fn parse_id(raw: &str) -> Result<InstanceId, ApiError> {
    InstanceId::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// An instance declared in a `desired-state/instances/` file: no row,
/// so no status or health; its host and drift come from the fleet view.
#[derive(Debug, Serialize)]
struct FromFile {
    id: String,
    source: String,
    host: Option<String>,
    drift: Option<bool>,
}

fn from_files(app: &AppState, files: FileInstances, skip: &[String]) -> Vec<FromFile> {
    let view = app.fleet.latest();
    files
        .into_iter()
        .filter(|(id, _)| !skip.contains(&id.to_string()))
        .map(|(id, source)| FromFile {
            host: view
                .as_ref()
                .and_then(|v| v.placements.get(id.as_str()).cloned()),
            drift: view.as_ref().map(|v| v.drifted.contains(id.as_str())),
            id: id.to_string(),
            source,
        })
        .collect()
}

/// Database instances first (by id), then those declared in files.
async fn list(
    _: Reader,
    State(app): State<Arc<AppState>>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let now = chrono::Utc::now();
    let all = operator::list(&app.pool, &app.processor.policy, now).await?;
    let ids: Vec<String> = all.iter().map(|i| i.id.clone()).collect();
    let files = declared_in_files(&app).await?;
    let mut out: Vec<serde_json::Value> = with_drift(&app, all)
        .into_iter()
        .map(|l| json!(l))
        .collect();
    out.extend(from_files(&app, files, &ids).into_iter().map(|f| json!(f)));
    Ok(Json(out))
}

async fn detail(
    _: Reader,
    State(app): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&raw)?;
    let now = chrono::Utc::now();
    if let Some(found) = operator::get(&app.pool, &id, &app.processor.policy, now).await? {
        return Ok(Json(json!(with_drift(&app, vec![found]).remove(0))));
    }
    let files = declared_in_files(&app).await?;
    from_files(&app, files, &[])
        .into_iter()
        .find(|f| f.id == id.as_str())
        .map(|f| Json(json!(f)))
        .ok_or_else(|| ApiError::NotFound(format!("no instance `{id}`")))
}

/// The instances the snapshot's `instances/*.toml` declare, read off the
/// async runtime, each with where the operator edits it (a path in
/// `desired-state/`, not in the snapshot). Files with errors cannot tell:
/// the action is refused (503).
async fn declared_in_files(app: &AppState) -> Result<FileInstances, ApiError> {
    let (dir, shown) = (app.desired_dir.clone(), app.desired_shown.clone());
    let instances_dir = dir.join("instances");
    let read = tokio::task::spawn_blocking(move || {
        let dir = instances_dir;
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let tier = Label::parse("free").expect("a valid label");
        FileSource::new(dir, tier).instances()
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    let instances = read.map_err(|e| {
        tracing::warn!(
            problems = e.problems().len(),
            "admin API: desired-state/instances has errors"
        );
        ApiError::Unavailable(
            "desired-state/instances/ has errors, so which instances it declares is unknown; \
             fix them (see `roomctl validate`) and retry"
                .into(),
        )
    })?;
    Ok(instances
        .into_iter()
        .map(|i| {
            let at = match i.source {
                Source::File { path, line } => {
                    let path = path
                        .strip_prefix(&dir)
                        .map_or_else(|_| path.clone(), |rel| shown.join(rel));
                    Source::File { path, line }
                }
                other => other,
            };
            (i.id, at.to_string())
        })
        .collect())
}

async fn act(
    Writer(caller): Writer,
    app: Arc<AppState>,
    raw: String,
    action: Action,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let id = parse_id(&raw)?;
    let files = declared_in_files(&app).await?;
    let policy = app.processor.policy;
    let actor = caller.actor();
    let acted = operator::act(&app.pool, &policy, &files, &id, action, &actor)
        .await
        .inspect_err(|e| {
            tracing::info!(key = %caller.name, instance = %id, action = action.as_str(), refused = %e, "operator action refused")
        })?;
    app.queue.instance(id.clone(), Reason::Admin);
    tracing::info!(key = %caller.name, instance = %id, action = action.as_str(), changed = acted.changed, "operator action");
    let instance = with_drift(&app, vec![acted.instance]).remove(0);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "action": action.as_str(),
            "changed": acted.changed,
            "queued": [id.as_str()],
            "instance": instance,
        })),
    ))
}

async fn start(
    w: Writer,
    State(app): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    act(w, app, raw, Action::Start).await
}

async fn stop(
    w: Writer,
    State(app): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    act(w, app, raw, Action::Stop).await
}

async fn restart(
    w: Writer,
    State(app): State<Arc<AppState>>,
    Path(raw): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    act(w, app, raw, Action::Restart).await
}

/// `POST /api/reconcile`'s optional body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileBody {
    /// Only these instances; absent: the whole fleet.
    instances: Option<Vec<String>>,
}

async fn reconcile(
    Writer(caller): Writer,
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body: ReconcileBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReconcileBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?
    };
    let queued = match body.instances {
        None => {
            app.queue.full(Reason::Admin);
            json!({ "full": true, "instances": [] })
        }
        Some(list) if list.is_empty() => {
            return Err(ApiError::BadRequest(
                "`instances` is empty; send no body for a full resync".into(),
            ));
        }
        Some(list) => {
            let ids = list
                .iter()
                .map(|s| parse_id(s))
                .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
            for id in &ids {
                app.queue.instance(id.clone(), Reason::Admin);
            }
            json!({ "full": false, "instances": ids })
        }
    };
    tracing::info!(key = %caller.name, queued = %queued, "reconcile requested");
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": queued }))))
}

async fn plan(
    _: Reader,
    State(app): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let view = app.fleet.get(PLAN_MAX_AGE).await.map_err(|reason| {
        ApiError::Unavailable(format!("cannot compute the plan now: {reason}"))
    })?;
    Ok(Json(json!({
        "computed_at": view.computed_at,
        "changes": view.changes,
        "plan": view.plan_text,
        "drifted": view.drifted,
        "hosts": view.hosts,
    })))
}

async fn unknown(_: Reader) -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn not_allowed(_: Reader) -> ApiError {
    ApiError::MethodNotAllowed
}
