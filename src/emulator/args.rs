//! Command-line splitting the way Dokku's forced SSH command does it, and the
//! global flags that may precede the subcommand.
//!
//! `sshcommand` receives the whole command line in `SSH_ORIGINAL_COMMAND`. When the
//! first word starts with `config` or `docker-options` it is split like `xargs`
//! does (single and double quotes group, a backslash outside quotes escapes the next
//! character, an unmatched quote is an error); every other command is split on
//! whitespace only, with no quote processing at all.

/// The parsed invocation: global flags and the remaining words.
pub struct Invocation {
    pub quiet: bool,
    pub rm: bool,
    pub args: Vec<String>,
}

/// Split `SSH_ORIGINAL_COMMAND` into words.
pub fn split_original_command(cmd: &str) -> Result<Vec<String>, String> {
    let first = cmd.split_whitespace().next().unwrap_or("");
    if first.starts_with("config") || first.starts_with("docker-options") {
        xargs_split(cmd)
    } else {
        Ok(cmd.split_whitespace().map(str::to_string).collect())
    }
}

/// Split like GNU `xargs` (without `-0`).
pub fn xargs_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\n') | None => {
                            let kind = if c == '\'' { "single" } else { "double" };
                            return Err(format!(
                                "xargs: unmatched {kind} quote; by default quotes are special to xargs unless you use the -0 option"
                            ));
                        }
                        Some(other) => cur.push(other),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            other => {
                in_word = true;
                cur.push(other);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Strip the global flags that precede the subcommand.
pub fn parse_globals(words: Vec<String>) -> Invocation {
    let mut inv = Invocation {
        quiet: false,
        rm: false,
        args: Vec::new(),
    };
    let mut i = 0;
    while i < words.len() {
        match words[i].as_str() {
            "--quiet" => inv.quiet = true,
            "--rm" => inv.rm = true,
            "--trace" | "--force" => {}
            _ => break,
        }
        i += 1;
    }
    inv.args = words[i..].to_vec();
    inv
}
