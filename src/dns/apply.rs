//! Reading a zone and applying a zone plan through a [`DnsProvider`].
//!
//! Creates and edits run before the apps are applied (so new names
//! resolve before Let's Encrypt validates them); deletes run after.
//! After a transient failure (rate limit, provider down) the rest of the
//! zone's changes wait for the next run instead of hammering the provider.

use super::plan::DnsChange;
use super::{DnsProvider, DnsRecord};
use crate::observed::ZoneObservation;
use serde::Serialize;

/// Reads `zone`; any failure makes it unknown, never empty.
pub async fn observe_zone(provider: &dyn DnsProvider, zone: &str) -> ZoneObservation {
    match provider.records(zone).await {
        Ok(records) => ZoneObservation::Known(records),
        Err(e) => ZoneObservation::Unknown {
            reason: e.to_string(),
        },
    }
}

/// How one DNS change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsRow {
    /// The zone.
    pub zone: String,
    /// `create`, `update` or `delete`.
    pub op: &'static str,
    /// The record (type, name, content).
    pub record: String,
    /// `None` when it succeeded; the error otherwise (no secrets).
    pub error: Option<String>,
    /// Whether it was not attempted (after a transient failure).
    pub skipped: bool,
}

fn describe(c: &DnsChange) -> (&'static str, &DnsRecord) {
    match c {
        DnsChange::Create { record } => ("create", record),
        DnsChange::Update { to, .. } => ("update", to),
        DnsChange::Delete { record } => ("delete", record),
    }
}

/// Applies `changes` to `zone` in order.
pub async fn apply_changes(
    provider: &dyn DnsProvider,
    zone: &str,
    changes: &[&DnsChange],
) -> Vec<DnsRow> {
    let mut rows = Vec::new();
    let mut stop = false;
    for c in changes {
        let (op, r) = describe(c);
        let mut row = DnsRow {
            zone: zone.to_string(),
            op,
            record: format!("{} {} {}", r.kind, r.name, r.content),
            error: None,
            skipped: stop,
        };
        if !stop {
            let result = match c {
                DnsChange::Create { record } => provider.create(zone, record).await.map(|_| ()),
                DnsChange::Update { id, to, .. } => provider.edit(zone, id, to).await,
                DnsChange::Delete { record } => {
                    let id = record.id.as_deref().unwrap_or_default();
                    provider.delete(zone, id).await
                }
            };
            if let Err(e) = result {
                stop = e.is_transient();
                row.error = Some(e.to_string());
                tracing::warn!(zone, op, record = %row.record, error = %e, "DNS change failed");
            } else {
                tracing::info!(zone, op, record = %row.record, "DNS change applied");
            }
        }
        rows.push(row);
    }
    rows
}
