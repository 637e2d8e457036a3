//! Errors of the desired-state boundary.
//!
//! Every [`Problem`] names where it comes from: a file with line and column
//! and the field (dotted TOML path), a template and the instance it was
//! rendered for, or both declarations of a collision. Loading collects as
//! many problems as it can and returns them together in one
//! [`DesiredError`]; it never returns part of a desired state.

use super::model::Source;
use crate::domain::InstanceId;
use std::fmt;
use std::path::{Path, PathBuf};

/// A place in a source: a file line (see [`Source::File`]) or a database
/// row, plus the 1-based column when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file and 1-based line, or the database row.
    pub source: Source,
    /// The 1-based column (in characters), if known.
    pub column: Option<usize>,
}

/// Byte offsets of the start of every line of `text`.
pub fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

impl Location {
    /// The location of byte `offset` of `text`, the contents of `path`.
    /// Offsets past the end point just after the last character.
    pub fn in_file(path: &Path, text: &str, offset: usize) -> Self {
        Self::in_indexed_file(path, text, &line_starts(text), offset)
    }

    /// Like [`Location::in_file`], with `lines` from [`line_starts`]`(text)`.
    pub fn in_indexed_file(path: &Path, text: &str, lines: &[usize], offset: usize) -> Self {
        let offset = offset.min(text.len());
        let offset = (0..=offset)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        let line = lines.partition_point(|&start| start <= offset).max(1);
        let line_start = lines.get(line - 1).copied().unwrap_or(0);
        let column = text[line_start..offset].chars().count() + 1;
        Self {
            source: Source::File {
                path: path.to_path_buf(),
                line,
            },
            column: Some(column),
        }
    }

    /// A location without a column, e.g. the line of an instance's table.
    pub fn of(source: &Source) -> Self {
        Self {
            source: source.clone(),
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "{}:{c}", self.source),
            None => write!(f, "{}", self.source),
        }
    }
}

/// One problem found in the desired state. The `Display` form is a single
/// line (plus any multi-line message from a library) fit for an operator.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// A file or directory could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An entry where a desired-state file is expected is not a regular
    /// file: a directory, a FIFO, a dangling or looping symlink, ….
    #[error("{}: not a regular file: {message}", path.display())]
    NotAFile {
        /// The entry.
        path: PathBuf,
        /// What it is instead, or why it cannot be followed.
        message: String,
    },
    /// A file is not valid TOML.
    #[error("{at}: TOML syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// A field of a file is missing, unknown, of the wrong type or invalid.
    #[error("{at}: field `{field}`: {message}")]
    Field {
        /// Where the field (or its table) is.
        at: Location,
        /// Dotted path of the field, e.g. `instance.tier`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A field of a declared instance is inconsistent with the rest of the
    /// desired state (unknown tier, host or role, reserved env key, …).
    #[error("{at}: instance `{instance}`: field `{field}`: {message}")]
    Instance {
        /// Where the field (or, failing that, the instance) is declared.
        at: Location,
        /// The instance.
        instance: InstanceId,
        /// Dotted path of the field inside the instance, e.g. `env.backend`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Two instances claim the same id, subdomain, app name or domain.
    #[error(
        "{what} `{value}` is claimed twice: by instance `{first}` ({first_at}) and by instance `{second}` ({second_at})"
    )]
    Collision {
        /// What collides: `instance id`, `subdomain`, `app name` or `domain`.
        what: &'static str,
        /// The colliding value.
        value: String,
        /// The instance seen first.
        first: InstanceId,
        /// Where the first instance is declared.
        first_at: Source,
        /// The instance seen second.
        second: InstanceId,
        /// Where the second instance is declared.
        second_at: Source,
    },
    /// A fixed record of `dns.toml` is at a domain of an instance, where
    /// roomctl writes the instance's own A and AAAA records.
    #[error(
        "{record_at}: field `dns.record.name`: the {kind} record `{name}` is at a domain of instance `{instance}` ({instance_at}, field `{field}`), which gets A and AAAA records of its own"
    )]
    DnsClash {
        /// Where `dns.toml` declares the record.
        record_at: Location,
        /// The record's type.
        kind: String,
        /// The shared name.
        name: String,
        /// The instance.
        instance: InstanceId,
        /// Where the instance declares `field`.
        instance_at: Location,
        /// The instance's field the domain derives from (`subdomain` or `id`).
        field: String,
    },
    /// The instance template failed to compile or render, or rendered an
    /// invalid app description.
    #[error("template {}{}: {message}", template.display(), for_instance(instance))]
    Template {
        /// The template file.
        template: PathBuf,
        /// The instance being rendered (none for compile errors).
        instance: Option<InstanceId>,
        /// What is wrong.
        message: String,
    },
    /// The root secret is missing or too weak. Never contains the secret.
    #[error("root secret: {message}")]
    RootSecret {
        /// What is wrong.
        message: String,
    },
}

fn for_instance(i: &Option<InstanceId>) -> String {
    i.as_ref()
        .map_or(String::new(), |i| format!(" (instance `{i}`)"))
}

/// The error of the desired-state boundary: one or more [`Problem`]s,
/// never empty. Its `Display` lists them all, one per line.
#[derive(Debug)]
pub struct DesiredError {
    problems: Vec<Problem>,
}

impl DesiredError {
    /// The problems, in the order they were found (files in sorted order).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Consumes the error into its problems.
    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }

    /// Builds an error from problems; `None` if there are none.
    pub fn from_problems(problems: Vec<Problem>) -> Option<Self> {
        (!problems.is_empty()).then_some(Self { problems })
    }
}

impl From<Problem> for DesiredError {
    fn from(p: Problem) -> Self {
        Self { problems: vec![p] }
    }
}

impl fmt::Display for DesiredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.problems.as_slice() {
            return write!(f, "{only}");
        }
        write!(f, "{} problems in the desired state:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DesiredError {}

/// A collector of problems, so that loading reports several at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) Vec<Problem>);

impl Problems {
    /// Records a problem.
    pub(crate) fn push(&mut self, p: Problem) {
        self.0.push(p);
    }

    /// Records the problems of an error.
    pub(crate) fn extend(&mut self, e: DesiredError) {
        self.0.extend(e.problems);
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` if nothing was recorded, else all problems.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, DesiredError> {
        match DesiredError::from_problems(self.0) {
            None => Ok(value),
            Some(e) => Err(e),
        }
    }
}

/// Turns a `toml` deserialisation error of `text` (the contents of `path`)
/// into a syntax or field problem with line, column and dotted field path.
pub(crate) fn toml_problem(path: &Path, text: &str, e: &toml::de::Error) -> Problem {
    let at = Location::in_file(path, text, e.span().map_or(0, |s| s.start));
    let message = e.message().trim().to_string();
    if text.parse::<toml::Table>().is_err() {
        return Problem::Syntax { at, message };
    }
    // Without input, toml's Display names the key path ("in `a.b`").
    let mut bare = e.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    let mut keys: Vec<String> = shown
        .lines()
        .find_map(|l| l.strip_prefix("in `").and_then(|l| l.strip_suffix('`')))
        .map(|k| k.split('.').map(str::to_string).collect())
        .unwrap_or_default();
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(name) = message
            .strip_prefix(prefix)
            .and_then(|r| r.split('`').next())
        {
            keys.push(name.to_string());
        }
    }
    let field = if keys.is_empty() {
        "(top level)".to_string()
    } else {
        keys.join(".")
    };
    Problem::Field { at, field, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_columns() {
        let l = Location::in_file(Path::new("f.toml"), "a = 1\nbé = x\n", 10);
        assert_eq!(l.to_string(), "f.toml:2:4");
        assert_eq!(
            Location::in_file(Path::new("f"), "", 5).to_string(),
            "f:1:1"
        );
    }

    #[test]
    fn several_problems_are_listed_one_per_line() {
        let p = |m: &str| Problem::RootSecret { message: m.into() };
        let e = DesiredError::from_problems(vec![p("a"), p("b")]).unwrap();
        assert_eq!(
            e.to_string(),
            "2 problems in the desired state:\n  - root secret: a\n  - root secret: b"
        );
        assert!(DesiredError::from_problems(vec![]).is_none());
    }
}
