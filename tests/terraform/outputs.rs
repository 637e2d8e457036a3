//! The outputs roomctl reads: declared in `outputs.tf`, never sensitive,
//! and loaded by `TerraformOutputs` from `terraform output -json`.

use crate::hcl_files::{blocks, label, refs_in_body, tf_files};
use roomctl::hetzner::terraform::{OUTPUTS_READ, TerraformError, TerraformOutputs};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[test]
fn outputs_roomctl_reads_exist_and_hold_no_secret() {
    let files = tf_files();
    let sensitive_vars: BTreeSet<String> = blocks(&files, "variable")
        .iter()
        .filter(|(_, b)| {
            b.body
                .get_attribute("sensitive")
                .and_then(|a| a.value.as_bool())
                == Some(true)
        })
        .map(|(_, b)| label(b, 0).to_string())
        .collect();
    let outputs = blocks(&files, "output");
    let names: BTreeSet<&str> = outputs.iter().map(|(_, b)| label(b, 0)).collect();
    for name in OUTPUTS_READ {
        assert!(
            names.contains(name),
            "roomctl reads output `{name}` but terraform/outputs.tf does not declare it"
        );
    }
    for (file, b) in &outputs {
        let name = label(b, 0);
        assert!(
            b.body.has_attribute("value"),
            "{file}: output {name} has no value"
        );
        assert!(
            b.body.has_attribute("description"),
            "{file}: output {name} has no description"
        );
        assert!(
            !b.body.has_attribute("sensitive"),
            "{file}: output {name} is sensitive; `terraform output -json` would print it"
        );
        let leaked: Vec<_> = refs_in_body(&b.body)
            .intersection(&sensitive_vars)
            .cloned()
            .collect();
        assert!(
            leaked.is_empty(),
            "{file}: output {name} uses sensitive {leaked:?}"
        );
    }
}

/// Writes `json` as `dir/terraform-outputs.json`; returns the path.
fn write_outputs(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("terraform-outputs.json");
    std::fs::write(&path, json).unwrap();
    path
}

#[test]
fn outputs_fixture_matches_outputs_tf_and_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform-outputs.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let in_fixture: BTreeSet<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let files = tf_files();
    let declared: BTreeSet<&str> = blocks(&files, "output")
        .iter()
        .map(|(_, b)| label(b, 0))
        .collect();
    assert_eq!(
        in_fixture, declared,
        "tests/fixtures/terraform-outputs.json must mirror terraform/outputs.tf"
    );
    let outputs = TerraformOutputs::load(&path).unwrap();
    assert_eq!(
        outputs,
        TerraformOutputs {
            network_id: 4_711_001,
            firewall_id: 1_234_567,
            ssh_key_ids: vec![20_000_001, 20_000_002],
            location: "fsn1".into()
        }
    );
}

#[test]
fn outputs_errors_name_the_file_and_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"network_id":{"sensitive":false,"type":"number","value":7},
        "firewall_id":{"sensitive":false,"type":"string","value":"8"},
        "ssh_key_ids":{"sensitive":false,"type":["list","number"],"value":[9]},
        "location":{"sensitive":false,"type":"string","value":"nbg1"}}"#;
    let path = write_outputs(dir.path(), good);
    let o = TerraformOutputs::load(&path).unwrap();
    assert_eq!(
        (
            o.network_id,
            o.firewall_id,
            o.ssh_key_ids,
            o.location.as_str()
        ),
        (7, 8, vec![9], "nbg1")
    );

    let cases: &[(&str, &str, &str)] = &[
        (
            r#""network_id":{"sensitive":false,"type":"number","value":7},"#,
            "",
            "output `network_id` is missing",
        ),
        (
            r#""value":[9]"#,
            r#""value":[]"#,
            "output `ssh_key_ids`: is empty",
        ),
        (
            r#""value":[9]"#,
            r#""value":[9,"x"]"#,
            "output `ssh_key_ids`: item 1",
        ),
        (
            r#""value":7"#,
            r#""value":-7"#,
            "output `network_id`: expected a positive integer id",
        ),
        (
            r#""value":"nbg1""#,
            r#""value":"NBG 1""#,
            "output `location`",
        ),
        (
            r#"{"sensitive":false,"type":"number","value":7}"#,
            r#"{"sensitive":true,"type":"number","value":7}"#,
            "is marked sensitive",
        ),
        (good, "[]", "not `terraform output -json` output"),
        (good, "{", "not `terraform output -json` output"),
    ];
    for (from, to, expected) in cases {
        let path = write_outputs(dir.path(), &good.replacen(from, to, 1));
        let e = TerraformOutputs::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(expected) && e.contains("terraform-outputs.json"),
            "{e}"
        );
    }
    let missing = dir.path().join("nope.json");
    let e = TerraformOutputs::load(&missing).unwrap_err();
    assert!(
        matches!(e, TerraformError::Read { .. }) && e.to_string().contains("nope.json"),
        "{e}"
    );
}
