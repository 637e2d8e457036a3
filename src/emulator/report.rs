//! The `X:report` machinery shared by all plugins, Go-compatible JSON encoding and
//! small argument helpers.
//!
//! Text reports print `=====> NAME TITLE information` (dropped by `--quiet`), then
//! one 7-space indented line per flag, the label padded to
//! `max(30, longest label)` plus one space. JSON reports are one flat object with
//! sorted keys; plugins differ in whether the prefixed flag names are included.

use std::collections::BTreeMap;

use super::io::Ctx;

/// How a plugin names its JSON keys.
#[derive(Clone, Copy, PartialEq)]
pub enum JsonKeys {
    /// Both `prefix-key` and `key` (apps, ps, ports, proxy, storage, resource).
    Both,
    /// Only the unprefixed `key` (domains, git).
    Stripped,
}

/// How one plugin's report looks.
pub struct Spec {
    /// Flag prefix, e.g. `app`, `ps`, `domains`.
    pub prefix: &'static str,
    /// Title word in the header, e.g. `app`, `ps`, `domains`.
    pub title: &'static str,
    pub json: JsonKeys,
    /// Upper-case the first letter of labels (all but `resource`).
    pub uppercase: bool,
}

/// Encode a string as Go's `encoding/json` does (HTML-safe escaping).
pub fn go_json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '<' => o.push_str("\\u003c"),
            '>' => o.push_str("\\u003e"),
            '&' => o.push_str("\\u0026"),
            '\u{2028}' => o.push_str("\\u2028"),
            '\u{2029}' => o.push_str("\\u2029"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A flat JSON object of strings with keys in the given order.
pub fn json_object<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let body: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{}:{}", go_json_str(k), go_json_str(v)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Human label of a flag key: `ps-can-scale` -> `Ps can scale`.
pub fn label(key: &str, uppercase: bool) -> String {
    let s: String = key
        .chars()
        .map(|c| if c == '-' || c == '.' { ' ' } else { c })
        .collect();
    if !uppercase {
        return s;
    }
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().collect::<String>() + cs.as_str(),
        None => s,
    }
}

/// Print padded `Label: value` lines.
pub fn print_lines(ctx: &mut Ctx, lines: &[(String, String)]) {
    let width = lines
        .iter()
        .map(|(l, _)| l.len() + 1)
        .max()
        .unwrap_or(0)
        .max(30);
    for (l, v) in lines {
        ctx.verbose(&format!("{:<width$} {v}", format!("{l}:")));
    }
}

/// The JSON object for one app's entries.
pub fn to_json(spec: &Spec, entries: &[(String, String)]) -> String {
    let mut map: BTreeMap<&str, &str> = BTreeMap::new();
    let pre = format!("{}-", spec.prefix);
    for (k, v) in entries {
        match k.strip_prefix(&pre) {
            Some(stripped) => {
                map.insert(stripped, v);
                if spec.json == JsonKeys::Both {
                    map.insert(k, v);
                }
            }
            None => {
                map.insert(k, v);
            }
        }
    }
    json_object(map)
}

/// Print one app's report in the requested format, or one flag's value.
pub fn emit(
    ctx: &mut Ctx,
    spec: &Spec,
    name: &str,
    mut entries: Vec<(String, String)>,
    format: &str,
    flag: Option<&str>,
) -> i32 {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(flag) = flag {
        let key = flag.trim_start_matches("--");
        if let Some((_, v)) = entries.iter().find(|(k, _)| k == key) {
            let v = v.clone();
            ctx.out(&format!("{v}\n"));
            return 0;
        }
        let valid: Vec<String> = entries
            .iter()
            .filter(|(k, _)| !k.starts_with("status-"))
            .map(|(k, _)| format!("--{k}"))
            .collect();
        ctx.warn(&format!(
            "Invalid flag passed, valid flags: {}",
            valid.join(", ")
        ));
        return 1;
    }
    if format == "json" {
        let j = to_json(spec, &entries);
        ctx.out(&format!("{j}\n"));
        return 0;
    }
    if !ctx.quiet {
        ctx.info2(&format!("{name} {} information", spec.title));
    }
    let lines: Vec<(String, String)> = entries
        .iter()
        .map(|(k, v)| (label(k, spec.uppercase), v.clone()))
        .collect();
    print_lines(ctx, &lines);
    0
}

/// Parsed `X:report` arguments.
pub struct ReportArgs {
    pub app: Option<String>,
    pub format: String,
    pub flag: Option<String>,
    pub global: bool,
    /// More than one info flag was given.
    pub extra_flags: bool,
}

/// Error text and code for a bad `--format` value.
pub fn bad_format(ctx: &mut Ctx, value: &str) -> i32 {
    ctx.warn(&format!("Invalid --format value specified: {value}"));
    1
}

/// Parse `[APP|--global] [--format F] [--flag]`.
pub fn parse_report_args(args: &[String]) -> ReportArgs {
    let mut r = ReportArgs {
        app: None,
        format: "stdout".into(),
        flag: None,
        global: false,
        extra_flags: false,
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--format" {
            r.format = args.get(i + 1).cloned().unwrap_or_default();
            i += 1;
        } else if let Some(f) = a.strip_prefix("--format=") {
            r.format = f.to_string();
        } else if a == "--global" && r.app.is_none() {
            r.global = true;
        } else if a.starts_with("--") {
            if r.flag.is_none() {
                r.flag = Some(a.clone());
            } else {
                r.extra_flags = true;
            }
        } else if r.app.is_none() {
            r.app = Some(a.clone());
        }
        i += 1;
    }
    r
}

/// Remove `--format X` / `--format=X` from args; returns the format if present.
pub fn take_format(args: &[String]) -> (Option<String>, Vec<String>) {
    let mut fmt = None;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--format" {
            fmt = Some(args.get(i + 1).cloned().unwrap_or_default());
            i += 2;
            continue;
        }
        if let Some(f) = args[i].strip_prefix("--format=") {
            fmt = Some(f.to_string());
        } else {
            rest.push(args[i].clone());
        }
        i += 1;
    }
    (fmt, rest)
}

/// Builds one app's report entries.
pub type EntriesFn = dyn Fn(&Ctx, &super::state::App) -> Vec<(String, String)>;

/// Shared driver: single app or all apps, text or JSON.
pub fn run_report(ctx: &mut Ctx, spec: &Spec, args: &[String], entries: &EntriesFn) -> i32 {
    let r = parse_report_args(args);
    if r.format != "stdout" && r.format != "json" {
        return bad_format(ctx, &r.format);
    }
    // A second info flag (`--quiet` after `--ports-map`): Dokku prints
    // nothing and exits 0 (differential/106, 107).
    if r.extra_flags && r.app.is_some() {
        return 0;
    }
    match &r.app {
        Some(app) => {
            let a = match ctx.load(app) {
                Ok(a) => a,
                Err(code) => return code,
            };
            let e = entries(ctx, &a);
            emit(ctx, spec, app, e, &r.format, r.flag.as_deref())
        }
        None => {
            let apps = super::state::load_all(&ctx.root);
            if apps.is_empty() {
                ctx.warn("You haven't deployed any applications yet");
                return 0;
            }
            for a in &apps {
                let e = entries(ctx, a);
                let code = emit(ctx, spec, &a.name, e, &r.format, r.flag.as_deref());
                if code != 0 {
                    return code;
                }
            }
            0
        }
    }
}

/// Build an owned entry list from string pairs.
pub fn entries(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}
