//! DNS records as roomctl compares them, independent of any provider's wire
//! format: names are lowercase FQDNs without a trailing dot, numbers are
//! numbers, and records sort by name, type and content so that two lists of
//! records can be compared after sorting.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// The TTL roomctl asks for when nothing else is said (Porkbun's minimum).
pub const DEFAULT_TTL: u32 = 600;

/// A record type. The common ones are variants; anything else is kept
/// verbatim (uppercased) in [`RecordType::Other`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Canonical name (excludes every other record at the same name).
    Cname,
    /// Free text (SPF, verification tokens, ACME challenges).
    Txt,
    /// Provider-side flattened CNAME, usable at the apex.
    Alias,
    /// Mail exchanger (uses `prio`).
    Mx,
    /// Name server delegation.
    Ns,
    /// Certification authority authorization.
    Caa,
    /// Service locator (uses `prio`).
    Srv,
    /// Any other type, uppercased (`HTTPS`, `TLSA`, …).
    Other(String),
}

impl RecordType {
    /// The type as DNS spells it (`"AAAA"`, `"CNAME"`, …).
    pub fn as_str(&self) -> &str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Txt => "TXT",
            RecordType::Alias => "ALIAS",
            RecordType::Mx => "MX",
            RecordType::Ns => "NS",
            RecordType::Caa => "CAA",
            RecordType::Srv => "SRV",
            RecordType::Other(s) => s,
        }
    }

    /// Whether records of this type carry a meaningful priority.
    pub fn uses_prio(&self) -> bool {
        matches!(self, RecordType::Mx | RecordType::Srv)
    }
}

impl From<&str> for RecordType {
    fn from(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "A" => RecordType::A,
            "AAAA" => RecordType::Aaaa,
            "CNAME" => RecordType::Cname,
            "TXT" => RecordType::Txt,
            "ALIAS" => RecordType::Alias,
            "MX" => RecordType::Mx,
            "NS" => RecordType::Ns,
            "CAA" => RecordType::Caa,
            "SRV" => RecordType::Srv,
            other => RecordType::Other(other.to_string()),
        }
    }
}

impl From<String> for RecordType {
    fn from(s: String) -> Self {
        RecordType::from(s.as_str())
    }
}

impl From<RecordType> for String {
    fn from(t: RecordType) -> Self {
        t.as_str().to_string()
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lowercases a DNS name and drops a trailing dot (`"WWW.Example.com."` →
/// `"www.example.com"`).
pub fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The part of FQDN `name` in front of `zone`: `""` for the apex,
/// `"www"` for `www.example.com` in `example.com`, `None` when `name` is not
/// inside `zone`. Both are normalized first.
pub fn relative_name(name: &str, zone: &str) -> Option<String> {
    let (name, zone) = (normalize_name(name), normalize_name(zone));
    if name == zone {
        return Some(String::new());
    }
    let sub = name.strip_suffix(zone.as_str())?.strip_suffix('.')?;
    (!sub.is_empty() && !zone.is_empty()).then(|| sub.to_string())
}

/// One DNS record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DnsRecord {
    /// The provider's id; `None` for a record that does not exist yet.
    pub id: Option<String>,
    /// Fully qualified name, lowercase, no trailing dot (`"www.example.com"`).
    pub name: String,
    /// Record type.
    pub kind: RecordType,
    /// Record data as the provider shows it (an address, a target, text).
    pub content: String,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Priority, for types that use one (MX, SRV).
    pub prio: Option<u32>,
    /// Free-form notes the provider keeps with the record.
    pub notes: Option<String>,
}

impl DnsRecord {
    /// A record without id, with [`DEFAULT_TTL`], no priority and no notes.
    /// The name is normalized.
    pub fn new(name: &str, kind: RecordType, content: impl Into<String>) -> Self {
        Self {
            id: None,
            name: normalize_name(name),
            kind,
            content: content.into(),
            ttl: DEFAULT_TTL,
            prio: None,
            notes: None,
        }
    }

    /// The record's name and type.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            name: self.name.clone(),
            kind: self.kind.clone(),
        }
    }

    /// Whether two records say the same thing, ignoring their ids.
    pub fn same_data(&self, other: &DnsRecord) -> bool {
        self.cmp_data(other) == Ordering::Equal
    }

    fn cmp_data(&self, other: &DnsRecord) -> Ordering {
        (
            &self.name,
            &self.kind,
            &self.content,
            self.ttl,
            self.prio,
            &self.notes,
        )
            .cmp(&(
                &other.name,
                &other.kind,
                &other.content,
                other.ttl,
                other.prio,
                &other.notes,
            ))
    }
}

impl Ord for DnsRecord {
    /// By name, type and content; then the remaining fields, so that the
    /// order agrees with `Eq`.
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_data(other).then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for DnsRecord {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A record set's identity: name and type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordKey {
    /// Fully qualified name, lowercase, no trailing dot.
    pub name: String,
    /// Record type.
    pub kind: RecordType,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_case_insensitively_and_keep_unknown_ones() {
        assert_eq!(RecordType::from("cname"), RecordType::Cname);
        assert_eq!(RecordType::from("https"), RecordType::Other("HTTPS".into()));
        assert_eq!(RecordType::from("AAAA").to_string(), "AAAA");
    }

    #[test]
    fn records_sort_by_name_then_type_then_content() {
        let mut v = [
            DnsRecord::new("b.example.com", RecordType::A, "1.1.1.1"),
            DnsRecord::new("a.example.com", RecordType::Txt, "x"),
            DnsRecord::new("a.example.com", RecordType::A, "2.2.2.2"),
            DnsRecord::new("a.example.com", RecordType::A, "1.1.1.1"),
        ];
        v.sort();
        let got: Vec<_> = v
            .iter()
            .map(|r| (r.name.as_str(), r.content.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a.example.com", "1.1.1.1"),
                ("a.example.com", "2.2.2.2"),
                ("a.example.com", "x"),
                ("b.example.com", "1.1.1.1")
            ]
        );
    }

    #[test]
    fn names_become_relative_to_their_zone() {
        let rel = |n, z| relative_name(n, z);
        assert_eq!(rel("example.com", "example.com").as_deref(), Some(""));
        assert_eq!(
            rel("WWW.example.com.", "example.com").as_deref(),
            Some("www")
        );
        assert_eq!(
            rel("*.a.example.com", "Example.com").as_deref(),
            Some("*.a")
        );
        assert_eq!(rel("badexample.com", "example.com"), None);
        assert_eq!(rel("example.org", "example.com"), None);
    }

    #[test]
    fn names_are_normalized_and_ids_do_not_change_the_data() {
        let mut a = DnsRecord::new("WWW.Example.COM.", RecordType::A, "1.1.1.1");
        assert_eq!(a.name, "www.example.com");
        let b = a.clone();
        a.id = Some("7".into());
        assert!(a.same_data(&b));
        assert_ne!(a, b);
    }
}
