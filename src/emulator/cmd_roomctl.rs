//! `roomctl:*`: the commands of roomctl's own Dokku plugin
//! (`dokku-plugin/roomctl/`), with the plugin's output and exit codes.
//!
//! - `roomctl:nginx-set APP BASE64`: decodes the snippet (padded base64
//!   only, at most [`MAX_BYTES`]), checks it with the plugin's lexer
//!   ([`syntax`]); an identical snippet is left alone ("unchanged", no
//!   rebuild); then `nginx -t` on the app's generated `nginx.conf` with the
//!   snippet in place ([`nginx_test`](super::nginx_test)), so that a
//!   snippet Dokku's server blocks reject (a second `client_max_body_size`)
//!   is refused as on a host (`real-edge-cases/012`); without an nginx to
//!   run, the plugin's warning and on. Then it installs the snippet and
//!   rebuilds nginx.
//! - `roomctl:nginx-unset APP`: removes it and rebuilds nginx.
//! - `roomctl:nginx-report [APP]`: `APP SHA256` or `APP -`, one line per app,
//!   every app in `apps:list` order when APP is omitted.
//! - `roomctl:help`: the plugin's help.
//!
//! State: the snippet is the file `ROOT/fs/home/dokku/APP/nginx.conf.d/roomctl.conf`
//! (the host path under [`state::fs_path`]). `apps:destroy` removes
//! `ROOT/fs/home/dokku/APP` ([`forget`]), as Dokku removes `/home/dokku/APP`.

use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

use super::cmd_apps::{io_fail, no_app};
use super::io::Ctx;
use super::nginx_test::Outcome;
use super::state::{self, App};

/// The file the plugin owns in each app's `nginx.conf.d/`.
pub const FILE: &str = "roomctl.conf";
/// The largest decoded snippet the plugin accepts, in bytes.
pub const MAX_BYTES: usize = 65536;
const NOT_BASE64: &str = "Snippet content must be padded base64 (A-Z a-z 0-9 + / =)";
const HELP: &str = "Usage: dokku roomctl[:COMMAND]\n\n\
Manage the nginx snippets roomctl installs for apps, and read every app in one pass\n\n\
Additional commands:\n\
\x20   roomctl:fence <holder>                     Hold the host's roomctl fence until standard input closes\n\
\x20   roomctl:nginx-report [<app>]               Print the sha256 of one or every app's snippet (- for none)\n\
\x20   roomctl:nginx-set <app> <base64>           Validate and install the app's nginx snippet and rebuild nginx\n\
\x20   roomctl:nginx-unset <app>                  Remove the app's nginx snippet and rebuild nginx\n\
\x20   roomctl:observe                            Print every file roomctl reads about every app in one framed stream\n\
\x20   roomctl:storage-export <app> <host-path>   Stream a gzipped tar of one of the app's storage mounts\n";

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    match sub {
        "roomctl:nginx-set" => set(ctx, args),
        "roomctl:nginx-unset" => unset(ctx, args),
        "roomctl:nginx-report" => report(ctx, args),
        _ => {
            ctx.out(HELP);
            0
        }
    }
}

/// Where the app's snippet lives under the state root.
pub fn snippet_path(root: &Path, app: &str) -> PathBuf {
    state::fs_path(root, &format!("/home/dokku/{app}/nginx.conf.d/{FILE}"))
}

/// Forget the host files of a destroyed app (`/home/dokku/APP`).
pub fn forget(root: &Path, app: &str) {
    if state::valid_name(app) {
        let _ = std::fs::remove_dir_all(state::fs_path(root, &format!("/home/dokku/{app}")));
    }
}

/// What the command costs on a host (see `costs.rs`): a rebuild is an nginx
/// reload; an unchanged or syntax-refused snippet is one invocation (one
/// `nginx -t` refuses is charged as a change: the cost is charged before
/// it runs).
pub fn cost(root: &Path, sub: &str, args: &[String]) -> f64 {
    const RELOAD: f64 = 0.08 + 3.0;
    let Some(app) = args.first().filter(|a| state::exists(root, a)) else {
        return super::costs::BASE;
    };
    let installed = std::fs::read(snippet_path(root, app)).ok();
    let changes = match sub {
        "roomctl:nginx-set" => args
            .get(1)
            .and_then(|b| decode_b64(b))
            .is_some_and(|c| syntax(&c).is_ok() && installed.as_deref() != Some(&c[..])),
        _ => installed.is_some(),
    };
    if changes { RELOAD } else { super::costs::BASE }
}

fn fail(ctx: &mut Ctx, code: i32, msg: &str) -> i32 {
    ctx.warn(msg);
    code
}

/// Dokku 0.38's app check (its `verify_app_name`): a name matching
/// `^[a-z0-9][^/:A-Z]*$`, then an existing app (else exit 20).
fn verify_app(ctx: &mut Ctx, app: Option<&String>) -> Result<App, i32> {
    let Some(app) = app.filter(|a| !a.is_empty()) else {
        return Err(no_app(ctx));
    };
    let mut bytes = app.bytes();
    let well_formed = bytes
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && bytes.all(|c| c != b'/' && c != b':' && !c.is_ascii_uppercase());
    if !well_formed {
        return Err(fail(
            ctx,
            1,
            "App name must begin with lowercase alphanumeric character, and cannot include uppercase characters, colons, or underscores",
        ));
    }
    ctx.load(app)
}

/// Padded standard base64 (`^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`),
/// decoded as GNU `base64 -d` does (stray low bits allowed).
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    let body_ok = b[..b.len() - pad]
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/');
    if b.is_empty() || !b.len().is_multiple_of(4) || pad > 2 || !body_ok {
        return None;
    }
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical);
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(s)
        .ok()
}

/// Per-statement lexer state; nginx starts every statement afresh.
struct Tok {
    last_space: bool,
    need_space: bool,
    variable: bool,
    quoted: bool,
    sq: bool,
    dq: bool,
}

const FRESH: Tok = Tok {
    last_space: true,
    need_space: false,
    variable: false,
    quoted: false,
    sq: false,
    dq: false,
};

/// The plugin's check (`fn-roomctl-nginx-syntax`): nginx's tokenizer
/// (`ngx_conf_read_token`) and block handling for a file included inside a
/// server block. `Err` is the problem, worded as the plugin words it.
pub fn syntax(text: &[u8]) -> Result<(), String> {
    if text.contains(&0) {
        return Err("contains a NUL byte".into());
    }
    let unexpected = |c: u8, line: usize| match c {
        0x21..=0x7e => format!("unexpected \"{}\" on line {line}", c as char),
        _ => format!("unexpected \"\\x{c:02X}\" on line {line}"),
    };
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let (mut depth, mut nargs, mut comment, mut t) = (0usize, 0usize, false, FRESH);
    // awk reads records: every line, the last one included, ends in LF.
    let mut records: Vec<&[u8]> = text.split(|&c| c == b'\n').collect();
    if text.is_empty() || text.ends_with(b"\n") {
        records.pop();
    }
    for (i, rec) in records.into_iter().enumerate() {
        let line = i + 1;
        for &ch in rec.iter().chain(std::iter::once(&b'\n')) {
            if ch == b'\n' {
                comment = false;
            }
            if comment {
                continue;
            }
            if t.quoted {
                t.quoted = false;
                continue;
            }
            if t.need_space {
                if space(ch) || ch == b')' {
                    (t.last_space, t.need_space) = (true, false);
                    if ch != b')' {
                        continue;
                    }
                } else if ch == b';' || ch == b'{' {
                    depth += usize::from(ch == b'{');
                    (nargs, t) = (0, FRESH);
                    continue;
                } else {
                    return Err(unexpected(ch, line));
                }
            }
            if t.last_space {
                match ch {
                    c if space(c) => {}
                    b';' | b'{' if nargs == 0 => return Err(unexpected(ch, line)),
                    b';' | b'{' => {
                        depth += usize::from(ch == b'{');
                        (nargs, t) = (0, FRESH);
                    }
                    b'}' if nargs != 0 || depth == 0 => return Err(unexpected(ch, line)),
                    b'}' => (depth, t) = (depth - 1, FRESH),
                    b'#' => comment = true,
                    b'\\' => (t.last_space, t.quoted) = (false, true),
                    b'"' => (t.last_space, t.dq) = (false, true),
                    b'\'' => (t.last_space, t.sq) = (false, true),
                    b'$' => (t.last_space, t.variable) = (false, true),
                    _ => t.last_space = false,
                }
                continue;
            }
            if ch == b'{' && t.variable {
                continue;
            }
            t.variable = false;
            if ch == b'\\' || ch == b'$' {
                (t.quoted, t.variable) = (ch == b'\\', ch == b'$');
                continue;
            }
            let found = if t.dq || t.sq {
                let closes = (t.dq && ch == b'"') || (t.sq && ch == b'\'');
                if closes {
                    (t.dq, t.sq, t.need_space) = (false, false, true);
                }
                closes
            } else {
                t.last_space = space(ch) || ch == b';' || ch == b'{';
                t.last_space
            };
            if found {
                nargs += 1;
                if ch == b';' || ch == b'{' {
                    depth += usize::from(ch == b'{');
                    (nargs, t) = (0, FRESH);
                }
            }
        }
    }
    if nargs > 0 || !t.last_space {
        return Err("unexpected end of file, expecting \";\" or \"}\"".into());
    }
    if depth > 0 {
        return Err("unexpected end of file, expecting \"}\"".into());
    }
    Ok(())
}

fn set(ctx: &mut Ctx, args: &[String]) -> i32 {
    let a = match verify_app(ctx, args.first()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let content = match args.get(1).filter(|s| !s.is_empty()) {
        None => return fail(ctx, 1, "Please specify the snippet content as base64"),
        Some(b64) => match decode_b64(b64) {
            None => return fail(ctx, 1, NOT_BASE64),
            Some(c) if c.len() > MAX_BYTES => {
                return fail(ctx, 1, &format!("Snippet is larger than {MAX_BYTES} bytes"));
            }
            Some(c) => c,
        },
    };
    if let Err(problem) = syntax(&content) {
        let msg = format!("nginx snippet for {} is invalid: {problem}", a.name);
        return fail(ctx, 1, &msg);
    }
    let sha = hex::encode(Sha256::digest(&content));
    let _lock = match state::lock(&ctx.root, &a.name) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let path = snippet_path(&ctx.root, &a.name);
    if std::fs::read(&path).is_ok_and(|old| old == content) {
        ctx.info1(&format!(
            "Nginx snippet for {} is unchanged (sha256 {sha})",
            a.name
        ));
        return 0;
    }
    match super::nginx_test::check(&ctx.root, &a.name, &content) {
        Ok(Outcome::Accepted) => {}
        Ok(Outcome::Unavailable) => ctx.warn(
            "nginx -t is not available to the dokku user; only the snippet's syntax was checked",
        ),
        Ok(Outcome::Rejected(lines)) => {
            ctx.err(&format!(
                " !     nginx -t rejected the snippet for {}:\n",
                a.name
            ));
            for l in lines {
                ctx.err(&format!(" !     {l}\n"));
            }
            return 1;
        }
        Err(e) => return io_fail(ctx, e),
    }
    ctx.info1(&format!(
        "Setting nginx snippet for {} (sha256 {sha})",
        a.name
    ));
    if let Err(e) = write_atomic(&path, &content) {
        return io_fail(ctx, e);
    }
    ctx.nginx_rebuild(&a);
    0
}

fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{FILE}.{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}

fn unset(ctx: &mut Ctx, args: &[String]) -> i32 {
    let a = match verify_app(ctx, args.first()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let _lock = match state::lock(&ctx.root, &a.name) {
        Ok(l) => l,
        Err(e) => return io_fail(ctx, e),
    };
    let path = snippet_path(&ctx.root, &a.name);
    if !path.is_file() {
        ctx.info1(&format!("No nginx snippet set for {}", a.name));
        return 0;
    }
    ctx.info1(&format!("Removing nginx snippet for {}", a.name));
    if let Err(e) = std::fs::remove_file(&path) {
        return io_fail(ctx, e);
    }
    ctx.nginx_rebuild(&a);
    0
}

fn report(ctx: &mut Ctx, args: &[String]) -> i32 {
    let names = match args.first() {
        Some(_) => match verify_app(ctx, args.first()) {
            Ok(a) => vec![a.name],
            Err(code) => return code,
        },
        None => state::list(&ctx.root),
    };
    for name in names {
        let path = snippet_path(&ctx.root, &name);
        let digest = if path.is_file() {
            match std::fs::read(&path) {
                Ok(c) => hex::encode(Sha256::digest(&c)),
                Err(e) => return io_fail(ctx, e),
            }
        } else {
            "-".to_string()
        };
        ctx.out(&format!("{name} {digest}\n"));
    }
    0
}
