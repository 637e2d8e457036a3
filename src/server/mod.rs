//! `roomctl serve`: the HTTP endpoints and the reconcile worker.
//!
//! - `POST /webhooks/stripe`: see [`webhook`].
//! - `GET /healthz`: 200 while the process serves.
//! - `GET /status`: the worker's counters as JSON.
//!
//! A webhook that changes an account's subscription wakes the worker
//! ([`Trigger`]) for that account's instances at once; a full pass also
//! runs at start and every interval.

pub mod trigger;
pub mod webhook;
pub mod worker;

pub use trigger::Trigger;
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

/// What the handlers share.
pub struct AppState {
    /// Signature verification.
    pub verifier: Verifier,
    /// Event processing.
    pub processor: Processor,
    /// Wakes the worker.
    pub trigger: Trigger,
    /// The clock for signature timestamps.
    pub clock: Clock,
    /// The worker's status.
    pub status: Arc<Mutex<WorkerStatus>>,
}

/// The HTTP routes, with the 1 MiB body limit.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/stripe", post(webhook::stripe))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY))
        .with_state(state)
}

async fn status(State(app): State<Arc<AppState>>) -> axum::Json<WorkerStatus> {
    axum::Json(app.status.lock().expect("status lock").clone())
}
