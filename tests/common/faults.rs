//! A [`RemoteShell`] wrapper that fails the N-th command of a run in one of
//! the ways a Dokku host fails, and watches every `apps:destroy` for a
//! recorded backup.
//!
//! Commands are numbered across the whole fleet (every host's shell shares
//! one [`Faults`]), in the order they are issued; `hold` (the fence) counts
//! as a command too. How each fault is modelled follows what roomctl's
//! [`roomctl::ssh::OpensshShell`] reports for the real thing
//! (`src/ssh/openssh_shell/exec.rs`):
//!
//! - [`Kind::Exit`]: Dokku refused the command (a full disk, Docker down):
//!   nothing happened on the host and the client sees a non-zero exit with
//!   Dokku's ` !     ` line, an ordinary [`Output`].
//! - [`Kind::Timeout`]: the command outlived the command timeout. The mux
//!   protocol cannot signal the remote process, so it runs on and finishes
//!   on the host: the inner command runs to its end, and the client sees
//!   [`ShellError::Timeout`].
//! - [`Kind::Drop`]: the connection died while the command printed. The
//!   command ran to its end (sshd notices a dead client only when it next
//!   writes, and a Dokku command prints its result last), and the client
//!   loses what it had read so far: [`ShellError::Dropped`], as the mux
//!   client reports a master that died mid-command.
//! - [`Kind::Killed`]: a process of the command was killed (the OOM killer,
//!   an operator's `kill -9`) after it had done its work. Dokku's forced
//!   command is a bash script, which reports a killed child as exit 137 and
//!   "Killed" on standard error: an [`Output`] with code 137. (A signal to
//!   the forced command itself is seen by OpenSSH as an exit without a
//!   code, which roomctl maps to [`ShellError::Dropped`]: [`Kind::Drop`]
//!   covers that answer.)
//! - [`Kind::LateExit`]: the command did its work, then failed: Dokku runs
//!   plugin triggers after the change (`apps:create` makes the app, then
//!   runs `post-create`), and a trigger that fails (a full disk, a
//!   third-party plugin) makes the command exit 1 with its change in
//!   place.
//!
//! For `hold` (the fence), a fault means the fence was not taken: an exit
//! or a kill is a command that ended at once, a timeout or a drop an error.

use roomctl::apply::Shells;
use roomctl::apply::backup::BackupStore;
use roomctl::dokku::CommandLine;
use roomctl::ssh::{Held, Output, RemoteShell, ShellError};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// How the N-th command fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not run; exit 1 with a Dokku error.
    Exit,
    /// Run to its end on the host; the client times out.
    Timeout,
    /// Run; the connection drops mid-output.
    Drop,
    /// Run; a process of it is killed, exit 137.
    Killed,
    /// Run; a trigger after its change fails, exit 1.
    LateExit,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 5] = [
        Kind::Exit,
        Kind::Timeout,
        Kind::Drop,
        Kind::Killed,
        Kind::LateExit,
    ];
}

/// The fault of one run, shared by every host's shell, and what it saw.
#[derive(Default)]
pub struct Faults {
    /// Commands issued so far (1-based numbering: the next is `count + 1`).
    count: AtomicUsize,
    /// The command to fail, and how; `None` runs everything.
    at: Option<(usize, Kind)>,
    /// Fails instead the first command whose shown form starts with this.
    first: Option<(&'static str, Kind)>,
    /// The number of the command that was failed.
    failed: Mutex<Option<usize>>,
    /// Every command, `host: command`, in issue order.
    log: Mutex<Vec<String>>,
    /// Broken invariants seen while commands ran.
    violations: Mutex<Vec<String>>,
    /// Where a destroy must find its backup recorded.
    backups: Option<BackupStore>,
    /// Called when this command is issued (before it runs, which it then
    /// does normally).
    hook: Mutex<Option<(usize, Hook)>>,
}

/// Something done to the world as a given command is issued.
pub type Hook = Box<dyn FnOnce() + Send>;

impl Faults {
    /// Fails command `n` (1-based) with `kind`; `None`: no fault. Destroys
    /// are checked against `backups`.
    pub fn new(at: Option<(usize, Kind)>, backups: BackupStore) -> Arc<Self> {
        Arc::new(Self {
            at,
            backups: Some(backups),
            ..Default::default()
        })
    }

    /// Fails the first command whose shown form (`apps:create acme-backend`)
    /// starts with `prefix`, with `kind`.
    pub fn first(prefix: &'static str, kind: Kind, backups: BackupStore) -> Arc<Self> {
        Arc::new(Self {
            first: Some((prefix, kind)),
            backups: Some(backups),
            ..Default::default()
        })
    }

    /// Runs every command, and calls `hook` as command `n` is issued.
    pub fn calling(n: usize, hook: Hook, backups: BackupStore) -> Arc<Self> {
        Arc::new(Self {
            hook: Mutex::new(Some((n, hook))),
            backups: Some(backups),
            ..Default::default()
        })
    }

    /// Commands issued so far.
    pub fn count(&self) -> usize {
        self.count.load(SeqCst)
    }

    /// Every command issued, `host: command`.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The command that was failed, if the run got that far.
    pub fn failed_command(&self) -> Option<String> {
        let n = (*self.failed.lock().unwrap())?;
        self.log.lock().unwrap().get(n - 1).cloned()
    }

    /// Broken invariants seen while commands ran.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    /// Numbers the command and says whether it is the one to fail.
    fn next(&self, host: &str, cmd: &CommandLine) -> Option<Kind> {
        let mut log = self.log.lock().unwrap();
        let n = self.count.fetch_add(1, SeqCst) + 1;
        let shown = cmd.shown();
        log.push(format!("{host}: {shown}"));
        let mut failed = self.failed.lock().unwrap();
        let kind = match (self.at, self.first) {
            (Some((at, kind)), _) if at == n => Some(kind),
            (_, Some((prefix, kind))) if failed.is_none() && shown.starts_with(prefix) => {
                Some(kind)
            }
            _ => None,
        };
        if kind.is_some() {
            *failed = Some(n);
        }
        drop((failed, log));
        let mut hook = self.hook.lock().unwrap();
        if hook.as_ref().is_some_and(|(at, _)| *at == n)
            && let Some((_, call)) = hook.take()
        {
            call();
        }
        kind
    }

    /// Before a destroy reaches the host: its app's backup must be
    /// recorded, and every archive recorded for it must be on disk with
    /// the size and SHA-256 the record gives.
    fn check_destroy(&self, host: &str, cmd: &CommandLine) {
        if cmd.subcommand() != "apps:destroy" {
            return;
        }
        let shown = cmd.shown();
        let app = shown.split_whitespace().nth(1).unwrap_or_default();
        let records: Vec<_> = self
            .backups
            .as_ref()
            .map(BackupStore::records)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.host == host && r.app == app)
            .collect();
        let intact = |r: &roomctl::apply::backup::BackupRecord| {
            r.path.is_empty()
                || std::fs::read(&r.path).is_ok_and(|bytes| {
                    bytes.len() as u64 == r.size
                        && hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)) == r.sha256
                })
        };
        let mut violations = self.violations.lock().unwrap();
        if records.is_empty() {
            violations.push(format!("{host}: `{shown}` ran without a recorded backup"));
        }
        for r in records.iter().filter(|r| !intact(r)) {
            violations.push(format!(
                "{host}: `{shown}` ran, its backup {} is not intact",
                r.path
            ));
        }
    }
}

/// One host's shell, failing as its [`Faults`] says.
pub struct FaultShell {
    inner: Arc<dyn RemoteShell>,
    host: String,
    faults: Arc<Faults>,
}

/// `shells` with every host's shell wrapped in one shared `faults`.
pub fn wrap(shells: Shells, faults: &Arc<Faults>) -> Shells {
    shells
        .into_iter()
        .map(|(h, inner)| {
            let s = FaultShell {
                inner,
                host: h.to_string(),
                faults: faults.clone(),
            };
            (h, Arc::new(s) as Arc<dyn RemoteShell>)
        })
        .collect()
}

impl FaultShell {
    async fn run(&self, cmd: &CommandLine, input: Option<&[u8]>) -> Result<Output, ShellError> {
        let kind = self.faults.next(&self.host, cmd);
        if kind != Some(Kind::Exit) {
            self.faults.check_destroy(&self.host, cmd);
        }
        let inner = async {
            match input {
                Some(data) => self.inner.exec_input(cmd, data).await,
                None => self.inner.exec(cmd).await,
            }
        };
        let (host, command) = (self.host.clone(), cmd.shown());
        match kind {
            None => inner.await,
            Some(Kind::Exit) => Ok(Output {
                stdout: Vec::new(),
                stderr: format!(" !     injected fault: {command} failed\n").into_bytes(),
                code: 1,
            }),
            Some(Kind::Timeout) => {
                let _ = inner.await;
                Err(ShellError::Timeout {
                    host,
                    secs: 60,
                    command,
                })
            }
            Some(Kind::Drop) => {
                let _ = inner.await;
                Err(ShellError::Dropped {
                    host,
                    command,
                    detail: "master connection died: injected fault".into(),
                })
            }
            Some(Kind::Killed) => {
                let out = inner.await?;
                let mut stderr = out.stderr;
                stderr.extend_from_slice(b"/usr/bin/dokku: line 1: 4242 Killed\n");
                Ok(Output {
                    stdout: out.stdout,
                    stderr,
                    code: 137,
                })
            }
            Some(Kind::LateExit) => {
                let out = inner.await?;
                let mut stderr = out.stderr;
                let line = format!(" !     injected fault: a trigger after {command} failed\n");
                stderr.extend_from_slice(line.as_bytes());
                Ok(Output {
                    stdout: out.stdout,
                    stderr,
                    code: 1,
                })
            }
        }
    }
}

#[async_trait::async_trait]
impl RemoteShell for FaultShell {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        self.run(cmd, None).await
    }

    async fn exec_input(&self, cmd: &CommandLine, input: &[u8]) -> Result<Output, ShellError> {
        self.run(cmd, Some(input)).await
    }

    fn max_parallel(&self) -> usize {
        self.inner.max_parallel()
    }

    async fn hold(&self, cmd: &CommandLine) -> Result<Option<Held>, ShellError> {
        let (host, command) = (self.host.clone(), cmd.shown());
        let ended = |code: i32, why: &str| {
            Ok(Some(Held::new(
                String::new(),
                Some((code, format!(" !     {why}\n"))),
                Box::new(()),
            )))
        };
        match self.faults.next(&self.host, cmd) {
            None => self.inner.hold(cmd).await,
            Some(Kind::Exit) => ended(1, "injected fault"),
            Some(Kind::Killed) => ended(137, "Killed"),
            Some(Kind::LateExit) => ended(1, "injected fault"),
            Some(Kind::Timeout) => Err(ShellError::Timeout {
                host,
                secs: 30,
                command,
            }),
            Some(Kind::Drop) => Err(ShellError::Dropped {
                host,
                command,
                detail: "master connection died: injected fault".into(),
            }),
        }
    }
}
