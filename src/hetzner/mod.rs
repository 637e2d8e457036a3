//! Hetzner Cloud: the Dokku hosts roomctl owns.
//!
//! roomctl creates and removes only servers carrying its ownership label
//! ([`OWNER_LABEL`] = the pool's owner). [`Cloud`] is the seam: the real
//! implementation talks to the Hetzner Cloud API through the `hcloud`
//! crate; tests and the sandbox use fakes.

use async_trait::async_trait;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

pub mod cloud_init;
pub mod hcloud_api;
pub mod terraform;

/// The label whose value names the roomctl deployment owning a server.
pub const OWNER_LABEL: &str = "roomctl.owner";
/// The label naming the pool a server belongs to.
pub const POOL_LABEL: &str = "roomctl.pool";

/// One server as the cloud reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudServer {
    /// Hetzner's server id.
    pub id: u64,
    /// The server's name (roomctl uses it as the host name).
    pub name: String,
    /// Hetzner's status: `initializing`, `starting`, `running`, `off`, ….
    pub status: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Public IPv4, if any.
    pub ipv4: Option<Ipv4Addr>,
    /// Public IPv6 (the first address of its /64), if any.
    pub ipv6: Option<Ipv6Addr>,
    /// Its address on the private network, if attached.
    pub private_ipv4: Option<Ipv4Addr>,
    /// Server type name, e.g. `cx32`.
    pub server_type: String,
    /// Location name, e.g. `fsn1`.
    pub location: String,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateServer {
    /// Server name (a valid host name).
    pub name: String,
    /// Server type name.
    pub server_type: String,
    /// Location name.
    pub location: String,
    /// Image name, e.g. `debian-12`.
    pub image: String,
    /// Labels, including [`OWNER_LABEL`] and [`POOL_LABEL`].
    pub labels: BTreeMap<String, String>,
    /// cloud-init user data.
    #[serde(skip)]
    pub user_data: String,
    /// SSH key ids (from Terraform's outputs).
    pub ssh_keys: Vec<u64>,
    /// Firewall ids.
    pub firewalls: Vec<u64>,
    /// Private network ids.
    pub networks: Vec<u64>,
}

/// Why a cloud call failed.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// The API could not be reached, answered 5xx, or timed out.
    #[error("Hetzner API unavailable: {0}")]
    Unavailable(String),
    /// Rate limited (429) and retries ran out.
    #[error("Hetzner API rate limit: {0}")]
    RateLimited(String),
    /// The API refused the request (4xx other than 429), with Hetzner's
    /// error code and message.
    #[error("Hetzner API refused {request}: {code}: {message}")]
    Refused {
        /// Method and path, e.g. `POST /servers`.
        request: String,
        /// Hetzner's error code, e.g. `uniqueness_error`.
        code: String,
        /// Its message.
        message: String,
    },
    /// An async action failed or did not finish in time.
    #[error("Hetzner action {id} ({command}): {detail}")]
    Action {
        /// The action id.
        id: u64,
        /// Its command, e.g. `create_server`.
        command: String,
        /// What happened.
        detail: String,
    },
    /// The answer could not be understood.
    #[error("unexpected Hetzner answer to {request}: {detail}")]
    Protocol {
        /// Method and path.
        request: String,
        /// What was wrong.
        detail: String,
    },
}

impl CloudError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CloudError::Unavailable(_) | CloudError::RateLimited(_) | CloudError::Action { .. }
        )
    }
}

/// The cloud operations roomctl needs.
#[async_trait]
pub trait Cloud: Send + Sync {
    /// Every server matching the label selector (e.g. `roomctl.owner=prod`),
    /// all pages. An error means "unknown", never "none".
    async fn servers(&self, label_selector: &str) -> Result<Vec<CloudServer>, CloudError>;

    /// Creates a server and waits (bounded) for its create action to
    /// finish. Returns the server as it is then.
    async fn create_server(&self, req: &CreateServer) -> Result<CloudServer, CloudError>;

    /// Deletes server `id` and waits (bounded) for the action.
    async fn delete_server(&self, id: u64) -> Result<(), CloudError>;
}
