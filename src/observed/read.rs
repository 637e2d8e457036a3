//! Reading one host.
//!
//! The command budget per host, chosen from what real Dokku costs
//! (`tests/fixtures/dokku-transcripts/TIMINGS.md`):
//!
//! - always, once per host: `apps:list --format json`, then in parallel the
//!   fast bulk reports `apps:report --format json` (deployed image),
//!   `resource:report --format json` (limits) and `letsencrypt:list`
//!   (certificates and expiry);
//! - always, once per app: `config:export --format json APP` (env and
//!   roomctl's marks), since env has no bulk form;
//! - only for apps whose `ROOMCTL_APPLIED` digest does not match what is
//!   desired, orphans, or on `--deep`: the single-property reads
//!   `domains:report APP --domains-app-vhosts`, `ports:report APP
//!   --ports-map`, `storage:list APP --format json` and `ps:report APP
//!   --running`.
//!
//! The slow bulk reports (`domains`, `ports`, `ps`, `letsencrypt:report`)
//! are never used. All commands run concurrently over the host's one
//! connection, bounded by the shell.

use super::marks;
use super::model::{AppDetail, HostState, ObservedApp};
use crate::dokku::{CommandLine, command as cmd, parse};
use crate::domain::{ImageRef, Label};
use crate::ssh::{Output, RemoteShell, ShellError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::task::JoinSet;

/// Why a host could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The command could not run.
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// The command ran and failed.
    #[error("`{command}` exited {code}: {stderr}")]
    Exit {
        /// The command, secrets masked.
        command: String,
        /// Exit code.
        code: i32,
        /// First line of stderr.
        stderr: String,
    },
    /// The output did not parse.
    #[error(transparent)]
    Parse(#[from] parse::ParseError),
}

impl ReadError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ReadError::Shell(e) => e.is_transient(),
            // Exit 20 during a read means an app vanished between two commands.
            ReadError::Exit { code, .. } => *code == 20,
            // The apps listed and reported differ, or roomctl:observe saw
            // the host's files change (`ObserveError::Changed`).
            ReadError::Parse(e) => e.detail.contains("changed during the read"),
        }
    }
}

async fn run(shell: &dyn RemoteShell, c: CommandLine) -> Result<String, ReadError> {
    let Output {
        stdout,
        stderr,
        code,
    } = shell.exec(&c).await?;
    if code != 0 {
        let stderr = String::from_utf8_lossy(&stderr);
        let first = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        return Err(ReadError::Exit {
            command: c.shown(),
            code,
            stderr: first.chars().take(200).collect(),
        });
    }
    String::from_utf8(stdout).map_err(|_| {
        parse::ParseError {
            command: "dokku",
            detail: "output is not UTF-8".into(),
        }
        .into()
    })
}

/// The host's app names (`apps:list`), one command.
pub async fn apps_list(shell: &dyn RemoteShell) -> Result<Vec<String>, ReadError> {
    Ok(parse::apps_list(&run(shell, cmd::apps_list()).await?)?)
}

/// What to read besides what is always read, and how to judge ownership.
#[derive(Debug, Clone)]
pub struct HostReads {
    /// Read every app's nginx snippet digest (`roomctl:nginx-report`, one
    /// call; needs the roomctl Dokku plugin).
    pub nginx: bool,
    /// This platform's owner id (`[platform] owner`), see
    /// [`marks::owner_of`].
    pub owner: Label,
}

/// Reads every app on the host: names, images, limits, certificates, env
/// and marks, and what `reads` asks for. Per-app details are left for
/// [`read_details`].
pub async fn read_host(
    shell: Arc<dyn RemoteShell>,
    reads: &HostReads,
) -> Result<HostState, ReadError> {
    let names = parse::apps_list(&run(&*shell, cmd::apps_list()).await?)?;
    let n = names.len();
    // The bulk reports and the per-app env reads all run at once: the
    // slowest bulk report (letsencrypt:list) overlaps the env reads.
    let bulk = async {
        tokio::try_join!(
            run(&*shell, cmd::apps_report_all()),
            run(&*shell, cmd::resource_report_all()),
            run(&*shell, cmd::letsencrypt_list()),
            async {
                match reads.nginx {
                    true => run(&*shell, cmd::roomctl_nginx_report()).await.map(Some),
                    false => Ok(None),
                }
            },
        )
    };
    let (bulk, envs) = tokio::join!(bulk, read_envs(&shell, &names));
    let (apps_out, res_out, le_out, nginx_out) = bulk?;
    let envs = envs?;
    let nginx = nginx_out.map(|o| parse::nginx_report(&o)).transpose()?;
    let reports = parse::json_lines("apps:report", &apps_out, n)?;
    let resources = parse::json_lines("resource:report", &res_out, n)?;
    let certs = parse::letsencrypt_list(&le_out)?;
    let mut apps = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let (reported, image) = parse::apps_report_line(&reports[i])?;
        if &reported != name {
            return Err(parse::ParseError {
                command: "apps:report",
                detail: "apps changed during the read".into(),
            }
            .into());
        }
        let limits = parse::resource_report_line(&resources[i])?;
        let env = envs
            .get(name)
            .cloned()
            .unwrap_or_else(|| Ok(BTreeMap::new()));
        let mut app = observed_app(
            name,
            env,
            &reads.owner,
            image,
            limits,
            certs.get(name).copied(),
        );
        app.nginx = nginx.as_ref().and_then(|m| m.get(name).cloned().flatten());
        apps.insert(name.clone(), app);
    }
    Ok(HostState {
        apps,
        nginx_read: nginx.is_some(),
        read: super::model::ReadMode::Commands,
    })
}

/// One app as observed: ownership judged from its name and marks (or
/// unreadable when Dokku cannot read its env), the env kept only for
/// roomctl's own apps.
pub(crate) fn observed_app(
    name: &str,
    env: Result<BTreeMap<String, String>, String>,
    owner: &Label,
    image: Option<String>,
    limits: crate::domain::Limits,
    tls_expires: Option<i64>,
) -> ObservedApp {
    let (owner, env) = match env {
        Ok(env) => (marks::owner_of(name, &env, owner), env),
        Err(reason) => (super::model::Owner::Unreadable { reason }, BTreeMap::new()),
    };
    let managed_keys = env
        .get(marks::KEYS)
        .map(|k| {
            k.split(',')
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let applied = env.get(marks::APPLIED).cloned();
    // A foreign app's values are none of our business: keep its keys only,
    // so that "this app has env" (which rules out adopting it) survives.
    let env = if owner.is_ours() {
        env
    } else {
        env.into_keys().map(|k| (k, String::new())).collect()
    };
    let env_fingerprint = owner.is_ours().then(|| super::model::env_fingerprint(&env));
    ObservedApp {
        owner,
        env,
        managed_keys,
        env_fingerprint,
        applied,
        image: image.and_then(|i| ImageRef::parse(&i).ok()),
        limits,
        tls_expires,
        nginx: None,
        detail: None,
        installed_cert: None,
    }
}

/// An app's env, or why Dokku itself cannot read it.
type AppEnv = Result<BTreeMap<String, String>, String>;

/// Whether a failed `config:export` is Dokku's ENV reader refusing the
/// app's file (godotenv's messages, see [`crate::dokku::envfile`]): the
/// app is unreadable, the host is not.
fn env_unreadable(e: &ReadError) -> Option<String> {
    let ReadError::Exit {
        code: 1, stderr, ..
    } = e
    else {
        return None;
    };
    let message = stderr.trim_start_matches(|c: char| c == '!' || c.is_whitespace());
    [
        "unexpected character",
        "unterminated quoted value",
        "zero length string",
    ]
    .iter()
    .any(|p| message.starts_with(p))
    .then(|| message.to_string())
}

async fn read_envs(
    shell: &Arc<dyn RemoteShell>,
    names: &[String],
) -> Result<BTreeMap<String, AppEnv>, ReadError> {
    let mut set = JoinSet::new();
    for name in names {
        let shell = shell.clone();
        let name = name.clone();
        set.spawn(async move {
            let app = app_arg(&name)?;
            let env = match run(&*shell, cmd::config_export(&app)).await {
                Ok(out) => Ok(parse::config_export(&out)?),
                Err(e) => Err(env_unreadable(&e).ok_or(e)?),
            };
            Ok::<_, ReadError>((name, env))
        });
    }
    let mut out = BTreeMap::new();
    while let Some(r) = set.join_next().await {
        let (name, env) = r.expect("env read task panicked")?;
        out.insert(name, env);
    }
    Ok(out)
}

/// Names come from `apps:list`; anything Dokku listed that is not a valid
/// Dokku name (and so not a safe token) fails the read.
fn app_arg(name: &str) -> Result<crate::domain::AppName, ReadError> {
    crate::domain::AppName::listed(name).map_err(|e| {
        parse::ParseError {
            command: "apps:list",
            detail: e.to_string(),
        }
        .into()
    })
}

/// Reads the per-app facts (domains, ports, storage, running) of `apps`,
/// four single-property commands each, all concurrently.
pub async fn read_details(
    shell: Arc<dyn RemoteShell>,
    apps: &BTreeSet<String>,
    reads: &HostReads,
) -> Result<BTreeMap<String, AppDetail>, ReadError> {
    let mut set = JoinSet::new();
    for name in apps {
        let shell = shell.clone();
        let name = name.clone();
        let nginx = reads.nginx;
        set.spawn(async move {
            let app = app_arg(&name)?;
            let (d, p, s, r, n) = tokio::try_join!(
                run(&*shell, cmd::domains_vhosts(&app)),
                run(&*shell, cmd::ports_map(&app)),
                run(&*shell, cmd::storage_list(&app)),
                run(&*shell, cmd::ps_running(&app)),
                async {
                    match nginx {
                        true => run(&*shell, cmd::nginx_report(&app)).await.map(Some),
                        false => Ok(None),
                    }
                },
            )?;
            let nginx = n
                .map(|n| parse::json_object("nginx:report", &n))
                .transpose()?
                .map(|r| crate::nginx::properties::from_report(&r));
            let detail = AppDetail {
                domains: parse::vhosts(&d)?,
                ports: parse::ports_map(&p)?,
                storage: parse::storage_list(&s)?,
                running: parse::ps_running(&r)?,
                nginx,
            };
            Ok::<_, ReadError>((name, detail))
        });
    }
    let mut out = BTreeMap::new();
    while let Some(r) = set.join_next().await {
        let (name, detail) = r.expect("detail read task panicked")?;
        out.insert(name, detail);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dokku::observe::ObserveError;

    fn parse_error(e: ObserveError) -> ReadError {
        parse::ParseError {
            command: "roomctl:observe",
            detail: e.to_string(),
        }
        .into()
    }

    #[test]
    fn files_that_changed_during_observe_are_read_again_and_garbage_is_not() {
        assert!(parse_error(ObserveError::Changed).is_transient());
        let garbled = ObserveError::Garbled {
            at: 3,
            what: "a key length is not a number".into(),
        };
        assert!(!parse_error(garbled).is_transient());
        assert!(!parse_error(ObserveError::Truncated(9)).is_transient());
    }
}
