//! Refusals: hostile inputs, template expressions outside the documented
//! context, broken templates and plugin directories.

use crate::{KEY, inputs, repo};
use roomctl::hetzner::cloud_init::{
    CloudInitError, CloudInitInputs, DOKKU_VERSION, USER_DATA_LIMIT, render,
};
use std::path::{Path, PathBuf};

/// Asserts that building the inputs failed on `field`.
fn refused(result: Result<CloudInitInputs, CloudInitError>, field: &str) {
    match result {
        Err(CloudInitError::Invalid { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected {field} to be refused, got {other:?}"),
    }
}

#[test]
fn hostile_inputs_are_refused_before_rendering() {
    let new = |h: &str, k: &str, e: &str, v: &str, m: usize| CloudInitInputs::new(h, k, e, v, m);
    for h in [
        "",
        "Pool-1",
        "pool_1",
        "pool-1\nruncmd: [reboot]",
        "pool-1; reboot",
        "\"x\"",
        "-x",
        &"a".repeat(64),
    ] {
        refused(
            new(h, KEY, "ops@mindroom.chat", DOKKU_VERSION, 20),
            "hostname",
        );
    }
    let hostile_keys = [
        format!("{KEY}\nruncmd: [reboot]"),
        format!("{KEY} $(reboot)"),
        KEY.replace("roomctl@platform", "x\"y"),
        KEY.replace("roomctl@platform", "{{x}}"),
        "ssh-ed25519 not-base64!".into(),
        KEY.replacen("ssh-ed25519", "ssh-rsa", 1),
        String::new(),
    ];
    for k in &hostile_keys {
        refused(
            new("pool-1", k, "ops@mindroom.chat", DOKKU_VERSION, 20),
            "ssh_public_key",
        );
    }
    for e in [
        "ops",
        "ops@mindroom.chat\"; reboot; \"",
        "$(reboot)@x.y",
        "a b@c.d",
    ] {
        refused(
            new("pool-1", KEY, e, DOKKU_VERSION, 20),
            "letsencrypt_email",
        );
    }
    for v in ["latest", "v0.38.27", "0.38.27; reboot"] {
        refused(
            new("pool-1", KEY, "ops@mindroom.chat", v, 20),
            "dokku_version",
        );
    }
    for m in [0, 1025, 70_000] {
        refused(
            new("pool-1", KEY, "ops@mindroom.chat", DOKKU_VERSION, m),
            "max_sessions",
        );
    }
}

#[test]
fn the_template_uses_only_its_documented_context() {
    let text = std::fs::read_to_string(repo().join("templates/cloud-init.yaml.tera")).unwrap();
    let allowed = [
        "hostname",
        "roomctl_ssh_public_key",
        "dokku_version",
        "letsencrypt_email",
        "max_sessions",
        "share",
        "letsencrypt_plugin_version",
        "f.path",
        "f.mode",
        "f.content_gz_base64",
    ];
    for (i, part) in text.split("{{").enumerate().skip(1) {
        let expr = part.split("}}").next().unwrap().trim();
        assert!(
            allowed.contains(&expr),
            "expression #{i} `{{{{ {expr} }}}}` is not in the documented context"
        );
    }
}

/// Writes `text` to `dir/rel`, creating directories; returns the path.
fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_broken_template_or_plugin_dir_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("plugin");
    write(&plugin, "plugin.toml", "[plugin]\n");
    write(&plugin, "commands", "#!/bin/bash\n");
    let templates = dir.path().join("templates");
    let try_template = |text: &str| {
        write(&templates, "cloud-init.yaml.tera", text);
        render(&templates, &inputs(20), &plugin)
            .unwrap_err()
            .to_string()
    };
    let e = try_template("runcmd: []\n");
    assert!(
        e.contains("cloud-init.yaml.tera") && e.contains("#cloud-config"),
        "{e}"
    );
    let e = try_template("#cloud-config\nruncmd: [\n");
    assert!(e.contains("invalid YAML"), "{e}");
    let e = try_template("#cloud-config\n{{ nope }}\n");
    assert!(
        e.contains("cloud-init.yaml.tera") && e.contains("nope"),
        "{e}"
    );
    let e = try_template(&format!(
        "#cloud-config\nbig: \"{}\"\n",
        "x".repeat(USER_DATA_LIMIT)
    ));
    assert!(e.contains(&USER_DATA_LIMIT.to_string()), "{e}");

    let e = render(&dir.path().join("none"), &inputs(20), &plugin)
        .unwrap_err()
        .to_string();
    assert!(e.contains("none/cloud-init.yaml.tera"), "{e}");

    let templates = repo().join("templates");
    let e = render(&templates, &inputs(20), &dir.path().join("templates"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a Dokku plugin"), "{e}");
    write(&plugin, "bad name", "x");
    let e = render(&templates, &inputs(20), &plugin)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad name"), "{e}");
    std::fs::remove_file(plugin.join("bad name")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", plugin.join("link")).unwrap();
    let e = render(&templates, &inputs(20), &plugin)
        .unwrap_err()
        .to_string();
    assert!(e.contains("link") && e.contains("regular files"), "{e}");
    std::fs::remove_file(plugin.join("link")).unwrap();
    assert!(render(&templates, &inputs(20), &plugin).is_ok());
}
