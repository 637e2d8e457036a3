//! Keeping one command running over the multiplexed session
//! ([`crate::ssh::RemoteShell::hold`]): the remote command holds what it
//! holds until its standard input closes, which happens when the returned
//! [`Held`] is dropped, and also when this process dies (the control
//! socket closes, so the master closes the channel).

use super::OpensshShell;
use crate::dokku::CommandLine;
use crate::ssh::connect_error::chain;
use crate::ssh::{HOLD_START_TIMEOUT, Held, ShellError};
use openssh::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

impl OpensshShell {
    /// [`crate::ssh::RemoteShell::hold`] over SSH. It takes no slot of the
    /// command semaphore: it holds one session of its own for the run.
    pub(super) async fn hold_with(&self, cmd: &CommandLine) -> Result<Option<Held>, ShellError> {
        let host = &self.target.host;
        let session = self.session().await?;
        let dropped = |detail: String| ShellError::Dropped {
            host: host.clone(),
            command: cmd.shown(),
            detail,
        };
        let mut command = session.arc_raw_command(cmd.wire());
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().await.map_err(|e| ShellError::Connect {
            host: host.clone(),
            detail: format!("cannot open a session for {}: {}", cmd.shown(), chain(&e)),
        })?;
        let stdin = child.stdin().take();
        let mut stdout = tokio::io::BufReader::new(child.stdout().take().expect("piped"));
        let mut line = String::new();
        match tokio::time::timeout(HOLD_START_TIMEOUT, stdout.read_line(&mut line)).await {
            Err(_) => {
                return Err(ShellError::Timeout {
                    host: host.clone(),
                    secs: HOLD_START_TIMEOUT.as_secs(),
                    command: cmd.shown(),
                });
            }
            Ok(r) => r.map_err(|e| dropped(e.to_string()))?,
        };
        let first = line.trim_end_matches('\n').to_string();
        if line.ends_with('\n') {
            return Ok(Some(Held::new(
                first,
                None,
                Box::new((stdin, stdout, child)),
            )));
        }
        drop(stdin);
        let mut err = String::new();
        if let Some(mut e) = child.stderr().take() {
            let _ = e.read_to_string(&mut err).await;
        }
        let code = match child.wait().await {
            Ok(status) => status.code().unwrap_or(-1),
            Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => 127,
            Err(e) => return Err(dropped(chain(&e))),
        };
        Ok(Some(Held::new(first, Some((code, err)), Box::new(()))))
    }
}
