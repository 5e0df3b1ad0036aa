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

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
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
        let config = EngineConfig { candidates: vec![SERVER], last_n: 0, audio_slots: 3 };
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

struct Figures {
    subscribers: usize,
    packets_in: usize,
    /// Media packets the subscribers received.
    delivered: u64,
    /// RTP datagrams the engine sent (media, retransmissions, padding probes).
    rtp_out: u64,
    datagrams_out: u64,
    engine: Duration,
}

fn measure(subscribers: usize, packets: usize) -> Result<Figures, String> {
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
    let rid = Rid::from("l");
    let mut seq = 1u64;
    let mut send = |w: &mut World, keyframe: bool| {
        let now = w.now;
        let ts = (seq * 90) as u32;
        let payload = vp8_packet((seq % 0x8000) as u16, keyframe);
        if let Some(s) = w.clients[0].rtc.direct_api().stream_tx_by_mid(mid, Some(rid)) {
            s.write_rtp(RtpWrite::new(pt, seq.into(), ts, now, payload).marker(true).nackable(true));
        }
        seq += 1;
        w.drain_client(0);
        w.tick(PACKET_INTERVAL);
    };
    // Connect, negotiate and warm up until every subscriber receives media.
    let mut warm = 0;
    while w.clients[1..].iter().any(|c| c.media < 20) {
        send(&mut w, warm % 30 == 0);
        warm += 1;
        if warm > 3_000 {
            let receiving = w.clients[1..].iter().filter(|c| c.media > 0).count();
            return Err(format!("only {receiving} of {subscribers} subscribers receive media after 30 s (simulated)"));
        }
    }
    w.measuring = true;
    let before: u64 = w.clients[1..].iter().map(|c| c.media).sum();
    for i in 0..packets {
        send(&mut w, i % 300 == 0);
    }
    let delivered = w.clients[1..].iter().map(|c| c.media).sum::<u64>() - before;
    Ok(Figures {
        subscribers,
        packets_in: packets,
        delivered,
        rtp_out: w.rtp_out,
        datagrams_out: w.datagrams_out,
        engine: w.engine_time,
    })
}

pub fn run(counts: &[usize], packets: usize) -> Result<(), String> {
    println!("Kabine forwarding path without sockets: 1 publisher, N subscribers (str0m peers in memory, SRTP),");
    println!("{packets} VP8 packets of {PAYLOAD} bytes in; engine time only (forwarding, RTCP, timers);");
    println!("\"delivered\": media packets the subscribers decrypted; \"µs per packet out\": per delivered packet.");
    println!(
        "{:>12}  {:>10}  {:>10}  {:>10}  {:>16}  {:>17}",
        "subscribers", "delivered", "RTP out", "datagrams", "µs per packet in", "µs per packet out"
    );
    for &n in counts {
        let f = measure(n.max(1), packets.max(1))?;
        let us = f.engine.as_secs_f64() * 1e6;
        println!(
            "{:>12}  {:>10}  {:>10}  {:>10}  {:>16.2}  {:>17.3}",
            f.subscribers,
            f.delivered,
            f.rtp_out,
            f.datagrams_out,
            us / f.packets_in as f64,
            us / f.delivered.max(1) as f64
        );
    }
    Ok(())
}
