//! Rendering a plan for people (a diff with `+`, `~`, `-`) and machines (JSON).
//!
//! Sensitive values print as `(sensitive)`: [`crate::domain::EnvValue`]
//! masks itself, and nothing here calls `expose`.

use super::model::{Action, AppPlan, Change, HostPlan, Plan};
use std::fmt::Write;

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour when `colour` is true (e.g. stdout is a terminal).
    pub fn new(colour: bool) -> Self {
        Self { colour }
    }
    fn paint(&self, sign: char, text: &str) -> String {
        if !self.colour {
            return text.to_string();
        }
        let code = match sign {
            '+' => "32",
            '-' => "31",
            '~' => "33",
            '!' => "1;31",
            _ => "0",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(" ")
    }
}

/// One line per action, without the sign.
pub fn describe(action: &Action) -> Vec<String> {
    match action {
        Action::Create => vec!["create app".into()],
        Action::Config { set, unset } => {
            let mut out: Vec<String> = set
                .iter()
                .map(|(k, (old, new))| match old {
                    _ if k.as_str() == crate::observed::marks::KEYS => format!(
                        "env {k} (roomctl's list of {} managed keys)",
                        new.shown().split(',').filter(|s| !s.is_empty()).count()
                    ),
                    None => format!("env {k} = {new:?}"),
                    Some(old) => format!("env {k}: {old:?} -> {new:?}"),
                })
                .collect();
            out.extend(unset.iter().map(|k| format!("env {k} unset")));
            out
        }
        Action::Domains { from: Some(f), to } => {
            vec![format!("domains: {} -> {}", list(f), list(to))]
        }
        Action::Domains { from: None, to } => vec![format!("domains: {}", list(to))],
        Action::NginxProperties { set, rebuild } => {
            let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
            let mut out: Vec<String> = set
                .iter()
                .map(|(k, (old, new))| format!("nginx {k}: {} -> {}", shown(old), shown(new)))
                .collect();
            if *rebuild {
                out.push("nginx config rebuilt (proxy:build-config)".into());
            }
            out
        }
        Action::Ports { from: Some(f), to } => vec![format!("ports: {} -> {}", list(f), list(to))],
        Action::Ports { from: None, to } => vec![format!("ports: {}", list(to))],
        Action::Mount { mount } => vec![format!("mount {mount}")],
        Action::Unmount { mount } => vec![format!("unmount {mount}")],
        Action::Limits { from: Some(f), to } => vec![format!("limits: {f} -> {to}")],
        Action::Limits { from: None, to } => vec![format!("limits: {to}")],
        Action::Deploy { from: Some(f), to } => vec![format!("image: {f} -> {to}")],
        Action::Deploy { from: None, to } => vec![format!("deploy image {to}")],
        Action::EnableTls { email } => vec![format!("letsencrypt (account {email})")],
        Action::Nginx { from, to, .. } => {
            let short = |d: &Option<String>| match d {
                Some(d) => format!("sha256 {}", &d[..d.len().min(12)]),
                None => "none".into(),
            };
            vec![match (from, to) {
                (None, Some(_)) => format!("nginx snippet: install ({})", short(to)),
                (Some(_), None) => format!("nginx snippet: remove ({})", short(from)),
                _ => format!("nginx snippet: {} -> {}", short(from), short(to)),
            }]
        }
        Action::InstallCert { cert, names } => {
            vec![format!(
                "install certificate {cert} (covering {})",
                list(names)
            )]
        }
        Action::RenewTls { expires } => vec![format!(
            "renew letsencrypt certificate (expires {})",
            chrono::DateTime::from_timestamp(*expires, 0).map_or_else(
                || expires.to_string(),
                |t| t.format("%Y-%m-%d %H:%M UTC").to_string()
            )
        )],
        Action::Start => vec!["start".into()],
        Action::Restart => vec!["restart (apply env, limits or mounts)".into()],
        Action::Stop => vec!["stop".into()],
        Action::Stamp { digest } => vec![format!("record applied settings ({digest})")],
        Action::Backup { mounts, via } => vec![format!(
            "back up storage: {}{}",
            list(mounts),
            match via {
                super::model::BackupVia::Plugin => "",
                super::model::BackupVia::Run => " (through a one-off container)",
            }
        )],
        Action::Destroy => vec!["destroy app".into()],
    }
}

fn app_header(name: &str, p: &AppPlan) -> (char, String) {
    match p.change {
        Change::Create => ('+', format!("+ {name} (instance {}): create", p.instance)),
        Change::Update => ('~', format!("~ {name} (instance {}): update", p.instance)),
        Change::Stop => (
            '-',
            format!(
                "- {name} (instance {}): no longer desired, stop",
                p.instance
            ),
        ),
        Change::Destroy => (
            '-',
            format!(
                "- {name} (instance {}): no longer desired, back up and destroy",
                p.instance
            ),
        ),
    }
}

/// The human-readable plan.
pub fn human(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    for (host, hp) in &plan.hosts {
        match hp {
            HostPlan::Unknown { reason } => {
                let _ = writeln!(
                    out,
                    "{}",
                    style.paint('!', &format!("! host {host}: UNKNOWN ({reason})"))
                );
                let _ = writeln!(
                    out,
                    "    nothing on {host} is created, changed or destroyed this run"
                );
            }
            HostPlan::Known { apps } if apps.is_empty() => {
                let _ = writeln!(out, "  host {host}: no changes");
            }
            HostPlan::Known { apps } => {
                let _ = writeln!(out, "  host {host}:");
                for (name, p) in apps {
                    let (sign, header) = app_header(name.as_str(), p);
                    let _ = writeln!(out, "    {}", style.paint(sign, &header));
                    for a in &p.actions {
                        // Everything about a new app is an addition.
                        let sign = if p.change == Change::Create {
                            '+'
                        } else {
                            a.sign()
                        };
                        for line in describe(a) {
                            let _ = writeln!(
                                out,
                                "        {}",
                                style.paint(sign, &format!("{sign} {line}"))
                            );
                        }
                    }
                }
            }
        }
    }
    dns_section(plan, style, &mut out);
    servers_section(plan, style, &mut out);
    wildcard_section(plan, style, &mut out);
    if !plan.certificates.waiting.is_empty() {
        let _ = writeln!(
            out,
            "  certificates waiting for the weekly budget: {}",
            list(&plan.certificates.waiting)
        );
    }
    for n in &plan.notes {
        let who = n
            .instance
            .as_ref()
            .map(|i| format!("instance {i}: "))
            .unwrap_or_default();
        let _ = writeln!(out, "  note: {who}{}", n.message);
    }
    let s = plan.summary();
    let unknown = plan.unknown_hosts().count();
    if plan.has_changes() {
        let dns = match s.dns {
            0 => String::new(),
            n => format!(" DNS: {n} record change(s)."),
        };
        let _ = writeln!(
            out,
            "Plan: {} to create, {} to change, {} to stop, {} to destroy.{dns}",
            s.create, s.update, s.stop, s.destroy
        );
    } else if unknown == 0 && plan.unknown_zones().next().is_none() && plan.missing.is_empty() {
        let _ = writeln!(out, "No changes. The fleet matches the desired state.");
    } else if plan.missing.is_empty() {
        let _ = writeln!(out, "No changes on the hosts that could be read.");
    } else {
        let _ = writeln!(
            out,
            "Nothing this plan can do, but the fleet does not match the desired state."
        );
    }
    if !plan.missing.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                '!',
                &format!(
                    "{} desired instance(s) missing and not created by this plan:",
                    plan.missing.len()
                )
            )
        );
        for (id, why) in &plan.missing {
            let _ = writeln!(out, "    {id}: {why}");
        }
    }
    if unknown > 0 {
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                '!',
                &format!("{unknown} host(s) unknown: their apps were not compared.")
            )
        );
    }
    out
}

/// The pool's servers.
fn servers_section(plan: &Plan, style: Style, out: &mut String) {
    use super::servers::{ServerAction, ServerSection};
    match &plan.servers {
        None => {}
        Some(ServerSection::Unknown { reason }) => {
            let line = format!("! servers: UNKNOWN ({reason})");
            let _ = writeln!(out, "{}", style.paint('!', &line));
            let _ = writeln!(out, "    no server is created or removed this run");
        }
        Some(ServerSection::Known { servers, actions }) if actions.is_empty() => {
            let _ = writeln!(out, "  servers: {servers} in the pool, no changes");
        }
        Some(ServerSection::Known { servers, actions }) => {
            let _ = writeln!(out, "  servers: {servers} in the pool");
            for a in actions {
                let (sign, line) = match a {
                    ServerAction::Create {
                        name,
                        server_type,
                        location,
                    } => ('+', format!("+ server {name} ({server_type}, {location})")),
                    ServerAction::Delete { name, id } => {
                        ('-', format!("- server {name} (id {id}, empty)"))
                    }
                };
                let _ = writeln!(out, "    {}", style.paint(sign, &line));
            }
        }
    }
}

/// The wildcard certificates: orders, and names waiting for budget.
fn wildcard_section(plan: &Plan, style: Style, out: &mut String) {
    use super::wildcard::WildcardSection;
    match &plan.wildcard {
        None => {}
        Some(WildcardSection::Unknown { reason }) => {
            let line = format!("! certificates: UNKNOWN ({reason})");
            let _ = writeln!(out, "{}", style.paint('!', &line));
            let _ = writeln!(out, "    no certificate is ordered or installed this run");
        }
        Some(WildcardSection::Known(w)) => {
            if w.orders.is_empty() && w.waiting.is_empty() {
                let _ = writeln!(out, "  certificates: no changes");
                return;
            }
            let _ = writeln!(
                out,
                "  certificates ({} of {} new orders used this week):",
                w.budget_used, w.budget
            );
            for o in &w.orders {
                let sign = if o.reason == crate::tls::plan::OrderReason::New {
                    '+'
                } else {
                    '~'
                };
                let line = format!(
                    "{sign} order {} ({:?}): {} name(s), new: {}",
                    o.cert,
                    o.reason,
                    o.names.len(),
                    list(&o.added)
                );
                let _ = writeln!(out, "    {}", style.paint(sign, &line));
            }
            if !w.waiting.is_empty() {
                let _ = writeln!(
                    out,
                    "    waiting for the weekly budget: {}",
                    list(&w.waiting)
                );
            }
        }
    }
}

/// The DNS part: one block per zone.
fn dns_section(plan: &Plan, style: Style, out: &mut String) {
    use crate::dns::plan::{DnsChange, ZonePlan};
    for (zone, zp) in &plan.dns {
        match zp {
            ZonePlan::Unknown { reason } => {
                let line = format!("! zone {zone}: UNKNOWN ({reason})");
                let _ = writeln!(out, "{}", style.paint('!', &line));
                let _ = writeln!(out, "    no DNS record in {zone} is changed this run");
            }
            ZonePlan::Known { changes, .. } if changes.is_empty() => {
                let _ = writeln!(out, "  zone {zone}: no changes");
            }
            ZonePlan::Known { changes, .. } => {
                let _ = writeln!(out, "  zone {zone}:");
                for c in changes {
                    let (sign, line) = match c {
                        DnsChange::Create { record: r } => (
                            '+',
                            format!("{} {} {} (ttl {})", r.kind, r.name, r.content, r.ttl),
                        ),
                        DnsChange::Update { from, to, .. } => (
                            '~',
                            format!(
                                "{} {} {} -> {} (ttl {} -> {})",
                                to.kind, to.name, from.content, to.content, from.ttl, to.ttl
                            ),
                        ),
                        DnsChange::Delete { record: r } => {
                            ('-', format!("{} {} {}", r.kind, r.name, r.content))
                        }
                    };
                    let _ = writeln!(out, "    {}", style.paint(sign, &format!("{sign} {line}")));
                }
            }
        }
    }
}

/// The plan as pretty JSON (secrets masked).
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("plan serialises")
}
