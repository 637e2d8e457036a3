//! Running one command over the multiplexed session: the session-refusal
//! retries, the reconnect after a dead master, the command timeout, and the
//! mapping of each failure to a [`ShellError`].

use super::OpensshShell;
use crate::dokku::CommandLine;
use crate::ssh::connect_error::chain;
use crate::ssh::{Output, ShellError};
use openssh::{Session, Stdio};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often a command whose session sshd refused is tried again (with
/// 25 ms, 50 ms, … pauses) before giving up.
const SESSION_RETRIES: u32 = 8;

/// How one attempt to run a command failed.
enum RunError {
    /// The session could not be opened: the command did not run.
    NotStarted(openssh::Error),
    /// The command started but its result was lost.
    Lost(openssh::Error),
    /// The command exceeded the command timeout.
    Timeout,
}

impl OpensshShell {
    /// Runs `cmd` once over `session`, within the command timeout: stdin
    /// null, or `input` written to it (while the output is read) and then
    /// closed. A broken pipe while writing means the remote command exited
    /// or closed its stdin early, which is its own business.
    async fn run(
        &self,
        session: &Session,
        cmd: &CommandLine,
        input: Option<&[u8]>,
    ) -> Result<Output, RunError> {
        let mut command = session.raw_command(cmd.wire());
        command
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let work = async {
            let mut child = command.spawn().await.map_err(RunError::NotStarted)?;
            let stdin = child.stdin().take();
            let stdout = child.stdout().take();
            let stderr = child.stderr().take();
            let write_in = async move {
                let (Some(mut pipe), Some(data)) = (stdin, input) else {
                    return Ok(());
                };
                // Dropping the pipe at the end sends EOF.
                match pipe.write_all(data).await {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                    other => other,
                }
            };
            let read_out = async {
                let mut buf = Vec::new();
                if let Some(mut s) = stdout {
                    s.read_to_end(&mut buf).await?;
                }
                Ok::<_, io::Error>(buf)
            };
            let read_err = async {
                let mut buf = Vec::new();
                if let Some(mut s) = stderr {
                    s.read_to_end(&mut buf).await?;
                }
                Ok::<_, io::Error>(buf)
            };
            // Reading both pipes to EOF before waiting: wait() ends the
            // streams as soon as the exit status arrives.
            let ((), stdout, stderr) = tokio::try_join!(write_in, read_out, read_err)
                .map_err(|e| RunError::Lost(openssh::Error::ChildIo(e)))?;
            match child.wait().await {
                Ok(status) => match status.code() {
                    Some(code) => Ok(Output {
                        stdout,
                        stderr,
                        code,
                    }),
                    None => Err(RunError::Lost(openssh::Error::RemoteProcessTerminated)),
                },
                // The native mux client turns exit 127 into an error; it is
                // an ordinary exit for us.
                Err(openssh::Error::Remote(e)) if e.kind() == io::ErrorKind::NotFound => {
                    Ok(Output {
                        stdout,
                        stderr,
                        code: 127,
                    })
                }
                Err(e) => Err(RunError::Lost(e)),
            }
        };
        match tokio::time::timeout(self.target.command_timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(RunError::Timeout),
        }
    }

    /// [`RemoteShell::exec`] (`input` `None`) and [`RemoteShell::exec_input`]:
    /// a command whose session could not be opened is tried again (the
    /// input is sent whole each time); one that started is never re-run.
    pub(super) async fn exec_with(
        &self,
        cmd: &CommandLine,
        input: Option<&[u8]>,
    ) -> Result<Output, ShellError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let host = &self.target.host;
        let stdin = input.map(<[u8]>::len);
        tracing::debug!(host = %host, command = %cmd.shown(), stdin, "ssh exec");
        let mut reconnected = false;
        let mut refusals = 0;
        loop {
            let session = self.session().await?;
            match self.run(&session, cmd, input).await {
                Ok(out) => return Ok(out),
                Err(RunError::Timeout) => {
                    return Err(ShellError::Timeout {
                        host: host.clone(),
                        secs: self.target.command_timeout.as_secs(),
                        command: cmd.shown(),
                    });
                }
                Err(RunError::NotStarted(e)) => {
                    if session.check().await.is_ok() {
                        // The master is fine but sshd would not open a
                        // session. sshd frees a session slot a moment after
                        // the client has seen the exit status, so a burst
                        // can briefly exceed MaxSessions even below the
                        // semaphore: the command did not run, so wait a
                        // little and try again.
                        if refusals < SESSION_RETRIES {
                            refusals += 1;
                            tokio::time::sleep(Duration::from_millis(25) * refusals).await;
                            continue;
                        }
                        return Err(ShellError::Connect {
                            host: host.clone(),
                            detail: format!(
                                "cannot open a session for {}: {}",
                                cmd.shown(),
                                chain(&e)
                            ),
                        });
                    }
                    self.invalidate(&session).await;
                    if reconnected {
                        return Err(ShellError::Dropped {
                            host: host.clone(),
                            command: cmd.shown(),
                            detail: format!("master connection died again: {}", chain(&e)),
                        });
                    }
                    tracing::debug!(host = %host, "ssh master died; reconnecting");
                    reconnected = true;
                }
                Err(RunError::Lost(e)) => {
                    let master_alive = session.check().await.is_ok();
                    if !master_alive {
                        self.invalidate(&session).await;
                    }
                    let what = match (&e, master_alive) {
                        (openssh::Error::RemoteProcessTerminated, true) => {
                            "remote process ended without an exit code (killed by a signal?)"
                        }
                        (_, true) => "lost the command's result",
                        (_, false) => "master connection died",
                    };
                    return Err(ShellError::Dropped {
                        host: host.clone(),
                        command: cmd.shown(),
                        detail: format!("{what}: {}", chain(&e)),
                    });
                }
            }
        }
    }
}
