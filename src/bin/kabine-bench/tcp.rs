//! `kabine-bench tcp`: what media over TCP (ICE-TCP on the HTTPS port)
//! costs against UDP. Kabine runs alone in the benchmark namespace on core
//! 0; synthetic participants (`kabine::loadgen::SyntheticPeer`, audio and
//! three simulcast video layers each) join one room from this process,
//! first all over UDP, then all over TCP, on a fresh server each time.
//!
//! Printed per transport: the join time of each newcomer (from the start
//! of its join until it receives video from everyone already there), the
//! server's CPU time per RTP packet the participants received (its egress
//! media; TCP segments carry several frames, so the interface's packet
//! count would not compare), and the receive rate.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::protocol::Source;

use crate::netns::Netns;
use crate::{SERVER_CPU, procfs, servers};

/// One transport's figures.
struct Figures {
    transport: &'static str,
    join_ms: Vec<u128>,
    cpu_us_per_packet: f64,
    packets_per_s: f64,
    cpu_percent: f64,
}

pub fn run(binary: &Path, work_dir: &Path, participants: usize, duration: u64) -> Result<(), String> {
    if participants < 2 {
        return Err("--participants: at least 2".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut all = Vec::new();
    for (transport, tcp) in [("udp", false), ("tcp", true)] {
        let ns = Netns::create().map_err(|e| format!("network namespace: {e}"))?;
        let server =
            servers::start_kabine(&ns, binary, &work_dir.join(format!("tcp-{transport}")), SERVER_CPU, 0, false)
                .map_err(|e| format!("kabine: {e}"))?;
        let result = rt.block_on(measure(&ns, server.signalling, server.pid(), participants, duration, tcp));
        server.stop();
        let (join_ms, cpu_us_per_packet, packets_per_s, cpu_percent) = result?;
        all.push(Figures { transport, join_ms, cpu_us_per_packet, packets_per_s, cpu_percent });
    }
    println!(
        "transport  participants  join_ms(each)                 cpu_us_per_egress_rtp_packet  egress_rtp_pps  server_cpu_%"
    );
    for f in &all {
        let joins: Vec<String> = f.join_ms.iter().map(u128::to_string).collect();
        println!(
            "{:<9}  {:>12}  {:<28}  {:>28.2}  {:>14.0}  {:>12.1}",
            f.transport,
            participants,
            joins.join(","),
            f.cpu_us_per_packet,
            f.packets_per_s,
            f.cpu_percent
        );
    }
    if let [udp, tcp] = &all[..] {
        println!("ratio cpu_us_per_egress_rtp_packet tcp/udp = {:.2}", tcp.cpu_us_per_packet / udp.cpu_us_per_packet);
    }
    Ok(())
}

async fn measure(
    ns: &Netns,
    server: std::net::SocketAddr,
    pid: u32,
    participants: usize,
    duration: u64,
    tcp: bool,
) -> Result<(Vec<u128>, f64, f64, f64), String> {
    let tls = kabine::tls::client_accepting_any_chain(Arc::new(kabine::tls::provider()), &[b"http/1.1"])
        .map_err(|e| format!("TLS: {e}"))?;
    let bind = ns.host_ip.parse().map_err(|e| format!("{e}"))?;
    let mut peers: Vec<SyntheticPeer> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut join_ms = Vec::new();
    for i in 0..participants {
        let mut config = PeerConfig::new(server, Arc::clone(&tls), "bench-tcp", &format!("P{i}"));
        config.media_bind = bind;
        config.tcp = tcp;
        let start = Instant::now();
        let peer = SyntheticPeer::join(config).await.map_err(|e| format!("join: {e}"))?;
        // A newcomer's join time: until it has video from everyone there.
        if !ids.is_empty() {
            let ok = peer
                .wait_for(Duration::from_secs(30), |r| ids.iter().all(|o| r.packets_from(o, Source::Camera) > 0))
                .await;
            if !ok {
                return Err(format!("participant {i} received no video from everyone within 30 s"));
            }
            join_ms.push(start.elapsed().as_millis());
        }
        ids.push(peer.id());
        peers.push(peer);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = |peers: &[SyntheticPeer]| -> u64 {
        peers
            .iter()
            .map(|p| {
                ids.iter()
                    .map(|o| p.report().packets_from(o, Source::Camera) + p.report().packets_from(o, Source::Mic))
                    .sum::<u64>()
            })
            .sum()
    };
    let (cpu0, rx0, t0) = (procfs::cpu_us(pid).map_err(|e| e.to_string())?, received(&peers), Instant::now());
    tokio::time::sleep(Duration::from_secs(duration)).await;
    let (cpu1, rx1, secs) =
        (procfs::cpu_us(pid).map_err(|e| e.to_string())?, received(&peers), t0.elapsed().as_secs_f64());
    for p in peers {
        p.leave().await;
    }
    let packets = (rx1 - rx0).max(1) as f64;
    let cpu = (cpu1 - cpu0) as f64;
    Ok((join_ms, cpu / packets, packets / secs, cpu / 1e4 / secs))
}
