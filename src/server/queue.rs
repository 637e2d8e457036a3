//! The work queue every trigger goes through: the timer, Stripe webhooks,
//! edits under `desired-state/`, admin requests and the health checker.
//!
//! The worker takes batches from it in two lanes that run side by side:
//! full resyncs in one ([`Lane::Full`]), and the instances and accounts
//! that webhooks, files, operators and retries name in the other
//! ([`Lane::Targeted`]), so a customer's webhook never waits behind a
//! resync. An instance is never changed by two passes at once: a pass
//! [`Claims`] the instances its plan changes before applying, and an
//! instance another pass holds, or released after this pass began
//! reading, is left out (queued again, to run once it is released, when
//! the other pass's plan may be the older one). A key pushed while it waits, or while the batch holding it
//! runs, is merged: a burst costs one more run at most. An instance whose
//! run failed waits `base × 2^(failures-1)`, at most `max`, before it runs
//! again; meanwhile full resyncs leave it out, so it delays nobody. Admin
//! requests skip the wait. A pass that started something a later pass
//! finishes (a certificate order waiting for DNS, a booting server) asks
//! for a resync at a time ([`WorkQueue::full_at`]) instead of sleeping.

use crate::domain::InstanceId;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

/// Why work was queued.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// The process started.
    Start,
    /// The resync timer.
    Timer,
    /// A Stripe webhook.
    Webhook,
    /// A file under `desired-state/` changed.
    Files,
    /// An operator, through the admin API.
    Admin,
    /// The health checker (a restart).
    Health,
    /// A failed run's retry, after its backoff.
    Retry,
}

impl Reason {
    /// The label used in logs, metrics and `reconcile_runs.trigger`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Timer => "timer",
            Reason::Webhook => "webhook",
            Reason::Files => "files",
            Reason::Admin => "admin",
            Reason::Health => "health",
            Reason::Retry => "retry",
        }
    }
}

/// Retry timing for failing instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failures in a row (at least one).
    pub fn wait(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// A batch of work for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Resync everything (but `excluded`).
    pub full: bool,
    /// Accounts whose instances must run.
    pub accounts: BTreeSet<Uuid>,
    /// Instances that must run.
    pub instances: BTreeSet<InstanceId>,
    /// Instances waiting out a backoff: a full resync leaves them alone.
    pub excluded: BTreeSet<InstanceId>,
    /// Why, all reasons merged.
    pub reasons: BTreeSet<Reason>,
    /// When the oldest request in the batch was made.
    pub since: Option<Instant>,
}

impl Batch {
    /// The main reason, for the run's `trigger` label: the most urgent one.
    pub fn reason(&self) -> Reason {
        [
            Reason::Admin,
            Reason::Webhook,
            Reason::Health,
            Reason::Files,
            Reason::Retry,
            Reason::Start,
            Reason::Timer,
        ]
        .into_iter()
        .find(|r| self.reasons.contains(r))
        .unwrap_or(Reason::Timer)
    }

    fn is_empty(&self) -> bool {
        !self.full && self.accounts.is_empty() && self.instances.is_empty()
    }
}

#[derive(Debug, Default)]
struct Failing {
    failures: u32,
    until: Option<Instant>,
}

/// Which batches a taker wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Full resyncs only.
    Full,
    /// Instances and accounts only.
    Targeted,
    /// Everything at once, in one batch.
    Both,
}

#[derive(Debug, Default)]
struct State {
    full: Option<Instant>,
    /// A resync asked for at a time: due then.
    full_at: Option<Instant>,
    full_reasons: BTreeSet<Reason>,
    /// Instances a running pass changes, by its claim's number.
    claimed: BTreeMap<InstanceId, u64>,
    /// When each instance was last released, as a claim counter value.
    released: BTreeMap<InstanceId, u64>,
    /// Claims handed out so far.
    clock: u64,
    accounts: BTreeMap<Uuid, Instant>,
    /// Instance → when first requested; runs once its backoff is over.
    instances: BTreeMap<InstanceId, Instant>,
    reasons: BTreeSet<Reason>,
    failing: BTreeMap<InstanceId, Failing>,
}

impl State {
    fn blocked(&self, id: &InstanceId, now: Instant) -> bool {
        self.failing
            .get(id)
            .and_then(|f| f.until)
            .is_some_and(|u| u > now)
    }

    fn next_wake(&self) -> Option<Instant> {
        self.instances
            .keys()
            .filter_map(|id| self.failing.get(id).and_then(|f| f.until))
            .chain(self.full_at)
            .min()
    }

    /// Turns a scheduled resync that is due into a requested one.
    fn due(&mut self, now: Instant) {
        if let Some(at) = self.full_at
            && at <= now
        {
            self.full_at = None;
            self.full.get_or_insert(at);
            self.full_reasons.insert(Reason::Retry);
        }
    }
}

/// A cheap-to-clone handle on the queue.
#[derive(Debug, Clone, Default)]
pub struct WorkQueue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    backoff: Backoff,
}

impl WorkQueue {
    /// An empty queue with `backoff` for failing instances.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            ..Self::default()
        }
    }

    fn push(&self, reason: Reason, f: impl FnOnce(&mut State, Instant)) {
        let now = Instant::now();
        let mut s = self.state.lock().expect("queue lock");
        f(&mut s, now);
        s.reasons.insert(reason);
        drop(s);
        self.notify.notify_waiters();
    }

    /// Queues `account`'s instances.
    pub fn account(&self, account: Uuid, reason: Reason) {
        self.push(reason, |s, now| {
            s.accounts.entry(account).or_insert(now);
        });
    }

    /// Queues one instance. From an operator ([`Reason::Admin`]) it runs
    /// at once, whatever its backoff.
    pub fn instance(&self, id: InstanceId, reason: Reason) {
        self.push(reason, |s, now| {
            if reason == Reason::Admin
                && let Some(f) = s.failing.get_mut(&id)
            {
                f.until = None;
            }
            s.instances.entry(id).or_insert(now);
        });
    }

    /// Queues a resync of the whole fleet.
    pub fn full(&self, reason: Reason) {
        let mut s = self.state.lock().expect("queue lock");
        s.full.get_or_insert(Instant::now());
        s.full_reasons.insert(reason);
        drop(s);
        self.notify.notify_waiters();
    }

    /// Queues a resync of the whole fleet for `at` (the earliest such time
    /// asked for wins): a pass's "look again then", instead of a sleep.
    pub fn full_at(&self, at: Instant) {
        let mut s = self.state.lock().expect("queue lock");
        s.full_at = Some(s.full_at.map_or(at, |t| t.min(at)));
        drop(s);
        self.notify.notify_waiters();
    }

    /// A new claim for a pass about to read the fleet (see [`Claims`]).
    pub fn claims(&self) -> Claims {
        let mut s = self.state.lock().expect("queue lock");
        s.clock += 1;
        Claims {
            queue: self.clone(),
            number: s.clock,
            held: Mutex::new(BTreeSet::new()),
            again: Mutex::new(BTreeSet::new()),
        }
    }

    /// How many requests wait (a full resync counts one).
    pub fn depth(&self) -> usize {
        let s = self.state.lock().expect("queue lock");
        usize::from(s.full.is_some()) + s.accounts.len() + s.instances.len()
    }

    /// Instances failing now, with their failures in a row.
    pub fn failing(&self) -> BTreeMap<InstanceId, u32> {
        let s = self.state.lock().expect("queue lock");
        s.failing
            .iter()
            .map(|(k, f)| (k.clone(), f.failures))
            .collect()
    }

    /// Takes everything that may run now, or `None` if nothing may.
    pub fn try_take(&self) -> Option<Batch> {
        self.try_take_lane(Lane::Both)
    }

    /// Takes what `lane` may run now, or `None` if nothing may. Instances
    /// a running pass holds stay queued until it releases them.
    pub fn try_take_lane(&self, lane: Lane) -> Option<Batch> {
        let now = Instant::now();
        let mut s = self.state.lock().expect("queue lock");
        s.due(now);
        let full = lane != Lane::Targeted && s.full.is_some();
        let targeted = lane != Lane::Full;
        let ready: Vec<InstanceId> = match targeted {
            true => s
                .instances
                .keys()
                .filter(|id| !s.blocked(id, now) && !s.claimed.contains_key(*id))
                .cloned()
                .collect(),
            false => Vec::new(),
        };
        let mut batch = Batch {
            full,
            ..Batch::default()
        };
        if targeted {
            batch.accounts = s.accounts.keys().copied().collect();
        }
        let mut since: Vec<Instant> = match full {
            true => s.full.iter().copied().collect(),
            false => Vec::new(),
        };
        if targeted {
            since.extend(s.accounts.values().copied());
        }
        for id in ready {
            if let Some(t) = s.instances.remove(&id) {
                since.push(t);
            }
            batch.instances.insert(id);
        }
        if batch.is_empty() {
            return None;
        }
        if full {
            s.full = None;
            batch.reasons.extend(std::mem::take(&mut s.full_reasons));
        }
        if targeted {
            s.accounts.clear();
            batch.reasons.extend(std::mem::take(&mut s.reasons));
        }
        batch.excluded = s
            .failing
            .keys()
            .filter(|id| s.blocked(id, now))
            .cloned()
            .collect();
        batch.since = since.into_iter().min();
        Some(batch)
    }

    /// Waits until work may run and takes it.
    pub async fn next(&self) -> Batch {
        self.next_lane(Lane::Both).await
    }

    /// Waits until `lane` has work that may run and takes it.
    pub async fn next_lane(&self, lane: Lane) -> Batch {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(b) = self.try_take_lane(lane) {
                return b;
            }
            let wake = self.state.lock().expect("queue lock").next_wake();
            match wake {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at, notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// Records a run's outcome: `failed` instances back off and are queued
    /// again for when their wait ends; `ok` ones are cleared.
    pub fn finished(&self, ok: &BTreeSet<InstanceId>, failed: &BTreeSet<InstanceId>) {
        let now = Instant::now();
        let mut s = self.state.lock().expect("queue lock");
        for id in ok {
            s.failing.remove(id);
        }
        for id in failed {
            let f = s.failing.entry(id.clone()).or_default();
            f.failures += 1;
            f.until = Some(now + self.backoff.wait(f.failures));
            s.instances.entry(id.clone()).or_insert(now);
            s.reasons.insert(Reason::Retry);
        }
        drop(s);
        self.notify.notify_waiters();
    }
}

mod claims;
pub use claims::Claims;

#[cfg(test)]
mod tests;
