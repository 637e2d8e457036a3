//! Loading `hosts.toml`: the Dokku servers.
//!
//! Same approach as [`super::files`]: raw spanned structs, then field-by-field
//! validation, so problems name the file, line, column and field.

use super::error::{Location, Problems};
use super::files::{FileText, memory_value, one};
use super::model::HostSpec;
use crate::domain::HostName;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsFile {
    #[serde(default)]
    host: Vec<Spanned<RawHost>>,
    /// Read by [`super::pool::load_pool`].
    #[serde(default, rename = "pool")]
    _pool: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    address: Spanned<String>,
    #[serde(default = "default_port")]
    port: u16,
    user: Option<Spanned<String>>,
    ipv4: Option<Spanned<String>>,
    ipv6: Option<Spanned<String>>,
    memory: Spanned<toml::Value>,
    #[serde(default = "default_max_sessions")]
    max_sessions: Spanned<usize>,
    sandbox: Option<RawSandbox>,
}

/// `[host.sandbox]`: how `--sandbox` emulates the host.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    global_vhost: Option<Spanned<String>>,
    roomctl_plugin: Option<Spanned<String>>,
}

fn check_plugin_version(s: &str) -> Result<String, String> {
    let ok = s == "none"
        || (!s.is_empty()
            && s.split('.').count() <= 3
            && s.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} must be a version such as \"0.2.0\", or \"none\""
        ))
    }
}

fn default_port() -> u16 {
    22
}

fn default_max_sessions() -> Spanned<usize> {
    Spanned::new(0..0, 10)
}

fn check_address(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && !s.starts_with(['-', '.'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} must be a host name or an IP address"))
    }
}

fn check_user(s: &str) -> Result<String, String> {
    let ok = s.len() <= 32
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a valid user name"))
    }
}

/// Loads `hosts.toml`; host names must be unique.
pub(crate) fn load_hosts(path: &Path) -> Result<BTreeMap<HostName, HostSpec>, Problems> {
    let mut p = Problems::default();
    let file = FileText::read(path).map_err(one)?;
    let raw: HostsFile = file.parse().map_err(one)?;
    let mut hosts = BTreeMap::new();
    let mut lines: BTreeMap<HostName, Location> = BTreeMap::new();
    for h in &raw.host {
        let h = h.get_ref();
        let name = file.check(&mut p, "host.name", &h.name, HostName::parse);
        let mut string =
            |field: &str, s: &Spanned<String>, f: fn(&str) -> Result<String, String>| {
                f(s.get_ref())
                    .map_err(|m| p.push(file.problem(s, field, m)))
                    .ok()
            };
        let address = string("host.address", &h.address, check_address);
        let user = match &h.user {
            Some(u) => string("host.user", u, check_user),
            None => Some("dokku".to_string()),
        };
        let ipv4 = h.ipv4.as_ref().and_then(|s| {
            s.get_ref()
                .parse()
                .map_err(|e| p.push(file.problem(s, "host.ipv4", format!("{e}"))))
                .ok()
        });
        let ipv6 = h.ipv6.as_ref().and_then(|s| {
            s.get_ref()
                .parse()
                .map_err(|e| p.push(file.problem(s, "host.ipv6", format!("{e}"))))
                .ok()
        });
        let memory = memory_value(h.memory.get_ref())
            .map_err(|m| p.push(file.problem(&h.memory, "host.memory", m)))
            .ok();
        if *h.max_sessions.get_ref() == 0 {
            p.push(file.problem(&h.max_sessions, "host.max_sessions", "must be at least 1"));
        }
        let (Some(name), Some(address), Some(user), Some(memory)) = (name, address, user, memory)
        else {
            continue;
        };
        if let Some(first) = lines.get(&name) {
            p.push(file.problem(
                &h.name,
                "host.name",
                format!("host `{name}` is already declared at {first}"),
            ));
            continue;
        }
        lines.insert(name.clone(), file.at(&h.name));
        let max_sessions = *h.max_sessions.get_ref();
        let sandbox = h.sandbox.as_ref().map(|s| {
            let global_vhost = match &s.global_vhost {
                None => Some(super::model::SANDBOX_GLOBAL_VHOST.to_string()),
                Some(v) if v.get_ref().is_empty() => None,
                Some(v) => crate::domain::Fqdn::parse(v.get_ref())
                    .map_err(|e| {
                        p.push(file.problem(v, "host.sandbox.global_vhost", e.to_string()))
                    })
                    .ok()
                    .map(|f| f.to_string()),
            };
            let roomctl_plugin = match &s.roomctl_plugin {
                None => Some(String::new()),
                Some(v) => check_plugin_version(v.get_ref())
                    .map_err(|m| p.push(file.problem(v, "host.sandbox.roomctl_plugin", m)))
                    .ok()
                    .filter(|v| v != "none"),
            };
            super::model::SandboxHost {
                global_vhost,
                roomctl_plugin,
            }
        });
        let (port, ipv4, ipv6) = (h.port, ipv4, ipv6);
        hosts.insert(
            name.clone(),
            HostSpec {
                name,
                address,
                port,
                user,
                ipv4,
                ipv6,
                memory,
                max_sessions,
                sandbox,
            },
        );
    }
    p.finish(hosts).map_err(|e| Problems(e.into_problems()))
}
