//! `ports:*` and `proxy:report`. Mappings are `scheme:host:container` strings
//! (the `ports/map` list, kept sorted). The "detected" map is `SCHEME:P:P`
//! for a deployed app whose image exposes port P (https when the app has a
//! certificate), else `http:PROXY_PORT:5000` (the proxy port, 80 when
//! unset), as recorded (`docker-notty/`, `disk-layout/i01-backend`,
//! `differential/038`).
//!
//! Maps are parsed as Dokku's ports plugin parses them (`differential/042`
//! to `045`): `scheme:host:container` with ports 1 to 65535 and any
//! scheme, or a bare host port (only `ports:remove` takes one: every map
//! on that port). `ports:set` and `ports:add` refuse a list that uses one
//! `scheme:host-port` twice (`036`, `145`, `146`); the map is kept sorted
//! (`037`); `ports:remove` takes maps or host ports (`039`, `040`).

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

/// Parse a stored `scheme:host:container`.
pub fn parse_map(m: &str) -> Option<(String, u32, u32)> {
    match parse_go(m) {
        Ok(Parsed::Map(s, h, c)) => Some((s, h, c)),
        _ => None,
    }
}

/// One argument of `ports:*`, as Dokku's ports plugin reads it.
enum Parsed {
    Map(String, u32, u32),
    /// A bare host port.
    Port(u32),
}

/// Go's `strconv.Atoi` error text for `s`.
fn atoi(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    match s.parse::<i64>() {
        Ok(n) => Ok(u32::try_from(n.clamp(0, i64::from(u32::MAX))).unwrap_or(0)),
        Err(_) => Err(format!("strconv.Atoi: parsing {s:?}: value out of range")),
    }
}

/// Parse one port map the way Dokku's ports plugin does; `Err` is its
/// message ("Invalid port map … […]").
fn parse_go(m: &str) -> Result<Parsed, String> {
    let bad = |why: String| format!("Invalid port map {m} [{why}]");
    let valid = |p: u32| (1..=65535).contains(&p);
    let parts: Vec<&str> = m.splitn(3, ':').collect();
    if let [one] = parts[..] {
        let port = atoi(one).map_err(|e| bad(format!("err={e}")))?;
        if !valid(port) {
            return Err(bad(format!("hostPort={port}")));
        }
        return Ok(Parsed::Port(port));
    }
    let [scheme, host, container] = parts[..] else {
        return Err(bad(format!("len={}", parts.len())));
    };
    let host = atoi(host).map_err(|e| bad(format!("err={e}")))?;
    let container = atoi(container).map_err(|e| bad(format!("err={e}")))?;
    if !valid(host) {
        return Err(bad(format!("hostPort={host}")));
    }
    if !valid(container) {
        return Err(bad(format!("containerPort={container}")));
    }
    Ok(Parsed::Map(scheme.to_string(), host, container))
}

/// The first `scheme:host-port` used twice in `maps`, if any.
fn reused(maps: &[String]) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    maps.iter()
        .filter_map(|m| parse_map(m))
        .map(|(s, h, _)| format!("{s}:{h}"))
        .find(|k| !seen.insert(k.clone()))
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
    let mut parsed = Vec::new();
    for m in maps {
        match parse_go(m) {
            // A bare port is only `ports:remove`'s; elsewhere it is refused
            // (not recorded: Dokku's message for it is unknown).
            Ok(Parsed::Port(_)) if sub != "ports:remove" => {
                ctx.warn(&format!("Invalid port map {m} [len=1]"));
                return 1;
            }
            Ok(p) => parsed.push(p),
            Err(msg) => {
                ctx.warn(&msg);
                return 1;
            }
        }
    }
    let _lock = match state::lock(&ctx.root, app) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let mut a = match ctx.load(app) {
        Ok(a) => a,
        Err(c) => return c,
    };
    match sub {
        "ports:remove" => {
            a.ports.retain(|m| {
                let Some((_, host, _)) = parse_map(m) else {
                    return true;
                };
                !parsed.iter().any(|p| match p {
                    Parsed::Port(port) => *port == host,
                    Parsed::Map(..) => maps.contains(m),
                })
            });
        }
        "ports:add" => {
            let mut all = a.ports.clone();
            all.extend(maps.iter().cloned());
            if let Some(k) = reused(&all) {
                ctx.warn(&format!(
                    "Error validating all port mappings: The same scheme:host-port is being reused: {k}"
                ));
                return 1;
            }
            a.ports = all;
        }
        _ => {
            if let Some(k) = reused(maps) {
                ctx.warn(&format!(
                    "Error validating port mappings: The same scheme:host-port is being reused: {k}"
                ));
                return 1;
            }
            a.ports = maps.to_vec();
        }
    }
    a.ports.sort();
    a.ports.dedup();
    if let Err(e) = state::save(&ctx.root, &a) {
        return io_fail(ctx, e);
    }
    ctx.nginx_rebuild(&a);
    0
}
