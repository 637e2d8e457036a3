//! The desired-state model: what the fleet should look like.
//!
//! Sources (files today, the subscriptions database later) each produce
//! [`DesiredInstance`]s; [`crate::desired::render`] turns them, with the
//! platform, tiers and the instance template, into [`InstanceSpec`]s whose
//! apps are fully resolved. The planner only ever sees a [`Desired`].

use crate::domain::{
    AppName, Cpu, EnvKey, EnvValue, Fingerprint, Fqdn, HostName, ImageRef, InstanceId, Label,
    Limits, MemoryMb, Mount, PortMapping, RunState,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// Where a desired instance came from, for error messages and plan notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A desired-state file, at a 1-based line.
    File {
        /// The file.
        path: PathBuf,
        /// The line of the instance's table.
        line: usize,
    },
    /// A row of the subscriptions database.
    Database {
        /// The subscription's identifier.
        subscription: String,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Database { subscription } => write!(f, "subscription {subscription}"),
        }
    }
}

/// How TLS certificates are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// No TLS management.
    Off,
    /// One certificate per app through Dokku's letsencrypt plugin.
    #[default]
    PerApp,
    /// roomctl orders wildcard certificates itself (ACME DNS-01 through
    /// the DNS provider of `dns.toml`) and installs them with `certs:add`.
    Wildcard,
}

/// Platform-wide settings (`desired-state/platform.toml`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Platform {
    /// Base domain, e.g. `mindroom.chat`.
    pub base_domain: Fqdn,
    /// Which roomctl deployment this is (`ROOMCTL_OWNER` on every app it
    /// creates): an app is roomctl's only when its name is the one roomctl
    /// derives from its marks and its owner mark is this (or absent, for
    /// apps made before the owner mark existed).
    pub owner: Label,
    /// Instance template file name under `templates/`.
    pub template: String,
    /// TLS mode.
    pub tls: TlsMode,
    /// Let's Encrypt account email (required when `tls` is `per-app`).
    pub letsencrypt_email: Option<String>,
    /// Images by role, available to the template as `platform.images`.
    pub images: BTreeMap<Label, ImageRef>,
    /// Tier used when an instance names none.
    pub default_tier: Label,
    /// Whether apps of instances that left the desired set may be destroyed
    /// (after a recorded backup). Off by default: they are only stopped.
    pub destroy_enabled: bool,
    /// Above this many destroys in one run, apply refuses without `--force`.
    pub max_destroys_per_run: usize,
    /// How subscription states age into stopped and deprovisioned instances.
    pub subscriptions: SubscriptionPolicy,
    /// `[platform.nginx]`: per-app nginx snippets, when present.
    pub nginx: Option<super::nginx::NginxSettings>,
    /// `[platform.certificates]`: issuance budget and renewal window.
    pub certificates: CertificatePolicy,
    /// `[platform.certificates] acme_directory`: the CA of wildcard mode
    /// (default [`LETS_ENCRYPT_DIRECTORY`]).
    pub acme_directory: String,
    /// `[platform.health]`: the health checker of `roomctl serve`
    /// (defaults when the table is absent).
    pub health: crate::health::HealthSettings,
}

/// How many certificates may be issued and when they are renewed
/// (`[platform.certificates]` in `platform.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CertificatePolicy {
    /// New certificates per 7 days, across the platform. Let's Encrypt
    /// allows 50 per registered domain; the default, 40, leaves room for
    /// manual work. Issuance beyond it waits for a later run.
    pub weekly_budget: u32,
    /// A certificate expiring within this window is renewed. Default 30 days.
    pub renew_within: std::time::Duration,
}

/// Let's Encrypt's production ACME directory, the default CA.
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";

impl Default for CertificatePolicy {
    fn default() -> Self {
        Self {
            weekly_budget: 40,
            renew_within: std::time::Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// How long a subscription keeps its instance once it stops paying
/// (`[platform.subscriptions]` in `platform.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubscriptionPolicy {
    /// A `past_due` subscription keeps running this long after it became
    /// past due, then is stopped. Default 7 days.
    pub past_due_grace: std::time::Duration,
    /// A `cancelled` or `paused` subscription's stopped instance is kept
    /// this long, then deprovisioned (backup first). Default 30 days.
    pub retention: std::time::Duration,
}

impl Default for SubscriptionPolicy {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            past_due_grace: std::time::Duration::from_secs(7 * DAY),
            retention: std::time::Duration::from_secs(30 * DAY),
        }
    }
}

/// One Dokku server (`desired-state/hosts.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSpec {
    /// Name used everywhere in roomctl.
    pub name: HostName,
    /// SSH address (hostname or IP).
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// SSH user; `dokku` runs Dokku's forced command.
    pub user: String,
    /// Public IPv4, for DNS.
    pub ipv4: Option<Ipv4Addr>,
    /// Public IPv6, for DNS.
    pub ipv6: Option<Ipv6Addr>,
    /// Memory that instances may use on this host.
    pub memory: MemoryMb,
    /// sshd's `MaxSessions` on the host; roomctl keeps below it.
    pub max_sessions: usize,
    /// `[host.sandbox]`: how `--sandbox` emulates this host (ignored
    /// against real hosts); `None` is the emulator's default host.
    pub sandbox: Option<SandboxHost>,
}

/// The global vhost of a sandbox host unless `[host.sandbox]` says
/// otherwise (the one Dokku's own examples use).
pub const SANDBOX_GLOBAL_VHOST: &str = "dokku.me";

/// How the sandbox emulates one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxHost {
    /// The host's global vhost (`/home/dokku/VHOST`); `None` for a host
    /// installed without one (`global_vhost = ""`): new apps then get no
    /// vhost and a random port until roomctl sets their domains.
    pub global_vhost: Option<String>,
    /// roomctl's plugin version on the host: `Some("")` for the version
    /// shipped in `dokku-plugin/roomctl`, `None` when not installed
    /// (`roomctl_plugin = "none"`); an older version has no
    /// `roomctl:observe`, so roomctl reads the host with Dokku's commands.
    pub roomctl_plugin: Option<String>,
}

/// A subscription tier (`desired-state/tiers.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tier {
    /// Tier name (`free`, `starter`, …).
    pub name: Label,
    /// Memory for the whole instance.
    pub memory: MemoryMb,
    /// CPU for the whole instance.
    pub cpu: Cpu,
    /// Storage quota in GiB.
    pub storage_gb: u32,
    /// Limits the app reads from its env.
    pub max_agents: u32,
    /// Messages per day.
    pub messages_per_day: u32,
    /// Bridges allowed (e.g. `telegram`).
    pub bridges: Vec<String>,
    /// Stripe price ids that buy this tier. A price belongs to one tier.
    pub stripe_prices: BTreeSet<String>,
}

/// Per-role overrides an operator may declare on an instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AppOverride {
    /// Replaces the template's memory limit.
    pub memory: Option<MemoryMb>,
    /// Replaces the template's CPU limit.
    pub cpu: Option<Cpu>,
    /// Replaces the template's image.
    pub image: Option<ImageRef>,
}

/// One customer instance as a source declares it, before rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredInstance {
    /// Stable id; app names are `{id}-{role}`.
    pub id: InstanceId,
    /// Subdomain under the platform's base domain.
    pub subdomain: Label,
    /// Tier name.
    pub tier: Label,
    /// Running or stopped.
    pub state: RunState,
    /// Host the instance must be placed on, if any.
    pub pinned_host: Option<HostName>,
    /// Extra env by role (merged over the template's env).
    pub env: BTreeMap<Label, BTreeMap<EnvKey, String>>,
    /// Overrides by role.
    pub overrides: BTreeMap<Label, AppOverride>,
    /// Where it was declared.
    pub source: Source,
}

/// One fully resolved Dokku app of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppSpec {
    /// Dokku app name, `{instance}-{role}`.
    pub name: AppName,
    /// Role in the template (`backend`, `frontend`, `matrix`).
    pub role: Label,
    /// Image to deploy.
    pub image: ImageRef,
    /// Managed env: template env, derived secrets and the instance's extra env.
    pub env: BTreeMap<EnvKey, EnvValue>,
    /// Domains (vhosts).
    pub domains: BTreeSet<Fqdn>,
    /// Port mappings (http only; Dokku adds https ones when TLS is on).
    pub ports: BTreeSet<PortMapping>,
    /// Bind mounts.
    pub storage: BTreeSet<Mount>,
    /// Resource limits.
    pub limits: Limits,
    /// Whether the app gets a certificate.
    pub tls: bool,
    /// Digest of the app's nginx snippet ([`crate::nginx::NginxSnippet::digest`]),
    /// when `[platform.nginx]` gives it one.
    pub nginx: Option<String>,
    /// Dokku nginx properties (`nginx:set`) the app gets while
    /// `[platform.nginx]` exists; every other managed key is unset.
    pub nginx_properties: crate::nginx::properties::NginxProperties,
    /// Hashes of `env` (with the marks) and of domains, ports and storage,
    /// set by [`AppSpec::seal`]. Whoever changes those fields afterwards
    /// must seal again; an unsealed (default) fingerprint only makes the
    /// planner compare field by field.
    #[serde(skip)]
    pub fingerprint: Fingerprint,
}

impl AppSpec {
    /// Computes [`AppSpec::fingerprint`] for the app as part of `instance`.
    pub fn seal(&mut self, instance: &InstanceId, owner: &Label) {
        let keys: Vec<&str> = self.env.keys().map(|k| k.as_str()).collect();
        let keys = keys.join(",");
        let pairs = self.env.iter().map(|(k, v)| (k.as_str(), Some(v.expose())));
        let env = crate::domain::fingerprint::env_fingerprint(
            pairs,
            crate::domain::fingerprint::Marks {
                instance: Some(instance.as_str()),
                role: Some(self.role.as_str()),
                keys: Some(&keys),
                owner: Some(owner.as_str()),
            },
        );
        let settings = crate::domain::fingerprint::settings_fingerprint(
            &self.domains,
            &self.ports,
            &self.storage,
            &self.nginx_properties,
        );
        self.fingerprint = Fingerprint { env, settings };
    }
}

/// A rendered instance: the declaration plus its apps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceSpec {
    /// The declaration.
    pub instance: DesiredInstance,
    /// Memory the instance needs on a host (the tier's, or the sum of
    /// overridden app limits).
    pub memory: MemoryMb,
    /// Its apps by name.
    pub apps: BTreeMap<AppName, AppSpec>,
}

/// Everything the planner needs to know about the wanted fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// Platform settings.
    pub platform: Platform,
    /// Hosts by name.
    pub hosts: BTreeMap<HostName, HostSpec>,
    /// Tiers by name.
    pub tiers: BTreeMap<Label, Tier>,
    /// Instances by id.
    pub instances: BTreeMap<InstanceId, InstanceSpec>,
    /// Things the operator should know about how sources were merged
    /// (e.g. a file overriding a subscription's instance), by instance.
    pub notes: Vec<(InstanceId, String)>,
    /// The DNS zone roomctl manages (`dns.toml`), if any.
    pub dns: Option<super::dns::DnsSpec>,
    /// Renders nginx snippets, when `[platform.nginx]` is set.
    #[serde(skip)]
    pub nginx: Option<super::nginx::NginxRenderer>,
    /// The pool of Hetzner servers roomctl grows and shrinks (`[pool]` in
    /// `hosts.toml`), if any. Its running servers are in `hosts` once
    /// observed ([`Desired::with_pool_servers`]).
    pub pool: Option<super::pool::PoolSpec>,
}
