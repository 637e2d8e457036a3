//! Loading `dns.toml`: the DNS zone roomctl manages and its fixed records.
//!
//! The file is optional: without it roomctl manages no DNS at all.
//! Problems name the file, line, column and field, like every other file.

use super::error::{Location, Problem, Problems};
use super::files::{FileText, one};
use super::model::{DesiredInstance, InstanceSpec};
use crate::dns::{RecordType, normalize_name};
use crate::domain::{Fqdn, InstanceId, Label};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use toml::Spanned;

/// The smallest TTL Porkbun accepts.
pub const MIN_TTL: u32 = 600;

/// A record the platform declares by hand (e.g. the apex, `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixedRecord {
    /// Fully qualified, lowercase, no trailing dot.
    pub name: String,
    /// Type.
    pub kind: RecordType,
    /// Content, validated for the type.
    pub content: String,
    /// TTL (at least [`MIN_TTL`]).
    pub ttl: u32,
    /// Priority (MX only).
    pub prio: Option<u32>,
    /// Where `dns.toml` declares the record's name, for error messages.
    #[serde(skip)]
    pub at: Location,
}

/// The managed zone (`desired-state/dns.toml`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsSpec {
    /// The zone (a registered domain at the provider).
    pub zone: Fqdn,
    /// Written into each record's notes as roomctl's ownership mark, so
    /// ownership is provable from the provider alone. Several roomctl
    /// installations sharing a zone need different owners.
    pub owner: Label,
    /// TTL of the instances' records.
    pub ttl: u32,
    /// A plan that edits or deletes more than this share of the managed
    /// records is refused without `--force`.
    pub max_change_share: f64,
    /// The share guard applies only from this many managed records on.
    pub min_records_for_guard: usize,
    /// Fixed records.
    pub records: Vec<FixedRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsFile {
    dns: RawDns,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    zone: Option<Spanned<String>>,
    owner: Spanned<String>,
    ttl: Option<Spanned<u32>>,
    max_change_share: Option<Spanned<f64>>,
    min_records_for_guard: Option<usize>,
    #[serde(default)]
    record: Vec<Spanned<RawRecord>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    content: Spanned<String>,
    ttl: Option<Spanned<u32>>,
    prio: Option<u32>,
}

fn check_ttl(t: u32) -> Result<u32, String> {
    if t >= MIN_TTL {
        Ok(t)
    } else {
        Err(format!(
            "{t} is below the provider's minimum TTL of {MIN_TTL}"
        ))
    }
}

/// Checks `content` for a record of `kind`.
fn check_content(kind: &RecordType, content: &str) -> Result<String, String> {
    let ok = match kind {
        RecordType::A => content.parse::<Ipv4Addr>().is_ok(),
        RecordType::Aaaa => content.parse::<Ipv6Addr>().is_ok(),
        RecordType::Cname | RecordType::Alias | RecordType::Mx | RecordType::Ns => {
            Fqdn::parse(content.trim_end_matches('.')).is_ok()
        }
        RecordType::Txt | RecordType::Caa => {
            !content.is_empty()
                && content.len() <= 255
                && content.bytes().all(|b| (0x20..0x7f).contains(&b))
        }
        _ => return Err(format!("type {kind} is not supported in dns.toml")),
    };
    if ok {
        Ok(content.trim_end_matches('.').to_string())
    } else {
        Err(format!(
            "{content:?} is not valid content for a {kind} record"
        ))
    }
}

/// The record name `name` (relative, `@` for the apex, or fully
/// qualified inside the zone) as an FQDN.
fn record_name(name: &str, zone: &Fqdn) -> Result<String, String> {
    let name = normalize_name(name);
    let full = match name.as_str() {
        "@" | "" => zone.to_string(),
        n if n == zone.as_str() || n.ends_with(&format!(".{zone}")) => n.to_string(),
        n => format!("{n}.{zone}"),
    };
    let wildcard = full.strip_prefix("*.").unwrap_or(&full);
    Fqdn::parse(wildcard)
        .map(|_| full.clone())
        .map_err(|e| format!("{name:?}: {e}"))
}

/// Loads `path` when it exists; `Ok(None)` when it does not.
pub(crate) fn load_dns(path: &Path, base_domain: &Fqdn) -> Result<Option<DnsSpec>, Problems> {
    if !path.exists() {
        return Ok(None);
    }
    let mut p = Problems::default();
    let file = FileText::read(path).map_err(one)?;
    let raw: DnsFile = file.parse().map_err(one)?;
    let raw = raw.dns;
    let zone = match &raw.zone {
        Some(z) => file.check(&mut p, "dns.zone", z, Fqdn::parse),
        None => Some(base_domain.clone()),
    };
    let owner = file.check(&mut p, "dns.owner", &raw.owner, Label::parse);
    let ttl = match &raw.ttl {
        Some(t) => check_ttl(*t.get_ref())
            .map_err(|m| p.push(file.problem(t, "dns.ttl", m)))
            .ok(),
        None => Some(MIN_TTL),
    };
    let share = match &raw.max_change_share {
        Some(s) if !(0.0..=1.0).contains(s.get_ref()) => {
            p.push(file.problem(s, "dns.max_change_share", "must be between 0 and 1"));
            None
        }
        Some(s) => Some(*s.get_ref()),
        None => Some(0.3),
    };
    let mut records = Vec::new();
    if let Some(zone) = &zone {
        for r in &raw.record {
            let at = r.get_ref();
            let kind = RecordType::from(at.kind.get_ref().as_str());
            let name = record_name(at.name.get_ref(), zone)
                .map_err(|m| p.push(file.problem(&at.name, "dns.record.name", m)));
            let content = check_content(&kind, at.content.get_ref())
                .map_err(|m| p.push(file.problem(&at.content, "dns.record.content", m)));
            let ttl = match &at.ttl {
                Some(t) => check_ttl(*t.get_ref())
                    .map_err(|m| p.push(file.problem(t, "dns.record.ttl", m))),
                None => Ok(ttl.unwrap_or(MIN_TTL)),
            };
            if let (Ok(name), Ok(content), Ok(ttl)) = (name, content, ttl) {
                let prio = at.prio.filter(|_| kind.uses_prio());
                records.push(FixedRecord {
                    name,
                    kind,
                    content,
                    ttl,
                    prio,
                    at: file.at(&at.name),
                });
            }
        }
    }
    match (zone, owner, ttl, share) {
        (Some(zone), Some(owner), Some(ttl), Some(max_change_share)) if p.is_empty() => {
            Ok(Some(DnsSpec {
                zone,
                owner,
                ttl,
                max_change_share,
                min_records_for_guard: raw.min_records_for_guard.unwrap_or(10),
                records,
            }))
        }
        _ => Err(p),
    }
}

/// Whether a fixed record of `kind` cannot share its name with an
/// instance's domain, which roomctl gives A and AAAA records of its own: a
/// CNAME or ALIAS may not share a name with anything, another A or AAAA
/// would mix addresses, an NS would delegate the name away. TXT, MX and CAA
/// records may.
fn clashes_with_addresses(kind: &RecordType) -> bool {
    matches!(
        kind,
        RecordType::A | RecordType::Aaaa | RecordType::Cname | RecordType::Alias | RecordType::Ns
    )
}

/// One problem for each fixed record of `spec` that is at a domain of one
/// of `instances` and would clash with its A and AAAA records (see
/// [`clashes_with_addresses`]), naming both declarations. `locate` finds
/// where an instance declares a field (`subdomain`, else `id`: the
/// template derives the domains from them).
pub(crate) fn check_instance_domains(
    spec: &DnsSpec,
    instances: &BTreeMap<InstanceId, InstanceSpec>,
    locate: impl Fn(&DesiredInstance, &str) -> Option<Location>,
) -> Vec<Problem> {
    let mut fixed: BTreeMap<&str, Vec<&FixedRecord>> = BTreeMap::new();
    for r in spec
        .records
        .iter()
        .filter(|r| clashes_with_addresses(&r.kind))
    {
        fixed.entry(r.name.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    for inst in instances.values() {
        let domains = inst.apps.values().flat_map(|a| &a.domains);
        for r in domains.filter_map(|d| fixed.get(d.as_str())).flatten() {
            let inst = &inst.instance;
            let (instance_at, field) = ["subdomain", "id"]
                .into_iter()
                .find_map(|f| locate(inst, f).map(|at| (at, f)))
                .unwrap_or_else(|| (Location::of(&inst.source), "subdomain"));
            out.push(Problem::DnsClash {
                record_at: r.at.clone(),
                kind: r.kind.to_string(),
                name: r.name.clone(),
                instance: inst.id.clone(),
                instance_at,
                field: field.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_are_made_fully_qualified_inside_the_zone() {
        let z = Fqdn::parse("mindroom.chat").unwrap();
        assert_eq!(record_name("@", &z).unwrap(), "mindroom.chat");
        assert_eq!(record_name("Status", &z).unwrap(), "status.mindroom.chat");
        assert_eq!(record_name("*.x", &z).unwrap(), "*.x.mindroom.chat");
        assert_eq!(
            record_name("a.mindroom.chat.", &z).unwrap(),
            "a.mindroom.chat"
        );
        assert!(record_name("bad name", &z).is_err());
    }

    #[test]
    fn content_is_checked_for_its_type() {
        assert!(check_content(&RecordType::A, "203.0.113.1").is_ok());
        assert!(check_content(&RecordType::A, "2001:db8::1").is_err());
        assert!(check_content(&RecordType::Aaaa, "2001:db8::1").is_ok());
        assert_eq!(
            check_content(&RecordType::Cname, "x.example.com.").unwrap(),
            "x.example.com"
        );
        assert!(check_content(&RecordType::Txt, "v=spf1 -all").is_ok());
        assert!(check_content(&RecordType::Txt, "line\nbreak").is_err());
    }
}
