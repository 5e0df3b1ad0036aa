//! `kabine-loadgen`: synthetic browsers for benchmarks.
//!
//! Many participants share one thread: one str0m `Rtc` per peer connection,
//! all driven by one media loop ([`rtc`]), with signalling tasks (Kabine's
//! WebSocket protocol or Janus's VideoRoom API) on the same single-threaded
//! runtime. It prints `PHASE measure-start` / `PHASE measure-end` when the
//! measuring window opens and closes (`kabine-bench` samples the server's
//! /proc figures there), `RAMP ...` lines during a ramp, a human summary on
//! stderr and one `REPORT {json}` line on stdout.
//!
//! It is not built on the tests' `kabine::loadgen::SyntheticPeer` (one task
//! and one detailed report per participant); `src/loadgen/mod.rs` says why
//! there are two synthetic clients and what they share.

mod janus;
mod kabine;
mod media;
mod net;
mod rtc;
mod scenario;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use rtc::{Cmd, Figures, MediaLoop};
use scenario::Scenario;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    Kabine,
    Janus,
}

/// Synthetic WebRTC participants for benchmarks (Kabine or Janus VideoRoom).
#[derive(Debug, Parser)]
#[command(name = "kabine-loadgen", version)]
struct Args {
    /// Which server speaks at --server.
    #[arg(long, value_enum)]
    target: Target,
    /// Kabine's HTTPS address, or Janus's WebSocket address.
    #[arg(long)]
    server: SocketAddr,
    /// seed-60, small-rooms, lecture, audio-100 or ramp.
    #[arg(long)]
    scenario: String,
    /// Seconds of measuring (for ramp: the longest the ramp may take).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Scale the scenario to this many participants (small test runs).
    #[arg(long)]
    participants: Option<usize>,
    /// Local address of the media sockets.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Seconds between the last join and the measuring window.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Frames look end-to-end encrypted to the server (docs/e2ee.md): the
    /// clear header bytes, then random bytes, 26 bytes more per frame.
    #[arg(long)]
    e2ee: bool,
}

fn main() {
    let args = Args::parse();
    media::set_e2ee(args.e2ee);
    let Some(scenario) = Scenario::named(&args.scenario, args.participants) else {
        eprintln!("unknown scenario {:?}; known: {}", args.scenario, scenario::NAMES.join(", "));
        std::process::exit(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(drive(args, scenario));
    std::process::exit(code);
}

/// This process's CPU time (user + system), µs.
fn own_cpu_us() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0;
    };
    let f: Vec<u64> = rest.split_whitespace().map(|s| s.parse().unwrap_or(0)).collect();
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * 10_000
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn ask<T>(media: &mpsc::UnboundedSender<Cmd>, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    media.send(make(tx)).ok()?;
    rx.await.ok()
}

/// A run where the generator used more of its core than this is invalid:
/// its own queueing would show up as the server's latency and loss.
const GENERATOR_SATURATED_PERCENT: f64 = 90.0;

async fn drive(args: Args, scenario: Scenario) -> i32 {
    let epoch = Instant::now();
    let (media, commands) = mpsc::unbounded_channel();
    let media_loop = MediaLoop::new(epoch, args.bind, commands);
    let media_task = tokio::spawn(media_loop.run());

    let kabine_target = Arc::new(kabine::Target { server: args.server, tls: insecure_tls() });
    let janus_target = Arc::new(janus::Target { server: args.server });
    if args.target == Target::Janus {
        let most = (0..scenario.rooms())
            .map(|r| scenario.participants.iter().filter(|p| p.room == r).count())
            .max()
            .unwrap_or(1);
        if let Err(e) = janus::create_rooms(&janus_target, scenario.rooms(), most).await {
            eprintln!("cannot create the Janus rooms: {e}");
            return 1;
        }
    }
    let room_sizes: Vec<usize> =
        (0..scenario.rooms()).map(|r| scenario.participants.iter().filter(|p| p.room == r).count()).collect();
    // Cancelled after the report: every Kabine participant sends `leave`.
    let leave = tokio_util::sync::CancellationToken::new();
    let spawn = |p: usize| {
        let spec = scenario.participants[p].clone();
        let media = media.clone();
        match args.target {
            Target::Kabine => {
                tokio::spawn(kabine::participant(p, spec, Arc::clone(&kabine_target), media, leave.clone()));
            }
            Target::Janus => {
                let size = room_sizes[spec.room];
                tokio::spawn(janus::participant(p, spec, size, Arc::clone(&janus_target), media));
            }
        }
    };

    let mut ramp_carried = None;
    let mut ramp_stop = String::new();
    let cpu_start;
    let measure_start;
    if scenario.ramp {
        // Start with one room's worth, then one more participant a second.
        let first = 4.min(scenario.participants.len());
        for p in 0..first {
            spawn(p);
        }
        tokio::time::sleep(Duration::from_secs(args.settle)).await;
        let _ = media.send(Cmd::Measure);
        say("PHASE measure-start");
        cpu_start = own_cpu_us();
        measure_start = Instant::now();
        let mut next = first;
        let mut window_cpu = (own_cpu_us(), Instant::now());
        let mut good = first;
        let window = Duration::from_secs(5);
        let end = Instant::now() + Duration::from_secs(args.duration);
        let mut tick = tokio::time::interval(scenario.join_interval);
        tick.tick().await;
        let mut last_window = Instant::now();
        loop {
            tick.tick().await;
            if next < scenario.participants.len() {
                spawn(next);
                next += 1;
            }
            if last_window.elapsed() < window {
                if Instant::now() >= end {
                    ramp_stop = "time limit reached".into();
                    break;
                }
                continue;
            }
            last_window = Instant::now();
            let Some(f) = ask(&media, |reply| Cmd::Window { reply }).await else {
                break;
            };
            let cpu_now = (own_cpu_us(), Instant::now());
            let gen_cpu = (cpu_now.0 - window_cpu.0) as f64
                / cpu_now.1.duration_since(window_cpu.1).as_micros().max(1) as f64
                * 100.0;
            window_cpu = cpu_now;
            let loss = loss_of(&f);
            let p99 = f.latency_p99_ms.unwrap_or(0.0);
            say(&format!(
                "RAMP participants={} connected={} loss_pct={:.3} p99_ms={:.1} generator_cpu_pct={:.0}",
                f.participants,
                f.connected,
                loss * 100.0,
                p99,
                gen_cpu
            ));
            if gen_cpu > GENERATOR_SATURATED_PERCENT {
                ramp_stop = format!("the generator saturated its core at {} participants", f.participants);
                break;
            }
            if loss > scenario::RAMP_MAX_LOSS || p99 > scenario::RAMP_MAX_P99_MS {
                ramp_stop =
                    format!("loss {:.2} % / p99 {:.0} ms at {} participants", loss * 100.0, p99, f.participants);
                break;
            }
            if f.connected < good / 2 {
                // The server is gone (or dropped most calls): the run is over.
                ramp_stop = format!("{} of {good} participants lost their connection", good - f.connected);
                break;
            }
            good = f.connected;
            if Instant::now() >= end || next >= scenario.participants.len() && f.connected >= next {
                ramp_stop = if next >= scenario.participants.len() {
                    "every participant of the scenario joined".into()
                } else {
                    "time limit reached".into()
                };
                break;
            }
        }
        ramp_carried = Some(good);
    } else {
        for p in 0..scenario.participants.len() {
            spawn(p);
            tokio::time::sleep(scenario.join_interval).await;
        }
        // Wait until everyone is connected (or 30 s), then settle.
        let total = scenario.participants.len();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match ask(&media, |reply| Cmd::Report { reply }).await {
                Some(f) if f.connected >= total => break,
                Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                None => break,
            }
        }
        tokio::time::sleep(Duration::from_secs(args.settle)).await;
        let _ = media.send(Cmd::Measure);
        say("PHASE measure-start");
        cpu_start = own_cpu_us();
        measure_start = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.duration)).await;
    }
    say("PHASE measure-end");
    let cpu_end = own_cpu_us();
    let seconds = measure_start.elapsed().as_secs_f64();
    // Let gaps of the last second expire or be repaired.
    tokio::time::sleep(media::LOSS_AFTER + Duration::from_millis(300)).await;
    let Some(mut f) = ask(&media, |reply| Cmd::Report { reply }).await else {
        eprintln!("the media loop ended early");
        return 1;
    };
    let gen_cpu = (cpu_end - cpu_start) as f64 / (seconds * 1e6) * 100.0;
    let invalid = gen_cpu > GENERATOR_SATURATED_PERCENT;
    let loss = loss_of(&f);
    let join_p50 = media::quantile(&mut f.join_ms, 0.5);
    let join_p99 = media::quantile(&mut f.join_ms, 0.99);
    let key_p50 = media::quantile(&mut f.keyframe_ms, 0.5);
    let key_p99 = media::quantile(&mut f.keyframe_ms, 0.99);
    let target = match args.target {
        Target::Kabine => "kabine",
        Target::Janus => "janus",
    };
    let report = json!({
        "target": target,
        "scenario": scenario.name,
        "last_n": scenario.last_n,
        "participants": f.participants,
        "connected": f.connected,
        "seconds": seconds,
        "sent_pps": f.sent_packets as f64 / seconds,
        "received_pps": f.rx.packets as f64 / seconds,
        "received_mbit": f.rx.bytes as f64 * 8.0 / seconds / 1e6,
        "expected_packets": f.rx.expected,
        "lost_packets": f.rx.lost,
        "repaired_packets": f.rx.repaired,
        "loss_pct": loss * 100.0,
        "latency_p50_ms": f.latency_p50_ms,
        "latency_p99_ms": f.latency_p99_ms,
        "latency_samples": f.latency_samples,
        "join_p50_ms": join_p50,
        "join_p99_ms": join_p99,
        "join_samples": f.join_ms.len(),
        "keyframe_p50_ms": key_p50,
        "keyframe_p99_ms": key_p99,
        "keyframe_requests": f.keyframe_requests,
        "generator_cpu_pct": gen_cpu,
        "invalid": invalid,
        "ramp_carried": ramp_carried,
        "ramp_stop": ramp_stop,
        "failures": f.failures,
    });
    eprintln!("{}", summary(&report));
    say(&format!("REPORT {report}"));
    if args.target == Target::Kabine {
        leave.cancel();
        // Time for the goodbyes (each waits at most 2 s for the server's close).
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    drop(media);
    media_task.abort();
    0
}

fn loss_of(f: &Figures) -> f64 {
    if f.rx.expected == 0 { 0.0 } else { f.rx.lost as f64 / f.rx.expected as f64 }
}

fn summary(r: &serde_json::Value) -> String {
    let ms = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.1} ms"));
    format!(
        "{} {}: {}/{} connected; sent {:.0} pkt/s, received {:.0} pkt/s ({:.1} Mbit/s); loss after NACK {:.3} %; \
         latency p50 {} p99 {}; join p50 {} p99 {}; first keyframe p50 {}; generator CPU {:.0} %{}",
        r["target"].as_str().unwrap_or_default(),
        r["scenario"].as_str().unwrap_or_default(),
        r["connected"],
        r["participants"],
        r["sent_pps"].as_f64().unwrap_or(0.0),
        r["received_pps"].as_f64().unwrap_or(0.0),
        r["received_mbit"].as_f64().unwrap_or(0.0),
        r["loss_pct"].as_f64().unwrap_or(0.0),
        ms(&r["latency_p50_ms"]),
        ms(&r["latency_p99_ms"]),
        ms(&r["join_p50_ms"]),
        ms(&r["join_p99_ms"]),
        ms(&r["keyframe_p50_ms"]),
        r["generator_cpu_pct"].as_f64().unwrap_or(0.0),
        if r["invalid"].as_bool() == Some(true) { " — INVALID: the generator saturated its core" } else { "" },
    )
}

/// The benchmark talks to a server it started itself with a certificate
/// made in memory: it accepts any certificate (this client only).
fn insecure_tls() -> Arc<rustls::ClientConfig> {
    let config = ::kabine::tls::client_accepting_any_chain(Arc::new(::kabine::tls::provider()), &[]);
    match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot make the TLS client: {e}");
            std::process::exit(1);
        }
    }
}
