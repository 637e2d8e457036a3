//! `roomctl serve`: the always-on reconciler and its HTTP endpoints.
//!
//! - [`queue`]: the one work queue every trigger goes through;
//! - [`worker`]: takes batches from it and runs reconcile passes, only
//!   while this replica holds the [`leader`] lock;
//! - [`files`]: watches `desired-state/`, validates edits and keeps the
//!   last good copy that passes read;
//! - [`webhook`]: `POST /webhooks/stripe`;
//! - [`admin`]: the API-key-protected admin API under `/api/`, with
//!   [`auth`];
//! - [`status_page`]: the server-rendered status page at `/`;
//! - [`metrics`]: `GET /metrics` in the Prometheus text format;
//! - [`view`]: the fleet as the status page and the API show it, from a
//!   read-only plan, cached briefly;
//! - `GET /healthz`: 200 while the process serves (no key needed).

pub mod admin;
pub mod auth;
pub mod files;
pub mod health_loop;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod queue;
pub mod runs;
pub mod status_data;
pub mod status_page;
pub mod view;
pub mod webhook;
pub mod worker;

pub use queue::{Reason, WorkQueue};
pub use worker::{Worker, WorkerStatus};

use crate::webhook::{Processor, Verifier};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use std::sync::{Arc, Mutex};

/// The clock the signature check uses, in unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp())
}

/// This process among the replicas.
#[derive(Debug, Clone)]
pub struct Replica {
    /// `hostname:pid` unless set with `--replica`.
    pub name: String,
    /// Whether this replica holds the leader lock now.
    pub leader: tokio::sync::watch::Receiver<bool>,
}

impl Replica {
    /// A replica that is always the leader (tests, single-process use).
    pub fn solo(name: &str) -> Self {
        Self {
            name: name.to_string(),
            leader: tokio::sync::watch::channel(true).1,
        }
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }
}

/// Resolves when `leader` turns false. A closed channel (a replica that
/// leads for good) never resolves.
pub async fn lost(mut leader: tokio::sync::watch::Receiver<bool>) {
    if leader.wait_for(|l| !*l).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What the handlers share.
pub struct AppState {
    /// Signature verification.
    pub verifier: Verifier,
    /// Event processing.
    pub processor: Processor,
    /// The platform database.
    pub pool: sqlx::PgPool,
    /// The work queue (forwarded to the leader when this replica is not).
    pub queue: WorkQueue,
    /// The clock for signature timestamps.
    pub clock: Clock,
    /// The worker's status.
    pub status: Arc<Mutex<WorkerStatus>>,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// The fleet view (hosts, pending plan, drift), computed on demand.
    pub fleet: Arc<view::FleetCache>,
    /// This replica.
    pub replica: Replica,
    /// The status page's templates.
    pub pages: Arc<tera::Tera>,
    /// The desired-state directory passes read (the last good snapshot):
    /// the admin API refuses to change instances declared in its files.
    pub desired_dir: std::path::PathBuf,
    /// The operator's desired-state directory, which `desired_dir` is a
    /// snapshot of: messages name files there, where they are edited.
    pub desired_shown: std::path::PathBuf,
}

impl AppState {
    /// State with the wall clock, fresh metrics and status, and no page
    /// templates (see [`status_page::load_pages`]).
    pub fn new(
        verifier: Verifier,
        processor: Processor,
        pool: sqlx::PgPool,
        queue: WorkQueue,
        fleet: Arc<view::FleetCache>,
        replica: Replica,
        desired_dir: std::path::PathBuf,
    ) -> Self {
        Self {
            verifier,
            processor,
            pool,
            queue,
            clock: system_clock(),
            status: Arc::new(Mutex::new(WorkerStatus::default())),
            metrics: Arc::new(metrics::Metrics::new()),
            fleet,
            replica,
            pages: Arc::new(tera::Tera::default()),
            desired_shown: desired_dir.clone(),
            desired_dir,
        }
    }
}

/// The HTTP routes, with the 1 MiB body limit.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/stripe", post(webhook::stripe))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::handler))
        .route("/status.json", get(status))
        .merge(admin::routes())
        .merge(status_page::routes())
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY))
        .with_state(state)
}

async fn status(_: auth::Reader, State(app): State<Arc<AppState>>) -> axum::Json<WorkerStatus> {
    axum::Json(app.status.lock().expect("status lock").clone())
}
