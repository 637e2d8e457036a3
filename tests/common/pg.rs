//! Throwaway PostgreSQL databases for tests.
//!
//! The server is `ROOMCTL_TEST_DATABASE_URL` when set (its user must be
//! allowed to CREATE DATABASE, and a superuser for the RLS tests' SET ROLE);
//! otherwise `scripts/test-postgres` starts (once per test process, and
//! only if it is not running already) a local throwaway cluster and prints
//! its URL. Every test gets its own freshly created database, so tests run
//! concurrently without seeing each other's rows. Databases are not
//! dropped; `scripts/test-postgres stop` and removing its data dir does.

use sqlx::{Connection, PgConnection, PgPool};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A database of its own for one test.
pub struct TestDb {
    /// At most a few connections to `name`, as the tables' owner.
    pub pool: PgPool,
    /// The URL of `name` (for opening more connections).
    pub url: String,
    /// The database's name, `t_<pid>_<counter>_<random>`.
    pub name: String,
}

/// A fresh database with every migration applied.
pub async fn test_db() -> TestDb {
    let db = empty_test_db().await;
    roomctl::db::migrate(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("migrating test database {}: {e}", db.name));
    db
}

/// A fresh, empty database (no migrations).
pub async fn empty_test_db() -> TestDb {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let server = server_url();
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut admin = PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test server {server}: {e}"));
    // template0 takes no connections, so concurrent CREATE DATABASEs never
    // trip over "source database is being accessed by other users".
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "create database \"{name}\" template template0 encoding 'UTF8'"
    )))
    .execute(&mut admin)
    .await
    .unwrap_or_else(|e| panic!("creating test database {name} on {server}: {e}"));
    let _ = admin.close().await;

    let url = with_database(server, &name);
    let pool = roomctl::db::connect(&url, 4, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("connecting to test database {url}: {e}"));
    TestDb { pool, url, name }
}

/// The URL of the test server (its maintenance database).
pub fn server_url() -> &'static str {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    match SERVER.get_or_init(find_or_start_server) {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    }
}

fn find_or_start_server() -> Result<String, String> {
    if let Ok(url) = std::env::var("ROOMCTL_TEST_DATABASE_URL")
        && !url.trim().is_empty()
    {
        return Ok(url.trim().to_string());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-postgres");
    let installed = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|v| v.path().join("bin/postgres").is_file())
        || super::require::find("postgres").is_some();
    if !installed {
        return Err(format!(
            "{} (the database tests start a throwaway cluster with {}, or use \
             ROOMCTL_TEST_DATABASE_URL, a superuser URL)",
            super::require::missing("PostgreSQL's server", "Debian package `postgresql`"),
            script.display()
        ));
    }
    let help = format!(
        "The database tests need PostgreSQL (13 or later): run scripts/test, which \
         installs it (Debian package `postgresql`; as root the OS user `postgres` must \
         exist, which that package creates) and starts `{script}`, a throwaway cluster \
         on 127.0.0.1:${{ROOMCTL_TEST_PG_PORT:-55432}}; check that running it by hand \
         prints a postgres:// URL. Or set \
         ROOMCTL_TEST_DATABASE_URL=postgres://USER@HOST:PORT/postgres to a server where \
         USER is a superuser (the tests create databases and roles).",
        script = script.display()
    );
    let out = Command::new(&script)
        .output()
        .map_err(|e| format!("could not run {}: {e}\n{help}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let url = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .filter(|l| l.starts_with("postgres://"));
    match (out.status.success(), url) {
        (true, Some(url)) => Ok(url.to_string()),
        _ => Err(format!(
            "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n{help}",
            script.display(),
            out.status
        )),
    }
}

/// `url` with its database replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}
