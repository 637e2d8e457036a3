//! roomctl: a declarative reconciler for MindRoom instances on Dokku hosts.
//!
//! # Layout
//!
//! The code reads as the reconcile loop it implements:
//!
//! - [`domain`]: validated newtypes (`AppName`, `Fqdn`, `PortMapping`, …),
//!   built once at the edge.
//! - [`desired`]: what should exist. Loads `desired-state/` TOML, renders the
//!   instance template (tera) and derives per-instance secrets.
//! - [`dokku`]: command lines for Dokku's forced SSH command, and parsers for
//!   what Dokku prints. No I/O.
//! - [`ssh`]: the [`ssh::RemoteShell`] seam: OpenSSH with one multiplexed
//!   connection per host, or the local Dokku emulator for the sandbox.
//! - [`dns`]: the [`dns::DnsProvider`] seam and its Porkbun API v3 client,
//!   paced and retried for Porkbun's rate limiter; an unreadable zone is an
//!   error, never empty.
//! - [`tls`]: wildcard certificates: ACME issuance with DNS-01 challenges
//!   published through [`dns::DnsProvider`], and their storage on disk.
//! - [`nginx`]: per-app nginx snippets for Dokku's `nginx.conf.d/`, rendered
//!   from `templates/nginx/` and checked by the real `nginx -t`.
//! - [`observed`]: what exists. Reads each host with few, cheap commands; a
//!   host that cannot be read is *unknown*, never empty.
//! - [`plan`]: the pure function `plan(&Desired, &Observed) -> Plan`,
//!   including placement and the destroy guards' inputs.
//! - [`apply`]: executes a plan: hosts concurrently, one app's actions in
//!   order, retries for transient failures, backups before destroys.
//! - [`db`]: the platform's PostgreSQL database: migrations, subscriptions
//!   as a source of desired instances, and the write-back of what happened.
//! - [`reconcile`]: one pass of observe → plan → guards → apply.
//! - [`emulator`]: a Dokku 0.38 CLI emulator with on-disk state, byte-for-byte
//!   faithful to recorded output; the sandbox and the tests use it as each
//!   host's Dokku.
//! - [`webhook`]: Stripe deliveries: signature, parsing, re-fetch, and
//!   applying an event to the database in one transaction.
//! - [`health`]: health checks of running instances for `roomctl serve`:
//!   endpoints checked over HTTP, results and uptime history in the
//!   database, persistently unhealthy instances reported (and restarted).
//! - [`server`]: `roomctl serve`: one work queue fed by the timer, Stripe
//!   webhooks, edits under `desired-state/`, the admin API and the health
//!   checker; a worker that reconciles while its replica holds the leader
//!   lock, resyncs and targeted passes in two lanes kept apart by claims,
//!   no pass sleeping (a pass asks to be run again instead); the status
//!   page and `/metrics`.
//! - [`cli`]: the `roomctl` command line, and [`sandbox`]: the local demo
//!   fleet served by the Dokku emulator.

pub mod apply;
pub mod cli;
pub mod db;
pub mod desired;
pub mod dns;
pub mod dokku;
pub mod domain;
pub mod emulator;
pub mod health;
pub mod hetzner;
pub mod nginx;
pub mod observed;
pub mod plan;
pub mod reconcile;
pub mod sandbox;
pub mod server;
pub mod ssh;
pub mod tls;
pub mod webhook;
