//! Files that change while the plugin reads them, and a Docker that cannot
//! answer: the output is refused as a whole ([`ObserveError::Changed`],
//! read again) or the run state is unknown, never a wrong fact.
//!
//! A stand-in `stat` first on the plugin's `PATH` runs the real one and,
//! on its first call only, changes the host's files: after the sizes are
//! taken and before `cat` reads the files (or, for a vanished file, just
//! before the sizes are taken).

use super::harness::{Host, require_tools};
use roomctl::dokku::observe::{self, ObserveError, Running};

/// A host with two apps whose ENV files are `a_env` and `b_env`.
fn two_apps(a_env: &str, b_env: &str) -> Host {
    let h = Host::new();
    h.write("lib/config/a/ENV", a_env);
    h.write("lib/config/b/ENV", b_env);
    std::fs::create_dir_all(h.path("home/a")).unwrap();
    std::fs::create_dir_all(h.path("home/b")).unwrap();
    h
}

/// Installs a stand-in `stat` that runs `before` (shell), the real `stat`,
/// then `after`, on its first call only.
fn stat_that_changes_files(h: &Host, before: &str, after: &str) {
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v stat"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap();
    let marker = h.path("stat-called");
    h.write(
        "bin/stat",
        format!(
            "#!/bin/sh\nfirst=\nif [ ! -e {m} ]; then first=1; : > {m}; {before}; fi\n{real} \"$@\"\nrc=$?\nif [ -n \"$first\" ]; then {after}; fi\nexit $rc\n",
            m = marker.display(),
            real = real.trim(),
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(h.path("bin/stat"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn observe_err(h: &Host) -> ObserveError {
    let out = h.observe();
    assert!(
        out.ends_with(b"\nchanged\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    observe::parse(&out).unwrap_err()
}

#[test]
fn a_file_that_grows_between_its_size_and_its_bytes_makes_the_output_changed() {
    require_tools();
    let h = two_apps("A=\"1\"\n", "B=\"2\"\n");
    let a = h.path("lib/config/a/ENV");
    stat_that_changes_files(&h, ":", &format!("printf 'X=\"9\"\\n' >> {}", a.display()));
    assert_eq!(observe_err(&h), ObserveError::Changed);
}

#[test]
fn two_changes_that_cancel_out_are_caught_by_the_second_stat() {
    require_tools();
    // a grows by two bytes and b shrinks by two: the data section is as
    // long as the sizes say, but the boundary between the files moved.
    let h = two_apps("A=\"1\"\n", "B=\"22\"\n");
    let (a, b) = (h.path("lib/config/a/ENV"), h.path("lib/config/b/ENV"));
    stat_that_changes_files(
        &h,
        ":",
        &format!(
            "printf 'A=\"123\"\\n' > {}; printf 'B=\"\"\\n' > {}",
            a.display(),
            b.display()
        ),
    );
    assert_eq!(observe_err(&h), ObserveError::Changed);
}

#[test]
fn a_file_that_vanishes_or_turns_into_a_directory_makes_the_output_changed() {
    require_tools();
    let h = two_apps("A=\"1\"\n", "B=\"2\"\n");
    let a = h.path("lib/config/a/ENV");
    stat_that_changes_files(&h, &format!("rm {}", a.display()), ":");
    assert_eq!(observe_err(&h), ObserveError::Changed);

    let h = two_apps("A=\"1\"\n", "B=\"2\"\n");
    let b = h.path("lib/config/b/ENV");
    stat_that_changes_files(&h, ":", &format!("rm {b} && mkdir {b}", b = b.display()));
    assert_eq!(observe_err(&h), ObserveError::Changed);
}

#[test]
fn a_container_file_rewritten_after_docker_was_asked_makes_the_output_changed() {
    require_tools();
    let h = two_apps("A=\"1\"\n", "B=\"2\"\n");
    h.write("home/a/CONTAINER.web.1", "aaaa\n");
    h.write("containers", "aaaa running\nbbbb running\n");
    let c = h.path("home/a/CONTAINER.web.1");
    // Same size, another id: the second stat cannot see it; the reader
    // does, since Docker was never asked about bbbb.
    stat_that_changes_files(&h, &format!("printf 'bbbb\\n' > {}", c.display()), ":");
    let out = h.observe();
    assert!(!out.ends_with(b"\nchanged\n"));
    assert_eq!(observe::parse(&out).unwrap_err(), ObserveError::Changed);
}

#[test]
fn a_docker_that_cannot_be_reached_leaves_the_run_state_unknown() {
    require_tools();
    let h = two_apps("A=\"1\"\n", "B=\"2\"\n");
    h.write("home/a/CONTAINER.web.1", "aaaa\n");
    h.write(
        "bin/docker",
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2\nexit 1\n",
    );
    let out = h.observe();
    let wire = observe::wire::unframe(&out).unwrap();
    let observe::wire::Record::Bytes(body) = &wire.host["docker"] else {
        panic!("{:?}", wire.host["docker"]);
    };
    assert!(body.starts_with(b"1\nCannot connect"), "{body:?}");
    let host = observe::parse(&out).unwrap();
    assert_eq!(
        host.apps.iter().map(|a| a.running).collect::<Vec<_>>(),
        [None, Some(Running::False)]
    );
}

#[test]
fn an_id_docker_lists_by_a_unique_prefix_stands_for_that_container() {
    require_tools();
    let h = two_apps("", "");
    h.write("home/a/CONTAINER.web.1", "aaaa\n");
    h.write("home/a/CONTAINER.web.2", "ab");
    h.write("home/b/CONTAINER.web.1", "cc\n");
    // aaaa and ab are prefixes of one container each; cc of two, which
    // Docker refuses as ambiguous.
    h.write(
        "containers",
        "aaaa1111 running\nab12 exited\ncc11 running\ncc22 running\n",
    );
    let out = h.observe();
    let wire = observe::wire::unframe(&out).unwrap();
    assert_eq!(
        wire.host["docker"],
        observe::wire::Record::Bytes(b"0\naaaa running\nab exited\ncc -".to_vec())
    );
    let host = observe::parse(&out).unwrap();
    assert_eq!(
        host.apps.iter().map(|a| a.running).collect::<Vec<_>>(),
        [Some(Running::Mixed), Some(Running::False)]
    );
}
