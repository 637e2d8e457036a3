//! `ps:*` and `git:*` commands: deploy state (deployed / running), scaling and
//! `git:from-image` "deploys" (any image is accepted; nothing is pulled).

use super::cmd_apps::{io_fail, no_app};
use super::cmd_deploy::{self, Kind};
use super::io::Ctx;
use super::report::{self, JsonKeys, Spec};
use super::state::{self, App};

const PS: Spec = Spec {
    prefix: "ps",
    title: "ps",
    json: JsonKeys::Both,
    uppercase: true,
};
const GIT: Spec = Spec {
    prefix: "git",
    title: "git",
    json: JsonKeys::Stripped,
    uppercase: true,
};

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "ps:report" => report::run_report(ctx, &PS, args, &ps_entries),
        "git:report" => report::run_report(ctx, &GIT, args, &git_entries),
        "ps:scale" => scale(ctx, args),
        _ => modify(ctx, sub, args),
    }
}

fn ps_entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let mut e = report::entries(&[
        ("deployed", a.deployed.to_string()),
        ("processes", a.processes().to_string()),
        ("ps-can-scale", "true".into()),
        ("ps-computed-dockerfile-start-cmd", String::new()),
        ("ps-computed-procfile-path", "Procfile".into()),
        ("ps-computed-restart-policy", "on-failure:10".into()),
        ("ps-computed-skip-deploy", "false".into()),
        ("ps-computed-start-cmd", String::new()),
        ("ps-computed-stop-timeout-seconds", "30".into()),
        ("ps-dockerfile-start-cmd", String::new()),
        ("ps-global-procfile-path", String::new()),
        ("ps-global-restart-policy", String::new()),
        ("ps-global-skip-deploy", String::new()),
        ("ps-global-stop-timeout-seconds", String::new()),
        ("ps-procfile-path", String::new()),
        ("ps-restart-policy", String::new()),
        ("ps-skip-deploy", String::new()),
        ("ps-start-cmd", String::new()),
        ("ps-stop-timeout-seconds", String::new()),
        ("restore", a.restore.to_string()),
        ("running", a.running.to_string()),
    ]);
    if a.deployed && !a.container_id.is_empty() {
        let status = if a.running { "running" } else { "exited" };
        let cid = &a.container_id[..11.min(a.container_id.len())];
        for i in 1..=a.web_scale.max(1) {
            e.push((format!("status-web.{i}"), format!("{status} (CID: {cid})")));
        }
    }
    e
}

fn git_entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let sha = if a.git_sha.is_empty() {
        "HEAD".to_string()
    } else {
        a.git_sha.clone()
    };
    report::entries(&[
        ("git-computed-archive-max-files", "10000".into()),
        ("git-computed-archive-max-size", "1073741824".into()),
        ("git-computed-deploy-branch", "master".into()),
        ("git-computed-keep-git-dir", "false".into()),
        ("git-deploy-branch", a.deploy_branch.clone()),
        ("git-global-archive-max-files", String::new()),
        ("git-global-archive-max-size", String::new()),
        ("git-global-deploy-branch", String::new()),
        ("git-global-keep-git-dir", String::new()),
        ("git-keep-git-dir", String::new()),
        ("git-last-updated-at", a.git_last_updated_at.clone()),
        ("git-rev-env-var", "GIT_REV".into()),
        ("git-sha", sha),
        ("git-source-image", a.source_image.clone()),
    ])
}

fn scale(ctx: &mut Ctx, args: &[String]) -> i32 {
    let (fmt, rest) = report::take_format(args);
    let pos: Vec<&String> = rest.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(app) = pos.first() else {
        return no_app(ctx);
    };
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    if pos.len() > 1 {
        for p in &pos[1..] {
            match p.split_once('=').map(|(t, n)| (t, n.parse::<u32>())) {
                Some(("web", Ok(n))) => a.web_scale = n,
                _ => {
                    ctx.warn(&format!("Invalid process scaling: {p}"));
                    return 1;
                }
            }
        }
        if let Err(e) = state::save(&ctx.root, &a) {
            return io_fail(ctx, e);
        }
        ctx.info1(&format!(
            "Scaling {} processes: {}",
            a.name,
            pos[1..]
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        return 0;
    }
    if fmt.as_deref() == Some("json") {
        ctx.out(&format!(
            "[{{\"process_type\":\"web\",\"quantity\":{}}}]\n",
            a.web_scale
        ));
        return 0;
    }
    if !ctx.quiet {
        ctx.info1(&format!("Scaling for {}", a.name));
    }
    ctx.out(&format!(
        "proctype: qty\n--------: ---\nweb:  {}\n",
        a.web_scale
    ));
    0
}

/// The files a successful `git:from-image` leaves (as `disk-layout/i01-backend`
/// shows): the image, `GIT_REV` in the env, and the builder, app.json and
/// ps properties.
fn record_deploy(ctx: &Ctx, a: &App, image: &str) -> std::io::Result<()> {
    let root = &ctx.root;
    let app = a.name.as_str();
    let exposed = state::docker::source_exposed(root, image);
    let id = ctx.new_container_id(image);
    state::docker::put_image(root, app, &id, image, ctx.now, exposed)?;
    if let Ok(mut env) = state::read_env(root, app) {
        env.vars.insert("GIT_REV".into(), a.git_sha.clone());
        state::write_env(root, app, &env.vars)?;
    }
    state::files::set(root, "builder", app, "detected", "dockerfile")?;
    state::files::set(root, "app-json", app, "heroku.postdeploy", "executed")?;
    state::files::set(root, "ps", app, "can-scale", "true")?;
    state::files::remove(&state::files::property_path(root, "ps", app, "scale.old"))
}

/// `git:from-image` of the image the app was last built from: Dokku's git
/// commit of the unchanged build context fails (`differential/095`), on
/// stdout, exit 1.
fn no_changes(ctx: &mut Ctx) -> i32 {
    ctx.info1("Generating build context");
    ctx.info1("Image exists on host, skipping pull");
    ctx.info1("Updating git repository with specified build context");
    ctx.out(" !     No changes detected, skipping git commit\n");
    ctx.out(" !     Call 'ps:rebuild' on app to rebuild the app from existing source\n");
    1
}

/// `git:from-image` of an image the host lacks, on a host that cannot
/// reach a registry (`docker-notty/078`, `differential/102`), on stdout,
/// exit 1.
fn pull_failed(ctx: &mut Ctx, image: &str) -> i32 {
    ctx.info1("Generating build context");
    ctx.info1("Pulling image");
    ctx.out("Error response from daemon: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host\n");
    ctx.out(&format!(" !     Failed to pull image: {image}\n"));
    1
}

fn fake_sha(app: &str, image: &str, now: u64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("{app}\0{image}\0{now}\0{}", std::process::id()));
    hex::encode(h.finalize())[..40].to_string()
}

fn modify(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(app) = pos.first() else {
        return no_app(ctx);
    };
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let name = a.name.clone();
    match sub {
        "git:from-image" => {
            let Some(image) = pos.get(1) else {
                ctx.warn("Please specify a docker image");
                return 1;
            };
            if !state::docker::has_image(&ctx.root, image) && !state::host::registry(&ctx.root) {
                return pull_failed(ctx, image);
            }
            if a.source_image == **image {
                return no_changes(ctx);
            }
            let first_branch = a.deploy_branch.is_empty();
            a.deploy_source = "docker-image".into();
            a.deploy_source_metadata = image.to_string();
            a.source_image = image.to_string();
            a.deploy_branch = "master".into();
            a.git_sha = fake_sha(&name, image, ctx.now);
            a.git_last_updated_at = ctx.now.to_string();
            if let Err(e) = record_deploy(ctx, &a, image) {
                return io_fail(ctx, e);
            }
            a.ports_detected = super::cmd_ports::detected(&ctx.root, &a);
            let kind = Kind::FromImage {
                image,
                first_branch,
            };
            if let Err(e) = cmd_deploy::deploy(ctx, &mut a, kind) {
                return io_fail(ctx, e);
            }
        }
        // ps:restart prints the warning on stdout (differential/091).
        "ps:restart" if !a.deployed => {
            ctx.out(&format!(" !     App {name} has not been deployed\n"));
            return 0;
        }
        _ if !a.deployed => {
            ctx.warn(&format!("App {name} has not been deployed"));
            return 0;
        }
        "ps:stop" => {
            if !ctx.quiet {
                ctx.info1(&format!("Stopping {name}"));
            }
            a.running = false;
            a.restore = false;
        }
        "ps:start" if a.running => {
            // The rebuild as differential/097 records it; on a host
            // without Docker networking none is recorded.
            ctx.warn(&format!("App {name} already running"));
            if state::host::docker_network(&ctx.root) {
                cmd_deploy::proxy_rebuild(ctx, &a, false);
            }
            return 0;
        }
        "ps:start" => {
            ctx.warn("App has been detected as not running, releasing");
            a.restore = true;
            if let Err(e) = cmd_deploy::deploy(ctx, &mut a, Kind::Start) {
                return io_fail(ctx, e);
            }
            cmd_deploy::proxy_rebuild(ctx, &a, false);
        }
        _ => {
            if let Err(e) = cmd_deploy::restart_log(ctx, &mut a) {
                return io_fail(ctx, e);
            }
        }
    }
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    0
}
