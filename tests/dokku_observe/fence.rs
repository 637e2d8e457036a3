//! `roomctl:fence` as the plugin's bash runs it, next to the emulator's.

use super::harness::Host;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// Where a fence runs: the plugin's bash on a stand-in host, or the emulator.
enum Side {
    Plugin(Host),
    Emulator(tempfile::TempDir),
}

impl Side {
    fn command(&self, holder: &str) -> Command {
        match self {
            Side::Plugin(h) => h.command(&["roomctl:fence", holder]),
            Side::Emulator(root) => {
                let emu = roomctl::emulator::HostConfig::default();
                roomctl::emulator::init_host(root.path(), &emu).unwrap();
                let mut c = Command::new(env!("CARGO_BIN_EXE_dokku-emu"));
                c.arg("--root")
                    .arg(root.path())
                    .env("SSH_ORIGINAL_COMMAND", format!("roomctl:fence {holder}"));
                c
            }
        }
    }

    /// Starts a fence for `holder`, returning it and its first line.
    fn start(&self, holder: &str) -> (Child, String) {
        let mut child = self
            .command(holder)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        (child, line)
    }
}

fn sides() -> [Side; 2] {
    [
        Side::Plugin(Host::new()),
        Side::Emulator(tempfile::tempdir().unwrap()),
    ]
}

#[test]
fn a_fence_is_held_until_stdin_closes_and_refused_to_others_meanwhile() {
    for side in sides() {
        let (mut a, line) = side.start("ops-1:10:1");
        assert_eq!(line, "roomctl-fence held\n");
        let (b, line) = side.start("ops-2:20:2");
        assert_eq!(line, "roomctl-fence busy ops-1:10:1\n");
        assert_eq!(b.wait_with_output().unwrap().status.code(), Some(1));
        // Closing its standard input ends the holder and frees the fence.
        drop(a.stdin.take());
        assert_eq!(a.wait().unwrap().code(), Some(0));
        let (mut c, line) = side.start("ops-3:30:3");
        assert_eq!(line, "roomctl-fence held\n");
        drop(c.stdin.take());
        c.wait().unwrap();
    }
}

#[test]
fn a_killed_holder_leaves_no_fence() {
    for side in sides() {
        let (mut a, line) = side.start("ops-1:10:1");
        assert_eq!(line, "roomctl-fence held\n");
        a.kill().unwrap();
        a.wait().unwrap();
        let (mut b, line) = side.start("ops-2:20:2");
        assert_eq!(line, "roomctl-fence held\n");
        drop(b.stdin.take());
        b.wait().unwrap();
    }
}

#[test]
fn a_holder_that_could_reach_a_shell_is_refused() {
    for side in sides() {
        let out = side
            .command("x;reboot")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            " !     roomctl:fence needs a holder of letters, digits and . _ : @ - (at most 128)\n"
        );
    }
}
