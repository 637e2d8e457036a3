//! Parsers for what Dokku 0.38 prints, checked against the recordings in
//! `tests/fixtures/dokku-transcripts/`.
//!
//! Every parser is strict: output that does not have the recorded shape is
//! an error, never an empty result, so a garbled read makes a host unknown
//! instead of looking like a host without apps.

use crate::domain::{Cpu, Limits, MemoryMb, Mount, PortMapping};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Output that did not have the shape Dokku prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected output from {command}: {detail}")]
pub struct ParseError {
    /// The command whose output failed to parse.
    pub command: &'static str,
    /// What was wrong (never includes env values).
    pub detail: String,
}

fn perr(command: &'static str, detail: impl Into<String>) -> ParseError {
    ParseError {
        command,
        detail: detail.into(),
    }
}

/// `apps:list --format json`: a JSON array of app names.
pub fn apps_list(stdout: &str) -> Result<Vec<String>, ParseError> {
    serde_json::from_str::<Vec<String>>(stdout.trim()).map_err(|e| perr("apps:list", e.to_string()))
}

/// A bulk `X:report --format json`: one flat JSON object per line, one line
/// per app, in `apps:list` order. The line count must equal `expected`.
pub fn json_lines(
    command: &'static str,
    stdout: &str,
    expected: usize,
) -> Result<Vec<Map<String, Value>>, ParseError> {
    let objs: Vec<Map<String, Value>> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Map<String, Value>>(l)
                .map_err(|e| perr(command, format!("line is not a JSON object: {e}")))
        })
        .collect::<Result<_, _>>()?;
    if objs.len() != expected {
        return Err(perr(
            command,
            format!(
                "{} lines for {expected} apps (apps changed during the read?)",
                objs.len()
            ),
        ));
    }
    Ok(objs)
}

/// A single-app `X:report APP --format json`: one flat JSON object of
/// strings.
pub fn json_object(
    command: &'static str,
    stdout: &str,
) -> Result<std::collections::BTreeMap<String, String>, ParseError> {
    serde_json::from_str(stdout.trim())
        .map_err(|e| perr(command, format!("not a JSON object of strings: {e}")))
}

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// From one `apps:report --format json` line: the app's name (from `dir`,
/// `/home/dokku/APP`) and the deployed image, if it was deployed from one.
pub fn apps_report_line(obj: &Map<String, Value>) -> Result<(String, Option<String>), ParseError> {
    let dir = field(obj, "dir").ok_or_else(|| perr("apps:report", "no dir field"))?;
    let name = dir.rsplit('/').next().unwrap_or_default().to_string();
    let image = match (
        field(obj, "deploy-source"),
        field(obj, "deploy-source-metadata"),
    ) {
        (Some("docker-image"), Some(img)) if !img.is_empty() => Some(img.to_string()),
        _ => None,
    };
    Ok((name, image))
}

/// From one `resource:report --format json` line: the `_default_` limits.
pub fn resource_report_line(obj: &Map<String, Value>) -> Result<Limits, ParseError> {
    let memory = match field(obj, "_default_.limit.memory") {
        None | Some("") => None,
        Some(m) => Some(MemoryMb::parse(m).map_err(|e| perr("resource:report", e.to_string()))?),
    };
    let cpu = match field(obj, "_default_.limit.cpu") {
        None | Some("") => None,
        Some(c) => Some(Cpu::parse(c).map_err(|e| perr("resource:report", e.to_string()))?),
    };
    Ok(Limits { memory, cpu })
}

/// `config:export --format json APP`: the app's env, values as stored.
pub fn config_export(stdout: &str) -> Result<BTreeMap<String, String>, ParseError> {
    serde_json::from_str(stdout.trim()).map_err(|e| {
        perr(
            "config:export",
            format!("not a JSON object of strings: {}", e.classify_name()),
        )
    })
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}
impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "wrong shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// `domains:report APP --domains-app-vhosts`: space-separated domains.
pub fn vhosts(stdout: &str) -> Result<BTreeSet<String>, ParseError> {
    let line = single_line("domains:report", stdout)?;
    Ok(line.split_whitespace().map(str::to_string).collect())
}

/// `ports:report APP --ports-map`: space-separated `scheme:host:container`.
pub fn ports_map(stdout: &str) -> Result<BTreeSet<PortMapping>, ParseError> {
    let line = single_line("ports:report", stdout)?;
    line.split_whitespace()
        .map(|p| PortMapping::parse(p).map_err(|e| perr("ports:report", e.to_string())))
        .collect()
}

/// `storage:list APP --format json`: the app's bind mounts.
pub fn storage_list(stdout: &str) -> Result<BTreeSet<Mount>, ParseError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        host_path: String,
        container_path: String,
    }
    let entries: Vec<Entry> =
        serde_json::from_str(stdout.trim()).map_err(|e| perr("storage:list", e.to_string()))?;
    entries
        .into_iter()
        .map(|e| {
            Mount::new(&e.host_path, &e.container_path)
                .map_err(|e| perr("storage:list", e.to_string()))
        })
        .collect()
}

/// `ps:report APP --running`: `true` or `false`.
pub fn ps_running(stdout: &str) -> Result<bool, ParseError> {
    match single_line("ps:report", stdout)? {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(perr(
            "ps:report",
            format!(
                "expected true or false, got {:?}",
                other.chars().take(40).collect::<String>()
            ),
        )),
    }
}

fn single_line<'a>(command: &'static str, stdout: &'a str) -> Result<&'a str, ParseError> {
    let trimmed = stdout.strip_suffix('\n').unwrap_or(stdout);
    if trimmed.contains('\n') {
        return Err(perr(command, "expected a single line"));
    }
    Ok(trimmed.trim())
}

/// `letsencrypt:list`: app name → certificate expiry as a Unix time (UTC).
/// The header line (`-----> App name …`) is optional, as with `--quiet`.
pub fn letsencrypt_list(stdout: &str) -> Result<BTreeMap<String, i64>, ParseError> {
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        if line.starts_with("-----> ") || line.trim().is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(app), Some(date), Some(time)) = (words.next(), words.next(), words.next()) else {
            return Err(perr("letsencrypt:list", "row without app, date and time"));
        };
        let at = parse_utc(date, time)
            .ok_or_else(|| perr("letsencrypt:list", format!("bad expiry {date} {time}")))?;
        out.insert(app.to_string(), at);
    }
    Ok(out)
}

/// `roomctl:nginx-report`: app name → digest of its roomctl snippet, or
/// `None` for `APP -`. Every line must be `APP HEX64` or `APP -`.
pub fn nginx_report(stdout: &str) -> Result<BTreeMap<String, Option<String>>, ParseError> {
    let mut out = BTreeMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || perr("roomctl:nginx-report", format!("unexpected line {line:?}"));
        let (app, digest) = line.trim().split_once(' ').ok_or_else(bad)?;
        let digest = match digest {
            "-" => None,
            d if d.len() == 64
                && d.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Some(d.to_string())
            }
            _ => return Err(bad()),
        };
        out.insert(app.to_string(), digest);
    }
    Ok(out)
}

/// Parses `YYYY-MM-DD` and `HH:MM:SS` (UTC) into Unix seconds.
fn parse_utc(date: &str, time: &str) -> Option<i64> {
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, day], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    if !(1..=12).contains(m) || !(1..=31).contains(day) || *hh > 23 || *mm > 59 || *ss > 60 {
        return None;
    }
    Some(days_from_civil(*y, *m, *day) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
