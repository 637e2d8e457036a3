//! The Dokku emulator's command line: `SSH_ORIGINAL_COMMAND` splitting,
//! global flags, each subcommand's flag and argument parsing and what it
//! then does, run in this process against a host in a temp dir. Seeded
//! with the command lines of the recorded transcripts
//! (`tests/fixtures/dokku-transcripts/commands-*.txt`), edited byte by
//! byte and word by word.

use super::{Edit, edit_bytes, edits};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn lines() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dokku-transcripts");
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("commands-") && name.ends_with(".txt") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(String::from),
                );
            }
        }
        assert!(out.len() > 300, "the recorded command lines are missing");
        out
    })
}

/// Words a command line may gain.
const WORDS: [&str; 24] = [
    "--quiet",
    "--rm",
    "--force",
    "--trace",
    "--format",
    "json",
    "--no-restart",
    "--encoded",
    "--",
    "-",
    "--global",
    "--all",
    "acme-backend",
    "harness-app",
    "a=b",
    "KEY=",
    "=x",
    "http:80:5000",
    "/var/lib/dokku/data/storage/x:/data",
    "''",
    "\"",
    "\\",
    "..",
    "..\u{0}",
];

/// One edit of a line.
#[derive(Debug, Clone)]
enum LineEdit {
    Bytes(Vec<Edit>),
    /// A word inserted at a word position.
    Insert(prop::sample::Index, &'static str),
    /// A word removed.
    Drop(prop::sample::Index),
    /// The subcommand swapped for another line's.
    Swap(prop::sample::Index),
}

fn line_edit() -> impl Strategy<Value = LineEdit> {
    let i = any::<prop::sample::Index>;
    prop_oneof![
        edits().prop_map(LineEdit::Bytes),
        (i(), prop::sample::select(WORDS.to_vec())).prop_map(|(at, w)| LineEdit::Insert(at, w)),
        i().prop_map(LineEdit::Drop),
        i().prop_map(LineEdit::Swap),
    ]
}

/// A recorded line with edits, or random printable words; and its
/// standard input (random bytes).
pub fn command() -> impl Strategy<Value = (String, Vec<u8>)> {
    let line = prop_oneof![
        1 => "[ -~\t\n]{0,60}",
        4 => (any::<prop::sample::Index>(), prop::collection::vec(line_edit(), 0..4))
            .prop_map(|(pick, e)| edited(pick.get::<String>(lines()), &e)),
    ];
    (line, prop::collection::vec(any::<u8>(), 0..64))
}

fn edited(line: &str, edits: &[LineEdit]) -> String {
    let mut words: Vec<String> = line.split(' ').map(String::from).collect();
    for e in edits {
        match e {
            LineEdit::Bytes(b) => {
                let mut bytes = words.join(" ").into_bytes();
                edit_bytes(&mut bytes, b);
                words = String::from_utf8_lossy(&bytes)
                    .split(' ')
                    .map(String::from)
                    .collect();
            }
            LineEdit::Insert(at, w) => words.insert(at.index(words.len() + 1), w.to_string()),
            LineEdit::Drop(at) if !words.is_empty() => {
                words.remove(at.index(words.len()));
            }
            LineEdit::Swap(other) if !words.is_empty() => {
                let sub = other.get(lines()).split(' ').next().unwrap_or("");
                words[0] = sub.to_string();
            }
            _ => {}
        }
    }
    words.join(" ")
}

/// The host the commands run on: created with a few apps, and made anew
/// when random commands have piled up too many.
pub fn host() -> &'static Path {
    static HOST: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOST.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("roomctl-fuzz-emu-")
            .tempdir()
            .unwrap()
    })
    .path()
}

pub fn run(root: &Path, line: &str, input: &[u8]) {
    let apps = root.join("fs/home/dokku");
    let many = std::fs::read_dir(&apps)
        .map(|d| d.count() > 40)
        .unwrap_or(true);
    if many {
        let _ = std::fs::remove_dir_all(root);
        for app in ["acme-backend", "harness-app"] {
            roomctl::emulator::run_captured(root, &format!("apps:create {app}"), b"");
        }
        roomctl::emulator::run_captured(root, "config:set --no-restart acme-backend A=1", b"");
    }
    let _ = roomctl::emulator::run_captured(root, line, input);
}
