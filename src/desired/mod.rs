//! Desired state: what the fleet should look like.
//!
//! `desired-state/` TOML (platform, hosts, tiers, hand-declared instances)
//! plus the instance template in `templates/` become a [`Desired`]. Every
//! value is validated here, and errors name the file, line and field.

pub mod model;

pub use model::*;
