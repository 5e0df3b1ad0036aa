//! A network namespace for a participant behind a firewall: a veth pair
//! to this machine (host end `HOST_IP`, namespace end `NS_IP`, a default
//! route through the host end) and nftables rules inside the namespace.
//! Everything stays on this machine. Needs root, `ip` and `nft`; a missing
//! tool fails the test.

use std::process::{Command, Stdio};

use super::require_tool;

/// A namespace that is removed (with its veth pair) when dropped.
pub struct Walled {
    pub name: String,
    /// The host end's address: servers the namespace reaches.
    pub host_ip: String,
    /// The namespace end's address.
    pub ns_ip: String,
}

/// /30 networks tried in order; one the host already routes is skipped.
const SUBNETS: [&str; 3] = ["10.254.161", "172.31.161", "198.18.161"];

fn run(args: &[&str]) -> Result<(), String> {
    run_input(args, None)
}

fn run_input(args: &[&str], input: Option<&str>) -> Result<(), String> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("`{}`: {e}", args.join(" ")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        stdin.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn routed(ip: &str) -> bool {
    Command::new("ip")
        .args(["-4", "route", "show", "to", "match", ip])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| !l.trim().is_empty() && !l.starts_with("default")))
        .unwrap_or(true)
}

impl Walled {
    /// A namespace `kabine-<tag>` whose own rules are `nft_rules` (an
    /// nftables script loaded inside it; more with [`Walled::firewall`]).
    pub fn create(tag: &str, nft_rules: &str) -> Walled {
        require_tool("ip", "iproute2");
        require_tool("nft", "nftables");
        let name = format!("kabine-{tag}");
        let (host_if, ns_if) = (format!("kw{tag}h"), format!("kw{tag}n"));
        assert!(host_if.len() <= 15, "interface names are at most 15 bytes");
        let _ = run(&["ip", "netns", "del", &name]);
        let _ = run(&["ip", "link", "del", &host_if]);
        let net = SUBNETS
            .iter()
            .find(|n| !routed(&format!("{n}.1")))
            .unwrap_or_else(|| panic!("every test network of {SUBNETS:?} is in use on this machine"));
        let walled = Walled { name, host_ip: format!("{net}.1"), ns_ip: format!("{net}.2") };
        let ns = walled.name.as_str();
        let host_cidr = format!("{}/30", walled.host_ip);
        let ns_cidr = format!("{}/30", walled.ns_ip);
        let steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", ns],
            vec!["ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if],
            vec!["ip", "link", "set", &ns_if, "netns", ns],
            vec!["ip", "addr", "add", &host_cidr, "dev", &host_if],
            vec!["ip", "link", "set", &host_if, "up"],
            vec!["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
            vec!["ip", "netns", "exec", ns, "ip", "addr", "add", &ns_cidr, "dev", &ns_if],
            vec!["ip", "netns", "exec", ns, "ip", "link", "set", &ns_if, "up"],
            vec!["ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", &walled.host_ip],
        ];
        for step in steps {
            run(&step).unwrap_or_else(|e| panic!("setting up the namespace: {e}"));
        }
        walled.firewall(nft_rules);
        walled
    }

    /// Loads an nftables script inside the namespace.
    pub fn firewall(&self, nft_rules: &str) {
        run_input(&["ip", "netns", "exec", &self.name, "nft", "-f", "-"], Some(nft_rules))
            .unwrap_or_else(|e| panic!("loading the namespace's firewall: {e}"));
    }

    /// `/etc/hosts` inside the namespace (`ip netns exec` mounts
    /// `/etc/netns/NAME/hosts` over it): `name` is the host end's address.
    pub fn host_name(&self, name: &str) {
        let dir = format!("/etc/netns/{}", self.name);
        std::fs::create_dir_all(&dir).expect("/etc/netns/NAME can be made (root)");
        std::fs::write(format!("{dir}/hosts"), format!("127.0.0.1 localhost\n{} {name}\n", self.host_ip))
            .expect("hosts file");
    }

    /// Runs `sh -c script` inside the namespace; its exit status.
    pub fn sh(&self, script: &str) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Walled {
    fn drop(&mut self) {
        // The veth pair goes with the namespace.
        let _ = run(&["ip", "netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

/// nftables rules that drop every UDP datagram in and out of the namespace.
pub const DROP_UDP: &str = "table inet kabine_wall {
  chain out { type filter hook output priority 0; policy accept; meta l4proto udp drop; }
  chain in { type filter hook input priority 0; policy accept; meta l4proto udp drop; }
}
";

/// nftables rules that let out only TCP to `host` port `port` (the HTTPS
/// port: TLS to 443 in a real network), and answers to it.
pub fn only_tcp_to(host: &str, port: u16) -> String {
    format!(
        "table inet kabine_wall {{
  chain out {{ type filter hook output priority 0; policy drop; oif \"lo\" accept; ip daddr {host} tcp dport {port} accept; }}
  chain in {{ type filter hook input priority 0; policy drop; iif \"lo\" accept; ct state established,related accept; }}
}}
"
    )
}
