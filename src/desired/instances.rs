//! Sources of desired instances, and the file source (`instances/*.toml`).
//!
//! A source only declares instances; cross-checks against tiers, hosts and
//! the template happen in [`crate::desired::load_with_sources`], which asks
//! the source (through [`InstanceSource::locate`]) for the precise place of a
//! field when it reports a problem.

use super::error::{DesiredError, Location, Problem, Problems};
use super::files::{FileText, cpu_value, memory_value};
use super::model::{AppOverride, DesiredInstance, Source};
use crate::domain::{EnvKey, HostName, ImageRef, InstanceId, Label, RunState};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The env-key prefix reserved for roomctl's own marks on apps.
pub const RESERVED_ENV_PREFIX: &str = "ROOMCTL_";

/// Whether `key` uses the reserved prefix (in any letter case).
pub fn is_reserved_env_key(key: &str) -> bool {
    key.len() >= RESERVED_ENV_PREFIX.len()
        && key[..RESERVED_ENV_PREFIX.len()].eq_ignore_ascii_case(RESERVED_ENV_PREFIX)
}

/// Something that declares desired instances: files today, the
/// subscriptions database later.
pub trait InstanceSource {
    /// All instances this source declares, each with its [`Source`], or
    /// every problem found. Never a partial list.
    fn instances(&self) -> Result<Vec<DesiredInstance>, DesiredError>;

    /// Where `field` (a dotted path inside the instance, e.g. `tier` or
    /// `env.backend.API_URL`) of the instance declared at `at` is, if the
    /// source knows more precisely than `at`. The default knows nothing.
    fn locate(&self, at: &Source, field: &str) -> Option<Location> {
        let _ = (at, field);
        None
    }
}

/// The `instances/*.toml` files of a desired-state directory, read in
/// sorted file-name order.
#[derive(Debug, Clone)]
pub struct FileSource {
    dir: PathBuf,
    default_tier: Label,
}

impl FileSource {
    /// A source reading `dir/*.toml`; instances without `tier` get `default_tier`.
    pub fn new(dir: impl Into<PathBuf>, default_tier: Label) -> Self {
        Self {
            dir: dir.into(),
            default_tier,
        }
    }

    /// The `*.toml` entries of the directory in sorted order. An entry that
    /// is not a regular file (after following symlinks) is recorded in `p`
    /// rather than skipped: skipping it would drop its instances from the
    /// desired state, and the plan would stop them.
    fn files(&self, p: &mut Problems) -> Result<Vec<PathBuf>, DesiredError> {
        let io = |source| Problem::Io {
            path: self.dir.clone(),
            source,
        };
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                entries.push(path);
            }
        }
        entries.sort();
        let mut files = Vec::new();
        for path in entries {
            match not_a_regular_file(&path) {
                None => files.push(path),
                Some(message) => p.push(Problem::NotAFile { path, message }),
            }
        }
        Ok(files)
    }

    fn parse_file(&self, file: &FileText, p: &mut Problems, out: &mut Vec<DesiredInstance>) {
        let raw: InstancesFile = match file.parse() {
            Ok(r) => r,
            Err(e) => return p.extend(e),
        };
        for inst in &raw.instance {
            let line = file.at(inst).source;
            if let Some(i) = self.instance(file, inst.get_ref(), line, p) {
                out.push(i);
            }
        }
    }

    fn instance(
        &self,
        file: &FileText,
        raw: &RawInstance,
        source: Source,
        p: &mut Problems,
    ) -> Option<DesiredInstance> {
        let before = p.0.len();
        let id = file.check(p, "instance.id", &raw.id, InstanceId::parse);
        let subdomain = match &raw.subdomain {
            Some(s) => file.check(p, "instance.subdomain", s, Label::parse),
            None => Label::parse(raw.id.get_ref()).ok(),
        };
        let tier = match &raw.tier {
            Some(t) => file.check(p, "instance.tier", t, Label::parse),
            None => Some(self.default_tier.clone()),
        };
        let pinned_host = raw
            .host
            .as_ref()
            .map(|h| file.check(p, "instance.host", h, HostName::parse));
        let mut env = BTreeMap::new();
        for (role, vars) in &raw.env {
            let field = format!("instance.env.{}", role.get_ref());
            let role = file.check(p, &field, role, Label::parse);
            let mut keys = BTreeMap::new();
            for (key, value) in vars {
                let field = format!("{field}.{}", key.get_ref());
                if is_reserved_env_key(key.get_ref()) {
                    let m = format!("the {RESERVED_ENV_PREFIX} prefix is reserved for roomctl");
                    p.push(file.problem(key, &field, m));
                } else if let Some(k) = file.check(p, &field, key, EnvKey::parse) {
                    keys.insert(k, value.get_ref().clone());
                }
            }
            if let Some(role) = role {
                env.insert(role, keys);
            }
        }
        let mut overrides = BTreeMap::new();
        for (role, o) in &raw.overrides {
            let field = format!("instance.overrides.{}", role.get_ref());
            let role = file.check(p, &field, role, Label::parse);
            let mut value = AppOverride::default();
            if let Some(m) = &o.memory {
                let r = memory_value(m.get_ref())
                    .map_err(|e| p.push(file.problem(m, format!("{field}.memory"), e)));
                value.memory = r.ok();
            }
            if let Some(c) = &o.cpu {
                let r = cpu_value(c.get_ref())
                    .map_err(|e| p.push(file.problem(c, format!("{field}.cpu"), e)));
                value.cpu = r.ok();
            }
            if let Some(i) = &o.image {
                value.image = file.check(p, &format!("{field}.image"), i, ImageRef::parse);
            }
            if let Some(role) = role {
                overrides.insert(role, value);
            }
        }
        if p.0.len() > before {
            return None;
        }
        Some(DesiredInstance {
            id: id?,
            subdomain: subdomain?,
            tier: tier?,
            state: raw.state.unwrap_or_default(),
            pinned_host: pinned_host.flatten(),
            env,
            overrides,
            source,
        })
    }
}

impl InstanceSource for FileSource {
    fn instances(&self) -> Result<Vec<DesiredInstance>, DesiredError> {
        let mut p = Problems::default();
        let mut out = Vec::new();
        for path in self.files(&mut p)? {
            match FileText::read(&path) {
                Ok(file) => self.parse_file(&file, &mut p, &mut out),
                Err(e) => p.extend(e),
            }
        }
        p.finish(out)
    }

    fn locate(&self, at: &Source, field: &str) -> Option<Location> {
        let Source::File { path, .. } = at else {
            return None;
        };
        let file = FileText::read(path).ok()?;
        let raw: InstancesFile = file.parse().ok()?;
        let inst = raw.instance.iter().find(|i| file.at(i).source == *at)?;
        let inst = inst.get_ref();
        let parts: Vec<&str> = field.split('.').collect();
        let span = match parts.as_slice() {
            ["id"] => Some(inst.id.span()),
            ["subdomain"] => inst.subdomain.as_ref().map(Spanned::span),
            ["tier"] => inst.tier.as_ref().map(Spanned::span),
            ["host"] => inst.host.as_ref().map(Spanned::span),
            ["env", role] => key_of(&inst.env, role),
            ["env", role, key] => {
                let vars = inst.env.iter().find(|(r, _)| r.get_ref() == role)?.1;
                key_of(vars, key)
            }
            ["overrides", role, ..] => key_of(&inst.overrides, role),
            _ => None,
        }?;
        Some(Location::in_file(path, &file.text, span.start))
    }
}

/// What `path` is when it is not a regular file (or a symlink to one), for
/// an operator; `None` when it is one. Never opens it: a FIFO would block.
fn not_a_regular_file(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let link = std::fs::read_link(path).ok();
    let via = |what: &str| match &link {
        Some(target) => format!("a symlink to `{}`, which is {what}", target.display()),
        None => what.to_string(),
    };
    let kind = match std::fs::metadata(path) {
        Ok(meta) => meta.file_type(),
        Err(e) => {
            return Some(match &link {
                Some(t) if e.kind() == std::io::ErrorKind::NotFound => {
                    format!("a dangling symlink to `{}`", t.display())
                }
                Some(t) => format!(
                    "a symlink to `{}` that cannot be followed: {e}",
                    t.display()
                ),
                None => format!("cannot inspect it: {e}"),
            });
        }
    };
    let what = if kind.is_file() {
        return None;
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Some(via(what))
}

/// The span of the key `k` of `m`.
fn key_of<V>(m: &BTreeMap<Spanned<String>, V>, k: &str) -> Option<std::ops::Range<usize>> {
    m.keys().find(|s| s.get_ref() == k).map(Spanned::span)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstancesFile {
    #[serde(default)]
    instance: Vec<Spanned<RawInstance>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    id: Spanned<String>,
    subdomain: Option<Spanned<String>>,
    tier: Option<Spanned<String>>,
    state: Option<RunState>,
    host: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>,
    #[serde(default)]
    overrides: BTreeMap<Spanned<String>, RawOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    memory: Option<Spanned<toml::Value>>,
    cpu: Option<Spanned<toml::Value>>,
    image: Option<Spanned<String>>,
}
