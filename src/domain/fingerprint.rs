//! Fingerprints: 128-bit hashes of what roomctl compares on every app.
//!
//! Comparing an app's managed env and settings field by field is cheap
//! once, but a fleet-wide plan touches every value of every app, and at
//! 100,000 instances that is bound by memory latency. So each side hashes
//! its values where they are built and hot: the desired side when the
//! instance is rendered ([`crate::desired::AppSpec::seal`]), the observed
//! side when the env is parsed. The planner compares two numbers and walks
//! the values only when they differ. XXH3-128's output is fixed by its
//! specification; a collision (2^-128) could only hide a difference, and
//! whoever can craft one already controls the app.

use super::{Fqdn, Mount, PortMapping, Scheme};
use std::collections::BTreeSet;
use xxhash_rust::xxh3::Xxh3;

/// Hashes of the desired side of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Fingerprint {
    /// Managed env and marks: equal to the observed side's
    /// [`env_fingerprint`] exactly when nothing in the env differs.
    pub env: u128,
    /// Domains, ports and mounts (the inputs of the applied-settings digest).
    pub settings: u128,
}

/// Hashes one `key=value` pair unambiguously (lengths first).
fn pair(h: &mut Xxh3, key: &str, value: Option<&str>) {
    h.update(&(key.len() as u64).to_le_bytes());
    h.update(key.as_bytes());
    match value {
        Some(v) => {
            h.update(&[1]);
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        None => h.update(&[0]),
    }
}

/// roomctl's marks as an env fingerprint sees them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Marks<'a> {
    /// `ROOMCTL_INSTANCE`.
    pub instance: Option<&'a str>,
    /// `ROOMCTL_ROLE`.
    pub role: Option<&'a str>,
    /// `ROOMCTL_KEYS`.
    pub keys: Option<&'a str>,
    /// `ROOMCTL_OWNER`.
    pub owner: Option<&'a str>,
}

/// The env fingerprint of managed `pairs` (in key order) plus roomctl's
/// marks. Both sides call this with the same inputs when they agree.
pub fn env_fingerprint<'a>(
    pairs: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    marks: Marks<'_>,
) -> u128 {
    let Marks {
        instance,
        role,
        keys,
        owner,
    } = marks;
    let mut h = Xxh3::new();
    for (k, v) in pairs {
        pair(&mut h, k, v);
    }
    h.update(b"|marks|");
    pair(&mut h, "instance", instance);
    pair(&mut h, "role", role);
    pair(&mut h, "keys", keys);
    pair(&mut h, "owner", owner);
    h.digest128()
}

/// The settings fingerprint: domains, ports and mounts, in order.
pub fn settings_fingerprint(
    domains: &BTreeSet<Fqdn>,
    ports: &BTreeSet<PortMapping>,
    storage: &BTreeSet<Mount>,
    nginx: &std::collections::BTreeMap<String, String>,
) -> u128 {
    let mut h = Xxh3::new();
    h.update(b"d=");
    for d in domains {
        h.update(d.as_str().as_bytes());
        h.update(b",");
    }
    h.update(b"|p=");
    for p in ports {
        h.update(if p.scheme == Scheme::Http {
            b"http:".as_slice()
        } else {
            b"https:".as_slice()
        });
        h.update(&p.host.to_be_bytes());
        h.update(&p.container.to_be_bytes());
        h.update(b",");
    }
    h.update(b"|s=");
    for m in storage {
        h.update(m.host_path.as_bytes());
        h.update(b":");
        h.update(m.container_path.as_bytes());
        h.update(b",");
    }
    // Only when there are any, so that an app without nginx properties
    // keeps the digest earlier versions stored on it.
    if !nginx.is_empty() {
        h.update(b"|n=");
        for (k, v) in nginx {
            h.update(k.as_bytes());
            h.update(b"=");
            h.update(v.as_bytes());
            h.update(b",");
        }
    }
    h.digest128()
}
