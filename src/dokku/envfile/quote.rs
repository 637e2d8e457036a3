//! Go's `%q` for a string (`strconv.Quote`), which Dokku's env errors use.

/// Whether Go's `strconv.IsPrint` holds for `c`. Exact for ASCII, controls,
/// spaces, format characters and private use; characters Go's tables call
/// unassigned are treated as printable here (they do not occur in env
/// files roomctl writes).
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let u = c as u32;
    let format = matches!(
        u,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    );
    let private = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD);
    !c.is_control() && !c.is_whitespace() && !format && !private
}

/// `strconv.Quote` of the bytes `s` (which need not be UTF-8).
pub fn go_quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut i = 0;
    while i < s.len() {
        let end = (i + 4).min(s.len());
        let c = match std::str::from_utf8(&s[i..end]) {
            Ok(t) => t.chars().next(),
            Err(e) => std::str::from_utf8(&s[i..i + e.valid_up_to()])
                .ok()
                .and_then(|t| t.chars().next()),
        };
        let Some(c) = c else {
            out.push_str(&format!("\\x{:02x}", s[i]));
            i += 1;
            continue;
        };
        i += c.len_utf8();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}
