//! Whole-state validation and the loading entry points.
//!
//! [`load`] reads a desired-state directory; [`load_with_sources`] merges
//! the instances of several [`InstanceSource`]s (files, later the database)
//! and renders them. Both return all of a [`Desired`] or every problem
//! found: collisions between instances name both declarations.

use super::error::{DesiredError, Problem, Problems};
use super::files::{load_platform, load_tiers};
use super::hosts::load_hosts;
use super::instances::{FileSource, InstanceSource};
use super::memo::RenderMemo;
use super::model::{Desired, DesiredInstance, HostSpec, InstanceSpec, Platform, Source, Tier};
use super::render::{Template, instance_problem, render_with};
use super::secrets::RootSecret;
use crate::domain::{HostName, InstanceId, Label};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Records a collision when `value` was already claimed by another instance.
fn claim(
    seen: &mut BTreeMap<String, (InstanceId, Source)>,
    what: &'static str,
    value: String,
    inst: &DesiredInstance,
    p: &mut Problems,
) {
    if let Some((first, first_at)) = seen.get(&value) {
        p.push(Problem::Collision {
            what,
            value,
            first: first.clone(),
            first_at: first_at.clone(),
            second: inst.id.clone(),
            second_at: inst.source.clone(),
        });
    } else {
        seen.insert(value, (inst.id.clone(), inst.source.clone()));
    }
}

/// Refuses two instances with the same id.
pub(crate) fn check_ids(instances: &[DesiredInstance], p: &mut Problems) {
    let mut ids = BTreeMap::new();
    for inst in instances {
        claim(&mut ids, "instance id", inst.id.to_string(), inst, p);
    }
}

/// Refuses two instances with the same subdomain, app name or domain.
/// Instances whose id is already taken are skipped (reported by [`check_ids`]).
pub(crate) fn check_collisions(specs: &[InstanceSpec], p: &mut Problems) {
    let (mut subs, mut apps, mut domains, mut ids) = Default::default();
    for spec in specs {
        let inst = &spec.instance;
        let mut dup = Problems::default();
        claim(&mut ids, "instance id", inst.id.to_string(), inst, &mut dup);
        if !dup.is_empty() {
            continue;
        }
        claim(&mut subs, "subdomain", inst.subdomain.to_string(), inst, p);
        for (name, app) in &spec.apps {
            claim(&mut apps, "app name", name.to_string(), inst, p);
            for d in &app.domains {
                claim(&mut domains, "domain", d.to_string(), inst, p);
            }
        }
    }
}

/// Merges the instances of `sources` (in order), checks pinned hosts,
/// renders every instance with `template` and validates the whole state.
/// A collision between instances of different sources names both.
/// Problems about an instance's field are located as precisely as its
/// source can tell ([`InstanceSource::locate`]).
pub fn load_with_sources(
    platform: Platform,
    hosts: BTreeMap<HostName, HostSpec>,
    tiers: BTreeMap<Label, Tier>,
    template: &Template,
    root: &RootSecret,
    sources: &[&dyn InstanceSource],
) -> Result<Desired, DesiredError> {
    load_with_memo(platform, hosts, tiers, template, root, sources, None)
}

/// [`load_with_sources`], reusing what `memo` kept from earlier loads.
fn load_with_memo(
    platform: Platform,
    hosts: BTreeMap<HostName, HostSpec>,
    tiers: BTreeMap<Label, Tier>,
    template: &Template,
    root: &RootSecret,
    sources: &[&dyn InstanceSource],
    memo: Option<&RenderMemo>,
) -> Result<Desired, DesiredError> {
    let mut p = Problems::default();
    let mut notes = Vec::new();
    let instances = check_sources(
        &platform,
        Some(&hosts),
        &tiers,
        template,
        root,
        sources,
        (&mut p, &mut notes),
        memo,
    );
    p.finish(Desired {
        platform,
        hosts,
        tiers,
        instances,
        notes,
        dns: None,
        nginx: None,
        pool: None,
    })
}

/// Drops each database instance whose id a file also declares: the
/// operator's file wins, and a note says so. Any other repeated id stays,
/// to be reported as a collision.
fn apply_overrides(instances: &mut Vec<DesiredInstance>, notes: &mut Vec<(InstanceId, String)>) {
    let files: BTreeMap<InstanceId, Source> = instances
        .iter()
        .filter(|i| matches!(i.source, Source::File { .. }))
        .map(|i| (i.id.clone(), i.source.clone()))
        .collect();
    instances.retain(|i| {
        let file = files.get(&i.id);
        match (&i.source, file) {
            (Source::Database { .. }, Some(at)) => {
                notes.push((
                    i.id.clone(),
                    format!("{at} overrides the instance of {}", i.source),
                ));
                false
            }
            _ => true,
        }
    });
}

/// Gathers, renders and checks the instances of `sources`; pinned hosts
/// are checked only when `hosts` is known.
#[allow(clippy::too_many_arguments)]
fn check_sources(
    platform: &Platform,
    hosts: Option<&BTreeMap<HostName, HostSpec>>,
    tiers: &BTreeMap<Label, Tier>,
    template: &Template,
    root: &RootSecret,
    sources: &[&dyn InstanceSource],
    (p, notes): (&mut Problems, &mut Vec<(InstanceId, String)>),
    memo: Option<&RenderMemo>,
) -> BTreeMap<InstanceId, InstanceSpec> {
    let first_new = p.0.len();
    let mut instances = Vec::new();
    let mut origin: Vec<(Source, usize)> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        match source.instances() {
            Ok(list) => {
                origin.extend(list.iter().map(|inst| (inst.source.clone(), i)));
                instances.extend(list);
            }
            Err(e) => p.extend(e),
        }
    }
    apply_overrides(&mut instances, notes);
    for inst in instances.iter().filter(|i| i.pinned_host.is_some()) {
        let (Some(hosts), Some(h)) = (hosts, &inst.pinned_host) else {
            continue;
        };
        if !hosts.contains_key(h) {
            let known: Vec<&str> = hosts.keys().map(HostName::as_str).collect();
            let m = format!(
                "unknown host `{h}` (hosts.toml declares: {})",
                known.join(", ")
            );
            p.push(instance_problem(inst, "host", m));
        }
    }
    let specs = render_with(platform, tiers, template, root, &instances, memo)
        .map_err(|e| p.extend(e))
        .unwrap_or_default();
    for problem in &mut p.0[first_new..] {
        if let Problem::Instance { at, field, .. } = problem
            && at.column.is_none()
            && let Some((_, i)) = origin.iter().find(|(s, _)| *s == at.source)
            && let Some(precise) = sources[*i].locate(&at.source, field)
        {
            *at = precise;
        }
    }
    specs
}

/// The operator's desired-state directory, loaded and checked, before
/// instances from other sources are merged in ([`Parts::into_desired`]).
pub struct Parts {
    /// `platform.toml`.
    pub platform: Platform,
    /// `hosts.toml`.
    pub hosts: BTreeMap<HostName, HostSpec>,
    /// `tiers.toml`.
    pub tiers: BTreeMap<Label, Tier>,
    /// The instance template named by the platform.
    pub template: Template,
    /// `instances/*.toml`.
    pub files: FileSource,
    /// `dns.toml`, when present.
    pub dns: Option<super::dns::DnsSpec>,
    /// The nginx snippet templates, when `[platform.nginx]` is set.
    pub nginx: Option<crate::nginx::SnippetTemplates>,
    /// The templates directory, for error messages.
    pub templates_dir: PathBuf,
    /// Whether a missing nginx binary fails loading (the default) or only
    /// weakens the check (the sandbox).
    pub nginx_test: super::nginx::NginxTest,
    /// `[pool]` of `hosts.toml`, when present.
    pub pool: Option<super::pool::PoolSpec>,
    /// Renderings to reuse from earlier loads (`None`: render everything).
    pub memo: Option<std::sync::Arc<RenderMemo>>,
}

impl Parts {
    /// Merges the files' instances with those of `extra` sources (the
    /// files win on a shared id, see [`load_with_sources`]) and renders
    /// everything.
    pub fn into_desired(
        self,
        root: &RootSecret,
        extra: &[&dyn InstanceSource],
    ) -> Result<Desired, DesiredError> {
        let mut sources: Vec<&dyn InstanceSource> = vec![&self.files];
        sources.extend_from_slice(extra);
        let memo = self.memo.as_deref();
        let mut d = load_with_memo(
            self.platform,
            self.hosts,
            self.tiers,
            &self.template,
            root,
            &sources,
            memo,
        )?;
        if let Some(dns) = &self.dns {
            let locate = |i: &DesiredInstance, field: &str| {
                sources.iter().find_map(|s| s.locate(&i.source, field))
            };
            let clashes = super::dns::check_instance_domains(dns, &d.instances, locate);
            if let Some(e) = DesiredError::from_problems(clashes) {
                return Err(e);
            }
        }
        d.dns = self.dns;
        d.pool = self.pool;
        if let Some(templates) = self.nginx {
            super::nginx::attach(
                &mut d,
                templates,
                &self.templates_dir,
                self.nginx_test,
                memo,
            )?;
        }
        Ok(d)
    }
}

/// Loads `platform.toml`, `hosts.toml`, `tiers.toml` and the template of
/// `desired_dir`. When any of them fails, the instance files are read as
/// well so that every problem is reported together.
pub fn load_parts(desired_dir: &Path, templates_dir: &Path) -> Result<Parts, DesiredError> {
    let mut p = Problems::default();
    let tiers = load_tiers(&desired_dir.join("tiers.toml"))
        .map_err(|e| p.0.extend(e.0))
        .ok();
    let hosts = load_hosts(&desired_dir.join("hosts.toml"))
        .map_err(|e| p.0.extend(e.0))
        .ok();
    let pool = match hosts {
        Some(_) => super::pool::load_pool(&desired_dir.join("hosts.toml"))
            .map_err(|e| p.0.extend(e.0))
            .ok()
            .flatten(),
        None => None,
    };
    let platform = load_platform(&desired_dir.join("platform.toml"), tiers.as_ref())
        .map_err(|e| p.0.extend(e.0))
        .ok();
    // Without a platform, still read the instance files to report their problems.
    let default_tier = platform.as_ref().map_or_else(
        || Label::parse("free").expect("label"),
        |pl| pl.default_tier.clone(),
    );
    let files = FileSource::new(desired_dir.join("instances"), default_tier);
    let template = platform
        .as_ref()
        .map(|pl| Template::from_file(&templates_dir.join(&pl.template)));
    let dns = platform.as_ref().and_then(|pl| {
        super::dns::load_dns(&desired_dir.join("dns.toml"), &pl.base_domain)
            .map_err(|e| p.0.extend(e.0))
            .ok()
    });
    if let (Some(pl), Some(None)) = (&platform, &dns)
        && pl.tls == super::model::TlsMode::Wildcard
    {
        p.push(Problem::Field {
            at: super::error::Location::in_file(&desired_dir.join("platform.toml"), "", 0),
            field: "platform.tls".into(),
            message: "\"wildcard\" needs dns.toml: its DNS-01 challenges are answered in that zone"
                .into(),
        });
    }
    let nginx = match platform.as_ref().and_then(|pl| pl.nginx.as_ref()) {
        Some(_) => crate::nginx::SnippetTemplates::load(templates_dir)
            .map_err(|e| p.push(super::nginx::load_problem(e)))
            .ok(),
        None => None,
    };
    match (platform, tiers, template, hosts, dns) {
        (Some(platform), Some(tiers), Some(Ok(template)), Some(hosts), Some(dns))
            if p.is_empty() =>
        {
            Ok(Parts {
                platform,
                hosts,
                tiers,
                template,
                files,
                dns,
                nginx,
                templates_dir: templates_dir.to_path_buf(),
                nginx_test: Default::default(),
                pool,
                memo: None,
            })
        }
        (platform, tiers, template, _, _) => {
            // With a platform, tiers and template, the instance files are
            // checked in full (against the tiers); otherwise only parsed.
            match (platform, tiers, template) {
                (Some(platform), Some(tiers), Some(Ok(template))) => {
                    let root = RootSecret::new("x".repeat(32)).expect("a long enough secret");
                    let mut notes = Vec::new();
                    check_sources(
                        &platform,
                        None,
                        &tiers,
                        &template,
                        &root,
                        &[&files],
                        (&mut p, &mut notes),
                        None,
                    );
                }
                (_, _, template) => {
                    if let Some(Err(e)) = template {
                        p.extend(e);
                    }
                    if let Err(e) = files.instances() {
                        p.extend(e);
                    }
                }
            }
            Err(DesiredError::from_problems(p.0)
                .expect("a part failed to load, so a problem was recorded"))
        }
    }
}

/// Loads `desired_dir` (`platform.toml`, `hosts.toml`, `tiers.toml`,
/// `instances/*.toml`) and renders every instance with the template named by
/// `platform.template` under `templates_dir`. Returns all of the desired
/// state or every problem found (files are all read, so problems in several
/// files are reported together).
pub fn load(
    desired_dir: &Path,
    templates_dir: &Path,
    root: &RootSecret,
) -> Result<Desired, DesiredError> {
    load_parts(desired_dir, templates_dir)?.into_desired(root, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_shipped_desired_state_loads() {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = RootSecret::new("unit-test-root-secret-32-bytes-long").unwrap();
        let d = load(&repo.join("desired-state"), &repo.join("templates"), &root)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.instances.len(), 4);
        assert!(d.instances.values().all(|i| i.apps.len() == 3));
        let demo = &d.instances[&InstanceId::parse("demo").unwrap()];
        assert_eq!(
            demo.memory, d.tiers[&demo.instance.tier].memory,
            "the split adds up to the tier"
        );
    }
}
