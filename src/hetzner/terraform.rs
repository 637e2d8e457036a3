//! What roomctl reads from the Terraform base infrastructure (`terraform/`).
//!
//! Terraform owns the slow-changing base (network, firewall, SSH keys, the
//! platform host, fixed DNS records); roomctl owns the Dokku hosts it
//! creates in it. The hand-over is one file, written by an operator after
//! each `terraform apply`:
//!
//! ```sh
//! terraform -chdir=terraform output -json > desired-state/terraform-outputs.json
//! ```
//!
//! That is Terraform's own JSON format, one object per output:
//! `{"network_id": {"sensitive": false, "type": "number", "value": 123}, …}`.
//! roomctl reads the outputs named in [`OUTPUTS_READ`] and ignores the rest;
//! it never runs Terraform and never writes the file.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The file, relative to the desired-state directory, holding
/// `terraform output -json`.
pub const OUTPUTS_FILE: &str = "terraform-outputs.json";

/// The outputs roomctl reads, each required. `terraform/outputs.tf` must
/// declare all of them (`tests/terraform.rs` checks it).
pub const OUTPUTS_READ: &[&str] = &["network_id", "firewall_id", "ssh_key_ids", "location"];

/// The values roomctl takes from Terraform when it creates a Dokku host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerraformOutputs {
    /// The private network new hosts join (`CreateServer::networks`).
    pub network_id: u64,
    /// The firewall new hosts get (`CreateServer::firewalls`).
    pub firewall_id: u64,
    /// The SSH keys Hetzner installs for root on new hosts
    /// (`CreateServer::ssh_keys`); never empty.
    pub ssh_key_ids: Vec<u64>,
    /// The Hetzner location of the platform host, e.g. `fsn1`.
    pub location: String,
}

/// Why the outputs file could not be used. Every variant names the file;
/// the output-level ones also name the output.
#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    /// The file could not be read.
    #[error("{}: cannot read Terraform outputs: {source} (write it with `terraform output -json > {}`)", path.display(), path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a JSON object.
    #[error("{}: not `terraform output -json` output: {detail}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// An output roomctl reads is not in the file.
    #[error("{}: output `{name}` is missing (declare it in terraform/outputs.tf and run `terraform apply`)", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The output's name.
        name: &'static str,
    },
    /// An output roomctl reads has an unusable value.
    #[error("{}: output `{name}`: {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The output's name.
        name: &'static str,
        /// What was wrong.
        detail: String,
    },
}

impl TerraformOutputs {
    /// Reads and checks `path` (`terraform output -json` format). Errors
    /// name the file and, where it applies, the output.
    pub fn load(path: &Path) -> Result<Self, TerraformError> {
        let text = std::fs::read_to_string(path).map_err(|source| TerraformError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text`, the contents of `path` (named in errors only).
    pub fn parse(path: &Path, text: &str) -> Result<Self, TerraformError> {
        let format = |detail: String| TerraformError::Format {
            path: path.to_path_buf(),
            detail,
        };
        let root: Value = serde_json::from_str(text).map_err(|e| format(e.to_string()))?;
        let Value::Object(outputs) = root else {
            return Err(format("expected a JSON object of outputs".into()));
        };
        let r = Reader { path, outputs };
        let ssh_key_ids = r.list_of_ids("ssh_key_ids")?;
        if ssh_key_ids.is_empty() {
            return Err(r.invalid(
                "ssh_key_ids",
                "is empty; a server created without SSH keys gets a root password by email".into(),
            ));
        }
        Ok(Self {
            network_id: r.id("network_id")?,
            firewall_id: r.id("firewall_id")?,
            ssh_key_ids,
            location: r.location("location")?,
        })
    }
}

/// Looks outputs up in one parsed file.
struct Reader<'a> {
    path: &'a Path,
    outputs: Map<String, Value>,
}

impl Reader<'_> {
    fn invalid(&self, name: &'static str, detail: String) -> TerraformError {
        TerraformError::Invalid {
            path: self.path.to_path_buf(),
            name,
            detail,
        }
    }

    /// The `value` of output `name`, which must be a non-sensitive
    /// `{"value": …}` object.
    fn value(&self, name: &'static str) -> Result<&Value, TerraformError> {
        let Some(output) = self.outputs.get(name) else {
            return Err(TerraformError::Missing {
                path: self.path.to_path_buf(),
                name,
            });
        };
        let Some(value) = output.get("value") else {
            return Err(self.invalid(
                name,
                "has no `value` (is this `terraform output -json`?)".into(),
            ));
        };
        if output.get("sensitive") == Some(&Value::Bool(true)) {
            return Err(self.invalid(
                name,
                "is marked sensitive; roomctl reads no secrets from Terraform".into(),
            ));
        }
        Ok(value)
    }

    fn id(&self, name: &'static str) -> Result<u64, TerraformError> {
        let v = self.value(name)?;
        id_value(v)
            .ok_or_else(|| self.invalid(name, format!("expected a positive integer id, got {v}")))
    }

    fn list_of_ids(&self, name: &'static str) -> Result<Vec<u64>, TerraformError> {
        let v = self.value(name)?;
        let Value::Array(items) = v else {
            return Err(self.invalid(name, format!("expected a list of ids, got {v}")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                id_value(item).ok_or_else(|| {
                    self.invalid(
                        name,
                        format!("item {i}: expected a positive integer id, got {item}"),
                    )
                })
            })
            .collect()
    }

    fn location(&self, name: &'static str) -> Result<String, TerraformError> {
        let v = self.value(name)?;
        match v.as_str() {
            Some(s) if is_location(s) => Ok(s.to_string()),
            _ => Err(self.invalid(
                name,
                format!("expected a Hetzner location name such as \"fsn1\", got {v}"),
            )),
        }
    }
}

/// A Hetzner id: a positive JSON integer, or a string of decimal digits
/// (Terraform resource ids are strings unless `tonumber()` was applied).
fn id_value(v: &Value) -> Option<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s)
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()?
        }
        _ => return None,
    };
    (n > 0).then_some(n)
}

/// Hetzner location names: lowercase letters and digits, 2 to 16 of them.
fn is_location(s: &str) -> bool {
    (2..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.as_bytes()[0].is_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_numbers_and_digit_strings_only() {
        use serde_json::json;
        assert_eq!(id_value(&json!(42)), Some(42));
        assert_eq!(id_value(&json!("42")), Some(42));
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!(""),
            json!("4a"),
            json!(null),
        ] {
            assert_eq!(id_value(&bad), None, "{bad}");
        }
    }

    #[test]
    fn locations_are_plain_names() {
        assert!(is_location("fsn1"));
        assert!(is_location("ash"));
        for bad in ["", "f", "FSN1", "fsn 1", "1fsn", "fsn1\n"] {
            assert!(!is_location(bad), "{bad:?}");
        }
    }
}
