//! Observed state: what actually runs on each host.
//!
//! [`read`] reads one host with as few and as cheap Dokku commands as the
//! facts allow (see its docs for the exact command budget). A host that
//! cannot be read completely is [`HostObservation::Unknown`]: never empty.

pub mod fleet;
pub mod focus;
pub mod marks;
mod model;
pub mod observe;
pub mod read;

pub use model::*;
