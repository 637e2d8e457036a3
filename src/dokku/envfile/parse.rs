//! godotenv v1.5.1's parser (`parser.go`), byte for byte.
//!
//! Go strings are bytes: the parser walks key names byte by byte (so each
//! byte of a UTF-8 character is judged as a Latin-1 character, which is why
//! Dokku's errors name `©` for the second byte of `é`), trims with its own
//! notion of space, and runs two regular expressions over double-quoted
//! values. Each step below names the Go function it reproduces. Values are
//! handed back as Rust strings; bytes that are not UTF-8 (never written by
//! roomctl) become U+FFFD, as Go's JSON encoder shows them too.

use super::quote::go_quote;
use std::collections::BTreeMap;

/// Why godotenv refused a file; `Display` is its message, as Dokku prints
/// it after ` !     `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// godotenv's `err.Error()`.
    pub message: String,
}

fn fail(message: String) -> ParseError {
    ParseError { message }
}

/// godotenv's `isSpace`: space but not line break.
fn is_space(c: u32) -> bool {
    matches!(c, 0x09 | 0x0B | 0x0C | 0x0D | 0x20 | 0x85 | 0xA0)
}

/// Go's `unicode.IsSpace`.
fn is_unicode_space(c: u32) -> bool {
    char::from_u32(c).is_some_and(char::is_whitespace)
}

/// `unicode.IsLetter(rune(b)) || unicode.IsNumber(rune(b))` for a byte
/// read as a Latin-1 character.
fn is_latin1_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, 0xAA | 0xB5 | 0xBA | 0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0xFF)
        || matches!(b, 0xB2 | 0xB3 | 0xB9 | 0xBC..=0xBE)
}

/// Decodes the character at `b[i..]` as Go does: a valid UTF-8 sequence,
/// or U+FFFD of width one for an invalid byte. Returns (code point, width).
fn decode(b: &[u8], i: usize) -> (u32, usize) {
    let end = (i + 4).min(b.len());
    let chunk = &b[i..end];
    let valid = match std::str::from_utf8(chunk) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&chunk[..e.valid_up_to()]).unwrap_or(""),
    };
    match valid.chars().next() {
        Some(c) => (c as u32, c.len_utf8()),
        None => (0xFFFD, 1),
    }
}

/// `bytes.IndexFunc`.
fn index_func(b: &[u8], f: impl Fn(u32) -> bool) -> Option<usize> {
    let mut i = 0;
    while i < b.len() {
        let (c, w) = decode(b, i);
        if f(c) {
            return Some(i);
        }
        i += w;
    }
    None
}

/// `bytes.TrimLeftFunc`.
fn trim_left(b: &[u8], f: impl Fn(u32) -> bool) -> &[u8] {
    let at = index_func(b, |c| !f(c)).unwrap_or(b.len());
    &b[at..]
}

/// `bytes.TrimRightFunc` (decoding backwards, as Go does).
fn trim_right(b: &[u8], f: impl Fn(u32) -> bool) -> &[u8] {
    let mut end = b.len();
    while end > 0 {
        let mut start = end - 1;
        while start > 0 && end - start < 4 && (b[start] & 0xC0) == 0x80 {
            start -= 1;
        }
        let (c, w) = decode(b, start);
        let (c, start) = if start + w == end {
            (c, start)
        } else {
            (0xFFFD, end - 1)
        };
        if !f(c) {
            break;
        }
        end = start;
    }
    &b[..end]
}

/// `Parse` / `UnmarshalBytes`: every key of the file, or godotenv's error.
pub fn parse(src: &[u8]) -> Result<BTreeMap<String, String>, ParseError> {
    let src = replace_crlf(src);
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut vars: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut cut: &[u8] = &src;
    while let Some(start) = statement_start(cut) {
        let (key, left) = locate_key_name(start)?;
        let (value, left) = extract_var_value(left, &vars)?;
        out.insert(String::from_utf8_lossy(&key).into_owned(), lossy(&value));
        vars.insert(key, value);
        cut = left;
    }
    Ok(out)
}

fn lossy(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let (c, w) = decode(b, i);
        s.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
        i += w;
    }
    s
}

fn replace_crlf(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'\r' && src.get(i + 1) == Some(&b'\n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(src[i]);
            i += 1;
        }
    }
    out
}

/// `getStatementStart`: skips blank space and `#` comment lines.
fn statement_start(src: &[u8]) -> Option<&[u8]> {
    let pos = index_func(src, |c| !is_unicode_space(c))?;
    let src = &src[pos..];
    if src[0] != b'#' {
        return Some(src);
    }
    let nl = src.iter().position(|&b| b == b'\n')?;
    statement_start(&src[nl..])
}

/// `locateKeyName`: the key and what follows its `=` (or `:`).
fn locate_key_name(src: &[u8]) -> Result<(Vec<u8>, &[u8]), ParseError> {
    let mut src = trim_left(src, is_space);
    if let Some(rest) = src.strip_prefix(b"export")
        && index_func(rest, is_space) == Some(0)
    {
        src = trim_left(rest, is_space);
    }
    let mut key: &[u8] = &[];
    let mut offset = 0;
    for (i, &b) in src.iter().enumerate() {
        if is_space(u32::from(b)) {
            continue;
        }
        match b {
            b'=' | b':' => {
                key = &src[..i];
                offset = i + 1;
                break;
            }
            b'_' | b'.' => {}
            b if is_latin1_alnum(b) => {}
            b => {
                let shown = char::from(b).to_string();
                return Err(fail(format!(
                    "unexpected character {} in variable name near {}",
                    go_quote(shown.as_bytes()),
                    go_quote(src)
                )));
            }
        }
    }
    if src.is_empty() {
        return Err(fail("zero length string".into()));
    }
    let key = trim_right(key, is_unicode_space).to_vec();
    Ok((key, trim_left(&src[offset..], is_space)))
}

/// `extractVarValue`: the value and the rest of the file after it.
fn extract_var_value<'a>(
    src: &'a [u8],
    vars: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> Result<(Vec<u8>, &'a [u8]), ParseError> {
    let quote = match src.first() {
        Some(&q @ (b'"' | b'\'')) => q,
        _ => return Ok(unquoted(src, vars)),
    };
    for i in 1..src.len() {
        if src[i] != quote || src[i - 1] == b'\\' {
            continue;
        }
        let is_quote = |c: u32| c == u32::from(quote);
        let value = trim_left(trim_right(&src[..i], is_quote), is_quote);
        let value = if quote == b'"' {
            expand_variables(&expand_escapes(value), vars)
        } else {
            value.to_vec()
        };
        return Ok((value, &src[i + 1..]));
    }
    let end = src.iter().position(|&b| b == b'\n').unwrap_or(src.len());
    Err(fail(format!(
        "unterminated quoted value {}",
        String::from_utf8_lossy(&src[..end])
    )))
}

/// The unquoted branch of `extractVarValue`: to the end of the line, less
/// a trailing ` #comment`, trimmed, variables expanded.
fn unquoted<'a>(src: &'a [u8], vars: &BTreeMap<Vec<u8>, Vec<u8>>) -> (Vec<u8>, &'a [u8]) {
    let eol = src
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(src.len());
    // []rune(string(...)): one rune per character, U+FFFD per invalid byte.
    let mut line: Vec<(u32, &[u8])> = Vec::new();
    let mut i = 0;
    while i < eol {
        let (c, w) = decode(&src[..eol], i);
        line.push((c, &src[i..i + w]));
        i += w;
    }
    let mut end = line.len();
    for i in (1..line.len()).rev() {
        if line[i].0 == u32::from(b'#') && is_space(line[i - 1].0) {
            end = i;
            break;
        }
    }
    let kept = &line[..end];
    let first = kept.iter().position(|(c, _)| !is_space(*c));
    let last = kept.iter().rposition(|(c, _)| !is_space(*c));
    let trimmed: Vec<u8> = match (first, last) {
        (Some(a), Some(b)) => kept[a..=b]
            .iter()
            .flat_map(|(c, raw)| {
                if *c == 0xFFFD && raw.len() == 1 {
                    "\u{FFFD}".as_bytes().to_vec()
                } else {
                    raw.to_vec()
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    (expand_variables(&trimmed, vars), &src[eol..])
}

/// `expandEscapes`: `\n` and `\r` become line breaks (`\\.`, where `.`
/// is any character but a newline), then `\\([^$])` drops the backslash
/// before anything but `$`.
fn expand_escapes(s: &[u8]) -> Vec<u8> {
    let mut first = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() && s[i + 1] != b'\n' {
            let (_, w) = decode(s, i + 1);
            match s[i + 1] {
                b'n' => first.push(b'\n'),
                b'r' => first.push(b'\r'),
                _ => first.extend_from_slice(&s[i..i + 1 + w]),
            }
            i += 1 + w;
        } else {
            first.push(s[i]);
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(first.len());
    let mut i = 0;
    while i < first.len() {
        if first[i] == b'\\' && i + 1 < first.len() && first[i + 1] != b'$' {
            let (_, w) = decode(&first, i + 1);
            out.extend_from_slice(&first[i + 1..i + 1 + w]);
            i += 1 + w;
        } else {
            out.push(first[i]);
            i += 1;
        }
    }
    out
}

/// `expandVariables`: each match of `(\\)?(\$)(\()?\{?([A-Z0-9_]+)?\}?`
/// loses its backslash when it has one, else becomes the value of the
/// named key parsed earlier in the file (empty when there is none), else
/// stays.
fn expand_variables(s: &[u8], vars: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut p = 0;
    while p < s.len() {
        let (escaped, mut q) = if s[p] == b'\\' && s.get(p + 1) == Some(&b'$') {
            (true, p + 2)
        } else if s[p] == b'$' {
            (false, p + 1)
        } else {
            out.push(s[p]);
            p += 1;
            continue;
        };
        if s.get(q) == Some(&b'(') {
            q += 1;
        }
        if s.get(q) == Some(&b'{') {
            q += 1;
        }
        let name_start = q;
        while s
            .get(q)
            .is_some_and(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        {
            q += 1;
        }
        let name = &s[name_start..q];
        if s.get(q) == Some(&b'}') {
            q += 1;
        }
        if escaped {
            out.extend_from_slice(&s[p + 1..q]);
        } else if !name.is_empty() {
            out.extend_from_slice(vars.get(name).map(Vec::as_slice).unwrap_or_default());
        } else {
            out.extend_from_slice(&s[p..q]);
        }
        p = q;
    }
    out
}
