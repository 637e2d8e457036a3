//! Reading a host in one exec with roomctl's Dokku plugin
//! (`roomctl:observe`, plugin 0.2.0 and later): every fact of every app,
//! every run, parsed from Dokku's own files as Dokku parses them
//! ([`crate::dokku::observe`]).
//!
//! A host whose plugin lacks the command (older, or none) answers as
//! Dokku does for an unknown command; [`read_host`] then says so and the
//! caller falls back to Dokku's own commands ([`super::read`]). Anything
//! else that goes wrong (a failed exec, a truncated or garbled output, a
//! run state Docker could not give) fails the read: the host is unknown.
//!
//! What roomctl cannot judge about one app does not fail the host: an app
//! whose ENV Dokku itself cannot read, or one of roomctl's whose ports,
//! mounts or limits do not parse, is [`Owner::Unreadable`], which holds
//! its instance and nothing else.

use super::model::{AppDetail, HostState, InstalledCert, ObservedApp, Owner, ReadMode};
use super::read::{HostReads, ReadError, observed_app};
use crate::dokku::observe::{self, AppFacts, HostFacts, Running};
use crate::dokku::{CommandLine, parse};
use crate::domain::{Limits, Mount, PortMapping};
use crate::ssh::RemoteShell;
use std::collections::BTreeSet;

/// What one `roomctl:observe` gave.
#[derive(Debug)]
pub enum Outcome {
    /// The host, read in full.
    Read(HostState),
    /// The host's plugin has no `roomctl:observe`: read it with Dokku's
    /// own commands. Says what the host answered.
    NoPlugin(String),
}

/// `roomctl:observe`.
pub fn command() -> CommandLine {
    CommandLine::raw(&["roomctl:observe"]).expect("a safe token")
}

/// Reads the host in one exec, or reports that its plugin cannot.
pub async fn read_host(shell: &dyn RemoteShell, reads: &HostReads) -> Result<Outcome, ReadError> {
    let out = shell.exec(&command()).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.code != 0 && stderr.contains("is not a dokku command") {
        return Ok(Outcome::NoPlugin(
            "roomctl's Dokku plugin is missing or older than 0.2.0 (no roomctl:observe)".into(),
        ));
    }
    if out.code != 0 {
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
        return Err(ReadError::Exit {
            command: "roomctl:observe".into(),
            code: out.code,
            stderr: first.unwrap_or("").chars().take(200).collect(),
        });
    }
    // An output without the header is garbage, not an older plugin (which
    // Dokku answers with "not a dokku command"): the host is unknown.
    match observe::parse(&out.stdout) {
        Ok(facts) => Ok(Outcome::Read(host_state(facts, reads)?)),
        Err(e) => Err(parse::ParseError {
            command: "roomctl:observe",
            detail: e.to_string(),
        }
        .into()),
    }
}

/// The host state the facts describe.
pub fn host_state(facts: HostFacts, reads: &HostReads) -> Result<HostState, ReadError> {
    let mut apps = std::collections::BTreeMap::new();
    for app in facts.apps {
        if app.running.is_none() && app.deployed {
            return Err(parse::ParseError {
                command: "roomctl:observe",
                detail: format!(
                    "the run state of {} is unknown (Docker could not be asked)",
                    app.name
                ),
            }
            .into());
        }
        let name = app.name.clone();
        apps.insert(name, observed(app, reads));
    }
    Ok(HostState {
        apps,
        nginx_read: true,
        read: ReadMode::Observe {
            plugin: facts.plugin_version,
            bytes: facts.bytes,
        },
    })
}

/// What the facts of one app show roomctl.
fn observed(app: AppFacts, reads: &HostReads) -> ObservedApp {
    let image = (app.deploy_source == "docker-image" && !app.deploy_source_metadata.is_empty())
        .then(|| app.deploy_source_metadata.clone());
    let details = details(&app);
    let limits = details.as_ref().map(|(l, _)| *l).unwrap_or_default();
    let env = app.env.clone().map_err(|e| e.to_string());
    let mut o = observed_app(
        &app.name,
        env,
        &reads.owner,
        image,
        limits,
        app.letsencrypt_expiry,
    );
    match details {
        Ok((_, detail)) => o.detail = Some(detail),
        Err(why) if o.owner.is_ours() => {
            o.owner = Owner::Unreadable {
                reason: format!("roomctl cannot read its settings: {why}"),
            };
            o.env.clear();
            o.env_fingerprint = None;
        }
        Err(_) => {}
    }
    o.nginx = app.snippet_sha256.clone();
    o.installed_cert = Some(match &app.certificate {
        None => InstalledCert::None,
        Some(Ok(c)) => InstalledCert::Parsed {
            fingerprint: c.fingerprint_sha256.clone(),
            not_after: c.not_after,
        },
        Some(Err(reason)) => InstalledCert::Unparseable {
            reason: reason.clone(),
        },
    });
    o
}

/// An app's limits and per-app facts, in roomctl's types; the error says
/// which fact roomctl cannot read.
fn details(app: &AppFacts) -> Result<(Limits, AppDetail), String> {
    let obj: serde_json::Map<String, serde_json::Value> = app
        .limits
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let limits = parse::resource_report_line(&obj).map_err(|e| e.to_string())?;
    let ports = app
        .ports
        .iter()
        .map(|p| PortMapping::parse(&p.to_string()).map_err(|e| format!("port map {p}: {e}")))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let storage = match &app.mounts {
        Ok(mounts) => mounts
            .iter()
            .map(|m| {
                Mount::new(&m.host_path, &m.container_path)
                    .map_err(|e| format!("mount {}: {e}", m.host_path))
            })
            .collect::<Result<BTreeSet<_>, _>>()?,
        Err(e) => return Err(format!("storage: {e}")),
    };
    let running = match app.running {
        Some(Running::True | Running::Mixed) => true,
        Some(Running::False) | None => false,
    };
    let nginx = crate::nginx::properties::from_report(&app.nginx);
    Ok((
        limits,
        AppDetail {
            domains: app.domains.iter().cloned().collect(),
            ports,
            storage,
            running,
            nginx: Some(nginx),
        },
    ))
}
