//! The database going away mid-pass: a database instance onboarded by a
//! real pass (`reconcile::database::run`) while PostgreSQL stops taking
//! connections and ends the open ones (`ALLOW_CONNECTIONS false` and
//! `pg_terminate_backend`, as a failover or a restart does).

use crate::common::app::{SandboxShells, billing_fixture};
use crate::common::desired::{Fixture, root};
use crate::common::faults::{self, Faults, Hook};
use crate::common::instances::seed_instance;
use crate::common::pg::{TestDb, server_url, test_db};
use crate::trial::{clean, not_converged};
use roomctl::apply::Shells;
use roomctl::apply::backup::BackupStore;
use roomctl::desired::Desired;
use roomctl::reconcile::database::{PassConfig, PassError, PassResult, Scope, ShellSource, run};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// The sandbox's shells, every command going through the faults.
struct Source {
    dir: std::path::PathBuf,
    faults: Arc<Faults>,
}

impl ShellSource for Source {
    fn shells(&self, desired: &Desired) -> Result<Shells, String> {
        let shells = SandboxShells {
            dir: self.dir.clone(),
            costs: None,
        }
        .shells(desired)?;
        Ok(faults::wrap(shells, &self.faults))
    }
}

/// A fresh database holding instance `acme`, still to be provisioned, and
/// an empty sandbox.
pub struct World {
    db: TestDb,
    /// The pass's own pool: it gives up on a refused connect in 2 s.
    pool: PgPool,
    cfg: PassConfig,
    sandbox: tempfile::TempDir,
    _fixture: Fixture,
}

impl World {
    /// The world, nothing applied yet.
    pub async fn new() -> Self {
        let db = test_db().await;
        seed_instance(&db.pool, "acme", "active").await;
        sqlx::query("update public.instances set status = 'provisioning', host = null")
            .execute(&db.pool)
            .await
            .unwrap();
        let fixture = billing_fixture();
        std::fs::remove_file(fixture.desired().join("dns.toml")).unwrap();
        let sandbox = tempfile::tempdir().unwrap();
        let cfg = PassConfig {
            desired_dir: fixture.desired(),
            templates_dir: fixture.dir.path().join("templates"),
            root: root(),
            state_dir: sandbox.path().join("state"),
            retries: 2,
            backoff: Duration::from_millis(1),
            deep: false,
            nginx_test: Default::default(),
            acme: Default::default(),
            memo: Default::default(),
        };
        let pool = roomctl::db::connect(&db.url, 4, Duration::from_secs(2))
            .await
            .unwrap();
        Self {
            db,
            pool,
            cfg,
            sandbox,
            _fixture: fixture,
        }
    }

    /// Faults calling `hook` at command `n` (no hook: none).
    pub fn faults(&self, hook: Option<(usize, Hook)>) -> Arc<Faults> {
        let backups = BackupStore::new(self.sandbox.path().join("state/backups"));
        match hook {
            Some((n, hook)) => Faults::calling(n, hook, backups),
            None => Faults::new(None, backups),
        }
    }

    /// One pass over everything through `faults`.
    pub async fn pass(&self, apply: bool, faults: &Arc<Faults>) -> Result<PassResult, PassError> {
        let source = Source {
            dir: self.sandbox.path().to_path_buf(),
            faults: faults.clone(),
        };
        run(&self.cfg, &self.pool, &source, &Scope::All, apply, false).await
    }

    /// What turns the database away: no new connections, the open ones
    /// ended.
    pub fn away(&self) -> Hook {
        let name = self.db.name.clone();
        Box::new(move || {
            psql(&[
                &format!("alter database \"{name}\" allow_connections false"),
                &format!(
                    "select pg_terminate_backend(pid) from pg_stat_activity \
                     where datname = '{name}' and pid <> pg_backend_pid()"
                ),
            ]);
        })
    }

    /// The database takes connections again.
    pub fn back(&self) {
        let name = &self.db.name;
        psql(&[&format!("alter database \"{name}\" allow_connections true")]);
    }

    /// The instance row's status and host.
    pub async fn row(&self) -> (String, Option<String>) {
        sqlx::query_as("select status::text, host from public.instances")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The test database's URL.
    pub fn url(&self) -> &str {
        &self.db.url
    }

    /// After the database came back: a pass converges the fleet and
    /// records the instance running. Returns the broken invariants.
    pub async fn converges(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.pass(true, &self.faults(None)).await {
            Ok(r) if clean(&r.report) => {}
            Ok(r) => problems.push(format!("the next pass failed:\n{}", r.report.table())),
            Err(e) => problems.push(format!("the next pass failed: {e}")),
        }
        match self.pass(false, &self.faults(None)).await {
            Ok(r) => problems.extend(not_converged(&r.plan)),
            Err(e) => problems.push(format!("the plan after failed: {e}")),
        }
        let row = self.row().await;
        if row.0 != "running" || row.1.is_none() {
            problems.push(format!("the instance row says {row:?}"));
        }
        problems
    }
}

/// Runs `commands` as the test server's superuser.
pub fn psql(commands: &[&str]) {
    let mut c = std::process::Command::new("psql");
    c.arg(server_url())
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    for sql in commands {
        c.args(["-c", sql]);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "psql: {out:?}");
}

/// One trial: the database goes away as command `n` of the pass is
/// issued. The pass must fail (its outcome could not be recorded), and,
/// once the database is back, the next pass converges.
pub async fn trial(n: usize) -> Vec<String> {
    let w = World::new().await;
    let faults = w.faults(Some((n, w.away())));
    let result = w.pass(true, &faults).await;
    w.back();
    let mut problems = Vec::new();
    match result {
        Ok(r) => problems.push(format!(
            "the pass succeeded though the database went away:\n{}",
            r.report.table()
        )),
        Err(e) if !e.is_transient() => {
            problems.push(format!("a permanent failure: {}", roomctl::db::chain(&e)))
        }
        Err(_) => {}
    }
    problems.extend(w.converges().await);
    if !problems.is_empty() {
        let cmd = faults.log().get(n - 1).cloned().unwrap_or_default();
        problems.insert(0, format!("database away at command {n} ({cmd})"));
    }
    problems
}
