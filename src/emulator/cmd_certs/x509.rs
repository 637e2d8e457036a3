//! Just enough DER to read a certificate the way Dokku's `certs:report`
//! sees it through OpenSSL 3: validity dates as `-text` prints them, the
//! issuer in `-text`'s form, the subject as `-nameopt compat` (reformatted
//! by Dokku), and the hostnames (subject CN plus SAN entries, as Dokku
//! extracts them from `-subject -nameopt RFC2253` and the `-text` SAN line).
//! Checked against OpenSSL 3.0's output for quoting and escaping.

use base64::Engine;

use super::TlsCert;

/// The first certificate of a PEM file; `None` when OpenSSL could not read it.
pub fn parse_pem(pem: &[u8]) -> Option<TlsCert> {
    let text = String::from_utf8_lossy(pem);
    let body = text.split("-----BEGIN CERTIFICATE-----").nth(1)?;
    let body = body.split("-----END CERTIFICATE-----").next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    parse_der(&base64::engine::general_purpose::STANDARD.decode(b64).ok()?)
}

/// One DER element: tag, contents and what follows.
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&l0, mut d) = d.split_first()?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        let bytes = d.get(..n).filter(|_| (1..=4).contains(&n))?;
        d = &d[n..];
        bytes.iter().fold(0, |acc, &b| acc << 8 | usize::from(b))
    };
    (d.len() >= len).then(|| (tag, &d[..len], &d[len..]))
}

fn items(mut d: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !d.is_empty() {
        let (tag, body, rest) = tlv(d)?;
        out.push((tag, body));
        d = rest;
    }
    Some(out)
}

/// A Name: its RDNs in order, each a list of (short name, value bytes).
type Name<'a> = Vec<Vec<(String, &'a [u8])>>;

fn name(d: &[u8]) -> Option<Name<'_>> {
    items(d)?.into_iter().map(|(_, set)| rdn(set)).collect()
}

fn rdn(set: &[u8]) -> Option<Vec<(String, &[u8])>> {
    items(set)?
        .into_iter()
        .map(|(_, atv)| match items(atv)?[..] {
            [(0x06, oid), (_, value)] => Some((short_name(oid), value)),
            _ => None,
        })
        .collect()
}

fn short_name(oid: &[u8]) -> String {
    const X520: [&str; 13] = [
        "",
        "",
        "",
        "CN",
        "SN",
        "serialNumber",
        "C",
        "L",
        "ST",
        "street",
        "O",
        "OU",
        "title",
    ];
    let known = match oid {
        [0x55, 0x04, 15] => Some("businessCategory"),
        [0x55, 0x04, 17] => Some("postalCode"),
        [0x55, 0x04, 42] => Some("GN"),
        [0x55, 0x04, 97] => Some("organizationIdentifier"),
        [0x55, 0x04, n] => X520.get(usize::from(*n)).copied().filter(|s| !s.is_empty()),
        [
            0x2b,
            0x06,
            0x01,
            0x04,
            0x01,
            0x82,
            0x37,
            0x3c,
            0x02,
            0x01,
            n @ 1..=3,
        ] => ["jurisdictionL", "jurisdictionST", "jurisdictionC"]
            .get(usize::from(*n - 1))
            .copied(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => Some("emailAddress"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => Some("DC"),
        _ => None,
    };
    if let Some(k) = known {
        return k.to_string();
    }
    let (mut arcs, mut acc) = (Vec::new(), 0u64);
    for &b in oid {
        acc = acc << 7 | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    let first = arcs.first().copied().unwrap_or(0);
    let head = [first.min(80) / 40, first - first.min(80) / 40 * 40];
    let all: Vec<String> = head
        .iter()
        .chain(&arcs[1.min(arcs.len())..])
        .map(u64::to_string)
        .collect();
    all.join(".")
}

/// OpenSSL 3's default `-text` form: `C = US, O = "a, b", CN = x`.
fn oneline(n: &Name) -> String {
    let value = |v: &[u8]| {
        let mut s = String::new();
        let quote = v.iter().any(|c| b",+<>;".contains(c))
            || v.first().is_some_and(|&c| c == b'#' || c == b' ')
            || v.last() == Some(&b' ');
        for &c in v {
            match c {
                b'"' | b'\\' => s.extend(['\\', c as char]),
                0x20..=0x7e => s.push(c as char),
                _ => s.push_str(&format!("\\{c:02X}")),
            }
        }
        if quote { format!("\"{s}\"") } else { s }
    };
    let rdns: Vec<String> = n
        .iter()
        .map(|rdn| {
            let avas: Vec<String> = rdn
                .iter()
                .map(|(k, v)| format!("{k} = {}", value(v)))
                .collect();
            avas.join(" + ")
        })
        .collect();
    rdns.join(", ")
}

/// `-subject -nameopt compat` (`/C=US/CN=x`) as Dokku formats it: leading
/// `/` dropped, every other `/` turned into `; `.
fn compat(n: &Name) -> String {
    let mut s = String::new();
    for rdn in n {
        for (i, (k, v)) in rdn.iter().enumerate() {
            s.push(if i == 0 { '/' } else { '+' });
            s.push_str(k);
            s.push('=');
            for &c in *v {
                match c {
                    b'/' | b'+' => s.extend(['\\', c as char]),
                    0x20..=0x7e => s.push(c as char),
                    _ => s.push_str(&format!("\\x{c:02X}")),
                }
            }
        }
    }
    s.trim_start_matches('/').replace('/', "; ")
}

/// The CN Dokku finds: the first `CN` field of the RFC 2253 subject (last
/// RDN first, `\\`-escaped) split on `,` and `/`, as its `subjectCommonName`.
fn common_name(n: &Name) -> String {
    let escape = |v: &[u8]| {
        let mut s = String::new();
        for (i, &c) in v.iter().enumerate() {
            let edge = (i == 0 && (c == b'#' || c == b' ')) || (i + 1 == v.len() && c == b' ');
            match c {
                _ if edge || b",+\"\\<>;".contains(&c) => s.extend(['\\', c as char]),
                0x20..=0x7e => s.push(c as char),
                _ => s.push_str(&format!("\\{c:02X}")),
            }
        }
        s
    };
    let rdns: Vec<String> = n
        .iter()
        .rev()
        .map(|rdn| {
            let avas: Vec<String> = rdn
                .iter()
                .rev()
                .map(|(k, v)| format!("{k}={}", escape(v)))
                .collect();
            avas.join("+")
        })
        .collect();
    rdns.join(",")
        .split([',', '/'])
        .find_map(|f| f.split_once('=').filter(|(k, _)| k.trim() == "CN"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// `UTCTime`/`GeneralizedTime` as OpenSSL prints it: `Feb 19 23:19:44 2027 GMT`.
fn time(tag: u8, v: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(v).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: u32 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r)?.parse::<u32>().ok();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.get(num(0..2)?.checked_sub(1)? as usize)?;
    let (d, h, m, sec) = (num(2..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    Some(format!("{month} {d:>2} {h:02}:{m:02}:{sec:02} {year} GMT"))
}

/// `UTCTime`/`GeneralizedTime` as Unix seconds (Howard Hinnant's
/// days-from-civil).
fn epoch(tag: u8, v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?;
    let (year, rest): (i64, &str) = match tag {
        0x17 => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r)?.parse::<i64>().ok();
    let (m, d) = (num(0..2)?, num(2..4)?);
    let (h, mi, sec) = (num(4..6)?, num(6..8)?, num(8..10)?);
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86400 + h * 3600 + mi * 60 + sec).ok()
}

/// The subject-alternative-name entries as `-text` prints them.
fn san_entries(ext: &[u8]) -> Vec<String> {
    let Some(names) = tlv(ext).and_then(|(_, seq, _)| items(seq)) else {
        return Vec::new();
    };
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    names
        .into_iter()
        .filter_map(|(tag, v)| match (tag, v.len()) {
            (0x82, _) => Some(format!("DNS:{}", text(v))),
            (0x81, _) => Some(format!("email:{}", text(v))),
            (0x86, _) => Some(format!("URI:{}", text(v))),
            (0x87, 4) => Some(format!("IP Address:{}.{}.{}.{}", v[0], v[1], v[2], v[3])),
            (0x87, 16) => {
                let groups: Vec<String> = v
                    .chunks(2)
                    .map(|g| format!("{:X}", u16::from(g[0]) << 8 | u16::from(g[1])))
                    .collect();
                Some(format!("IP Address:{}", groups.join(":")))
            }
            _ => None,
        })
        .collect()
}

fn parse_der(der: &[u8]) -> Option<TlsCert> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut fields = items(tbs)?.into_iter().peekable();
    fields.next_if(|(tag, _)| *tag == 0xa0);
    let (_serial, _algorithm) = (fields.next()?, fields.next()?);
    let issuer = name(fields.next()?.1)?;
    let validity = items(fields.next()?.1)?;
    let subject = name(fields.next()?.1)?;
    let mut sans = Vec::new();
    if let Some((_, exts)) = fields.find(|(tag, _)| *tag == 0xa3) {
        for (_, ext) in items(tlv(exts)?.1)? {
            let parts = items(ext)?;
            if parts.first().map(|p| p.1) == Some(&[0x55, 0x1d, 0x11][..]) {
                sans = san_entries(parts.last()?.1);
            }
        }
    }
    // Dokku strips `\s*DNS:` from the SAN line and splits it on commas.
    let line = sans.join(", ");
    let pieces: Vec<&str> = line.split("DNS:").collect();
    let (last, init) = pieces.split_last()?;
    let cleaned = init
        .iter()
        .map(|p| p.trim_end())
        .chain([*last])
        .collect::<String>();
    let mut hosts: Vec<String> = cleaned
        .split(',')
        .map(str::trim)
        .chain([common_name(&subject).as_str()])
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    hosts.sort();
    hosts.dedup();
    let [(t1, v1), (t2, v2)] = validity[..] else {
        return None;
    };
    Some(TlsCert {
        expires_epoch: epoch(t2, v2)?,
        expires_at: time(t2, v2)?,
        starts_at: time(t1, v1)?,
        hostnames: hosts.join(" "),
        issuer: oneline(&issuer),
        subject: compat(&subject),
    })
}
