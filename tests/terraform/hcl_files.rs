//! Parsing `terraform/` and looking things up in it.

use hcl_edit::expr::{Expression, Traversal, TraversalOperator};
use hcl_edit::structure::{Block, Body};
use hcl_edit::visit::{Visit, visit_traversal};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The repository's `terraform/` directory.
pub fn tf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform")
}

/// Parses one HCL file; panics naming the file when it is not HCL.
pub fn parse(path: &Path) -> Body {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hcl_edit::parser::parse_body(&text)
        .unwrap_or_else(|e| panic!("{}: not HCL: {e}", path.display()))
}

/// Every `terraform/*.tf`, by file name.
pub fn tf_files() -> BTreeMap<String, Body> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(tf_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tf") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, parse(&path));
        }
    }
    for expected in ["versions.tf", "variables.tf", "main.tf", "outputs.tf"] {
        assert!(
            files.contains_key(expected),
            "terraform/{expected} is missing"
        );
    }
    files
}

/// Top-level blocks named `ident`, with their file.
pub fn blocks<'a>(files: &'a BTreeMap<String, Body>, ident: &'a str) -> Vec<(&'a str, &'a Block)> {
    files
        .iter()
        .flat_map(|(f, body)| body.get_blocks(ident).map(move |b| (f.as_str(), b)))
        .collect()
}

/// Label `i` of a block (`""` when absent).
pub fn label(b: &Block, i: usize) -> &str {
    b.labels.get(i).map(|l| l.as_str()).unwrap_or_default()
}

/// The names `X` of every `var.X` in the visited nodes.
#[derive(Default)]
struct VarRefs(BTreeSet<String>);

impl Visit for VarRefs {
    fn visit_traversal(&mut self, t: &Traversal) {
        if let Expression::Variable(v) = &t.expr
            && v.as_str() == "var"
            && let Some(TraversalOperator::GetAttr(name)) = t.operators.first().map(|o| o.value())
        {
            self.0.insert(name.as_str().to_string());
        }
        visit_traversal(self, t);
    }
}

/// The variables a body references (`var.X`).
pub fn refs_in_body(body: &Body) -> BTreeSet<String> {
    let mut v = VarRefs::default();
    v.visit_body(body);
    v.0
}

/// Whether a variable name suggests a secret.
pub fn looks_secret(name: &str) -> bool {
    ["token", "secret", "key", "password"]
        .iter()
        .any(|w| name.contains(w))
}
