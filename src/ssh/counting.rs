//! A [`RemoteShell`] wrapper that counts executions, for benchmarks and tests.

use super::{Output, RemoteShell, ShellError};
use crate::dokku::CommandLine;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Per-subcommand execution counts, and the bytes the commands printed.
#[derive(Debug, Default)]
pub struct Counters {
    by_subcommand: Mutex<BTreeMap<String, u64>>,
    bytes: std::sync::atomic::AtomicU64,
}

impl Counters {
    /// Total executions.
    pub fn total(&self) -> u64 {
        self.by_subcommand
            .lock()
            .expect("counter lock")
            .values()
            .sum()
    }
    /// Executions by Dokku subcommand (e.g. `config:export`).
    pub fn by_subcommand(&self) -> BTreeMap<String, u64> {
        self.by_subcommand.lock().expect("counter lock").clone()
    }
    /// Bytes received (standard output and error) from every execution.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// Forgets all counts.
    pub fn reset(&self) {
        self.by_subcommand.lock().expect("counter lock").clear();
        self.bytes.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Wraps a shell and counts every execution by subcommand, with or without
/// standard input.
pub struct Counting<S> {
    inner: S,
    /// The counts so far.
    pub counters: std::sync::Arc<Counters>,
}

impl<S> Counting<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counters: Default::default(),
        }
    }

    fn received(&self, r: Result<Output, ShellError>) -> Result<Output, ShellError> {
        if let Ok(o) = &r {
            let n = (o.stdout.len() + o.stderr.len()) as u64;
            self.counters
                .bytes
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }

    fn count(&self, cmd: &CommandLine) {
        *self
            .counters
            .by_subcommand
            .lock()
            .expect("counter lock")
            .entry(cmd.subcommand().to_string())
            .or_default() += 1;
    }
}

#[async_trait]
impl<S: RemoteShell> RemoteShell for Counting<S> {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        self.count(cmd);
        self.received(self.inner.exec(cmd).await)
    }
    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError> {
        self.count(cmd);
        self.received(self.inner.exec_input(cmd, input).await)
    }
    fn max_parallel(&self) -> usize {
        self.inner.max_parallel()
    }
    async fn hold(&self, cmd: &CommandLine) -> Result<Option<super::Held>, ShellError> {
        self.count(cmd);
        self.inner.hold(cmd).await
    }
}
