//! What the rendered user data holds: keys, sshd and upgrade settings, the
//! provisioning script and the plugin files.

use crate::{KEY, content, entry, rendered, repo};
use base64::Engine as _;
use roomctl::hetzner::cloud_init::USER_DATA_LIMIT;
use serde_norway::Value;
use std::collections::BTreeSet;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Where the template stages the plugin before the script installs it.
const STAGING: &str = "/usr/local/share/roomctl/dokku-plugin/roomctl";
/// The provisioning script runcmd runs.
const PROVISION: &str = "/usr/local/sbin/roomctl-provision";

#[test]
fn renders_cloud_config_with_the_expected_keys() {
    let (text, doc) = rendered(20);
    assert!(text.starts_with("#cloud-config\n"));
    assert!(text.len() <= USER_DATA_LIMIT, "{} bytes", text.len());
    let keys: BTreeSet<&str> = doc
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(Value::as_str)
        .collect();
    let expected = [
        "hostname",
        "preserve_hostname",
        "manage_etc_hosts",
        "ssh_pwauth",
        "disable_root",
        "package_update",
        "package_upgrade",
        "package_reboot_if_required",
        "packages",
        "write_files",
        "runcmd",
        "final_message",
    ];
    assert_eq!(keys, expected.into_iter().collect());
    assert_eq!(doc["hostname"].as_str(), Some("pool-3"));
    assert_eq!(doc["ssh_pwauth"].as_bool(), Some(false));
    assert_eq!(doc["package_update"].as_bool(), Some(true));
    assert_eq!(doc["package_upgrade"].as_bool(), Some(true));
    let packages: Vec<&str> = doc["packages"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for p in ["unattended-upgrades", "wget", "ca-certificates"] {
        assert!(packages.contains(&p), "{packages:?}");
    }
    let runcmd: Vec<Vec<&str>> = doc["runcmd"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            c.as_sequence()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect()
        })
        .collect();
    assert_eq!(runcmd, vec![vec![PROVISION]]);
    assert!(
        doc["final_message"]
            .as_str()
            .unwrap()
            .contains("/var/lib/roomctl/provisioned")
    );
    assert_eq!(text, rendered(20).0, "rendering is deterministic");
}

#[test]
fn sshd_and_upgrades_are_hardened() {
    let (_, doc) = rendered(20);
    let sshd = content(&doc, "/etc/ssh/sshd_config.d/10-roomctl.conf");
    for line in [
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "MaxSessions 20",
        "MaxStartups 10:30:60",
    ] {
        assert!(
            sshd.lines().any(|l| l == line),
            "missing {line:?} in\n{sshd}"
        );
    }
    let (_, doc30) = rendered(30);
    assert!(
        content(&doc30, "/etc/ssh/sshd_config.d/10-roomctl.conf").contains("\nMaxSessions 30\n")
    );
    let upgrades = content(&doc, "/etc/apt/apt.conf.d/20auto-upgrades");
    assert!(upgrades.contains("APT::Periodic::Unattended-Upgrade \"1\";"));
}

/// The drop-in is valid for the real sshd.
#[test]
fn sshd_accepts_the_drop_in() {
    crate::require::openssh();
    let sshd = Path::new("/usr/sbin/sshd");
    let (_, doc) = rendered(20);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("host_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let cfg = dir.path().join("sshd_config");
    let drop_in = content(&doc, "/etc/ssh/sshd_config.d/10-roomctl.conf");
    std::fs::write(
        &cfg,
        format!(
            "{drop_in}HostKey {}\nPidFile {}/pid\n",
            key.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(sshd)
        .arg("-t")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sshd -t: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn provisioning_installs_pinned_dokku_plugins_and_key_last() {
    let (_, doc) = rendered(20);
    assert_eq!(entry(&doc, PROVISION)["permissions"].as_str(), Some("0755"));
    let script = content(&doc, PROVISION);
    assert!(script.starts_with("#!/bin/bash\n") && script.contains("\nset -euo pipefail\n"));
    let steps = [
        "DOKKU_TAG=\"v0.38.27\"",
        "sshd -t",
        "wget -nv -NP . \"https://dokku.com/install/$DOKKU_TAG/bootstrap.sh\"",
        "DOKKU_TAG=\"$DOKKU_TAG\" bash bootstrap.sh",
        "apt-mark hold dokku",
        "dokku plugin:install https://github.com/dokku/dokku-letsencrypt.git --committish \"$LE_VERSION\" --name letsencrypt",
        "dokku letsencrypt:set --global email \"ops@mindroom.chat\"",
        "dokku letsencrypt:cron-job --add",
        "cp -R \"$SHARE/dokku-plugin/roomctl/.\" \"$PLUGIN_DIR/\"",
        "dokku plugin:enable roomctl",
        "dokku ssh-keys:add roomctl \"$SHARE/roomctl.pub\"",
        "mv \"$MARKER.tmp\" \"$MARKER\"",
    ];
    let mut at = 0;
    for step in steps {
        let found = script[at..]
            .find(step)
            .unwrap_or_else(|| panic!("missing or out of order: {step}\n{script}"));
        at += found + step.len();
    }
    assert!(
        script.contains("LE_VERSION=\"0.25.1\"")
            && script.contains("SHARE=\"/usr/local/share/roomctl\"")
    );
    let out = std::process::Command::new("bash")
        .args(["-n", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        content(&doc, "/usr/local/share/roomctl/roomctl.pub"),
        format!("{KEY}\n")
    );
    assert!(
        content(&doc, "/usr/local/share/roomctl/dokku.debconf")
            .contains("dokku dokku/hostname string pool-3\n")
    );
}

#[test]
fn plugin_files_ship_the_repository_plugin() {
    let (_, doc) = rendered(20);
    let plugin_dir = repo().join("dokku-plugin/roomctl");
    let mut expected = Vec::new();
    let mut dirs = vec![plugin_dir.clone()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') || name.ends_with(".md") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else {
                expected.push(path);
            }
        }
    }
    let shipped = doc["write_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().starts_with(STAGING))
        .count();
    assert_eq!(shipped, expected.len());
    for path in expected {
        let rel = path.strip_prefix(&plugin_dir).unwrap().to_str().unwrap();
        let e = entry(&doc, &format!("{STAGING}/{rel}"));
        assert_eq!(e["encoding"].as_str(), Some("gz+b64"), "{rel}");
        let gz = base64::engine::general_purpose::STANDARD
            .decode(e["content"].as_str().unwrap())
            .unwrap();
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(
            bytes,
            std::fs::read(&path).unwrap(),
            "{rel} differs from the repository"
        );
        let exec = std::fs::metadata(&path).unwrap().permissions().mode() & 0o111 != 0;
        assert_eq!(
            e["permissions"].as_str(),
            Some(if exec { "0755" } else { "0644" }),
            "{rel}"
        );
    }
    assert!(entry(&doc, &format!("{STAGING}/commands"))["permissions"].as_str() == Some("0755"));
}
