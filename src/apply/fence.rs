//! The fence: no two roomctl processes (CLI runs, `serve` replicas) ever
//! change one host at the same time.
//!
//! Before a run changes a host, it holds `roomctl:fence HOLDER` there
//! (roomctl's Dokku plugin: an exclusive `flock` on the host, kept for as
//! long as the command runs, [`RemoteShell::hold`]) on every host its plan
//! changes, observes those hosts again and plans again under the fence,
//! and only then applies ([`confine`] drops changes on any other host). A
//! host whose fence another run holds is unknown for this run: nothing is
//! read or run there. The fence belongs to the holding process's session,
//! so a killed run (kill -9, a lost connection, a leader that died) leaves
//! no stale fence: the host releases it when the session closes. Reads are
//! not fenced: a pass with nothing to change changes nothing, so a no-op
//! pass costs no extra command.
//!
//! A host whose plugin has no `roomctl:fence` (older than this release),
//! or a shell that cannot hold a command, is applied to without a fence,
//! with a warning in the log.

use super::Shells;
use crate::dokku::CommandLine;
use crate::domain::HostName;
use crate::ssh::{Held, RemoteShell, ShellError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the output line of a held fence says.
const HELD: &str = "roomctl-fence held";
/// The start of the line of a fence someone else holds.
const BUSY: &str = "roomctl-fence busy";

/// One host's fence, as asked.
#[derive(Debug)]
pub enum Fence {
    /// This run holds it until the value is dropped.
    Held(Held),
    /// Another run holds it.
    Busy {
        /// Who, as the host said.
        holder: String,
    },
    /// The host cannot fence (older plugin, a shell that cannot hold a
    /// command, or the command failed): applied to without a fence.
    Unfenced {
        /// Why.
        why: String,
    },
}

/// Who this process is, as a fence holder: `HOSTNAME:PID:STARTED`
/// (the host name cut to the characters the plugin accepts).
pub fn holder() -> String {
    let host: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(64)
        .collect();
    static STARTED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let host = if host.is_empty() {
        "roomctl".into()
    } else {
        host
    };
    format!("{host}:{}:{started}", std::process::id())
}

/// The command that holds the fence for `holder`.
pub fn command(holder: &str) -> CommandLine {
    CommandLine::raw(&["roomctl:fence", holder])
        .unwrap_or_else(|_| CommandLine::raw(&["roomctl:fence", "roomctl"]).expect("a safe token"))
}

/// Asks `shell`'s host for its fence.
pub async fn acquire(shell: &dyn RemoteShell, holder: &str) -> Fence {
    let held = match shell.hold(&command(holder)).await {
        Ok(Some(h)) => h,
        Ok(None) => {
            return Fence::Unfenced {
                why: "this shell cannot hold a command".into(),
            };
        }
        Err(e) => return Fence::Unfenced { why: e.to_string() },
    };
    if held.ended.is_none() && held.first_line == HELD {
        return Fence::Held(held);
    }
    if let Some(rest) = held.first_line.strip_prefix(BUSY) {
        return Fence::Busy {
            holder: match rest.trim() {
                "" => "unknown".into(),
                h => h.to_string(),
            },
        };
    }
    let why = match &held.ended {
        Some((_, err)) if err.contains("is not a dokku command") => {
            "roomctl's Dokku plugin on the host has no roomctl:fence (older than this roomctl)"
                .to_string()
        }
        Some((code, err)) => format!(
            "roomctl:fence exited {code}: {}",
            err.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>()
        ),
        None => format!(
            "roomctl:fence answered {:?}",
            held.first_line.chars().take(80).collect::<String>()
        ),
    };
    Fence::Unfenced { why }
}

/// A fence this run holds, released when the last clone is dropped.
pub type HeldFence = Arc<std::sync::Mutex<Held>>;

/// The fences a run asked for.
#[derive(Debug, Default)]
pub struct Acquired {
    /// The fences held (kept until dropped).
    pub held: Vec<HeldFence>,
    /// The hosts another run holds, with who holds them.
    pub busy: BTreeMap<HostName, String>,
    /// The hosts whose fence this process did not hold since before the
    /// run began reading: another process may have changed them while the
    /// run read them, so they are read again under the fence.
    pub fresh: std::collections::BTreeSet<HostName>,
}

/// Asks every host of `shells` for its fence, all at once.
pub async fn acquire_all(shells: &Shells, holder: &str) -> Acquired {
    let (held, busy) = acquire_each(shells, holder).await;
    Acquired {
        fresh: held.iter().map(|(h, _)| h.clone()).collect(),
        held: held
            .into_iter()
            .map(|(_, h)| Arc::new(std::sync::Mutex::new(h)))
            .collect(),
        busy,
    }
}

async fn acquire_each(
    shells: &Shells,
    holder: &str,
) -> (Vec<(HostName, Held)>, BTreeMap<HostName, String>) {
    let mut asked = tokio::task::JoinSet::new();
    for (h, s) in shells {
        let (h, s, holder) = (h.clone(), s.clone(), holder.to_string());
        asked.spawn(async move { (h, acquire(&*s, &holder).await) });
    }
    let mut held = Vec::new();
    let mut busy = BTreeMap::new();
    while let Some(r) = asked.join_next().await {
        let (host, fence) = r.expect("fence task panicked");
        match fence {
            Fence::Held(h) => held.push((host, h)),
            Fence::Busy { holder } => {
                tracing::warn!(%host, %holder, "another roomctl run holds this host's fence");
                busy.insert(host, holder);
            }
            Fence::Unfenced { why } => {
                tracing::warn!(%host, %why, "applying without a fence");
            }
        }
    }
    (held, busy)
}

/// The fences of one process, shared by its passes that run at once
/// (`serve` runs resyncs and webhook passes side by side): a pass that
/// needs a host whose fence another pass of the process holds shares it
/// instead of finding it busy. Instances are kept apart by claims
/// (`crate::reconcile::Claim`), hosts from other processes by the fence.
#[derive(Debug, Default)]
pub struct FenceShare {
    held: tokio::sync::Mutex<BTreeMap<HostName, Shared>>,
}

/// A fence of the process, and when it was taken.
#[derive(Debug)]
struct Shared {
    fence: std::sync::Weak<std::sync::Mutex<Held>>,
    since: tokio::time::Instant,
}

impl FenceShare {
    /// Like [`acquire_all`], reusing the fences this process holds; a
    /// fence held since before `reading` (when the run began reading the
    /// fleet) is not [`Acquired::fresh`].
    pub async fn acquire_all(
        &self,
        shells: &Shells,
        holder: &str,
        reading: tokio::time::Instant,
    ) -> Acquired {
        let mut map = self.held.lock().await;
        map.retain(|_, s| s.fence.strong_count() > 0);
        let mut out = Acquired::default();
        let mut missing = Shells::new();
        for (h, s) in shells {
            match map.get(h).and_then(|s| Some((s.fence.upgrade()?, s.since))) {
                Some((f, since)) => {
                    out.held.push(f);
                    if since >= reading {
                        out.fresh.insert(h.clone());
                    }
                }
                None => {
                    missing.insert(h.clone(), s.clone());
                }
            }
        }
        let (new, busy) = acquire_each(&missing, holder).await;
        let since = tokio::time::Instant::now();
        for (host, held) in new {
            let f = Arc::new(std::sync::Mutex::new(held));
            let fence = Arc::downgrade(&f);
            map.insert(host.clone(), Shared { fence, since });
            out.fresh.insert(host);
            out.held.push(f);
        }
        out.busy = busy;
        out
    }
}

/// Leaves `plan` changing only the hosts of `fenced` (the ones whose
/// fence this run asked for): a host it did not ask for, where the plan
/// made under the fence found something new to do, waits for the next
/// run, which asks for that host's fence too.
pub fn confine(plan: &mut crate::plan::Plan, fenced: &std::collections::BTreeSet<HostName>) {
    for (host, hp) in plan.hosts.iter_mut() {
        if let crate::plan::HostPlan::Known { apps } = hp
            && !fenced.contains(host)
            && !apps.is_empty()
        {
            tracing::info!(%host, apps = apps.len(), "changes found under the fence wait for the next run");
            apps.clear();
        }
    }
}

/// `shells` with every host of `busy` answering [`ShellError::Fenced`]:
/// observed as unknown, and never run on.
pub fn fenced_out(shells: &Shells, busy: &BTreeMap<HostName, String>) -> Shells {
    shells
        .iter()
        .map(|(h, s)| match busy.get(h) {
            Some(holder) => (
                h.clone(),
                Arc::new(FencedOut {
                    host: h.to_string(),
                    holder: holder.clone(),
                }) as Arc<dyn RemoteShell>,
            ),
            None => (h.clone(), s.clone()),
        })
        .collect()
}

/// A host another run holds: every command fails without running.
struct FencedOut {
    host: String,
    holder: String,
}

#[async_trait::async_trait]
impl RemoteShell for FencedOut {
    async fn exec(&self, _: &CommandLine) -> Result<crate::ssh::Output, ShellError> {
        Err(ShellError::Fenced {
            host: self.host.clone(),
            holder: self.holder.clone(),
        })
    }
    async fn exec_input(
        &self,
        c: &CommandLine,
        _: &[u8],
    ) -> Result<crate::ssh::Output, ShellError> {
        self.exec(c).await
    }
    fn max_parallel(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A host whose fence is always free; counts the holds asked for.
    #[derive(Default)]
    struct Free(AtomicUsize);

    #[async_trait::async_trait]
    impl RemoteShell for Free {
        async fn exec(&self, _: &CommandLine) -> Result<crate::ssh::Output, ShellError> {
            unreachable!("only the fence is asked for")
        }
        async fn exec_input(
            &self,
            c: &CommandLine,
            _: &[u8],
        ) -> Result<crate::ssh::Output, ShellError> {
            self.exec(c).await
        }
        fn max_parallel(&self) -> usize {
            1
        }
        async fn hold(&self, _: &CommandLine) -> Result<Option<Held>, ShellError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Some(Held::new(HELD.into(), None, Box::new(()))))
        }
    }

    #[tokio::test]
    async fn a_fence_the_process_held_since_before_a_pass_read_is_shared_and_not_read_again() {
        let host = HostName::parse("dokku-1").unwrap();
        let free = Arc::new(Free::default());
        let shells: Shells = [(host.clone(), free.clone() as Arc<dyn RemoteShell>)].into();
        let share = FenceShare::default();
        let early = tokio::time::Instant::now();
        let resync = share.acquire_all(&shells, "me", early).await;
        assert_eq!(
            resync.fresh,
            [host.clone()].into(),
            "newly taken: read again"
        );
        let late = tokio::time::Instant::now() + std::time::Duration::from_millis(1);
        let webhook = share.acquire_all(&shells, "me", late).await;
        assert!(
            webhook.fresh.is_empty(),
            "held throughout the webhook's read"
        );
        let during = share.acquire_all(&shells, "me", early).await;
        assert_eq!(
            during.fresh,
            [host.clone()].into(),
            "taken after that read began"
        );
        assert_eq!(free.0.load(Ordering::SeqCst), 1, "one fence, shared");
        drop((resync, webhook, during));
        share.acquire_all(&shells, "me", late).await;
        assert_eq!(
            free.0.load(Ordering::SeqCst),
            2,
            "released with its last user"
        );
    }
}
