//! Where and how to reach one host over SSH.

use std::path::PathBuf;
use std::time::Duration;

/// Where and how to reach one host over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The roomctl host name (from desired state), used in errors and logs.
    pub host: String,
    /// The address `ssh` connects to: a DNS name or an IP literal.
    pub address: String,
    /// TCP port of sshd.
    pub port: u16,
    /// Remote user; Dokku's is `dokku`.
    pub user: String,
    /// Private key to use exclusively (`-i`, `IdentitiesOnly=yes`). `None`
    /// lets `ssh` use its default keys and agent.
    pub identity_file: Option<PathBuf>,
    /// A known_hosts file to check the host key against strictly. `None`
    /// uses the user's default known_hosts and accepts (and records) a key
    /// seen for the first time.
    pub known_hosts_file: Option<PathBuf>,
    /// Time allowed for TCP connect plus SSH handshake (whole seconds are
    /// passed to `ssh`; the whole connect attempt is cut off at twice this).
    pub connect_timeout: Duration,
    /// Time allowed for one command, from opening its session to its exit.
    pub command_timeout: Duration,
    /// sshd's `MaxSessions` on the host; at most `max_sessions - 2` commands
    /// (and at least one) run at once.
    pub max_sessions: usize,
}

impl SshTarget {
    /// A target with Dokku's defaults: port 22, user `dokku`, 10 s connect
    /// timeout, 120 s command timeout, `MaxSessions` 10, default keys and
    /// known_hosts.
    pub fn new(host: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            address: address.into(),
            port: 22,
            user: "dokku".to_string(),
            identity_file: None,
            known_hosts_file: None,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(120),
            max_sessions: 10,
        }
    }

    /// How many commands may run at once: `max_sessions - 2`, at least 1.
    pub fn parallelism(&self) -> usize {
        self.max_sessions.saturating_sub(2).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_dokku_conventions() {
        let t = SshTarget::new("h1", "h1.example.org");
        assert_eq!((t.port, t.user.as_str(), t.max_sessions), (22, "dokku", 10));
        assert_eq!(t.connect_timeout, Duration::from_secs(10));
        assert_eq!(t.command_timeout, Duration::from_secs(120));
        assert_eq!(t.parallelism(), 8);
    }

    #[test]
    fn parallelism_stays_below_max_sessions_but_at_least_one() {
        let mut t = SshTarget::new("h1", "h1");
        t.max_sessions = 2;
        assert_eq!(t.parallelism(), 1);
        t.max_sessions = 0;
        assert_eq!(t.parallelism(), 1);
        t.max_sessions = 4;
        assert_eq!(t.parallelism(), 2);
    }
}
