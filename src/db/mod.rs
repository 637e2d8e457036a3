//! The platform database (PostgreSQL; Supabase in production).
//!
//! [`MIGRATOR`] embeds `migrations/`; [`connect`] opens a pool and
//! [`migrate`] applies what is missing (a second run is a no-op).

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// The migrations under `migrations/`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A failure talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or dropped the connection.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A query failed (constraint, syntax, type).
    #[error("database query failed")]
    Query(#[source] sqlx::Error),
    /// Applying migrations failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    /// Whether retrying later may succeed (the database was unreachable,
    /// timed out, turned connections away, or the transaction lost a
    /// serialization race).
    ///
    /// A server that turns connections away answers the connect with an
    /// error of its own: shutting down or starting up (`57P01`, `57P02`,
    /// `57P03`), too many connections (`53300`), a connection exception
    /// (class `08`), or a database closed to connections for maintenance
    /// (`ALLOW_CONNECTIONS false`: `55000`, "is not currently accepting
    /// connections"). Each passes once the server is back.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Unavailable(_) => true,
            DbError::Query(sqlx::Error::Database(e)) => {
                let code = e.code().unwrap_or_default();
                matches!(
                    &*code,
                    "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300"
                ) || code.starts_with("08")
                    || (code == "55000"
                        && e.message()
                            .contains("is not currently accepting connections"))
            }
            _ => false,
        }
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => DbError::Unavailable(e),
            other => DbError::Query(other),
        }
    }
}

/// Opens a pool of at most `max_connections` to `url`, failing after
/// `timeout` when the database cannot be reached.
pub async fn connect(
    url: &str,
    max_connections: u32,
    timeout: Duration,
) -> Result<PgPool, DbError> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout)
        .connect(url)
        .await?;
    Ok(pool)
}

/// `e` and its causes, `: `-separated: for logs, where only one line is
/// kept.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// Applies every migration not yet applied. Running it twice is a no-op.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

pub mod api_keys;
pub mod billing;
pub mod events;
pub mod lifecycle;
pub mod model;
pub mod operator;
pub mod source;
pub mod writeback;
