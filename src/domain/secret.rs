//! Env values that know whether they are secret.

use serde::Serialize;
use std::fmt;

/// The text shown in place of a sensitive value, everywhere.
pub const MASK: &str = "(sensitive)";

/// An env value that may be sensitive. `Debug`, `Display` and `Serialize` of a
/// sensitive value print [`MASK`]; only [`EnvValue::expose`] gives the text,
/// and only the command builder calls it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EnvValue {
    value: String,
    sensitive: bool,
}

impl EnvValue {
    /// A value that may be shown.
    pub fn plain(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            sensitive: false,
        }
    }

    /// A value that must never be shown.
    pub fn secret(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            sensitive: true,
        }
    }

    /// Whether the value is sensitive.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }

    /// The real text. Callers must not log or print it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The text fit for output: the value, or [`MASK`] if sensitive.
    pub fn shown(&self) -> &str {
        if self.sensitive { MASK } else { &self.value }
    }
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown())
    }
}
impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}
impl Serialize for EnvValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_never_print() {
        let v = EnvValue::secret("hunter2");
        assert_eq!(format!("{v} {v:?}"), "(sensitive) \"(sensitive)\"");
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"(sensitive)\"");
        assert_eq!(v.expose(), "hunter2");
    }
}
