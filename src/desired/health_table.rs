//! `[platform.health]` of `platform.toml`: the health checker's settings
//! ([`HealthSettings`]), every field optional, each checked with its
//! file, line and field named.

use super::error::Problems;
use super::files::{FileText, duration_value};
use crate::health::HealthSettings;
use serde::Deserialize;
use serde_spanned::Spanned;
use std::time::Duration;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    unhealthy_after: Option<Spanned<u32>>,
    restart_unhealthy: Option<bool>,
    backend_path: Option<Spanned<String>>,
    frontend_path: Option<Spanned<String>>,
    matrix_path: Option<Spanned<String>>,
    concurrency: Option<Spanned<usize>>,
    retention: Option<Spanned<String>>,
}

const MIN_INTERVAL: Duration = Duration::from_secs(10);
const MIN_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_CONCURRENCY: usize = 1024;

/// `[platform.health]`, defaults for what is absent.
pub(crate) fn health_settings(
    file: &FileText,
    p: &mut Problems,
    raw: &RawHealth,
) -> HealthSettings {
    let mut s = HealthSettings::default();
    let mut duration =
        |v: &Option<Spanned<String>>, name: &str, min: Duration, slot: &mut Duration| {
            let Some(v) = v else { return };
            let field = format!("platform.health.{name}");
            match duration_value(v.get_ref()) {
                Ok(d) if d >= min => *slot = d,
                Ok(_) => {
                    let m = format!("must be at least {}", humantime::format_duration(min));
                    p.push(file.problem(v, field, m));
                }
                Err(m) => p.push(file.problem(v, field, m)),
            }
        };
    duration(&raw.interval, "interval", MIN_INTERVAL, &mut s.interval);
    duration(
        &raw.timeout,
        "timeout",
        Duration::from_millis(1),
        &mut s.timeout,
    );
    duration(&raw.retention, "retention", MIN_RETENTION, &mut s.retention);
    if let Some(t) = &raw.timeout
        && s.timeout > s.interval
    {
        let m = format!(
            "must not be longer than interval ({})",
            humantime::format_duration(s.interval)
        );
        p.push(file.problem(t, "platform.health.timeout", m));
    }
    if let Some(n) = &raw.unhealthy_after {
        match *n.get_ref() {
            0 => p.push(file.problem(n, "platform.health.unhealthy_after", "must be at least 1")),
            n => s.unhealthy_after = n,
        }
    }
    if let Some(n) = &raw.concurrency {
        match *n.get_ref() {
            c @ 1..=MAX_CONCURRENCY => s.concurrency = c,
            _ => p.push(file.problem(
                n,
                "platform.health.concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            )),
        }
    }
    if let Some(r) = raw.restart_unhealthy {
        s.restart_unhealthy = r;
    }
    let paths = [
        (&raw.backend_path, "backend_path", &mut s.backend_path),
        (&raw.frontend_path, "frontend_path", &mut s.frontend_path),
        (&raw.matrix_path, "matrix_path", &mut s.matrix_path),
    ];
    for (v, name, slot) in paths {
        let Some(v) = v else { continue };
        let path = v.get_ref();
        let ok = path.starts_with('/')
            && path.len() <= 512
            && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        if ok {
            slot.clone_from(path);
        } else {
            let m = format!("{path:?} must be an absolute URL path such as \"/api/health\"");
            p.push(file.problem(v, format!("platform.health.{name}"), m));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::error::DesiredError;
    use super::super::files::load_platform;
    use super::*;

    const PLATFORM: &str = "[platform]\nbase_domain = \"mindroom.test\"\n\
        template = \"instance.toml.tera\"\ntls = \"off\"\ndefault_tier = \"free\"\nowner = \"test\"\n";

    /// Loads a `platform.toml` of [`PLATFORM`] plus `extra` (from line 7).
    fn load(extra: &str) -> Result<HealthSettings, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.toml");
        std::fs::write(&path, format!("{PLATFORM}{extra}")).unwrap();
        load_platform(&path, None)
            .map(|p| p.health)
            .map_err(|p| DesiredError::from_problems(p.0).unwrap().to_string())
    }

    #[test]
    fn an_absent_health_table_gives_the_defaults() {
        let s = load("").unwrap();
        assert_eq!(s, HealthSettings::default());
        assert_eq!(s.interval, Duration::from_secs(300));
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.unhealthy_after, 3);
        assert!(!s.restart_unhealthy);
        assert_eq!(
            (
                s.backend_path.as_str(),
                s.frontend_path.as_str(),
                s.matrix_path.as_str()
            ),
            ("/api/health", "/", "/_matrix/client/versions")
        );
        assert_eq!(
            (s.concurrency, s.retention),
            (16, Duration::from_secs(35 * 86400))
        );
    }

    #[test]
    fn the_commented_table_in_the_shipped_platform_toml_states_the_defaults() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let shipped = std::fs::read_to_string(repo.join("desired-state/platform.toml")).unwrap();
        let (_, table) = shipped.split_once("# [platform.health]\n").unwrap();
        let table: Vec<&str> = table.lines().map(|l| l.trim_start_matches("# ")).collect();
        let s = load(&format!("[platform.health]\n{}\n", table.join("\n"))).unwrap();
        assert_eq!(s, HealthSettings::default());
    }

    #[test]
    fn every_field_of_the_health_table_is_read() {
        let s = load(
            "\n[platform.health]\ninterval = \"1m\"\ntimeout = \"2s\"\nunhealthy_after = 5\n\
             restart_unhealthy = true\nbackend_path = \"/healthz\"\nfrontend_path = \"/login\"\n\
             matrix_path = \"/_matrix/client/v3/versions\"\nconcurrency = 4\nretention = \"60d\"\n",
        )
        .unwrap();
        let want = HealthSettings {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
            unhealthy_after: 5,
            restart_unhealthy: true,
            backend_path: "/healthz".into(),
            frontend_path: "/login".into(),
            matrix_path: "/_matrix/client/v3/versions".into(),
            concurrency: 4,
            retention: Duration::from_secs(60 * 86400),
        };
        assert_eq!(s, want);
    }

    #[test]
    fn bad_health_values_name_the_file_line_and_field() {
        let e = load(
            "\n[platform.health]\ninterval = \"soon\"\ntimeout = \"0s\"\nunhealthy_after = 0\n\
             backend_path = \"api/health\"\nconcurrency = 0\nretention = \"7d\"\n\
             matrix_path = \"/_matrix/client versions\"\n",
        )
        .unwrap_err();
        for want in [
            "platform.toml:9:12: field `platform.health.interval`: \"soon\" is not a duration",
            "platform.toml:10:11: field `platform.health.timeout`: must be at least 1ms",
            "platform.toml:11:19: field `platform.health.unhealthy_after`: must be at least 1",
            "platform.toml:12:16: field `platform.health.backend_path`: \"api/health\" must be an absolute URL path",
            "platform.toml:13:15: field `platform.health.concurrency`: must be between 1 and 1024",
            "platform.toml:14:13: field `platform.health.retention`: must be at least 30days",
            "platform.toml:15:15: field `platform.health.matrix_path`:",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        assert!(e.starts_with("7 problems"), "{e}");
    }

    #[test]
    fn a_timeout_longer_than_the_interval_is_refused_at_the_timeout() {
        let e = load("[platform.health]\ninterval = \"10s\"\ntimeout = \"30s\"\n").unwrap_err();
        assert!(
            e.contains(
                "platform.toml:9:11: field `platform.health.timeout`: \
                 must not be longer than interval (10s)"
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_and_wrong_types_in_the_health_table_are_named() {
        let e = load("[platform.health]\nrestart = true\n").unwrap_err();
        assert!(
            e.contains(
                "platform.toml:8:1: field `platform.health.restart`: unknown field `restart`"
            ),
            "{e}"
        );
        let e = load("[platform.health]\nunhealthy_after = -1\n").unwrap_err();
        assert!(
            e.contains("platform.toml:8:19: field `platform.health.unhealthy_after`"),
            "{e}"
        );
        let e = load("[platform.health]\nrestart_unhealthy = \"yes\"\n").unwrap_err();
        assert!(
            e.contains("field `platform.health.restart_unhealthy`"),
            "{e}"
        );
    }
}
