//! Resource newtypes: port mappings, storage mounts, memory and CPU limits, run state.

use super::names::NameError;
use serde::{Deserialize, Serialize};
use std::fmt;

fn err(kind: &'static str, value: &str, reason: &'static str) -> NameError {
    NameError {
        kind,
        value: value.to_string(),
        reason,
    }
}

/// The proxy scheme of a Dokku port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS (Dokku adds these itself when TLS is enabled).
    Https,
}

/// One Dokku port mapping, written `scheme:host:container` (e.g. `http:80:8765`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMapping {
    /// The scheme.
    pub scheme: Scheme,
    /// The port nginx listens on.
    pub host: u16,
    /// The port the container listens on.
    pub container: u16,
}

impl PortMapping {
    /// Parses `scheme:host:container`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let parts: Vec<&str> = s.split(':').collect();
        let [scheme, host, container] = parts.as_slice() else {
            return Err(err("port mapping", s, "must be scheme:host:container"));
        };
        let scheme = match *scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(err("port mapping", s, "scheme must be http or https")),
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
        match (port(host), port(container)) {
            (Some(host), Some(container)) => Ok(Self {
                scheme,
                host,
                container,
            }),
            _ => Err(err("port mapping", s, "ports must be 1 to 65535")),
        }
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}:{}:{}", self.host, self.container)
    }
}

impl Serialize for PortMapping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for PortMapping {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Checks an absolute path safe to pass as one command-line token.
fn check_path(s: &str) -> Result<(), NameError> {
    if !s.starts_with('/') || s.len() > 1024 {
        return Err(err(
            "path",
            s,
            "must be absolute and at most 1024 characters",
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
    {
        return Err(err("path", s, "may contain only A-Z a-z 0-9 . _ / -"));
    }
    if s.split('/').any(|c| c == ".." || c == ".") || s.contains("//") {
        return Err(err("path", s, "must be normalised (no '.', '..' or '//')"));
    }
    Ok(())
}

/// A bind mount, written `host-dir:container-dir` as `storage:mount` takes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mount {
    /// Absolute directory on the host.
    pub host_path: String,
    /// Absolute directory inside the container.
    pub container_path: String,
}

impl Mount {
    /// Builds a mount from two absolute, normalised paths.
    pub fn new(host_path: &str, container_path: &str) -> Result<Self, NameError> {
        check_path(host_path)?;
        check_path(container_path)?;
        Ok(Self {
            host_path: host_path.to_string(),
            container_path: container_path.to_string(),
        })
    }

    /// Parses `host-dir:container-dir`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        match s.split_once(':') {
            Some((h, c)) => Self::new(h, c),
            None => Err(err("mount", s, "must be host-dir:container-dir")),
        }
    }
}

impl fmt::Display for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host_path, self.container_path)
    }
}
impl Serialize for Mount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A memory size in MiB, written for Dokku as `512m`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct MemoryMb(pub u32);

impl MemoryMb {
    /// Parses Dokku's and the operator's forms: `512m`, `2g`, `512` (MiB), `1024k`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let lower = s.trim().to_ascii_lowercase();
        let (num, mult_kib) = match lower.strip_suffix(['m', 'g', 'k']) {
            Some(n) if lower.ends_with('g') => (n, 1024 * 1024),
            Some(n) if lower.ends_with('k') => (n, 1),
            Some(n) => (n, 1024),
            None => (lower.as_str(), 1024),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| err("memory", s, "must be a number with m or g"))?;
        let mib = n * mult_kib / 1024;
        if mib == 0 || mib > u32::MAX as u64 {
            return Err(err("memory", s, "must be between 1m and 4096t"));
        }
        Ok(Self(mib as u32))
    }
}
impl fmt::Display for MemoryMb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}m", self.0)
    }
}

/// A CPU limit in thousandths of a core, written for Dokku as `0.5`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Cpu(pub u32);

impl Cpu {
    /// Parses a decimal core count such as `0.5` or `2`, to at most three decimals.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let (int, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
        let ok = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.len() <= 3
            && frac.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(err(
                "cpu",
                s,
                "must be a decimal such as 0.5 (at most 3 decimals)",
            ));
        }
        let int: u32 = int.parse().map_err(|_| err("cpu", s, "is too large"))?;
        let frac: u32 = format!("{frac:0<3}").parse().unwrap_or(0);
        let milli = int.checked_mul(1000).and_then(|v| v.checked_add(frac));
        match milli {
            Some(m) if m > 0 => Ok(Self(m)),
            _ => Err(err("cpu", s, "must be greater than 0")),
        }
    }
}
impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{int}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{int}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// The resource limits roomctl manages on an app (Dokku `_default_` process type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub struct Limits {
    /// Memory limit, if any.
    pub memory: Option<MemoryMb>,
    /// CPU limit, if any.
    pub cpu: Option<Cpu>,
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.memory.map_or("none".to_string(), |m| m.to_string());
        let c = self.cpu.map_or("none".to_string(), |c| c.to_string());
        write!(f, "memory={m} cpu={c}")
    }
}

/// Whether an instance (and so each of its apps) should run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Deployed and running.
    #[default]
    Running,
    /// Kept with its data, containers stopped.
    Stopped,
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunState::Running => "running",
            RunState::Stopped => "stopped",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mappings_round_trip_through_dokku_syntax() {
        let p = PortMapping::parse("http:80:8765").unwrap();
        assert_eq!(p.to_string(), "http:80:8765");
        for bad in [
            "http:80",
            "ftp:1:2",
            "http:0:1",
            "http:80:x",
            "http:80:8765:1",
        ] {
            assert!(PortMapping::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_and_cpu_use_dokku_notation() {
        assert_eq!(MemoryMb::parse("512m").unwrap().to_string(), "512m");
        assert_eq!(MemoryMb::parse("2g").unwrap(), MemoryMb(2048));
        assert_eq!(MemoryMb::parse("1024").unwrap(), MemoryMb(1024));
        assert!(MemoryMb::parse("lots").is_err());
        assert_eq!(Cpu::parse("0.5").unwrap().to_string(), "0.5");
        assert_eq!(Cpu::parse("2").unwrap().to_string(), "2");
        assert_eq!(Cpu::parse("1.25").unwrap(), Cpu(1250));
        assert!(
            Cpu::parse("0").is_err() && Cpu::parse("1.2345").is_err() && Cpu::parse("-1").is_err()
        );
    }

    #[test]
    fn mounts_refuse_relative_or_unsafe_paths() {
        assert!(Mount::parse("/var/lib/dokku/data/storage/a:/data").is_ok());
        for bad in ["rel:/data", "/a:/b c", "/a/../b:/c", "/a:/b;rm", "/a"] {
            assert!(Mount::parse(bad).is_err(), "{bad}");
        }
    }
}
