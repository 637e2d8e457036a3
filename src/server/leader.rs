//! Leader election among `serve` replicas sharing one database, and the
//! forwarding of work to the leader.
//!
//! The leader is the replica holding a PostgreSQL session-level advisory
//! lock ([`LOCK_KEY`]) on a connection of its own. Only the leader
//! reconciles and runs health checks; every replica serves HTTP. If the
//! leader dies its session ends, PostgreSQL releases the lock, and a
//! follower takes it at its next attempt (every `poll`, 1 s by default).
//! The leader checks its connection every `poll` too: when the check
//! fails it steps down at once, and its worker stops after the action in
//! flight.
//!
//! Work queued on a follower (a webhook, an admin request) is sent to the
//! leader with `NOTIFY` on [`CHANNEL`]; the leader's listener queues it.
//! A lost notification only delays the work until the next resync.

use super::queue::{Batch, Reason, WorkQueue};
use crate::domain::InstanceId;
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgListener};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// The advisory lock's key: "roomctl" in ASCII.
pub const LOCK_KEY: i64 = 0x0072_6f6f_6d63_746c;

/// The `NOTIFY` channel for forwarded work.
pub const CHANNEL: &str = "roomctl_work";

/// Work forwarded from a follower.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarded {
    /// The sending replica.
    pub from: String,
    /// A full resync.
    pub full: bool,
    /// Accounts.
    pub accounts: BTreeSet<Uuid>,
    /// Instance ids.
    pub instances: BTreeSet<String>,
    /// Reasons, by label.
    pub reasons: BTreeSet<Reason>,
}

impl Forwarded {
    fn from_batch(from: &str, b: &Batch) -> Self {
        Self {
            from: from.to_string(),
            full: b.full,
            accounts: b.accounts.clone(),
            instances: b.instances.iter().map(|i| i.to_string()).collect(),
            reasons: b.reasons.clone(),
        }
    }

    /// Queues this work on `queue`. Ids that are not valid instance ids
    /// are dropped.
    pub fn enqueue(&self, queue: &WorkQueue) {
        let reason = |preferred: Reason| {
            if self.reasons.contains(&preferred) {
                preferred
            } else {
                self.reasons
                    .iter()
                    .next()
                    .copied()
                    .unwrap_or(Reason::Webhook)
            }
        };
        if self.full {
            queue.full(reason(Reason::Files));
        }
        for a in &self.accounts {
            queue.account(*a, reason(Reason::Webhook));
        }
        for i in &self.instances {
            if let Ok(id) = InstanceId::parse(i) {
                queue.instance(id, reason(Reason::Admin));
            }
        }
    }
}

/// Election settings.
#[derive(Debug, Clone)]
pub struct Election {
    /// The database URL (the lock needs a connection of its own).
    pub url: String,
    /// This replica's name.
    pub replica: String,
    /// Time between attempts to take the lock, and between checks that
    /// it is still held.
    pub poll: Duration,
}

async fn try_lock(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(conn)
        .await
}

async fn still_held(conn: &mut PgConnection, poll: Duration) -> bool {
    let check = sqlx::query_scalar::<_, bool>(
        "select exists (select 1 from pg_locks
                         where locktype = 'advisory' and pid = pg_backend_pid() and granted
                           and ((classid::bigint << 32) | objid::bigint) = $1)",
    )
    .bind(LOCK_KEY)
    .fetch_one(conn);
    matches!(
        tokio::time::timeout(poll.max(Duration::from_secs(1)), check).await,
        Ok(Ok(true))
    )
}

/// Runs the election until `shutdown`, publishing leadership on `tx`. On
/// shutdown the lock is released (after the worker has stopped: the
/// caller waits for it first, then sends `release`).
pub async fn run(e: Election, tx: watch::Sender<bool>, mut release: watch::Receiver<bool>) {
    let mut conn: Option<PgConnection> = None;
    loop {
        if *release.borrow() {
            break;
        }
        let leading = *tx.borrow();
        if leading {
            let ok = match conn.as_mut() {
                Some(c) => still_held(c, e.poll).await,
                None => false,
            };
            if !ok {
                tracing::error!(replica = %e.replica, "lost the leader lock's connection; stepping down");
                conn = None;
                let _ = tx.send(false);
            }
        } else {
            if conn.is_none() {
                match PgConnection::connect(&e.url).await {
                    Ok(c) => conn = Some(c),
                    Err(err) => {
                        tracing::warn!(error = %crate::db::chain(&err), "leader election: cannot connect");
                    }
                }
            }
            if let Some(c) = conn.as_mut() {
                match try_lock(c).await {
                    Ok(true) => {
                        tracing::info!(replica = %e.replica, "took the leader lock");
                        let _ = tx.send(true);
                        continue;
                    }
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(error = %crate::db::chain(&err), "leader election: lock attempt failed");
                        conn = None;
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(e.poll) => {}
            _ = release.changed() => {}
        }
    }
    if let Some(mut c) = conn {
        if *tx.borrow() {
            let _ = sqlx::query("select pg_advisory_unlock($1)")
                .bind(LOCK_KEY)
                .execute(&mut c)
                .await;
            tracing::info!(replica = %e.replica, "released the leader lock");
        }
        let _ = c.close().await;
    }
    let _ = tx.send(false);
}

/// While this replica follows, sends what is queued locally to the
/// leader. Runs until `stop`.
pub async fn forward(
    pool: sqlx::PgPool,
    replica: String,
    queue: WorkQueue,
    mut leader: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = leader.wait_for(|l| !*l) => {}
        }
        let batch = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = leader.wait_for(|l| *l) => continue,
            b = queue.next() => b,
        };
        if *leader.borrow() {
            // Became the leader meanwhile: keep the work here.
            Forwarded::from_batch(&replica, &batch).enqueue(&queue);
            continue;
        }
        let msg = Forwarded::from_batch(&replica, &batch);
        let payload = serde_json::to_string(&msg).expect("serializable");
        let sent = sqlx::query("select pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&pool)
            .await;
        match sent {
            Ok(_) => tracing::info!(
                full = msg.full,
                accounts = msg.accounts.len(),
                instances = msg.instances.len(),
                "work forwarded to the leader"
            ),
            Err(err) => {
                tracing::warn!(error = %crate::db::chain(&err), "cannot forward work to the leader; the next resync covers it");
            }
        }
    }
}

/// Queues the work other replicas forward, while this replica leads (a
/// follower ignores it: re-forwarding would bounce it between followers).
/// Runs until `stop`; reconnects after errors.
pub async fn listen(
    url: String,
    replica: String,
    queue: WorkQueue,
    leader: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let mut listener = match PgListener::connect(&url).await {
            Ok(l) => l,
            Err(err) => {
                tracing::warn!(error = %crate::db::chain(&err), "work listener: cannot connect");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %crate::db::chain(&err), "work listener: LISTEN failed");
            continue;
        }
        loop {
            let n = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                n = listener.recv() => n,
            };
            match n {
                Ok(n) => match serde_json::from_str::<Forwarded>(n.payload()) {
                    Ok(f) if f.from != replica && *leader.borrow() => f.enqueue(&queue),
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "ignoring a malformed work notification")
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %crate::db::chain(&err), "work listener lost its connection");
                    break;
                }
            }
        }
    }
}
