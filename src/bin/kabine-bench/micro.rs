//! Socket-free micro benchmark of Kabine's forwarding path.
//!
//! One publisher and N subscribers are real str0m peers (ICE, DTLS, SRTP)
//! connected in memory to Kabine's sans-IO SFU engine, on a simulated
//! clock. Once every subscriber receives media, the publisher sends VP8
//! packets (1000-byte payloads, one simulcast layer, 100 packets/s of
//! simulated time) and only the engine's own work is timed: decrypting the
//! packet, choosing, rewriting, encrypting N copies, and the RTCP and
//! timers that come with them. No socket, no kernel: what remains is
//! Kabine's and str0m's cost; `compare` adds the kernel's.
//!
//! `--shards K` runs K such worlds at once, each on its own thread with its
//! own engine, as the server's engine threads each own whole rooms: the
//! wall-clock rate of packets delivered by all of them, against one shard,
//! shows how the forwarding path scales with cores. The peers run on the
//! shard's thread too, so that rate and the CPU per packet include their
//! work; the engine-only figures are the `engine µs` columns.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use kabine::protocol::{PublishedTrack, Source};
use kabine::room::{MediaCommand, MediaEvent, RoomKey, SessionId};
use kabine::sfu::{Engine, EngineConfig};
use kabine::stats::Stats;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};

const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)), 10000);
/// Simulated time between two published packets.
const PACKET_INTERVAL: Duration = Duration::from_millis(10);
const PAYLOAD: usize = 1000;

struct Client {
    rtc: Rtc,
    addr: SocketAddr,
    session: SessionId,
    pending: Option<SdpPendingOffer>,
    media: u64,
}

impl Client {
    fn new(i: usize, now: Instant) -> Client {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 99, 1 + (i / 200) as u8, 1 + (i % 200) as u8)), 5000);
        let mut rtc =
            Rtc::builder().set_rtp_mode(true).clear_codecs().enable_opus(true, false).enable_vp8(true).build(now);
        if let Ok(c) = Candidate::host(addr, Protocol::Udp) {
            rtc.add_local_candidate(c);
        }
        Client { rtc, addr, session: SessionId(i as u64 + 1), pending: None, media: 0 }
    }
}

/// The engine, the peers and the wire between them.
struct World {
    now: Instant,
    engine: Engine,
    clients: Vec<Client>,
    by_addr: HashMap<SocketAddr, usize>,
    /// Datagrams from clients to the engine.
    to_engine: Vec<(SocketAddr, Vec<u8>)>,
    /// Time spent inside the engine while measuring.
    engine_time: Duration,
    measuring: bool,
    rtp_out: u64,
    datagrams_out: u64,
}

impl World {
    fn new(subscribers: usize) -> Result<World, String> {
        let now = Instant::now();
        let cert = kabine::sfu::dtls_certificate().map_err(|e| e.to_string())?;
        let config = EngineConfig { candidates: vec![SERVER], tcp_candidates: Vec::new(), last_n: 0, audio_slots: 3 };
        let engine = Engine::new(config, cert, Arc::new(Stats::default()), now);
        let clients: Vec<Client> = (0..=subscribers).map(|i| Client::new(i, now)).collect();
        let by_addr = clients.iter().enumerate().map(|(i, c)| (c.addr, i)).collect();
        Ok(World {
            now,
            engine,
            clients,
            by_addr,
            to_engine: Vec::new(),
            engine_time: Duration::ZERO,
            measuring: false,
            rtp_out: 0,
            datagrams_out: 0,
        })
    }

    fn timed<T>(&mut self, f: impl FnOnce(&mut Engine, Instant) -> T) -> T {
        let start = Instant::now();
        let out = f(&mut self.engine, self.now);
        if self.measuring {
            self.engine_time += start.elapsed();
        }
        out
    }

    /// Drains a client's output onto the wire and handles its events.
    fn drain_client(&mut self, i: usize) {
        loop {
            match self.clients[i].rtc.poll_output() {
                Ok(Output::Timeout(_)) | Err(_) => return,
                Ok(Output::Transmit(t)) => self.to_engine.push((t.source, t.contents.to_vec())),
                Ok(Output::Event(Event::RtpPacket(_))) => self.clients[i].media += 1,
                Ok(Output::Event(_)) => {}
            }
        }
    }

    /// Moves datagrams both ways and passes engine events until quiet.
    fn pump(&mut self) {
        for _ in 0..64 {
            let inbound = std::mem::take(&mut self.to_engine);
            for (source, data) in &inbound {
                self.timed(|e, now| e.handle_datagram(now, *source, data));
            }
            let transmits: Vec<Transmit> = self.timed(|e, _| e.take_transmits());
            if self.measuring {
                self.datagrams_out += transmits.len() as u64;
                self.rtp_out +=
                    transmits.iter().filter(|t| matches!(t.contents.first(), Some(128..=191))).count() as u64;
            }
            let quiet = inbound.is_empty() && transmits.is_empty();
            for t in transmits {
                let Some(&i) = self.by_addr.get(&t.destination) else {
                    continue;
                };
                let Ok(contents) = (&t.contents[..]).try_into() else {
                    continue;
                };
                let input = Input::Receive(
                    self.now,
                    Receive { proto: Protocol::Udp, source: SERVER, destination: t.destination, contents },
                );
                if self.clients[i].rtc.handle_input(input).is_ok() {
                    self.drain_client(i);
                }
            }
            let events = self.engine.take_events();
            let quiet = quiet && events.is_empty();
            for ev in events {
                self.on_event(ev);
            }
            if quiet && self.to_engine.is_empty() {
                return;
            }
        }
    }

    fn on_event(&mut self, ev: MediaEvent) {
        match ev {
            MediaEvent::PublishAnswer { session, sdp } => {
                let i = (session.0 - 1) as usize;
                let (Some(pending), Ok(answer)) = (self.clients[i].pending.take(), SdpAnswer::from_sdp_string(&sdp))
                else {
                    return;
                };
                let _ = self.clients[i].rtc.sdp_api().accept_answer(pending, answer);
                self.drain_client(i);
            }
            MediaEvent::SubscribeOffer { session, sdp, .. } => {
                let i = (session.0 - 1) as usize;
                let Ok(offer) = SdpOffer::from_sdp_string(&sdp) else {
                    return;
                };
                if let Ok(answer) = self.clients[i].rtc.sdp_api().accept_offer(offer) {
                    self.drain_client(i);
                    let cmd = MediaCommand::SubscribeAnswer { session, sdp: answer.to_sdp_string() };
                    self.engine.handle_command(self.now, cmd);
                }
            }
            _ => {}
        }
    }

    /// Advances the simulated clock and fires every timeout that is due.
    fn tick(&mut self, by: Duration) {
        self.now += by;
        for i in 0..self.clients.len() {
            let now = self.now;
            if self.clients[i].rtc.handle_input(Input::Timeout(now)).is_ok() {
                self.drain_client(i);
            }
        }
        if self.engine.next_deadline() <= self.now {
            self.timed(|e, now| e.handle_timeout(now));
        }
        self.pump();
    }
}

fn vp8_packet(picture_id: u16, keyframe: bool) -> Vec<u8> {
    let mut p = vec![0x90, 0xe0, 0x80 | (picture_id >> 8) as u8, picture_id as u8, 0, 0];
    p.extend_from_slice(&[u8::from(!keyframe) | 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00]);
    p.resize(PAYLOAD, 0x55);
    p
}

/// What the publisher needs to send one more packet.
struct Publisher {
    mid: Mid,
    pt: Pt,
    rid: Rid,
    seq: u64,
}

impl Publisher {
    /// Sends one VP8 packet and advances the simulated clock by one interval.
    fn send(&mut self, w: &mut World, keyframe: bool) {
        let now = w.now;
        let seq = self.seq;
        let ts = (seq * 90) as u32;
        let payload = vp8_packet((seq % 0x8000) as u16, keyframe);
        if let Some(s) = w.clients[0].rtc.direct_api().stream_tx_by_mid(self.mid, Some(self.rid)) {
            s.write_rtp(RtpWrite::new(self.pt, seq.into(), ts, now, payload).marker(true).nackable(true));
        }
        self.seq += 1;
        w.drain_client(0);
        w.tick(PACKET_INTERVAL);
    }
}

/// One shard: an engine with its own room, publisher and subscribers, as
/// one engine thread of the server owns whole rooms.
struct Shard {
    world: World,
    publisher: Publisher,
    subscribers: usize,
}

impl Shard {
    /// Joins everyone, publishes, and warms up until every subscriber
    /// receives media.
    fn connect(subscribers: usize) -> Result<Shard, String> {
        let mut w = World::new(subscribers)?;
        let room = RoomKey(1);
        for i in 0..w.clients.len() {
            let session = w.clients[i].session;
            w.engine.handle_command(w.now, MediaCommand::Join { session, room, participant: format!("p{i}") });
        }
        // The publisher offers one simulcast video track.
        let mut change = w.clients[0].rtc.sdp_api();
        let mut simulcast = Simulcast::new();
        for rid in ["l", "m", "h"] {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        let mid: Mid = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast));
        let (offer, pending) = change.apply().ok_or("no publish offer")?;
        w.clients[0].pending = Some(pending);
        w.drain_client(0);
        let tracks = vec![PublishedTrack { mid: mid.to_string(), source: Source::Camera }];
        let session = w.clients[0].session;
        w.engine.handle_command(w.now, MediaCommand::PublishOffer { session, sdp: offer.to_sdp_string(), tracks });
        w.pump();
        let pt: Pt = w.clients[0]
            .rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == Codec::Vp8)
            .map(|p| p.pt())
            .ok_or("no VP8 payload type")?;
        let mut publisher = Publisher { mid, pt, rid: Rid::from("l"), seq: 1 };
        // Connect, negotiate and warm up until every subscriber receives media.
        let mut warm = 0;
        while w.clients[1..].iter().any(|c| c.media < 20) {
            publisher.send(&mut w, warm % 30 == 0);
            warm += 1;
            if warm > 3_000 {
                let receiving = w.clients[1..].iter().filter(|c| c.media > 0).count();
                return Err(format!(
                    "only {receiving} of {subscribers} subscribers receive media after 30 s (simulated)"
                ));
            }
        }
        Ok(Shard { world: w, publisher, subscribers })
    }

    /// Sends `packets` and measures the engine's time and the thread's CPU.
    fn measure(mut self, packets: usize) -> Result<ShardFigures, String> {
        let w = &mut self.world;
        w.measuring = true;
        let before: Vec<u64> = w.clients[1..].iter().map(|c| c.media).collect();
        let cpu_start = thread_cpu_ns()?;
        let start = Instant::now();
        for i in 0..packets {
            self.publisher.send(w, i % 300 == 0);
        }
        let end = Instant::now();
        let cpu_ns = thread_cpu_ns()?.saturating_sub(cpu_start);
        let got: Vec<u64> = w.clients[1..].iter().zip(&before).map(|(c, b)| c.media - b).collect();
        Ok(ShardFigures {
            subscribers: self.subscribers,
            packets_in: packets,
            delivered: got.iter().sum(),
            fewest: got.iter().copied().min().unwrap_or(0),
            rtp_out: w.rtp_out,
            datagrams_out: w.datagrams_out,
            engine: w.engine_time,
            cpu: Duration::from_nanos(cpu_ns),
            start,
            end,
        })
    }
}

/// CPU time this thread has run, in ns (`/proc/thread-self/schedstat`:
/// the scheduler's own account, exact to the ns where `/proc/self/stat`
/// counts 10-ms ticks).
fn thread_cpu_ns() -> Result<u64, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .map_err(|e| format!("/proc/thread-self/schedstat: {e}"))?;
    stat.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("/proc/thread-self/schedstat: unexpected content {stat:?}"))
}

/// One shard's measurement.
struct ShardFigures {
    subscribers: usize,
    packets_in: usize,
    /// Media packets the subscribers received.
    delivered: u64,
    /// The fewest media packets one subscriber received.
    fewest: u64,
    /// RTP datagrams the engine sent (media, retransmissions, padding probes).
    rtp_out: u64,
    datagrams_out: u64,
    /// Time spent inside the engine.
    engine: Duration,
    /// CPU time of the shard's thread (engine and simulated peers).
    cpu: Duration,
    start: Instant,
    end: Instant,
}

/// All shards of one run together.
struct Figures {
    shards: usize,
    subscribers: usize,
    packets_in: usize,
    delivered: u64,
    fewest: u64,
    rtp_out: u64,
    datagrams_out: u64,
    engine: Duration,
    cpu: Duration,
    /// From the first shard's start to the last shard's end.
    wall: Duration,
}

impl Figures {
    fn of(shards: &[ShardFigures]) -> Option<Figures> {
        let start = shards.iter().map(|s| s.start).min()?;
        let end = shards.iter().map(|s| s.end).max()?;
        Some(Figures {
            shards: shards.len(),
            subscribers: shards.first()?.subscribers,
            packets_in: shards.iter().map(|s| s.packets_in).sum(),
            delivered: shards.iter().map(|s| s.delivered).sum(),
            fewest: shards.iter().map(|s| s.fewest).min()?,
            rtp_out: shards.iter().map(|s| s.rtp_out).sum(),
            datagrams_out: shards.iter().map(|s| s.datagrams_out).sum(),
            engine: shards.iter().map(|s| s.engine).sum(),
            cpu: shards.iter().map(|s| s.cpu).sum(),
            wall: end.duration_since(start),
        })
    }

    /// Packets delivered per second of wall-clock time, all shards together.
    fn out_per_second(&self) -> f64 {
        self.delivered as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Runs `shards` shards of `subscribers` subscribers each, every shard on
/// its own thread; the measured phase starts in all of them at once, after
/// every shard has connected and warmed up.
fn measure(shards: usize, subscribers: usize, packets: usize) -> Result<Figures, String> {
    let ready = Barrier::new(shards);
    let results: Vec<Result<ShardFigures, String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..shards)
            .map(|_| {
                scope.spawn(|| {
                    // A shard that fails (or panics) still reaches the
                    // barrier, so the others never wait for it forever.
                    let shard = std::panic::catch_unwind(AssertUnwindSafe(|| Shard::connect(subscribers)))
                        .unwrap_or_else(|_| Err("a shard panicked while connecting".to_string()));
                    ready.wait();
                    shard?.measure(packets)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|_| Err("a shard panicked".to_string()))).collect()
    });
    let figures: Vec<ShardFigures> = results.into_iter().collect::<Result<_, _>>()?;
    Figures::of(&figures).ok_or_else(|| "no shard ran".to_string())
}

pub fn run(counts: &[usize], shard_counts: &[usize], packets: usize) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    println!("Kabine forwarding path without sockets. A shard is one engine with 1 publisher and N subscribers");
    println!("(str0m peers in memory, SRTP); K shards run on K threads at once ({cores} cores here), each with");
    println!("{packets} VP8 packets of {PAYLOAD} bytes in. \"delivered\": media packets all subscribers decrypted;");
    println!("\"fewest\": the fewest one subscriber decrypted; \"engine µs/in\", \"engine µs/out\": time inside the");
    println!("engines (forwarding, RTCP, timers) per packet in and per delivered packet; \"wall s\", \"out/s\": the");
    println!("measured phase's wall-clock time and packets delivered per second, all shards together; \"CPU µs/out\":");
    println!(
        "CPU time of the shard threads (engines and peers) per delivered packet; \"speedup\": out/s against 1 shard."
    );
    println!(
        "{:>6}  {:>11}  {:>9}  {:>6}  {:>8}  {:>9}  {:>12}  {:>13}  {:>7}  {:>8}  {:>10}  {:>7}",
        "shards",
        "subscribers",
        "delivered",
        "fewest",
        "RTP out",
        "datagrams",
        "engine µs/in",
        "engine µs/out",
        "wall s",
        "out/s",
        "CPU µs/out",
        "speedup"
    );
    for &n in counts {
        let runs: Vec<Figures> = shard_counts
            .iter()
            .map(|&k| measure(if k == 0 { cores } else { k }, n.max(1), packets.max(1)))
            .collect::<Result<_, _>>()?;
        let one_shard = runs.iter().find(|f| f.shards == 1).map(Figures::out_per_second);
        for f in &runs {
            let engine_us = f.engine.as_secs_f64() * 1e6;
            let cpu_us = f.cpu.as_secs_f64() * 1e6;
            let delivered = f.delivered.max(1) as f64;
            let speedup = match one_shard {
                Some(base) => format!("{:.2}", f.out_per_second() / base),
                None => "-".to_string(),
            };
            println!(
                "{:>6}  {:>11}  {:>9}  {:>6}  {:>8}  {:>9}  {:>12.2}  {:>13.3}  {:>7.3}  {:>8.0}  {:>10.3}  {:>7}",
                f.shards,
                f.subscribers,
                f.delivered,
                f.fewest,
                f.rtp_out,
                f.datagrams_out,
                engine_us / f.packets_in as f64,
                engine_us / delivered,
                f.wall.as_secs_f64(),
                f.out_per_second(),
                cpu_us / delivered,
                speedup
            );
        }
    }
    Ok(())
}
