//! Rendering instances through the instance template.
//!
//! The template (tera) sees only validated values: `instance`, `tier` and
//! `platform` (see `desired-state/README.md`). It renders TOML: one
//! `[[app]]` table per app. That output is parsed and validated into
//! [`AppSpec`]s; derived secrets, the instance's extra env and overrides are
//! merged in Rust afterwards, so arbitrary strings never pass through tera.

use super::apps::{
    Rendered, app_env_size_problem, build_app, env_value_size_problem, looks_sensitive,
};
use super::error::{DesiredError, Location, Problem, Problems, toml_problem};
use super::instances::{RESERVED_ENV_PREFIX, is_reserved_env_key};
use super::memo::{RenderMemo, SpecContext};
use super::model::{DesiredInstance, InstanceSpec, Platform, Tier, TlsMode};
use super::secrets::RootSecret;
use super::validate::{check_collisions, check_ids};
use crate::domain::{EnvValue, InstanceId, Label, MemoryMb};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const NAME: &str = "instance";

/// A compiled instance template. Compile once, render many instances.
pub struct Template {
    path: PathBuf,
    text: String,
    tera: tera::Tera,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Reads and compiles the template at `path`.
    pub fn from_file(path: &Path) -> Result<Self, DesiredError> {
        let text = std::fs::read_to_string(path).map_err(|source| Problem::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_text(path, &text)
    }

    /// Compiles `text`; `path` names it in errors.
    pub fn from_text(path: &Path, text: &str) -> Result<Self, DesiredError> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.add_raw_template(NAME, text)
            .map_err(|e| Problem::Template {
                template: path.to_path_buf(),
                instance: None,
                message: tera_message(&e),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            text: text.to_string(),
            tera,
        })
    }

    /// The template's file, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A tera error with its whole chain of causes, `: `-separated (tera's own
/// `Display` shows only the outermost, e.g. "Failed to render").
pub fn tera_message(e: &tera::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

#[derive(Serialize)]
struct TierCtx<'a> {
    name: &'a str,
    memory: u32,
    cpu: u32,
    storage_gb: u32,
    max_agents: u32,
    messages_per_day: u32,
    bridges: &'a [String],
}

#[derive(Serialize)]
struct PlatformCtx<'a> {
    base_domain: &'a str,
    images: BTreeMap<&'a str, &'a str>,
    tls: &'static str,
}

#[derive(Serialize)]
struct InstanceCtx<'a> {
    id: &'a str,
    subdomain: &'a str,
    tier: &'a str,
    state: String,
}

/// Renders `instances` with the compiled `template`, validates the apps,
/// derives secrets from `root`, merges each instance's extra env and
/// overrides, and refuses duplicate ids, subdomains, app names and domains.
/// Returns every instance's spec, or all problems found.
pub fn render(
    platform: &Platform,
    tiers: &BTreeMap<Label, Tier>,
    template: &Template,
    root: &RootSecret,
    instances: &[DesiredInstance],
) -> Result<BTreeMap<InstanceId, InstanceSpec>, DesiredError> {
    render_with(platform, tiers, template, root, instances, None)
}

/// [`render`], reusing the renderings `memo` kept from an earlier load
/// where nothing they came from changed, and keeping this load's.
pub(crate) fn render_with(
    platform: &Platform,
    tiers: &BTreeMap<Label, Tier>,
    template: &Template,
    root: &RootSecret,
    instances: &[DesiredInstance],
    memo: Option<&RenderMemo>,
) -> Result<BTreeMap<InstanceId, InstanceSpec>, DesiredError> {
    let mut round = memo.map(|m| {
        m.specs(SpecContext {
            platform: platform.clone(),
            tiers: tiers.clone(),
            template: template.text.clone(),
            root: root.clone(),
        })
    });
    let mut p = Problems::default();
    check_ids(instances, &mut p);
    let platform_ctx = PlatformCtx {
        base_domain: platform.base_domain.as_str(),
        images: platform
            .images
            .iter()
            .map(|(r, i)| (r.as_str(), i.as_str()))
            .collect(),
        tls: match platform.tls {
            TlsMode::Off => "off",
            TlsMode::PerApp => "per-app",
            TlsMode::Wildcard => "wildcard",
        },
    };
    let mut base = tera::Context::new();
    base.insert("platform", &platform_ctx);
    let mut specs = Vec::with_capacity(instances.len());
    for inst in instances {
        let Some(tier) = tiers.get(&inst.tier) else {
            let known: Vec<&str> = tiers.keys().map(Label::as_str).collect();
            let message = format!("unknown tier `{}` (known: {})", inst.tier, known.join(", "));
            p.push(instance_problem(inst, "tier", message));
            continue;
        };
        if let Some(spec) = round.as_mut().and_then(|r| r.reuse(&inst.id, inst)) {
            specs.push(spec);
            continue;
        }
        match render_one(platform, tier, template, root, &base, inst) {
            Ok(spec) => {
                if let Some(r) = round.as_mut() {
                    r.keep(&inst.id, inst, spec.clone());
                }
                specs.push(spec);
            }
            Err(e) => p.extend(e),
        }
    }
    if let Some(r) = round {
        r.finish();
    }
    check_collisions(&specs, &mut p);
    p.finish(
        specs
            .into_iter()
            .map(|s| (s.instance.id.clone(), s))
            .collect(),
    )
}

pub(crate) fn instance_problem(inst: &DesiredInstance, field: &str, message: String) -> Problem {
    Problem::Instance {
        at: Location::of(&inst.source),
        instance: inst.id.clone(),
        field: field.to_string(),
        message,
    }
}

fn render_one(
    platform: &Platform,
    tier: &Tier,
    template: &Template,
    root: &RootSecret,
    base: &tera::Context,
    inst: &DesiredInstance,
) -> Result<InstanceSpec, DesiredError> {
    let template_problem = |message: String| Problem::Template {
        template: template.path.clone(),
        instance: Some(inst.id.clone()),
        message,
    };
    let mut ctx = base.clone();
    let tier_ctx = TierCtx {
        name: tier.name.as_str(),
        memory: tier.memory.0,
        cpu: tier.cpu.0,
        storage_gb: tier.storage_gb,
        max_agents: tier.max_agents,
        messages_per_day: tier.messages_per_day,
        bridges: &tier.bridges,
    };
    ctx.insert("tier", &tier_ctx);
    let state = inst.state.to_string();
    let inst_ctx = InstanceCtx {
        id: inst.id.as_str(),
        subdomain: inst.subdomain.as_str(),
        tier: inst.tier.as_str(),
        state,
    };
    ctx.insert("instance", &inst_ctx);
    let text = template
        .tera
        .render(NAME, &ctx)
        .map_err(|e| template_problem(tera_message(&e)))?;
    let rendered: Rendered = toml::from_str(&text).map_err(|e| {
        template_problem(toml_problem(Path::new("rendered output"), &text, &e).to_string())
    })?;
    if rendered.app.is_empty() {
        return Err(template_problem("rendered no [[app]]".into()).into());
    }
    let mut p = Problems::default();
    let mut apps = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for raw in rendered.app {
        match build_app(platform, root, inst, raw) {
            Ok((app, secret_keys)) => {
                if roles.insert(app.role.clone(), secret_keys).is_some() {
                    p.push(template_problem(format!(
                        "role `{}` is rendered twice",
                        app.role
                    )));
                }
                apps.insert(app.name.clone(), app);
            }
            Err(m) => p.push(template_problem(m)),
        }
    }
    if let Some(e) = DesiredError::from_problems(std::mem::take(&mut p.0)) {
        return Err(e);
    }
    let role_list = || {
        roles
            .keys()
            .map(Label::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (role, vars) in &inst.env {
        let field = format!("env.{role}");
        let Some(secret_keys) = roles.get(role) else {
            p.push(instance_problem(
                inst,
                &field,
                format!("unknown role `{role}` (template has: {})", role_list()),
            ));
            continue;
        };
        let app = apps
            .values_mut()
            .find(|a| &a.role == role)
            .expect("role has an app");
        for (key, value) in vars {
            if is_reserved_env_key(key.as_str()) {
                let m = format!("the {RESERVED_ENV_PREFIX} prefix is reserved for roomctl");
                p.push(instance_problem(inst, &format!("{field}.{key}"), m));
                continue;
            }
            if let Some(why) = env_value_size_problem(value) {
                p.push(instance_problem(inst, &format!("{field}.{key}"), why));
                continue;
            }
            if let Some(why) = crate::dokku::envfile::round_trip_problem(value) {
                let m = format!("Dokku cannot keep this value unchanged: {why}");
                p.push(instance_problem(inst, &format!("{field}.{key}"), m));
                continue;
            }
            let sensitive = secret_keys.contains(key) || looks_sensitive(key.as_str());
            let value = if sensitive {
                EnvValue::secret(value.clone())
            } else {
                EnvValue::plain(value.clone())
            };
            app.env.insert(key.clone(), value);
        }
    }
    for (role, o) in &inst.overrides {
        let Some(app) = apps.values_mut().find(|a| &a.role == role) else {
            let field = format!("overrides.{role}");
            p.push(instance_problem(
                inst,
                &field,
                format!("unknown role `{role}` (template has: {})", role_list()),
            ));
            continue;
        };
        app.limits.memory = o.memory.or(app.limits.memory);
        app.limits.cpu = o.cpu.or(app.limits.cpu);
        if let Some(image) = &o.image {
            app.image = image.clone();
        }
    }
    for app in apps.values() {
        let Some(why) = app_env_size_problem(app) else {
            continue;
        };
        if inst.env.contains_key(&app.role) {
            p.push(instance_problem(inst, &format!("env.{}", app.role), why));
        } else {
            p.push(template_problem(format!("app `{}`: {why}", app.role)));
        }
    }
    // Everything that feeds the fingerprints is final now.
    for app in apps.values_mut() {
        app.seal(&inst.id, &platform.owner);
    }
    let total: u64 = apps
        .values()
        .filter_map(|a| a.limits.memory)
        .map(|m| u64::from(m.0))
        .sum();
    let memory = MemoryMb(u32::try_from(total).unwrap_or(u32::MAX));
    p.finish(InstanceSpec {
        instance: inst.clone(),
        memory,
        apps,
    })
}
