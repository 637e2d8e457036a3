//! An ACME order in two stages, so that no reconcile pass sleeps while the
//! challenge records propagate.
//!
//! [`advance`] moves one certificate's order one stage on and returns at
//! once:
//! - with no order in progress, it places one, publishes the challenge
//!   records and saves the order (its URL, the names, the record ids, and
//!   when the records will have propagated) to a small file, answering
//!   [`Stage::Waiting`] until then;
//! - asked again before that time, it answers [`Stage::Waiting`] again,
//!   without a request;
//! - asked again after it, it reopens the order by its URL, tells the CA,
//!   finalizes it and answers [`Stage::Issued`].
//!
//! The records are removed and the file deleted when the order ends,
//! issued or failed; an order for other names than the saved one replaces
//! it. A run killed while waiting leaves the file, so the next run carries
//! on with the same order instead of placing a second one. The file holds
//! no secret (the account key stays in the account store).

use super::{
    AcmeConfig, account, challenge_names, check_names, clean_up, finish, publish, remove_stale,
};
use crate::dns::DnsProvider;
use crate::dns::record::normalize_name;
use crate::tls::store::write_atomic;
use crate::tls::{IssuedCert, TlsError};
use chrono::{DateTime, Utc};
use instant_acme::{Identifier, NewOrder};
use std::path::Path;

/// Where an order stands after [`advance`].
#[derive(Debug)]
pub enum Stage {
    /// Issued: the order is over.
    Issued(IssuedCert),
    /// The challenge records are published; ask again at `until`.
    Waiting {
        /// When the records will have propagated.
        until: DateTime<Utc>,
    },
}

/// An order waiting for its records to propagate, as saved.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    order_url: String,
    zone: String,
    names: Vec<String>,
    records: Vec<String>,
    ready_at: DateTime<Utc>,
}

/// Moves the order for `names` (in `zone`, challenge records through
/// `dns`) one stage on, keeping its progress in `pending` between calls.
/// `now` is the current time. On an error nothing of the order is left:
/// its records are removed and `pending` deleted.
pub async fn advance(
    cfg: &AcmeConfig,
    account_store: &Path,
    pending: &Path,
    zone: &str,
    names: &[String],
    dns: &dyn DnsProvider,
    now: DateTime<Utc>,
) -> Result<Stage, TlsError> {
    let zone = normalize_name(zone);
    let names = check_names(&zone, names)?;
    let challenges = challenge_names(&names);
    if let Some(p) = load(pending)? {
        if p.zone == zone && p.names == names {
            if now < p.ready_at {
                return Ok(Stage::Waiting { until: p.ready_at });
            }
            let outcome = async {
                let account = account(cfg, account_store).await?;
                let mut order = account.order(p.order_url.clone()).await?;
                finish(cfg, &mut order, &names).await
            }
            .await;
            clean_up(dns, &zone, &p.records, outcome.is_err(), &challenges).await;
            remove(pending)?;
            return outcome.map(Stage::Issued);
        }
        tracing::info!(order = p.order_url, "ACME order for other names dropped");
        clean_up(dns, &p.zone, &p.records, false, &[]).await;
        remove(pending)?;
    }
    remove_stale(dns, &zone, &challenges).await?;
    let account = account(cfg, account_store).await?;
    let ids: Vec<Identifier> = names.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account.new_order(&NewOrder::new(&ids)).await?;
    tracing::info!(?names, order = order.url(), "ACME order placed");
    let mut created = Vec::new();
    let published = publish(&mut order, &zone, dns, &mut created).await;
    let waiting = async {
        published?;
        if created.is_empty() || cfg.dns_propagation_wait.is_zero() {
            return Ok(None);
        }
        let wait = chrono::Duration::from_std(cfg.dns_propagation_wait)
            .map_err(|e| TlsError::Invalid(format!("DNS propagation wait: {e}")))?;
        let p = Pending {
            order_url: order.url().to_string(),
            zone: zone.clone(),
            names: names.clone(),
            records: created.clone(),
            ready_at: now + wait,
        };
        save(pending, &p)?;
        tracing::info!(until = %p.ready_at, "ACME records published: waiting for them to propagate");
        Ok(Some(p.ready_at))
    }
    .await;
    match waiting {
        Ok(Some(until)) => Ok(Stage::Waiting { until }),
        Ok(None) => {
            let outcome = finish(cfg, &mut order, &names).await;
            clean_up(dns, &zone, &created, outcome.is_err(), &challenges).await;
            outcome.map(Stage::Issued)
        }
        Err(e) => {
            clean_up(dns, &zone, &created, true, &challenges).await;
            Err(e)
        }
    }
}

fn load(path: &Path) -> Result<Option<Pending>, TlsError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            TlsError::Invalid(format!(
                "{}: unreadable pending ACME order (line {} column {}); delete it to start over",
                path.display(),
                e.line(),
                e.column()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TlsError::io(path, e)),
    }
}

fn save(path: &Path, p: &Pending) -> Result<(), TlsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| TlsError::io(dir, e))?;
    }
    let json = serde_json::to_vec_pretty(p)
        .map_err(|e| TlsError::Invalid(format!("serializing the pending order: {e}")))?;
    write_atomic(path, &json, 0o600)
}

fn remove(path: &Path) -> Result<(), TlsError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TlsError::io(path, e)),
    }
}
