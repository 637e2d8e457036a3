//! Building one shell per desired host: SSH, or the local sandbox.

use super::Connect;
use crate::apply::Shells;
use crate::desired::Desired;
use crate::ssh::{OpensshShell, SshTarget};
use std::sync::Arc;

/// One shell per host of `desired`.
pub fn shells(desired: &Desired, c: &Connect) -> anyhow::Result<Shells> {
    if let Some(dir) = &c.sandbox {
        return crate::sandbox::shells(desired, dir);
    }
    Ok(desired
        .hosts
        .values()
        .map(|h| (h.name.clone(), ssh_shell(h, c)))
        .collect())
}

fn ssh_shell(h: &crate::desired::HostSpec, c: &Connect) -> Arc<dyn crate::ssh::RemoteShell> {
    let mut t = SshTarget::new(h.name.as_str(), h.address.clone());
    t.port = h.port;
    t.user = h.user.clone();
    t.max_sessions = h.max_sessions;
    t.identity_file = c.ssh_key.clone();
    t.known_hosts_file = c.known_hosts.clone();
    Arc::new(OpensshShell::new(t))
}

/// Opens shells to pool servers as they appear: SSH, or in the sandbox a
/// local emulator directory per server.
pub fn connector(c: &Connect) -> crate::reconcile::pool::Connect {
    let c = c.clone();
    Arc::new(move |h: &crate::desired::HostSpec| match &c.sandbox {
        Some(dir) => crate::sandbox::shell(dir, &h.name).map_err(|e| format!("{e:#}")),
        None => Ok(ssh_shell(h, &c)),
    })
}

/// The DNS provider for `desired`'s zone: the sandbox's local files, or
/// Porkbun with `PORKBUN_API_KEY` / `PORKBUN_SECRET_API_KEY` (and
/// `PORKBUN_BASE_URL` for tests and proxies). `None` when roomctl manages
/// no DNS, or when no provider is configured (the zone is then unknown and
/// nothing in it changes).
pub fn dns_provider(
    desired: &Desired,
    c: &Connect,
) -> anyhow::Result<Option<Arc<dyn crate::dns::DnsProvider>>> {
    use crate::dns::porkbun::{PorkbunClient, PorkbunConfig, PorkbunKeys};
    if desired.dns.is_none() {
        return Ok(None);
    }
    if let Some(dir) = &c.sandbox {
        return Ok(Some(Arc::new(crate::dns::local::LocalDns::new(
            dir.join("dns"),
        ))));
    }
    let (Ok(key), Ok(secret)) = (
        std::env::var("PORKBUN_API_KEY"),
        std::env::var("PORKBUN_SECRET_API_KEY"),
    ) else {
        return Ok(None);
    };
    let mut config = PorkbunConfig::default();
    if let Ok(base) = std::env::var("PORKBUN_BASE_URL") {
        config.base_url = base;
    }
    let client = PorkbunClient::with_config(PorkbunKeys::new(key, secret), config)
        .map_err(|e| anyhow::anyhow!("Porkbun client: {e}"))?;
    Ok(Some(Arc::new(client)))
}

/// Sets up the pool of `r`'s desired state, if it has one: the Hetzner API
/// (`HCLOUD_TOKEN`, and `HCLOUD_ENDPOINT` for tests and proxies), shells
/// to pool servers, and the provisioning of new ones (Terraform's outputs
/// in `desired_dir`, cloud-init, roomctl's SSH public key from
/// `ROOMCTL_SSH_PUBLIC_KEY` or the `--ssh-key` file's `.pub`). Without a
/// token the pool is unknown; without provisioning, a planned create
/// fails with the reason.
pub fn pool_setup(
    r: &mut crate::reconcile::Reconciler,
    desired_dir: &std::path::Path,
    templates_dir: &std::path::Path,
    c: &Connect,
) -> anyhow::Result<()> {
    if r.desired.pool.is_none() {
        return Ok(());
    }
    r.connect = Some(connector(c));
    if let Ok(token) = std::env::var("HCLOUD_TOKEN") {
        let endpoint = std::env::var("HCLOUD_ENDPOINT").ok();
        let api = crate::hetzner::hcloud_api::HcloudApi::new(token, endpoint)
            .map_err(|e| anyhow::anyhow!("Hetzner client: {e}"))?;
        r.cloud = Some(Arc::new(api));
    }
    let key_file = std::env::var_os("ROOMCTL_SSH_PUBLIC_KEY")
        .map(std::path::PathBuf::from)
        .or_else(|| c.ssh_key.as_ref().map(|k| k.with_extension("pub")));
    let key = key_file.as_ref().map(std::fs::read_to_string);
    let plugin = std::env::var_os("ROOMCTL_DOKKU_PLUGIN").map_or_else(
        || std::path::PathBuf::from("dokku-plugin/roomctl"),
        Into::into,
    );
    r.provision = match key {
        Some(Ok(key)) => {
            crate::reconcile::pool::provision(&r.desired, desired_dir, templates_dir, &plugin, &key)
                .map_err(|e| tracing::warn!(error = %e, "new pool servers cannot be provisioned"))
                .ok()
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "roomctl's SSH public key is unreadable");
            None
        }
        None => None,
    };
    Ok(())
}
