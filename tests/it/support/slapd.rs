//! A throwaway OpenLDAP `slapd` per test, on free loopback ports, started by
//! `start-slapd.sh` and stopped by its PID when the test ends.
//!
//! The directory (suffix `dc=example,dc=org`) holds alice/alicepw (display
//! name "Alice Beispiel", member of `cn=conf-users,ou=groups,…`) and
//! bob/bobpw (cn "Bob Example", in no group); the memberof overlay is on and
//! anonymous reads are off. `ldap://` offers StartTLS; `ldaps://` is TLS
//! from the start, with a certificate from the test CA in [`Slapd::ca_file`].

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{output_dir, repo_root, require_tool};

pub const BASE: &str = "dc=example,dc=org";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PW: &str = "adminpw";
pub const HOSTS_GROUP: &str = "cn=conf-users,ou=groups,dc=example,dc=org";

pub struct Slapd {
    pub dir: PathBuf,
    pub ldap_port: u16,
    pub ldaps_port: u16,
    pid: u32,
    running: bool,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("bound").port()
}

impl Slapd {
    /// Starts a fresh directory in `target/test-output/slapd-NAME`.
    pub fn start(name: &str) -> Slapd {
        require_tool("slapd", "slapd");
        require_tool("ldapadd", "ldap-utils");
        require_tool("slappasswd", "slapd");
        require_tool("openssl", "openssl");
        let script = repo_root().join("tests/it/support/start-slapd.sh");
        let mut last_error = String::new();
        // A port picked here can be taken by another test before slapd
        // binds it; then try other ports.
        for _ in 0..3 {
            let dir = output_dir(&format!("slapd-{name}"));
            let (ldap_port, ldaps_port) = (free_port(), free_port());
            let out = Command::new("sh")
                .arg(&script)
                .arg(&dir)
                .env("LDAP_PORT", ldap_port.to_string())
                .env("LDAPS_PORT", ldaps_port.to_string())
                .output()
                .expect("start-slapd.sh runs");
            let pid = std::fs::read_to_string(dir.join("slapd.pid")).ok().and_then(|s| s.trim().parse::<u32>().ok());
            match (out.status.success(), pid) {
                (true, Some(pid)) => return Slapd { dir, ldap_port, ldaps_port, pid, running: true },
                (_, pid) => {
                    if let Some(pid) = pid {
                        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
                    }
                    last_error =
                        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                }
            }
        }
        panic!("slapd did not start: {last_error}");
    }

    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// The test CA that signed the server certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(sig).arg(self.pid.to_string()).status().is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {} failed", self.pid);
    }

    /// Freezes slapd (SIGSTOP): connections are accepted by the kernel but
    /// never answered, like a hung server.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Stops slapd and waits until it is gone.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let _ = Command::new("kill").arg("-CONT").arg(self.pid.to_string()).status();
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.alive() {
            let _ = Command::new("kill").arg("-KILL").arg(self.pid.to_string()).status();
        }
    }

    /// Whether the process still runs (a zombie waiting to be reaped does not).
    pub fn alive(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
