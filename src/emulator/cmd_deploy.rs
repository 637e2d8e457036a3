//! The deploy log printed by `git:from-image`, `ps:start` and `ps:restart`,
//! modelled on the recorded successful deploy of `harness/busybox-web:1`
//! (docker-notty 079, 084, 085 and docker-quiet-notty 027). Container and image
//! ids are fresh pseudo-random hex; nothing is built or run.

use super::io::Ctx;
use super::state::App;

/// Which flow printed the log.
pub enum Kind<'a> {
    /// `git:from-image APP IMAGE`: build, release, deploy.
    FromImage(&'a str),
    /// `ps:start` of a stopped app: release and deploy.
    Start,
    /// `ps:restart` (also after `config:set` without `--no-restart`).
    Restart,
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

fn build_log(ctx: &mut Ctx, app: &App, image: &str, first_branch: bool) {
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
            "Step {}/8 : LABEL {l}\n ---> [Warning] IPv4 forwarding is disabled. Networking will not work.\n ---> Running in {r}\nRemoving intermediate container {r}\n ---> {}\n",
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
    ctx.verbose(
        "No web healthchecks found in app.json. Simple container checks will be performed.",
    );
    ctx.verbose("For more efficient zero downtime deployments, add healthchecks to your app.json. See https://dokku.com/docs/deployment/zero-downtime-deploys/ for examples");
    ctx.info1(&format!(
        "Deploying {} via the docker-local scheduler...",
        app.name
    ));
}

/// The nginx block inside a deploy log (warnings go to stdout here).
fn nginx_block(ctx: &mut Ctx, app: &App) {
    if !ctx.quiet {
        ctx.out(&format!(
            " !     No web listeners specified for {}\n",
            app.name
        ));
    }
    let mut domains = app.domains.clone();
    domains.sort();
    for d in &domains {
        ctx.info1(&format!("Configuring {d}...(using built-in template)"));
    }
    let scheme = if app.ssl_enabled() { "https" } else { "http" };
    ctx.info1(&format!("Creating {scheme} nginx.conf"));
    ctx.verbose("Reloading nginx");
}

/// Print the deploy log for `kind` and mark the app deployed and running.
pub fn deploy(ctx: &mut Ctx, app: &mut App, kind: Kind) {
    let prev = if app.deployed && !app.container_id.is_empty() {
        Some(app.container_id.clone())
    } else {
        None
    };
    match kind {
        Kind::FromImage(image) => {
            let first = app.deploy_branch.is_empty();
            build_log(ctx, app, image, first);
            release_log(ctx, app, true);
        }
        Kind::Start => release_log(ctx, app, false),
        Kind::Restart => {}
    }
    let cid = ctx.new_container_id(&app.name);
    let c = short(&cid).to_string();
    let name = app.name.clone();
    ctx.info1(&format!("Deploying web (count={})", app.web_scale.max(1)));
    ctx.out("WARNING: IPv4 forwarding is disabled. Networking will not work.\n");
    ctx.verbose("Attempting pre-flight checks (web.1)");
    ctx.verbose(&format!("harness healthcheck: container {c} is running"));
    ctx.verbose("All checks successful (web.1)");
    if !ctx.quiet {
        ctx.info2(&format!("Start of {name} container output ({c} web.1)"));
        ctx.info2(&format!("End of {name} container output ({c} web.1)"));
    }
    if prev.is_some() {
        ctx.verbose("Scheduling old container shutdown in 60 seconds (web.1)");
    }
    ctx.info2("Triggering early nginx proxy rebuild");
    nginx_block(ctx, app);
    ctx.info1("Running post-deploy");
    nginx_block(ctx, app);
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
        let scheme = if app.ssl_enabled() { "https" } else { "http" };
        let mut domains = app.domains.clone();
        domains.sort();
        for d in &domains {
            ctx.verbose(&format!("{scheme}://{d}"));
        }
        ctx.out("\n");
    }
    app.container_id = cid;
    app.deployed = true;
    app.running = true;
}

/// `ps:restart` of a deployed app (also used by config changes).
pub fn restart_log(ctx: &mut Ctx, app: &mut App) {
    deploy(ctx, app, Kind::Restart);
}
