//! `ports:*` and `proxy:report`. Mappings are `scheme:host:container` strings
//! (the `ports/map` list). The "detected" map is `SCHEME:P:P` for a deployed
//! app whose image exposes port P (https when the app has a certificate),
//! else `http:PROXY_PORT:5000` (the proxy port, 80 when unset), as recorded
//! (`docker-notty/`, `disk-layout/i01-backend`, `differential/038`).

use super::cmd_apps::{io_fail, no_app};
use super::io::Ctx;
use super::report::{self, JsonKeys, Spec};
use super::state::{self, App};

const PORTS: Spec = Spec {
    prefix: "ports",
    title: "ports",
    json: JsonKeys::Both,
    uppercase: true,
};
const PROXY: Spec = Spec {
    prefix: "proxy",
    title: "proxy",
    json: JsonKeys::Both,
    uppercase: true,
};

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "ports:report" => report::run_report(ctx, &PORTS, args, &ports_entries),
        "proxy:report" => report::run_report(ctx, &PROXY, args, &proxy_entries),
        "ports:list" => list(ctx, args),
        _ => modify(ctx, sub, args),
    }
}

/// Parse `scheme:host:container`.
pub fn parse_map(m: &str) -> Option<(String, u32, u32)> {
    let mut it = m.split(':');
    let (s, h, c) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || !matches!(s, "http" | "https" | "tcp" | "udp" | "grpc" | "grpcs") {
        return None;
    }
    Some((s.to_string(), h.parse().ok()?, c.parse().ok()?))
}

fn maps_json(maps: &[(String, u32, u32)]) -> String {
    if maps.is_empty() {
        return "null".into();
    }
    let items: Vec<String> = maps
        .iter()
        .map(|(s, h, c)| format!("{{\"container_port\":{c},\"host_port\":{h},\"scheme\":\"{s}\"}}"))
        .collect();
    format!("[{}]", items.join(","))
}

/// The detected port map of the app (see the module docs).
pub fn detected(root: &std::path::Path, a: &App) -> String {
    match (a.deployed, state::docker::image_exposed(root, &a.name)) {
        (true, Some(p)) => {
            let scheme = if a.ssl_enabled() { "https" } else { "http" };
            format!("{scheme}:{p}:{p}")
        }
        _ => {
            let port = if a.proxy_port.is_empty() {
                "80"
            } else {
                &a.proxy_port
            };
            format!("http:{port}:5000")
        }
    }
}

fn ports_entries(ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let maps: Vec<(String, u32, u32)> = a.ports.iter().filter_map(|m| parse_map(m)).collect();
    let detected = parse_map(&detected(&ctx.root, a)).unwrap_or(("http".into(), 80, 5000));
    report::entries(&[
        ("ports-map", a.ports.join(" ")),
        (
            "ports-map-detected",
            format!("{}:{}:{}", detected.0, detected.1, detected.2),
        ),
        (
            "ports-map-detected-json",
            maps_json(std::slice::from_ref(&detected)),
        ),
        ("ports-map-json", maps_json(&maps)),
    ])
}

fn proxy_entries(_ctx: &Ctx, a: &App) -> Vec<(String, String)> {
    let ssl = if a.ssl_enabled() { "443" } else { "" };
    report::entries(&[
        ("proxy-computed-disabled", "false".into()),
        ("proxy-computed-proxy-port", "80".into()),
        ("proxy-computed-proxy-ssl-port", ssl.into()),
        ("proxy-computed-type", "nginx".into()),
        ("proxy-disabled", String::new()),
        ("proxy-enabled", "true".into()),
        ("proxy-global-proxy-port", String::new()),
        ("proxy-global-proxy-ssl-port", String::new()),
        ("proxy-global-type", String::new()),
        ("proxy-proxy-port", "80".into()),
        ("proxy-proxy-ssl-port", ssl.into()),
        ("proxy-type", String::new()),
    ])
}

fn list(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return no_app(ctx);
    };
    let a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    if a.ports.is_empty() {
        ctx.warn(&format!("No port mappings configured for {app}"));
        return 0;
    }
    if !ctx.quiet {
        ctx.info1(&format!("Port mappings for {app}"));
        ctx.out("    -----> scheme  host port  container port\n");
    }
    for (s, h, c) in a.ports.iter().filter_map(|m| parse_map(m)) {
        let line = if ctx.quiet {
            format!("    {s}  {h}  {c}\n")
        } else {
            format!("    {s:<15}{h:<11}{c}\n")
        };
        ctx.out(&line);
    }
    0
}

fn modify(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let Some(app) = args.first() else {
        return no_app(ctx);
    };
    let maps = &args[1..];
    if maps.is_empty() && sub != "ports:clear" {
        ctx.warn("No port mapping specified");
        return 1;
    }
    if let Some(bad) = maps.iter().find(|m| parse_map(m).is_none()) {
        ctx.warn(&format!("Invalid port mapping specified: {bad}"));
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
    if sub != "ports:add" {
        a.ports.clear();
    }
    for m in maps {
        if !a.ports.contains(m) {
            a.ports.push(m.clone());
        }
    }
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    ctx.nginx_rebuild(&a);
    0
}
