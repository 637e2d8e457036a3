//! Desired state: what the fleet should look like.
//!
//! `desired-state/` TOML (platform, hosts, tiers, hand-declared instances)
//! plus the instance template in `templates/` become a [`Desired`]. Every
//! value is validated here, and errors name the file, line and field.
//!
//! - [`load`] reads a desired-state directory and renders it;
//! - [`load_with_sources`] merges several [`InstanceSource`]s (files today,
//!   the subscriptions database later);
//! - [`render`] renders instances without touching files (benchmarks);
//! - [`RootSecret`] derives the per-instance secrets;
//! - [`RenderMemo`] lets a long-running process re-render only the
//!   instances whose inputs changed since its last load.

mod apps;
pub mod dns;
mod error;
mod files;
mod health_table;
mod hosts;
mod instances;
mod memo;
pub mod model;
pub mod nginx;
mod platform_tables;
pub mod pool;
mod render;
mod secrets;
mod validate;

pub use apps::looks_sensitive;
pub use error::{DesiredError, Location, Problem};
pub use instances::{FileSource, InstanceSource, RESERVED_ENV_PREFIX, is_reserved_env_key};
pub use memo::{RenderMemo, Reused};
pub use model::*;
pub use render::{Template, render, tera_message};
pub use secrets::{ROOT_SECRET_ENV, ROOT_SECRET_MIN_BYTES, RootSecret};
pub use validate::{Parts, load, load_parts, load_with_sources};
