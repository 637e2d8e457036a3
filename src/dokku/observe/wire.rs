//! The framing of `roomctl:observe`'s output (format 2), undone: records
//! back into files, per host and per app. No Dokku semantics here.
//!
//! ```text
//! roomctl-observe FORMAT VERSION\n
//! TAG KEYLEN KIND\nKEY\n[INLINE\n]      (one record, repeated)
//! sizes N\n
//! SIZE\n                                (N times)
//! DATA                                  (the N files' bytes, concatenated)
//! \n
//! end APPS BYTES\n                      (or `changed\n`)
//! ```
//!
//! `TAG` is `H` (a host file), `A` (an app starts; `KEY` is its name) or `F`
//! (a file of the last app). `KEYLEN` is the key's length in bytes. `KIND`
//! is `f` (a file whose size is the next line of the sizes section and
//! whose bytes are the next ones of the data section), `-` (no such file),
//! `!` (exists but is not a readable regular file), `+` (exists, not sent),
//! `s` and 64 hex digits (the file's SHA-256) or `i` and a length (that
//! many bytes the plugin wrote itself follow the key). An `A` record's
//! `KIND` is one of `f`, `!` and `-` for each of the [`FIXED`] files, in
//! that order: their records, without their keys.
//!
//! The sizes come from one `stat` and the data from one `cat`, so a file
//! that changed size between the two moves the trailer away from where the
//! sizes put it: the trailer counts every byte before it, so that (and any
//! truncation) is an error. A plugin that saw a file change or vanish ends
//! with `changed` instead, read as [`ObserveError::Changed`].

use super::ObserveError;
use std::collections::BTreeMap;

/// The output format this reader understands.
pub const FORMAT: u32 = 2;

/// The files every app may have, in the order of an `A` record's kinds.
pub const FIXED: [&str; 11] = [
    "ENV",
    "VHOST",
    "ports/map",
    "storage/mounts",
    "apps/deploy-source",
    "apps/deploy-source-metadata",
    "git/source-image",
    "common/deployed",
    "ps/restore",
    "ps/scale",
    "tls/server.crt",
];

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
    /// The file's exact bytes (or, for `i` records, the plugin's text).
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
    /// Host files (`VHOST`, `storage-entry/NAME`, `docker`).
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

    fn newline(&mut self, what: &str) -> Result<(), ObserveError> {
        match self.take(1)? {
            b"\n" => Ok(()),
            _ => Err(self.garbled(what.to_string())),
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

/// The output's last line, without its newline; `None` when the output
/// does not end with a newline.
fn last_line(src: &[u8]) -> Option<&[u8]> {
    let body = src.strip_suffix(b"\n")?;
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Some(&body[start..])
}

/// Where a record belongs.
#[derive(Clone, Copy)]
enum Owner {
    Host,
    App(usize),
}

struct Unframed {
    host: Files,
    apps: Vec<(String, Files)>,
}

impl Unframed {
    fn files(&mut self, owner: Owner) -> &mut Files {
        match owner {
            Owner::Host => &mut self.host,
            Owner::App(i) => &mut self.apps[i].1,
        }
    }
}

/// One record's header and what it says about its content.
enum Kind {
    /// Known now.
    Now(Record),
    /// Its bytes are in the data section.
    Sent,
}

fn kind(c: &mut Cursor<'_>, spec: &[u8]) -> Result<Kind, ObserveError> {
    Ok(Kind::Now(match spec {
        b"f" => return Ok(Kind::Sent),
        b"-" => Record::Absent,
        b"!" => Record::Unreadable,
        b"+" => Record::Present,
        [b's', hex @ ..] => {
            if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(c.garbled("a digest is not 64 hex digits"));
            }
            Record::Sha256(String::from_utf8_lossy(hex).to_ascii_lowercase())
        }
        [b'i', n @ ..] => {
            let n = count(n).ok_or_else(|| c.garbled("an inline length is not a number"))?;
            Record::Bytes(c.take(n)?.to_vec())
        }
        _ => return Err(c.garbled("unknown record kind")),
    }))
}

/// The [`FIXED`] files of app number `app` from its `A` record's kinds;
/// those sent are added to `sent`, to be filled from the data section.
fn fixed_files(
    c: &Cursor<'_>,
    kinds: &[u8],
    app: usize,
    sent: &mut Vec<(Owner, String)>,
) -> Result<Files, ObserveError> {
    if kinds.len() != FIXED.len() {
        return Err(c.garbled("an app record does not have one kind per fixed file"));
    }
    let mut files = Files::new();
    for (kind, name) in kinds.iter().zip(FIXED) {
        let record = match kind {
            b'f' => {
                sent.push((Owner::App(app), name.to_string()));
                Record::Absent
            }
            b'!' => Record::Unreadable,
            b'-' => Record::Absent,
            _ => return Err(c.garbled("unknown fixed file kind")),
        };
        files.insert(name.to_string(), record);
    }
    Ok(files)
}

/// Splits the output into host and app files. Any deviation from the
/// format (a missing trailer, a count or size that does not match, bytes
/// after the trailer) is an error, and so is a plugin that saw files
/// change: a partial result is never returned.
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
    if last_line(src) == Some(b"changed") {
        return Err(ObserveError::Changed);
    }
    let mut out = Unframed {
        host: Files::new(),
        apps: Vec::new(),
    };
    let mut sent: Vec<(Owner, String)> = Vec::new();
    let files = loop {
        let line = c.line()?;
        if let Some(n) = line.strip_prefix(b"sizes ") {
            break count(n).ok_or_else(|| c.garbled("the file count is not a number"))?;
        }
        let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let [tag, keylen, spec] = words.as_slice() else {
            return Err(c.garbled("a record header is not `TAG KEYLEN KIND`"));
        };
        let keylen = count(keylen).ok_or_else(|| c.garbled("a key length is not a number"))?;
        let key = c.take(keylen)?;
        let key = text(&c, key, "a key")?;
        c.newline("a key does not end where its length says")?;
        if *tag == b"A" {
            if out.apps.iter().any(|(name, _)| *name == key) {
                return Err(c.garbled("an app is reported twice"));
            }
            let files = fixed_files(&c, spec, out.apps.len(), &mut sent)?;
            out.apps.push((key, files));
            continue;
        }
        let kind = kind(&mut c, spec)?;
        if matches!(kind, Kind::Now(Record::Bytes(_))) {
            c.newline("inline content does not end where its length says")?;
        }
        let owner = match *tag {
            b"H" => Owner::Host,
            b"F" if out.apps.is_empty() => {
                return Err(c.garbled("a file record comes before any app"));
            }
            b"F" => Owner::App(out.apps.len() - 1),
            _ => return Err(c.garbled("unknown record tag")),
        };
        let record = match kind {
            Kind::Now(r) => r,
            Kind::Sent => {
                sent.push((owner, key.clone()));
                // Filled in from the data section below.
                Record::Absent
            }
        };
        if out.files(owner).insert(key, record).is_some() {
            return Err(c.garbled("a file is reported twice"));
        }
    };
    if files != sent.len() {
        return Err(c.garbled("the file count does not match the `f` records"));
    }
    let mut sizes = Vec::with_capacity(files);
    for _ in 0..files {
        let line = c.line()?;
        sizes.push(count(line).ok_or_else(|| c.garbled("a file size is not a number"))?);
    }
    for ((owner, key), size) in sent.into_iter().zip(sizes) {
        let bytes = c.take(size)?.to_vec();
        out.files(owner).insert(key, Record::Bytes(bytes));
    }
    c.newline("the data does not end where the sizes say")?;
    let start = c.at;
    let line = c.line()?;
    let trailer = line
        .strip_prefix(b"end ")
        .ok_or_else(|| c.garbled("no trailer where the sizes say the data ends"))?;
    let (n, bytes) = trailer
        .iter()
        .position(|&b| b == b' ')
        .map(|i| (&trailer[..i], &trailer[i + 1..]))
        .ok_or_else(|| c.garbled("the trailer is not `end APPS BYTES`"))?;
    if count(n) != Some(out.apps.len()) || count(bytes) != Some(start) {
        return Err(c.garbled("the trailer's counts do not match what came before"));
    }
    if c.at != src.len() {
        return Err(c.garbled("bytes follow the trailer"));
    }
    Ok(Wire {
        format,
        plugin_version,
        host: out.host,
        apps: out.apps,
        bytes: src.len(),
    })
}
