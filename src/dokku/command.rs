//! Command lines for Dokku's forced SSH command.
//!
//! Dokku reads the SSH command string itself: `config:*` commands are split
//! by `xargs` (which honours quotes and backslashes), everything else by
//! plain whitespace with globbing off. No quoting scheme is right for both,
//! so roomctl never quotes: every token is checked against a small safe
//! alphabet, and env values, which may hold anything, travel base64-encoded
//! through `config:set --encoded`. A customer-controlled value therefore
//! cannot add a token, a quote or a shell metacharacter to the line.

use crate::domain::{AppName, EnvKey, EnvValue, Fqdn, ImageRef, Limits, Mount, PortMapping};
use base64::Engine;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A token that failed the safe-alphabet check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to send {shown:?} to a remote shell: only A-Z a-z 0-9 and . _ : / @ = + , % - are allowed"
)]
pub struct TokenError {
    shown: String,
}

/// One command-line word from the safe alphabet `[A-Za-z0-9._:/@=+,%-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Checks `s` against the safe alphabet.
    pub fn new(s: &str) -> Result<Self, TokenError> {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:/@=+,%-".contains(&b));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(TokenError {
                shown: s.chars().take(64).collect(),
            })
        }
    }
    fn trusted(s: impl Into<String>) -> Self {
        let s = s.into();
        debug_assert!(Token::new(&s).is_ok(), "internal token {s:?} is unsafe");
        Self(s)
    }
}

/// A whole Dokku command line: the subcommand and its tokens.
///
/// [`CommandLine::wire`] is what is sent; [`CommandLine::shown`] is the same
/// line with sensitive values replaced by `(sensitive)`, for logs and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    global: Vec<Token>,
    subcommand: String,
    args: Vec<Token>,
    shown_args: Vec<String>,
}

impl CommandLine {
    fn new(subcommand: &str) -> Self {
        Self {
            global: vec![],
            subcommand: subcommand.to_string(),
            args: vec![],
            shown_args: vec![],
        }
    }
    fn arg(mut self, t: impl AsRef<str>) -> Self {
        let t = Token::trusted(t.as_ref());
        self.shown_args.push(t.0.clone());
        self.args.push(t);
        self
    }
    fn masked_arg(mut self, t: Token, shown: String) -> Self {
        self.args.push(t);
        self.shown_args.push(shown);
        self
    }
    fn global(mut self, flag: &str) -> Self {
        self.global.push(Token::trusted(flag));
        self
    }

    /// Builds an arbitrary command from raw words, each checked against the
    /// safe alphabet. For tests and operator tooling; roomctl's own
    /// commands use the typed constructors below.
    pub fn raw(words: &[&str]) -> Result<Self, TokenError> {
        let (sub, rest) = words.split_first().ok_or(TokenError {
            shown: String::new(),
        })?;
        Token::new(sub)?;
        let mut c = Self::new(sub);
        for w in rest {
            let t = Token::new(w)?;
            c = c.masked_arg(t, w.to_string());
        }
        Ok(c)
    }

    /// The Dokku subcommand, e.g. `config:set`.
    pub fn subcommand(&self) -> &str {
        &self.subcommand
    }

    /// The words sent to the host, global flags first.
    pub fn words(&self) -> Vec<&str> {
        let mut w: Vec<&str> = self.global.iter().map(|t| t.0.as_str()).collect();
        w.push(&self.subcommand);
        w.extend(self.args.iter().map(|t| t.0.as_str()));
        w
    }

    /// The exact string sent as the SSH command.
    pub fn wire(&self) -> String {
        self.words().join(" ")
    }

    /// The line with secrets masked: safe for logs, errors and plan output.
    pub fn shown(&self) -> String {
        let mut w: Vec<&str> = self.global.iter().map(|t| t.0.as_str()).collect();
        w.push(&self.subcommand);
        w.extend(self.shown_args.iter().map(|s| s.as_str()));
        w.join(" ")
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

/// `version`: the cheapest liveness check.
pub fn version() -> CommandLine {
    CommandLine::new("version")
}
/// `apps:list --format json`.
pub fn apps_list() -> CommandLine {
    CommandLine::new("apps:list").arg("--format").arg("json")
}
/// `apps:report --format json` for every app: one JSON line per app.
pub fn apps_report_all() -> CommandLine {
    CommandLine::new("apps:report").arg("--format").arg("json")
}
/// `resource:report --format json` for every app: one JSON line per app.
pub fn resource_report_all() -> CommandLine {
    CommandLine::new("resource:report")
        .arg("--format")
        .arg("json")
}
/// `letsencrypt:list`: every certificate and its expiry, in one call.
pub fn letsencrypt_list() -> CommandLine {
    CommandLine::new("letsencrypt:list")
}
/// `roomctl:nginx-report`: every app's snippet digest, in one call (the
/// roomctl Dokku plugin, `dokku-plugin/roomctl`).
pub fn roomctl_nginx_report() -> CommandLine {
    CommandLine::new("roomctl:nginx-report")
}
/// `roomctl:nginx-set APP BASE64`: installs the snippet whose exact bytes
/// are `content` (sent as standard padded base64, a safe token), after the
/// plugin's own `nginx -t`.
pub fn roomctl_nginx_set(app: &AppName, content: &str) -> CommandLine {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content.as_bytes());
    let shown = format!("(snippet sha256 {})", &crate::nginx::digest(content)[..12]);
    CommandLine::new("roomctl:nginx-set")
        .arg(app)
        .masked_arg(Token::trusted(encoded), shown)
}
/// `nginx:set APP KEY [VALUE]`: sets one of Dokku's nginx properties
/// (no value unsets it). `key` and `value` are checked against the safe
/// alphabet; callers pass checked properties
/// ([`crate::nginx::properties::check`]).
pub fn nginx_set(app: &AppName, key: &str, value: Option<&str>) -> Result<CommandLine, TokenError> {
    let mut c = CommandLine::new("nginx:set").arg(app);
    c = c.masked_arg(Token::new(key)?, key.to_string());
    if let Some(v) = value {
        c = c.masked_arg(Token::new(v)?, v.to_string());
    }
    Ok(c)
}
/// `proxy:build-config APP`: regenerates the app's `nginx.conf` (and
/// reloads nginx), so changed nginx properties take effect.
pub fn proxy_build_config(app: &AppName) -> CommandLine {
    CommandLine::new("proxy:build-config").arg(app)
}
/// `nginx:report APP --format json`: every nginx property of the app.
pub fn nginx_report(app: &AppName) -> CommandLine {
    CommandLine::new("nginx:report")
        .arg(app)
        .arg("--format")
        .arg("json")
}
/// `roomctl:nginx-unset APP`: removes roomctl's snippet.
pub fn roomctl_nginx_unset(app: &AppName) -> CommandLine {
    CommandLine::new("roomctl:nginx-unset").arg(app)
}
/// `config:export --format json APP`.
pub fn config_export(app: &AppName) -> CommandLine {
    CommandLine::new("config:export")
        .arg("--format")
        .arg("json")
        .arg(app)
}
/// `domains:report APP --domains-app-vhosts`.
pub fn domains_vhosts(app: &AppName) -> CommandLine {
    CommandLine::new("domains:report")
        .arg(app)
        .arg("--domains-app-vhosts")
}
/// `ports:report APP --ports-map`.
pub fn ports_map(app: &AppName) -> CommandLine {
    CommandLine::new("ports:report").arg(app).arg("--ports-map")
}
/// `storage:list APP --format json`.
pub fn storage_list(app: &AppName) -> CommandLine {
    CommandLine::new("storage:list")
        .arg(app)
        .arg("--format")
        .arg("json")
}
/// `ps:report APP --running`.
pub fn ps_running(app: &AppName) -> CommandLine {
    CommandLine::new("ps:report").arg(app).arg("--running")
}
/// `apps:create APP`.
pub fn apps_create(app: &AppName) -> CommandLine {
    CommandLine::new("apps:create").arg(app)
}
/// `apps:exists APP` (exit 0 when the app exists).
pub fn apps_exists(app: &AppName) -> CommandLine {
    CommandLine::new("apps:exists").arg(app)
}
/// `apps:destroy APP --force`.
pub fn apps_destroy(app: &AppName) -> CommandLine {
    CommandLine::new("apps:destroy").arg(app).arg("--force")
}

/// `config:set --encoded --no-restart APP K=base64(v)…`. Values are base64
/// so that any byte sequence round-trips and none is parsed by the remote.
/// Sensitive values are masked in [`CommandLine::shown`].
pub fn config_set(app: &AppName, vars: &BTreeMap<EnvKey, EnvValue>) -> CommandLine {
    let mut c = CommandLine::new("config:set")
        .arg("--encoded")
        .arg("--no-restart")
        .arg(app);
    for (k, v) in vars {
        let enc = base64::engine::general_purpose::STANDARD.encode(v.expose().as_bytes());
        let shown = format!("{k}={}", v.shown());
        c = c.masked_arg(Token::trusted(format!("{k}={enc}")), shown);
    }
    c
}
/// `config:unset --no-restart APP K…`.
pub fn config_unset(app: &AppName, keys: &BTreeSet<EnvKey>) -> CommandLine {
    keys.iter().fold(
        CommandLine::new("config:unset")
            .arg("--no-restart")
            .arg(app),
        |c, k| c.arg(k),
    )
}
/// `domains:set APP d…` (replaces the whole list in one nginx reload).
pub fn domains_set(app: &AppName, domains: &BTreeSet<Fqdn>) -> CommandLine {
    domains
        .iter()
        .fold(CommandLine::new("domains:set").arg(app), |c, d| c.arg(d))
}
/// `domains:clear APP`.
pub fn domains_clear(app: &AppName) -> CommandLine {
    CommandLine::new("domains:clear").arg(app)
}
/// `ports:set APP map…` (replaces the whole list).
pub fn ports_set(app: &AppName, ports: &BTreeSet<PortMapping>) -> CommandLine {
    ports
        .iter()
        .fold(CommandLine::new("ports:set").arg(app), |c, p| {
            c.arg(p.to_string())
        })
}
/// `ports:clear APP`.
pub fn ports_clear(app: &AppName) -> CommandLine {
    CommandLine::new("ports:clear").arg(app)
}
/// `storage:mount APP host:container`.
pub fn storage_mount(app: &AppName, m: &Mount) -> CommandLine {
    CommandLine::new("storage:mount")
        .arg(app)
        .arg(m.to_string())
}
/// `storage:unmount APP host:container`.
pub fn storage_unmount(app: &AppName, m: &Mount) -> CommandLine {
    CommandLine::new("storage:unmount")
        .arg(app)
        .arg(m.to_string())
}
/// `resource:limit [--memory M] [--cpu C] APP`.
pub fn resource_limit(app: &AppName, l: &Limits) -> CommandLine {
    let mut c = CommandLine::new("resource:limit");
    if let Some(m) = l.memory {
        c = c.arg("--memory").arg(m.to_string());
    }
    if let Some(cpu) = l.cpu {
        c = c.arg("--cpu").arg(cpu.to_string());
    }
    c.arg(app)
}
/// `git:from-image APP IMAGE`: deploys the image.
pub fn git_from_image(app: &AppName, image: &ImageRef) -> CommandLine {
    CommandLine::new("git:from-image").arg(app).arg(image)
}
/// `ps:start APP`.
pub fn ps_start(app: &AppName) -> CommandLine {
    CommandLine::new("ps:start").arg(app)
}
/// `ps:stop APP`.
pub fn ps_stop(app: &AppName) -> CommandLine {
    CommandLine::new("ps:stop").arg(app)
}
/// `ps:restart APP`.
pub fn ps_restart(app: &AppName) -> CommandLine {
    CommandLine::new("ps:restart").arg(app)
}
/// `letsencrypt:set APP email EMAIL`. The caller validates the address.
pub fn letsencrypt_set_email(app: &AppName, email: &Token) -> CommandLine {
    CommandLine::new("letsencrypt:set")
        .arg(app)
        .arg("email")
        .arg(&email.0)
}
/// `letsencrypt:enable APP`.
pub fn letsencrypt_enable(app: &AppName) -> CommandLine {
    CommandLine::new("letsencrypt:enable").arg(app)
}
/// `certs:add APP`: installs the certificate and key from the tar Dokku
/// reads on standard input (`server.crt` and `server.key`, built by
/// [`crate::tls::upload::certs_add_tar`]); run it with
/// [`crate::ssh::RemoteShell::exec_input`].
pub fn certs_add(app: &AppName) -> CommandLine {
    CommandLine::new("certs:add").arg(app)
}
/// `roomctl:storage-export APP HOST_PATH`: the roomctl plugin streams a
/// gzipped tar of one of the app's mount directories, read on the host.
pub fn storage_export(app: &AppName, mount: &crate::domain::Mount) -> CommandLine {
    CommandLine::new("roomctl:storage-export")
        .arg(app)
        .arg(&mount.host_path)
}
/// `--rm run APP tar -czf - -C DIR .`: streams a gzipped tar of one
/// mounted directory, through a throw-away container of the app's image.
pub fn backup_tar(app: &AppName, container_dir: &str) -> CommandLine {
    CommandLine::new("run")
        .global("--rm")
        .arg(app)
        .arg("tar")
        .arg("-czf")
        .arg("-")
        .arg("-C")
        .arg(container_dir)
        .arg(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppName {
        AppName::parse("acme-backend").unwrap()
    }

    #[test]
    fn hostile_env_values_travel_as_base64_and_never_as_shell_text() {
        let hostile = "a b 'q' \"d\" $(touch /tmp/x) `id` ;rm -rf / \n next";
        let vars = BTreeMap::from([(EnvKey::parse("X").unwrap(), EnvValue::plain(hostile))]);
        let c = config_set(&app(), &vars);
        let wire = c.wire();
        assert!(wire.starts_with("config:set --encoded --no-restart acme-backend X="));
        assert!(
            wire.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" ._:/@=+,%-".contains(&b)),
            "{wire}"
        );
        let enc = wire.rsplit_once("X=").unwrap().1;
        let dec = base64::engine::general_purpose::STANDARD
            .decode(enc)
            .unwrap();
        assert_eq!(String::from_utf8(dec).unwrap(), hostile);
    }

    #[test]
    fn secrets_are_masked_in_the_shown_line_only() {
        let vars = BTreeMap::from([(EnvKey::parse("S").unwrap(), EnvValue::secret("hunter2"))]);
        let c = config_set(&app(), &vars);
        assert_eq!(
            c.shown(),
            "config:set --encoded --no-restart acme-backend S=(sensitive)"
        );
        assert!(!c.wire().contains("hunter2") && !c.shown().contains("hunter2"));
    }

    #[test]
    fn raw_words_outside_the_safe_alphabet_are_refused() {
        for bad in [
            "a b", "$(x)", "`x`", "a;b", "a|b", "a'b", "a\"b", "a\nb", "*", "",
        ] {
            assert!(CommandLine::raw(&["apps:create", bad]).is_err(), "{bad:?}");
        }
        assert_eq!(
            CommandLine::raw(&["apps:list"]).unwrap().wire(),
            "apps:list"
        );
    }

    #[test]
    fn global_flags_go_before_the_subcommand() {
        assert_eq!(
            backup_tar(&app(), "/data").wire(),
            "--rm run acme-backend tar -czf - -C /data ."
        );
    }
}
