//! Plan types: typed actions in a deterministic order.

use crate::domain::{
    AppName, EnvKey, EnvValue, Fqdn, HostName, ImageRef, InstanceId, Label, Limits, Mount,
    PortMapping,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One change to one app. Within an app, actions are listed (and applied)
/// in this enum's order: create, config, domains, ports, storage,
/// resources, image, TLS, nginx snippet, start/stop, then the stamp; or
/// backup, destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// `apps:create`, journaled, then marked in the config step.
    Create,
    /// `config:set --encoded --no-restart` and `config:unset --no-restart`.
    Config {
        /// Keys to set: old value (if any) and new value. Sensitive values are masked when shown.
        set: BTreeMap<EnvKey, (Option<EnvValue>, EnvValue)>,
        /// Managed keys no longer desired.
        unset: BTreeSet<EnvKey>,
    },
    /// `nginx:set APP KEY VALUE` per changed property (`nginx:set APP KEY`
    /// unsets), then `proxy:build-config APP` when no later action of the
    /// app rebuilds its nginx config anyway.
    NginxProperties {
        /// Changed keys: observed value (if set) and desired value (`None`
        /// unsets).
        set: BTreeMap<String, (Option<String>, Option<String>)>,
        /// Whether to run `proxy:build-config` afterwards.
        rebuild: bool,
    },
    /// `domains:set` with the whole list.
    Domains {
        /// What was observed (`None` when the app is new).
        from: Option<BTreeSet<String>>,
        /// What is desired.
        to: BTreeSet<Fqdn>,
    },
    /// `ports:set` with the whole list.
    Ports {
        /// What was observed.
        from: Option<BTreeSet<PortMapping>>,
        /// What is desired.
        to: BTreeSet<PortMapping>,
    },
    /// `storage:mount`.
    Mount {
        /// The mount.
        mount: Mount,
    },
    /// `storage:unmount` (only of a mount whose host path moved to another container path).
    Unmount {
        /// The mount.
        mount: Mount,
    },
    /// `resource:limit`.
    Limits {
        /// Observed limits.
        from: Option<Limits>,
        /// Desired limits.
        to: Limits,
    },
    /// `git:from-image` (deploys, and so starts, the app).
    Deploy {
        /// Observed image.
        from: Option<ImageRef>,
        /// Desired image.
        to: ImageRef,
    },
    /// `letsencrypt:set APP email` then `letsencrypt:enable`.
    EnableTls {
        /// Account email.
        email: String,
    },
    /// `roomctl:nginx-set APP BASE64` (the roomctl Dokku plugin), or
    /// `roomctl:nginx-unset APP` when `to` is `None`.
    Nginx {
        /// Digest of the installed snippet, if any.
        from: Option<String>,
        /// Digest of the desired snippet; `None` removes roomctl's snippet.
        to: Option<String>,
        /// The desired snippet's text (not shown in plans).
        #[serde(skip)]
        content: Option<String>,
    },
    /// `certs:add APP` with roomctl's wildcard certificate `cert` (after
    /// this run's orders), then the [`crate::observed::marks::CERT`] mark.
    InstallCert {
        /// The stored certificate, `wildcard-N`.
        cert: String,
        /// The app's names it must cover.
        names: BTreeSet<String>,
    },
    /// `letsencrypt:enable APP` again: the certificate expires within the
    /// renewal window (`[platform.certificates] renew_within`).
    RenewTls {
        /// Current expiry (Unix seconds).
        expires: i64,
    },
    /// `ps:start`.
    Start,
    /// `ps:restart`, so changed env, limits or mounts take effect.
    Restart,
    /// `ps:stop`.
    Stop,
    /// Records the applied-settings digest (`ROOMCTL_APPLIED`) once every
    /// other action of the app succeeded.
    Stamp {
        /// The digest.
        digest: String,
    },
    /// Streams a tar of each mount to the local backup store and records
    /// path, size and SHA-256. Always directly before a destroy.
    Backup {
        /// The mounts to back up.
        mounts: BTreeSet<Mount>,
        /// How the host streams them.
        via: BackupVia,
    },
    /// `apps:destroy --force`. Only planned when destruction is enabled,
    /// the app is roomctl's, stopped, and follows a [`Action::Backup`].
    Destroy,
}

impl Action {
    /// A short, stable name for logs and the audit trail (`create`,
    /// `config`, `deploy`, …). Never includes values.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Config { .. } => "config",
            Action::NginxProperties { .. } => "nginx_properties",
            Action::Domains { .. } => "domains",
            Action::Ports { .. } => "ports",
            Action::Mount { .. } => "mount",
            Action::Unmount { .. } => "unmount",
            Action::Limits { .. } => "limits",
            Action::Deploy { .. } => "deploy",
            Action::EnableTls { .. } => "enable_tls",
            Action::Nginx { .. } => "nginx",
            Action::RenewTls { .. } => "renew_tls",
            Action::InstallCert { .. } => "install_cert",
            Action::Start => "start",
            Action::Restart => "restart",
            Action::Stop => "stop",
            Action::Stamp { .. } => "stamp",
            Action::Backup { .. } => "backup",
            Action::Destroy => "destroy",
        }
    }

    /// The sign shown in plan output: `+` create, `~` change, `-` destroy or stop.
    pub fn sign(&self) -> char {
        match self {
            Action::Create | Action::Mount { .. } | Action::EnableTls { .. } | Action::Start => '+',
            Action::Stop | Action::Destroy | Action::Unmount { .. } => '-',
            _ => '~',
        }
    }
}

/// How a mount's data leaves its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupVia {
    /// `roomctl:storage-export APP HOST_PATH`: the plugin tars the mount's
    /// directory on the host, so a never-deployed app is backed up too.
    Plugin,
    /// `--rm run APP tar -czf - -C DIR .`: a throw-away container of the
    /// app's image (needs a deployed image with `tar`); for hosts whose
    /// plugin is older than 0.2.0.
    Run,
}

/// What happens to an app overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A new app.
    Create,
    /// An existing app is changed.
    Update,
    /// The app's instance left the desired set: it is stopped.
    Stop,
    /// The app's instance left the desired set: backed up and destroyed.
    Destroy,
}

/// The plan for one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppPlan {
    /// Owning instance.
    pub instance: InstanceId,
    /// The app's role within the instance.
    pub role: Label,
    /// Overall change.
    pub change: Change,
    /// Actions in order.
    pub actions: Vec<Action>,
}

/// The plan for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HostPlan {
    /// The host could not be read: nothing is done there this run.
    Unknown {
        /// Why.
        reason: String,
    },
    /// The host was read.
    Known {
        /// Apps with changes, by name.
        apps: BTreeMap<AppName, AppPlan>,
    },
}

/// Something the operator should know that is not an action.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Note {
    /// The instance concerned, if any.
    pub instance: Option<InstanceId>,
    /// The message (never holds a secret).
    pub message: String,
}

/// A complete plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Plan {
    /// Per host, in name order.
    pub hosts: BTreeMap<HostName, HostPlan>,
    /// Where each desired instance lives or will be created.
    pub placements: BTreeMap<InstanceId, HostName>,
    /// Instances held this run, with why (an app of theirs has an env
    /// Dokku cannot read): nothing of theirs is planned, and their
    /// database rows are left as they are.
    pub held: BTreeMap<InstanceId, String>,
    /// Desired instances with an app that is neither found nor created by
    /// this plan, with why ([`super::missing::missing`]): while any is
    /// listed, the fleet does not match the desired state, whatever
    /// [`Plan::has_changes`] says.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub missing: BTreeMap<InstanceId, String>,
    /// Notes: deferred placements, conflicts, unmanaged leftovers.
    pub notes: Vec<Note>,
    /// Per managed DNS zone (empty when roomctl manages no DNS).
    pub dns: BTreeMap<String, crate::dns::plan::ZonePlan>,
    /// Certificate issuance against the weekly budget (per-app mode).
    pub certificates: CertificateBudget,
    /// Wildcard certificates to order (wildcard mode only).
    pub wildcard: Option<super::wildcard::WildcardSection>,
    /// Pool servers to create or delete (only with a `[pool]`).
    pub servers: Option<super::servers::ServerSection>,
}

/// New certificates against `[platform.certificates] weekly_budget`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CertificateBudget {
    /// The budget per 7 days.
    pub budget: u32,
    /// Certificates issued in the last 7 days, as observed (a Let's
    /// Encrypt certificate lives 90 days, so one expiring more than 83
    /// days from now was issued within the week). `None` when a host
    /// could not be read or the plan has no clock: then nothing new is
    /// issued.
    pub used: Option<u32>,
    /// New certificates this plan issues.
    pub planned: u32,
    /// Apps whose first certificate waits for budget, by name.
    pub waiting: BTreeSet<AppName>,
}

/// Counts of a plan's app-level changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Apps to create.
    pub create: usize,
    /// Apps to change.
    pub update: usize,
    /// Apps to stop because their instance left.
    pub stop: usize,
    /// Apps to destroy.
    pub destroy: usize,
    /// DNS records to create, edit or delete.
    pub dns: usize,
}

impl Plan {
    /// Every app plan with its host, in host then app order.
    pub fn apps(&self) -> impl Iterator<Item = (&HostName, &AppName, &AppPlan)> {
        self.hosts.iter().flat_map(|(h, hp)| match hp {
            HostPlan::Known { apps } => {
                apps.iter().map(move |(a, p)| (h, a, p)).collect::<Vec<_>>()
            }
            HostPlan::Unknown { .. } => vec![],
        })
    }

    /// Counts by change kind.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for (_, _, p) in self.apps() {
            match p.change {
                Change::Create => s.create += 1,
                Change::Update => s.update += 1,
                Change::Stop => s.stop += 1,
                Change::Destroy => s.destroy += 1,
            }
        }
        s.dns = self.dns_changes().count();
        s
    }

    /// Every DNS change with its zone, in zone order.
    pub fn dns_changes(&self) -> impl Iterator<Item = (&str, &crate::dns::plan::DnsChange)> {
        self.dns.iter().flat_map(|(zone, zp)| match zp {
            crate::dns::plan::ZonePlan::Known { changes, .. } => changes
                .iter()
                .map(move |c| (zone.as_str(), c))
                .collect::<Vec<_>>(),
            crate::dns::plan::ZonePlan::Unknown { .. } => vec![],
        })
    }

    /// The instances whose apps or DNS records the plan changes.
    pub fn changed_instances(&self) -> std::collections::BTreeSet<InstanceId> {
        self.apps()
            .map(|(_, _, p)| p.instance.clone())
            .chain(self.dns_changes().filter_map(|(_, c)| c.instance()))
            .collect()
    }

    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.apps().next().is_some()
            || self.dns_changes().next().is_some()
            || self.cert_orders().next().is_some()
            || self.server_actions().next().is_some()
    }

    /// The pool's server creates and deletes.
    pub fn server_actions(&self) -> impl Iterator<Item = &super::servers::ServerAction> {
        match &self.servers {
            Some(super::servers::ServerSection::Known { actions, .. }) => actions.iter(),
            _ => [].iter(),
        }
    }

    /// The wildcard certificates this plan orders.
    pub fn cert_orders(&self) -> impl Iterator<Item = &crate::tls::plan::CertOrder> {
        match &self.wildcard {
            Some(super::wildcard::WildcardSection::Known(w)) => w.orders.iter(),
            _ => [].iter(),
        }
    }

    /// Zones that could not be read.
    pub fn unknown_zones(&self) -> impl Iterator<Item = (&str, &str)> {
        self.dns.iter().filter_map(|(z, p)| match p {
            crate::dns::plan::ZonePlan::Unknown { reason } => Some((z.as_str(), reason.as_str())),
            crate::dns::plan::ZonePlan::Known { .. } => None,
        })
    }

    /// Hosts that could not be read.
    pub fn unknown_hosts(&self) -> impl Iterator<Item = (&HostName, &str)> {
        self.hosts.iter().filter_map(|(h, p)| match p {
            HostPlan::Unknown { reason } => Some((h, reason.as_str())),
            HostPlan::Known { .. } => None,
        })
    }
}
