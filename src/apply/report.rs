//! The apply summary: what was done, what failed and why.

use crate::domain::{AppName, HostName, InstanceId};
use crate::plan::Change;
use serde::Serialize;
use std::fmt::Write;

/// How one app's apply ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Every action succeeded.
    Done,
    /// An action failed; later actions were not run.
    Failed {
        /// The failed action, described.
        step: String,
        /// The error (secrets masked).
        error: String,
        /// Whether it was transient (retries exhausted).
        transient: bool,
    },
}

/// One app's row in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Host.
    pub host: HostName,
    /// App.
    pub app: AppName,
    /// Instance.
    pub instance: InstanceId,
    /// Planned change.
    pub change: Change,
    /// Outcome.
    pub outcome: Outcome,
    /// Actions completed.
    pub done: usize,
}

/// The result of an apply.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// One row per app, in host then app order.
    pub rows: Vec<Row>,
    /// Hosts skipped because they were unknown, with the reason.
    pub unknown: Vec<(HostName, String)>,
    /// DNS changes, in the order they were applied.
    pub dns: Vec<crate::dns::apply::DnsRow>,
    /// Wildcard certificate orders, in the order they ran.
    pub certs: Vec<super::certs::OrderRow>,
    /// Pool servers created and removed.
    pub servers: Vec<crate::reconcile::pool::ServerRow>,
    /// What this run started and a later pass finishes (a certificate
    /// order waiting for DNS, a new server booting): the pass never waits
    /// for them, it asks to run again ([`Report::look_again`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<Waiting>,
    /// Instances this pass left alone because another pass of the same
    /// process was changing them, or changed them after this one read the
    /// fleet ([`crate::reconcile::Claim`]); a later pass does them.
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub deferred: std::collections::BTreeSet<crate::domain::InstanceId>,
}

/// Something a later pass finishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    /// What, for people (`certificate wildcard-1: DNS propagation`).
    pub what: String,
    /// When to look again.
    pub until: chrono::DateTime<chrono::Utc>,
}

impl Report {
    /// When a pass should run again to finish what this one started, if
    /// anything waits: the earliest [`Waiting::until`].
    pub fn look_again(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.waiting.iter().map(|w| w.until).min()
    }

    /// Number of apps whose apply failed.
    pub fn failed(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
            .count()
    }

    /// Number of DNS changes that failed or were not attempted.
    pub fn dns_failed(&self) -> usize {
        self.dns
            .iter()
            .filter(|r| r.error.is_some() || r.skipped)
            .count()
    }

    /// Number of certificate orders that failed.
    pub fn certs_failed(&self) -> usize {
        self.certs.iter().filter(|r| r.error.is_some()).count()
    }

    /// Number of server creates or removals that failed.
    pub fn servers_failed(&self) -> usize {
        self.servers.iter().filter(|r| r.error.is_some()).count()
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for r in &self.servers {
            let result = r
                .error
                .as_deref()
                .map_or("ok".into(), |e| format!("FAILED: {e}"));
            let _ = writeln!(out, "server {}  {}  {result}", r.name, r.op);
        }
        for r in &self.certs {
            let result = r
                .error
                .as_deref()
                .map_or("ok".into(), |e| format!("FAILED: {e}"));
            let _ = writeln!(out, "certificate {}  {} name(s)  {result}", r.cert, r.names);
        }
        for r in &self.dns {
            let result = match (&r.error, r.skipped) {
                (Some(e), _) => format!("FAILED: {e}"),
                (None, true) => "SKIPPED (after a transient failure)".to_string(),
                (None, false) => "ok".to_string(),
            };
            let _ = writeln!(out, "dns {}  {:<6}  {}  {result}", r.zone, r.op, r.record);
        }
        if self.rows.is_empty() && self.unknown.is_empty() {
            if self.dns.is_empty() && self.certs.is_empty() && self.servers.is_empty() {
                out.push_str("Nothing to do.\n");
            }
            return out;
        }
        let w_host = self
            .rows
            .iter()
            .map(|r| r.host.as_str().len())
            .chain([4])
            .max()
            .unwrap_or(4);
        let w_app = self
            .rows
            .iter()
            .map(|r| r.app.as_str().len())
            .chain([3])
            .max()
            .unwrap_or(3);
        let _ = writeln!(
            out,
            "{:<w_host$}  {:<w_app$}  {:<8}  {:>7}  RESULT",
            "HOST", "APP", "CHANGE", "ACTIONS"
        );
        for r in &self.rows {
            let change = format!("{:?}", r.change).to_lowercase();
            let result = match &r.outcome {
                Outcome::Done => "ok".to_string(),
                Outcome::Failed {
                    step,
                    error,
                    transient,
                } => {
                    format!(
                        "FAILED at {step}: {error}{}",
                        if *transient {
                            " (transient; retries exhausted)"
                        } else {
                            ""
                        }
                    )
                }
            };
            let _ = writeln!(
                out,
                "{:<w_host$}  {:<w_app$}  {:<8}  {:>7}  {result}",
                r.host.as_str(),
                r.app.as_str(),
                change,
                r.done
            );
        }
        for (h, why) in &self.unknown {
            let _ = writeln!(
                out,
                "{:<w_host$}  {:<w_app$}  {:<8}  {:>7}  SKIPPED: host unknown ({why})",
                h.as_str(),
                "*",
                "-",
                0
            );
        }
        let ok = self.rows.len() - self.failed();
        let _ = writeln!(
            out,
            "Applied: {ok} app(s) converged, {} failed, {} host(s) skipped.",
            self.failed(),
            self.unknown.len()
        );
        out
    }
}
