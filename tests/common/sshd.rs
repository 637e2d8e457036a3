//! A throwaway OpenSSH server with a Dokku-style forced command.
//!
//! [`SshdHost::start`] runs `/usr/sbin/sshd -D -e` on a free loopback port
//! with its own host key, a client key whose `authorized_keys` line carries
//! `command="…",no-pty,…` exactly like Dokku's sshcommand writes it, and a
//! known_hosts file for strict host key checking. Everything lives in one
//! temp dir; sshd and every process it forked are killed on
//! [`SshdHost::stop`] and on drop.

use roomctl::ssh::SshTarget;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// A running (or stopped) sshd for one test.
pub struct SshdHost {
    dir: tempfile::TempDir,
    port: u16,
    config: PathBuf,
    client_key: PathBuf,
    known_hosts: PathBuf,
    user: String,
    child: Option<Child>,
}

impl SshdHost {
    /// Starts sshd whose only accepted key runs `forced_command` (the client's
    /// command arrives in `SSH_ORIGINAL_COMMAND`). Panics if sshd does not
    /// come up.
    pub fn start(forced_command: &str) -> SshdHost {
        super::require::openssh();
        super::require::kill();
        let dir = tempfile::Builder::new()
            .prefix("roomctl-sshd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path().to_path_buf();
        let host_key = d.join("host_ed25519");
        let client_key = d.join("client_ed25519");
        keygen(&host_key);
        keygen(&client_key);

        let client_pub = read(&client_key.with_extension("pub"));
        let escaped = forced_command.replace('\\', "\\\\").replace('"', "\\\"");
        let authorized_keys = d.join("authorized_keys");
        std::fs::write(
            &authorized_keys,
            format!(
                "command=\"{escaped}\",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding {}\n",
                client_pub.trim()
            ),
        )
        .expect("write authorized_keys");

        if is_root() {
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        }

        // sshd runs the forced command through the user's login shell. Bash
        // sources ~/.bashrc when it sees SSH_CLIENT and is a top-level
        // shell; `SetEnv SHLVL=1` makes it skip that, so the test user's
        // rc files (pyenv init, …) add neither cost nor flakiness.
        let config = d.join("sshd_config");
        let mut last_log = String::new();
        let mut dir = dir;
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\n\
                     Port {port}\n\
                     HostKey {host_key}\n\
                     AuthorizedKeysFile {authorized_keys}\n\
                     PidFile {pid}\n\
                     StrictModes no\n\
                     UsePAM no\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     PubkeyAuthentication yes\n\
                     PermitRootLogin prohibit-password\n\
                     MaxSessions 10\n\
                     UseDNS no\n\
                     PrintMotd no\n\
                     LogLevel ERROR\n\
                     SetEnv SHLVL=1\n",
                    host_key = host_key.display(),
                    authorized_keys = authorized_keys.display(),
                    pid = d.join("sshd.pid").display(),
                ),
            )
            .expect("write sshd_config");
            let known_hosts = d.join("known_hosts");
            std::fs::write(
                &known_hosts,
                format!(
                    "[127.0.0.1]:{port} {}\n",
                    read(&host_key.with_extension("pub")).trim()
                ),
            )
            .expect("write known_hosts");

            let mut host = SshdHost {
                dir,
                port,
                config: config.clone(),
                client_key: client_key.clone(),
                known_hosts,
                user: current_user(),
                child: None,
            };
            match host.spawn() {
                Ok(()) => return host,
                Err(log) => {
                    // Most likely someone took the port in between: retry.
                    last_log = log;
                    dir = host.into_dir();
                }
            }
        }
        panic!("sshd did not start: {last_log}");
    }

    /// Starts sshd whose forced command is `<emulator_bin> --root <state_root>`,
    /// the way Dokku's key is wired to `dokku` behind sshd.
    pub fn start_emulator(emulator_bin: &Path, state_root: &Path) -> SshdHost {
        Self::start(&format!(
            "{} --root {}",
            emulator_bin.display(),
            state_root.display()
        ))
    }

    /// An [`SshTarget`] for this server: the current OS user, the client key,
    /// strict host key checking against the generated known_hosts, 5 s to
    /// connect, 30 s per command, `MaxSessions` 10.
    pub fn target(&self, host_name: &str) -> SshTarget {
        let mut t = SshTarget::new(host_name, "127.0.0.1");
        t.port = self.port;
        t.user = self.user.clone();
        t.identity_file = Some(self.client_key.clone());
        t.known_hosts_file = Some(self.known_hosts.clone());
        t.connect_timeout = Duration::from_secs(5);
        t.command_timeout = Duration::from_secs(30);
        t.max_sessions = 10;
        t
    }

    /// Like [`SshdHost::target`] but with a freshly generated key that the
    /// server does not accept.
    pub fn target_with_wrong_key(&self, host_name: &str) -> SshTarget {
        let key = self.dir.path().join("stranger_ed25519");
        if !key.exists() {
            keygen(&key);
        }
        let mut t = self.target(host_name);
        t.identity_file = Some(key);
        t
    }

    /// The loopback port sshd listens on (kept across [`SshdHost::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temp dir holding keys, config and sshd's log (`sshd.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether sshd is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills sshd and every process it forked (per-connection sshds and the
    /// forced commands they run), so open connections break at once.
    /// Does nothing if sshd is already stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        // Freeze the listener so it forks nothing new, then kill the whole
        // tree: per-connection sshds call setsid(), so a process group kill
        // would miss them.
        signal("STOP", &[pid]);
        let mut victims = descendants(pid);
        victims.push(pid);
        signal("KILL", &victims);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts sshd again on the same port with the same keys.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(log) = self.spawn() {
            panic!("sshd did not restart on port {}: {log}", self.port);
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log_path = self.dir.path().join("sshd.log");
        let log = std::fs::File::create(&log_path).expect("create sshd.log");
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn /usr/sbin/sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("sshd exited with {status}: {}", read(&log_path)));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "sshd never accepted connections: {}",
                    read(&log_path)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn into_dir(mut self) -> tempfile::TempDir {
        self.stop();
        let placeholder = tempfile::tempdir().expect("temp dir");
        let dir = std::mem::replace(&mut self.dir, placeholder);
        drop(self);
        dir
    }
}

impl Drop for SshdHost {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A target whose port nobody listens on: connecting is refused at once.
pub fn unreachable_target(host_name: &str) -> SshTarget {
    super::require::openssh_client();
    let mut t = SshTarget::new(host_name, "127.0.0.1");
    t.port = free_port();
    t.user = current_user();
    t.connect_timeout = Duration::from_secs(3);
    t
}

/// A target whose port accepts TCP connections but never speaks SSH (a
/// hung host): connecting runs into the connect timeout (1 s here). The
/// listener must be kept alive for as long as the target is used.
pub fn silent_target(host_name: &str) -> (TcpListener, SshTarget) {
    super::require::openssh_client();
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind :0");
    let mut t = SshTarget::new(host_name, "127.0.0.1");
    t.port = listener.local_addr().expect("local addr").port();
    t.user = current_user();
    t.connect_timeout = Duration::from_secs(1);
    (listener, t)
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .expect("bind :0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// The current OS user's name.
pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    assert!(out.status.success(), "id -un failed");
    String::from_utf8(out.stdout)
        .expect("utf-8 user name")
        .trim()
        .to_string()
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "roomctl-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

fn read(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

fn signal(sig: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(|p| p.to_string()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every live descendant of `root`, from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = read(&e.path().join("stat"));
            // "pid (comm) state ppid …"; comm may hold spaces and parens.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = after
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u32>().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}
