//! The database options and passes `plan`, `apply`, `migrate` and
//! `serve` share: connecting, the pass configuration, and shells and the
//! DNS client kept between passes.

use super::{Connect, Global, fleet, root_secret};
use crate::apply::Shells;
use crate::db;
use crate::desired::{Desired, HostSpec};
use crate::domain::HostName;
use crate::reconcile::database::{PassConfig, ShellSource};
use anyhow::Context;
use clap::Args;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the platform database is.
#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// PostgreSQL URL of the platform database. Prefer the environment
    /// variable: a URL on the command line is visible to other users.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// Connects, or explains that no URL was given.
    pub async fn connect(&self) -> anyhow::Result<sqlx::PgPool> {
        let url = self
            .database_url
            .as_deref()
            .context("no database: set DATABASE_URL or pass --database-url")?;
        db::connect(url, 10, Duration::from_secs(10))
            .await
            .context("cannot connect to the database")
    }
}

/// Shells built from the hosts of a desired state, reused while the hosts
/// stay the same (so SSH connections survive between passes).
pub struct CachedShells {
    connect: Connect,
    cache: Mutex<Option<(BTreeMap<HostName, HostSpec>, Shells)>>,
    dns: Mutex<Option<Arc<dyn crate::dns::DnsProvider>>>,
}

impl CachedShells {
    /// A cache for hosts reached through `connect`.
    pub fn new(connect: Connect) -> Self {
        Self {
            connect,
            cache: Mutex::new(None),
            dns: Mutex::new(None),
        }
    }
}

impl ShellSource for CachedShells {
    fn pool(&self, r: &mut crate::reconcile::Reconciler, cfg: &PassConfig) -> Result<(), String> {
        fleet::pool_setup(r, &cfg.desired_dir, &cfg.templates_dir, &self.connect)
            .map_err(|e| format!("{e:#}"))
    }

    fn shells(&self, desired: &Desired) -> Result<Shells, String> {
        let mut cache = self.cache.lock().expect("shell cache lock");
        if let Some((hosts, shells)) = cache.as_ref()
            && *hosts == desired.hosts
        {
            return Ok(shells.clone());
        }
        let shells = fleet::shells(desired, &self.connect).map_err(|e| format!("{e:#}"))?;
        *cache = Some((desired.hosts.clone(), shells.clone()));
        Ok(shells)
    }

    fn dns(&self, desired: &Desired) -> Result<Option<Arc<dyn crate::dns::DnsProvider>>, String> {
        if desired.dns.is_none() {
            return Ok(None);
        }
        // One client for the process, so its pacing covers every pass.
        let mut cached = self.dns.lock().expect("dns cache lock");
        if cached.is_none() {
            *cached = fleet::dns_provider(desired, &self.connect).map_err(|e| format!("{e:#}"))?;
        }
        Ok(cached.clone())
    }
}

/// A missing nginx binary only weakens the snippet check in the sandbox.
pub fn nginx_test(sandbox: bool) -> crate::desired::nginx::NginxTest {
    match sandbox {
        true => crate::desired::nginx::NginxTest::IfInstalled,
        false => crate::desired::nginx::NginxTest::Required,
    }
}

/// The pass configuration for the global options.
pub fn pass_config(g: &Global, c: &Connect) -> anyhow::Result<PassConfig> {
    Ok(PassConfig {
        desired_dir: g.desired.clone(),
        templates_dir: g.templates.clone(),
        root: root_secret(c.sandbox.is_some())?,
        state_dir: g.state_dir.clone(),
        retries: 3,
        backoff: Duration::from_millis(500),
        deep: c.deep,
        nginx_test: nginx_test(c.sandbox.is_some()),
        acme: crate::apply::certs::AcmeOptions::from_env().map_err(anyhow::Error::msg)?,
        memo: Default::default(),
    })
}

/// `roomctl migrate`.
pub async fn migrate(d: &DbArgs) -> anyhow::Result<ExitCode> {
    let pool = d.connect().await?;
    let before = applied(&pool).await;
    db::migrate(&pool).await.context("migration failed")?;
    let after = applied(&pool).await;
    let latest = db::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if after > before {
        println!(
            "applied {} migration(s); the database is at version {latest}",
            after - before
        );
    } else {
        println!("the database is up to date (version {latest})");
    }
    Ok(ExitCode::SUCCESS)
}

async fn applied(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from _sqlx_migrations where success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// One pass of `roomctl plan` (`apply` false) or `roomctl apply` over the
/// files and the database's instances; `apply` writes the outcome back.
pub async fn pass_with_database(
    g: &Global,
    c: &Connect,
    d: &DbArgs,
    apply: bool,
    force: bool,
) -> anyhow::Result<(crate::plan::Plan, crate::apply::report::Report)> {
    use crate::reconcile::database::{Scope, run};
    let pool = d.connect().await?;
    let cfg = pass_config(g, c)?;
    let shells = CachedShells::new(c.clone());
    let r = run(&cfg, &pool, &shells, &Scope::All, apply, force).await?;
    Ok((r.plan, r.report))
}
