//! Variables: declared, typed, described, used; secrets without defaults;
//! the example tfvars without secrets.

use crate::hcl_files::{blocks, label, looks_secret, parse, refs_in_body, tf_dir, tf_files};
use std::collections::BTreeSet;

#[test]
fn variables_are_declared_typed_described_and_used() {
    let files = tf_files();
    let vars = blocks(&files, "variable");
    let declared: BTreeSet<String> = vars.iter().map(|(_, b)| label(b, 0).to_string()).collect();
    assert_eq!(declared.len(), vars.len(), "a variable is declared twice");
    let mut used = BTreeSet::new();
    for (file, body) in &files {
        for name in refs_in_body(body) {
            assert!(
                declared.contains(&name),
                "{file}: var.{name} is used but no `variable \"{name}\"` declares it"
            );
            used.insert(name);
        }
    }
    for (file, b) in &vars {
        let name = label(b, 0);
        assert!(
            b.body.has_attribute("type"),
            "{file}: variable {name} has no type"
        );
        let description = b
            .body
            .get_attribute("description")
            .and_then(|a| a.value.as_str());
        assert!(
            description.is_some_and(|d| d.len() > 10),
            "{file}: variable {name} has no description"
        );
        assert!(
            used.contains(name),
            "{file}: variable {name} is declared but never used"
        );
    }
}

#[test]
fn secrets_are_sensitive_and_have_no_default() {
    let files = tf_files();
    let vars = blocks(&files, "variable");
    for (file, b) in &vars {
        let name = label(b, 0);
        let sensitive = b
            .body
            .get_attribute("sensitive")
            .and_then(|a| a.value.as_bool())
            == Some(true);
        if sensitive || looks_secret(name) {
            assert!(
                !b.body.has_attribute("default"),
                "{file}: variable {name} looks secret but has a default"
            );
        }
    }
    for name in ["hcloud_token", "porkbun_api_key", "porkbun_secret_api_key"] {
        let (_, b) = vars
            .iter()
            .find(|(_, b)| label(b, 0) == name)
            .unwrap_or_else(|| panic!("no variable {name}"));
        let sensitive = b
            .body
            .get_attribute("sensitive")
            .and_then(|a| a.value.as_bool());
        assert_eq!(sensitive, Some(true), "variable {name} must be sensitive");
    }
}

#[test]
fn tfvars_example_parses_and_holds_no_secret() {
    let path = tf_dir().join("terraform.tfvars.example");
    let body = parse(&path);
    let files = tf_files();
    let declared: BTreeSet<String> = blocks(&files, "variable")
        .iter()
        .map(|(_, b)| label(b, 0).to_string())
        .collect();
    for attr in body.attributes() {
        let name = attr.key.as_str();
        assert!(
            declared.contains(name),
            "terraform.tfvars.example sets undeclared {name}"
        );
        let public_keys = name.contains("public_key");
        assert!(
            !looks_secret(name) || public_keys,
            "terraform.tfvars.example must not set {name}"
        );
    }
    // Real-looking secrets anywhere, comments included: Porkbun keys and
    // long tokens (a Hetzner token is 64 letters and digits). OpenSSH
    // public key lines are public.
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text
        .lines()
        .filter(|l| !l.contains("ssh-ed25519 ") && !l.contains("ssh-rsa "))
    {
        for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let porkbun = (word.starts_with("pk1_") || word.starts_with("sk1_")) && word.len() > 8;
            assert!(
                !porkbun && word.len() < 40,
                "terraform.tfvars.example holds a secret-looking {word:?}"
            );
        }
    }
}
