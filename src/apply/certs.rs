//! Wildcard certificates: ordering them (before the apps are applied) and
//! installing them on apps ([`Action::InstallCert`](crate::plan::Action)).
//!
//! Orders run one at a time: each publishes and removes `_acme-challenge`
//! TXT records in the zone, and two at once would remove each other's.
//! A certificate is saved to the store only when issued in full; the
//! ledger records an order of new names as soon as it is issued. An order that
//! fails leaves the stored certificate as it was, and the apps that were
//! to get the new one are skipped this run (reported as failed).

use crate::dns::DnsProvider;
use crate::dokku::command as cmd;
use crate::domain::{AppName, EnvKey, EnvValue};
use crate::observed::marks;
use crate::ssh::RemoteShell;
use crate::tls::acme::AcmeConfig;
use crate::tls::plan::CertOrder;
use crate::tls::store::CertStore;
use crate::tls::upload::{certs_add_tar, fingerprint};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What ordering and installing wildcard certificates needs.
#[derive(Clone)]
pub struct Wildcard {
    /// Where certificates, keys and the order ledger are kept.
    pub store: CertStore,
    /// Where the ACME account's credentials are kept.
    pub account_dir: PathBuf,
    /// The CA and how to talk to it.
    pub acme: AcmeConfig,
    /// The DNS provider answering DNS-01 challenges.
    pub dns: std::sync::Arc<dyn DnsProvider>,
    /// The zone the challenge records go in.
    pub zone: String,
    /// Whether an order that must wait for its records to propagate
    /// returns at once and is finished by a later pass
    /// ([`crate::tls::acme::staged`]; `serve`), instead of waiting in
    /// place (the CLI's one-shot apply).
    pub staged: bool,
}

/// Deployment options of the ACME client that are not desired state.
#[derive(Debug, Clone, Default)]
pub struct AcmeOptions {
    /// PEM of a CA to trust for the ACME server instead of the web PKI
    /// (`ROOMCTL_ACME_CA_ROOT` names its file; tests against Pebble).
    pub ca_root_pem: Option<String>,
    /// Wait after publishing challenge records (`ROOMCTL_ACME_DNS_WAIT`,
    /// default 60 s).
    pub dns_wait: Option<std::time::Duration>,
    /// Orders never wait inside a pass: see [`Wildcard::staged`].
    pub staged: bool,
}

impl AcmeOptions {
    /// Reads `ROOMCTL_ACME_CA_ROOT` (a PEM file) and `ROOMCTL_ACME_DNS_WAIT`
    /// (a duration such as `90s`).
    pub fn from_env() -> Result<Self, String> {
        let ca_root_pem = match std::env::var_os("ROOMCTL_ACME_CA_ROOT") {
            Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "ROOMCTL_ACME_CA_ROOT {}: {e}",
                    std::path::Path::new(&path).display()
                )
            })?),
            None => None,
        };
        let dns_wait = match std::env::var("ROOMCTL_ACME_DNS_WAIT") {
            Ok(v) => Some(
                humantime::parse_duration(&v)
                    .map_err(|e| format!("ROOMCTL_ACME_DNS_WAIT {v:?}: {e}"))?,
            ),
            Err(_) => None,
        };
        Ok(Self {
            ca_root_pem,
            dns_wait,
            staged: false,
        })
    }
}

impl Wildcard {
    /// The wildcard setup for `desired` with certificates and the ACME
    /// account under `state_dir`: `None` unless the platform is in
    /// wildcard mode with a managed zone and a DNS provider for it.
    pub fn for_desired(
        desired: &crate::desired::Desired,
        dns: Option<std::sync::Arc<dyn DnsProvider>>,
        state_dir: &std::path::Path,
        opts: &AcmeOptions,
    ) -> Option<Self> {
        if desired.platform.tls != crate::desired::TlsMode::Wildcard {
            return None;
        }
        let zone = desired.dns.as_ref()?.zone.to_string();
        let mut acme = AcmeConfig::new(desired.platform.acme_directory.clone());
        acme.contact_email = desired.platform.letsencrypt_email.clone();
        acme.ca_root_pem = opts.ca_root_pem.clone();
        if let Some(w) = opts.dns_wait {
            acme.dns_propagation_wait = w;
        }
        Some(Self {
            store: CertStore::new(state_dir),
            account_dir: state_dir.join("acme"),
            acme,
            dns: dns?,
            zone,
            staged: opts.staged,
        })
    }
}

/// The outcome of one order, for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderRow {
    /// The certificate, `wildcard-N`.
    pub cert: String,
    /// Names it covers.
    pub names: usize,
    /// `None` when issued and saved, or waiting; the error otherwise (no
    /// key material).
    pub error: Option<String>,
    /// When a staged order waits for its challenge records to propagate:
    /// the time to look again. Its installs wait for that pass.
    pub waiting: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs `orders` one after the other. Returns a row per order.
pub async fn order_all(w: &Wildcard, orders: &[CertOrder]) -> Vec<OrderRow> {
    use crate::tls::acme::staged::{Stage, advance};
    let mut rows = Vec::new();
    for o in orders {
        let names: Vec<String> = o.names.iter().cloned().collect();
        let mut waiting = None;
        let result = async {
            let cert = match w.staged {
                true => {
                    let pending = w.account_dir.join(format!("pending-{}.json", o.cert));
                    let now = chrono::Utc::now();
                    let (acme, dir) = (&w.acme, &w.account_dir);
                    match advance(acme, dir, &pending, &w.zone, &names, &*w.dns, now).await? {
                        Stage::Issued(cert) => cert,
                        Stage::Waiting { until } => {
                            waiting = Some(until);
                            return Ok(());
                        }
                    }
                }
                false => {
                    crate::tls::acme::issue(&w.acme, &w.account_dir, &w.zone, &names, &*w.dns)
                        .await?
                }
            };
            // Counted first: an order issued but not saved still used the
            // CA's budget.
            if !o.added.is_empty() {
                w.store
                    .record_order(chrono::Utc::now(), &o.cert, &o.added)?;
            }
            w.store.save(&o.cert, &cert)?;
            Ok::<_, crate::tls::TlsError>(())
        }
        .await;
        match (&result, waiting) {
            (Ok(()), Some(until)) => {
                tracing::info!(cert = %o.cert, %until, "certificate order waits for DNS")
            }
            (Ok(()), None) => {
                tracing::info!(cert = %o.cert, names = names.len(), "certificate ordered")
            }
            (Err(e), _) => tracing::error!(cert = %o.cert, error = %e, "certificate order failed"),
        }
        rows.push(OrderRow {
            cert: o.cert.clone(),
            names: names.len(),
            error: result.err().map(|e| e.to_string()),
            waiting,
        });
    }
    rows
}

/// Why installing a certificate on an app failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// This run's order of the certificate failed.
    #[error("the order of certificate {0} failed this run")]
    OrderFailed(String),
    /// The store has no such certificate, or it does not cover the app.
    #[error("certificate {cert}: {why}")]
    Unusable {
        /// The certificate.
        cert: String,
        /// What is wrong.
        why: String,
    },
}

/// Installs stored certificate `cert` on `app` with `certs:add` (the tar
/// on stdin), then records it in the app's [`marks::CERT`]. The input is
/// sent once: a lost connection fails the step (the next run sees no mark
/// and installs again).
pub async fn install(
    shell: &dyn RemoteShell,
    app: &AppName,
    cert: &str,
    names: &BTreeSet<String>,
    store: &CertStore,
    failed: &BTreeSet<String>,
) -> Result<(), super::StepError> {
    if failed.contains(cert) {
        return Err(InstallError::OrderFailed(cert.into()).into());
    }
    let unusable = |why: String| InstallError::Unusable {
        cert: cert.into(),
        why,
    };
    let issued = store
        .load(cert)
        .map_err(|e| unusable(e.to_string()))?
        .ok_or_else(|| unusable("not in the store".into()))?;
    let wanted: Vec<String> = names.iter().cloned().collect();
    if !issued.covers(&wanted) {
        return Err(unusable(format!("does not cover {}", wanted.join(" "))).into());
    }
    let add = cmd::certs_add(app);
    check(&add, shell.exec_input(&add, &certs_add_tar(&issued)).await?)?;
    let value =
        crate::plan::wildcard::mark(issued.not_after.timestamp(), &fingerprint(&issued), names);
    let key = EnvKey::parse(marks::CERT).expect("mark key is valid");
    let set = cmd::config_set(app, &BTreeMap::from([(key, EnvValue::plain(value))]));
    check(&set, shell.exec(&set).await?)?;
    tracing::info!(%app, cert, not_after = %issued.not_after, "certificate installed");
    Ok(())
}

fn check(c: &crate::dokku::CommandLine, out: crate::ssh::Output) -> Result<(), super::StepError> {
    match out.code {
        0 => Ok(()),
        code => Err(super::StepError::Exit {
            command: c.shown(),
            code,
            message: super::dokku_message(&out),
        }),
    }
}

/// Takes out of `plan` the installs of the certificates in `waiting`
/// (staged orders waiting for their records to propagate): those apps get
/// everything else now and the certificate in the pass that finishes the
/// order. An app left with nothing to do leaves the plan.
pub fn defer_installs(plan: &mut crate::plan::Plan, waiting: &BTreeSet<String>) {
    if waiting.is_empty() {
        return;
    }
    for hp in plan.hosts.values_mut() {
        if let crate::plan::HostPlan::Known { apps } = hp {
            for p in apps.values_mut() {
                p.actions.retain(|a| {
                    !matches!(a, crate::plan::Action::InstallCert { cert, .. } if waiting.contains(cert))
                });
            }
            apps.retain(|_, p| !p.actions.is_empty());
        }
    }
}
