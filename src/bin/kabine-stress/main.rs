//! `kabine-stress`: attacks on a live Kabine while `kabine-loadgen` holds a
//! call on it, with the figures that tell whether the call and the server
//! came through (docs/reliability.md).
//!
//! It starts the server on loopback with a config of its own (metrics on,
//! access open, no direct calls), starts `kabine-loadgen` (rooms of four
//! with camera and microphone), runs one attack over the load generator's
//! measuring window, and prints:
//! - the held call's loss after NACK and latency p99 over the attack;
//! - the server's CPU and RSS before (the call alone), during and after
//!   (the call over) the attack, from /proc;
//! - whether it panicked (its log) or is gone, and whether anything is
//!   left once everyone left: rooms, participants, signalling sessions,
//!   HTTPS and media connections (`/metrics`), file descriptors;
//! - the attack's own figures and checks.
//!
//! The last line is `RESULT {json}`; the exit code is 1 if a check failed.
//! Every packet goes to 127.0.0.1 and every loop is bounded in count and
//! time.

mod attacks;
mod hold;
#[allow(dead_code)]
#[path = "../kabine-bench/procfs.rs"]
mod procfs;
mod report;
mod server;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use attacks::{Outcome, Target};
use report::{Check, Phase, Sampler, mib};
use server::{Limits, Server};

/// Attacks on a live Kabine while kabine-loadgen holds a call on it.
#[derive(Debug, Parser)]
#[command(name = "kabine-stress", version)]
struct Args {
    /// The kabine binary (default: next to this one).
    #[arg(long)]
    kabine: Option<PathBuf>,
    /// The kabine-loadgen binary (default: next to this one).
    #[arg(long)]
    loadgen: Option<PathBuf>,
    /// Participants of the held call (rooms of four); 0: no call.
    #[arg(long, default_value_t = 4)]
    hold: usize,
    /// Where the server's config, log and trace go (default: a new
    /// directory under the system's temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Most loss of the held call allowed, percent.
    #[arg(long, default_value_t = 5.0)]
    max_loss_pct: f64,
    /// Most RSS growth allowed, percent.
    #[arg(long, default_value_t = 10.0)]
    max_rss_growth_pct: f64,
    /// The server's `server.max_connections`.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    #[command(subcommand)]
    attack: Attack,
}

#[derive(Debug, Clone, Subcommand)]
enum Attack {
    /// Malformed STUN / RTP / RTCP / DTLS datagrams at the media port.
    UdpFlood {
        #[arg(long, default_value_t = 50_000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// ICE binding requests with valid syntax and wrong credentials, from 64 ports.
    BogusBinds {
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// DTLS ClientHellos from other ports racing participants' handshakes.
    DtlsRace {
        #[arg(long, default_value_t = 20)]
        joins: usize,
        #[arg(long, default_value_t = 2_000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Slow TLS connections that never finish their handshake.
    Slowloris {
        #[arg(long, default_value_t = 5_000)]
        connections: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Also join with a real browser while the slow connections are
        /// open: the path of `tests/browser/scenarios/fresh_join.mjs`
        /// (needs node, chromium and `npm ci` in tests/browser).
        #[arg(long)]
        browser_join: Option<PathBuf>,
        /// The longest the browser join may take, asked for to media connected.
        #[arg(long, default_value_t = 2_000)]
        max_join_ms: u64,
    },
    /// TLS connect / handshake / close cycles.
    TlsChurn {
        #[arg(long, default_value_t = 100_000)]
        cycles: u64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 600)]
        seconds: u64,
    },
    /// WebSocket frames at the size limit and beyond.
    WsFrames {
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Valid messages as fast as one participant of the held call can send them.
    WsFlood {
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Rooms created, used (chat, password, lobby, breakout rooms) and left.
    Churn {
        #[arg(long, default_value_t = 1_000)]
        cycles: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 900)]
        seconds: u64,
        /// Run the server under strace and fail on any file it writes.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        strace: bool,
    },
    /// Small rooms joining and leaving for a long time; RSS and CPU every 10 s.
    Soak {
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        #[arg(long, default_value_t = 5)]
        rooms: usize,
    },
}

impl Attack {
    fn name(&self) -> &'static str {
        match self {
            Attack::UdpFlood { .. } => "udp-flood",
            Attack::BogusBinds { .. } => "bogus-binds",
            Attack::DtlsRace { .. } => "dtls-race",
            Attack::Slowloris { .. } => "slowloris",
            Attack::TlsChurn { .. } => "tls-churn",
            Attack::WsFrames { .. } => "ws-frames",
            Attack::WsFlood { .. } => "ws-flood",
            Attack::Churn { .. } => "churn",
            Attack::Soak { .. } => "soak",
        }
    }

    /// The held call's measuring window: the attack's time budget, and for
    /// churn some seconds more to read the RSS after it with the call on.
    fn window(&self) -> u64 {
        match *self {
            Attack::UdpFlood { seconds, .. }
            | Attack::BogusBinds { seconds, .. }
            | Attack::DtlsRace { seconds, .. }
            | Attack::TlsChurn { seconds, .. }
            | Attack::WsFrames { seconds, .. }
            | Attack::WsFlood { seconds } => seconds,
            // The browser takes some seconds to start before the attack.
            Attack::Slowloris { seconds, ref browser_join, .. } => {
                seconds + if browser_join.is_some() { 10 } else { 0 }
            }
            Attack::Churn { seconds, .. } => seconds + AFTER_CHURN.as_secs() + 2,
            Attack::Soak { minutes, .. } => minutes * 60,
        }
    }
}

/// The room lives at once of a churn (its warm-up is as many).
fn concurrency_of(attack: &Attack) -> usize {
    match *attack {
        Attack::Churn { concurrency, .. } => concurrency.max(1),
        _ => 0,
    }
}

/// How long after churn the RSS is read (with the call still held).
const AFTER_CHURN: Duration = Duration::from_secs(5);

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join(name))).unwrap_or_else(|| PathBuf::from(name))
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kabine-stress: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = match runtime.block_on(run(args)) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("kabine-stress: {e}");
            2
        }
    };
    runtime.shutdown_timeout(Duration::from_secs(2));
    std::process::exit(code);
}

async fn run(args: Args) -> std::io::Result<bool> {
    let kabine = args.kabine.clone().unwrap_or_else(|| sibling("kabine"));
    let loadgen = args.loadgen.clone().unwrap_or_else(|| sibling("kabine-loadgen"));
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kabine-stress-{}-{}", args.attack.name(), std::process::id()))
    });
    let trace = matches!(args.attack, Attack::Churn { strace: true, .. });
    let mut srv = Server::start(&kabine, &dir, Limits { max_connections: args.max_connections }, trace)?;
    let sampler = Sampler::start(srv.pid);
    let tls = kabine::tls::client_accepting_any_chain(Arc::new(kabine::tls::provider()), &[])
        .map_err(std::io::Error::other)?;
    let target = Target { https: srv.https, media: srv.media, tls };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = sampler.rss_now();
    let idle_fds = srv.fds();
    let metrics_start = srv.metrics().unwrap_or_default();
    say(&format!(
        "kabine-stress {}: server pid {} (https {}, media {}), idle RSS {:.1} MiB, {} fds",
        args.attack.name(),
        srv.pid,
        srv.https,
        srv.media,
        mib(idle_rss),
        idle_fds
    ));

    let window = args.attack.window();
    let mut held = None;
    if args.hold > 0 {
        let mut h = hold::Held::start(&loadgen, srv.https, args.hold, window, &dir.join("loadgen.log"))?;
        h.wait_measuring(Duration::from_secs(90))?;
        say(&format!("held call: {} participants connected; attack starts", args.hold));
        held = Some(h);
    } else {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let attack_start = Instant::now();
    let before = sampler.phase(attack_start - Duration::from_secs(2), attack_start);
    let metrics_before = srv.metrics().unwrap_or_default();

    let mut soak_lines = Vec::new();
    // Churn: the RSS after its first half (with the call still on).
    let mut halfway_rss = None;
    // Churn: the RSS after its warm-up, and how much of it is the binary's code.
    let mut warm_rss: Option<(u64, Option<(u64, u64)>)> = None;
    let outcome: Outcome = match args.attack.clone() {
        Attack::UdpFlood { rate, seconds } => attacks::udp_flood(&target, rate, Duration::from_secs(seconds)).await?,
        Attack::BogusBinds { rate, seconds } => {
            attacks::bogus_binds(&target, rate, Duration::from_secs(seconds)).await?
        }
        Attack::DtlsRace { joins, rate, seconds } => {
            attacks::dtls_race(&target, joins, rate, Duration::from_secs(seconds)).await?
        }
        Attack::Slowloris { connections, seconds, browser_join, max_join_ms } => {
            // Absolute: node runs from the browser tests' directory.
            let browser = browser_join.map(|script| attacks::BrowserJoin {
                script: std::fs::canonicalize(&script).unwrap_or(script),
                out: dir.join("browser"),
                max_ms: max_join_ms,
            });
            attacks::slowloris(&target, connections, Duration::from_secs(seconds), browser.as_ref()).await?
        }
        Attack::TlsChurn { cycles, concurrency, seconds } => {
            attacks::tls_churn(&target, cycles, concurrency, Duration::from_secs(seconds)).await?
        }
        Attack::WsFrames { rounds, .. } => attacks::ws_frames(&target, rounds).await?,
        Attack::WsFlood { seconds } => attacks::ws_flood(&target, "bench-0", Duration::from_secs(seconds)).await?,
        Attack::Churn { cycles, concurrency, seconds, .. } => {
            let (s, w) = (sampler.clone(), sampler.clone());
            let (halfway, warm) = (&mut halfway_rss, &mut warm_rss);
            let pid = srv.pid;
            attacks::churn(
                &target,
                cycles,
                concurrency,
                Duration::from_secs(seconds),
                move || *warm = Some((w.rss_now(), report::rss_split(pid).ok())),
                move || *halfway = Some(s.rss_now()),
            )
            .await?
        }
        Attack::Soak { minutes, rooms } => {
            let s = sampler.clone();
            let mut last = (Instant::now(), procfs::cpu_us(srv.pid).unwrap_or(0));
            let pid = srv.pid;
            attacks::soak(&target, rooms, Duration::from_secs(minutes * 60), |t| {
                let cpu = procfs::cpu_us(pid).unwrap_or(0);
                let pct = (cpu.saturating_sub(last.1)) as f64 / (last.0.elapsed().as_secs_f64() * 1e6) * 100.0;
                last = (Instant::now(), cpu);
                let line = format!("SOAK t={t:.0}s rss_mib={:.1} cpu_pct={pct:.1}", mib(s.rss_now()));
                say(&line);
                soak_lines.push(json!({"t": t, "rss_bytes": s.rss_now(), "cpu_pct": pct}));
            })
            .await?
        }
    };
    let attack_end = Instant::now();
    // One more reading after the end, so a short attack has one on each side.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = sampler.phase(attack_start, attack_end);
    let metrics_during = srv.metrics().unwrap_or_default();

    // Churn: the RSS with the call still on, once the churn is over.
    let mut after_churn = None;
    if matches!(args.attack, Attack::Churn { .. }) {
        tokio::time::sleep(AFTER_CHURN).await;
        let now = Instant::now();
        after_churn = Some((sampler.phase(now - Duration::from_secs(2), now), srv.metrics().unwrap_or_default()));
    }

    let call = match held {
        Some(h) => Some(h.finish(Duration::from_secs(window + 60))?),
        None => None,
    };
    // Everyone left: wait for the server to let go of everything.
    let gauges = [
        "kabine_rooms_open",
        "kabine_participants",
        "kabine_signalling_sessions",
        "kabine_https_connections",
        "kabine_peer_connections",
        "kabine_media_addresses",
    ];
    let settle_end = Instant::now() + Duration::from_secs(15);
    let mut metrics_after = srv.metrics().unwrap_or_default();
    while Instant::now() < settle_end && gauges.iter().any(|g| metrics_after.get(*g).copied().unwrap_or(0.0) != 0.0) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        metrics_after = srv.metrics().unwrap_or_default();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let now = Instant::now();
    let after = sampler.phase(now - Duration::from_secs(2), now);
    let after_fds = srv.fds();
    let panics = srv.panics();
    let alive = srv.alive();

    // ---- checks ----
    let mut checks: Vec<Check> = outcome.checks.clone();
    let mut check = |name: &str, ok: bool, detail: String| checks.push(Check { name: name.into(), ok, detail });
    check("the server did not panic", panics.is_empty(), panics.first().cloned().unwrap_or_default());
    check("the server is still running", alive, String::new());
    if let Some(c) = &call {
        check(
            "every participant of the held call stayed connected",
            c.connected == c.participants && c.participants as usize == args.hold,
            format!("{}/{}; {:?}", c.connected, c.participants, c.failures),
        );
        check(
            &format!("the held call lost at most {} % of its packets", args.max_loss_pct),
            c.expected_packets > 0 && c.loss_pct <= args.max_loss_pct,
            format!("{:.3} % of {} packets", c.loss_pct, c.expected_packets),
        );
    }
    let growth = |a: u64, b: u64| if a == 0 { 0.0 } else { (b as f64 - a as f64) / a as f64 * 100.0 };
    let rss_growth_during = growth(before.rss_bytes, during.rss_max_bytes);
    // Slow connections hold memory until the handshake timeout closes them
    // (bounded by `server.max_connections`): reported, not checked.
    if !matches!(args.attack, Attack::Churn { .. } | Attack::Soak { .. } | Attack::Slowloris { .. }) {
        check(
            &format!("RSS grew less than {} % during the attack", args.max_rss_growth_pct),
            rss_growth_during < args.max_rss_growth_pct,
            format!("{:.1} -> {:.1} MiB ({rss_growth_during:+.1} %)", mib(before.rss_bytes), mib(during.rss_max_bytes)),
        );
    }
    let leftover: Vec<String> = gauges
        .iter()
        .filter_map(|g| {
            let v = metrics_after.get(*g).copied().unwrap_or(f64::NAN);
            (v != 0.0).then(|| format!("{g} = {v}"))
        })
        .collect();
    check(
        "nothing is left once everyone left (rooms, participants, sessions, connections, media addresses)",
        leftover.is_empty(),
        leftover.join(", "),
    );
    check("no file descriptor is left", after_fds <= idle_fds + 2, format!("{idle_fds} fds idle, {after_fds} after"));
    let metric = |m: &std::collections::BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    if matches!(args.attack, Attack::BogusBinds { .. }) {
        check(
            "bogus binds taught the server no address and made no connection",
            metric(&metrics_during, "kabine_media_addresses") == metric(&metrics_before, "kabine_media_addresses")
                && metric(&metrics_during, "kabine_peer_connections")
                    == metric(&metrics_before, "kabine_peer_connections"),
            format!(
                "media addresses {} -> {}",
                metric(&metrics_before, "kabine_media_addresses"),
                metric(&metrics_during, "kabine_media_addresses")
            ),
        );
    }
    let mut files = Vec::new();
    if let Some((p, m)) = &after_churn {
        let (start, split) = warm_rss.unwrap_or((before.rss_bytes, None));
        let split_now = report::rss_split(srv.pid).ok();
        let parts = |s: Option<(u64, u64)>| match s {
            Some((anon, file)) => format!(" [anonymous {:.1}, file-backed {:.1}]", mib(anon), mib(file)),
            None => String::new(),
        };
        let g = growth(start, p.rss_bytes);
        check(
            &format!(
                "RSS after the churn is within {} % of its start (after a warm-up of {} room lives)",
                args.max_rss_growth_pct,
                concurrency_of(&args.attack)
            ),
            g.abs() <= args.max_rss_growth_pct,
            format!(
                "before {:.1} MiB, after the warm-up {:.1}{} -> after the churn {:.1}{} ({g:+.1} %)",
                mib(before.rss_bytes),
                mib(start),
                parts(split),
                mib(p.rss_bytes),
                parts(split_now)
            ),
        );
        if let Some(half) = halfway_rss {
            // A leak per room life grows the RSS again in the second half;
            // the allocator keeping its high-water mark of the first does not.
            let g = growth(half, p.rss_bytes);
            check(
                &format!(
                    "RSS after the churn is within {} % of its value after the first half",
                    args.max_rss_growth_pct / 2.0
                ),
                g <= args.max_rss_growth_pct / 2.0,
                format!("{:.1} -> {:.1} MiB ({g:+.1} %)", mib(half), mib(p.rss_bytes)),
            );
        }
        let same =
            ["kabine_rooms_open", "kabine_participants", "kabine_peer_connections", "kabine_signalling_sessions"]
                .iter()
                .filter(|g| metric(m, g) != metric(&metrics_before, g))
                .map(|g| format!("{g}: {} -> {}", metric(&metrics_before, g), metric(m, g)))
                .collect::<Vec<_>>();
        check(
            "after the churn only the held call is left (rooms, participants, media connections)",
            same.is_empty(),
            same.join(", "),
        );
    }
    if let Some(t) = &srv.trace {
        files = server::files_written(t)?;
        check(
            "the server wrote no file (strace: open for writing, create, rename, remove)",
            files.is_empty(),
            files.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
        );
    }

    // ---- report ----
    let phase = |p: &Phase| json!({"cpu_pct": p.cpu_pct, "rss_bytes": p.rss_bytes, "rss_max_bytes": p.rss_max_bytes});
    let result = json!({
        "attack": args.attack.name(),
        "args": format!("{:?}", args.attack),
        "held_call": call.as_ref().map(|c| json!({
            "participants": c.participants,
            "connected": c.connected,
            "loss_pct": c.loss_pct,
            "latency_p99_ms": c.latency_p99_ms,
            "expected_packets": c.expected_packets,
        })),
        "server": {
            "idle_rss_bytes": idle_rss,
            "before": phase(&before),
            "during": phase(&during),
            "after_churn": after_churn.as_ref().map(|(p, _)| phase(p)),
            "halfway_churn_rss_bytes": halfway_rss,
            "warm_churn_rss_bytes": warm_rss.map(|(r, _)| r),
            "after": phase(&after),
            "rss_growth_during_pct": rss_growth_during,
            "fds_idle": idle_fds,
            "fds_after": after_fds,
            "media_datagrams_unclaimed": metric(&metrics_during, "kabine_media_datagrams_unclaimed_total")
                - metric(&metrics_before, "kabine_media_datagrams_unclaimed_total"),
            "stun_refused": metric(&metrics_during, "kabine_stun_refused_total")
                - metric(&metrics_before, "kabine_stun_refused_total"),
            "https_connections_accepted": metric(&metrics_during, "kabine_https_connections_total")
                - metric(&metrics_start, "kabine_https_connections_total"),
        },
        "panics": panics.len(),
        "files_written": files,
        "soak": soak_lines,
        "attack_figures": Value::Object(outcome.figures.clone()),
        "checks": checks,
        "ok": checks.iter().all(|c| c.ok),
    });
    say(&summary(&result));
    say(&format!("RESULT {result}"));
    srv.stop();
    Ok(checks.iter().all(|c| c.ok))
}

fn summary(r: &Value) -> String {
    let mut s = String::new();
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    if let Some(c) = r["held_call"].as_object() {
        s.push_str(&format!(
            "held call: {}/{} connected, loss {:.3} %, latency p99 {} ms\n",
            c["connected"],
            c["participants"],
            f(&c["loss_pct"]),
            c["latency_p99_ms"].as_f64().map_or("-".into(), |x| format!("{x:.1}"))
        ));
    }
    let srv = &r["server"];
    for p in ["before", "during", "after"] {
        s.push_str(&format!(
            "server {p:>6}: CPU {:>6.1} % of a core, RSS {:.1} MiB (max {:.1})\n",
            f(&srv[p]["cpu_pct"]),
            f(&srv[p]["rss_bytes"]) / 1048576.0,
            f(&srv[p]["rss_max_bytes"]) / 1048576.0
        ));
    }
    s.push_str(&format!("attack: {}\n", r["attack_figures"]));
    for c in r["checks"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "{} {} {}\n",
            if c["ok"].as_bool() == Some(true) { "PASS" } else { "FAIL" },
            c["name"].as_str().unwrap_or_default(),
            c["detail"].as_str().filter(|d| !d.is_empty()).map(|d| format!("({d})")).unwrap_or_default()
        ));
    }
    s.trim_end().to_string()
}
