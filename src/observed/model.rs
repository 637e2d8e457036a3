//! Types of observed state.

use crate::domain::{HostName, ImageRef, InstanceId, Label, Limits, Mount, PortMapping};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The observation of every host in the desired set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    /// Per host, in name order.
    pub hosts: BTreeMap<HostName, HostObservation>,
    /// Per managed DNS zone (empty when roomctl manages no DNS).
    pub dns: BTreeMap<String, ZoneObservation>,
    /// When the hosts were read (Unix seconds), the planner's clock for
    /// certificate renewal and the issuance budget. `None` (tests, tools)
    /// turns both off.
    pub at: Option<i64>,
    /// roomctl's own certificate store (wildcard mode only).
    pub certs: Option<CertsObservation>,
    /// The pool's servers at Hetzner (only with a `[pool]`).
    pub cloud: Option<CloudObservation>,
}

/// The servers carrying roomctl's owner label, or unknown.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CloudObservation {
    /// The cloud API could not be read: no server is created or removed.
    Unknown {
        /// Why (no token).
        reason: String,
    },
    /// Every server with roomctl's owner label.
    Known(Vec<crate::hetzner::CloudServer>),
}

/// The wildcard certificates roomctl keeps, and its order ledger.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CertsObservation {
    /// The store or the ledger could not be read: nothing is ordered or
    /// installed this run.
    Unknown {
        /// Why (no key material).
        reason: String,
    },
    /// Every stored certificate and the orders of the last week.
    Known {
        /// By certificate name.
        stored: BTreeMap<String, crate::tls::plan::StoredCert>,
        /// When new names were ordered, within the budget window.
        orders: Vec<chrono::DateTime<chrono::Utc>>,
    },
}

impl CertsObservation {
    /// Reads `store`: its certificates, and the orders since `now` minus
    /// the budget window.
    pub fn read(store: &crate::tls::store::CertStore, now: chrono::DateTime<chrono::Utc>) -> Self {
        let since = now - crate::tls::plan::BUDGET_WINDOW;
        match (store.list(), store.orders_since(since)) {
            (Ok(stored), Ok(orders)) => CertsObservation::Known { stored, orders },
            (Err(e), _) | (_, Err(e)) => CertsObservation::Unknown {
                reason: e.to_string(),
            },
        }
    }
}

/// One DNS zone: read in full, or unknown.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ZoneObservation {
    /// The zone could not be read (provider down, rate limited, bad
    /// answer). No DNS changes are made in it this run.
    Unknown {
        /// Why (no secrets).
        reason: String,
    },
    /// Every record of the zone.
    Known(Vec<crate::dns::DnsRecord>),
}

/// One host: read in full, or unknown.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HostObservation {
    /// The host could not be read (unreachable, auth failure, unparseable
    /// output). Nothing on it is created or destroyed this run.
    Unknown {
        /// Why, with secrets masked.
        reason: String,
    },
    /// The host was read in full.
    Known(HostState),
}

impl HostObservation {
    /// The state, if the host is known.
    pub fn known(&self) -> Option<&HostState> {
        match self {
            HostObservation::Known(s) => Some(s),
            HostObservation::Unknown { .. } => None,
        }
    }
}

/// Everything read from one host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostState {
    /// Apps by name.
    pub apps: BTreeMap<String, ObservedApp>,
    /// Whether the apps' nginx snippets were read ([`ObservedApp::nginx`]
    /// means nothing otherwise).
    pub nginx_read: bool,
    /// How the host was read.
    pub read: ReadMode,
}

/// How a host was read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ReadMode {
    /// In one exec by roomctl's Dokku plugin (`roomctl:observe`): every
    /// fact of every app, every run.
    Observe {
        /// The plugin's version.
        plugin: String,
        /// Bytes the plugin printed.
        bytes: usize,
    },
    /// With Dokku's own commands (the plugin is missing or older than
    /// 0.2.0): per-app facts only where the applied-settings digest does
    /// not vouch for them, or with `--deep`.
    #[default]
    Commands,
}

impl HostState {
    /// Whether the host's plugin can stream a storage mount
    /// (`roomctl:storage-export`, plugin 0.2.0 and later).
    pub fn can_export_storage(&self) -> bool {
        matches!(self.read, ReadMode::Observe { .. })
    }
}

/// Who an app belongs to, as far as roomctl can prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    /// roomctl's: the app's name is `{instance}-{role}` of its marks, and
    /// its owner mark is this platform's (or absent on an app made before
    /// owner marks existed).
    Roomctl {
        /// Owning instance.
        instance: InstanceId,
        /// Role within it.
        role: Label,
    },
    /// Created by roomctl in a run that stopped before the mark was set
    /// (known from the local create journal); roomctl finishes it.
    Interrupted {
        /// Instance it was created for.
        instance: InstanceId,
        /// Role within it.
        role: Label,
    },
    /// Not roomctl's: never changed, never destroyed.
    Foreign,
    /// Carries roomctl's marks, but they do not prove ownership: a clone
    /// (`apps:clone` copies every env key), a hand-made app with copied
    /// marks, or another platform's app. Foreign: never changed, never
    /// destroyed; reported.
    Disowned {
        /// Why the marks are not trusted.
        why: String,
    },
    /// The app's env cannot be read (Dokku itself cannot parse its ENV
    /// file), so its marks are unknown. Never changed or destroyed; a
    /// desired instance with an app of this name is held as a whole.
    Unreadable {
        /// What Dokku's reader said.
        reason: String,
    },
}

impl Owner {
    /// Whether the app is roomctl's to change (marked, or an interrupted
    /// create of roomctl's).
    pub fn is_ours(&self) -> bool {
        matches!(self, Owner::Roomctl { .. } | Owner::Interrupted { .. })
    }
}

/// The facts roomctl only reads per app when it has to (see [`crate::observed::read`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AppDetail {
    /// Domains (vhosts).
    pub domains: BTreeSet<String>,
    /// Port mappings, as Dokku reports them (https ones included).
    pub ports: BTreeSet<PortMapping>,
    /// Bind mounts.
    pub storage: BTreeSet<Mount>,
    /// Whether the app's containers run.
    pub running: bool,
    /// The app's Dokku nginx properties roomctl manages
    /// ([`crate::nginx::properties::MANAGED`]) that are set, when they were
    /// read (`None`: not read this run, never compared).
    pub nginx: Option<crate::nginx::properties::NginxProperties>,
}

/// One observed app.
#[derive(Debug, Clone, Serialize)]
pub struct ObservedApp {
    /// Ownership.
    pub owner: Owner,
    /// The app's env. Kept only for roomctl's apps; never printed.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// Env keys roomctl managed when it last wrote the env.
    pub managed_keys: BTreeSet<String>,
    /// Fingerprint of the managed env and marks ([`env_fingerprint`]),
    /// computed when the env was read. Whoever changes `env` afterwards
    /// must recompute it.
    #[serde(skip)]
    pub env_fingerprint: Option<u128>,
    /// Digest of the settings last applied in full (`ROOMCTL_APPLIED`).
    pub applied: Option<String>,
    /// Deployed image, if deployed from an image.
    pub image: Option<ImageRef>,
    /// Resource limits.
    pub limits: Limits,
    /// Certificate expiry (Unix seconds) if Let's Encrypt is active.
    pub tls_expires: Option<i64>,
    /// Digest of roomctl's nginx snippet installed on the app, if any
    /// (only when [`HostState::nginx_read`]).
    pub nginx: Option<String>,
    /// Per-app facts, if they were read this run.
    pub detail: Option<AppDetail>,
    /// The certificate installed on the app (`tls/server.crt`), when it
    /// was read this run (`roomctl:observe`).
    pub installed_cert: Option<InstalledCert>,
}

/// The certificate an app carries, as read from the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum InstalledCert {
    /// No certificate is installed.
    None,
    /// One is, and it parses.
    Parsed {
        /// Lowercase hex SHA-256 of its DER.
        fingerprint: String,
        /// Expiry (Unix seconds).
        not_after: i64,
    },
    /// One is, and it does not parse.
    Unparseable {
        /// Why.
        reason: String,
    },
}

impl ObservedApp {
    /// The instance the app belongs to, if it is roomctl's.
    pub fn instance(&self) -> Option<&InstanceId> {
        match &self.owner {
            Owner::Roomctl { instance, .. } | Owner::Interrupted { instance, .. } => Some(instance),
            Owner::Foreign | Owner::Disowned { .. } | Owner::Unreadable { .. } => None,
        }
    }
}

/// The fingerprint of an observed env's managed keys (as listed in its own
/// `ROOMCTL_KEYS`) and marks; equal to the desired app's
/// [`crate::domain::Fingerprint::env`] exactly when nothing differs.
pub fn env_fingerprint(env: &BTreeMap<String, String>) -> u128 {
    let get = |k: &str| env.get(k).map(String::as_str);
    let keys = get(super::marks::KEYS);
    let pairs = keys
        .unwrap_or("")
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| (k, get(k)));
    crate::domain::fingerprint::env_fingerprint(
        pairs,
        crate::domain::fingerprint::Marks {
            instance: get(super::marks::INSTANCE),
            role: get(super::marks::ROLE),
            keys,
            owner: get(super::marks::OWNER),
        },
    )
}
