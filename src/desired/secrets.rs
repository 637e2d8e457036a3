//! Per-instance secrets, derived deterministically from one root secret.
//!
//! `secret(instance, name) = hex(HMAC-SHA256(root, "roomctl/v1/{instance}/{name}"))`.
//! Instance ids and secret names are DNS labels (no `/`), so the message is
//! unambiguous. The same inputs give the same secret on every run, so
//! reconciling never rotates a secret by accident; different instances or
//! names give unrelated secrets.

use super::error::{DesiredError, Problem};
use crate::domain::{EnvValue, InstanceId, Label};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The environment variable holding the root secret.
pub const ROOT_SECRET_ENV: &str = "ROOMCTL_ROOT_SECRET";

/// Minimum length of the root secret, in bytes.
pub const ROOT_SECRET_MIN_BYTES: usize = 32;

/// The key all per-instance secrets are derived from. `Debug` prints
/// `(sensitive)`; the bytes are zeroed (best effort) when dropped.
pub struct RootSecret {
    key: Vec<u8>,
}

impl Clone for RootSecret {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
        }
    }
}

impl RootSecret {
    /// Wraps `key`; refuses fewer than [`ROOT_SECRET_MIN_BYTES`] bytes.
    /// The error never contains the key.
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, DesiredError> {
        let key = key.into();
        if key.len() < ROOT_SECRET_MIN_BYTES {
            let message = format!(
                "{ROOT_SECRET_ENV} is {} bytes long; at least {ROOT_SECRET_MIN_BYTES} are required \
                 (e.g. `openssl rand -hex 32`)",
                key.len()
            );
            return Err(Problem::RootSecret { message }.into());
        }
        Ok(Self { key })
    }

    /// Whether `other` is the same secret (to reuse renderings made with it).
    pub(crate) fn same_as(&self, other: &RootSecret) -> bool {
        self.key == other.key
    }

    /// Reads [`ROOT_SECRET_ENV`]; refuses it when unset, not UTF-8 or short.
    pub fn from_env() -> Result<Self, DesiredError> {
        match std::env::var(ROOT_SECRET_ENV) {
            Ok(v) => Self::new(v),
            Err(std::env::VarError::NotPresent) => Err(Problem::RootSecret {
                message: format!("{ROOT_SECRET_ENV} is not set"),
            }
            .into()),
            Err(std::env::VarError::NotUnicode(_)) => Err(Problem::RootSecret {
                message: format!("{ROOT_SECRET_ENV} is not valid UTF-8"),
            }
            .into()),
        }
    }

    /// The secret `name` of `instance`: 64 lowercase hex characters, as a
    /// sensitive [`EnvValue`]. Stable across runs for the same root secret.
    pub fn derive(&self, instance: &InstanceId, name: &Label) -> EnvValue {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(format!("roomctl/v1/{instance}/{name}").as_bytes());
        EnvValue::secret(hex::encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for RootSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

impl Drop for RootSecret {
    fn drop(&mut self) {
        self.key.fill(0);
        std::hint::black_box(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_root_secrets_are_refused_without_echoing_them() {
        let e = RootSecret::new("tooshort-but-secret")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 32") && !e.contains("tooshort"), "{e}");
        assert!(RootSecret::new(vec![7u8; 32]).is_ok());
    }

    #[test]
    fn derivation_matches_the_documented_hmac() {
        let root = RootSecret::new("k".repeat(32)).unwrap();
        let id = InstanceId::parse("acme").unwrap();
        let name = Label::parse("matrix-registration").unwrap();
        let v = root.derive(&id, &name);
        let mut mac = Hmac::<Sha256>::new_from_slice("k".repeat(32).as_bytes()).unwrap();
        mac.update(b"roomctl/v1/acme/matrix-registration");
        assert_eq!(v.expose(), hex::encode(mac.finalize().into_bytes()));
        assert!(v.is_sensitive());
        assert_eq!(format!("{root:?}"), "(sensitive)");
    }
}
