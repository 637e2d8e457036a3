//! The framing of `roomctl:observe`'s output (format 1), undone: records
//! back into files, per host and per app. No Dokku semantics here.
//!
//! ```text
//! roomctl-observe FORMAT VERSION\n
//! TAG KEYLEN SPEC\nKEY[CONTENT]\n      (repeated)
//! end APPS BYTES\n
//! ```
//!
//! `TAG` is `H` (a host file), `A` (an app starts; `KEY` is its name, `SPEC`
//! is `+`) or `F` (a file of the last app). `KEYLEN` is the key's length in
//! bytes. `SPEC` says what follows the key: `N` (N raw bytes of the file),
//! `bN` (N bytes of standard base64 of the file, used when it holds a NUL
//! byte), `sN` (the file's SHA-256, N hex digits), `-` (no such file), `!`
//! (exists but is not a readable regular file) or `+` (exists, not sent).
//! The trailer counts the apps and every byte before it, so any truncation
//! is detected.

use super::ObserveError;
use base64::Engine;
use std::collections::BTreeMap;

/// The output format this reader understands.
pub const FORMAT: u32 = 1;

/// One file as the plugin reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// No such file (Go's `os.IsNotExist`).
    Absent,
    /// The path exists but is not a readable regular file.
    Unreadable,
    /// The file exists; its content was deliberately not sent (private
    /// keys, marker files).
    Present,
    /// The file's exact bytes.
    Bytes(Vec<u8>),
    /// The lowercase hex SHA-256 of the file's bytes.
    Sha256(String),
}

/// Files keyed as the plugin names them (`ENV`, `ports/map`, …).
pub type Files = BTreeMap<String, Record>;

/// The whole output, unframed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    /// The output format number from the header.
    pub format: u32,
    /// The plugin's version from the header.
    pub plugin_version: String,
    /// Host files (`VHOST`, `docker`).
    pub host: Files,
    /// Every app in the plugin's (`apps:list`) order, with its files.
    pub apps: Vec<(String, Files)>,
    /// The length of the whole output, trailer included.
    pub bytes: usize,
}

struct Cursor<'a> {
    src: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn garbled(&self, what: impl Into<String>) -> ObserveError {
        ObserveError::Garbled {
            at: self.at,
            what: what.into(),
        }
    }

    /// The next line without its newline; a missing newline is truncation.
    fn line(&mut self) -> Result<&'a [u8], ObserveError> {
        let rest = &self.src[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(ObserveError::Truncated(self.src.len()))?;
        self.at += end + 1;
        Ok(&rest[..end])
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ObserveError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.src.len())
            .ok_or(ObserveError::Truncated(self.src.len()))?;
        let out = &self.src[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn newline(&mut self) -> Result<(), ObserveError> {
        match self.take(1)? {
            b"\n" => Ok(()),
            _ => Err(self.garbled("a record does not end where its length says")),
        }
    }
}

/// A decimal count: ASCII digits only, as the plugin prints them.
fn count(word: &[u8]) -> Option<usize> {
    if word.is_empty() || word.len() > 18 || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(word).ok()?.parse().ok()
}

fn text(c: &Cursor<'_>, b: &[u8], what: &str) -> Result<String, ObserveError> {
    String::from_utf8(b.to_vec()).map_err(|_| c.garbled(format!("{what} is not UTF-8")))
}

/// Splits the output into host and app files. Any deviation from the
/// format (a missing trailer, a count that does not match, bytes after the
/// trailer) is an error: a partial result is never returned.
pub fn unframe(src: &[u8]) -> Result<Wire, ObserveError> {
    let mut c = Cursor { src, at: 0 };
    if !src.starts_with(b"roomctl-observe ") {
        return Err(ObserveError::NotObserveOutput);
    }
    let line = c.line()?;
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [_, format, version] = words.as_slice() else {
        return Err(c.garbled("the header is not `roomctl-observe FORMAT VERSION`"));
    };
    let format = count(format).ok_or_else(|| c.garbled("the format is not a number"))?;
    let format = u32::try_from(format).map_err(|_| c.garbled("the format is too large"))?;
    if format != FORMAT {
        return Err(ObserveError::UnknownFormat(format));
    }
    let plugin_version = text(&c, version, "the plugin version")?;
    let mut host = Files::new();
    let mut apps: Vec<(String, Files)> = Vec::new();
    loop {
        let start = c.at;
        let line = c.line()?;
        if let Some(trailer) = line.strip_prefix(b"end ") {
            let (n, bytes) = trailer
                .iter()
                .position(|&b| b == b' ')
                .map(|i| (&trailer[..i], &trailer[i + 1..]))
                .ok_or_else(|| c.garbled("the trailer is not `end APPS BYTES`"))?;
            if count(n) != Some(apps.len()) || count(bytes) != Some(start) {
                return Err(c.garbled("the trailer's counts do not match what came before"));
            }
            if c.at != src.len() {
                return Err(c.garbled("bytes follow the trailer"));
            }
            return Ok(Wire {
                format,
                plugin_version,
                host,
                apps,
                bytes: src.len(),
            });
        }
        let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let [tag, keylen, spec] = words.as_slice() else {
            return Err(c.garbled("a record header is not `TAG KEYLEN SPEC`"));
        };
        let keylen = count(keylen).ok_or_else(|| c.garbled("a key length is not a number"))?;
        let key = c.take(keylen)?;
        let key = text(&c, key, "a key")?;
        let record = match *spec {
            b"-" => Record::Absent,
            b"!" => Record::Unreadable,
            b"+" => Record::Present,
            _ => {
                let (kind, n) = match spec.first() {
                    Some(b'b') | Some(b's') => (spec[0], &spec[1..]),
                    _ => (b'r', *spec),
                };
                let n = count(n).ok_or_else(|| c.garbled("a content length is not a number"))?;
                let body = c.take(n)?;
                match kind {
                    b'b' => Record::Bytes(
                        base64::engine::general_purpose::STANDARD
                            .decode(body)
                            .map_err(|_| c.garbled("base64 content does not decode"))?,
                    ),
                    b's' => {
                        let hex = text(&c, body, "a digest")?;
                        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return Err(c.garbled("a digest is not 64 hex digits"));
                        }
                        Record::Sha256(hex.to_ascii_lowercase())
                    }
                    _ => Record::Bytes(body.to_vec()),
                }
            }
        };
        c.newline()?;
        match *tag {
            b"H" => {
                if host.insert(key, record).is_some() {
                    return Err(c.garbled("a host file is reported twice"));
                }
            }
            b"A" => {
                if record != Record::Present {
                    return Err(c.garbled("an app record carries content"));
                }
                if apps.iter().any(|(name, _)| *name == key) {
                    return Err(c.garbled("an app is reported twice"));
                }
                apps.push((key, Files::new()));
            }
            b"F" => {
                let (_, files) = apps
                    .last_mut()
                    .ok_or_else(|| c.garbled("a file record comes before any app"))?;
                if files.insert(key, record).is_some() {
                    return Err(c.garbled("an app file is reported twice"));
                }
            }
            _ => return Err(c.garbled("unknown record tag")),
        }
    }
}
