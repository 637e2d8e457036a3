//! Flag parsing as Dokku's Go subcommands do it (`spf13/pflag`): flags may
//! come anywhere among the arguments, `--` ends them, and an unknown flag
//! prints `Usage of SUBCOMMAND:`, the flag table and the error to stderr
//! and exits 2 (as recorded in `differential/`).

use std::collections::BTreeMap;

use super::io::Ctx;

/// One flag a subcommand accepts: its name and whether it takes a value.
pub type Spec = (&'static str, bool);

/// Parsed arguments: flag values (`"true"` for a boolean flag) and the
/// positional arguments in order.
#[derive(Debug, Default)]
pub struct Parsed {
    pub flags: BTreeMap<String, String>,
    pub pos: Vec<String>,
}

impl Parsed {
    /// Whether a boolean flag was given.
    pub fn has(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    /// A flag's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }
}

/// Parse `args` for subcommand `cmd` whose pflag usage table is `usage`;
/// on an error print pflag's output and return exit code 2.
pub fn parse(
    ctx: &mut Ctx,
    cmd: &str,
    usage: &str,
    specs: &[Spec],
    args: &[String],
) -> Result<Parsed, i32> {
    let mut p = Parsed::default();
    let mut i = 0;
    let fail = |ctx: &mut Ctx, msg: String| {
        ctx.err(&format!("Usage of {cmd}:\n{usage}{msg}\n"));
        2
    };
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            p.pos.extend(args[i + 1..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some((_, takes)) = specs.iter().find(|(n, _)| *n == name) else {
                return Err(fail(ctx, format!("unknown flag: --{name}")));
            };
            let value = match (takes, inline) {
                (_, Some(v)) => v,
                (false, None) => "true".to_string(),
                (true, None) => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => v.clone(),
                        None => {
                            return Err(fail(ctx, format!("flag needs an argument: --{name}")));
                        }
                    }
                }
            };
            p.flags.insert(name.to_string(), value);
        } else if a.len() > 1 && a.starts_with('-') {
            let c = a[1..].chars().next().unwrap_or('-');
            return Err(fail(ctx, format!("unknown shorthand flag: '{c}' in {a}")));
        } else {
            p.pos.push(a.clone());
        }
        i += 1;
    }
    Ok(p)
}
