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

/// `nice` level of the servers and the generator: on a shared machine,
/// other work would otherwise take turns on the measured cores. CFS shares
/// a core per thread, so without it a server with hundreds of threads
/// (Janus) would crowd out other work that a one-thread server (Kabine)
/// must share its core with. Both servers get the same level.
pub const PRIORITY: &str = "-15";

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

    /// A command that runs `program` inside the namespace, pinned to `cpu`
    /// at a raised priority ([`PRIORITY`]). `ip netns exec`, `nice` and
    /// `taskset` all exec, so the child's PID is the program's.
    pub fn command(&self, cpu: usize, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, "nice", "-n", PRIORITY, "taskset", "-c", &cpu.to_string(), program]);
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
