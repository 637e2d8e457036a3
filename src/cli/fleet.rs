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
