//! roomctl's ownership marks, kept in each app's own env.
//!
//! Every app roomctl creates carries `ROOMCTL_INSTANCE` and `ROOMCTL_ROLE`
//! (the ownership mark), `ROOMCTL_KEYS` (the env keys roomctl manages, so a
//! key dropped from the template is unset while hand-set keys are left
//! alone) and `ROOMCTL_APPLIED` (a digest of the settings last applied in
//! full, see [`crate::plan::digest`]). The env is read on every run anyway,
//! so the marks cost no extra command, and they survive the loss of any
//! local state.

/// Env key holding the owning instance id: the ownership mark.
pub const INSTANCE: &str = "ROOMCTL_INSTANCE";
/// Env key holding the app's role within its instance.
pub const ROLE: &str = "ROOMCTL_ROLE";
/// Env key holding the comma-separated managed env keys.
pub const KEYS: &str = "ROOMCTL_KEYS";
/// Env key holding the digest of the last fully applied settings.
pub const APPLIED: &str = "ROOMCTL_APPLIED";
/// Env key recording the wildcard certificate installed on the app
/// (`{not_after}:{fingerprint}:{names hash}`, see [`crate::plan::wildcard`]).
pub const CERT: &str = "ROOMCTL_CERT";
/// Prefix reserved for marks; desired env may not use it.
pub const PREFIX: &str = "ROOMCTL_";

/// Whether `key` is one of roomctl's marks.
pub fn is_mark(key: &str) -> bool {
    key.starts_with(PREFIX)
}
