//! cloud-init user data for the Dokku hosts roomctl creates.
//!
//! [`render`] fills `templates/cloud-init.yaml.tera` with [`CloudInitInputs`]
//! (validated newtypes only) and the files of roomctl's Dokku plugin
//! (`dokku-plugin/roomctl`, shipped gzip+base64 in `write_files`, so a new
//! host needs nothing but Dokku's own downloads). The template installs
//! Dokku at a pinned version, dokku-letsencrypt, the roomctl plugin,
//! registers roomctl's key as `dokku ssh-keys:add roomctl` and hardens sshd.
//!
//! tera does not escape for YAML or shell. So every value is validated when
//! its type is built, every context string is checked again against a safe
//! alphabet before rendering, and the output must parse as YAML, start with
//! `#cloud-config` and fit Hetzner's user-data limit. No customer value is
//! ever part of the context.

mod inputs;
mod plugin;

pub use inputs::{CloudInitInputs, DokkuVersion, Email, SshPublicKey};
pub use plugin::{PluginFile, plugin_files};

use crate::desired::tera_message;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// File name of the template under the templates directory.
pub const TEMPLATE: &str = "cloud-init.yaml.tera";
/// The Dokku version roomctl is tested against (the emulator's recordings).
pub const DOKKU_VERSION: &str = "0.38.27";
/// Hetzner's limit on user data, in bytes.
pub const USER_DATA_LIMIT: usize = 32 * 1024;

/// Why user data could not be produced. Input errors come before any
/// rendering.
#[derive(Debug, thiserror::Error)]
pub enum CloudInitError {
    /// An input was refused.
    #[error("cloud-init input `{field}` {value:?} is invalid: {reason}")]
    Invalid {
        /// Which input.
        field: &'static str,
        /// The refused value, cut to 80 characters.
        value: String,
        /// The rule that failed.
        reason: String,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file of the Dokku plugin directory cannot be shipped.
    #[error("roomctl Dokku plugin {}: {reason}", path.display())]
    Plugin {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The template failed to compile or render, or rendered something
    /// that is not cloud-config.
    #[error("{}: {detail}", template.display())]
    Template {
        /// The template file.
        template: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

fn invalid(field: &'static str, value: &str, reason: impl Into<String>) -> CloudInitError {
    CloudInitError::Invalid {
        field,
        value: value.chars().take(80).collect(),
        reason: reason.into(),
    }
}

#[derive(Serialize)]
struct Ctx<'a> {
    hostname: &'a str,
    roomctl_ssh_public_key: &'a str,
    dokku_version: &'a str,
    letsencrypt_email: &'a str,
    max_sessions: u16,
    plugin_files: &'a [PluginFile],
}

/// Renders `templates_dir/cloud-init.yaml.tera` for `inputs`, shipping the
/// files of `plugin_dir` (normally `dokku-plugin/roomctl`). The result is
/// checked: it parses as YAML (a mapping), starts with `#cloud-config` and
/// is at most [`USER_DATA_LIMIT`] bytes.
pub fn render(
    templates_dir: &Path,
    inputs: &CloudInitInputs,
    plugin_dir: &Path,
) -> Result<String, CloudInitError> {
    let files = plugin_files(plugin_dir)?;
    let template = templates_dir.join(TEMPLATE);
    let text = std::fs::read_to_string(&template).map_err(|source| CloudInitError::Io {
        path: template.clone(),
        source,
    })?;
    let fail = |detail: String| CloudInitError::Template {
        template: template.clone(),
        detail,
    };
    let ctx = Ctx {
        hostname: inputs.hostname.as_str(),
        roomctl_ssh_public_key: inputs.ssh_public_key.as_str(),
        dokku_version: inputs.dokku_version.as_str(),
        letsencrypt_email: inputs.letsencrypt_email.as_str(),
        max_sessions: inputs.max_sessions,
        plugin_files: &files,
    };
    let value = serde_json::to_value(&ctx).map_err(|e| fail(e.to_string()))?;
    check_values(&value, "context").map_err(fail)?;
    let context = tera::Context::from_value(value).map_err(|e| fail(tera_message(&e)))?;
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_template(TEMPLATE, &text)
        .map_err(|e| fail(tera_message(&e)))?;
    let out = tera
        .render(TEMPLATE, &context)
        .map_err(|e| fail(tera_message(&e)))?;

    if out.lines().next() != Some("#cloud-config") {
        return Err(fail(
            "the rendered user data must start with the line `#cloud-config`".into(),
        ));
    }
    let doc: serde_norway::Value =
        serde_norway::from_str(&out).map_err(|e| fail(format!("rendered invalid YAML: {e}")))?;
    if !doc.is_mapping() {
        return Err(fail(
            "the rendered cloud-config is not a YAML mapping".into(),
        ));
    }
    if out.len() > USER_DATA_LIMIT {
        return Err(fail(format!(
            "rendered {} bytes of user data; Hetzner accepts at most {USER_DATA_LIMIT}",
            out.len()
        )));
    }
    Ok(out)
}

/// Every context string is printable ASCII without YAML or shell syntax
/// (quotes, backslash, `$`, `` ` ``, `#`, `:`, braces, brackets, `;&|<>*?!,()`).
/// The newtypes guarantee it; this proves it for any field added later.
fn check_values(v: &serde_json::Value, at: &str) -> Result<(), String> {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let bad = |b: u8| {
                !(b.is_ascii_graphic() || b == b' ') || b"\"'\\$`#:{}[];&|<>*?!,()".contains(&b)
            };
            match s.bytes().find(|&b| bad(b)) {
                Some(b) => Err(format!("{at}: refusing {:?} in {s:?}", b as char)),
                None => Ok(()),
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_values(x, &format!("{at}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, x)| check_values(x, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_strings_are_checked() {
        let v = serde_json::json!({"a": ["ok-value", {"b": "x\"y"}]});
        let e = check_values(&v, "context").unwrap_err();
        assert!(e.contains("context.a[1].b"), "{e}");
        assert!(check_values(&serde_json::json!({"a": "H4sI+/="}), "c").is_ok());
    }
}
