//! Figures about a server process read from outside it, in /proc and /sys:
//! nothing the server reports about itself is trusted for the benchmark.

use std::io;
use std::time::Instant;

/// Clock ticks per second for /proc/PID/stat times. Linux has used 100 on
/// every mainstream architecture for decades; `getconf CLK_TCK` confirms it.
const TICKS_PER_SEC: u64 = 100;

/// One reading of a process and the network around it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// User + system CPU time of the process, µs.
    pub cpu_us: u64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Packets and bytes the server sent (the host end of the veth received them).
    pub egress_packets: u64,
    pub egress_bytes: u64,
    /// Packets and bytes the server received.
    pub ingress_packets: u64,
    pub ingress_bytes: u64,
    /// UDP buffer errors in the server's network namespace (`/proc/PID/net/snmp`).
    pub udp_rcvbuf_errors: u64,
    pub udp_sndbuf_errors: u64,
}

/// Reads the CPU time of `pid` and its threads, in µs.
pub fn cpu_us(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may contain spaces.
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).ok_or_else(|| io::Error::other("bad /proc stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 of the whole line, so utime (14) and stime (15) are at 11 and 12 here.
    let utime: u64 = fields.get(11).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other("no utime"))?;
    let stime: u64 = fields.get(12).and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other("no stime"))?;
    Ok((utime + stime) * 1_000_000 / TICKS_PER_SEC)
}

/// Resident set size of `pid`, bytes.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().map_err(io::Error::other)?;
            return Ok(kb * 1024);
        }
    }
    Err(io::Error::other("no VmRSS"))
}

/// A counter of an interface in this network namespace.
pub fn iface_counter(iface: &str, name: &str) -> io::Result<u64> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/{name}"))?
        .trim()
        .parse()
        .map_err(io::Error::other)
}

/// `(RcvbufErrors, SndbufErrors)` from the Udp line of /proc/PID/net/snmp:
/// the counters of the network namespace `pid` lives in.
pub fn udp_buffer_errors(pid: u32) -> io::Result<(u64, u64)> {
    let snmp = std::fs::read_to_string(format!("/proc/{pid}/net/snmp"))?;
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let header: Vec<&str> = lines.next().ok_or_else(|| io::Error::other("no Udp header"))?.split_whitespace().collect();
    let values: Vec<&str> = lines.next().ok_or_else(|| io::Error::other("no Udp values"))?.split_whitespace().collect();
    let get = |name: &str| -> u64 {
        header.iter().position(|h| *h == name).and_then(|i| values.get(i)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Ok((get("RcvbufErrors"), get("SndbufErrors")))
}

/// Takes a full sample. `host_iface` is the host end of the veth pair whose
/// other end the server uses: what it receives, the server sent.
pub fn sample(pid: u32, host_iface: &str) -> io::Result<Sample> {
    let (rcv, snd) = udp_buffer_errors(pid)?;
    Ok(Sample {
        at: Instant::now(),
        cpu_us: cpu_us(pid)?,
        rss_bytes: rss_bytes(pid)?,
        egress_packets: iface_counter(host_iface, "rx_packets")?,
        egress_bytes: iface_counter(host_iface, "rx_bytes")?,
        ingress_packets: iface_counter(host_iface, "tx_packets")?,
        ingress_bytes: iface_counter(host_iface, "tx_bytes")?,
        udp_rcvbuf_errors: rcv,
        udp_sndbuf_errors: snd,
    })
}

/// What happened between two samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delta {
    pub seconds: f64,
    pub cpu_us: u64,
    pub egress_packets: u64,
    pub egress_bytes: u64,
    pub ingress_packets: u64,
    pub ingress_bytes: u64,
    pub rss_bytes: u64,
    pub udp_rcvbuf_errors: u64,
    pub udp_sndbuf_errors: u64,
}

impl Delta {
    pub fn between(a: &Sample, b: &Sample) -> Delta {
        Delta {
            seconds: b.at.duration_since(a.at).as_secs_f64(),
            cpu_us: b.cpu_us.saturating_sub(a.cpu_us),
            egress_packets: b.egress_packets.saturating_sub(a.egress_packets),
            egress_bytes: b.egress_bytes.saturating_sub(a.egress_bytes),
            ingress_packets: b.ingress_packets.saturating_sub(a.ingress_packets),
            ingress_bytes: b.ingress_bytes.saturating_sub(a.ingress_bytes),
            rss_bytes: b.rss_bytes,
            udp_rcvbuf_errors: b.udp_rcvbuf_errors.saturating_sub(a.udp_rcvbuf_errors),
            udp_sndbuf_errors: b.udp_sndbuf_errors.saturating_sub(a.udp_sndbuf_errors),
        }
    }

    /// The headline: server CPU per packet it sent, µs.
    pub fn cpu_us_per_egress_packet(&self) -> f64 {
        if self.egress_packets == 0 { f64::NAN } else { self.cpu_us as f64 / self.egress_packets as f64 }
    }

    /// Share of one core the server used, percent.
    pub fn cpu_percent(&self) -> f64 {
        self.cpu_us as f64 / (self.seconds * 1e6) * 100.0
    }

    pub fn egress_pps(&self) -> f64 {
        self.egress_packets as f64 / self.seconds
    }

    pub fn egress_mbit(&self) -> f64 {
        self.egress_bytes as f64 * 8.0 / self.seconds / 1e6
    }

    pub fn ingress_mbit(&self) -> f64 {
        self.ingress_bytes as f64 * 8.0 / self.seconds / 1e6
    }
}
