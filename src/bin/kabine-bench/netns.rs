//! A network namespace with a veth pair, so the server under test has a real
//! (non-loopback) address: libnice in Janus never gathers loopback
//! candidates, and both servers must be measured on the same path.

use std::io;
use std::process::{Command, Stdio};

/// Names and addresses of the benchmark network (a free /24, see [`SUBNETS`]).
pub struct Netns {
    pub name: String,
    /// Host end of the veth pair; the load generator sends from here.
    pub host_iface: String,
    /// Namespace end; the server binds here.
    pub ns_iface: String,
    pub host_ip: String,
    pub ns_ip: String,
}

/// /24 networks for the veth pair, tried in order: the documentation
/// ranges first (RFC 5737), then private ones. A network the host already
/// routes (some machines sit on TEST-NET-1) is skipped.
const SUBNETS: [&str; 4] = ["198.51.100", "203.0.113", "10.254.77", "172.31.251"];

/// Whether the host has a route (other than the default) towards `ip`.
fn routed(ip: &str) -> bool {
    Command::new("ip")
        .args(["-4", "route", "show", "to", "match", ip])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| !l.trim().is_empty() && !l.starts_with("default")))
        .unwrap_or(true)
}

fn run(args: &[&str]) -> io::Result<()> {
    let out = Command::new(args[0]).args(&args[1..]).stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// Scheduling priority of the servers and the generator. On a shared
/// machine other work would take turns on the measured cores. The kernel
/// groups processes by session (autogroup) and shares a core fairly
/// between groups whatever their `nice`, so each measured process gets a
/// session of its own (`setsid`) whose group is raised with [`raise`].
/// Both servers get the same treatment.
pub const PRIORITY: &str = "-15";

/// Raises the autogroup of `pid` (a fresh session leader) to [`PRIORITY`],
/// once `setsid` has given it a group of its own (never ours). Without
/// autogroup support this does nothing, and `nice` alone applies.
pub fn raise(pid: u32) {
    let path = format!("/proc/{pid}/autogroup");
    let Ok(ours) = std::fs::read_to_string("/proc/self/autogroup") else {
        return;
    };
    let group = |s: &str| s.split_whitespace().next().unwrap_or_default().to_string();
    for _ in 0..1000 {
        match std::fs::read_to_string(&path) {
            Ok(theirs) if group(&theirs) != group(&ours) => {
                if let Err(e) = std::fs::write(&path, PRIORITY) {
                    eprintln!("kabine-bench: cannot raise the priority of {pid}: {e}");
                }
                return;
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(_) => return,
        }
    }
    eprintln!("kabine-bench: process {pid} has no session of its own; it runs at normal priority");
}

impl Netns {
    /// Creates the namespace afresh (removing a leftover one of the same name).
    pub fn create() -> io::Result<Netns> {
        let mut ns = Netns {
            name: "kabine-bench".into(),
            host_iface: "kbench-h".into(),
            ns_iface: "kbench-n".into(),
            host_ip: String::new(),
            ns_ip: String::new(),
        };
        ns.remove();
        let net = SUBNETS
            .iter()
            .find(|net| !routed(&format!("{net}.10")))
            .ok_or_else(|| io::Error::other("every candidate network for the veth pair is in use on this host"))?;
        ns.host_ip = format!("{net}.1");
        ns.ns_ip = format!("{net}.10");
        run(&["ip", "netns", "add", &ns.name])?;
        run(&["ip", "link", "add", &ns.host_iface, "type", "veth", "peer", "name", &ns.ns_iface])?;
        run(&["ip", "link", "set", &ns.ns_iface, "netns", &ns.name])?;
        run(&["ip", "addr", "add", &format!("{}/24", ns.host_ip), "dev", &ns.host_iface])?;
        run(&["ip", "link", "set", &ns.host_iface, "up"])?;
        let exec = ["ip", "netns", "exec", ns.name.as_str()];
        let in_ns = |rest: &[&str]| {
            let mut v: Vec<&str> = exec.to_vec();
            v.extend_from_slice(rest);
            run(&v)
        };
        in_ns(&["ip", "addr", "add", &format!("{}/24", ns.ns_ip), "dev", &ns.ns_iface])?;
        in_ns(&["ip", "link", "set", &ns.ns_iface, "up"])?;
        in_ns(&["ip", "link", "set", "lo", "up"])?;
        // Large socket buffers in the namespace, as an operator would set them.
        in_ns(&["sysctl", "-q", "-w", "net.core.rmem_max=8388608"]).ok();
        in_ns(&["sysctl", "-q", "-w", "net.core.wmem_max=8388608"]).ok();
        Ok(ns)
    }

    /// A command that runs `program` inside the namespace, pinned to `cpu`,
    /// in a session of its own at a raised priority ([`PRIORITY`]; call
    /// [`raise`] with its PID once started). `ip netns exec`, `setsid`,
    /// `nice` and `taskset` all exec, so the child's PID is the program's.
    pub fn command(&self, cpu: usize, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]);
        c.args(["setsid", "nice", "-n", PRIORITY, "taskset", "-c", &cpu.to_string(), program]);
        c
    }

    fn remove(&self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).stderr(Stdio::null()).status();
        let _ = Command::new("ip").args(["link", "del", &self.host_iface]).stderr(Stdio::null()).status();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.remove();
    }
}
