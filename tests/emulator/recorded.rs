//! The `real-edge-cases/` and `differential/` replays, with the commands
//! their outputs imply but the recordings do not hold (run as set-up, not
//! compared) and the recorded commands not yet reproduced (skipped, each
//! with its reason, so the list of differences can only shrink).

use crate::emulator::{Emu, Setup, Skip, Tally, replay_with, transcripts};

const RETIRE: Skip = Skip::Uncompared(
    "apps:destroy retires the old containers whose delayed shutdown (60 s after a redeploy) has run: it depends on the wall time between the recorded commands, which a replay compresses",
);

/// `real-edge-cases/`: recorded commands not compared.
const EDGE_SKIPS: &[(usize, Skip)] = &[];

/// `real-edge-cases/`: the app the clone at 016 copies.
const EDGE_SETUPS: &[Setup] = &[
    Setup {
        before: 16,
        command: "apps:create i01-frontend",
        why: "016 clones i01-frontend, an app roomctl had applied on the recording host",
    },
    Setup {
        before: 16,
        command: "config:set --no-restart i01-frontend GIT_REV=75b9394566f3f8447f3de181be38a52f3bf3e585 MATRIX_HOMESERVER_URL=http://matrix.i01.mindroom.chat MINDROOM_API_KEY=3baba02a49537f9eb2efea893920eb492b609ed6b58a50afb6ac2017dc590fbe MINDROOM_API_URL=http://api.i01.mindroom.chat PORT=3003 ROOMCTL_APPLIED=v2-71075d478f5c1348b79c8fd1bef396fa ROOMCTL_INSTANCE=i01 ROOMCTL_KEYS=MATRIX_HOMESERVER_URL,MINDROOM_API_KEY,MINDROOM_API_URL,PORT ROOMCTL_ROLE=frontend",
        why: "017 shows the env the clone copied from i01-frontend",
    },
];

/// `differential/`: recorded commands not compared.
const DIFF_SKIPS: &[(usize, Skip)] = &[(117, RETIRE)];

/// `differential/` holds only the commands that differed; these are the
/// ones its outputs show were run in between.
const DIFF_SETUPS: &[Setup] = &[
    Setup {
        before: 7,
        command: "config:set --encoded --no-restart dx-a TRAILBS=ZW5kc1w=",
        why: "007 breaks on UNI's line: a value ending in a backslash sorts before it (TRAILBS, read at 010)",
    },
    Setup {
        before: 26,
        command: "domains:set dx-a a.example.com notthere.example.com c.example.com",
        why: "026 removes notthere.example.com and rebuilds for a.example.com and c.example.com",
    },
    Setup {
        before: 30,
        command: "domains:set dx-a d.example.com d.example.com",
        why: "030 shows d.example.com twice",
    },
    Setup {
        before: 34,
        command: "domains:set dx-a e.example.com",
        why: "034 to 044 rebuild nginx for e.example.com",
    },
    Setup {
        before: 47,
        command: "storage:mount dx-a /var/lib/dokku/data/storage/dx-a:/data",
        why: "047 lists this mount",
    },
    Setup {
        before: 47,
        command: "storage:mount dx-a /var/lib/dokku/data/storage/dx-a-2:/data2:ro",
        why: "047 lists this read-only mount",
    },
    Setup {
        before: 48,
        command: "storage:unmount dx-a /var/lib/dokku/data/storage/dx-a:/data",
        why: "051 no longer lists the /data mount",
    },
    Setup {
        before: 65,
        command: "ports:set dx-a http:80:5000",
        why: "065 fails as a duplicate of Dokku's own client_max_body_size, so dx-a's nginx.conf has a server block again (after 044 its map is ftp:21:21, for which Dokku's template renders none and the plugin tests a bare server block, as 062 shows)",
    },
    Setup {
        before: 93,
        command: "emu:seed-image roomctl-bench/app:1",
        why: "093 finds the image on the host (\"Image exists on host, skipping pull\")",
    },
    Setup {
        before: 96,
        command: "ps:stop dx-c",
        why: "096 finds dx-c not running and retires its previous container 988775139bbd, deployed at 093",
    },
    Setup {
        before: 114,
        command: "ps:stop dx-c",
        why: "114 finds dx-c not running",
    },
    Setup {
        before: 68,
        command: "config:set --no-restart dx-b K=v",
        why: "069 shows K=v carried over by the rename",
    },
    Setup {
        before: 122,
        command: "config:set --encoded --no-restart dx-e TAB=YQli CR=YQ0KYg==",
        why: "122 shows TAB and CR",
    },
    Setup {
        before: 124,
        command: "config:unset --no-restart dx-e EQ NL SPACE",
        why: "124 no longer shows EQ, NL and SPACE",
    },
    Setup {
        before: 126,
        command: "config:set --no-restart dx-e EQ=changed _UNDER=x lower_key=x",
        why: "126 shows EQ=changed, _UNDER and lower_key",
    },
    Setup {
        before: 130,
        command: "config:set --encoded --no-restart dx-e ONLYBS=XA==",
        why: "131 breaks on QUOTES's line: a value that is only a backslash (ONLYBS, read at 130) sorts before it",
    },
    Setup {
        before: 133,
        command: "config:set --encoded --no-restart dx-f TRAILBS=ZW5kc1w=",
        why: "134 shows TRAILBS=\"ends\\\" unterminated",
    },
    Setup {
        before: 137,
        command: "config:set --encoded --no-restart dx-g A=ZW5kIg==",
        why: "137 breaks as real-edge-cases/005 does: a value ending in a double quote ...",
    },
    Setup {
        before: 137,
        command: "config:set --no-restart dx-g B=next",
        why: "... followed by another key (\"next\")",
    },
    Setup {
        before: 140,
        command: "config:set --encoded --no-restart dx-h Q=eA==",
        why: "140 shows Q=x",
    },
    Setup {
        before: 143,
        command: "config:set --no-restart dx-h R=x",
        why: "143 shows R=x",
    },
];

fn assert_clean(t: &Tally) {
    assert!(
        t.failures.is_empty(),
        "{} mismatches:\n\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
}

#[test]
fn real_edge_cases_replay_byte_for_byte_on_a_host_without_a_global_vhost() {
    let emu = Emu::without_vhost();
    let t = replay_with(
        &emu,
        "real-edge-cases",
        "commands-real-edge-cases.txt",
        EDGE_SKIPS,
        EDGE_SETUPS,
    );
    assert_clean(&t);
}

#[test]
fn the_differential_recording_replays_byte_for_byte_on_a_host_without_a_global_vhost() {
    let emu = Emu::without_vhost();
    let t = replay_with(
        &emu,
        "differential",
        "commands-differential.txt",
        DIFF_SKIPS,
        DIFF_SETUPS,
    );
    assert_clean(&t);
}

#[test]
fn every_skip_and_set_up_step_names_a_recorded_command_and_gives_a_reason() {
    for (list, skips, setups) in [
        ("commands-real-edge-cases.txt", EDGE_SKIPS, EDGE_SETUPS),
        ("commands-differential.txt", DIFF_SKIPS, DIFF_SETUPS),
    ] {
        let n = std::fs::read_to_string(transcripts().join(list))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        for (i, skip) in skips {
            let reason = skip.reason();
            assert!(
                (1..=n).contains(i) && !reason.is_empty(),
                "{list}: bad skip {i}"
            );
        }
        for s in setups {
            assert!(
                (1..=n).contains(&s.before) && !s.why.is_empty() && !s.command.is_empty(),
                "{list}: bad set-up before {}",
                s.before
            );
        }
    }
}
