//! Porkbun's JSON shapes: zone names, record bodies for create/edit, and
//! parsing answers whose numbers may come as strings. A field of the wrong
//! type is an error, never a default.

use super::super::record::{DnsRecord, RecordType, normalize_name, relative_name};
use super::{DnsError, MIN_TTL};
use serde_json::{Value, json};

/// A normalized, non-empty zone name.
pub(super) fn zone_name(zone: &str) -> Result<String, DnsError> {
    let zone = normalize_name(zone);
    if zone.is_empty() || zone.contains('/') {
        return Err(DnsError::Invalid(format!("bad zone name {zone:?}")));
    }
    Ok(zone)
}

/// The create/edit body for `r` (keys are added by `call`). The TTL is
/// raised to [`MIN_TTL`]; numbers are sent as strings, as documented.
pub(super) fn record_body(zone: &str, r: &DnsRecord) -> Result<Value, DnsError> {
    let name = relative_name(&r.name, zone)
        .ok_or_else(|| DnsError::Invalid(format!("record {} is not in zone {zone}", r.name)))?;
    let mut body = json!({
        "name": name,
        "type": r.kind.as_str(),
        "content": r.content,
        "ttl": r.ttl.max(MIN_TTL).to_string(),
        "notes": r.notes.clone().unwrap_or_default(),
    });
    if let Some(prio) = r.prio {
        body["prio"] = json!(prio.to_string());
    }
    Ok(body)
}

pub(super) fn unreadable(what: impl Into<String>) -> DnsError {
    DnsError::Unreadable(what.into())
}

/// Field `k` of `v` as text: Porkbun sends numbers as strings or numbers.
pub(super) fn field_text(v: &Value, k: &str) -> Result<Option<String>, DnsError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(unreadable(format!("field {k} is {other}"))),
    }
}

/// Field `k` of `v` as a number; `None` when absent, null or `""`.
pub(super) fn field_number(v: &Value, k: &str) -> Result<Option<u32>, DnsError> {
    match field_text(v, k)?.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| unreadable(format!("field {k} is {s:?}"))),
    }
}

/// One record as Porkbun sends it. A zero `prio` on a type without
/// priorities and empty `notes` read as `None`.
pub(super) fn parse_record(v: &Value) -> Result<DnsRecord, DnsError> {
    let required =
        |k: &str| field_text(v, k)?.ok_or_else(|| unreadable(format!("record without {k}")));
    let kind = RecordType::from(required("type")?.as_str());
    Ok(DnsRecord {
        id: Some(required("id")?),
        name: normalize_name(&required("name")?),
        content: required("content")?,
        ttl: field_number(v, "ttl")?.ok_or_else(|| unreadable("record without ttl"))?,
        prio: field_number(v, "prio")?.filter(|&p| p != 0 || kind.uses_prio()),
        notes: field_text(v, "notes")?.filter(|n| !n.is_empty()),
        kind,
    })
}

/// The `records` of a retrieve answer, sorted. A missing or malformed list
/// is `Unreadable`, never empty.
pub(super) fn parse_records(v: &Value) -> Result<Vec<DnsRecord>, DnsError> {
    let list = v.get("records").and_then(Value::as_array);
    let list = list.ok_or_else(|| unreadable("retrieve answer without a records list"))?;
    let mut records = list
        .iter()
        .map(parse_record)
        .collect::<Result<Vec<_>, _>>()?;
    records.sort();
    Ok(records)
}
