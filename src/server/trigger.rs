//! Wakes the reconcile worker: for some accounts now, or for everything.
//!
//! Requests that arrive while a pass runs are merged into the next one, so
//! a burst of webhooks costs one pass, not one per event.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use uuid::Uuid;

/// Work waiting for the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Accounts whose instances changed.
    pub accounts: BTreeSet<Uuid>,
    /// Whether the whole fleet must be reconciled.
    pub full: bool,
    /// When the oldest of these requests was made.
    pub since: Option<std::time::Instant>,
}

impl Pending {
    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && !self.full
    }
}

/// A cheap-to-clone handle shared by the webhook handler and the worker.
#[derive(Debug, Clone, Default)]
pub struct Trigger {
    pending: Arc<Mutex<Pending>>,
    notify: Arc<Notify>,
}

impl Trigger {
    /// Asks for a reconcile of `account`'s instances.
    pub fn account(&self, account: Uuid) {
        self.pending
            .lock()
            .expect("trigger lock")
            .accounts
            .insert(account);
        self.notify.notify_one();
    }

    /// Asks for a reconcile of the whole fleet.
    pub fn full(&self) {
        self.pending.lock().expect("trigger lock").full = true;
        self.notify.notify_one();
    }

    /// Waits until something is pending and takes all of it.
    pub async fn wait(&self) -> Pending {
        loop {
            let taken = std::mem::take(&mut *self.pending.lock().expect("trigger lock"));
            if !taken.is_empty() {
                return taken;
            }
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_made_before_waiting_are_merged_into_one_batch() {
        let t = Trigger::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        t.account(a);
        t.account(b);
        t.account(a);
        let p = t.wait().await;
        assert_eq!(p.accounts, BTreeSet::from([a, b]));
        assert!(!p.full);
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_on_a_request() {
        let t = Trigger::default();
        let waiter = tokio::spawn({
            let t = t.clone();
            async move { t.wait().await }
        });
        tokio::task::yield_now().await;
        t.full();
        let p = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert!(p.full);
    }
}
