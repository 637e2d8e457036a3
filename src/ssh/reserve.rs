//! A [`RemoteShell`] wrapper that leaves one of the host's sessions free.
//!
//! `serve` wraps the shells of its full resyncs in it: a resync that
//! onboards many apps on one host would otherwise fill every session with
//! slow commands, and a webhook's pass running beside it would wait for
//! one. With the wrapper the resync runs at most `max_parallel - 1`
//! commands on a host at once (at least one), so a session is always free
//! for the pass of a customer who just paid.

use super::{Held, Output, RemoteShell, ShellError};
use crate::dokku::CommandLine;
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// `inner`, running at most one command fewer at once than it allows.
pub struct Reserve {
    inner: Arc<dyn RemoteShell>,
    permits: Semaphore,
    limit: usize,
}

impl Reserve {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn RemoteShell>) -> Self {
        let limit = inner.max_parallel().saturating_sub(1).max(1);
        Self {
            inner,
            permits: Semaphore::new(limit),
            limit,
        }
    }
}

#[async_trait]
impl RemoteShell for Reserve {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        let _permit = self.permits.acquire().await.expect("never closed");
        self.inner.exec(cmd).await
    }
    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError> {
        let _permit = self.permits.acquire().await.expect("never closed");
        self.inner.exec_input(cmd, input).await
    }
    fn max_parallel(&self) -> usize {
        self.limit
    }
    /// Not limited: a held command is the fence, not work.
    async fn hold(&self, cmd: &CommandLine) -> Result<Option<Held>, ShellError> {
        self.inner.hold(cmd).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Slow {
        running: AtomicUsize,
        most: AtomicUsize,
    }

    #[async_trait]
    impl RemoteShell for Slow {
        async fn exec(&self, _: &CommandLine) -> Result<Output, ShellError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Output {
                code: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
            })
        }
        async fn exec_input(&self, c: &CommandLine, _: &[u8]) -> Result<Output, ShellError> {
            self.exec(c).await
        }
        fn max_parallel(&self) -> usize {
            4
        }
    }

    #[tokio::test]
    async fn a_reserved_shell_leaves_one_session_free() {
        let slow = Arc::new(Slow {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        });
        let shell = Arc::new(Reserve::new(slow.clone()));
        let cmd = CommandLine::raw(&["version"]).unwrap();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let (s, c) = (shell.clone(), cmd.clone());
            set.spawn(async move { s.exec(&c).await.map(|_| ()) });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap().unwrap();
        }
        assert_eq!(slow.most.load(Ordering::SeqCst), 3);
        assert_eq!(shell.max_parallel(), 3);
    }
}
