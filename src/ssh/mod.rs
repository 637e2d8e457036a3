//! Remote shells: the one seam through which roomctl reaches a Dokku host.
//!
//! A [`RemoteShell`] runs exactly one Dokku subcommand per call, the way
//! Dokku's forced SSH command expects (`ssh dokku@host apps:list`). Two
//! implementations exist: [`OpensshShell`] (one multiplexed OpenSSH
//! connection per host) and [`LocalShell`] (runs the Dokku emulator as a
//! local process, for the sandbox and benchmarks). [`Counting`] wraps either
//! and counts executions.

mod connect_error;
mod counting;
mod local;
mod openssh_shell;
mod reserve;
mod target;

pub use counting::{Counters, Counting};
pub use local::LocalShell;
pub use openssh_shell::OpensshShell;
pub use reserve::Reserve;
pub use target::SshTarget;

use crate::dokku::CommandLine;
use async_trait::async_trait;

/// What one remote execution printed and returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Raw standard output.
    pub stdout: Vec<u8>,
    /// Raw standard error.
    pub stderr: Vec<u8>,
    /// Exit code (Dokku uses 0, 1, 2, 20 and others).
    pub code: i32,
}

impl Output {
    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Standard error as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A failure to run a command at all (as opposed to a command that ran and
/// exited non-zero, which is an [`Output`]).
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The host could not be reached (DNS, refused, no route).
    #[error("cannot connect to {host}: {detail}")]
    Connect {
        /// Host name from desired state.
        host: String,
        /// What the transport said.
        detail: String,
    },
    /// The host refused our key.
    #[error("authentication to {host} failed: {detail}")]
    Auth {
        /// Host name from desired state.
        host: String,
        /// What the transport said.
        detail: String,
    },
    /// The command did not finish in time.
    #[error("command on {host} timed out after {secs}s: {command}")]
    Timeout {
        /// Host name.
        host: String,
        /// Seconds waited.
        secs: u64,
        /// The command, with secrets masked.
        command: String,
    },
    /// The connection broke while the command ran.
    #[error("connection to {host} dropped while running {command}: {detail}")]
    Dropped {
        /// Host name.
        host: String,
        /// The command, with secrets masked.
        command: String,
        /// What the transport said.
        detail: String,
    },
    /// Another roomctl run holds the host's fence: this run runs nothing
    /// there ([`crate::apply::fence`]).
    #[error(
        "{host}: another roomctl run ({holder}) is applying on this host; it is left to that run and the next one"
    )]
    Fenced {
        /// Host name.
        host: String,
        /// Who holds the fence, as it said.
        holder: String,
    },
}

impl ShellError {
    /// Whether retrying may help. Authentication failures are permanent,
    /// and a fence held by another run is not waited for within a run.
    pub fn is_transient(&self) -> bool {
        !matches!(self, ShellError::Auth { .. } | ShellError::Fenced { .. })
    }
}

/// Runs Dokku subcommands on one host.
#[async_trait]
pub trait RemoteShell: Send + Sync {
    /// Runs one Dokku subcommand and returns what it printed. A non-zero
    /// exit is `Ok`; `Err` means the command may not have run at all.
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError>;

    /// Like [`RemoteShell::exec`], with `input` written to the command's
    /// standard input, which is then closed (`exec` gives it none). A
    /// command that exits without reading all of `input` is no error: its
    /// output and exit code are returned as usual. Timeouts and errors are
    /// those of `exec`; `input` never appears in logs or errors (it may hold
    /// a private key).
    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError>;

    /// How many commands may run at once on this host (kept below sshd's
    /// `MaxSessions`).
    fn max_parallel(&self) -> usize;

    /// Starts `cmd` and keeps it running, its standard input open, until
    /// the returned [`Held`] is dropped (or this process dies): how a lock
    /// on the host is held for as long as a run needs it. Returns once the
    /// command printed its first line, or ended. `Ok(None)`: this shell
    /// cannot keep a command running (the default).
    async fn hold(&self, cmd: &CommandLine) -> Result<Option<Held>, ShellError> {
        let _ = cmd;
        Ok(None)
    }
}

/// A command kept running by [`RemoteShell::hold`].
pub struct Held {
    /// Its first line of standard output, without the newline (empty when
    /// it printed none).
    pub first_line: String,
    /// When it ended instead of holding: its exit code and standard error.
    pub ended: Option<(i32, String)>,
    /// The running command and its open standard input.
    alive: Box<dyn std::any::Any + Send>,
}

impl Held {
    /// A held command, kept alive by `alive` (whatever must not be dropped
    /// while it runs).
    pub fn new(
        first_line: String,
        ended: Option<(i32, String)>,
        alive: Box<dyn std::any::Any + Send>,
    ) -> Self {
        Self {
            first_line,
            ended,
            alive,
        }
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = &self.alive;
        f.debug_struct("Held")
            .field("first_line", &self.first_line)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// How long [`RemoteShell::hold`] waits for the command's first line.
pub const HOLD_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[async_trait]
impl<S: RemoteShell + ?Sized> RemoteShell for std::sync::Arc<S> {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        (**self).exec(cmd).await
    }
    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError> {
        (**self).exec_input(cmd, input).await
    }
    fn max_parallel(&self) -> usize {
        (**self).max_parallel()
    }
    async fn hold(&self, cmd: &CommandLine) -> Result<Option<Held>, ShellError> {
        (**self).hold(cmd).await
    }
}
