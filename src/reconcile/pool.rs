//! The reconciler's side of the pool: reading the cloud, creating servers
//! and waiting for them, removing empty ones.
//!
//! A new server is created with the firewall, network and SSH keys of
//! Terraform's outputs and cloud-init user data ([`Provision`]), then
//! polled with `dokku version` over SSH until it answers (or
//! [`Provision::ready_timeout`] passes), or, in a staged apply, left to
//! boot while later passes look again ([`super::booting`]). Before a server is deleted its
//! `apps:list` is read again: a server holding any app is never deleted.

use crate::apply::Shells;
use crate::desired::HostSpec;
use crate::desired::pool::PoolSpec;
use crate::dokku::{command as cmd, parse};
use crate::domain::HostName;
use crate::hetzner::{Cloud, CreateServer, OWNER_LABEL, POOL_LABEL};
use crate::observed::CloudObservation;
use crate::plan::servers::ServerAction;
use crate::ssh::RemoteShell;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Opens a shell to a host that is not among the fixed hosts' shells.
pub type Connect = Arc<dyn Fn(&HostSpec) -> Result<Arc<dyn RemoteShell>, String> + Send + Sync>;

/// Renders the cloud-init user data of a new server.
pub type UserData = Arc<dyn Fn(&HostName) -> Result<String, String> + Send + Sync>;

/// What a new server gets besides the pool's settings.
#[derive(Clone)]
pub struct Provision {
    /// cloud-init user data for the server.
    pub user_data: UserData,
    /// SSH key ids (Terraform's `ssh_key_ids`).
    pub ssh_keys: Vec<u64>,
    /// Firewall ids (Terraform's `firewall_id`).
    pub firewalls: Vec<u64>,
    /// Private network ids (Terraform's `network_id`).
    pub networks: Vec<u64>,
    /// How long to wait for a new server to answer `dokku version`.
    pub ready_timeout: Duration,
    /// How often to try.
    pub ready_interval: Duration,
}

/// The outcome of one server action, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerRow {
    /// The server.
    pub name: String,
    /// `create` or `delete`.
    pub op: &'static str,
    /// `None` on success.
    pub error: Option<String>,
}

/// Reads the pool's servers.
pub async fn observe_cloud(cloud: &dyn Cloud, pool: &PoolSpec) -> CloudObservation {
    match cloud.servers(&pool.selector()).await {
        Ok(servers) => CloudObservation::Known(servers),
        Err(e) => {
            tracing::warn!(error = %e, "cloud unknown this run");
            CloudObservation::Unknown {
                reason: e.to_string(),
            }
        }
    }
}

/// Shells for every host of `hosts` missing from `shells`, through `connect`.
pub fn extend_shells(
    shells: &Shells,
    hosts: &std::collections::BTreeMap<HostName, HostSpec>,
    connect: Option<&Connect>,
) -> Shells {
    let mut out = shells.clone();
    for (name, spec) in hosts {
        if out.contains_key(name) {
            continue;
        }
        match connect.map(|c| c(spec)) {
            Some(Ok(shell)) => {
                out.insert(name.clone(), shell);
            }
            Some(Err(e)) => tracing::warn!(host = %name, error = %e, "no shell for pool server"),
            None => {}
        }
    }
    out
}

async fn wait_ready(shell: &dyn RemoteShell, p: &Provision) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::from("never answered");
    while start.elapsed() < p.ready_timeout {
        match shell.exec(&cmd::version()).await {
            Ok(out) if out.code == 0 => return Ok(()),
            Ok(out) => last = format!("`dokku version` exited {}", out.code),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(p.ready_interval).await;
    }
    Err(format!(
        "not ready after {}s: {last}",
        p.ready_timeout.as_secs()
    ))
}

/// Whether `shell`'s host answers `dokku version` now (one try, at most
/// [`PROBE_TIMEOUT`]).
pub async fn answers(shell: &dyn RemoteShell) -> bool {
    let tried = tokio::time::timeout(PROBE_TIMEOUT, shell.exec(&cmd::version())).await;
    matches!(tried, Ok(Ok(out)) if out.code == 0)
}

/// How long [`answers`] waits.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Creates the servers of `actions`, one after the other. With `booting`
/// (a staged apply), each is marked booting and left to boot; without,
/// each is waited for until it answers over SSH.
pub async fn create_servers(
    cloud: &dyn Cloud,
    pool: &PoolSpec,
    provision: &Provision,
    connect: Option<&Connect>,
    booting: Option<&super::booting::Booting>,
    actions: &[&ServerAction],
) -> Vec<ServerRow> {
    let mut rows = Vec::new();
    for a in actions {
        let ServerAction::Create { name, .. } = a else {
            continue;
        };
        let result = async {
            let user_data = (provision.user_data)(name)?;
            let mut labels = pool.labels.clone();
            labels.insert(OWNER_LABEL.into(), pool.owner.to_string());
            labels.insert(POOL_LABEL.into(), pool.name.to_string());
            let req = CreateServer {
                name: name.to_string(),
                server_type: pool.server_type.clone(),
                location: pool.location.clone(),
                image: pool.image.clone(),
                labels,
                user_data,
                ssh_keys: provision.ssh_keys.clone(),
                firewalls: provision.firewalls.clone(),
                networks: provision.networks.clone(),
            };
            let server = cloud.create_server(&req).await.map_err(|e| e.to_string())?;
            tracing::info!(server = %name, id = server.id, "server created");
            if let Some(b) = booting {
                let deadline = chrono::Utc::now()
                    + chrono::Duration::from_std(provision.ready_timeout)
                        .unwrap_or(chrono::Duration::MAX);
                return b
                    .mark(name.as_str(), deadline)
                    .map_err(|e| format!("created, but its booting marker was not saved: {e}"));
            }
            let host = pool
                .host(&server)
                .ok_or_else(|| format!("created, but not usable yet (status {})", server.status))?;
            let connect = connect.ok_or("no way to connect to new servers")?;
            let shell = connect(&host)?;
            wait_ready(&*shell, provision).await
        }
        .await;
        if let Err(e) = &result {
            tracing::error!(server = %name, error = %e, "server create failed");
        }
        rows.push(ServerRow {
            name: name.to_string(),
            op: "create",
            error: result.err(),
        });
    }
    rows
}

/// Deletes the servers of `actions` that still hold no app.
pub async fn delete_servers(
    cloud: &dyn Cloud,
    shells: &Shells,
    actions: &[&ServerAction],
) -> Vec<ServerRow> {
    let mut rows = Vec::new();
    for a in actions {
        let ServerAction::Delete { name, id } = a else {
            continue;
        };
        let result = async {
            let shell = shells.get(name).ok_or("no shell to check it is empty")?;
            let out = shell
                .exec(&cmd::apps_list())
                .await
                .map_err(|e| e.to_string())?;
            if out.code != 0 {
                return Err(format!("apps:list exited {}", out.code));
            }
            let apps = parse::apps_list(&out.stdout_text()).map_err(|e| e.to_string())?;
            if !apps.is_empty() {
                return Err(format!("refusing: it now holds {} app(s)", apps.len()));
            }
            cloud.delete_server(*id).await.map_err(|e| e.to_string())
        }
        .await;
        rows.push(ServerRow {
            name: name.to_string(),
            op: "delete",
            error: result.err(),
        });
    }
    rows
}

/// The Dokku version new servers install.
pub const DOKKU_VERSION: &str = "0.38.27";

/// Builds the provisioning of new pool servers: Terraform's outputs from
/// `desired_dir/terraform-outputs.json`, and cloud-init rendered from
/// `templates_dir/cloud-init.yaml.tera` with the roomctl Dokku plugin of
/// `plugin_dir` and roomctl's SSH public key.
pub fn provision(
    desired: &crate::desired::Desired,
    desired_dir: &std::path::Path,
    templates_dir: &std::path::Path,
    plugin_dir: &std::path::Path,
    ssh_public_key: &str,
) -> Result<Provision, String> {
    use crate::hetzner::cloud_init::{CloudInitInputs, render};
    use crate::hetzner::terraform::{OUTPUTS_FILE, TerraformOutputs};
    let pool = desired.pool.as_ref().ok_or("no [pool] in hosts.toml")?;
    let outputs =
        TerraformOutputs::load(&desired_dir.join(OUTPUTS_FILE)).map_err(|e| e.to_string())?;
    let email = desired
        .platform
        .letsencrypt_email
        .clone()
        .ok_or("platform.letsencrypt_email is needed for new servers")?;
    let key = ssh_public_key.trim().to_string();
    let (templates, plugin) = (templates_dir.to_path_buf(), plugin_dir.to_path_buf());
    let max_sessions = pool.max_sessions;
    // Checked once now, so a bad key or template fails before any server.
    let check = CloudInitInputs::new("check", &key, &email, DOKKU_VERSION, max_sessions)
        .map_err(|e| e.to_string())?;
    render(&templates, &check, &plugin).map_err(|e| e.to_string())?;
    let user_data: UserData = Arc::new(move |name: &HostName| {
        let inputs = CloudInitInputs::new(name.as_str(), &key, &email, DOKKU_VERSION, max_sessions)
            .map_err(|e| e.to_string())?;
        render(&templates, &inputs, &plugin).map_err(|e| e.to_string())
    });
    Ok(Provision {
        user_data,
        ssh_keys: outputs.ssh_key_ids.clone(),
        firewalls: vec![outputs.firewall_id],
        networks: vec![outputs.network_id],
        ready_timeout: Duration::from_secs(1800),
        ready_interval: Duration::from_secs(10),
    })
}
