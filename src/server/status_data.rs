//! What the status page shows: the database's instances and reconcile
//! runs ([`load_instances`], [`load_runs`], one query each) and the fleet
//! view, turned by [`assemble`] (pure, no I/O) into the [`StatusPage`]
//! the template renders.
//!
//! Times, ages and durations are formatted here, so the template only
//! prints strings and numbers. Every string may come from a customer or a
//! remote host; the templates are autoescaped ([`super::status_page`]).

use super::view::{FleetView, HostView};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

mod records;
pub use records::{InstanceRecord, RunRecord, load_instances, load_runs};

/// How many reconcile runs the page lists.
pub const RUNS_SHOWN: i64 = 20;

/// Longest error text shown in a table cell (characters); longer ones are
/// cut, ending in `…`.
const CLIP: usize = 600;

/// The fleet view as far as the page could get one.
#[derive(Debug, Clone)]
pub enum Fleet {
    /// A recent view.
    Fresh(Arc<FleetView>),
    /// An older view, shown while a newer one is computed or cannot be;
    /// the note says which.
    Stale(Arc<FleetView>, String),
    /// None yet: the first one is being computed.
    Computing,
    /// None: computing failed, for this reason.
    Unavailable(String),
}

/// The page's header facts.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    /// This replica's name.
    pub replica: String,
    /// Whether it holds the leader lock.
    pub leader: bool,
    /// Requests waiting in the work queue.
    pub queue_depth: usize,
}

/// Everything `status/index.html.tera` renders.
#[derive(Debug, Clone, Serialize)]
pub struct StatusPage {
    /// Replica, leadership, queue depth.
    pub header: Header,
    /// When the page was made, UTC.
    pub generated_at: String,
    /// Hosts from the fleet view (empty without one).
    pub hosts: Vec<HostRow>,
    /// Hosts that could not be read.
    pub unreachable_hosts: usize,
    /// Every instance that is not deprovisioned, troubled ones first.
    pub instances: Vec<InstanceRow>,
    /// Instances that are failed or unhealthy.
    pub troubled_instances: usize,
    /// The pending plan.
    pub plan: PlanSection,
    /// The last [`RUNS_SHOWN`] runs, newest first.
    pub runs: Vec<RunRow>,
}

/// One host row: the fleet view's host, with its reason clipped for the
/// page.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    /// The host (name, reachability, capacity, apps).
    #[serde(flatten)]
    pub host: HostView,
    /// `used / capacity` in percent, 0–100 (the bar's width).
    pub used_pct: u64,
    /// ok (< 80 %), warn (< 95 %) or full: the bar's colour.
    pub level: &'static str,
}

/// One instance row.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceRow {
    /// Instance id.
    pub id: String,
    /// Subdomain, when it differs from the id.
    pub subdomain: Option<String>,
    /// Tier, or `unmapped`.
    pub tier: String,
    /// Status.
    pub status: String,
    /// ok, bad or muted: the status's colour.
    pub status_class: &'static str,
    /// unknown, healthy or unhealthy.
    pub health: String,
    /// ok, bad or muted.
    pub health_class: &'static str,
    /// How long ago health was checked (`never` when it was not).
    pub health_checked: String,
    /// The last check's error.
    pub health_error: Option<String>,
    /// Uptime over 24 hours and 30 days (`98.5% 24 h · 99.9% 30 d`),
    /// empty without checks.
    pub uptime: String,
    /// The last reconcile error.
    pub error: Option<String>,
    /// The host, from the database or else the plan's placement.
    pub host: Option<String>,
    /// yes, no, or `?` without a fleet view.
    pub drift: &'static str,
    /// The last change, as an age.
    pub updated: String,
    /// The last change, UTC.
    pub updated_at: String,
}

/// The pending plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSection {
    /// fresh, stale, computing or unavailable.
    pub state: &'static str,
    /// The plan as `roomctl plan` prints it ("" without a view).
    pub text: String,
    /// Planned changes.
    pub changes: usize,
    /// When the observation behind it was made, UTC.
    pub computed_at: Option<String>,
    /// Its age.
    pub age: Option<String>,
    /// Why it is stale or unavailable.
    pub note: Option<String>,
}

/// One run row.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// Start, UTC.
    pub started_at: String,
    /// Start, as an age.
    pub started: String,
    /// Replica.
    pub replica: String,
    /// Trigger.
    pub trigger: String,
    /// Scope.
    pub scope: String,
    /// Outcome.
    pub outcome: String,
    /// ok, warn, bad or muted: the outcome's colour.
    pub outcome_class: &'static str,
    /// Planned changes.
    pub planned: i32,
    /// Applied changes.
    pub applied: i32,
    /// Failed changes.
    pub failed: i32,
    /// How long it took, or has run so far.
    pub duration: String,
    /// Its error.
    pub error: Option<String>,
}

/// The page for these facts, as of `now`.
pub fn assemble(
    now: DateTime<Utc>,
    header: Header,
    fleet: &Fleet,
    instances: Vec<InstanceRecord>,
    runs: Vec<RunRecord>,
) -> StatusPage {
    let view = match fleet {
        Fleet::Fresh(v) | Fleet::Stale(v, _) => Some(v.as_ref()),
        Fleet::Computing | Fleet::Unavailable(_) => None,
    };
    let hosts: Vec<HostRow> = view.map_or_else(Vec::new, |v| v.hosts.iter().map(host).collect());
    let in_db: std::collections::BTreeSet<String> =
        instances.iter().map(|i| i.id.clone()).collect();
    let mut instances: Vec<InstanceRow> = instances
        .into_iter()
        .map(|i| instance(now, view, i))
        .collect();
    if let Some(v) = view {
        instances.extend(
            v.from_files
                .iter()
                .filter(|(id, _)| !in_db.contains(*id))
                .map(|(id, (tier, state))| from_file(v, id, tier, state)),
        );
    }
    StatusPage {
        header,
        generated_at: time(now),
        unreachable_hosts: hosts.iter().filter(|h| !h.host.reachable).count(),
        hosts,
        troubled_instances: instances
            .iter()
            .filter(|i| i.status_class == "bad" || i.health_class == "bad")
            .count(),
        instances,
        plan: plan(now, fleet),
        runs: runs.into_iter().map(|r| run(now, r)).collect(),
    }
}

fn host(h: &HostView) -> HostRow {
    let used_pct = match h.capacity_mb {
        0 if h.used_mb > 0 => 100,
        0 => 0,
        c => (h.used_mb.saturating_mul(100) / c).min(100),
    };
    HostRow {
        host: HostView {
            reason: h.reason.as_deref().map(clip),
            ..h.clone()
        },
        used_pct,
        level: match used_pct {
            0..80 => "ok",
            80..95 => "warn",
            _ => "full",
        },
    }
}

/// An instance declared in a file: no row, so no recorded status, health
/// or change time; its desired run state stands in for the status.
fn from_file(v: &FleetView, id: &str, tier: &str, state: &str) -> InstanceRow {
    InstanceRow {
        id: id.to_string(),
        subdomain: None,
        tier: tier.to_string(),
        status: format!("{state} (file)"),
        status_class: "muted",
        health: "not checked".into(),
        health_class: "muted",
        health_checked: "never".into(),
        health_error: None,
        uptime: String::new(),
        error: None,
        host: v.placements.get(id).cloned(),
        drift: if v.drifted.contains(id) { "yes" } else { "no" },
        updated: "-".into(),
        updated_at: String::new(),
    }
}

fn instance(now: DateTime<Utc>, view: Option<&FleetView>, i: InstanceRecord) -> InstanceRow {
    let placed = view.and_then(|v| v.placements.get(&i.id)).cloned();
    InstanceRow {
        subdomain: (i.subdomain != i.id).then_some(i.subdomain),
        tier: i.tier.unwrap_or_else(|| "unmapped".into()),
        status_class: match i.status.as_str() {
            "running" => "ok",
            "failed" => "bad",
            _ => "muted",
        },
        status: i.status,
        health_class: match i.health.as_str() {
            "healthy" => "ok",
            "unhealthy" => "bad",
            _ => "muted",
        },
        health: i.health,
        health_checked: i
            .health_checked_at
            .map_or_else(|| "never".into(), |t| ago(now, t)),
        health_error: i.health_error.as_deref().map(clip),
        uptime: uptime(i.uptime),
        error: i.error.as_deref().map(clip),
        host: i.host.or(placed),
        drift: match view {
            Some(v) if v.drifted.contains(&i.id) => "yes",
            Some(_) => "no",
            None => "?",
        },
        updated: ago(now, i.updated_at),
        updated_at: time(i.updated_at),
        id: i.id,
    }
}

/// `98.5% 24 h · 99.9% 30 d`, leaving out a window without checks.
fn uptime((day, month): (Option<f64>, Option<f64>)) -> String {
    let mut parts = Vec::new();
    if let Some(d) = day {
        parts.push(format!("{d:.1}% 24 h"));
    }
    if let Some(m) = month {
        parts.push(format!("{m:.1}% 30 d"));
    }
    parts.join(" · ")
}

fn plan(now: DateTime<Utc>, fleet: &Fleet) -> PlanSection {
    let (state, view, note) = match fleet {
        Fleet::Fresh(v) => ("fresh", Some(v), None),
        Fleet::Stale(v, note) => ("stale", Some(v), Some(clip(note))),
        Fleet::Computing => ("computing", None, None),
        Fleet::Unavailable(why) => ("unavailable", None, Some(clip(why))),
    };
    PlanSection {
        state,
        text: view
            .map(|v| v.plan_text.trim_end().to_string())
            .unwrap_or_default(),
        changes: view.map_or(0, |v| v.changes),
        computed_at: view.map(|v| time(v.computed_at)),
        age: view.map(|v| ago(now, v.computed_at)),
        note,
    }
}

fn run(now: DateTime<Utc>, r: RunRecord) -> RunRow {
    let end = r.finished_at.unwrap_or(now);
    RunRow {
        started_at: time(r.started_at),
        started: ago(now, r.started_at),
        outcome_class: match r.outcome.as_str() {
            "ok" => "ok",
            "partial" | "refused" | "interrupted" => "warn",
            "failed" => "bad",
            _ => "muted",
        },
        duration: match r.finished_at {
            Some(_) => span(end - r.started_at),
            None => format!("{} so far", span(end - r.started_at)),
        },
        replica: r.replica,
        trigger: r.trigger,
        scope: clip(&r.scope),
        outcome: r.outcome,
        planned: r.planned,
        applied: r.applied,
        failed: r.failed,
        error: r.error.as_deref().map(clip),
    }
}

/// `t` as `2026-11-22 08:23:20 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How long before `now` `t` was: `12 s ago`, `5 min ago`, `3 h ago`,
/// `2 d ago` (a `t` after `now` counts as now).
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86400),
    }
}

/// A duration as `350 ms`, `4.2 s`, `3 min 04 s` or `2 h 05 min`.
pub fn span(d: chrono::TimeDelta) -> String {
    let ms = d.num_milliseconds().max(0);
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(CLIP) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
