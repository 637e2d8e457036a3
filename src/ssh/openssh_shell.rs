//! OpenSSH transport: one multiplexed connection per host.
//!
//! [`OpensshShell`] drives the system `ssh` binary through the `openssh`
//! crate with its native multiplexing client: one `ssh -M` master process
//! holds the TCP connection and every command opens a new session over the
//! master's control socket, so a command costs one sshd fork and exec and no
//! handshake. The master is started lazily on the first command, restarted
//! once when it turns out to have died, and shut down when the shell is
//! closed or dropped.
//!
//! sshd refuses sessions past its `MaxSessions` (10 by default), so a
//! semaphore holds concurrent commands two below [`SshTarget::max_sessions`].
//!
//! Commands are sent with `raw_command(cmd.wire())`: no quoting, because
//! [`CommandLine`] only produces safe-alphabet tokens and Dokku's forced
//! command splits the string itself. Errors and logs only ever carry
//! [`CommandLine::shown`], never the wire form (which may hold base64
//! secrets).

mod exec;
mod hold;

use super::connect_error::{chain, connect_error, private_dir};
use super::{Output, RemoteShell, ShellError, SshTarget};
use crate::dokku::CommandLine;
use async_trait::async_trait;
use openssh::{KnownHosts, Session, SessionBuilder};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore};

/// A [`RemoteShell`] over one multiplexed OpenSSH connection.
///
/// Connects lazily on the first command; if the master
/// connection has died, the next command reconnects (once per command)
/// before giving up. Failure mapping:
///
/// - refused, unreachable, DNS failure or connect timeout: [`ShellError::Connect`];
/// - key refused, or host key verification failed: [`ShellError::Auth`];
/// - command ran past [`SshTarget::command_timeout`]: [`ShellError::Timeout`]
///   (the remote process is not killed: the mux protocol cannot signal it);
/// - master died mid-command, or the remote process was killed by a signal:
///   [`ShellError::Dropped`].
///
/// [`RemoteShell::exec_input`] sends its input over the session's stdin
/// channel and then closes it; the remote command exiting without reading
/// it is no error.
///
/// The master process and its private control directory are removed by
/// [`OpensshShell::close`] or, failing that, on drop.
pub struct OpensshShell {
    target: SshTarget,
    state: Mutex<State>,
    permits: Semaphore,
    connects: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Private (0700) directory holding the control socket directories.
    control_dir: Option<PathBuf>,
    session: Option<Arc<Session>>,
    /// The last failed connect: when it ended and how it failed. Commands
    /// that were already waiting for the connect share its failure instead
    /// of each trying (and timing out) in turn.
    last_failure: Option<(Instant, FailedConnect)>,
}

/// A connect failure, kept to hand to the commands that waited for it.
#[derive(Clone)]
struct FailedConnect {
    auth: bool,
    detail: String,
}

impl FailedConnect {
    fn of(e: &ShellError) -> Self {
        match e {
            ShellError::Auth { detail, .. } => Self {
                auth: true,
                detail: detail.clone(),
            },
            ShellError::Connect { detail, .. } => Self {
                auth: false,
                detail: detail.clone(),
            },
            other => Self {
                auth: false,
                detail: other.to_string(),
            },
        }
    }
    fn error(&self, host: &str) -> ShellError {
        let (host, detail) = (host.to_string(), self.detail.clone());
        if self.auth {
            ShellError::Auth { host, detail }
        } else {
            ShellError::Connect { host, detail }
        }
    }
}

impl OpensshShell {
    /// A shell for `target`. Does not connect yet.
    pub fn new(target: SshTarget) -> Self {
        let permits = Semaphore::new(target.parallelism());
        Self {
            target,
            state: Mutex::new(State::default()),
            permits,
            connects: AtomicU64::new(0),
        }
    }

    /// The target this shell connects to.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// How many master connections this shell has opened so far (1 after a
    /// healthy run; more after reconnects).
    pub fn connections_opened(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// Shuts the master connection down and removes the control directory.
    /// Waits for nothing else: call it once no command is running.
    pub async fn close(mut self) {
        let state = std::mem::take(self.state.get_mut());
        if let Some(session) = state.session {
            match Arc::try_unwrap(session) {
                Ok(session) => {
                    if let Err(e) = session.close().await {
                        tracing::debug!(host = %self.target.host, error = %chain(&e), "closing ssh master");
                    }
                }
                Err(shared) => drop(shared),
            }
        }
        if let Some(dir) = state.control_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// The live session, connecting first if there is none.
    async fn session(&self) -> Result<Arc<Session>, ShellError> {
        let asked = Instant::now();
        let mut state = self.state.lock().await;
        if let Some(s) = &state.session {
            return Ok(s.clone());
        }
        if let Some((failed_at, failure)) = &state.last_failure
            && *failed_at >= asked
        {
            return Err(failure.error(&self.target.host));
        }
        let dir = match &state.control_dir {
            Some(d) => d.clone(),
            None => {
                let d = private_dir().map_err(|e| ShellError::Connect {
                    host: self.target.host.clone(),
                    detail: format!("cannot create a control directory: {e}"),
                })?;
                state.control_dir = Some(d.clone());
                d
            }
        };
        match self.connect(&dir).await {
            Ok(session) => {
                let session = Arc::new(session);
                self.connects.fetch_add(1, Ordering::Relaxed);
                state.session = Some(session.clone());
                state.last_failure = None;
                Ok(session)
            }
            Err(e) => {
                state.last_failure = Some((Instant::now(), FailedConnect::of(&e)));
                Err(e)
            }
        }
    }

    /// Forgets `dead` if it is still the current session (its master is
    /// shut down and its socket directory removed when the last user drops
    /// it).
    async fn invalidate(&self, dead: &Arc<Session>) {
        let mut state = self.state.lock().await;
        if state.session.as_ref().is_some_and(|s| Arc::ptr_eq(s, dead)) {
            state.session = None;
        }
    }

    async fn connect(&self, control_dir: &Path) -> Result<Session, ShellError> {
        let t = &self.target;
        let mut b = SessionBuilder::default();
        b.user(t.user.clone())
            .port(t.port)
            .connect_timeout(t.connect_timeout.max(Duration::from_secs(1)))
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(control_dir)
            // Neither ~/.ssh/config nor /etc/ssh/ssh_config may change how
            // roomctl connects.
            .config_file("/dev/null");
        if let Some(key) = &t.identity_file {
            b.keyfile(key);
        }
        match &t.known_hosts_file {
            Some(kh) => {
                b.known_hosts_check(KnownHosts::Strict)
                    .user_known_hosts_file(kh);
            }
            None => {
                b.known_hosts_check(KnownHosts::Add);
            }
        }
        let limit = t.connect_timeout.max(Duration::from_secs(1)) * 2;
        tracing::debug!(host = %t.host, address = %t.address, port = t.port, "opening ssh master");
        // A detached task, so that a caller giving up (or the timeout below)
        // never interrupts `ssh` half-way: a master started after its socket
        // directory was removed would linger without a control socket. A
        // late session is dropped, which shuts its master down.
        let address = t.address.clone();
        let connecting = tokio::spawn(async move { b.connect_mux(address).await });
        match tokio::time::timeout(limit, connecting).await {
            Ok(Ok(Ok(session))) => Ok(session),
            Ok(Ok(Err(e))) => Err(connect_error(&t.host, e)),
            Ok(Err(join)) => Err(ShellError::Connect {
                host: t.host.clone(),
                detail: format!("connect task failed: {join}"),
            }),
            Err(_) => Err(ShellError::Connect {
                host: t.host.clone(),
                detail: format!("no SSH connection after {}s", limit.as_secs()),
            }),
        }
    }
}

#[async_trait]
impl RemoteShell for OpensshShell {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        self.exec_with(cmd, None).await
    }

    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError> {
        self.exec_with(cmd, Some(input)).await
    }

    fn max_parallel(&self) -> usize {
        self.target.parallelism()
    }

    async fn hold(&self, cmd: &CommandLine) -> Result<Option<crate::ssh::Held>, ShellError> {
        self.hold_with(cmd).await
    }
}

impl Drop for OpensshShell {
    fn drop(&mut self) {
        let state = std::mem::take(self.state.get_mut());
        // Dropping the last handle to the session asks the master to exit
        // and removes its socket directory; then the private parent goes.
        drop(state.session);
        if let Some(dir) = state.control_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
