//! Local transport: runs the Dokku emulator as if sshd had started it.
//!
//! Behind sshd, Dokku is the forced command of the `dokku` user's key and
//! reads the client's command from `SSH_ORIGINAL_COMMAND`. [`LocalShell`]
//! reproduces exactly that contract without sshd: each command spawns
//! `EMULATOR --root ROOT` with `SSH_ORIGINAL_COMMAND` set to
//! [`CommandLine::wire`], so the emulator cannot tell the two paths apart.

use super::{Output, RemoteShell, ShellError};
use crate::dokku::CommandLine;
use async_trait::async_trait;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

/// A [`RemoteShell`] that runs a local emulator binary per command.
///
/// Each [`RemoteShell::exec`] spawns `emulator_bin [LEADING_ARGS…] --root ROOT` with
/// `SSH_ORIGINAL_COMMAND` set to the wire form of the command, stdin
/// null ([`RemoteShell::exec_input`]: a pipe that gets the input and is
/// then closed; a process exiting before it read all of it is fine), stdout
/// and stderr captured, and the process killed if the call is
/// dropped. At most `max_parallel` processes run at once. Failing to spawn
/// is [`ShellError::Connect`]; a process killed by a signal is
/// [`ShellError::Dropped`]; any exit code is an [`Output`].
pub struct LocalShell {
    emulator_bin: PathBuf,
    root: PathBuf,
    host: String,
    leading_args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    max_parallel: usize,
    permits: Semaphore,
}

impl LocalShell {
    /// A shell running `emulator_bin --root root`, at most `max_parallel`
    /// (at least 1) at a time. Errors name the host `local` until
    /// [`LocalShell::with_host_name`] says otherwise.
    pub fn new(emulator_bin: PathBuf, root: PathBuf, max_parallel: usize) -> Self {
        let max_parallel = max_parallel.max(1);
        Self {
            emulator_bin,
            root,
            host: "local".to_string(),
            leading_args: Vec::new(),
            env: Vec::new(),
            max_parallel,
            permits: Semaphore::new(max_parallel),
        }
    }

    /// Arguments placed before `--root ROOT`, for an emulator that is a
    /// subcommand of a larger binary (`roomctl dokku-emu --root ROOT`).
    pub fn with_leading_args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.leading_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment variable for every emulator run (e.g.
    /// `DOKKU_EMU_COSTS=real`). `SSH_ORIGINAL_COMMAND` is always set per
    /// command and cannot be overridden here.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the host name used in errors.
    pub fn with_host_name(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The emulator's state directory.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }
}

impl LocalShell {
    /// Runs one emulator process for `cmd`: stdin null, or `input` written
    /// to it and then closed.
    async fn run(&self, cmd: &CommandLine, input: Option<&[u8]>) -> Result<Output, ShellError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        tracing::debug!(host = %self.host, command = %cmd.shown(), stdin = input.map(<[u8]>::len), "local exec");
        let mut command = tokio::process::Command::new(&self.emulator_bin);
        command
            .args(&self.leading_args)
            .arg("--root")
            .arg(&self.root)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("SSH_ORIGINAL_COMMAND", cmd.wire())
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| ShellError::Connect {
            host: self.host.clone(),
            detail: format!("cannot start {}: {e}", self.emulator_bin.display()),
        })?;
        let stdin = child.stdin.take();
        let write = async move {
            let (Some(mut pipe), Some(data)) = (stdin, input) else {
                return Ok(());
            };
            // Dropping the pipe at the end closes the process's stdin.
            match pipe.write_all(data).await {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            }
        };
        // Written while the output is read: a process that prints before
        // it reads cannot block on a full pipe.
        let (written, out) = tokio::join!(write, child.wait_with_output());
        let dropped = |detail: String| ShellError::Dropped {
            host: self.host.clone(),
            command: cmd.shown(),
            detail,
        };
        let out = out.map_err(|e| dropped(e.to_string()))?;
        written.map_err(|e| dropped(format!("writing standard input: {e}")))?;
        match out.status.code() {
            Some(code) => Ok(Output {
                stdout: out.stdout,
                stderr: out.stderr,
                code,
            }),
            None => Err(dropped(format!(
                "emulator ended without an exit code ({})",
                out.status
            ))),
        }
    }
}

#[async_trait]
impl RemoteShell for LocalShell {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        self.run(cmd, None).await
    }

    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError> {
        self.run(cmd, Some(input)).await
    }

    fn max_parallel(&self) -> usize {
        self.max_parallel
    }

    async fn hold(&self, cmd: &CommandLine) -> Result<Option<super::Held>, ShellError> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let mut child = tokio::process::Command::new(&self.emulator_bin)
            .args(&self.leading_args)
            .arg("--root")
            .arg(&self.root)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("SSH_ORIGINAL_COMMAND", cmd.wire())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ShellError::Connect {
                host: self.host.clone(),
                detail: format!("cannot start {}: {e}", self.emulator_bin.display()),
            })?;
        let dropped = |detail: String| ShellError::Dropped {
            host: self.host.clone(),
            command: cmd.shown(),
            detail,
        };
        let stdin = child.stdin.take();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        match tokio::time::timeout(super::HOLD_START_TIMEOUT, stdout.read_line(&mut line)).await {
            Err(_) => {
                return Err(ShellError::Timeout {
                    host: self.host.clone(),
                    secs: super::HOLD_START_TIMEOUT.as_secs(),
                    command: cmd.shown(),
                });
            }
            Ok(r) => r.map_err(|e| dropped(e.to_string()))?,
        };
        let first = line.trim_end_matches('\n').to_string();
        if !line.ends_with('\n') {
            // It printed no whole line: it ended.
            drop(stdin);
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err).await;
            }
            let status = child.wait().await.map_err(|e| dropped(e.to_string()))?;
            return Ok(Some(super::Held::new(
                first,
                Some((status.code().unwrap_or(-1), err)),
                Box::new(()),
            )));
        }
        Ok(Some(super::Held::new(
            first,
            None,
            Box::new((stdin, stdout, child)),
        )))
    }
}
