//! `roomctl:observe`: one exec prints Dokku's own files for every app on a
//! host, and this module turns them into the facts Dokku's report commands
//! would print, parsing each file the way Dokku 0.38.27 does. No I/O.
//!
//! - [`wire`]: the plugin's framed output back into files (format 2, see
//!   `dokku-plugin/roomctl/README.md`). A truncated, garbled or
//!   unknown-format output is an [`ObserveError`]; there is never a partial
//!   result, so the caller marks the host unknown (or falls back to
//!   per-command reads for an older plugin).
//! - [`scan`]: what the plugin reads out of `mounts` and `CONTAINER*` files
//!   before printing them, and the check that they did not change in
//!   between ([`ObserveError::Changed`]: the caller reads again).
//! - [`facts`]: files into [`AppFacts`]: the ENV through
//!   [`crate::dokku::envfile::parse`] (an unreadable ENV is a per-app error
//!   value, not a failed host), VHOST, the ports map, storage attachments
//!   joined with their entries, resource and nginx properties, deploy
//!   source, run state, certificates and Let's Encrypt.
//!   Storage mounts and the run state have their own files (`storage.rs`,
//!   `run_state.rs`).
//! - [`cert`]: a PEM certificate's expiry, names and fingerprint.
//!
//! Each fact names the Dokku source it is modelled on; the recorded files
//! and reports in `tests/fixtures/dokku-transcripts/disk-layout/` check
//! them (`tests/dokku_observe.rs`).

pub mod cert;
pub mod facts;
mod run_state;
pub mod scan;
mod storage;
pub mod wire;

#[cfg(test)]
mod tests;

pub use cert::CertFacts;
use std::collections::BTreeMap;

/// Why an output could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveError {
    /// The output does not start with the `roomctl-observe` header (no
    /// such command: a plugin older than 0.2.0, or none).
    #[error("not roomctl:observe output (no `roomctl-observe` header)")]
    NotObserveOutput,
    /// The plugin speaks a format this roomctl does not read.
    #[error("roomctl:observe output format {0} is not supported (this roomctl reads format 2)")]
    UnknownFormat(u32),
    /// The plugin saw a file change or vanish while it read the host, or
    /// what it printed names an entry or a container it did not look up:
    /// nothing in the output is to be trusted, but reading again may
    /// succeed.
    #[error("roomctl:observe output is inconsistent: the host's files changed during the read")]
    Changed,
    /// The output stops before its trailer.
    #[error("roomctl:observe output is truncated ({0} bytes, no trailer)")]
    Truncated(usize),
    /// The output breaks the format. `what` never quotes file content.
    #[error("roomctl:observe output is garbled at byte {at}: {what}")]
    Garbled {
        /// Byte offset where the reader gave up.
        at: usize,
        /// What was wrong.
        what: String,
    },
}

/// Everything one `roomctl:observe` said about a host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    /// The output format (always [`wire::FORMAT`] here).
    pub format: u32,
    /// The plugin's version, from its header (`plugin.toml`).
    pub plugin_version: String,
    /// The host's global vhost (`/home/dokku/VHOST`), as
    /// `domains:report --domains-global-enabled` / `--domains-global-vhosts`.
    pub global_vhost: GlobalVhost,
    /// The output's length in bytes.
    pub bytes: usize,
    /// Every app, in `apps:list` order.
    pub apps: Vec<AppFacts>,
}

/// The global vhost as Dokku reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalVhost {
    /// Whether any line of the file is a valid hostname (or `_`).
    pub enabled: bool,
    /// The file's words; empty when not enabled.
    pub vhosts: Vec<String>,
}

/// One `scheme:host:container` port mapping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMap {
    /// `http`, `https`, … (`__internal__` for a bare host port).
    pub scheme: String,
    /// The host (proxy) port.
    pub host_port: u16,
    /// The container port (0 for `__internal__`).
    pub container_port: u16,
}

impl std::fmt::Display for PortMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.scheme, self.host_port, self.container_port
        )
    }
}

/// One storage mount, as a row of `storage:list APP --format json`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MountFact {
    /// The storage entry's name (`legacy-…` for migrated mounts).
    pub entry_name: String,
    /// The entry's host path (its name when it has none).
    pub host_path: String,
    /// Where it is mounted in the container.
    pub container_path: String,
    /// Mounted `:ro`.
    pub readonly: bool,
}

/// Whether an app's containers run, as `ps:report APP --running` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    /// Every container runs (`true`).
    True,
    /// None does, or there is none (`false`).
    False,
    /// Some do (`mixed`).
    Mixed,
}

/// Everything read about one app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppFacts {
    /// The app's name.
    pub name: String,
    /// The env (`config:export`), or godotenv's error as Dokku prints it
    /// when the ENV file cannot be read back.
    pub env: Result<BTreeMap<String, String>, crate::dokku::envfile::ParseError>,
    /// `domains:report APP --domains-app-enabled`.
    pub vhost_enabled: bool,
    /// `domains:report APP --domains-app-vhosts`, as words.
    pub domains: Vec<String>,
    /// `ports:report APP --ports-map`, in Dokku's order.
    pub ports: Vec<PortMap>,
    /// `storage:list APP --format json`, or the error Dokku fails with (a
    /// mount naming a missing entry, an unparseable line).
    pub mounts: Result<Vec<MountFact>, String>,
    /// `resource:report APP`: property name (`_default_.limit.memory`) →
    /// value.
    pub limits: BTreeMap<String, String>,
    /// `apps:report APP --app-deploy-source`.
    pub deploy_source: String,
    /// `apps:report APP --app-deploy-source-metadata`.
    pub deploy_source_metadata: String,
    /// `git:report APP --git-source-image`.
    pub source_image: String,
    /// `ps:report APP --deployed`.
    pub deployed: bool,
    /// `ps:report APP --running`; `None` when Docker could not be asked.
    pub running: Option<Running>,
    /// `ps:report APP --restore`.
    pub restore: bool,
    /// The `ps` scale property's lines (`web=1`).
    pub scale: Vec<String>,
    /// Whether the app has both `tls/server.crt` and `tls/server.key`
    /// (`certs:report APP --ssl-enabled`).
    pub tls_enabled: bool,
    /// The installed certificate (`tls/server.crt`), if there is one, or
    /// why it does not parse.
    pub certificate: Option<Result<CertFacts, String>>,
    /// The expiry `letsencrypt:list` shows (Unix seconds), when
    /// dokku-letsencrypt manages the installed certificate.
    pub letsencrypt_expiry: Option<i64>,
    /// The app's own nginx properties (`nginx:report`'s non-computed,
    /// non-global keys that are set): name → value.
    pub nginx: BTreeMap<String, String>,
    /// The SHA-256 of roomctl's snippet (`roomctl:nginx-report`), if any.
    pub snippet_sha256: Option<String>,
    /// Keys of files that exist but could not be read; the facts built on
    /// them fell back to what Dokku shows for a missing file.
    pub unreadable: Vec<String>,
}

/// Parses a whole `roomctl:observe` output into facts.
pub fn parse(output: &[u8]) -> Result<HostFacts, ObserveError> {
    let wire = wire::unframe(output)?;
    scan::check(&wire)?;
    Ok(facts::host_facts(wire))
}
