//! The desired-state loader over random directories: the repo's
//! `desired-state/` (and its instance template), and the TOML examples of
//! its README put where they belong, edited byte by byte and by structure
//! (keys dropped, values replaced, tables repeated, values moved between
//! files), files removed, and odd entries under `instances/` (a dangling
//! symlink, a directory named `x.toml`). Each case is written into a temp
//! dir and loaded as `roomctl plan` loads it.

use super::{Edit, edit_bytes, edits};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A desired-state dir: relative path → bytes. `templates/instance.toml.tera`
/// is the instance template.
type Tree = BTreeMap<String, Vec<u8>>;

const TEMPLATE: &str = "templates/instance.toml.tera";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped dir, and one per README example replacing the file it
/// belongs to.
fn trees() -> &'static [Tree] {
    static TREES: OnceLock<Vec<Tree>> = OnceLock::new();
    TREES.get_or_init(|| {
        let d = repo().join("desired-state");
        let mut shipped = Tree::new();
        for name in ["platform.toml", "hosts.toml", "tiers.toml", "dns.toml"] {
            shipped.insert(name.into(), std::fs::read(d.join(name)).unwrap());
        }
        for e in std::fs::read_dir(d.join("instances")).unwrap() {
            let p = e.unwrap().path();
            let name = format!("instances/{}", p.file_name().unwrap().to_string_lossy());
            shipped.insert(name, std::fs::read(&p).unwrap());
        }
        shipped.insert(
            TEMPLATE.into(),
            std::fs::read(repo().join(TEMPLATE)).unwrap(),
        );
        let readme = std::fs::read_to_string(d.join("README.md")).unwrap();
        let mut out = vec![shipped.clone()];
        for block in readme.split("```toml\n").skip(1) {
            let block = block.split("```").next().unwrap_or_default();
            let file = if block.contains("[[instance]]") {
                "instances/example.toml"
            } else if block.contains("[[host]]") || block.contains("[pool]") {
                "hosts.toml"
            } else if block.contains("[tier.") {
                "tiers.toml"
            } else if block.contains("[dns") {
                "dns.toml"
            } else if block.contains("[platform") {
                "platform.toml"
            } else {
                continue;
            };
            let mut t = shipped.clone();
            t.insert(file.into(), block.as_bytes().to_vec());
            out.push(t);
        }
        assert!(out.len() > 3, "the README's TOML examples are missing");
        out
    })
}

/// Values a structural edit puts in place of another.
fn value() -> impl Strategy<Value = toml::Value> {
    use toml::Value as V;
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "",
            "x",
            "-1",
            "0",
            "16g",
            "1.5",
            "dokku-1",
            "dokku-9",
            "starter",
            "free",
            "stopped",
            "running",
            "wildcard",
            "off",
            "per-app",
            "../x",
            "a b",
            "status",
            "@",
            "*",
            "ACME",
            "http:80:8765",
            "/var/lib/dokku/data/storage/x:/data",
            "ROOMCTL_X",
        ])
        .prop_map(|s| V::String(s.into())),
        "[ -~\u{0}\u{feff}é]{0,12}".prop_map(V::String),
        any::<i64>().prop_map(V::Integer),
        prop::sample::select(vec![0.0, -1.0, 1e300, f64::NAN, 0.5]).prop_map(V::Float),
        any::<bool>().prop_map(V::Boolean),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(V::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| V::Table(m.into_iter().collect())),
        ]
    })
}

/// One edit of the tree.
#[derive(Debug, Clone)]
enum Change {
    /// Byte edits of a file.
    Bytes(prop::sample::Index, Vec<Edit>),
    /// A TOML edit at a random path of a file: drop the key, replace its
    /// value, or repeat an array's entry.
    Toml(
        prop::sample::Index,
        Vec<prop::sample::Index>,
        u8,
        toml::Value,
    ),
    /// A file's text copied over another's.
    Copy(prop::sample::Index, prop::sample::Index),
    /// A file removed.
    Remove(prop::sample::Index),
    /// An odd entry under `instances/`: 0 a dangling symlink, 1 a
    /// directory named `x.toml`, 2 a self-referencing symlink.
    Odd(u8),
}

fn change() -> impl Strategy<Value = Change> {
    let i = any::<prop::sample::Index>;
    prop_oneof![
        3 => (i(), edits()).prop_map(|(f, e)| Change::Bytes(f, e)),
        6 => (i(), prop::collection::vec(i(), 1..5), any::<u8>(), value())
            .prop_map(|(f, path, op, v)| Change::Toml(f, path, op, v)),
        1 => (i(), i()).prop_map(|(a, b)| Change::Copy(a, b)),
        1 => i().prop_map(Change::Remove),
        1 => (0u8..3).prop_map(Change::Odd),
    ]
}

/// A seed tree with random changes, and the odd entries to make.
pub fn tree() -> impl Strategy<Value = (Tree, Vec<u8>)> {
    (
        any::<prop::sample::Index>(),
        prop::collection::vec(change(), 0..4),
    )
        .prop_map(|(pick, changes)| {
            let mut t = pick.get(trees()).clone();
            let mut odd = Vec::new();
            for c in changes {
                apply(&mut t, c, &mut odd);
            }
            (t, odd)
        })
}

fn apply(t: &mut Tree, c: Change, odd: &mut Vec<u8>) {
    let names: Vec<String> = t.keys().cloned().collect();
    if names.is_empty() {
        return;
    }
    match c {
        Change::Bytes(f, e) => edit_bytes(t.get_mut(f.get(&names)).unwrap(), &e),
        Change::Toml(f, path, op, v) => {
            let file = t.get_mut(f.get(&names)).unwrap();
            let Ok(mut doc) = std::str::from_utf8(file)
                .unwrap_or("")
                .parse::<toml::Table>()
            else {
                return;
            };
            toml_edit(&mut doc, &path, op, v);
            *file = toml::to_string(&doc).unwrap_or_default().into_bytes();
        }
        Change::Copy(a, b) => {
            let text = t[a.get(&names)].clone();
            t.insert(b.get(&names).clone(), text);
        }
        Change::Remove(f) => {
            t.remove(f.get(&names));
        }
        Change::Odd(kind) => odd.push(kind),
    }
}

/// Walks `path` down from `doc` (a table's key or an array's entry) and
/// edits where it stops.
fn toml_edit(doc: &mut toml::Table, path: &[prop::sample::Index], op: u8, v: toml::Value) {
    let keys: Vec<String> = doc.keys().cloned().collect();
    let Some((first, rest)) = path.split_first().filter(|_| !keys.is_empty()) else {
        doc.insert("extra".into(), v);
        return;
    };
    let key = first.get(&keys).clone();
    let here = doc.get_mut(&key).unwrap();
    match here {
        toml::Value::Table(t) if !rest.is_empty() => toml_edit(t, rest, op, v),
        toml::Value::Array(a) if !rest.is_empty() && !a.is_empty() => {
            let at = rest[0].index(a.len());
            match (&mut a[at], op % 4) {
                (_, 0) => {
                    let again = a[at].clone();
                    a.push(again);
                }
                (toml::Value::Table(t), _) => toml_edit(t, &rest[1..], op, v),
                (slot, _) => *slot = v,
            }
        }
        _ if op.is_multiple_of(3) => {
            doc.remove(&key);
        }
        _ => {
            doc.insert(key, v);
        }
    }
}

/// The dir the cases are written into (one per test run).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("roomctl-fuzz-desired-")
            .tempdir()
            .unwrap()
    })
    .path()
}

/// Writes `tree` (and the odd entries) into `dir`, emptied first.
pub fn write(dir: &Path, tree: &Tree, odd: &[u8]) {
    let _ = std::fs::remove_dir_all(dir.join("desired"));
    std::fs::create_dir_all(dir.join("desired/instances")).unwrap();
    let templates = dir.join("templates");
    let _ = std::fs::remove_file(dir.join(TEMPLATE));
    for sub in ["nginx", "status"] {
        let to = templates.join(sub);
        if to.exists() {
            continue;
        }
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(repo().join("templates").join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    for (name, bytes) in tree {
        let at = match name.as_str() {
            TEMPLATE => dir.join(TEMPLATE),
            _ => dir.join("desired").join(name),
        };
        std::fs::write(at, bytes).unwrap();
    }
    let instances = dir.join("desired/instances");
    for (i, kind) in odd.iter().enumerate() {
        let at = instances.join(format!("odd-{i}.toml"));
        let _ = match kind {
            0 => std::os::unix::fs::symlink(instances.join("gone.toml"), &at),
            1 => std::fs::create_dir(&at),
            _ => std::os::unix::fs::symlink(&at, &at),
        };
    }
}

/// Loads `dir` as `roomctl plan` does; any answer is fine.
pub fn load(dir: &Path) {
    let root = roomctl::desired::RootSecret::new("fuzz-root-secret-0123456789abcdef").unwrap();
    let _ = roomctl::desired::load(&dir.join("desired"), &dir.join("templates"), &root);
}
