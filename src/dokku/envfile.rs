//! Dokku's app ENV file, written and read exactly as Dokku 0.38.27 does.
//!
//! Dokku keeps an app's env in `/var/lib/dokku/config/APP/ENV` (the
//! `config` plugin's property path since 0.38; `/home/dokku/APP/ENV`
//! before). It writes the file with `godotenv.Write` and reads it back with
//! `godotenv.Read`, both from `github.com/joho/godotenv` v1.5.1, on every
//! `config:*` command. This module is a byte-faithful model of that pair,
//! built from godotenv's source and checked against the recorded files in
//! `tests/fixtures/dokku-transcripts/disk-layout/` and the breakages in
//! `real-edge-cases/` and `differential/`:
//!
//! - [`marshal`]: one line per key, sorted bytewise as whole lines; a value
//!   that Go's `strconv.Atoi` accepts is written as the canonical integer
//!   (`KEY=7` for `"007"`), anything else as `KEY="…"` with `\`, newline,
//!   CR, `"`, `!`, `$` and backquote escaped; a final newline.
//! - [`parse`]: godotenv's parser, including its flaws: a value whose
//!   written form ends in a backslash swallows the closing quote, and a
//!   value ending in `"` loses it, so the *next* key (or the next write)
//!   breaks every `config:*` command of the app. Its errors read as
//!   Dokku prints them.
//! - [`round_trip_problem`]: whether a value survives a write and a read
//!   unchanged, decided by running the two, so the rule cannot drift from
//!   the model.

mod parse;
mod quote;

pub use parse::{ParseError, parse};
pub use quote::go_quote;

use std::collections::BTreeMap;

/// The characters godotenv escapes inside double quotes, in its order.
const DOUBLE_QUOTE_SPECIAL: [char; 7] = ['\\', '\n', '\r', '"', '!', '$', '`'];

/// Go's `strconv.Atoi` on a 64-bit host: an optional sign and decimal
/// digits (no underscores, no spaces) that fit an `i64`.
pub fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if DOUBLE_QUOTE_SPECIAL.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The line godotenv's `Marshal` writes for one key (no newline).
pub fn line(key: &str, value: &str) -> String {
    match go_atoi(value) {
        Some(n) => format!("{key}={n}"),
        None => format!("{key}=\"{}\"", escape(value)),
    }
}

/// The whole file `godotenv.Write` writes for `env`: the lines sorted
/// bytewise, joined by newlines, plus a final newline (so an empty env is
/// a file holding one newline).
pub fn marshal(env: &BTreeMap<String, String>) -> String {
    let mut lines: Vec<String> = env.iter().map(|(k, v)| line(k, v)).collect();
    lines.sort_unstable();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Why a value cannot be kept in a Dokku app's env unchanged, or `None`
/// when Dokku writes it and reads it back byte for byte, whatever keys
/// come before or after it.
///
/// Decided by the model itself: the value is written between two other
/// keys and read back. In words, the values that fail are those ending in
/// a backslash or a double quote, integers not in canonical form (`007`,
/// `+5`, `-0`), and values holding a NUL (which no process can receive).
pub fn round_trip_problem(value: &str) -> Option<&'static str> {
    if value.contains('\0') {
        return Some("it contains a NUL character, which no process environment can hold");
    }
    if let Some(n) = go_atoi(value)
        && n.to_string() != value
    {
        return Some("Dokku stores it as the integer it spells, so it would read back changed");
    }
    let env: BTreeMap<String, String> = [("A", "x"), ("B", value), ("C", "x")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match parse(marshal(&env).as_bytes()) {
        Ok(back) if back == env => None,
        Ok(_) | Err(_) if value.ends_with('\\') => Some(
            "it ends in a backslash, which makes Dokku's ENV file unreadable for the whole app",
        ),
        Ok(_) | Err(_) if value.ends_with('"') => Some(
            "it ends in a double quote, which Dokku drops and which then makes the app's ENV file unreadable",
        ),
        Ok(_) | Err(_) => Some("Dokku would not read it back unchanged"),
    }
}

#[cfg(test)]
mod tests;
