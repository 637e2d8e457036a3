//! Dokku's own nginx properties (`nginx:set APP KEY VALUE`) that roomctl
//! manages on its apps.
//!
//! Dokku's generated `nginx.conf` already carries these directives in every
//! `server {}` block (`client_max_body_size 1m;`, the `proxy_*` timeouts
//! and buffers in `location /`, …), so a snippet that sets one again makes
//! `nginx -t` fail with "directive is duplicate" on a real host. roomctl
//! therefore sets them through Dokku's properties, and uses its snippet
//! only for what Dokku has no property for.
//!
//! On roomctl's apps, every key of [`MANAGED`] is roomctl's while
//! `[platform.nginx]` exists: set to the desired value, or unset when none
//! is desired. `proxy-buffers` (a value with a space) is left out: Dokku's
//! forced SSH command splits arguments on whitespace.

use std::collections::BTreeMap;

/// The properties roomctl manages, with the grammar of their values.
pub const MANAGED: [(&str, Grammar); 11] = [
    ("client-body-timeout", Grammar::Duration),
    ("client-header-timeout", Grammar::Duration),
    ("client-max-body-size", Grammar::Size),
    ("keepalive-timeout", Grammar::Duration),
    ("proxy-buffer-size", Grammar::Size),
    ("proxy-buffering", Grammar::OnOff),
    ("proxy-busy-buffers-size", Grammar::Size),
    ("proxy-connect-timeout", Grammar::Duration),
    ("proxy-read-timeout", Grammar::Duration),
    ("proxy-send-timeout", Grammar::Duration),
    ("send-timeout", Grammar::Duration),
];

/// What a property's value may look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    /// An nginx size, see [`super::BodySize`].
    Size,
    /// An nginx time, see [`super::NginxDuration`].
    Duration,
    /// `on` or `off`.
    OnOff,
}

/// Desired (or observed) property values by Dokku key, e.g.
/// `client-max-body-size = "100M"`. Keys are those of [`MANAGED`];
/// values passed [`check`].
pub type NginxProperties = BTreeMap<String, String>;

/// Whether `key` is a property roomctl manages.
pub fn is_managed(key: &str) -> bool {
    MANAGED.iter().any(|(k, _)| *k == key)
}

/// Checks `value` for the managed property `key`; the error says why.
pub fn check(key: &str, value: &str) -> Result<(), String> {
    let Some((_, grammar)) = MANAGED.iter().find(|(k, _)| *k == key) else {
        let known: Vec<&str> = MANAGED.iter().map(|(k, _)| *k).collect();
        return Err(format!(
            "`{key}` is not an nginx property roomctl manages (known: {})",
            known.join(", ")
        ));
    };
    match grammar {
        Grammar::Size => super::BodySize::parse(value)
            .map(drop)
            .map_err(|e| e.to_string()),
        Grammar::Duration => super::NginxDuration::parse(value)
            .map(drop)
            .map_err(|e| e.to_string()),
        Grammar::OnOff if value == "on" || value == "off" => Ok(()),
        Grammar::OnOff => Err(format!("{value:?} must be \"on\" or \"off\"")),
    }
}

/// The app-level properties of one `nginx:report APP --format json` line:
/// the non-empty values of the managed keys (Dokku reports unset ones as
/// `""`, next to `computed-*` and `global-*` keys, which are ignored).
pub fn from_report(report: &BTreeMap<String, String>) -> NginxProperties {
    MANAGED
        .iter()
        .filter_map(|(k, _)| {
            report
                .get(*k)
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_the_grammar_of_their_key() {
        assert!(check("client-max-body-size", "100M").is_ok());
        assert!(check("proxy-read-timeout", "3600s").is_ok());
        assert!(check("proxy-buffering", "off").is_ok());
        for (k, v) in [
            ("client-max-body-size", "100 M"),
            ("proxy-read-timeout", "1h;"),
            ("proxy-buffering", "no"),
            ("proxy-buffers", "8 4k"),
            ("bogus-prop", "1"),
        ] {
            assert!(check(k, v).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn a_report_line_gives_only_the_app_level_managed_values() {
        // Shape of the recorded nginx:report (real-edge-cases/015).
        let report: BTreeMap<String, String> = [
            ("client-max-body-size", "100m"),
            ("computed-client-max-body-size", "100m"),
            ("global-client-max-body-size", ""),
            ("proxy-read-timeout", "3600s"),
            ("proxy-send-timeout", ""),
            ("access-log-path", "/x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            from_report(&report),
            NginxProperties::from([
                ("client-max-body-size".into(), "100m".into()),
                ("proxy-read-timeout".into(), "3600s".into()),
            ])
        );
    }
}
