//! No-panic property tests over the parsers that read what others send:
//! Dokku's answers (`roomctl:observe`, the ENV file reader, the list and
//! report parsers), Stripe webhook bodies, the desired-state loader
//! ([`desired`]), Porkbun's and Hetzner's answers ([`remote`]) and the
//! Dokku emulator's command line ([`emulator`]). Inputs are the recorded
//! answers, fixtures and examples, mutated at random (bytes flipped,
//! inserted, deleted, cut; values and words replaced), and random bytes.
//! A parser may refuse any of them; it must never panic (nor hang).
//! `PROPTEST_CASES` sets the cases per harness (the suite runs proptest's
//! default, 256); the long run, 1,000,000 cases each, is
//! `PROPTEST_CASES=1000000 cargo test --release --test fuzz_parsers`
//! (results in BENCHMARKS.md §9).

#[path = "fuzz_parsers/desired.rs"]
mod desired;
#[path = "fuzz_parsers/emulator.rs"]
mod emulator;
#[path = "fuzz_parsers/remote.rs"]
mod remote;

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Every recorded file under the fixtures: Dokku transcripts (stdout,
/// stderr, disk layout) and Stripe webhook bodies.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        walk(&base.join("dokku-transcripts"), &mut out);
        walk(&base.join("stripe-webhooks"), &mut out);
        assert!(out.len() > 100, "the recordings are missing");
        out
    })
}

fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if std::fs::metadata(&p).unwrap().len() < 256 * 1024 {
            out.push(std::fs::read(&p).unwrap());
        }
    }
}

/// One byte edit: overwrite, insert, delete, or cut the rest.
pub type Edit = (u8, prop::sample::Index, u8);

/// A few byte edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        (any::<u8>(), any::<prop::sample::Index>(), any::<u8>()),
        0..8,
    )
}

/// Applies `edits` to `s`.
pub fn edit_bytes(s: &mut Vec<u8>, edits: &[Edit]) {
    for &(op, at, byte) in edits {
        let i = if s.is_empty() { 0 } else { at.index(s.len()) };
        match op % 4 {
            0 if !s.is_empty() => s[i] = byte,
            1 => s.insert(i, byte),
            2 if !s.is_empty() => {
                s.remove(i);
            }
            _ => s.truncate(i),
        }
    }
}

/// A recorded answer with random edits, or random bytes.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        (any::<prop::sample::Index>(), edits()).prop_map(|(pick, edits)| {
            let mut s = pick.get(seeds()).clone();
            edit_bytes(&mut s, &edits);
            s
        }),
    ]
}

/// A `roomctl:observe` answer: a recorded-shape header and records around
/// the input, so the framing is passed and the records are reached.
fn observe_input() -> impl Strategy<Value = Vec<u8>> {
    input().prop_map(|body| {
        let mut out = b"roomctl-observe 2 0.2.0\n".to_vec();
        out.extend_from_slice(&body);
        out
    })
}

proptest! {
    #[test]
    fn the_observe_parser_never_panics(bytes in observe_input()) {
        let _ = roomctl::dokku::observe::parse(&bytes);
    }

    #[test]
    fn the_env_file_reader_never_panics(bytes in input()) {
        let _ = roomctl::dokku::envfile::parse(&bytes);
    }

    #[test]
    fn the_dokku_list_and_report_parsers_never_panic(bytes in input()) {
        use roomctl::dokku::parse;
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse::apps_list(&text);
        let _ = parse::config_export(&text);
        let _ = parse::vhosts(&text);
        let _ = parse::ports_map(&text);
        let _ = parse::storage_list(&text);
        let _ = parse::ps_running(&text);
        let _ = parse::letsencrypt_list(&text);
        let _ = parse::nginx_report(&text);
        let _ = parse::json_lines("apps:report", &text, 1);
        let _ = parse::json_object("config:export", &text);
    }

    #[test]
    fn the_webhook_event_parser_never_panics(bytes in input()) {
        let _ = roomctl::webhook::event::Envelope::parse(&bytes);
    }
}

proptest! {
    #[test]
    fn the_desired_state_loader_never_panics((tree, odd) in desired::tree()) {
        let dir = desired::scratch();
        desired::write(dir, &tree, &odd);
        desired::load(dir);
    }

    #[test]
    fn the_porkbun_answer_readers_never_panic((status, body) in remote::porkbun_answer()) {
        let keys = roomctl::dns::porkbun::PorkbunKeys::new("pk1_fuzz", "sk1_fuzz");
        let _ = roomctl::dns::porkbun::read_records_answer(&keys, status, &body);
        let _ = roomctl::dns::porkbun::read_create_answer(&keys, status, &body);
    }

    #[test]
    fn the_hetzner_answer_readers_never_panic((status, body) in remote::hetzner_answer()) {
        let _ = roomctl::hetzner::hcloud_api::read_servers_page("fuzz-token", status, &body);
        let _ = roomctl::hetzner::hcloud_api::read_server_answer("fuzz-token", status, &body);
    }

    #[test]
    fn the_emulators_command_line_never_panics((line, input) in emulator::command()) {
        emulator::run(emulator::host(), &line, &input);
    }
}
