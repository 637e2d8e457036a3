//! The `real-edge-cases/` and `differential/` replays, with the commands
//! their outputs imply but the recordings do not hold (run as set-up, not
//! compared) and the recorded commands not yet reproduced (skipped, each
//! with its reason, so the list of differences can only shrink).

use crate::emulator::{Emu, Setup, Skip, Tally, replay_with, transcripts};

const NGINX_T: Skip = Skip::NotRun(
    "nginx: roomctl:nginx-set refused by `nginx -t` on Dokku's generated nginx.conf (not generated yet; the emulator would accept it)",
);
const DOMAINS: Skip = Skip::Uncompared(
    "domains: remove of an unknown domain, uppercase and duplicate domains, clear order, usage text not emulated yet",
);
const PORTS: Skip = Skip::Uncompared(
    "ports: map order and reuse checks, ports:remove, https without a certificate, bad maps not emulated yet",
);
const STORAGE: Skip = Skip::Uncompared(
    "storage: relative (named-volume) mounts and entry-name errors not emulated yet",
);
const DEPLOY: Skip = Skip::Uncompared(
    "deployed-app messages (deploy log, \"No changes detected\", network sync lines, retire list) not emulated yet",
);
const REGISTRY: Skip =
    Skip::NotRun("git:from-image of an image the recording host could not pull (no registry)");

/// `real-edge-cases/`: recorded commands not compared.
const EDGE_SKIPS: &[(usize, Skip)] = &[
    (12, NGINX_T),
];

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
const DIFF_SKIPS: &[(usize, Skip)] = &[
    (26, DOMAINS),
    (28, DOMAINS),
    (29, DOMAINS),
    (30, DOMAINS),
    (31, DOMAINS),
    (32, DOMAINS),
    (33, DOMAINS),
    (34, PORTS),
    (35, PORTS),
    (36, PORTS),
    (37, PORTS),
    (38, PORTS),
    (39, PORTS),
    (40, PORTS),
    (41, PORTS),
    (42, PORTS),
    (43, PORTS),
    (44, PORTS),
    (45, PORTS),
    (46, PORTS),
    (48, STORAGE),
    (49, STORAGE),
    (50, STORAGE),
    (51, STORAGE),
    (52, STORAGE),
    (62, NGINX_T),
    (63, NGINX_T),
    (65, NGINX_T),
    (93, DEPLOY),
    (95, DEPLOY),
    (96, DEPLOY),
    (97, DEPLOY),
    (98, DEPLOY),
    (99, NGINX_T),
    (102, REGISTRY),
    (108, STORAGE),
    (114, DEPLOY),
    (117, DEPLOY),
    (145, PORTS),
    (146, PORTS),
    (147, PORTS),
];

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
