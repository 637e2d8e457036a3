//! The `roomctl` binary, run the way an operator runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn roomctl(dir: &Path, args: &[&str]) -> Output {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Command::new(env!("CARGO_BIN_EXE_roomctl"))
        .current_dir(&repo)
        .env_remove("ROOMCTL_ROOT_SECRET")
        .env("ROOMCTL_STATE_DIR", dir.join("state"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_demo_converges_and_plan_exit_codes_follow_terraform() {
    let tmp = tempfile::tempdir().unwrap();
    let sandbox = tmp.path().join("sandbox");
    let sb = sandbox.to_str().unwrap();
    let demo = roomctl(tmp.path(), &["demo", "--dir", sb]);
    assert!(demo.status.success(), "{}", text(&demo));
    let out = text(&demo);
    for step in [
        "=== 1. plan",
        "=== 2. apply",
        "No changes. The fleet matches the desired state.",
        "=== 4. instance",
        "Demo complete",
    ] {
        assert!(out.contains(step), "missing {step:?} in\n{out}");
    }
    assert!(
        !out.contains("sandbox-root-secret"),
        "the root secret leaked"
    );

    // The demo left the fleet converged on its edited copy of the desired state.
    let edited = sandbox.join("desired-state");
    let ed = edited.to_str().unwrap();
    let p = roomctl(
        tmp.path(),
        &[
            "plan",
            "--desired",
            ed,
            "--sandbox",
            sb,
            "--detailed-exitcode",
        ],
    );
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    // The shipped desired state still has the instance on its old tier: changes pending.
    let p = roomctl(
        tmp.path(),
        &["plan", "--sandbox", sb, "--detailed-exitcode", "--json"],
    );
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let plan: serde_json::Value = serde_json::from_slice(&p.stdout).expect("plan --json is JSON");
    assert!(plan["hosts"].is_object());
    let json = String::from_utf8_lossy(&p.stdout);
    assert!(!json.contains("s3cr3t") && !json.contains(&"0".repeat(64)));
    // Applying the shipped state converges, and a second apply does nothing.
    let a = roomctl(tmp.path(), &["apply", "--sandbox", sb]);
    assert!(a.status.success(), "{}", text(&a));
    let p = roomctl(
        tmp.path(),
        &["plan", "--sandbox", sb, "--detailed-exitcode"],
    );
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

#[test]
fn plan_marks_secrets_sensitive_and_never_prints_them() {
    let tmp = tempfile::tempdir().unwrap();
    let sb = tmp.path().join("sandbox");
    let p = roomctl(tmp.path(), &["plan", "--sandbox", sb.to_str().unwrap()]);
    assert!(p.status.success(), "{}", text(&p));
    let out = text(&p);
    assert!(
        out.contains("MATRIX_REGISTRATION_SHARED_SECRET = \"(sensitive)\""),
        "{out}"
    );
    // Derived secrets are 64 hex characters; none may appear.
    let hex64 = out
        .split(|c: char| !c.is_ascii_hexdigit())
        .any(|w| w.len() == 64);
    assert!(!hex64, "a derived secret was printed:\n{out}");
}

#[test]
fn a_broken_desired_state_is_refused_naming_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("desired");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(d.join("instances")).unwrap();
    for f in ["platform.toml", "hosts.toml", "tiers.toml"] {
        std::fs::copy(repo.join("desired-state").join(f), d.join(f)).unwrap();
    }
    std::fs::write(
        d.join("instances/x.toml"),
        "[[instance]]\nid = \"ok\"\n\n[[instance]]\nid = \"bad\"\ntier = \"gold\"\n",
    )
    .unwrap();
    let v = roomctl(tmp.path(), &["validate", "--desired", d.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1));
    let err = text(&v);
    assert!(
        err.contains("instances/x.toml:6") && err.contains("tier") && err.contains("gold"),
        "{err}"
    );
}

#[test]
fn plan_without_a_root_secret_outside_the_sandbox_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = roomctl(tmp.path(), &["plan"]);
    assert_eq!(p.status.code(), Some(1));
    assert!(text(&p).contains("ROOMCTL_ROOT_SECRET"), "{}", text(&p));
}

/// Every file named `name` under `dir`, recursively.
fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(find(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_sandbox_apply_gives_instances_records_snippets_and_certificates_and_a_second_apply_changes_nothing()
 {
    let tmp = tempfile::tempdir().unwrap();
    let sandbox = tmp.path().join("sandbox");
    let sb = sandbox.to_str().unwrap();
    let apply = roomctl(tmp.path(), &["apply", "--sandbox", sb]);
    assert!(apply.status.success(), "{}", text(&apply));

    let zone = std::fs::read_to_string(sandbox.join("dns/mindroom.chat.json")).unwrap();
    for name in [
        "\"acme-corp.mindroom.chat\"",
        "\"api.acme-corp.mindroom.chat\"",
        "\"matrix.acme-corp.mindroom.chat\"",
        "\"roomctl:mindroom-production:acme\"",
    ] {
        assert!(zone.contains(name), "{name} in {zone}");
    }
    let snippets = find(&sandbox.join("hosts"), "roomctl.conf");
    assert!(
        snippets
            .iter()
            .any(|p| p.ends_with("acme-matrix/nginx.conf.d/roomctl.conf")),
        "{snippets:?}"
    );
    let mut certified = vec![];
    for host in std::fs::read_dir(sandbox.join("hosts")).unwrap() {
        let out = Command::new(env!("CARGO_BIN_EXE_dokku-emu"))
            .arg("--root")
            .arg(host.unwrap().path())
            .env("SSH_ORIGINAL_COMMAND", "--quiet letsencrypt:list")
            .env_remove("DOKKU_EMU_COSTS")
            .output()
            .unwrap();
        certified.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_string)),
        );
    }
    for app in ["acme-backend", "acme-frontend", "acme-matrix"] {
        assert!(certified.iter().any(|c| c == app), "{app} in {certified:?}");
    }

    let again = roomctl(tmp.path(), &["apply", "--sandbox", sb]);
    assert!(again.status.success(), "{}", text(&again));
    let plan = roomctl(
        tmp.path(),
        &["plan", "--sandbox", sb, "--detailed-exitcode"],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(
        text(&plan).contains("zone mindroom.chat: no changes"),
        "{}",
        text(&plan)
    );
}

/// Runs `roomctl demo --dir DIR` from `cwd`, with the repository's desired
/// state and templates.
fn demo_in(cwd: &Path, state: &Path, dir: &str) -> Output {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Command::new(env!("CARGO_BIN_EXE_roomctl"))
        .current_dir(cwd)
        .env_remove("ROOMCTL_ROOT_SECRET")
        .env("ROOMCTL_STATE_DIR", state)
        .arg("--desired")
        .arg(repo.join("desired-state"))
        .arg("--templates")
        .arg(repo.join("templates"))
        .args(["demo", "--dir", dir])
        .output()
        .unwrap()
}

#[test]
fn demo_refuses_to_empty_a_directory_it_did_not_create() {
    let tmp = tempfile::tempdir().unwrap();
    let precious = tmp.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("data.txt"), "customer data").unwrap();
    let out = demo_in(tmp.path(), &tmp.path().join("state"), "precious");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("refusing to empty") && text(&out).contains(".roomctl-sandbox"),
        "{}",
        text(&out)
    );
    assert!(precious.join("data.txt").is_file());
}

#[test]
fn demo_refuses_to_empty_the_current_directory_or_its_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let sub = work.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(work.join("keep.txt"), "x").unwrap();
    std::fs::write(sub.join("keep.txt"), "x").unwrap();
    // Even a marker does not make the current directory or its parent a sandbox.
    std::fs::write(sub.join(".roomctl-sandbox"), "").unwrap();
    std::fs::write(work.join(".roomctl-sandbox"), "").unwrap();
    for dir in [".", ".."] {
        let out = demo_in(&sub, &tmp.path().join("state"), dir);
        assert!(!out.status.success(), "--dir {dir}: {}", text(&out));
        assert!(text(&out).contains("refusing to empty"), "{}", text(&out));
    }
    assert!(work.join("keep.txt").is_file() && sub.join("keep.txt").is_file());
}

#[test]
fn plan_with_an_unreadable_zone_exits_1_with_detailed_exitcode() {
    let tmp = tempfile::tempdir().unwrap();
    let sandbox = tmp.path().join("sandbox");
    let sb = sandbox.to_str().unwrap();
    std::fs::create_dir_all(sandbox.join("dns")).unwrap();
    // What a torn write leaves behind.
    std::fs::write(sandbox.join("dns/mindroom.chat.json"), "[{\"name\": ").unwrap();
    let p = roomctl(
        tmp.path(),
        &["plan", "--sandbox", sb, "--detailed-exitcode"],
    );
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(
        !text(&p).contains("No changes. The fleet matches"),
        "{}",
        text(&p)
    );
}
