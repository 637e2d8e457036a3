//! Applying a plan.
//!
//! Hosts run concurrently; within a host, apps run concurrently (bounded by
//! the host's shell), and one app's actions run strictly in order. A
//! transient failure (connection dropped, timeout) is retried with
//! exponential backoff; any other failure stops that app only. Before
//! anything runs, the destroy guard checks the plan ([`guards`]). A
//! destroy runs only after its backup is recorded ([`backup`]); a create
//! is journaled until the app carries its mark ([`journal`]).

pub mod backup;
pub mod certs;
pub mod commands;
pub mod fence;
pub mod guards;
pub mod journal;
pub mod report;

use crate::dokku::CommandLine;
use crate::domain::{AppName, HostName};
use crate::plan::{Action, AppPlan, HostPlan, Plan};
use crate::ssh::{Output, RemoteShell, ShellError};
use backup::BackupStore;
use journal::Journal;
use report::{Outcome, Report, Row};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// The shells of the fleet, by host.
pub type Shells = BTreeMap<HostName, Arc<dyn RemoteShell>>;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Retries after the first attempt, for transient failures.
    pub retries: u32,
    /// First backoff; doubles each retry.
    pub backoff: Duration,
    /// Create journal.
    pub journal: Journal,
    /// Backup store.
    pub backups: BackupStore,
    /// The wildcard certificate store (wildcard mode), and the certificates
    /// whose order failed this run.
    pub certs: Option<(
        crate::tls::store::CertStore,
        std::collections::BTreeSet<String>,
    )>,
    /// When set and true, no further action starts (see
    /// `Reconciler::halt`); the app's row reports where it stopped.
    pub halt: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Why one step of an app failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The command could not run (after retries).
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// The command ran and failed.
    #[error("`{command}` exited {code}: {message}")]
    Exit {
        /// Command, secrets masked.
        command: String,
        /// Exit code.
        code: i32,
        /// Dokku's error line.
        message: String,
    },
    /// Writing a backup failed.
    #[error(transparent)]
    Backup(#[from] backup::BackupError),
    /// The create journal could not be written.
    #[error("create journal: {0}")]
    Journal(std::io::Error),
    /// A wildcard certificate could not be installed.
    #[error(transparent)]
    Cert(#[from] certs::InstallError),
    /// Not started: roomctl is stopping or lost the leader lock. The next
    /// run, of this replica or another, carries on.
    #[error("not started: roomctl is stopping or no longer the leader")]
    Halted,
}

impl StepError {
    /// Whether the failure was transient (and retries ran out).
    pub fn is_transient(&self) -> bool {
        matches!(self, StepError::Shell(e) if e.is_transient()) || matches!(self, StepError::Halted)
    }
}

/// Dokku's error text: its ` !     ` lines, else the last stderr line
/// (at most 300 characters).
pub(crate) fn dokku_message(out: &Output) -> String {
    let err = out.stderr_text();
    let bang: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix(" !     "))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let msg = if bang.is_empty() {
        err.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    } else {
        bang.join("; ")
    };
    msg.chars().take(300).collect()
}

/// Runs `c`, retrying transient failures with exponential backoff.
async fn exec_retrying(
    shell: &dyn RemoteShell,
    c: &CommandLine,
    action: &Action,
    opts: &ApplyOptions,
) -> Result<Output, StepError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match shell.exec(c).await {
            Ok(out) if out.code == 0 || commands::already_done(action, attempt, &out) => {
                return Ok(out);
            }
            Ok(out) => {
                return Err(StepError::Exit {
                    command: c.shown(),
                    code: out.code,
                    message: dokku_message(&out),
                });
            }
            Err(e) if e.is_transient() && attempt <= opts.retries => {
                tracing::warn!(command = %c, attempt, error = %e, "transient failure, retrying");
                tokio::time::sleep(opts.backoff * 2u32.saturating_pow(attempt - 1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Carries out one app's actions in order; stops at the first failure.
async fn apply_app(
    shell: Arc<dyn RemoteShell>,
    host: HostName,
    app: AppName,
    p: AppPlan,
    opts: Arc<ApplyOptions>,
) -> Row {
    let mut done = 0;
    for action in &p.actions {
        let halted = opts
            .halt
            .as_ref()
            .is_some_and(|h| h.load(std::sync::atomic::Ordering::SeqCst));
        let step = match halted {
            true => Err(StepError::Halted),
            false => run_action(&*shell, &host, &app, &p, action, &opts).await,
        };
        if let Err(e) = step {
            let what = crate::plan::render::describe(action).join("; ");
            tracing::error!(%host, %app, action = %what, error = %e, "action failed");
            return Row {
                host,
                app,
                instance: p.instance,
                change: p.change,
                outcome: Outcome::Failed {
                    step: what,
                    error: e.to_string(),
                    transient: e.is_transient(),
                },
                done,
            };
        }
        done += 1;
    }
    tracing::info!(%host, %app, actions = done, "app converged");
    Row {
        host,
        app,
        instance: p.instance,
        change: p.change,
        outcome: Outcome::Done,
        done,
    }
}

async fn run_action(
    shell: &dyn RemoteShell,
    host: &HostName,
    app: &AppName,
    p: &AppPlan,
    action: &Action,
    opts: &ApplyOptions,
) -> Result<(), StepError> {
    match action {
        Action::Create => opts
            .journal
            .begin(host, app, &p.instance, &p.role)
            .map_err(StepError::Journal)?,
        Action::InstallCert { cert, names } => {
            let Some((store, failed)) = &opts.certs else {
                return Err(certs::InstallError::Unusable {
                    cert: cert.clone(),
                    why: "no certificate store configured".into(),
                }
                .into());
            };
            return certs::install(shell, app, cert, names, store, failed).await;
        }
        Action::Backup { mounts, .. } if mounts.is_empty() => {
            opts.backups.save_empty(host, app, &p.instance)?;
            return Ok(());
        }
        Action::Backup { mounts, .. } => {
            for (n, (m, c)) in mounts
                .iter()
                .zip(commands::commands(app, action))
                .enumerate()
            {
                let out = exec_retrying(shell, &c, action, opts).await?;
                let rec = opts
                    .backups
                    .save(host, app, &p.instance, m, n, &out.stdout)?;
                tracing::info!(%host, %app, path = %rec.path, size = rec.size, sha256 = %rec.sha256, "backup recorded");
            }
            return Ok(());
        }
        _ => {}
    }
    for c in commands::commands(app, action) {
        let result = exec_retrying(shell, &c, action, opts).await;
        if let (Action::Create, Err(e)) = (action, &result)
            && !e.is_transient()
            && !name_taken(e)
            && !app_exists(shell, app).await
        {
            // Dokku refused the create and no app of that name exists: drop
            // the journal entry, or an app of that name made later by
            // someone else could be mistaken for an interrupted create.
            opts.journal.finish(host, app).map_err(StepError::Journal)?;
        }
        result?;
    }
    if matches!(action, Action::Config { set, .. } if set.keys().any(|k| k.as_str() == crate::observed::marks::INSTANCE))
    {
        opts.journal.finish(host, app).map_err(StepError::Journal)?;
    }
    Ok(())
}

/// Whether Dokku refused a create because the name is now taken. The plan
/// was made when it was free, and it is the name roomctl derives for this
/// desired instance, so the likeliest creator is roomctl itself: the
/// `apps:create` of a run that was killed keeps running on the host. The
/// journal entry is kept, so the next observation adopts the app, and only
/// while it is still unmarked and has no env of anyone's
/// ([`crate::observed`]'s interrupted-create rule).
fn name_taken(e: &StepError) -> bool {
    matches!(e, StepError::Exit { message, .. } if message.contains("Name is already taken"))
}

/// Whether `app` exists on the host after its `apps:create` failed. A
/// create can fail after Dokku made the app: a `post-create` trigger that
/// fails (a full disk, a third-party plugin) exits 1, and a command killed
/// by a signal exits 137, with the app in place. Then the journal entry
/// stays, and the next observation adopts the app while it is unmarked and
/// empty. When the host cannot say, the entry stays too: an orphaned app
/// of ours is worse than an entry for an app that never came.
async fn app_exists(shell: &dyn RemoteShell, app: &AppName) -> bool {
    match shell.exec(&crate::dokku::command::apps_exists(app)).await {
        Ok(out) => out.code == 0,
        Err(_) => true,
    }
}

/// Applies `plan`. The caller has already passed the plan through
/// [`guards::check`]. Unknown hosts are reported, not touched.
pub async fn apply(plan: &Plan, shells: &Shells, opts: ApplyOptions) -> Report {
    let opts = Arc::new(opts);
    let mut set = JoinSet::new();
    let mut rows = vec![];
    for (host, hp) in &plan.hosts {
        let HostPlan::Known { apps } = hp else {
            continue;
        };
        let Some(shell) = shells.get(host) else {
            for (app, p) in apps {
                rows.push(Row {
                    host: host.clone(),
                    app: app.clone(),
                    instance: p.instance.clone(),
                    change: p.change,
                    outcome: Outcome::Failed {
                        step: "connect".into(),
                        error: format!("no shell for host {host}"),
                        transient: false,
                    },
                    done: 0,
                });
            }
            continue;
        };
        for (app, p) in apps {
            set.spawn(apply_app(
                shell.clone(),
                host.clone(),
                app.clone(),
                p.clone(),
                opts.clone(),
            ));
        }
    }
    while let Some(r) = set.join_next().await {
        rows.push(r.expect("apply task panicked"));
    }
    rows.sort_by(|a, b| (&a.host, &a.app).cmp(&(&b.host, &b.app)));
    let unknown = plan
        .unknown_hosts()
        .map(|(h, r)| (h.clone(), r.to_string()))
        .collect();
    Report {
        rows,
        unknown,
        dns: Vec::new(),
        certs: Vec::new(),
        servers: Vec::new(),
        waiting: Vec::new(),
        deferred: Default::default(),
    }
}

#[cfg(test)]
mod tests;
