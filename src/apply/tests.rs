//! Unit tests of applying plans (retries, failures, ordering).
use super::*;
use crate::domain::{AppName, InstanceId, Label};
use crate::plan::{Change, Plan};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU32, Ordering};

/// Fails with `error` for the first `failures` calls, then succeeds.
struct Flaky {
    failures: u32,
    calls: AtomicU32,
    auth: bool,
}

#[async_trait]
impl RemoteShell for Flaky {
    async fn exec(&self, cmd: &CommandLine) -> Result<Output, ShellError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            let (host, detail) = ("h".to_string(), "boom".to_string());
            return Err(if self.auth {
                ShellError::Auth { host, detail }
            } else {
                ShellError::Dropped {
                    host,
                    command: cmd.shown(),
                    detail,
                }
            });
        }
        Ok(Output::default())
    }
    async fn exec_input(&self, cmd: &CommandLine, _: &[u8]) -> Result<Output, ShellError> {
        self.exec(cmd).await
    }
    fn max_parallel(&self) -> usize {
        1
    }
}

fn one_app_plan() -> Plan {
    let app = AppPlan {
        instance: InstanceId::parse("i").unwrap(),
        role: Label::parse("backend").unwrap(),
        change: Change::Update,
        actions: vec![Action::Restart],
    };
    let apps = BTreeMap::from([(AppName::parse("i-backend").unwrap(), app)]);
    Plan {
        hosts: BTreeMap::from([(HostName::parse("h").unwrap(), HostPlan::Known { apps })]),
        ..Default::default()
    }
}

async fn run(shell: Arc<Flaky>) -> report::Report {
    let dir = std::env::temp_dir().join(format!("roomctl-apply-test-{}", std::process::id()));
    let opts = ApplyOptions {
        retries: 3,
        backoff: Duration::from_millis(1),
        journal: Journal::new(dir.join("j")),
        backups: BackupStore::new(dir.join("b")),
        certs: None,
        halt: None,
    };
    let shells: Shells =
        BTreeMap::from([(HostName::parse("h").unwrap(), shell as Arc<dyn RemoteShell>)]);
    apply(&one_app_plan(), &shells, opts).await
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff_until_they_pass() {
    let shell = Arc::new(Flaky {
        failures: 2,
        calls: AtomicU32::new(0),
        auth: false,
    });
    let report = run(shell.clone()).await;
    assert_eq!(report.failed(), 0, "{}", report.table());
    assert_eq!(shell.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_run_out_and_the_failure_is_reported_as_transient() {
    let shell = Arc::new(Flaky {
        failures: 10,
        calls: AtomicU32::new(0),
        auth: false,
    });
    let report = run(shell.clone()).await;
    assert_eq!(shell.calls.load(Ordering::SeqCst), 4);
    assert!(matches!(
        &report.rows[0].outcome,
        report::Outcome::Failed {
            transient: true,
            ..
        }
    ));
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let shell = Arc::new(Flaky {
        failures: 10,
        calls: AtomicU32::new(0),
        auth: true,
    });
    let report = run(shell.clone()).await;
    assert_eq!(shell.calls.load(Ordering::SeqCst), 1);
    assert!(
        report.table().contains("FAILED at restart"),
        "{}",
        report.table()
    );
}

#[tokio::test]
async fn a_halted_apply_starts_no_action_and_reports_it_transient() {
    let shell = Arc::new(Flaky {
        failures: 0,
        calls: AtomicU32::new(0),
        auth: false,
    });
    let dir = std::env::temp_dir().join(format!("roomctl-halt-test-{}", std::process::id()));
    let opts = ApplyOptions {
        retries: 0,
        backoff: Duration::from_millis(1),
        journal: Journal::new(dir.join("j")),
        backups: BackupStore::new(dir.join("b")),
        certs: None,
        halt: Some(Arc::new(std::sync::atomic::AtomicBool::new(true))),
    };
    let shells: Shells = BTreeMap::from([(
        HostName::parse("h").unwrap(),
        shell.clone() as Arc<dyn RemoteShell>,
    )]);
    let report = apply(&one_app_plan(), &shells, opts).await;
    assert_eq!(shell.calls.load(Ordering::SeqCst), 0);
    assert!(matches!(
        &report.rows[0].outcome,
        report::Outcome::Failed {
            transient: true,
            ..
        }
    ));
    assert_eq!(report.rows[0].done, 0);
}
