//! Observing the whole fleet: every desired host, concurrently.

use super::model::{HostObservation, HostState, Observed, Owner};
use super::read::{ReadError, read_details, read_host};
use crate::apply::Shells;
use crate::apply::journal::Journal;
use crate::desired::Desired;
use crate::domain::HostName;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How to observe.
#[derive(Debug, Clone)]
pub struct ObserveOptions {
    /// Read per-app facts of every roomctl app, not only unvouched ones.
    pub deep: bool,
    /// Attempts per read for transient failures.
    pub attempts: u32,
    /// Backoff between attempts.
    pub backoff: Duration,
    /// For a run scoped to a few instances: hosts where none of them lives
    /// are taken from a recent full observation after one `apps:list`
    /// (see [`super::focus`]).
    pub focus: Option<super::focus::Focus>,
}

impl Default for ObserveOptions {
    fn default() -> Self {
        Self {
            deep: false,
            attempts: 3,
            backoff: Duration::from_millis(200),
            focus: None,
        }
    }
}

async fn retrying<T, F, Fut>(opts: &ObserveOptions, mut f: F) -> Result<T, ReadError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ReadError>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if e.is_transient() && attempt < opts.attempts => {
                tokio::time::sleep(opts.backoff * attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Env keys Dokku itself sets on a new app: `NO_VHOST` on a host without a
/// global vhost (`differential/001`).
const SET_BY_APPS_CREATE: [&str; 1] = ["NO_VHOST"];

/// Marks unmarked apps that the create journal proves are roomctl's: no
/// marks, and no env but what `apps:create` itself sets.
fn adopt_interrupted(host: &HostName, state: &mut HostState, journal: &Journal) {
    for (name, app) in state.apps.iter_mut() {
        if app.owner == Owner::Foreign
            && app
                .env
                .keys()
                .all(|k| SET_BY_APPS_CREATE.contains(&k.as_str()))
            && let Some((instance, role)) = journal.pending(host, name)
        {
            app.owner = Owner::Interrupted { instance, role };
        }
    }
}

async fn observe_host(
    desired: Arc<Desired>,
    host: HostName,
    shell: Arc<dyn crate::ssh::RemoteShell>,
    journal: Journal,
    opts: ObserveOptions,
) -> HostObservation {
    if let Some(focus) = &opts.focus
        && let Some(state) = super::focus::quiet_host(&desired, &host, &shell, focus).await
    {
        return HostObservation::Known(state);
    }
    let result = async {
        let reads = super::read::HostReads {
            nginx: desired.nginx.is_some(),
            owner: desired.platform.owner.clone(),
        };
        let observed = retrying(&opts, || super::observe::read_host(&*shell, &reads)).await?;
        let mut state = match observed {
            super::observe::Outcome::Read(state) => state,
            super::observe::Outcome::NoPlugin(why) => {
                tracing::info!(%host, %why, "reading with Dokku's own commands");
                retrying(&opts, || read_host(shell.clone(), &reads)).await?
            }
        };
        adopt_interrupted(&host, &mut state, &journal);
        let wanted = crate::plan::needs_detail(&desired, &state, opts.deep);
        if !wanted.is_empty() {
            let details = retrying(&opts, || read_details(shell.clone(), &wanted, &reads)).await?;
            for (name, d) in details {
                if let Some(app) = state.apps.get_mut(&name) {
                    app.detail = Some(d);
                }
            }
        }
        Ok::<_, ReadError>(state)
    }
    .await;
    match result {
        Ok(state) => HostObservation::Known(state),
        Err(e) => {
            tracing::warn!(%host, error = %e, "host unknown this run");
            HostObservation::Unknown {
                reason: e.to_string(),
            }
        }
    }
}

/// Observes every host of `desired`. A host without a shell, or one that
/// cannot be read in full, is [`HostObservation::Unknown`].
pub async fn observe(
    desired: &Arc<Desired>,
    shells: &Shells,
    journal: &Journal,
    opts: &ObserveOptions,
) -> Observed {
    let mut set = JoinSet::new();
    let mut observed = Observed {
        at: Some(chrono::Utc::now().timestamp()),
        ..Observed::default()
    };
    for host in desired.hosts.keys() {
        match shells.get(host) {
            Some(shell) => {
                set.spawn({
                    let (d, h, s, j, o) = (
                        desired.clone(),
                        host.clone(),
                        shell.clone(),
                        journal.clone(),
                        opts.clone(),
                    );
                    async move { (h.clone(), observe_host(d, h, s, j, o).await) }
                });
            }
            None => {
                observed.hosts.insert(
                    host.clone(),
                    HostObservation::Unknown {
                        reason: "no connection configured".into(),
                    },
                );
            }
        }
    }
    while let Some(r) = set.join_next().await {
        let (h, o) = r.expect("observe task panicked");
        observed.hosts.insert(h, o);
    }
    observed
}
