//! Loading `platform.toml` and `tiers.toml`, and the helpers all files share.
//!
//! Each file is deserialised into raw structs (`deny_unknown_fields`, values
//! wrapped in [`Spanned`]) and then validated field by field into the model's
//! newtypes, so every problem names the file, line, column and field. The
//! format is documented in `desired-state/README.md`.

use super::error::{DesiredError, Location, Problem, Problems, toml_problem};
use super::model::{Platform, SubscriptionPolicy, Tier, TlsMode};
use crate::domain::{Cpu, Fqdn, ImageRef, Label, MemoryMb, NameError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A file's path and contents, for locating spans.
pub(crate) struct FileText {
    /// The file.
    pub(crate) path: PathBuf,
    /// Its contents.
    pub(crate) text: String,
    /// Byte offset of each line's start, so locating a span is a binary
    /// search rather than a scan (files may declare thousands of instances).
    lines: Vec<usize>,
}

impl FileText {
    /// Reads `path`, or records why it cannot be read.
    pub(crate) fn read(path: &Path) -> Result<Self, DesiredError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self {
                path: path.to_path_buf(),
                lines: super::error::line_starts(&text),
                text,
            }),
            Err(source) => Err(Problem::Io {
                path: path.to_path_buf(),
                source,
            }
            .into()),
        }
    }

    /// Deserialises the whole file into `T`.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, DesiredError> {
        toml::from_str(&self.text).map_err(|e| toml_problem(&self.path, &self.text, &e).into())
    }

    /// The location of a span's start.
    pub(crate) fn at<T>(&self, s: &Spanned<T>) -> Location {
        Location::in_indexed_file(&self.path, &self.text, &self.lines, s.span().start)
    }

    /// A field problem at `s`.
    pub(crate) fn problem<T>(
        &self,
        s: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem::Field {
            at: self.at(s),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Validates a spanned string with `parse`, recording a field problem on failure.
    pub(crate) fn check<T>(
        &self,
        p: &mut Problems,
        field: &str,
        s: &Spanned<String>,
        parse: impl FnOnce(&str) -> Result<T, NameError>,
    ) -> Option<T> {
        parse(s.get_ref())
            .map_err(|e| p.push(self.problem(s, field, e.to_string())))
            .ok()
    }
}

/// Memory as `"2g"`/`"512m"` or an integer number of MiB.
pub(crate) fn memory_value(v: &toml::Value) -> Result<MemoryMb, String> {
    match v {
        toml::Value::String(s) => MemoryMb::parse(s).map_err(|e| e.to_string()),
        toml::Value::Integer(n) if *n > 0 && *n <= i64::from(u32::MAX) => Ok(MemoryMb(*n as u32)),
        _ => Err(format!(
            "memory must be a string such as \"2g\" or a positive number of MiB, not {v}"
        )),
    }
}

/// CPU as cores: `"0.5"`, `0.5` or `2`.
pub(crate) fn cpu_value(v: &toml::Value) -> Result<Cpu, String> {
    let text = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        _ => {
            return Err(format!(
                "cpu must be a number of cores such as 0.5, not {v}"
            ));
        }
    };
    Cpu::parse(&text).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformFile {
    platform: RawPlatform,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlatform {
    base_domain: Spanned<String>,
    owner: Spanned<String>,
    template: Spanned<String>,
    #[serde(default)]
    tls: TlsMode,
    letsencrypt_email: Option<Spanned<String>>,
    default_tier: Spanned<String>,
    #[serde(default)]
    images: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    destroy: RawDestroy,
    #[serde(default)]
    subscriptions: RawSubscriptions,
    nginx: Option<super::platform_tables::RawNginx>,
    #[serde(default)]
    certificates: super::platform_tables::RawCertificates,
    #[serde(default)]
    health: super::health_table::RawHealth,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSubscriptions {
    past_due_grace: Option<Spanned<String>>,
    retention: Option<Spanned<String>>,
}

/// A duration such as `7d`, `36h` or `30days`.
pub(crate) fn duration_value(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration such as \"7d\" or \"36h\" ({e})"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestroy {
    #[serde(default)]
    enabled: bool,
    #[serde(default = "default_max_destroys")]
    max_per_run: usize,
}

impl Default for RawDestroy {
    fn default() -> Self {
        Self {
            enabled: false,
            max_per_run: default_max_destroys(),
        }
    }
}

fn default_max_destroys() -> usize {
    3
}

fn check_template_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} must be a plain file name under templates/"))
    }
}

fn check_email(s: &str) -> Result<String, String> {
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._%+-@".contains(&b));
    let ok_shape = s
        .split_once('@')
        .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !d.contains('@'));
    if ok_chars && ok_shape && !s.starts_with('-') {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a plain email address"))
    }
}

/// Loads `platform.toml`. When `tiers` is known, `default_tier` must name one.
pub(crate) fn load_platform(
    path: &Path,
    tiers: Option<&BTreeMap<Label, Tier>>,
) -> Result<Platform, Problems> {
    let mut p = Problems::default();
    let file = FileText::read(path).map_err(one)?;
    let raw: PlatformFile = file.parse().map_err(one)?;
    let raw = raw.platform;
    let base_domain = file.check(
        &mut p,
        "platform.base_domain",
        &raw.base_domain,
        Fqdn::parse,
    );
    let owner = file.check(&mut p, "platform.owner", &raw.owner, Label::parse);
    let template = check_template_name(raw.template.get_ref())
        .map_err(|m| p.push(file.problem(&raw.template, "platform.template", m)))
        .ok();
    let letsencrypt_email = match &raw.letsencrypt_email {
        Some(e) => check_email(e.get_ref())
            .map_err(|m| p.push(file.problem(e, "platform.letsencrypt_email", m)))
            .ok(),
        None => None,
    };
    if raw.tls != TlsMode::Off && raw.letsencrypt_email.is_none() {
        let at = Location::in_file(path, &file.text, 0);
        let message = "required unless tls is \"off\" (the default is \"per-app\")".to_string();
        p.push(Problem::Field {
            at,
            field: "platform.letsencrypt_email".into(),
            message,
        });
    }
    let default_tier = file.check(
        &mut p,
        "platform.default_tier",
        &raw.default_tier,
        Label::parse,
    );
    if let (Some(t), Some(tiers)) = (&default_tier, tiers)
        && !tiers.contains_key(t)
    {
        let known: Vec<&str> = tiers.keys().map(Label::as_str).collect();
        let m = format!(
            "unknown tier `{t}` (tiers.toml declares: {})",
            known.join(", ")
        );
        p.push(file.problem(&raw.default_tier, "platform.default_tier", m));
    }
    let mut images = BTreeMap::new();
    for (role, image) in &raw.images {
        let field = format!("platform.images.{}", role.get_ref());
        let role = file.check(&mut p, &field, role, Label::parse);
        let image = file.check(&mut p, &field, image, ImageRef::parse);
        if let (Some(r), Some(i)) = (role, image) {
            images.insert(r, i);
        }
    }
    let mut subscriptions = SubscriptionPolicy::default();
    let durations = [
        (
            "past_due_grace",
            &raw.subscriptions.past_due_grace,
            &mut subscriptions.past_due_grace,
        ),
        (
            "retention",
            &raw.subscriptions.retention,
            &mut subscriptions.retention,
        ),
    ];
    for (name, value, slot) in durations {
        if let Some(v) = value {
            let field = format!("platform.subscriptions.{name}");
            match duration_value(v.get_ref()) {
                Ok(d) => *slot = d,
                Err(m) => p.push(file.problem(v, field, m)),
            }
        }
    }
    let nginx = raw
        .nginx
        .as_ref()
        .map(|n| super::platform_tables::nginx_settings(&file, &mut p, n));
    let (certificates, acme_directory) =
        super::platform_tables::certificates(&file, &mut p, &raw.certificates);
    let health = super::health_table::health_settings(&file, &mut p, &raw.health);
    match (base_domain, owner, template, default_tier) {
        (Some(base_domain), Some(owner), Some(template), Some(default_tier)) if p.is_empty() => {
            Ok(Platform {
                base_domain,
                owner,
                template,
                tls: raw.tls,
                letsencrypt_email,
                images,
                default_tier,
                destroy_enabled: raw.destroy.enabled,
                max_destroys_per_run: raw.destroy.max_per_run,
                subscriptions,
                nginx,
                certificates,
                acme_directory,
                health,
            })
        }
        _ => Err(p),
    }
}

pub(crate) fn one(e: DesiredError) -> Problems {
    Problems(e.into_problems())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TiersFile {
    #[serde(default)]
    tier: BTreeMap<Spanned<String>, RawTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    memory: Spanned<toml::Value>,
    cpu: Spanned<toml::Value>,
    storage_gb: u32,
    max_agents: u32,
    messages_per_day: u32,
    #[serde(default)]
    bridges: Vec<Spanned<String>>,
    #[serde(default)]
    stripe_prices: Vec<Spanned<String>>,
}

/// Loads `tiers.toml`. Bridge names must be labels, so they are safe in the
/// template's output.
pub(crate) fn load_tiers(path: &Path) -> Result<BTreeMap<Label, Tier>, Problems> {
    let mut p = Problems::default();
    let file = FileText::read(path).map_err(one)?;
    let raw: TiersFile = file.parse().map_err(one)?;
    let mut tiers = BTreeMap::new();
    let mut prices: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, t) in &raw.tier {
        let field = format!("tier.{}", name.get_ref());
        let label = file.check(&mut p, &field, name, Label::parse);
        let memory = memory_value(t.memory.get_ref())
            .map_err(|m| p.push(file.problem(&t.memory, format!("{field}.memory"), m)))
            .ok();
        let cpu = cpu_value(t.cpu.get_ref())
            .map_err(|m| p.push(file.problem(&t.cpu, format!("{field}.cpu"), m)))
            .ok();
        let mut bridges = Vec::new();
        for b in &t.bridges {
            if let Some(b) = file.check(&mut p, &format!("{field}.bridges"), b, Label::parse) {
                bridges.push(b.as_str().to_string());
            }
        }
        let mut stripe_prices = BTreeSet::new();
        let db_tier = crate::db::model::DB_TIERS.contains(&name.get_ref().as_str());
        if !t.stripe_prices.is_empty() && !db_tier {
            let m = format!(
                "a tier sold through Stripe must be one of the database's tiers ({})",
                crate::db::model::DB_TIERS.join(", ")
            );
            p.push(file.problem(&t.stripe_prices[0], format!("{field}.stripe_prices"), m));
        }
        for price in &t.stripe_prices {
            let field = format!("{field}.stripe_prices");
            let id = price.get_ref().as_str();
            let valid = id.starts_with("price_")
                && id.len() <= 255
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                let m = format!("{id:?} is not a Stripe price id (price_…)");
                p.push(file.problem(price, field, m));
            } else if let Some(other) = prices.insert(id, name.get_ref()) {
                let m = format!("price {id} already buys tier `{other}`; a price buys one tier");
                p.push(file.problem(price, field, m));
            } else {
                stripe_prices.insert(id.to_string());
            }
        }
        if let (Some(name), Some(memory), Some(cpu)) = (label, memory, cpu) {
            let (storage_gb, max_agents, messages_per_day) =
                (t.storage_gb, t.max_agents, t.messages_per_day);
            tiers.insert(
                name.clone(),
                Tier {
                    name,
                    memory,
                    cpu,
                    storage_gb,
                    max_agents,
                    messages_per_day,
                    bridges,
                    stripe_prices,
                },
            );
        }
    }
    if raw.tier.is_empty() {
        let at = Location::in_file(path, &file.text, 0);
        p.push(Problem::Field {
            at,
            field: "tier".into(),
            message: "at least one tier must be declared".into(),
        });
    }
    p.finish(tiers).map_err(|e| Problems(e.into_problems()))
}
