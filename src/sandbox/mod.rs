//! The local sandbox: a fleet of Dokku "hosts" served by the emulator.
//!
//! Each host of the desired state becomes a directory under the sandbox
//! dir, and its Dokku is the emulator (`roomctl dokku-emu --root DIR`),
//! reached through [`LocalShell`] exactly as sshd's forced command would
//! run it. [`demo`] walks a newcomer through the whole flow.

pub mod dir;

use crate::apply::Shells;
use crate::desired::Desired;
use crate::plan::render::{self, Style};
use crate::reconcile::Reconciler;
use crate::ssh::{Counting, LocalShell, RemoteShell};
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The root secret used by the sandbox when `ROOMCTL_ROOT_SECRET` is unset.
/// It is public: sandbox secrets protect nothing.
pub const SANDBOX_ROOT_SECRET: &str = "sandbox-root-secret-not-for-production-use";

/// Commands the sandbox may run at once per host (as below sshd's MaxSessions).
const PARALLEL: usize = 8;

fn emulator() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("locating the roomctl binary to run the emulator")
}

/// One emulator-backed shell per desired host, each keeping its state in
/// `dir/hosts/<host>`, set up as its `[host.sandbox]` says (with or without
/// a global vhost; roomctl's plugin at some version, or none).
pub fn shells(desired: &Desired, dir: &Path) -> anyhow::Result<Shells> {
    let exe = emulator()?;
    for (h, spec) in &desired.hosts {
        set_up(dir, h, spec.sandbox.as_ref())?;
    }
    Ok(desired
        .hosts
        .keys()
        .map(|h| (h.clone(), host_shell(&exe, dir, h)))
        .collect())
}

/// Makes `dir/hosts/{host}` the emulated host `config` describes (kept as it
/// is when there is no `[host.sandbox]`: the emulator's default host).
pub fn set_up(
    dir: &Path,
    host: &crate::domain::HostName,
    config: Option<&crate::desired::SandboxHost>,
) -> anyhow::Result<()> {
    let Some(c) = config else {
        return Ok(());
    };
    let root = dir.join("hosts").join(host.as_str());
    let config = crate::emulator::HostConfig {
        global_vhost: c.global_vhost.clone(),
        roomctl_plugin: c.roomctl_plugin.as_ref().map(|v| match v.as_str() {
            "" => crate::emulator::HostConfig::default()
                .roomctl_plugin
                .unwrap_or_default(),
            v => v.to_string(),
        }),
    };
    crate::emulator::init_host(&root, &config)
        .with_context(|| format!("setting up sandbox host {host} in {}", root.display()))
}

/// The sandbox shell of one host: the emulator on `dir/hosts/{host}`.
pub fn shell(dir: &Path, host: &crate::domain::HostName) -> anyhow::Result<Arc<dyn RemoteShell>> {
    Ok(host_shell(&emulator()?, dir, host))
}

fn host_shell(exe: &Path, dir: &Path, h: &crate::domain::HostName) -> Arc<dyn RemoteShell> {
    let shell = LocalShell::new(
        exe.to_path_buf(),
        dir.join("hosts").join(h.as_str()),
        PARALLEL,
    )
    .with_leading_args(["dokku-emu"])
    .with_host_name(h.as_str());
    Arc::new(shell)
}

type Counted = BTreeMap<String, Arc<crate::ssh::Counters>>;

fn counted_shells(desired: &Desired, dir: &Path) -> anyhow::Result<(Shells, Counted)> {
    let mut counters = BTreeMap::new();
    let shells = shells(desired, dir)?
        .into_iter()
        .map(|(h, s)| {
            let c = Counting::new(s);
            counters.insert(h.to_string(), c.counters.clone());
            (h, Arc::new(c) as Arc<dyn RemoteShell>)
        })
        .collect();
    Ok((shells, counters))
}

fn counts(counters: &Counted) -> String {
    let parts: Vec<String> = counters
        .iter()
        .map(|(h, c)| {
            let n = c.total();
            c.reset();
            format!("{h}: {n}")
        })
        .collect();
    format!("(dokku commands per host: {})", parts.join(", "))
}

fn step(n: u32, title: &str) {
    println!("\n=== {n}. {title}");
}

/// Copies `from` (a desired-state dir) to `to` and moves the first
/// declared instance one tier up; returns its id and new tier.
fn bump_a_tier(from: &Path, to: &Path) -> anyhow::Result<(String, String)> {
    copy_dir(from, to)?;
    let dir = to.join("instances");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let order = ["free", "starter", "professional", "enterprise"];
    for f in files {
        let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&f)?)?;
        let Some(toml::Value::Array(list)) = doc.get_mut("instance") else {
            continue;
        };
        for inst in list.iter_mut().filter_map(|v| v.as_table_mut()) {
            let tier = inst
                .get("tier")
                .and_then(|t| t.as_str())
                .unwrap_or("free")
                .to_string();
            let Some(i) = order
                .iter()
                .position(|t| *t == tier)
                .filter(|i| i + 1 < order.len())
            else {
                continue;
            };
            if inst.get("state").and_then(|s| s.as_str()) == Some("stopped") {
                continue;
            }
            let id = inst
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            inst.insert("tier".into(), toml::Value::String(order[i + 1].into()));
            std::fs::write(&f, toml::to_string(&doc)?)?;
            return Ok((id, order[i + 1].to_string()));
        }
    }
    anyhow::bail!("no running instance below the top tier to upgrade")
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

async fn pass(
    desired: Desired,
    dir: &Path,
    style: Style,
    apply: bool,
) -> anyhow::Result<(bool, usize)> {
    let (shells, counters) = counted_shells(&desired, dir)?;
    let mut r = Reconciler::new(desired, shells, &dir.join("roomctl-state"));
    if r.desired.dns.is_some() {
        r.dns = Some(Arc::new(crate::dns::local::LocalDns::new(dir.join("dns"))));
    }
    if apply {
        let (p, report) = r.apply(false).await?;
        print!("{}", render::human(&p, style));
        print!("{}", report.table());
        println!("{}", counts(&counters));
        Ok((p.has_changes(), report.failed() + report.dns_failed()))
    } else {
        let (_, p) = r.plan().await;
        print!("{}", render::human(&p, style));
        println!("{}", counts(&counters));
        Ok((p.has_changes(), 0))
    }
}

/// The README's first command: plan, apply, plan again (no changes), then
/// change one instance's tier and show the targeted diff converge. `dir`
/// is emptied first only if roomctl made it (see [`dir::prepare`]).
pub async fn demo(desired_dir: &Path, templates: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    let style = Style::new(std::io::stdout().is_terminal());
    let cwd = std::env::current_dir().context("reading the current directory")?;
    dir::prepare(dir, &[desired_dir, templates, &cwd])?;
    let load = |d: &Path| crate::cli::load_desired(d, templates, true);
    let desired = load(desired_dir)?;
    println!(
        "roomctl sandbox: {} instance(s) from {} on {} local host(s) ({}) served by the Dokku emulator in {}",
        desired.instances.len(),
        desired_dir.display(),
        desired.hosts.len(),
        desired
            .hosts
            .keys()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        dir.display()
    );
    step(1, "plan: the sandbox hosts are empty");
    pass(desired.clone(), dir, style, false).await?;
    step(2, "apply");
    let (_, failed) = pass(desired.clone(), dir, style, true).await?;
    step(3, "plan again: nothing to do");
    let (changes, _) = pass(desired, dir, style, false).await?;
    let edited = dir.join("desired-state");
    let (id, tier) = bump_a_tier(desired_dir, &edited)?;
    step(
        4,
        &format!(
            "instance {id} moves to tier {tier} (edited copy in {})",
            edited.display()
        ),
    );
    let desired = load(&edited)?;
    pass(desired.clone(), dir, style, false).await?;
    step(5, "apply the tier change");
    let (_, failed2) = pass(desired.clone(), dir, style, true).await?;
    step(6, "plan again: converged");
    let (changes2, _) = pass(desired, dir, style, false).await?;
    let ok = failed == 0 && failed2 == 0 && !changes && !changes2;
    println!(
        "\n{}",
        if ok {
            "Demo complete: the fleet converged and a second apply has nothing to do."
        } else {
            "Demo finished with problems (see above)."
        }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
