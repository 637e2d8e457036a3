//! `storage:*`, `resource:*` and `run`.
//!
//! `storage:mount` creates the host directory under `ROOT/fs/<host path>`. Entry
//! names are `legacy-` + the first 10 hex chars of the SHA-1 of the host path (this
//! reproduces the recorded `legacy-3d875051be`). `run APP tar -czf - -C DIR .`
//! archives the `ROOT/fs` directory mapped to the container path DIR with the
//! system `tar`; any other `run` command fails.

use super::cmd_apps::{io_fail, no_app};
use super::io::Ctx;
use super::report::{self, JsonKeys, Spec, go_json_str};
use super::state::{self, App};

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
const LIMITS: [&str; 7] = [
    "cpu",
    "memory",
    "memory-swap",
    "network",
    "network-ingress",
    "network-egress",
    "nvidia-gpu",
];

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

/// `legacy-` + first 10 hex chars of sha1(host path).
pub fn entry_name(host: &str) -> String {
    format!("legacy-{}", &super::sha1::hex_digest(host.as_bytes())[..10])
}

fn storage_entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let mut e = Vec::new();
    for (i, (h, c)) in a.mounts.iter().enumerate() {
        let p = format!("storage-attachment.{}.", i + 1);
        for (k, v) in [
            ("container-path", c.clone()),
            ("entry-name", entry_name(h)),
            ("host-path", h.clone()),
            ("phases", "deploy,run".into()),
            ("process-type", "_default_".into()),
            ("readonly", "false".into()),
            ("subpath", String::new()),
            ("volume-chown", String::new()),
            ("volume-options", String::new()),
        ] {
            e.push((format!("{p}{k}"), v));
        }
    }
    let mounts: Vec<String> = a
        .mounts
        .iter()
        .map(|(h, c)| format!("-v {h}:{c}"))
        .collect();
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

fn list(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (fmt, rest) = report::take_format(args);
    let Some(app) = rest.first() else {
        return no_app(ctx);
    };
    let a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    if fmt.as_deref() == Some("json") {
        let items: Vec<String> = a
            .mounts
            .iter()
            .map(|(h, c)| {
                format!(
                    "{{\"entry_name\":{},\"host_path\":{},\"container_path\":{}}}",
                    go_json_str(&entry_name(h)),
                    go_json_str(h),
                    go_json_str(c)
                )
            })
            .collect();
        ctx.out(&format!("[{}]\n", items.join(",")));
        return 0;
    }
    if ctx.quiet {
        for (h, c) in &a.mounts {
            ctx.out(&format!("{h}:{c}\n"));
        }
    } else {
        ctx.info1(&format!("{app} volume bind-mounts:"));
        for (h, c) in &a.mounts {
            ctx.verbose(&format!("{h}:{c}"));
        }
    }
    0
}

fn mount(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return no_app(ctx);
    };
    let Some((h, c)) = args.get(1).and_then(|m| m.split_once(':')) else {
        ctx.warn("Please specify a mount path");
        return 1;
    };
    let (h, c) = (h.to_string(), c.to_string());
    if !h.starts_with('/') || !c.starts_with('/') || h.contains("..") {
        ctx.warn("Please specify an absolute host and container path");
        return 1;
    }
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let pos = a.mounts.iter().position(|m| m.0 == h && m.1 == c);
    if sub == "storage:mount" {
        if pos.is_some() {
            ctx.warn("Mount path already exists.");
            return 1;
        }
        if let Err(e) = std::fs::create_dir_all(state::fs_path(&ctx.root, &h)) {
            return io_fail(ctx, e);
        }
        a.mounts.push((h, c));
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
    let mut set: Vec<(String, String)> = Vec::new();
    let mut app = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(flag) = a.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    i += 1;
                    (flag.to_string(), args.get(i).cloned().unwrap_or_default())
                }
            };
            if name == "process-type" {
            } else if LIMITS.contains(&name.as_str()) {
                set.push((name, value));
            } else {
                ctx.warn(&format!("Invalid flag passed: --{name}"));
                return 1;
            }
        } else if app.is_none() {
            app = Some(a.clone());
        }
        i += 1;
    }
    let Some(app) = app else { return no_app(ctx) };
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
    for k in LIMITS {
        if let Some((_, v)) = set.iter().rev().find(|(n, _)| n == k) {
            ctx.verbose(&format!("{k}: {v}"));
            a.limits.insert(k.to_string(), v.clone());
        }
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
    if !a.deployed {
        ctx.warn(&format!("App {app} has not been deployed"));
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
    let Some((host, _)) = a
        .mounts
        .iter()
        .find(|(_, c)| c.trim_end_matches('/') == dir)
    else {
        ctx.err(&format!("tar: {dir}: Cannot open: No such file or directory\ntar: Error is not recoverable: exiting now\n"));
        return 2;
    };
    let src = state::fs_path(&ctx.root, host);
    ctx.flush_now();
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg("-")
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status();
    match status {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            ctx.warn(&format!("dokku-emu: cannot run tar: {e}"));
            1
        }
    }
}
