//! `storage:*`, `resource:*` and `run`.
//!
//! Mounts are kept as Dokku 0.38.27's storage entries and attachments (see
//! `state::storage`). `storage:mount APP HOST:CONTAINER[:ro]` registers the
//! legacy entry of HOST and creates an absolute HOST directory under
//! `ROOT/fs`; a single argument without `:` names an entry, which must
//! exist (`differential/049-050`). `storage:list` shows the attachments
//! sorted by entry name, then container path (`differential/047`, `051`).
//! `run APP tar -czf - -C DIR .` archives the `ROOT/fs` directory mapped to
//! the container path DIR with the system `tar`; any other `run` command
//! fails, and so does `run` on an app without an image
//! (`real-edge-cases/025`).

use super::cmd_apps::{io_fail, no_app};
use super::goflags;
use super::io::Ctx;
use super::report::{self, JsonKeys, Spec, go_json_str};
use super::state::{self, App, LIMITS, Mount};

const STORAGE: Spec = Spec {
    prefix: "storage",
    title: "storage",
    json: JsonKeys::Both,
    uppercase: true,
};
const RESOURCE: Spec = Spec {
    prefix: "resource",
    title: "resource",
    json: JsonKeys::Both,
    uppercase: false,
};
const LIMIT_USAGE: &str = "      --cpu string               cpu: The amount of cpu to limit processes by\n      --memory string            memory: The amount of memory to limit processes by\n      --memory-swap string       memory-swap: The amount of swap memory to limit processes by\n      --network string           network: The amount of network bandwidth to limit processes by\n      --network-egress string    network-egress: The amount of egress network bandwidth to limit processes by\n      --network-ingress string   network-ingress: The amount of ingress network bandwidth to limit processes by\n      --nvidia-gpu string        nvidia-gpu: The number of Nvidia GPUs to limit a process to\n      --process-type string      process-type: A process type to manage\n";
const LIST_USAGE: &str =
    "      --format string   --format: output format (text, json) (default \"text\")\n";

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "storage:report" => report::run_report(ctx, &STORAGE, args, &storage_entries),
        "resource:report" => report::run_report(ctx, &RESOURCE, args, &resource_entries),
        "storage:list" => list(ctx, args),
        "resource:limit" => limit(ctx, args),
        "run" => run_cmd(ctx, args),
        _ => mount(ctx, sub, args),
    }
}

fn storage_entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let mut e = Vec::new();
    for (i, m) in a.mounts.iter().enumerate() {
        let p = format!("storage-attachment.{}.", i + 1);
        for (k, v) in [
            ("container-path", m.container.clone()),
            ("entry-name", m.entry.clone()),
            ("host-path", m.host.clone()),
            ("phases", "deploy,run".into()),
            ("process-type", "_default_".into()),
            ("readonly", m.readonly.to_string()),
            ("subpath", String::new()),
            ("volume-chown", String::new()),
            ("volume-options", String::new()),
        ] {
            e.push((format!("{p}{k}"), v));
        }
    }
    let mounts: Vec<String> = a.mounts.iter().map(|m| format!("-v {}", spec(m))).collect();
    e.push(("storage-build-mounts".into(), String::new()));
    e.push(("storage-deploy-mounts".into(), mounts.join(" ")));
    e.push(("storage-run-mounts".into(), mounts.join(" ")));
    e
}

fn resource_entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    a.limits
        .iter()
        .map(|(k, v)| (format!("resource-_default_.limit.{k}"), v.clone()))
        .collect()
}

/// `HOST:CONTAINER[:ro]`.
fn spec(m: &Mount) -> String {
    let ro = if m.readonly { ":ro" } else { "" };
    format!("{}:{}{ro}", m.host, m.container)
}

fn list(ctx: &mut Ctx, args: &[String]) -> i32 {
    let p = match goflags::parse(ctx, "storage:list", LIST_USAGE, &[("format", true)], args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(app) = p.pos.first() else {
        return no_app(ctx);
    };
    let a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let mut mounts = a.mounts.clone();
    mounts.sort_by(|x, y| (&x.entry, &x.container).cmp(&(&y.entry, &y.container)));
    match p.get("format").unwrap_or("text") {
        "json" => {
            let items: Vec<String> = mounts
                .iter()
                .map(|m| {
                    let ro = if m.readonly { ",\"readonly\":true" } else { "" };
                    format!(
                        "{{\"entry_name\":{},\"host_path\":{},\"container_path\":{}{ro}}}",
                        go_json_str(&m.entry),
                        go_json_str(&m.host),
                        go_json_str(&m.container)
                    )
                })
                .collect();
            ctx.out(&format!("[{}]\n", items.join(",")));
        }
        "text" if ctx.quiet => {
            for m in &mounts {
                ctx.out(&format!("{}\n", spec(m)));
            }
        }
        "text" => {
            ctx.info1(&format!("{app} volume bind-mounts:"));
            for m in &mounts {
                ctx.verbose(&spec(m));
            }
        }
        _ => {
            ctx.warn("Invalid --format value specified");
            return 1;
        }
    }
    0
}

fn mount(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return no_app(ctx);
    };
    let arg = args.get(1).map(String::as_str).unwrap_or("");
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let parts: Vec<&str> = arg.split(':').collect();
    let m = match parts[..] {
        [h, c] => state::storage::mount(h, c, false),
        [h, c, "ro"] => state::storage::mount(h, c, true),
        _ => {
            ctx.warn(&format!(
                "storage entry \"{arg}\" does not exist; create it first with `dokku storage:create`"
            ));
            return 1;
        }
    };
    if !m.container.starts_with('/') || m.host.contains("..") {
        ctx.warn("Please specify an absolute host and container path");
        return 1;
    }
    let pos = a
        .mounts
        .iter()
        .position(|x| x.host == m.host && x.container == m.container);
    if sub == "storage:mount" {
        if pos.is_some() {
            ctx.warn("Mount path already exists.");
            return 1;
        }
        if m.host.starts_with('/')
            && let Err(e) = std::fs::create_dir_all(state::fs_path(&ctx.root, &m.host))
        {
            return io_fail(ctx, e);
        }
        a.mounts.push(m);
    } else {
        match pos {
            Some(i) => {
                a.mounts.remove(i);
            }
            None => {
                ctx.warn("Mount path does not exist.");
                return 1;
            }
        }
    }
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    0
}

fn limit(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut specs: Vec<goflags::Spec> = LIMITS.iter().map(|k| (*k, true)).collect();
    specs.push(("process-type", true));
    let p = match goflags::parse(ctx, "resource:limit", LIMIT_USAGE, &specs, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(app) = p.pos.first().cloned() else {
        return no_app(ctx);
    };
    let set: Vec<(&str, String)> = LIMITS
        .iter()
        .filter_map(|k| p.get(k).map(|v| (*k, v.to_string())))
        .collect();
    let _lock = match state::lock(&ctx.root, &app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(&app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    if set.is_empty() {
        if !ctx.quiet {
            ctx.info2(&format!("resource limits {app} information [defaults]"));
        }
        for k in LIMITS {
            let v = a.limits.get(k).cloned().unwrap_or_default();
            ctx.verbose(&format!("{k}: {v}"));
        }
        return 0;
    }
    if !ctx.quiet {
        ctx.info2(&format!("Setting resource limits for {app}"));
    }
    for (k, v) in set {
        ctx.verbose(&format!("{k}: {v}"));
        a.limits.insert(k.to_string(), v);
    }
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    0
}

fn run_cmd(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return no_app(ctx);
    };
    let a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    if a.git_last_updated_at.is_empty() {
        // No image: as recorded for a never-deployed app (real-edge-cases/025).
        ctx.warn(&format!("App image (dokku/{app}:latest) not found"));
        ctx.err("Error: No such image: \n");
        ctx.warn("Invalid image stage detected: expected 'release', got ''");
        ctx.warn("Successfully deploy your app to fix dokku run calls");
        return 1;
    }
    let cmd: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let dir = match cmd.as_slice() {
        ["tar", "-czf", "-", "-C", dir, "."] => *dir,
        _ => {
            ctx.warn("dokku-emu: run only supports `tar -czf - -C DIR .`");
            return 1;
        }
    };
    let dir = dir.trim_end_matches('/');
    let Some(host) = a
        .mounts
        .iter()
        .find(|m| m.container.trim_end_matches('/') == dir)
        .map(|m| m.host.clone())
    else {
        ctx.err(&format!("tar: {dir}: Cannot open: No such file or directory\ntar: Error is not recoverable: exiting now\n"));
        return 2;
    };
    let src = state::fs_path(&ctx.root, &host);
    let status = ctx.run_child(
        std::process::Command::new("tar")
            .arg("-czf")
            .arg("-")
            .arg("-C")
            .arg(&src)
            .arg("."),
    );
    match status {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            ctx.warn(&format!("dokku-emu: cannot run tar: {e}"));
            1
        }
    }
}
