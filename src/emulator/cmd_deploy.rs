//! The deploy log printed by `git:from-image`, `ps:start` and `ps:restart`.
//! Container and image ids are fresh pseudo-random hex; nothing is built or
//! run.
//!
//! The two recording hosts print different logs, and the host's
//! [`docker_network`](super::state::host::docker_network) picks one:
//! - without Docker networking, the deploy of `harness/busybox-web:1`
//!   (docker-notty 079, 084, 085, docker-quiet-notty 027): IPv4 forwarding
//!   warnings, a healthcheck line, and "No web listeners" (on stdout) in
//!   each nginx block;
//! - with it (`differential/093`, `096`, `098`, `114`): none of those, and
//!   every rebuild of a deploy is preceded by "Ensuring network
//!   configuration is in sync for APP"; the early rebuild of a first
//!   deploy prints nothing.

use super::io::Ctx;
use super::state::{self, App};

/// Whether the host's deploy logs are those of the host with Docker
/// networking (see the module docs).
fn networked(ctx: &Ctx) -> bool {
    state::host::docker_network(&ctx.root)
}

/// The nginx rebuild of a deploy or `ps:start` (see the module docs);
/// warnings on stdout when `on_stdout` (inside the deploy log).
pub fn proxy_rebuild(ctx: &mut Ctx, app: &App, on_stdout: bool) {
    if networked(ctx) {
        ctx.info1(&format!(
            "Ensuring network configuration is in sync for {}",
            app.name
        ));
    }
    ctx.nginx_rebuild_with(app, true, on_stdout);
}

/// Which flow printed the log.
pub enum Kind<'a> {
    /// `git:from-image APP IMAGE`: build, release, deploy; `first_branch`
    /// when the app had no deploy branch yet.
    FromImage { image: &'a str, first_branch: bool },
    /// `ps:start` of a stopped app: release and deploy.
    Start,
    /// `ps:restart` (also after `config:set` without `--no-restart`).
    Restart,
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

fn build_log(ctx: &mut Ctx, app: &App, image: &str, first_branch: bool) {
    let forwarding = if networked(ctx) {
        ""
    } else {
        " ---> [Warning] IPv4 forwarding is disabled. Networking will not work.\n"
    };
    ctx.info1("Generating build context");
    ctx.info1("Image exists on host, skipping pull");
    ctx.info1("Updating git repository with specified build context");
    if first_branch {
        ctx.verbose("Detected branch, setting deploy-branch to master");
    }
    ctx.info1("Cleaning up...");
    ctx.info1(&format!("Building {} from Dockerfile", app.name));
    ctx.out(
        "DEPRECATED: The legacy builder is deprecated and will be removed in a future release.\n            Install the buildx component to build images with BuildKit:\n            https://docs.docker.com/go/buildx/\n\nSending build context to Docker daemon  2.048kB\r\r\n",
    );
    let labels = [
        format!("com.dokku.docker-image-labeler/alternate-tags=[\\\"{image}\\\"]"),
        format!("com.dokku.app-name={}", app.name),
        "com.dokku.builder-type=dockerfile".into(),
        "com.dokku.image-stage=build".into(),
        "dokku=".into(),
        "org.label-schema.schema-version=1.0".into(),
        "org.label-schema.vendor=dokku".into(),
    ];
    let base = ctx.new_container_id(image);
    ctx.out(&format!(
        "Step 1/8 : FROM {image}\n ---> {}\n",
        short(&base)
    ));
    let mut last = String::new();
    for (i, l) in labels.iter().enumerate() {
        let run = ctx.new_container_id(l);
        last = ctx.new_container_id(&run);
        ctx.out(&format!(
            "Step {}/8 : LABEL {l}\n{forwarding} ---> Running in {r}\nRemoving intermediate container {r}\n ---> {}\n",
            i + 2,
            short(&last),
            r = short(&run)
        ));
    }
    ctx.out(&format!(
        "Successfully built {}\nSuccessfully tagged dokku/{}:latest\n",
        short(&last),
        app.name
    ));
}

fn release_log(ctx: &mut Ctx, app: &App, heroku: bool) {
    ctx.info1(&format!("Releasing {}...", app.name));
    ctx.info1("Checking for predeploy task");
    ctx.verbose("No predeploy task found, skipping");
    ctx.info1("Checking for release task");
    ctx.verbose("No release task found, skipping");
    if heroku {
        ctx.info1("Checking for heroku.postdeploy task");
        ctx.verbose("No heroku.postdeploy task found, skipping");
    }
    ctx.info2("Processing deployment checks");
    if !networked(ctx) {
        ctx.verbose(
            "No web healthchecks found in app.json. Simple container checks will be performed.",
        );
        ctx.verbose("For more efficient zero downtime deployments, add healthchecks to your app.json. See https://dokku.com/docs/deployment/zero-downtime-deploys/ for examples");
    }
    ctx.info1(&format!(
        "Deploying {} via the docker-local scheduler...",
        app.name
    ));
}

/// The URLs "Application deployed:" lists: each domain, or for an app
/// without one the host's name with each http(s) map's port (omitted when
/// it is the scheme's default, as `differential/093` shows `http://vm`).
fn urls(ctx: &Ctx, app: &App) -> Vec<String> {
    let scheme = if app.ssl_enabled() { "https" } else { "http" };
    if !app.domains.is_empty() {
        let mut domains = app.domains.clone();
        domains.sort();
        domains.dedup();
        return domains.iter().map(|d| format!("{scheme}://{d}")).collect();
    }
    let host = state::host::hostname(&ctx.root);
    let maps = if app.ports.is_empty() {
        vec![super::cmd_ports::detected(&ctx.root, app)]
    } else {
        app.ports.clone()
    };
    maps.iter()
        .filter_map(|m| super::cmd_ports::parse_map(m))
        .filter(|(s, _, _)| s == "http" || (s == "https" && app.ssl_enabled()))
        .map(|(s, port, _)| match (s.as_str(), port) {
            ("http", 80) | ("https", 443) => format!("{s}://{host}"),
            _ => format!("{s}://{host}:{port}"),
        })
        .collect()
}

/// Print the deploy log for `kind`, and make the new container the app's
/// live one (saved before the log's nginx rebuilds, which read its
/// address).
pub fn deploy(ctx: &mut Ctx, app: &mut App, kind: Kind) -> std::io::Result<()> {
    let prev = if app.deployed && !app.container_id.is_empty() {
        Some(app.container_id.clone())
    } else {
        None
    };
    match kind {
        Kind::FromImage {
            image,
            first_branch,
        } => {
            build_log(ctx, app, image, first_branch);
            release_log(ctx, app, true);
        }
        Kind::Start => release_log(ctx, app, false),
        Kind::Restart => {}
    }
    let cid = ctx.new_container_id(&app.name);
    let c = short(&cid).to_string();
    let name = app.name.clone();
    let net = networked(ctx);
    app.container_id = cid.clone();
    app.deployed = true;
    app.running = true;
    state::save(&ctx.root, app)?;
    ctx.info1(&format!("Deploying web (count={})", app.web_scale.max(1)));
    if !net {
        ctx.out("WARNING: IPv4 forwarding is disabled. Networking will not work.\n");
    }
    ctx.verbose("Attempting pre-flight checks (web.1)");
    if !net {
        ctx.verbose(&format!("harness healthcheck: container {c} is running"));
    }
    ctx.verbose("All checks successful (web.1)");
    if !ctx.quiet {
        ctx.info2(&format!("Start of {name} container output ({c} web.1)"));
        ctx.info2(&format!("End of {name} container output ({c} web.1)"));
    }
    if prev.is_some() {
        ctx.verbose("Scheduling old container shutdown in 60 seconds (web.1)");
    }
    ctx.info2("Triggering early nginx proxy rebuild");
    if !net || prev.is_some() {
        proxy_rebuild(ctx, app, true);
    }
    ctx.info1("Running post-deploy");
    proxy_rebuild(ctx, app, true);
    ctx.info1("Renaming containers");
    if !ctx.quiet {
        if let Some(p) = &prev {
            let p = short(p);
            ctx.verbose(&format!(
                "Found previous container(s) ({p}) named {name}.web.1"
            ));
            ctx.verbose(&format!(
                "Renaming container ({p}) {name}.web.1 to {name}.web.1.{}",
                ctx.now
            ));
        }
        let upcoming = u32::from_str_radix(&cid[12..16], 16).unwrap_or(0) % 32000;
        ctx.verbose(&format!(
            "Renaming container {name}.web.1.upcoming-{upcoming} ({c}) to {name}.web.1"
        ));
    }
    ctx.info1("Checking for postdeploy task");
    ctx.verbose("No postdeploy task found, skipping");
    if prev.is_some() {
        ctx.info1("Shutting down old containers in 60 seconds");
    }
    if !matches!(kind, Kind::Restart) {
        ctx.info2("Application deployed:");
        for u in urls(ctx, app) {
            ctx.verbose(&u);
        }
        ctx.out("\n");
    }
    Ok(())
}

/// `ps:restart` of a deployed app (also used by config changes).
pub fn restart_log(ctx: &mut Ctx, app: &mut App) -> std::io::Result<()> {
    deploy(ctx, app, Kind::Restart)
}
