//! `apps:*` commands and the global `report`.

use super::io::Ctx;
use super::report::{self, JsonKeys, Spec};
use super::state::{self, App};

const SPEC: Spec = Spec {
    prefix: "app",
    title: "app",
    json: JsonKeys::Both,
    uppercase: true,
};

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "apps:list" => list(ctx, args),
        "apps:create" => create(ctx, args),
        "apps:destroy" => destroy(ctx, args),
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
        ("app-dir", format!("/home/dokku/{}", a.name)),
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

fn create(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return no_app(ctx);
    };
    if !state::valid_name(app) {
        ctx.warn(
            "App name must begin with lowercase alphanumeric character, and cannot include uppercase characters, colons, or underscores",
        );
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
    let a = App::new(app, ctx.now);
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    if !ctx.quiet {
        ctx.info1(&format!("Creating {app}..."));
        ctx.info1("Creating new app virtual host file...");
    }
    ctx.nginx_rebuild(&a);
    0
}

/// Report an unexpected I/O failure of the emulator itself.
pub fn io_fail(ctx: &mut Ctx, e: std::io::Error) -> i32 {
    ctx.warn(&format!("dokku-emu: state error: {e}"));
    1
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
        ctx.warn("WARNING: Potentially Destructive Action");
        ctx.warn(&format!(
            "This command will destroy {app} (including all add-ons)."
        ));
        ctx.warn(&format!("To proceed, type \"{app}\""));
        ctx.warn(&format!("Confirmation did not match {app}. Aborted."));
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
