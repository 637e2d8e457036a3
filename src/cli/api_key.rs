//! `roomctl api-key create|list|revoke`: the operator keys of the admin
//! API and the status page ([`crate::db::api_keys`]).
//!
//! `create` prints the key once, alone on standard output (so a script
//! can capture it), with a warning on standard error that it cannot be
//! shown again: only its SHA-256 hash is stored. `list` shows each key's
//! prefix, never the key.

use super::database::DbArgs;
use crate::db::api_keys::{self, KeyInfo, Scope};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

/// `roomctl api-key …`.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once.
    Create(CreateArgs),
    /// List the keys (prefix, name, scopes, dates; never the key).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a key by its id or prefix (`rmk_` and 8 more characters).
    Revoke {
        /// The key's id or prefix, as `api-key list` shows them.
        key: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `roomctl api-key create` options.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Who or what uses the key (audit rows say `operator:NAME`).
    #[arg(long, value_parser = parse_name)]
    name: String,
    /// What the key may do: `read` (the default) or `write` (start, stop,
    /// restart, reconcile; implies read). Repeat or separate with commas.
    #[arg(long = "scope", value_delimiter = ',', value_parser = parse_scope)]
    scopes: Vec<Scope>,
    /// Validity from now, e.g. `90d` or `12h`; without it the key never
    /// expires.
    #[arg(long, value_parser = humantime::parse_duration)]
    expires: Option<Duration>,
    #[command(flatten)]
    db: DbArgs,
}

/// Key names: 1 to 64 of `A-Z a-z 0-9 . _ @ + -`.
fn parse_name(s: &str) -> Result<String, String> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b));
    match ok {
        true => Ok(s.to_string()),
        false => Err("use 1 to 64 of A-Z a-z 0-9 . _ @ + -".into()),
    }
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).ok_or_else(|| format!("unknown scope {s:?}: use `read` or `write`"))
}

/// Runs an `api-key` subcommand.
pub async fn run(cmd: ApiKeyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ApiKeyCommand::Create(a) => create(a).await,
        ApiKeyCommand::List { db } => {
            let keys = api_keys::list(&db.connect().await?)
                .await
                .context("cannot list the API keys")?;
            print!("{}", table(&keys, Utc::now()));
            Ok(ExitCode::SUCCESS)
        }
        ApiKeyCommand::Revoke { key, db } => {
            let n = api_keys::revoke(&db.connect().await?, &key)
                .await
                .context("cannot revoke the API key")?;
            match n {
                1 => {
                    println!("revoked API key {key}");
                    Ok(ExitCode::SUCCESS)
                }
                0 => anyhow::bail!("no active API key has the id or prefix {key:?}"),
                n => anyhow::bail!(
                    "{n} active API keys have the prefix {key:?}; revoke by id (see `roomctl api-key list`)"
                ),
            }
        }
    }
}

async fn create(a: CreateArgs) -> anyhow::Result<ExitCode> {
    let mut scopes = a.scopes;
    if scopes.is_empty() {
        scopes.push(Scope::Read);
    }
    scopes.sort();
    scopes.dedup();
    let expires_at = a
        .expires
        .map(|d| chrono::Duration::from_std(d).map(|d| Utc::now() + d))
        .transpose()
        .context("--expires is too long")?;
    let pool = a.db.connect().await?;
    let (id, key) = api_keys::create(&pool, &a.name, &scopes, expires_at)
        .await
        .context("cannot create the API key")?;
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "created API key {:?} (id {id}, scopes {}, {})",
        a.name,
        scopes.join(","),
        expires_at.map_or("never expires".into(), |t| format!("expires {}", day(t)))
    );
    println!("{key}");
    eprintln!("Store this key now: it cannot be shown again (roomctl keeps only its hash).");
    Ok(ExitCode::SUCCESS)
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// The `api-key list` table at `now`: one line per key, newest first.
fn table(keys: &[KeyInfo], now: DateTime<Utc>) -> String {
    if keys.is_empty() {
        return "no API keys (create one with `roomctl api-key create --name NAME`)\n".into();
    }
    let opt = |t: Option<DateTime<Utc>>| t.map_or("-".to_string(), day);
    let mut rows = vec![
        [
            "ID",
            "PREFIX",
            "NAME",
            "SCOPES",
            "CREATED",
            "LAST USED",
            "EXPIRES",
            "REVOKED",
        ]
        .map(String::from),
    ];
    for k in keys {
        let expires = match k.expires_at {
            Some(t) if t <= now => format!("{} (expired)", day(t)),
            t => opt(t),
        };
        rows.push([
            k.id.to_string(),
            k.prefix.clone(),
            k.name.clone(),
            k.scopes.join(","),
            day(k.created_at),
            opt(k.last_used_at),
            expires,
            opt(k.revoked_at),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn key_names_are_short_and_plain() {
        assert!(parse_name("ci-deploy@ops").is_ok());
        for bad in ["", "a b", "x\ny", "é", &"a".repeat(65)] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_list_marks_expired_keys_and_shows_only_prefixes() {
        let t = |d: i64| Utc.timestamp_opt(1_800_000_000 + d * 86_400, 0).unwrap();
        let k = KeyInfo {
            id: uuid::Uuid::nil(),
            name: "ci".into(),
            prefix: "rmk_0123abcd".into(),
            scopes: vec!["read".into(), "write".into()],
            created_at: t(0),
            last_used_at: None,
            expires_at: Some(t(1)),
            revoked_at: None,
        };
        let out = table(&[k], t(2));
        assert!(out.starts_with("ID "), "{out}");
        assert!(
            out.contains("rmk_0123abcd") && out.contains("read,write"),
            "{out}"
        );
        assert!(out.contains("(expired)"), "{out}");
    }
}
