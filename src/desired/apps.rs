//! The app descriptions the instance template renders, and their validation.
//!
//! The template's output is TOML with one `[[app]]` table per app (fields
//! documented in `desired-state/README.md`). Each is checked with the domain
//! newtypes; `[app.secrets]` entries become derived, sensitive env values.

use super::instances::{RESERVED_ENV_PREFIX, is_reserved_env_key};
use super::model::{AppSpec, DesiredInstance, Platform, TlsMode};
use super::secrets::RootSecret;
use crate::domain::{
    AppName, Cpu, EnvKey, EnvValue, Fqdn, ImageRef, Label, Limits, MemoryMb, Mount, PortMapping,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rendered {
    #[serde(default)]
    pub(crate) app: Vec<RawApp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApp {
    role: String,
    image: String,
    memory_mb: u32,
    cpu_millis: Option<u32>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    storage: Vec<String>,
    #[serde(default)]
    tls: bool,
    #[serde(default)]
    env: BTreeMap<String, toml::Value>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

/// The largest env value roomctl sends to Dokku, in bytes (32 KiB).
///
/// Values travel base64-encoded (4/3 of their size) on one
/// `dokku config:set` line, and that line reaches the host as one string
/// (sshd hands it to `sh -c` and sets `SSH_ORIGINAL_COMMAND` to it). Linux
/// refuses any single argument or environment string longer than
/// MAX_ARG_STRLEN (128 KiB) with E2BIG, so one value may take at most about
/// a third of that line.
pub const MAX_ENV_VALUE_BYTES: usize = 32 * 1024;

/// The longest `dokku config:set` line an app's whole env may make, in
/// bytes (96 KiB): keys plus base64-encoded values, about 72 KiB of plain
/// env. The rest of MAX_ARG_STRLEN (128 KiB) is headroom for the command's
/// head and the host's forced-command wrapping.
pub const MAX_APP_ENV_LINE_BYTES: usize = 96 * 1024;

/// Why `value` is too large to send, if it is. Names only its size.
pub(crate) fn env_value_size_problem(value: &str) -> Option<String> {
    (value.len() > MAX_ENV_VALUE_BYTES).then(|| {
        format!(
            "the value is {} bytes, over the limit of {MAX_ENV_VALUE_BYTES} bytes ({} KiB) per env value",
            value.len(),
            MAX_ENV_VALUE_BYTES / 1024
        )
    })
}

/// The length of the `config:set` line that sets all of `app`'s env
/// (what [`crate::dokku::command::config_set`] would send), computed
/// without encoding anything.
fn config_set_line_len(app: &AppSpec) -> usize {
    let head = "config:set --encoded --no-restart ".len() + app.name.as_str().len();
    let vars: usize = app
        .env
        .iter()
        .map(|(k, v)| " =".len() + k.as_str().len() + v.expose().len().div_ceil(3) * 4)
        .sum();
    head + vars
}

/// Why `app`'s whole env is too large to send in one `config:set`, if it is.
pub(crate) fn app_env_size_problem(app: &AppSpec) -> Option<String> {
    let n = config_set_line_len(app);
    (n > MAX_APP_ENV_LINE_BYTES).then(|| {
        format!(
            "the app's env makes a `dokku config:set` line of {n} bytes (values base64-encoded), over the limit of {MAX_APP_ENV_LINE_BYTES} bytes ({} KiB) per app",
            MAX_APP_ENV_LINE_BYTES / 1024
        )
    })
}

/// Whether an extra-env key names a credential; such values are masked.
pub fn looks_sensitive(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "API_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Validates one rendered app; returns it and the keys of its secrets.
pub(crate) fn build_app(
    platform: &Platform,
    root: &RootSecret,
    inst: &DesiredInstance,
    raw: RawApp,
) -> Result<(AppSpec, BTreeSet<EnvKey>), String> {
    let role = Label::parse(&raw.role).map_err(|e| format!("app role: {e}"))?;
    let at = |what: &str| format!("app `{role}`: {what}");
    let name = AppName::parse(&format!("{}-{role}", inst.id)).map_err(|e| at(&e.to_string()))?;
    let image = ImageRef::parse(&raw.image).map_err(|e| at(&e.to_string()))?;
    let memory = (raw.memory_mb > 0)
        .then_some(MemoryMb(raw.memory_mb))
        .ok_or_else(|| at("memory_mb must be > 0"))?;
    let cpu = match raw.cpu_millis {
        Some(0) => return Err(at("cpu_millis must be > 0")),
        c => c.map(Cpu),
    };
    let domains = collect(&raw.domains, Fqdn::parse).map_err(|e| at(&e))?;
    let ports = collect(&raw.ports, PortMapping::parse).map_err(|e| at(&e))?;
    let storage = collect(&raw.storage, Mount::parse).map_err(|e| at(&e))?;
    let mut env = BTreeMap::new();
    for (key, value) in &raw.env {
        let key = env_key(key).map_err(|e| at(&e))?;
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                value.to_string()
            }
            other => {
                return Err(at(&format!(
                    "env `{key}` must be a string, number or boolean, not {other}"
                )));
            }
        };
        if let Some(why) = env_value_size_problem(&text) {
            return Err(at(&format!("env `{key}`: {why}")));
        }
        if let Some(why) = crate::dokku::envfile::round_trip_problem(&text) {
            return Err(at(&format!(
                "env `{key}`: Dokku cannot keep this value unchanged: {why}"
            )));
        }
        env.insert(key, EnvValue::plain(text));
    }
    let mut secret_keys = BTreeSet::new();
    for (key, secret_name) in &raw.secrets {
        let key = env_key(key).map_err(|e| at(&e))?;
        let secret_name =
            Label::parse(secret_name).map_err(|e| at(&format!("secret name: {e}")))?;
        if env.contains_key(&key) {
            return Err(at(&format!("`{key}` is both in env and in secrets")));
        }
        env.insert(key.clone(), root.derive(&inst.id, &secret_name));
        secret_keys.insert(key);
    }
    let tls = raw.tls && platform.tls != TlsMode::Off;
    let limits = Limits {
        memory: Some(memory),
        cpu,
    };
    Ok((
        AppSpec {
            name,
            role,
            image,
            env,
            domains,
            ports,
            storage,
            limits,
            tls,
            nginx: None,
            nginx_properties: Default::default(),
            fingerprint: Default::default(),
        },
        secret_keys,
    ))
}

fn env_key(key: &str) -> Result<EnvKey, String> {
    if is_reserved_env_key(key) {
        return Err(format!(
            "env key `{key}`: the {RESERVED_ENV_PREFIX} prefix is reserved for roomctl"
        ));
    }
    EnvKey::parse(key).map_err(|e| e.to_string())
}

fn collect<T: Ord, E: std::fmt::Display>(
    items: &[String],
    parse: fn(&str) -> Result<T, E>,
) -> Result<BTreeSet<T>, String> {
    items
        .iter()
        .map(|s| parse(s).map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_computed_config_set_line_is_the_one_sent() {
        let mut app = AppSpec {
            name: AppName::parse("acme-backend").unwrap(),
            role: Label::parse("backend").unwrap(),
            image: ImageRef::parse("img").unwrap(),
            env: BTreeMap::new(),
            domains: BTreeSet::new(),
            ports: BTreeSet::new(),
            storage: BTreeSet::new(),
            limits: Limits {
                memory: None,
                cpu: None,
            },
            tls: false,
            nginx: None,
            nginx_properties: Default::default(),
            fingerprint: Default::default(),
        };
        for (k, v) in [
            ("A", ""),
            ("BB", "x"),
            ("CCC", "xy"),
            ("D", "xyz"),
            ("E", "é€"),
        ] {
            app.env
                .insert(EnvKey::parse(k).unwrap(), EnvValue::plain(v));
        }
        let sent = crate::dokku::command::config_set(&app.name, &app.env).wire();
        assert_eq!(config_set_line_len(&app), sent.len(), "{sent}");
    }

    #[test]
    fn reserved_prefix_is_refused_in_any_case_and_credentials_are_recognised() {
        for key in ["ROOMCTL_MANAGED", "roomctl_x", "RoomCtl_"] {
            assert!(env_key(key).unwrap_err().contains("reserved"), "{key}");
        }
        assert!(env_key("ROOMCTLX").is_ok());
        assert!(looks_sensitive("openai_api_key") && looks_sensitive("DB_PASSWORD"));
        assert!(!looks_sensitive("MINDROOM_LOG_LEVEL"));
    }
}
