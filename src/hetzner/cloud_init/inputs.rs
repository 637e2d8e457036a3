//! The validated inputs of the user data: nothing built here can carry
//! YAML or shell syntax.

use super::{CloudInitError, invalid};
use crate::domain::HostName;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Key types accepted for roomctl's key.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
];

/// One OpenSSH public key line: `TYPE BASE64 [COMMENT]`, the base64 blob
/// encoding the same type, the comment one token of `A-Z a-z 0-9 . _ @ + = -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey(String);

impl SshPublicKey {
    /// Parses a key line; surrounding whitespace (a `.pub` file's newline)
    /// is dropped, anything else unusual is refused.
    pub fn parse(line: &str) -> Result<Self, CloudInitError> {
        let bad = |reason: &str| invalid("ssh_public_key", line, reason);
        let s = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if s.len() > 8192 || !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(bad("must be one line of printable ASCII"));
        }
        let fields: Vec<&str> = s.split(' ').collect();
        let (kind, blob, comment) = match fields[..] {
            [k, b] => (k, b, None),
            [k, b, c] => (k, b, Some(c)),
            _ => {
                return Err(bad(
                    "expected `TYPE BASE64 [COMMENT]` separated by single spaces",
                ));
            }
        };
        if !KEY_TYPES.contains(&kind) {
            return Err(bad("unsupported key type"));
        }
        let bytes = STANDARD
            .decode(blob)
            .map_err(|_| bad("key data is not padded base64"))?;
        let len = bytes
            .get(..4)
            .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
        if len.and_then(|n| bytes.get(4..4 + n)) != Some(kind.as_bytes()) {
            return Err(bad("key data does not encode the key type"));
        }
        if let Some(c) = comment {
            let ok = c.len() <= 128
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._@+=-".contains(&b));
            if !ok {
                return Err(bad(
                    "comment may hold only A-Z a-z 0-9 . _ @ + = - (at most 128)",
                ));
            }
        }
        Ok(Self(s.to_string()))
    }

    /// The key line.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plain email address (`A-Z a-z 0-9 . _ % + -`, one `@`, a dotted
/// domain), the ACME account of the host's letsencrypt plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an email address.
    pub fn parse(s: &str) -> Result<Self, CloudInitError> {
        let chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-@".contains(&b));
        let shape = s.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.ends_with('.')
        });
        if chars && shape && s.len() <= 254 && !s.starts_with('-') {
            Ok(Self(s.to_string()))
        } else {
            Err(invalid(
                "letsencrypt_email",
                s,
                "is not a plain email address",
            ))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Dokku release, `MAJOR.MINOR.PATCH` without the `v` (installed as
/// `DOKKU_TAG=v{version}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DokkuVersion(String);

impl DokkuVersion {
    /// Parses a version such as `0.38.27`.
    pub fn parse(s: &str) -> Result<Self, CloudInitError> {
        let parts: Vec<&str> = s.split('.').collect();
        let ok = parts.len() == 3
            && parts
                .iter()
                .all(|p| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(invalid(
                "dokku_version",
                s,
                "expected MAJOR.MINOR.PATCH, e.g. 0.38.27",
            ))
        }
    }

    /// The version text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything host-specific in the user data. Built only from validated
/// types, so nothing here can carry YAML or shell syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudInitInputs {
    /// The server's host name (a DNS label; also Dokku's global vhost).
    pub hostname: HostName,
    /// roomctl's public key, registered as `dokku ssh-keys:add roomctl`.
    pub ssh_public_key: SshPublicKey,
    /// ACME account email of dokku-letsencrypt (`letsencrypt:set --global email`).
    pub letsencrypt_email: Email,
    /// Dokku release to install.
    pub dokku_version: DokkuVersion,
    /// sshd's `MaxSessions` (1 to 1024); roomctl keeps its concurrent
    /// commands per host below it (`[pool] max_sessions`, default 20).
    pub max_sessions: u16,
}

impl CloudInitInputs {
    /// Validates every input; the first refused one is the error.
    pub fn new(
        hostname: &str,
        ssh_public_key: &str,
        letsencrypt_email: &str,
        dokku_version: &str,
        max_sessions: usize,
    ) -> Result<Self, CloudInitError> {
        let hostname =
            HostName::parse(hostname).map_err(|e| invalid("hostname", hostname, e.reason))?;
        let max_sessions = u16::try_from(max_sessions)
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or_else(|| {
                invalid(
                    "max_sessions",
                    &max_sessions.to_string(),
                    "must be 1 to 1024",
                )
            })?;
        Ok(Self {
            hostname,
            ssh_public_key: SshPublicKey::parse(ssh_public_key)?,
            letsencrypt_email: Email::parse(letsencrypt_email)?,
            dokku_version: DokkuVersion::parse(dokku_version)?,
            max_sessions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hetzner::cloud_init::DOKKU_VERSION;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICF9JS/+7K+pZf+rQ13GWZNt3z9CdkDniOO5HkPxnVVD roomctl@platform";

    #[test]
    fn keys_must_be_well_formed() {
        assert_eq!(
            SshPublicKey::parse(&format!("{KEY}\n")).unwrap().as_str(),
            KEY
        );
        let no_comment = KEY.rsplit_once(' ').unwrap().0;
        assert!(SshPublicKey::parse(no_comment).is_ok());
        let rsa_labelled = KEY.replacen("ssh-ed25519", "ssh-rsa", 1);
        for bad in [
            rsa_labelled.as_str(),
            "ssh-ed25519 AAAA",
            "ssh-dss AAAAB3NzaC1kc3M=",
            &format!("{KEY} extra"),
            &format!("{KEY}\nruncmd: [reboot]"),
            &KEY.replace("roomctl@platform", "x'y"),
            &KEY.replace(' ', "  "),
        ] {
            assert!(SshPublicKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_and_versions() {
        assert!(Email::parse("ops+le@mindroom.chat").is_ok());
        for bad in [
            "",
            "ops",
            "@x.y",
            "a@b",
            "a b@c.d",
            "a@b.c\n",
            "a@b.c;reboot",
            "-a@b.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DokkuVersion::parse(DOKKU_VERSION).is_ok());
        for bad in ["v0.38.27", "0.38", "0.38.27-rc1", "0.38.27 ", "1.2.3.4"] {
            assert!(DokkuVersion::parse(bad).is_err(), "{bad:?}");
        }
    }
}
