//! Claims: no instance is changed by two passes of this process at once.
//!
//! A pass takes a [`Claims`] before it reads anything; the claim's number
//! orders it against releases. Before applying, it claims the instances
//! its plan changes ([`Claims::claim`]). An instance is refused when
//! another pass holds it, or when another pass released it after this
//! claim was taken: this pass read the instance before that pass changed
//! it, so its plan may be stale. A refused instance is left out of the
//! pass. It is queued again only when the pass holding it began reading
//! before this one (its plan may be older than what this pass read); an
//! instance another pass changed after this one began is left to that
//! pass's fresher work and the next resync. The queue gives a held
//! instance to no pass until it is released. Dropping the claim releases
//! everything it holds.

use super::{Reason, WorkQueue};
use crate::domain::InstanceId;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// One pass's claim on the instances it changes.
#[derive(Debug)]
pub struct Claims {
    pub(super) queue: WorkQueue,
    pub(super) number: u64,
    pub(super) held: Mutex<BTreeSet<InstanceId>>,
    /// Refused instances held by a pass that began reading before this
    /// one: they must run again once released.
    pub(super) again: Mutex<BTreeSet<InstanceId>>,
}

impl Claims {
    /// Claims `ids` for this pass. Returns the ones refused (held by
    /// another pass, or changed by one since this claim was taken); the
    /// rest are held until this value is dropped.
    pub fn claim(&self, ids: &BTreeSet<InstanceId>) -> BTreeSet<InstanceId> {
        let mut s = self.queue.state.lock().expect("queue lock");
        let mut held = self.held.lock().expect("claims lock");
        let mut again = self.again.lock().expect("claims lock");
        let mut refused = BTreeSet::new();
        for id in ids {
            let other = s.claimed.get(id).copied().filter(|n| *n != self.number);
            let stale = s.released.get(id).is_some_and(|n| *n > self.number);
            if other.is_some() || stale {
                if other.is_some_and(|n| n < self.number) {
                    again.insert(id.clone());
                }
                refused.insert(id.clone());
                continue;
            }
            s.claimed.insert(id.clone(), self.number);
            held.insert(id.clone());
        }
        refused
    }

    /// Queues again, for `reason`, the refused instances that must run
    /// again (held by a pass that began reading before this one): they run
    /// once no pass holds them. Returns them.
    pub fn requeue(&self, reason: Reason) -> BTreeSet<InstanceId> {
        let again = std::mem::take(&mut *self.again.lock().expect("claims lock"));
        for id in &again {
            self.queue.instance(id.clone(), reason);
        }
        again
    }
}

impl crate::reconcile::Claim for Claims {
    fn claim(&self, ids: &BTreeSet<InstanceId>) -> BTreeSet<InstanceId> {
        Claims::claim(self, ids)
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        let held = std::mem::take(&mut *self.held.lock().expect("claims lock"));
        if held.is_empty() {
            return;
        }
        let mut s = self.queue.state.lock().expect("queue lock");
        s.clock += 1;
        let now = s.clock;
        for id in held {
            if s.claimed.get(&id) == Some(&self.number) {
                s.claimed.remove(&id);
            }
            s.released.insert(id, now);
        }
        drop(s);
        self.queue.notify.notify_waiters();
    }
}
