//! The pool of Dokku hosts roomctl creates on Hetzner Cloud: the optional
//! `[pool]` table of `hosts.toml`.
//!
//! Hosts listed as `[[host]]` are fixed; the pool's servers come and go
//! with demand. They are named `{name}-{n}`, carry the labels
//! `roomctl.owner = {owner}` and `roomctl.pool = {name}` (plus `labels`),
//! and roomctl touches no server without both.

use super::error::Problems;
use super::files::{FileText, memory_value, one};
use crate::domain::{Label, MemoryMb};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// The pool, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolSpec {
    /// Name and server name prefix: servers are `{name}-1`, `{name}-2`, ….
    pub name: Label,
    /// The value of the `roomctl.owner` label: which roomctl deployment
    /// owns the servers.
    pub owner: Label,
    /// Hetzner server type, e.g. `cx42`.
    pub server_type: String,
    /// Hetzner location, e.g. `fsn1`.
    pub location: String,
    /// Hetzner image, e.g. `debian-12`.
    pub image: String,
    /// Memory per server that instances may use.
    pub memory: MemoryMb,
    /// Servers to keep at least.
    pub min: usize,
    /// Servers to have at most.
    pub max: usize,
    /// Free memory to keep across all hosts once every instance is placed.
    pub headroom: MemoryMb,
    /// sshd's `MaxSessions` on pool servers (cloud-init sets it).
    pub max_sessions: usize,
    /// Extra labels for new servers.
    pub labels: BTreeMap<String, String>,
    /// Whether empty servers above `min` are removed (`roomctl apply
    /// --remove-empty-servers` sets it; off by default).
    pub remove_empty: bool,
}

#[derive(Deserialize)]
struct HostsFile {
    pool: Option<RawPool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: Spanned<String>,
    owner: Spanned<String>,
    server_type: Spanned<String>,
    location: Spanned<String>,
    #[serde(default = "default_image")]
    image: Spanned<String>,
    memory: Spanned<toml::Value>,
    #[serde(default)]
    min: usize,
    max: Spanned<usize>,
    #[serde(default = "default_headroom")]
    headroom: Spanned<toml::Value>,
    #[serde(default = "default_max_sessions")]
    max_sessions: usize,
    #[serde(default)]
    labels: BTreeMap<Spanned<String>, Spanned<String>>,
}

fn default_image() -> Spanned<String> {
    Spanned::new(0..0, "debian-12".into())
}

fn default_headroom() -> Spanned<toml::Value> {
    Spanned::new(0..0, toml::Value::String("0m".into()))
}

fn default_max_sessions() -> usize {
    20
}

/// Hetzner names (types, locations, images) and label parts: lowercase
/// letters, digits, `.`, `_` and `-`, 1 to 63 of them.
fn check_token(s: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} must be 1 to 63 of a-z 0-9 . _ - starting with a letter or digit"
        ))
    }
}

/// Loads the `[pool]` table of `hosts.toml`, if any.
pub(crate) fn load_pool(path: &Path) -> Result<Option<PoolSpec>, Problems> {
    let file = FileText::read(path).map_err(one)?;
    let raw: HostsFile = file.parse().map_err(one)?;
    let Some(raw) = raw.pool else {
        return Ok(None);
    };
    let mut p = Problems::default();
    let name = file.check(&mut p, "pool.name", &raw.name, Label::parse);
    let owner = file.check(&mut p, "pool.owner", &raw.owner, Label::parse);
    let mut token = |field: &str, s: &Spanned<String>| {
        check_token(s.get_ref())
            .map_err(|m| p.push(file.problem(s, field, m)))
            .ok()
    };
    let server_type = token("pool.server_type", &raw.server_type);
    let location = token("pool.location", &raw.location);
    let image = token("pool.image", &raw.image);
    let mut labels = BTreeMap::new();
    for (k, v) in &raw.labels {
        if let (Some(k), Some(v)) = (token("pool.labels", k), token("pool.labels", v)) {
            labels.insert(k, v);
        }
    }
    for reserved in [crate::hetzner::OWNER_LABEL, crate::hetzner::POOL_LABEL] {
        if let Some((k, _)) = raw.labels.iter().find(|(k, _)| k.get_ref() == reserved) {
            p.push(file.problem(k, "pool.labels", format!("`{reserved}` is set by roomctl")));
        }
    }
    let memory = memory_value(raw.memory.get_ref())
        .map_err(|m| p.push(file.problem(&raw.memory, "pool.memory", m)))
        .ok();
    let headroom = memory_value(raw.headroom.get_ref())
        .or_else(|e| match raw.headroom.get_ref() {
            toml::Value::Integer(0) => Ok(MemoryMb(0)),
            toml::Value::String(s) if s == "0m" => Ok(MemoryMb(0)),
            _ => Err(e),
        })
        .map_err(|m| p.push(file.problem(&raw.headroom, "pool.headroom", m)))
        .ok();
    if *raw.max.get_ref() < raw.min || *raw.max.get_ref() == 0 {
        p.push(file.problem(
            &raw.max,
            "pool.max",
            format!("must be at least 1 and at least pool.min ({})", raw.min),
        ));
    }
    match (name, owner, server_type, location, image, memory, headroom) {
        (
            Some(name),
            Some(owner),
            Some(server_type),
            Some(location),
            Some(image),
            Some(memory),
            Some(headroom),
        ) if p.is_empty() => Ok(Some(PoolSpec {
            name,
            owner,
            server_type,
            location,
            image,
            memory,
            min: raw.min,
            max: *raw.max.get_ref(),
            headroom,
            max_sessions: raw.max_sessions.max(1),
            labels,
            remove_empty: false,
        })),
        _ => Err(p),
    }
}

impl PoolSpec {
    /// Whether `server` is one of this pool's: it carries both roomctl
    /// labels with this pool's values.
    pub fn owns(&self, server: &crate::hetzner::CloudServer) -> bool {
        server
            .labels
            .get(crate::hetzner::OWNER_LABEL)
            .map(String::as_str)
            == Some(self.owner.as_str())
            && server
                .labels
                .get(crate::hetzner::POOL_LABEL)
                .map(String::as_str)
                == Some(self.name.as_str())
    }

    /// The Hetzner label selector for this pool's servers.
    pub fn selector(&self) -> String {
        format!(
            "{}={},{}={}",
            crate::hetzner::OWNER_LABEL,
            self.owner,
            crate::hetzner::POOL_LABEL,
            self.name
        )
    }

    /// Whether `server` can serve as a host: running, with a public IPv4
    /// and a valid host name.
    pub fn usable(&self, server: &crate::hetzner::CloudServer) -> bool {
        self.owns(server)
            && server.status == "running"
            && server.ipv4.is_some()
            && crate::domain::HostName::parse(&server.name).is_ok()
    }

    /// The host roomctl connects to for a usable pool `server`.
    pub fn host(&self, server: &crate::hetzner::CloudServer) -> Option<super::model::HostSpec> {
        if !self.usable(server) {
            return None;
        }
        let ipv4 = server.ipv4?;
        Some(super::model::HostSpec {
            name: crate::domain::HostName::parse(&server.name).ok()?,
            address: ipv4.to_string(),
            port: 22,
            user: "dokku".into(),
            ipv4: Some(ipv4),
            ipv6: server.ipv6,
            memory: self.memory,
            max_sessions: self.max_sessions,
            sandbox: None,
        })
    }
}

impl super::model::Desired {
    /// This desired state with the pool's usable servers among its hosts
    /// (a fixed host of the same name wins; the pool's server is then left
    /// out and never touched).
    pub fn with_pool_servers(&self, servers: &[crate::hetzner::CloudServer]) -> Self {
        let mut d = self.clone();
        if let Some(pool) = &self.pool {
            for h in servers.iter().filter_map(|s| pool.host(s)) {
                d.hosts.entry(h.name.clone()).or_insert(h);
            }
        }
        d
    }
}
