//! The hosts of one pass: the fixed hosts, plus the pool's servers that
//! answer (those still booting are left out and reported as waiting).

use super::{Reconciler, pool};
use crate::apply::Shells;
use crate::desired::Desired;
use std::sync::Arc;
use std::time::Duration;

/// The hosts of one pass: the desired state with the pool's ready servers,
/// shells for all, what the cloud said, and the servers still booting.
pub(super) struct Fleet {
    pub(super) desired: Arc<Desired>,
    pub(super) shells: Shells,
    pub(super) cloud: Option<crate::observed::CloudObservation>,
    pub(super) booting: Vec<crate::apply::report::Waiting>,
}

impl Reconciler {
    /// The desired state with the pool's running servers among its hosts,
    /// shells for all of them, and what the cloud said.
    pub(super) async fn fleet(&self) -> Fleet {
        let fixed = |cloud| Fleet {
            desired: self.desired.clone(),
            shells: self.shells.clone(),
            cloud,
            booting: Vec::new(),
        };
        let Some(pool_spec) = &self.desired.pool else {
            return fixed(None);
        };
        let Some(cloud) = &self.cloud else {
            return fixed(Some(crate::observed::CloudObservation::Unknown {
                reason: "no Hetzner API configured (HCLOUD_TOKEN)".into(),
            }));
        };
        let obs = pool::observe_cloud(&**cloud, pool_spec).await;
        let mut booting = Vec::new();
        let desired = match &obs {
            crate::observed::CloudObservation::Known(servers) => {
                let mut ready = servers.clone();
                booting = self.still_booting(pool_spec, servers).await;
                ready.retain(|s| !booting.iter().any(|b| b.what == s.name));
                Arc::new(self.desired.with_pool_servers(&ready))
            }
            crate::observed::CloudObservation::Unknown { .. } => self.desired.clone(),
        };
        let shells = pool::extend_shells(&self.shells, &desired.hosts, self.connect.as_ref());
        Fleet {
            desired,
            shells,
            cloud: Some(obs),
            booting,
        }
    }

    /// The pool servers marked booting that do not answer yet (`what` is
    /// the server's name), tried once each unless the pass is scoped.
    async fn still_booting(
        &self,
        pool: &crate::desired::pool::PoolSpec,
        servers: &[crate::hetzner::CloudServer],
    ) -> Vec<crate::apply::report::Waiting> {
        let marked = self.booting.list();
        let now = chrono::Utc::now();
        let interval = self
            .provision
            .as_ref()
            .map_or(Duration::from_secs(10), |p| p.ready_interval);
        let again = now + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        let mut out = Vec::new();
        for (name, deadline) in marked {
            let Some(server) = servers.iter().find(|s| s.name == name) else {
                self.booting.clear(&name);
                continue;
            };
            if deadline <= now {
                tracing::warn!(
                    server = name,
                    "server did not answer in time: now an ordinary host"
                );
                self.booting.clear(&name);
                continue;
            }
            let shell = match (self.scope.is_none(), pool.host(server), &self.connect) {
                (true, Some(host), Some(connect)) => connect(&host).ok(),
                _ => None,
            };
            if let Some(shell) = shell
                && pool::answers(&*shell).await
            {
                tracing::info!(server = name, "new server answers: it joins the hosts");
                self.booting.clear(&name);
                continue;
            }
            out.push(crate::apply::report::Waiting {
                what: name,
                until: again.min(deadline),
            });
        }
        out
    }
}
