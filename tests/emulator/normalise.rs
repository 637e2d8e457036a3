//! The normaliser applied to both the recorded and the emulated output before
//! comparing. It only hides fields that genuinely vary between runs or hosts:
//!
//! - hex ids of 11, 12, 40 or 64 chars (container/image ids, `CID: ...`, git
//!   shas) become `<HEX>`;
//! - 10-digit numbers (epoch timestamps: created-at, last-updated-at,
//!   expiration, renamed-container suffixes) become `<EPOCH>`;
//! - the random number in `upcoming-NNNN` container names becomes `<N>`;
//! - certificate countdowns (`89d, 23h, 59m, 52s` and their printf padding)
//!   become `<COUNTDOWN>`;
//! - 5-digit numbers from 32768 up (the random proxy port `apps:create`
//!   picks on a host without a global vhost) become `<PORT>`;
//! - nginx's log prefix (`2026/12/04 14:16:46 [emerg] 4382#4382:`) loses
//!   its time and pids (`<TIME> [emerg] <PID>#<PID>:`);
//! - roomctl's plugin's temporary directory `/tmp/dokku-4331-roomctl.vGKQpA`
//!   becomes `/tmp/dokku-PID-roomctl.XXXXXX` (as `differential/` records it);
//! - the later recording host's `nginx-service-command` (in `nginx:report`)
//!   ends in an escaped newline (`"/usr/local/bin/dokku-nginx-service\n"`):
//!   that host ran a stand-in for systemd's nginx service, a host artefact,
//!   so the newline is dropped;
//! - the two stderr lines a systemd-less recording host printed during
//!   `apps:destroy` ("System has not been booted with systemd ..." and "Failed to
//!   connect to bus: Host is down") are dropped; they are host artefacts, not Dokku
//!   output.

const HOST_ARTEFACTS: [&str; 2] = [
    "System has not been booted with systemd as init system (PID 1). Can't operate.",
    "Failed to connect to bus: Host is down",
];

/// The later host's `nginx-service-command` value, as JSON shows it.
const NGINX_SERVICE_ARTEFACT: &str = r#"/usr/local/bin/dokku-nginx-service\n""#;
const NGINX_SERVICE: &str = r#"/usr/local/bin/dokku-nginx-service""#;

pub fn normalise(s: &str) -> String {
    let kept: Vec<&str> = s
        .split_inclusive('\n')
        .filter(|l| !HOST_ARTEFACTS.contains(&l.trim_end()))
        .collect();
    let s = countdowns(&kept.concat()).replace(NGINX_SERVICE_ARTEFACT, NGINX_SERVICE);
    let s = tmp_dirs(&nginx_prefix(&s));
    tokens(&s)
}

/// `YYYY/MM/DD HH:MM:SS [emerg] PID#PID:` -> `<TIME> [emerg] <PID>#<PID>:`.
fn nginx_prefix(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|line| {
            let Some(at) = line.find(" [emerg] ") else {
                return line.to_string();
            };
            let stamp_ok = at >= 19
                && line.is_char_boundary(at - 19)
                && line[at - 19..at].bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'/',
                    10 => b == b' ',
                    13 | 16 => b == b':',
                    _ => b.is_ascii_digit(),
                });
            let rest = &line[at + 9..];
            let pid_end = rest.find(':').unwrap_or(0);
            let pids = &rest[..pid_end];
            let pid_ok = pids.split_once('#').is_some_and(|(a, b)| {
                !a.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
            });
            if !stamp_ok || !pid_ok {
                return line.to_string();
            }
            format!(
                "{}<TIME> [emerg] <PID>#<PID>{}",
                &line[..at - 19],
                &rest[pid_end..]
            )
        })
        .collect()
}

/// `/tmp/dokku-NNN-roomctl.XXXXXX` with any pid and suffix.
fn tmp_dirs(s: &str) -> String {
    const HEAD: &str = "/tmp/dokku-";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(HEAD) {
        out.push_str(&rest[..i + HEAD.len()]);
        rest = &rest[i + HEAD.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &rest[digits..];
        if digits > 0
            && tail.starts_with("-roomctl.")
            && tail.len() >= 15
            && tail.is_char_boundary(15)
        {
            out.push_str("PID-roomctl.XXXXXX");
            rest = &tail[15..];
        } else if rest.starts_with("PID-roomctl.") {
            continue;
        }
    }
    out.push_str(rest);
    out
}

fn tokens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut tok = String::new();
    let flush = |tok: &mut String, out: &mut String| {
        if !tok.is_empty() {
            let hex = tok
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            let digits = tok.chars().all(|c| c.is_ascii_digit());
            if out.ends_with("upcoming-") && digits {
                out.push_str("<N>");
            } else if digits && tok.len() == 10 {
                out.push_str("<EPOCH>");
            } else if digits && tok.len() == 5 && tok.as_str() >= "32768" {
                out.push_str("<PORT>");
            } else if hex && [11, 12, 40, 64].contains(&tok.len()) {
                out.push_str("<HEX>");
            } else {
                out.push_str(tok);
            }
            tok.clear();
        }
    };
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            tok.push(c);
        } else {
            flush(&mut tok, &mut out);
            out.push(c);
        }
    }
    flush(&mut tok, &mut out);
    out
}

/// Length of a `Nd, Nh, Nm, Ns` countdown starting at `s`, if any.
fn countdown_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    for (unit, sep) in [(b'd', true), (b'h', true), (b'm', true), (b's', false)] {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || b.get(i) != Some(&unit) {
            return None;
        }
        i += 1;
        if sep {
            if b.get(i..i + 2) != Some(b", ") {
                return None;
            }
            i += 2;
        }
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    Some(i)
}

fn countdowns(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let prev_ok = i == 0 || !s.as_bytes()[i - 1].is_ascii_alphanumeric();
        if prev_ok && let Some(n) = countdown_len(&s[i..]) {
            out.push_str("<COUNTDOWN> ");
            i += n;
            continue;
        }
        let c = s[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// A short line diff for failure messages.
pub fn diff(want: &str, have: &str) -> String {
    let w: Vec<&str> = want.split_inclusive('\n').collect();
    let h: Vec<&str> = have.split_inclusive('\n').collect();
    let mut out = String::new();
    for i in 0..w.len().max(h.len()) {
        let (a, b) = (w.get(i).copied(), h.get(i).copied());
        if a != b {
            out.push_str(&format!(
                "  line {}:\n    recorded: {:?}\n    emulated: {:?}\n",
                i + 1,
                a,
                b
            ));
            if out.len() > 1500 {
                out.push_str("  ...\n");
                break;
            }
        }
    }
    out
}
