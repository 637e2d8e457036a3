//! `GET /metrics`: Prometheus text format, with `prometheus-client`.
//!
//! Read with an API key like every other endpoint but `/healthz`; give
//! Prometheus a read-only key (`bearer_token` in its scrape config).
//! Names are prefixed `roomctl_`; counters end in `_total`. Every label
//! value is escaped as the text format requires, and a webhook's event
//! type is one of the types roomctl knows or `other`: a signed delivery
//! can neither add lines to the exposition nor grow it without bound.

use super::AppState;
use super::auth::Reader;
use crate::apply::report::{Outcome, Report};
use crate::plan::Plan;
use crate::webhook::process::{OTHER_EVENTS, SUBSCRIPTION_EVENTS};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::fmt::Write;
use std::sync::Arc;

/// A label value, written with `\\`, `\"` and `\n` escaped as the
/// Prometheus text exposition format requires: whatever it holds, it ends
/// inside its quotes, on its own line.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Escaped(String);

impl From<&str> for Escaped {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl EncodeLabelValue for Escaped {
    fn encode(&self, e: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => e.write_str("\\\\")?,
                '"' => e.write_str("\\\"")?,
                '\n' => e.write_str("\\n")?,
                c => e.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The `event_type` label of a delivery of type `kind`: the type itself
/// when roomctl acts on it (or `unknown`, before the body is read), else
/// `other`.
fn event_type_label(kind: &str) -> &str {
    let known =
        kind == "unknown" || SUBSCRIPTION_EVENTS.contains(&kind) || OTHER_EVENTS.contains(&kind);
    if known { kind } else { "other" }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabel {
    trigger: Escaped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabel {
    trigger: Escaped,
    outcome: Escaped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    kind: Escaped,
    outcome: Escaped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabel {
    event_type: Escaped,
    outcome: Escaped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabel {
    result: Escaped,
}

/// Every metric roomctl exports.
pub struct Metrics {
    registry: Registry,
    reconcile_seconds: Family<TriggerLabel, Histogram>,
    runs: Family<RunLabel, Counter>,
    actions: Family<ActionLabel, Counter>,
    drifted: Gauge,
    unknown_hosts: Gauge,
    webhooks: Family<WebhookLabel, Counter>,
    queue_depth: Gauge,
    failing: Gauge,
    health_checks: Family<HealthLabel, Counter>,
    unhealthy: Gauge,
    leader: Gauge,
}

fn reconcile_histogram() -> Histogram {
    // 0.05 s to about 3.4 min.
    Histogram::new(exponential_buckets(0.05, 2.0, 13))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("roomctl");
        let m = Self {
            reconcile_seconds: Family::new_with_constructor(reconcile_histogram),
            runs: Family::default(),
            actions: Family::default(),
            drifted: Gauge::default(),
            unknown_hosts: Gauge::default(),
            webhooks: Family::default(),
            queue_depth: Gauge::default(),
            failing: Gauge::default(),
            health_checks: Family::default(),
            unhealthy: Gauge::default(),
            leader: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "reconcile_duration_seconds",
            "Wall time of reconcile runs, by trigger",
            m.reconcile_seconds.clone(),
        );
        registry.register(
            "reconcile_runs",
            "Reconcile runs, by trigger and outcome",
            m.runs.clone(),
        );
        registry.register(
            "actions",
            "Dokku actions, by kind and outcome (applied, failed)",
            m.actions.clone(),
        );
        registry.register(
            "drifted_instances",
            "Instances with planned changes after the last full observation",
            m.drifted.clone(),
        );
        registry.register(
            "unknown_hosts",
            "Hosts that could not be read in the last run",
            m.unknown_hosts.clone(),
        );
        registry.register(
            "webhook_events",
            "Stripe webhook deliveries, by event type and outcome",
            m.webhooks.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests waiting in the work queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "failing_instances",
            "Instances backing off after failed runs",
            m.failing.clone(),
        );
        registry.register(
            "health_checks",
            "Instance health checks, by result (healthy, unhealthy, unknown)",
            m.health_checks.clone(),
        );
        registry.register(
            "unhealthy_instances",
            "Instances unhealthy at their last check",
            m.unhealthy.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lock",
            m.leader.clone(),
        );
        Self { registry, ..m }
    }

    /// Records a finished run.
    pub fn run(&self, trigger: &str, outcome: &str, seconds: f64) {
        self.reconcile_seconds
            .get_or_create(&TriggerLabel {
                trigger: trigger.into(),
            })
            .observe(seconds);
        self.runs
            .get_or_create(&RunLabel {
                trigger: trigger.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts the actions of an applied `plan` by kind, from its `report`:
    /// an app's first `done` actions were applied, the next one failed.
    pub fn actions(&self, plan: &Plan, report: &Report) {
        for row in &report.rows {
            let Some(p) = plan
                .apps()
                .find(|(h, a, _)| **h == row.host && **a == row.app)
                .map(|(_, _, p)| p)
            else {
                continue;
            };
            for a in p.actions.iter().take(row.done) {
                self.action(a.kind(), "applied");
            }
            if let (Outcome::Failed { .. }, Some(a)) = (&row.outcome, p.actions.get(row.done)) {
                self.action(a.kind(), "failed");
            }
        }
        for d in &report.dns {
            self.action(
                "dns",
                if d.error.is_none() {
                    "applied"
                } else {
                    "failed"
                },
            );
        }
    }

    /// Counts one action of `kind` with `outcome` (`applied` or `failed`).
    pub fn action(&self, kind: &str, outcome: &str) {
        self.actions
            .get_or_create(&ActionLabel {
                kind: kind.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Sets the fleet gauges from the last full observation.
    pub fn fleet(&self, drifted: usize, unknown_hosts: usize) {
        self.drifted.set(drifted as i64);
        self.unknown_hosts.set(unknown_hosts as i64);
    }

    /// Counts a webhook delivery; an event type roomctl does not act on
    /// is counted as `other`.
    pub fn webhook(&self, event_type: &str, outcome: &str) {
        self.webhooks
            .get_or_create(&WebhookLabel {
                event_type: event_type_label(event_type).into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Records a health round's results.
    pub fn health(&self, healthy: usize, unhealthy: usize, unknown: usize) {
        for (result, n) in [
            ("healthy", healthy),
            ("unhealthy", unhealthy),
            ("unknown", unknown),
        ] {
            self.health_checks
                .get_or_create(&HealthLabel {
                    result: result.into(),
                })
                .inc_by(n as u64);
        }
        self.unhealthy.set(unhealthy as i64);
    }

    /// The Prometheus text exposition, with the queue gauges as of now.
    pub fn encode(&self, queue_depth: usize, failing: usize, leader: bool) -> String {
        self.queue_depth.set(queue_depth as i64);
        self.failing.set(failing as i64);
        self.leader.set(i64::from(leader));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// `GET /metrics`.
pub async fn handler(_: Reader, State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let body = app.metrics.encode(
        app.queue.depth(),
        app.queue.failing().len(),
        app.replica.is_leader(),
    );
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_metric_the_operators_need() {
        let m = Metrics::new();
        m.run("timer", "ok", 1.5);
        m.action("create", "applied");
        m.webhook("customer.subscription.created", "applied");
        m.health(3, 1, 0);
        m.fleet(2, 1);
        let text = m.encode(4, 1, true);
        for needle in [
            "roomctl_reconcile_duration_seconds_bucket{",
            "roomctl_reconcile_runs_total{trigger=\"timer\",outcome=\"ok\"} 1",
            "roomctl_actions_total{kind=\"create\",outcome=\"applied\"} 1",
            "roomctl_drifted_instances 2",
            "roomctl_unknown_hosts 1",
            "roomctl_webhook_events_total{event_type=\"customer.subscription.created\",outcome=\"applied\"} 1",
            "roomctl_queue_depth 4",
            "roomctl_health_checks_total{result=\"unhealthy\"} 1",
            "roomctl_unhealthy_instances 1",
            "roomctl_leader 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    #[test]
    fn a_label_value_cannot_close_its_quotes_or_start_a_line() {
        let m = Metrics::new();
        let hostile = "x\"} 1\nroomctl_leader 7\n# \\";
        m.run(hostile, hostile, 1.0);
        m.action(hostile, hostile);
        let text = m.encode(0, 0, false);
        assert!(
            text.contains(
                r#"roomctl_reconcile_runs_total{trigger="x\"} 1\nroomctl_leader 7\n# \\",outcome="#
            ),
            "{text}"
        );
        let leader: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("roomctl_leader"))
            .collect();
        assert_eq!(leader, ["roomctl_leader 0"]);
    }

    #[test]
    fn an_event_type_roomctl_does_not_act_on_is_counted_as_other() {
        let m = Metrics::new();
        m.webhook("radar.early_fraud_warning.created", "recorded");
        m.webhook("invoice.payment_failed", "applied");
        let text = m.encode(0, 0, false);
        assert!(
            text.contains(r#"event_type="other",outcome="recorded"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"event_type="invoice.payment_failed",outcome="applied"} 1"#),
            "{text}"
        );
    }
}
