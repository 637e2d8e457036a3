//! Name newtypes: DNS labels, FQDNs, Dokku app names, env keys, image refs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a name was refused. The message names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {value:?} is invalid: {reason}")]
pub struct NameError {
    /// The kind of name, e.g. "app name".
    pub kind: &'static str,
    /// The refused input (never a secret: secrets are not names).
    pub value: String,
    /// The rule that failed.
    pub reason: &'static str,
}

fn err(kind: &'static str, value: &str, reason: &'static str) -> NameError {
    NameError {
        kind,
        value: value.to_string(),
        reason,
    }
}

/// Checks one DNS label (RFC 1123, lowercase only).
fn check_label(kind: &'static str, s: &str, max: usize) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(err(kind, s, "must not be empty"));
    }
    if s.len() > max {
        return Err(err(kind, s, "is too long"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(err(kind, s, "may contain only a-z, 0-9 and '-'"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(err(kind, s, "must not start or end with '-'"));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::parse(s)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// A single lowercase DNS label (1 to 63 characters), e.g. a subdomain or a role.
    Label
);
impl Label {
    /// Parses a DNS label.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_label("label", s, 63)?;
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// An instance id. It is a DNS label of at most 40 characters, so that
    /// `{id}-{role}` still fits a 63-character Dokku app name and DNS label.
    InstanceId
);
impl InstanceId {
    /// Parses an instance id.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_label("instance id", s, 40)?;
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// The name of a Dokku host in `desired-state/` (a DNS label).
    HostName
);
impl HostName {
    /// Parses a host name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_label("host name", s, 63)?;
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// A Dokku app name: what `apps:create` accepts and what is a valid DNS
    /// label (Dokku serves `{app}.{global vhost}`), so at most 63 characters
    /// and starting with a letter.
    AppName
);
impl AppName {
    /// Parses an app name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_label("app name", s, 63)?;
        if !s.as_bytes()[0].is_ascii_lowercase() {
            return Err(err("app name", s, "must start with a letter"));
        }
        Ok(Self(s.to_string()))
    }

    /// Accepts a name as `apps:list` printed it: Dokku also allows a leading
    /// digit, which roomctl never creates but must be able to read.
    pub fn listed(s: &str) -> Result<Self, NameError> {
        check_label("app name", s, 63)?;
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// A fully qualified, lowercase domain name with at least two labels.
    Fqdn
);
impl Fqdn {
    /// Parses a domain name. Uppercase is refused rather than folded, so
    /// that what the operator wrote is what Dokku stores.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.len() > 253 {
            return Err(err("domain", s, "is longer than 253 characters"));
        }
        let labels: Vec<&str> = s.split('.').collect();
        if labels.len() < 2 {
            return Err(err("domain", s, "needs at least two labels"));
        }
        for l in &labels {
            check_label("domain", l, 63).map_err(|e| err("domain", s, e.reason))?;
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(err("domain", s, "must not end in a numeric label"));
        }
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 bytes.
    EnvKey
);
impl EnvKey {
    /// Parses an env key.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let ok_first = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if !ok_first || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(err("env key", s, "must match [A-Za-z_][A-Za-z0-9_]*"));
        }
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// A Docker image reference such as `ghcr.io/org/app:1.2` or `name@sha256:…`.
    ImageRef
);
impl ImageRef {
    /// Parses an image reference. Only the characters a reference can hold
    /// are allowed, so the value is safe as one remote command-line token.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > 255 {
            return Err(err("image", s, "must be 1 to 255 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/:@-".contains(&b))
        {
            return Err(err("image", s, "may contain only A-Z a-z 0-9 . _ / : @ -"));
        }
        if !s.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(err("image", s, "must start with a letter or digit"));
        }
        Ok(Self(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_that_dokku_rejects_are_refused() {
        for bad in [
            "",
            "Upper",
            "under_score",
            "colon:x",
            "-lead",
            "trail-",
            "1digit",
            &"a".repeat(64),
        ] {
            assert!(AppName::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(AppName::parse("acme-backend").is_ok());
    }

    #[test]
    fn domains_need_valid_labels_and_two_parts() {
        for bad in [
            "localhost",
            "a..b",
            "-a.com",
            "a-.com",
            "UP.com",
            "a_b.com",
            "x.123",
            "a b.com",
        ] {
            assert!(Fqdn::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Fqdn::parse("api.acme.mindroom.chat").is_ok());
    }

    #[test]
    fn env_keys_and_images_refuse_shell_characters() {
        for bad in ["", "1A", "A-B", "A B", "A;B", "$X"] {
            assert!(EnvKey::parse(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "-x", "img;rm", "img name", "img$(x)", "a`b`"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ImageRef::parse("ghcr.io/mindroom/backend:1.4@sha256:abc").is_ok());
    }

    #[test]
    fn instance_ids_leave_room_for_a_role_suffix() {
        assert!(InstanceId::parse(&"a".repeat(40)).is_ok());
        assert!(InstanceId::parse(&"a".repeat(41)).is_err());
    }
}
