//! Per-app nginx snippets: rendered from `templates/nginx/*.conf.tera`,
//! checked by the real `nginx -t` before they reach a host.
//!
//! Dokku's default `nginx.conf.sigil` includes
//! `$DOKKU_ROOT/$APP/nginx.conf.d/*.conf` inside each of the app's
//! `server {}` blocks (the plain-HTTP one, the HTTPS one and, when TLS is
//! on, the port-80 block that only redirects). A snippet is therefore
//! server-block context: directives and `location`s, never `server`,
//! `upstream` or `map`, and never `location /`, which Dokku already
//! defines. Dokku writes its own `hsts.conf` there, so roomctl's file is
//! [`SNIPPET_FILE`].
//!
//! - [`render`]: [`SnippetInputs`] (validated values only) through the three
//!   role templates into [`NginxSnippet`]s with a content digest.
//! - [`validate`]: [`nginx_test`] wraps snippets in a minimal complete
//!   configuration in a temporary directory and runs `nginx -t` on it.
//! - [`properties`]: Dokku's own `nginx:set` properties that roomctl sets
//!   instead of repeating a directive Dokku already writes.
//! - Here: [`NginxSnippet`], [`NginxError`] and the value types the
//!   templates may see besides names ([`BodySize`], [`NginxDuration`],
//!   [`LocationPath`]), each refusing anything but its own small grammar.
//!
//! No customer-controlled string reaches a template: every value is a
//! validated newtype whose alphabet holds no `;`, braces, quotes, `$`,
//! `#`, whitespace or newlines, and every string in the template context
//! is checked against that alphabet again before rendering.

pub mod properties;
pub mod render;
pub mod validate;

pub use render::{SnippetInputs, SnippetTemplates, render_snippets};
pub use validate::{find_nginx, nginx_test, validate_snippets};

use crate::domain::{AppName, NameError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::PathBuf;

/// The file name roomctl owns in each app's `nginx.conf.d/`.
pub const SNIPPET_FILE: &str = "roomctl.conf";

/// One rendered snippet, destined for
/// `/home/dokku/{app}/nginx.conf.d/{file}` on the app's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxSnippet {
    /// The Dokku app whose `server {}` blocks include it.
    pub app: AppName,
    /// The file name under `nginx.conf.d/` ([`SNIPPET_FILE`]).
    pub file: String,
    /// The snippet text.
    pub content: String,
    /// Lowercase hex SHA-256 of `content`, to compare with what a host
    /// has (drift detection) without shipping the text around.
    pub digest: String,
}

impl NginxSnippet {
    /// A snippet for `app` in [`SNIPPET_FILE`], with its digest computed.
    pub fn new(app: AppName, content: String) -> Self {
        Self {
            app,
            file: SNIPPET_FILE.to_string(),
            digest: digest(&content),
            content,
        }
    }

    /// Where Dokku reads it, under the default `DOKKU_ROOT` (`/home/dokku`).
    pub fn remote_path(&self) -> String {
        format!("/home/dokku/{}/nginx.conf.d/{}", self.app, self.file)
    }
}

/// Lowercase hex SHA-256 of `content`, as in [`NginxSnippet::digest`].
pub fn digest(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Why snippets could not be rendered or were refused.
#[derive(Debug, thiserror::Error)]
pub enum NginxError {
    /// A template failed to compile or render, or its output or context
    /// broke a rule (e.g. a value outside the safe alphabet).
    #[error("nginx template {}: {message}", template.display())]
    Template {
        /// The template file.
        template: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// `nginx -t` rejected the configuration.
    #[error("nginx -t rejected the snippet{}: {nginx_stderr}", app.as_ref().map(|a| format!(" for {a}")).unwrap_or_default())]
    Invalid {
        /// The app whose snippet failed, when it can be told.
        app: Option<AppName>,
        /// What nginx printed (its `[emerg]` line and the verdict).
        nginx_stderr: String,
    },
    /// No nginx binary to test with.
    #[error("cannot test nginx configuration: {0}")]
    Missing(String),
    /// Reading a template or preparing the test directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn refuse(kind: &'static str, value: &str, reason: &'static str) -> NameError {
    NameError {
        kind,
        value: value.to_string(),
        reason,
    }
}

/// `digits` (1 to `max` of them) followed by one of `suffixes` (or none).
fn digits_then(s: &str, max: usize, suffixes: &[&str]) -> bool {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    (1..=max).contains(&n) && (n == s.len() || suffixes.contains(&&s[n..]))
}

/// A `client_max_body_size` value: 1 to 5 digits and an optional unit
/// (`k`, `m`, `g`, either case), i.e. `^[0-9]{1,5}[kKmMgG]?$`. `0` means
/// no limit, as in nginx.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct BodySize(String);

impl BodySize {
    /// Parses a size such as `100M`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if !digits_then(s, 5, &["k", "K", "m", "M", "g", "G"]) {
            return Err(refuse("body size", s, "must match ^[0-9]{1,5}[kKmMgG]?$"));
        }
        Ok(Self(s.to_string()))
    }
    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An nginx time for `proxy_*_timeout`: 1 to 5 digits and an optional
/// unit (`ms`, `s`, `m`, `h`, `d`), not zero, e.g. `600s`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NginxDuration(String);

impl NginxDuration {
    /// Parses a duration such as `600s`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if !digits_then(s, 5, &["ms", "s", "m", "h", "d"]) {
            return Err(refuse(
                "duration",
                s,
                "must match ^[0-9]{1,5}(ms|s|m|h|d)?$",
            ));
        }
        if s.bytes().take_while(u8::is_ascii_digit).all(|b| b == b'0') {
            return Err(refuse("duration", s, "must not be zero"));
        }
        Ok(Self(s.to_string()))
    }
    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL path prefix for a `location ^~` block: `/` followed by 1 to 127
/// of `A-Z a-z 0-9 . _ / -`. A bare `/` is refused: Dokku owns
/// `location /`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct LocationPath(String);

impl LocationPath {
    /// Parses a path such as `/ws`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let Some(rest) = s.strip_prefix('/') else {
            return Err(refuse("location path", s, "must start with '/'"));
        };
        if rest.is_empty() || rest.len() > 127 {
            return Err(refuse(
                "location path",
                s,
                "needs 1 to 127 characters after '/'",
            ));
        }
        if !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
        {
            return Err(refuse(
                "location path",
                s,
                "may contain only A-Z a-z 0-9 . _ / -",
            ));
        }
        Ok(Self(s.to_string()))
    }
    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! display {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
display!(BodySize, NginxDuration, LocationPath);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_values_refuse_syntax() {
        for ok in ["0", "100M", "20m", "99999k", "1g"] {
            assert!(BodySize::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "M",
            "100MB",
            "123456",
            "1M;",
            "1M; return 200",
            "1 M",
            "-1",
        ] {
            assert!(BodySize::parse(bad).is_err(), "{bad:?}");
        }
        for ok in ["600s", "600", "500ms", "2h", "1d"] {
            assert!(NginxDuration::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "0", "00s", "600s;", "6 s", "1w", "600sec", "s"] {
            assert!(NginxDuration::parse(bad).is_err(), "{bad:?}");
        }
        for ok in ["/ws", "/api/v1/ws", "/a.b_c-d/"] {
            assert!(LocationPath::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/", "ws", "/ws {", "/ws;", "/a b", "/$x", "/~x", "/a\"b",
        ] {
            assert!(LocationPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
