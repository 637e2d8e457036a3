//! `apps:*` commands and the global `report`.
//!
//! `apps:create` (also the first half of `apps:clone` and `apps:rename`)
//! behaves as the host is configured (see `state::host`):
//! - with a global vhost, the app gets `APP.VHOST` as its domain and the
//!   proxy port 80 (as `nodocker-notty/` records);
//! - without one, Dokku disables the app vhost (`NO_VHOST=1` in the env,
//!   the property `network/bind-all-interfaces`), picks a random high port
//!   as the proxy port and rebuilds nginx twice (as `differential/001`
//!   records). The random port is drawn from 32768..=60999.
//!
//! `apps:clone` copies the env (`real-edge-cases/016-017`); when the old
//! env cannot be read it fails half-way, leaving the new app created
//! (`differential/075`). It also copies the `ports`, `resource`, `storage`
//! and `nginx` properties (modelled from Dokku's source: each Go plugin's
//! `TriggerPostAppCloneSetup` runs `common.PropertyClone`; only `ports` was
//! read, the others are assumed to follow it). `apps:rename` creates the
//! new app, moves the old one's files, properties and env (merged over the
//! new env) and destroys the old app (`differential/068-074`).

use std::path::Path;

use super::goflags;
use super::io::Ctx;
use super::report::{self, JsonKeys, Spec};
use super::state::{self, App, files};

const SPEC: Spec = Spec {
    prefix: "app",
    title: "app",
    json: JsonKeys::Both,
    uppercase: true,
};

const BAD_NAME: &str = "App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens";

/// Property plugins that `apps:clone` copies (see the module docs).
const CLONED: [&str; 4] = ["ports", "resource", "storage", "nginx"];

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "apps:list" => list(ctx, args),
        "apps:create" => create_cmd(ctx, args),
        "apps:destroy" => destroy(ctx, args),
        "apps:clone" => clone(ctx, args),
        "apps:rename" => rename(ctx, args),
        "apps:exists" => match args.first() {
            Some(app) if state::exists(&ctx.root, app) => 0,
            Some(app) => ctx.missing(app),
            None => no_app(ctx),
        },
        "apps:report" => report::run_report(ctx, &SPEC, args, &entries),
        _ => global_report(ctx, args),
    }
}

/// The error for a command given no app name.
pub fn no_app(ctx: &mut Ctx) -> i32 {
    ctx.warn("Please specify an app to run the command on");
    1
}

fn entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    report::entries(&[
        ("app-created-at", a.created_at.to_string()),
        ("app-deploy-source", a.deploy_source.clone()),
        (
            "app-deploy-source-metadata",
            a.deploy_source_metadata.clone(),
        ),
        ("app-dir", a.dir()),
        ("app-global-disable-autocreation", String::new()),
        ("app-locked", "false".into()),
    ])
}

fn list(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (fmt, rest) = report::take_format(args);
    if let Some(bad) = rest.iter().find(|a| a.starts_with('-')) {
        ctx.err(&format!(
            "Usage of apps:list:\n      --format string   format: [ stdout | json ] (default \"stdout\")\nunknown flag: {bad}\n"
        ));
        return 2;
    }
    let names = state::list(&ctx.root);
    match fmt.as_deref().unwrap_or("stdout") {
        "json" => {
            let items: Vec<String> = names.iter().map(|n| report::go_json_str(n)).collect();
            ctx.out(&format!("[{}]\n", items.join(",")));
        }
        "stdout" => {
            if !ctx.quiet {
                ctx.info2("My Apps");
            }
            if names.is_empty() {
                ctx.warn("You haven't deployed any applications yet");
            }
            for n in names {
                ctx.out(&format!("{n}\n"));
            }
        }
        other => return report::bad_format(ctx, other),
    }
    0
}

/// Report an unexpected I/O failure of the emulator itself.
pub fn io_fail(ctx: &mut Ctx, e: std::io::Error) -> i32 {
    ctx.warn(&format!("dokku-emu: state error: {e}"));
    1
}

fn create_cmd(ctx: &mut Ctx, args: &[String]) -> i32 {
    let p = match goflags::parse(ctx, "apps:create", "", &[], args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(app) = p.pos.first() else {
        return no_app(ctx);
    };
    if !state::valid_name(app) {
        ctx.warn(BAD_NAME);
        return 1;
    }
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    if state::exists(&ctx.root, app) {
        ctx.warn("Name is already taken");
        return 1;
    }
    match create(ctx, app) {
        Ok(_) => 0,
        Err(code) => code,
    }
}

/// A random high port for an app without a vhost.
fn random_port(ctx: &Ctx, app: &str) -> u32 {
    let id = ctx.new_container_id(app);
    32768 + u32::from_str_radix(&id[..8], 16).unwrap_or(0) % (61000 - 32768)
}

/// Create the app's files and print what `apps:create` prints (the caller
/// has checked the name and holds the lock).
fn create(ctx: &mut Ctx, app: &str) -> Result<App, i32> {
    let root = ctx.root.clone();
    let mut a = App::new(app, ctx.now);
    let vhost = state::host::global_vhost(&root);
    if !ctx.quiet {
        ctx.info1(&format!("Creating {app}..."));
    }
    let written = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(state::app_file(&root, app, ""))?;
        files::set(&root, "config", app, "env-migrated", "true")?;
        files::write_if_changed(&files::property_path(&root, "ps", app, "scale.old"), b"")
    })();
    if let Err(e) = written {
        return Err(io_fail(ctx, e));
    }
    match vhost {
        Some(v) => {
            a.domains = vec![format!("{app}.{v}")];
            a.proxy_port = "80".into();
            if let Err(e) = state::save(&root, &a) {
                return Err(io_fail(ctx, e));
            }
            if !ctx.quiet {
                ctx.info1("Creating new app virtual host file...");
            }
            ctx.nginx_rebuild(&a);
        }
        None => {
            if !ctx.quiet {
                ctx.info1("Global server virtual host not set, disabling app vhost...");
            }
            let port = random_port(ctx, app);
            a.proxy_port = port.to_string();
            let env = [("NO_VHOST".to_string(), "1".to_string())].into();
            let saved = state::save(&root, &a)
                .and_then(|()| state::write_env(&root, app, &env))
                .and_then(|()| files::set(&root, "network", app, "bind-all-interfaces", "true"));
            if let Err(e) = saved {
                return Err(io_fail(ctx, e));
            }
            ctx.info1("No port set, setting to random open high port");
            ctx.info1(&format!("Random port {port}"));
            ctx.nginx_rebuild(&a);
            ctx.nginx_rebuild(&a);
        }
    }
    Ok(a)
}

/// Lock two apps in name order (so two renames cannot deadlock); one
/// lock when both are the same app (a second lock of it would wait for
/// the first forever).
fn lock_pair(ctx: &mut Ctx, a: &str, b: &str) -> Result<Vec<state::AppLock>, i32> {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let mut locks = vec![state::lock(&ctx.root, first).map_err(|e| io_fail(ctx, e))?];
    if second != first {
        locks.push(state::lock(&ctx.root, second).map_err(|e| io_fail(ctx, e))?);
    }
    Ok(locks)
}

/// The checks `apps:clone` and `apps:rename` share; `Ok` when both names
/// are fine (the caller then holds both locks).
fn two_apps(
    ctx: &mut Ctx,
    cmd: &str,
    args: &[String],
) -> Result<(String, String, bool, Vec<state::AppLock>), i32> {
    let p = goflags::parse(
        ctx,
        cmd,
        "      --skip-deploy   --skip-deploy: skip deploy of the app\n      --ignore-existing   --ignore-existing: ignore an existing app\n",
        &[("skip-deploy", false), ("ignore-existing", false)],
        args,
    )?;
    let (Some(old), Some(new)) = (p.pos.first(), p.pos.get(1)) else {
        return Err(no_app(ctx));
    };
    let locks = lock_pair(ctx, old, new)?;
    if !state::exists(&ctx.root, old) {
        return Err(ctx.missing(old));
    }
    if !state::valid_name(new) {
        ctx.warn(BAD_NAME);
        return Err(1);
    }
    if state::exists(&ctx.root, new) {
        ctx.warn("Name is already taken");
        return Err(1);
    }
    Ok((old.clone(), new.clone(), p.has("skip-deploy"), locks))
}

/// `common.PropertyClone`: copy every property file of `plugin` from one
/// app to the other.
fn clone_properties(root: &Path, plugin: &str, old: &str, new: &str) -> std::io::Result<()> {
    let from = files::property_path(root, plugin, old, "");
    let Ok(rd) = std::fs::read_dir(&from) else {
        return Ok(());
    };
    for e in rd.filter_map(|e| e.ok()) {
        if e.path().is_file() {
            let body = std::fs::read(e.path())?;
            let name = e.file_name().to_string_lossy().into_owned();
            files::write_atomic(&files::property_path(root, plugin, new, &name), &body)?;
        }
    }
    Ok(())
}

fn clone(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (old, new, _skip, _locks) = match two_apps(ctx, "apps:clone", args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    ctx.info1(&format!("Cloning {old} to {new}"));
    if let Err(code) = create(ctx, &new) {
        return code;
    }
    let old_env = match state::read_env(&ctx.root, &old) {
        Ok(env) => env.vars,
        Err(e) => {
            let msg = format!("Unable to load old environment: {}", e.message);
            ctx.warn(&msg);
            ctx.err(&format!(" !      !     {msg}\n\n"));
            return 1;
        }
    };
    let root = ctx.root.clone();
    let mut env = state::read_env(&root, &new)
        .map(|e| e.vars)
        .unwrap_or_default();
    env.extend(old_env);
    let copied = state::write_env(&root, &new, &env).and_then(|()| {
        CLONED
            .iter()
            .try_for_each(|p| clone_properties(&root, p, &old, &new))
    });
    if let Err(e) = copied {
        return io_fail(ctx, e);
    }
    if let Some(a) = state::load(&root, &new) {
        let quiet = ctx.quiet;
        ctx.quiet = true;
        ctx.nginx_rebuild(&a);
        ctx.quiet = quiet;
    }
    0
}

fn rename(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (old, new, _skip, _locks) = match two_apps(ctx, "apps:rename", args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    ctx.info1(&format!("Renaming {old} to {new}"));
    if let Err(code) = create(ctx, &new) {
        return code;
    }
    let root = ctx.root.clone();
    let moved = (|| -> std::io::Result<()> {
        let mut env = state::read_env(&root, &new)
            .map(|e| e.vars)
            .unwrap_or_default();
        if let Ok(old_env) = state::read_env(&root, &old) {
            env.extend(old_env.vars);
        }
        state::write_env(&root, &new, &env)?;
        copy_tree(
            &state::app_file(&root, &old, ""),
            &state::app_file(&root, &new, ""),
        )?;
        let config = state::fs_path(&root, "/var/lib/dokku/config");
        for plugin in std::fs::read_dir(&config)?.filter_map(|e| e.ok()) {
            let name = plugin.file_name().to_string_lossy().into_owned();
            if plugin.path().join(&old).is_dir() && name != "apps" {
                clone_properties(&root, &name, &old, &new)?;
            }
        }
        // Modelled from Dokku's source (plugins/nginx-vhosts/post-app-rename-setup,
        // which runs proxy-clear-config): the copied nginx.conf, still the
        // old app's, is removed; the next rebuild writes the new one.
        files::remove(&state::app_file(&root, &new, "nginx.conf"))?;
        state::docker::rename_image(&root, &old, &new)
    })();
    if let Err(e) = moved {
        return io_fail(ctx, e);
    }
    if let Err(e) = state::remove(&root, &old) {
        return io_fail(ctx, e);
    }
    ctx.info1(&format!("Destroying {old} (including all add-ons)"));
    ctx.info1("Cleaning up...");
    ctx.info1("Retiring old containers and images");
    0
}

/// Copy the files of `from` into `to` (recursively, symlinks as links).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)?.filter_map(|e| e.ok()) {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type()?;
        if kind.is_symlink() {
            let target = std::fs::read_link(&src)?;
            files::remove(&dst)?;
            std::os::unix::fs::symlink(target, &dst)?;
        } else if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

fn destroy(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(app) = args.iter().find(|a| !a.starts_with("--")) else {
        return no_app(ctx);
    };
    let force = args.iter().any(|a| a == "--force");
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    if !state::exists(&ctx.root, app) {
        return ctx.missing(app);
    }
    if !force {
        // As recorded with no terminal and nothing on stdin
        // (`differential/084`): the prompt, then EOF.
        ctx.warn("WARNING: Potentially Destructive Action");
        ctx.warn(&format!("This command will destroy app {app}."));
        ctx.warn(&format!("To proceed, type \"{app}\""));
        ctx.out("> ");
        ctx.warn("EOF");
        return 1;
    }
    if let Err(e) = state::remove(&ctx.root, app) {
        return io_fail(ctx, e);
    }
    ctx.info1(&format!("Destroying {app} (including all add-ons)"));
    ctx.info1("Cleaning up...");
    ctx.info1("Retiring old containers and images");
    0
}

fn global_report(ctx: &mut Ctx, args: &[String]) -> i32 {
    if args
        .iter()
        .any(|a| a == "--format" || a.starts_with("--format="))
    {
        ctx.warn("--format flag not supported on global report");
        return 1;
    }
    ctx.info1("uname: dokku-emu");
    ctx.info1("dokku version: ");
    ctx.verbose("dokku version 0.38.27");
    ctx.info1("dokku plugins: ");
    ctx.verbose("emulated: apps config domains ports proxy storage resource ps git letsencrypt");
    if let Some(app) = args.iter().find(|a| !a.starts_with("--"))
        && !state::exists(&ctx.root, app)
    {
        return ctx.missing(app);
    }
    0
}
