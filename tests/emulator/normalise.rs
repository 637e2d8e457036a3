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
//! - the two stderr lines a systemd-less recording host printed during
//!   `apps:destroy` ("System has not been booted with systemd ..." and "Failed to
//!   connect to bus: Host is down") are dropped; they are host artefacts, not Dokku
//!   output.

const HOST_ARTEFACTS: [&str; 2] = [
    "System has not been booted with systemd as init system (PID 1). Can't operate.",
    "Failed to connect to bus: Host is down",
];

pub fn normalise(s: &str) -> String {
    let kept: Vec<&str> = s
        .split_inclusive('\n')
        .filter(|l| !HOST_ARTEFACTS.contains(&l.trim_end()))
        .collect();
    let s = countdowns(&kept.concat());
    tokens(&s)
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
