//! `kabine-bench`: Kabine against Janus under the same load, and the
//! socket-free forwarding micro benchmark.
//!
//! - `compare --scenario NAME --duration SECS`: starts Kabine, then Janus,
//!   each alone in a network namespace on core 0, drives each with
//!   `kabine-loadgen` on core 1, reads the server's figures from /proc and
//!   /sys (never from the server itself), and prints a table of both that
//!   ends with `ratio cpu_us_per_egress_packet kabine/janus = R` and the
//!   same ratio per packet the subscribers received (the veth counts a UDP
//!   GSO send as one packet, so a server that batches a burst to one
//!   subscriber into one GSO call shows fewer "egress packets" than it
//!   sent; the receivers count every one).
//! - `record`: the recorder's CPU per recorded participant (4-person room).
//! - `browser-e2ee`: the CPU four Chromium pages of one call use with and
//!   without end-to-end encryption (`browser`).
//! - `micro`: one publisher and N subscribers, real str0m peers connected
//!   in memory to Kabine's SFU engine (no sockets), SRTP both ways; prints
//!   the engine's cost per packet in and per packet out; `--shards 1,2`
//!   runs that many engines on as many threads at once and prints the
//!   speedup of the packets delivered per second.
//!
//! Needs root (network namespaces), `ip`, `taskset` and `janus`.

mod browser;
mod micro;
mod netns;
mod procfs;
mod record;
mod servers;
mod tcp;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::Value;

use netns::Netns;
use procfs::{Delta, Sample};

#[derive(Debug, Parser)]
#[command(
    name = "kabine-bench",
    version,
    about = "Kabine against Janus under the same load; forwarding micro benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Runs a scenario against Kabine and then Janus; prints both.
    Compare {
        /// seed-60, small-rooms, lecture, audio-100 or ramp.
        #[arg(long)]
        scenario: String,
        /// Seconds measured (ramp: the longest the ramp may take).
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Scale the scenario down to this many participants (quick checks).
        #[arg(long)]
        participants: Option<usize>,
        /// Seconds between the last join and the measuring window.
        #[arg(long, default_value_t = 5)]
        settle: u64,
        /// The kabine binary (default: next to this one; build with --release).
        #[arg(long)]
        kabine: Option<PathBuf>,
        /// The kabine-loadgen binary (default: next to this one).
        #[arg(long)]
        loadgen: Option<PathBuf>,
        /// Only these servers, comma-separated (kabine,janus).
        #[arg(long, default_value = "kabine,janus")]
        servers: String,
        /// Configuration files and logs of the run.
        #[arg(long, default_value = "target/bench")]
        work_dir: PathBuf,
        /// An end-to-end encrypted call: Kabine with `e2ee.mode =
        /// "required"`, and frames that look encrypted (kabine-loadgen --e2ee).
        #[arg(long)]
        e2ee: bool,
    },
    /// The browser's CPU cost of end-to-end encryption: four Chromium pages
    /// in one call, with `e2ee.mode = "off"` and `"required"` in turn.
    BrowserE2ee {
        /// Seconds measured per run.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Rounds (each one run without and one with E2EE).
        #[arg(long, default_value_t = 2)]
        runs: usize,
        /// The kabine binary (default: next to this one; build with --release).
        #[arg(long)]
        kabine: Option<PathBuf>,
        /// Configuration files, logs and screenshots of the runs.
        #[arg(long, default_value = "target/bench")]
        work_dir: PathBuf,
    },
    /// Media over TCP (ICE-TCP on the HTTPS port) against UDP: join time
    /// and server CPU per egress RTP packet, Kabine alone in the namespace.
    Tcp {
        /// Participants in the room (each publishes audio and video).
        #[arg(long, default_value_t = 6)]
        participants: usize,
        /// Seconds measured per transport.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// The kabine binary (default: next to this one; build with --release).
        #[arg(long)]
        kabine: Option<PathBuf>,
        /// Configuration files and logs of the run.
        #[arg(long, default_value = "target/bench")]
        work_dir: PathBuf,
    },
    /// Socket-free cost of Kabine's forwarding path: 1 packet in, N out.
    Micro {
        /// Subscriber counts to measure, comma-separated.
        #[arg(long, default_value = "1,3,9,30")]
        subscribers: String,
        /// Packets sent by the publisher per measurement (per shard).
        #[arg(long, default_value_t = 20_000)]
        packets: usize,
        /// Shard counts to measure, comma-separated: K engines, each with its
        /// own publisher and subscribers, on K threads at once (0: one per
        /// core). With 1 among them, each row shows its speedup against 1.
        #[arg(long, default_value = "1")]
        shards: String,
    },
    /// CPU cost of the recorder (WebM + age) per recorded participant.
    Record {
        /// Participants recorded (a room of this many, all consenting).
        #[arg(long, default_value_t = 4)]
        participants: u64,
        /// Seconds of media per participant.
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// Where the encrypted files go (deleted afterwards).
        #[arg(long, default_value = "target/bench/recordings")]
        dir: PathBuf,
    },
}

/// Core of the server under test, and of the load generator.
const SERVER_CPU: usize = 0;
const GENERATOR_CPU: usize = 1;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Sub::Compare { scenario, duration, participants, settle, kabine, loadgen, servers, work_dir, e2ee } => {
            let opts = Compare {
                scenario,
                duration,
                participants,
                settle,
                kabine: kabine.unwrap_or_else(|| sibling("kabine")),
                loadgen: loadgen.unwrap_or_else(|| sibling("kabine-loadgen")),
                servers: servers.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
                work_dir,
                e2ee,
            };
            compare(&opts)
        }
        Sub::Record { participants, seconds, dir } => record::run(participants, seconds, &dir),
        Sub::Tcp { participants, duration, kabine, work_dir } => {
            tcp::run(&kabine.unwrap_or_else(|| sibling("kabine")), &work_dir, participants, duration)
        }
        Sub::BrowserE2ee { seconds, runs, kabine, work_dir } => browser::run(&browser::Options {
            seconds,
            runs,
            kabine: kabine.unwrap_or_else(|| sibling("kabine")),
            work_dir,
        }),
        Sub::Micro { subscribers, packets, shards } => match (counts(&subscribers), counts(&shards)) {
            (Ok(counts), Ok(shards)) => micro::run(&counts, &shards, packets),
            (Err(e), _) => Err(format!("--subscribers: {e}")),
            (_, Err(e)) => Err(format!("--shards: {e}")),
        },
    };
    if let Err(e) = result {
        eprintln!("kabine-bench: {e}");
        std::process::exit(1);
    }
}

/// A comma-separated list of counts.
fn counts(list: &str) -> Result<Vec<usize>, std::num::ParseIntError> {
    list.split(',').map(|s| s.trim().parse::<usize>()).collect()
}

/// A binary next to this one (cargo puts all of a profile's binaries in
/// one directory).
fn sibling(name: &str) -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join(name))).unwrap_or_else(|| PathBuf::from(name))
}

struct Compare {
    scenario: String,
    duration: u64,
    participants: Option<usize>,
    settle: u64,
    kabine: PathBuf,
    loadgen: PathBuf,
    servers: Vec<String>,
    work_dir: PathBuf,
    e2ee: bool,
}

/// What one server's run produced.
struct Run {
    name: &'static str,
    report: Value,
    delta: Delta,
    idle_rss: u64,
    /// Server CPU % per ramp window, with the generator's line.
    ramp: Vec<(String, f64)>,
}

fn require(binary: &str, package: &str) -> Result<(), String> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {binary}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found { Ok(()) } else { Err(format!("`{binary}` is needed: apt-get install {package}")) }
}

fn compare(opts: &Compare) -> Result<(), String> {
    require("ip", "iproute2")?;
    require("taskset", "util-linux")?;
    if opts.servers.iter().any(|s| s == "janus") {
        require("janus", "janus")?;
    }
    for (what, path) in [("kabine", &opts.kabine), ("kabine-loadgen", &opts.loadgen)] {
        if !path.exists() {
            return Err(format!(
                "{what} not found at {} (build it: cargo build --release --bins, or pass --{})",
                path.display(),
                if what == "kabine" { "kabine" } else { "loadgen" }
            ));
        }
    }
    if opts.e2ee && opts.scenario == "lecture" && opts.participants.is_none_or(|n| n > 100) {
        return Err("--e2ee: an end-to-end encrypted meeting holds at most 100 (e2ee.max_participants); \
                    lecture's room has 151 (pass --participants 100 or fewer)"
            .into());
    }
    for s in &opts.servers {
        if s != "kabine" && s != "janus" {
            return Err(format!("unknown server {s:?}: kabine or janus"));
        }
    }
    let ns = Netns::create().map_err(|e| format!("cannot make the benchmark network namespace (root needed): {e}"))?;
    let mut runs = Vec::new();
    for name in &opts.servers {
        let dir = opts.work_dir.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let server = match name.as_str() {
            "kabine" => servers::start_kabine(&ns, &opts.kabine, &dir, SERVER_CPU, 9, opts.e2ee),
            _ => servers::start_janus(&ns, &dir, SERVER_CPU),
        }
        .map_err(|e| format!("{name}: {e}"))?;
        eprintln!("== {name} (pid {}, core {SERVER_CPU}); generator on core {GENERATOR_CPU}", server.pid());
        let result = drive(opts, &ns, &server);
        let log = server.log.clone();
        server.stop();
        let run = result.map_err(|e| format!("{name}: {e} (server log: {})", log.display()))?;
        runs.push(run);
    }
    print_table(opts, &runs);
    Ok(())
}

fn drive(opts: &Compare, ns: &Netns, server: &servers::Server) -> Result<Run, String> {
    let pid = server.pid();
    std::thread::sleep(Duration::from_millis(500));
    let idle = procfs::sample(pid, &ns.host_iface).map_err(|e| format!("cannot read /proc of the server: {e}"))?;
    let mut cmd = Command::new("setsid");
    cmd.args(["nice", "-n", netns::PRIORITY, "taskset", "-c", &GENERATOR_CPU.to_string()])
        .arg(&opts.loadgen)
        .args(["--target", server.name, "--server", &server.signalling.to_string()])
        .args(["--scenario", &opts.scenario, "--duration", &opts.duration.to_string()])
        .args(["--settle", &opts.settle.to_string(), "--bind", &ns.host_ip]);
    if opts.e2ee {
        cmd.arg("--e2ee");
    }
    if let Some(n) = opts.participants {
        cmd.args(["--participants", &n.to_string()]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", opts.loadgen.display()))?;
    netns::raise(child.id());
    let stdout = child.stdout.take().ok_or("no generator output")?;
    let mut start: Option<Sample> = None;
    let mut end: Option<Sample> = None;
    let mut report = None;
    let mut ramp = Vec::new();
    let mut last_ramp: Option<Sample> = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else {
            break;
        };
        let sample = || procfs::sample(pid, &ns.host_iface).ok();
        if line == "PHASE measure-start" {
            start = sample();
            last_ramp = start;
        } else if line == "PHASE measure-end" {
            end = sample();
        } else if let Some(rest) = line.strip_prefix("RAMP ") {
            if let (Some(a), Some(b)) = (last_ramp, sample()) {
                let cpu = Delta::between(&a, &b).cpu_percent();
                eprintln!("   ramp: {rest} server_cpu_pct={cpu:.0}");
                ramp.push((rest.to_string(), cpu));
                last_ramp = Some(b);
            }
        } else if let Some(json) = line.strip_prefix("REPORT ") {
            report = serde_json::from_str::<Value>(json).ok();
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the load generator failed ({status})"));
    }
    let (Some(a), Some(b), Some(report)) = (start, end, report) else {
        return Err("the load generator ended without a measuring window and report".into());
    };
    Ok(Run { name: server.name, report, delta: Delta::between(&a, &b), idle_rss: idle.rss_bytes, ramp })
}

fn f(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "-".into(),
    }
}

fn print_table(opts: &Compare, runs: &[Run]) {
    let participants = runs.first().and_then(|r| r.report["participants"].as_u64()).unwrap_or(0);
    println!();
    println!(
        "scenario {}{} · {} participants · {} s measured · server on core {SERVER_CPU}, generator on core {GENERATOR_CPU}",
        opts.scenario,
        if opts.e2ee { " (end-to-end encrypted: Kabine e2ee.mode = required, frames as encrypted)" } else { "" },
        participants,
        opts.duration
    );
    let mut rows: Vec<(&str, Vec<String>)> = Vec::new();
    let num = |r: &Run, key: &str| r.report[key].as_f64();
    let per_run = |g: &dyn Fn(&Run) -> String| runs.iter().map(g).collect::<Vec<_>>();
    rows.push(("CPU µs per egress packet", per_run(&|r| f(Some(r.delta.cpu_us_per_egress_packet()), 2))));
    rows.push(("CPU µs per packet received by subscribers", per_run(&|r| f(cpu_us_per_received_packet(r), 2))));
    rows.push(("server CPU (% of one core)", per_run(&|r| f(Some(r.delta.cpu_percent()), 1))));
    rows.push(("egress packets/s", per_run(&|r| f(Some(r.delta.egress_pps()), 0))));
    rows.push(("egress Mbit/s", per_run(&|r| f(Some(r.delta.egress_mbit()), 1))));
    rows.push(("ingress packets/s", per_run(&|r| f(Some(r.delta.ingress_packets as f64 / r.delta.seconds), 0))));
    rows.push(("ingress Mbit/s", per_run(&|r| f(Some(r.delta.ingress_mbit()), 1))));
    rows.push(("RSS MB", per_run(&|r| f(Some(r.delta.rss_bytes as f64 / 1e6), 1))));
    rows.push((
        "RSS per participant kB (above idle)",
        per_run(&|r| {
            let n = r.report["participants"].as_f64().unwrap_or(0.0).max(1.0);
            f(Some(r.delta.rss_bytes.saturating_sub(r.idle_rss) as f64 / n / 1e3), 0)
        }),
    ));
    rows.push((
        "UDP rcvbuf/sndbuf errors",
        per_run(&|r| format!("{}/{}", r.delta.udp_rcvbuf_errors, r.delta.udp_sndbuf_errors)),
    ));
    rows.push((
        "connected participants",
        per_run(&|r| format!("{}/{}", r.report["connected"], r.report["participants"])),
    ));
    rows.push(("loss after NACK %", per_run(&|r| f(num(r, "loss_pct"), 3))));
    rows.push(("latency p50 ms", per_run(&|r| f(num(r, "latency_p50_ms"), 1))));
    rows.push(("latency p99 ms", per_run(&|r| f(num(r, "latency_p99_ms"), 1))));
    rows.push(("join p50 ms", per_run(&|r| f(num(r, "join_p50_ms"), 0))));
    rows.push(("join p99 ms", per_run(&|r| f(num(r, "join_p99_ms"), 0))));
    rows.push(("first keyframe p50 ms", per_run(&|r| f(num(r, "keyframe_p50_ms"), 0))));
    rows.push(("received packets/s (all subscribers)", per_run(&|r| f(num(r, "received_pps"), 0))));
    if runs.iter().any(|r| !r.report["ramp_carried"].is_null()) {
        rows.push(("ramp: participants carried", per_run(&|r| r.report["ramp_carried"].to_string())));
        rows.push((
            "ramp: server CPU % in the last good window",
            per_run(&|r| {
                let carried = r.report["ramp_carried"].as_u64();
                let good = r
                    .ramp
                    .iter()
                    .rev()
                    .find(|(line, _)| carried.is_some_and(|c| line.contains(&format!("connected={c} "))));
                f(good.or(r.ramp.last()).map(|(_, c)| *c), 0)
            }),
        ));
    }
    rows.push((
        "generator CPU % (>90: INVALID)",
        per_run(&|r| {
            let g = num(r, "generator_cpu_pct");
            let invalid = r.report["invalid"].as_bool() == Some(true);
            format!("{}{}", f(g, 0), if invalid { " INVALID" } else { "" })
        }),
    ));
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(10);
    print!("{:width$}", "");
    for r in runs {
        print!("  {:>14}", r.name);
    }
    println!();
    for (k, vals) in &rows {
        print!("{k:width$}");
        for v in vals {
            print!("  {v:>14}");
        }
        println!();
    }
    for r in runs {
        if let Some(list) = r.report["failures"].as_array()
            && !list.is_empty()
        {
            println!(
                "{} failures: {}",
                r.name,
                list.iter().map(|v| v.as_str().unwrap_or("?")).collect::<Vec<_>>().join("; ")
            );
        }
        if r.report["invalid"].as_bool() == Some(true) {
            println!("{}: INVALID run — the generator saturated its core; its figures are not the server's", r.name);
        }
    }
    let egress = ratio(runs, |r| Some(r.delta.cpu_us_per_egress_packet()));
    println!("ratio cpu_us_per_egress_packet kabine/janus = {egress}");
    let received = ratio(runs, cpu_us_per_received_packet);
    println!("ratio cpu_us_per_received_packet kabine/janus = {received}");
}

/// Kabine's cost over Janus's, three decimals, or `n/a` without both.
fn ratio(runs: &[Run], cost: impl Fn(&Run) -> Option<f64>) -> String {
    let of = |name: &str| runs.iter().find(|r| r.name == name).and_then(&cost);
    match (of("kabine"), of("janus")) {
        (Some(k), Some(j)) if j > 0.0 && k.is_finite() && j.is_finite() => format!("{:.3}", k / j),
        _ => "n/a".to_string(),
    }
}

/// Server CPU per media packet the subscribers received: every datagram
/// counted once, whether the server sent it alone or in a GSO batch (which
/// the veth's packet counter counts once).
fn cpu_us_per_received_packet(r: &Run) -> Option<f64> {
    let received = r.report["received_pps"].as_f64()? * r.delta.seconds;
    (received > 0.0).then(|| r.delta.cpu_us as f64 / received)
}
