//! Unit tests: outputs built as the plugin frames them ([`Out`]), read
//! back as records (`wire_format`) and as facts (`facts`).

use super::wire::{self, Record, unframe};
use super::*;

mod facts;
mod wire_format;

/// Builds an output the way the plugin frames it: records (an app's
/// fixed files as its `A` record's kinds), then the sent files' sizes and
/// bytes, then the trailer.
#[derive(Default)]
struct Out {
    records: Vec<u8>,
    data: Vec<Vec<u8>>,
    apps: usize,
    /// The app being described: its name and files, not yet written.
    app: Option<(String, Vec<(String, File)>)>,
}

/// A file of [`Out`]'s pending app.
enum File {
    Sent(Vec<u8>),
    Kind(String),
}

impl Out {
    fn new() -> Self {
        Out {
            records: b"roomctl-observe 2 0.2.0\n".to_vec(),
            ..Out::default()
        }
    }
    fn raw(&mut self, tag: &str, key: &str, kind: &str) {
        self.records
            .extend_from_slice(format!("{tag} {} {kind}\n{key}\n", key.len()).as_bytes());
    }
    /// Writes the pending app: its `A` record, then its other files.
    fn flush(&mut self) {
        let Some((name, files)) = self.app.take() else {
            return;
        };
        let mut kinds = String::new();
        for fixed in wire::FIXED {
            match files.iter().find(|(k, _)| k == fixed).map(|(_, f)| f) {
                Some(File::Sent(body)) => {
                    kinds.push('f');
                    self.data.push(body.clone());
                }
                Some(File::Kind(k)) if k == "-" || k == "!" => kinds.push_str(k),
                Some(File::Kind(k)) => panic!("{fixed} cannot be {k}"),
                None => kinds.push('-'),
            }
        }
        self.raw("A", &name, &kinds);
        for (key, file) in files {
            if wire::FIXED.contains(&key.as_str()) {
                continue;
            }
            match file {
                File::Sent(body) => {
                    self.data.push(body);
                    self.raw("F", &key, "f");
                }
                File::Kind(k) => self.raw("F", &key, &k),
            }
        }
    }
    fn pending(&mut self) -> &mut Vec<(String, File)> {
        &mut self.app.as_mut().expect("a file record after an app").1
    }
    /// A host record without content.
    fn rec(mut self, tag: &str, key: &str, kind: &str) -> Self {
        assert_eq!(tag, "H");
        self.flush();
        self.raw(tag, key, kind);
        self
    }
    fn inline(mut self, tag: &str, key: &str, body: &[u8]) -> Self {
        self = self.rec(tag, key, &format!("i{}", body.len()));
        self.records.extend_from_slice(body);
        self.records.push(b'\n');
        self
    }
    fn app(mut self, name: &str) -> Self {
        self.flush();
        self.apps += 1;
        self.app = Some((name.to_string(), Vec::new()));
        self
    }
    fn file(mut self, key: &str, body: &[u8]) -> Self {
        self.pending()
            .push((key.to_string(), File::Sent(body.to_vec())));
        self
    }
    fn mark(mut self, key: &str, kind: &str) -> Self {
        self.pending()
            .push((key.to_string(), File::Kind(kind.to_string())));
        self
    }
    fn host(mut self, key: &str, body: &[u8]) -> Self {
        self.flush();
        self.data.push(body.to_vec());
        self.raw("H", key, "f");
        self
    }
    fn end(mut self) -> Vec<u8> {
        self.flush();
        let mut out = self.records;
        out.extend_from_slice(format!("sizes {}\n", self.data.len()).as_bytes());
        for d in &self.data {
            out.extend_from_slice(format!("{}\n", d.len()).as_bytes());
        }
        for d in &self.data {
            out.extend_from_slice(d);
        }
        out.push(b'\n');
        let t = format!("end {} {}\n", self.apps, out.len());
        out.extend_from_slice(t.as_bytes());
        out
    }
}

fn one_app(files: impl FnOnce(Out) -> Out) -> AppFacts {
    let out = files(Out::new().app("a")).end();
    parse(&out).unwrap().apps.remove(0)
}
