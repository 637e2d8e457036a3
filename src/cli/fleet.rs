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
        .map(|h| {
            let mut t = SshTarget::new(h.name.as_str(), h.address.clone());
            t.port = h.port;
            t.user = h.user.clone();
            t.max_sessions = h.max_sessions;
            t.identity_file = c.ssh_key.clone();
            t.known_hosts_file = c.known_hosts.clone();
            (
                h.name.clone(),
                Arc::new(OpensshShell::new(t)) as Arc<dyn crate::ssh::RemoteShell>,
            )
        })
        .collect())
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
