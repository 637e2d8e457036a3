//! Health checks of running instances, for `roomctl serve`.
//!
//! Every [`HealthSettings::interval`] the daemon calls [`run_round`]: each
//! `running` instance's three endpoints (backend health, frontend, Matrix
//! `/_matrix/client/versions`) are requested concurrently through a
//! [`HealthClient`], instances with bounded concurrency. An endpoint is
//! healthy when it answers 2xx within [`HealthSettings::timeout`]; the
//! Matrix endpoint must also answer JSON with a `versions` array.
//!
//! Each instance's result is written in one statement: `instances`
//! (`health_status`, `last_health_check`, `health_error`,
//! `health_failures_in_row`) and one `health_checks` row, the history
//! [`uptime`] and [`instance_health`] read. The check that makes
//! [`HealthSettings::unhealthy_after`] failures in a row *reports* the
//! instance (once per streak: a `tracing` warning, an `audit_logs` row
//! `health.unhealthy`, [`Round::reported`]) and, with
//! [`HealthSettings::restart_unhealthy`], asks for a restart
//! (`restart_requested_at`, [`Round::restart`]).
//!
//! - [`client`]: the HTTP side ([`HealthClient`], [`EndpointCheck`]);
//! - [`round`]: one round against the database ([`run_round`], [`Round`]);
//! - [`history`]: uptime and the per-instance summary.
//!
//! The settings come from `[platform.health]` in `platform.toml`
//! ([`crate::desired::Platform::health`]).

pub mod client;
pub mod history;
pub mod round;

pub use client::{EndpointCheck, HealthClient, InstanceUrls};
pub(crate) use history::uptime_join;
pub use history::{InstanceHealth, instance_health, uptime};
pub use round::{Health, InstanceResult, Round, run_round};

use crate::db::DbError;
use serde::Serialize;
use std::time::Duration;

/// `[platform.health]`: how often and how instances are checked. Every
/// field has a default ([`HealthSettings::default`]); the loader checks
/// the invariants stated on each field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthSettings {
    /// Time between the starts of two rounds (default 5 minutes, at least
    /// 10 seconds).
    pub interval: Duration,
    /// Longest wait for one endpoint, connection to last body byte
    /// (default 10 seconds; positive and not longer than `interval`).
    pub timeout: Duration,
    /// Failures in a row that report an instance (default 3, at least 1).
    pub unhealthy_after: u32,
    /// Whether a reported instance is also restarted (default off).
    pub restart_unhealthy: bool,
    /// Path of the backend's health endpoint (default `/api/health`).
    pub backend_path: String,
    /// Path requested on the frontend (default `/`).
    pub frontend_path: String,
    /// Path requested on the Matrix server (default
    /// `/_matrix/client/versions`).
    pub matrix_path: String,
    /// Instances checked at the same time (default 16, 1 to 1024).
    pub concurrency: usize,
    /// How long `health_checks` rows are kept (default 35 days, at least
    /// 30 days so that 30-day uptime is complete).
    pub retention: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5 * 60),
            timeout: Duration::from_secs(10),
            unhealthy_after: 3,
            restart_unhealthy: false,
            backend_path: "/api/health".into(),
            frontend_path: "/".into(),
            matrix_path: "/_matrix/client/versions".into(),
            concurrency: 16,
            retention: Duration::from_secs(35 * 24 * 3600),
        }
    }
}

impl HealthSettings {
    /// The path requested on `endpoint`.
    pub fn path(&self, endpoint: Endpoint) -> &str {
        match endpoint {
            Endpoint::Backend => &self.backend_path,
            Endpoint::Frontend => &self.frontend_path,
            Endpoint::Matrix => &self.matrix_path,
        }
    }
}

/// One of the three endpoints of an instance, in the order errors name
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// The backend's health path on `backend_url`.
    Backend,
    /// The frontend path on `frontend_url`.
    Frontend,
    /// The Matrix versions path on `matrix_url`.
    Matrix,
}

impl Endpoint {
    /// All three, in order.
    pub const ALL: [Endpoint; 3] = [Endpoint::Backend, Endpoint::Frontend, Endpoint::Matrix];

    /// `backend`, `frontend` or `matrix`: the name in errors and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Backend => "backend",
            Endpoint::Frontend => "frontend",
            Endpoint::Matrix => "matrix",
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of the health checker itself (never of an instance: those
/// are results). Messages are secret-free; the cause is kept as `source`.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The running instances could not be read: the round checked nothing.
    #[error("reading the running instances")]
    Read(#[source] DbError),
    /// The round's results could not be written: none of them was.
    #[error("recording health check results")]
    Write(#[source] DbError),
    /// The health history could not be read.
    #[error("reading the health history")]
    History(#[source] DbError),
    /// The HTTP client could not be built (TLS backend).
    #[error("building the health check HTTP client")]
    Client(#[source] reqwest::Error),
}

impl HealthError {
    /// Whether trying again later may succeed (the database was
    /// unreachable or lost a race); building the client never does.
    pub fn is_transient(&self) -> bool {
        match self {
            HealthError::Read(e) | HealthError::Write(e) | HealthError::History(e) => {
                e.is_transient()
            }
            HealthError::Client(_) => false,
        }
    }
}
