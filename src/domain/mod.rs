//! Validated newtypes built once, at the edge (desired-state files, Dokku output).
//!
//! Every value that can reach a remote command line is one of these types, and
//! each constructor refuses anything Dokku, DNS or the remote shell would
//! misread. Inside the crate a value of these types is trusted.

pub mod fingerprint;
mod names;
mod resources;
mod secret;

pub use fingerprint::Fingerprint;
pub use names::{AppName, EnvKey, Fqdn, HostName, ImageRef, InstanceId, Label, NameError};
pub use resources::{Cpu, Limits, MemoryMb, Mount, PortMapping, RunState, Scheme};
pub use secret::EnvValue;
