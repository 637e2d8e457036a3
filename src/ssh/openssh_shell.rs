//! OpenSSH transport (in progress).
/// Where and how to reach one host over SSH.
#[derive(Debug, Clone)]
pub struct SshTarget;
/// OpenSSH-backed shell.
pub struct OpensshShell;
