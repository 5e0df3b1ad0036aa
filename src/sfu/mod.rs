//! Kabine's SFU: one task owns the media UDP socket and every str0m `Rtc`,
//! and forwards RTP between participants without depacketizing it.
//!
//! - [`engine`]: the sans-IO state machine (connections, demultiplexing,
//!   forwarding).
//! - [`rewrite`], [`layers`], [`speaker`], [`slots`], [`keyframes`]: the forwarding
//!   decisions, pure and unit-tested with a simulated clock.
//! - [`run`]: the task around the engine: socket, commands, timers.
//!
//! The room actor talks to this task only through
//! [`crate::room::MediaCommand`]s on a bounded channel; the task answers
//! with [`crate::room::MediaEvent`]s using `try_send`, so media never waits
//! for signalling.

pub(crate) mod demux;
pub mod engine;
pub mod health;
pub mod keyframes;
pub mod layers;
pub mod rewrite;
pub mod sdp;
pub mod shard;
pub mod slots;
pub mod speaker;
pub mod stun;
pub mod tcp;
mod udp;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::net::Protocol;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use std::sync::mpsc::{SyncSender, TrySendError};

use crate::config::MediaConfig;
use crate::link::{Link, LinkEvent, Outgoing};
use crate::record::RecordMsg;
use crate::room::{MediaCommand, MediaEvent};
use crate::stats::Stats;
pub use engine::{Engine, EngineConfig};
pub use tcp::TcpMedia;

/// Events kept for the room actor while its channel is full; beyond this
/// the oldest are dropped (the actor is stuck, and the calls are ending).
const EVENT_BACKLOG: usize = 16 * 1024;
/// Receive batches (up to 32 datagrams each) read in one go before
/// timers and commands get a turn.
const READ_ROUNDS: usize = 2;
/// Time the SFU takes at shutdown to send its goodbyes (DTLS close_notify,
/// RTCP BYE) before it stops.
const CLOSE_DRAIN: Duration = Duration::from_millis(200);

/// The addresses announced as host candidates: `media.public_address` if
/// set; else the bound address if it is a specific one; else this host's
/// address towards the default route — outside the `demo` only if it is a
/// public one — and, in the demo, loopback.
pub fn host_candidates(config: &MediaConfig, bound: SocketAddr, demo: bool) -> Vec<SocketAddr> {
    let port = bound.port();
    if let Some(public) = config.public_address {
        return vec![SocketAddr::new(public, port)];
    }
    if !bound.ip().is_unspecified() {
        return vec![bound];
    }
    let mut out = Vec::new();
    let v6 = bound.is_ipv6();
    // A UDP "connect" sends nothing: it only asks the kernel which local
    // address routes towards a (documentation-range) destination.
    let probes: Vec<(IpAddr, IpAddr)> = if v6 {
        vec![
            (IpAddr::V6(Ipv6Addr::UNSPECIFIED), IpAddr::V6("2001:db8::1".parse().unwrap_or(Ipv6Addr::LOCALHOST))),
            (IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1))),
        ]
    } else {
        vec![(IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)))]
    };
    for (any, target) in probes {
        if let Ok(s) = StdUdpSocket::bind(SocketAddr::new(any, 0))
            && s.connect(SocketAddr::new(target, 9)).is_ok()
            && let Ok(local) = s.local_addr()
            && !local.ip().is_unspecified()
            && !local.ip().is_loopback()
        {
            out.push(SocketAddr::new(local.ip(), port));
        }
    }
    announce_only_public(&mut out, demo);
    if demo {
        // The demo runs on one machine too: a browser there reaches loopback.
        out.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        if v6 {
            out.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port));
        }
    }
    out
}

/// Outside the demo (`server.public_url` set) an address that only this
/// machine or its LAN can reach is never announced to browsers: it tells
/// every guest the server's inside addresses and reaches nobody on the
/// internet. An operator whose server is reached on a private address
/// (an intranet) says so with `media.public_address`.
fn announce_only_public(candidates: &mut Vec<SocketAddr>, demo: bool) {
    if demo {
        return;
    }
    let before = candidates.len();
    candidates.retain(|c| is_public(c.ip()));
    if candidates.is_empty() && before > 0 {
        tracing::error!(
            "this machine's routed address is private or local and is not announced to browsers: \
             set media.public_address to the address browsers reach the media port on"
        );
    }
}

/// Whether `ip` can be a public internet address (not loopback, private,
/// link-local, shared/CGNAT, unique-local or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// A DTLS certificate for every connection of this server run (made once:
/// key generation per connection would cost more than the rest of a join).
pub fn dtls_certificate() -> std::io::Result<str0m::config::DtlsCert> {
    str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| std::io::Error::other("cannot make a DTLS certificate"))
}

/// IPv4-mapped IPv6 addresses as plain IPv4 (a dual-stack listener's).
pub fn plain_address(addr: SocketAddr) -> SocketAddr {
    udp::plain(addr)
}

/// The ICE-TCP candidates: the addresses of the UDP candidates with the
/// port browsers reach the HTTPS listener on (`port`).
pub fn tcp_candidates(udp: &[SocketAddr], port: u16) -> Vec<SocketAddr> {
    udp.iter().map(|a| SocketAddr::new(a.ip(), port)).collect()
}

/// The open links (ICE-TCP connections, relay allocations): where the
/// SFU's transmits for them go.
#[derive(Default)]
struct Links {
    queues: HashMap<Link, mpsc::Sender<Outgoing>>,
    /// Transmits for the UDP socket, sorted out of a batch.
    udp: Vec<str0m::net::Transmit>,
}

impl Links {
    fn event(&mut self, engine: &mut Engine, event: LinkEvent) {
        match event {
            LinkEvent::Opened { link, queue } => {
                self.queues.insert(link, queue);
            }
            LinkEvent::Packet { link, to, data } => {
                if self.queues.contains_key(&link) && !engine.handle_link_packet(Instant::now(), link, to, &data) {
                    // Dropping the queue ends the link.
                    self.queues.remove(&link);
                }
            }
            LinkEvent::Closed { link } => {
                self.queues.remove(&link);
            }
        }
    }

    /// Whether a transmit goes to a link rather than the UDP socket.
    fn is_link(t: &str0m::net::Transmit) -> bool {
        t.proto != Protocol::Udp || crate::turn::RelayAddresses::is_relayed(&t.destination)
    }

    /// Sends a batch: link transmits to their link's queue (dropped when it
    /// is full or gone), the rest through the UDP socket.
    fn send(&mut self, socket: &mut udp::MediaSocket, stats: &Stats, transmits: Vec<str0m::net::Transmit>) {
        if !transmits.iter().any(Self::is_link) {
            socket.send(&transmits);
            return;
        }
        self.udp.clear();
        for t in transmits {
            if !Self::is_link(&t) {
                self.udp.push(t);
                continue;
            }
            let link = Link { proto: t.proto, remote: t.destination };
            let len = t.contents.len() as u64;
            let sent = self.queues.get(&link).map(|q| q.try_send(Outgoing { from: t.source, data: t.contents.into() }));
            match (sent, link.proto) {
                (Some(Ok(())), Protocol::Tcp) => {
                    Stats::add(&stats.tcp_frames_out, 1);
                    Stats::add(&stats.tcp_bytes_out, len);
                }
                (Some(Ok(())), _) => Stats::add(&stats.relay_bytes_out, len),
                _ => Stats::add(&stats.tcp_frames_dropped, 1),
            }
        }
        socket.send(&self.udp);
    }
}

/// Runs the SFU until `shutdown` or [`MediaCommand::Shutdown`]. ICE-TCP
/// connections reach it through `links` ([`TcpMedia`]). With several
/// `engines` each is a shard on a task of its own ([`shard`]); with one it
/// runs here, on the socket itself.
pub async fn run(
    socket: UdpSocket,
    mut engines: Vec<Engine>,
    mut commands: mpsc::Receiver<MediaCommand>,
    events: mpsc::Sender<MediaEvent>,
    mut links_in: mpsc::Receiver<LinkEvent>,
    recorder: Option<SyncSender<RecordMsg>>,
    shutdown: CancellationToken,
) {
    if engines.len() > 1 {
        let wiring = shard::Wiring { commands, events, links: links_in, recorder };
        return shard::run(socket, engines, wiring, shutdown).await;
    }
    let Some(engine) = engines.pop() else {
        return;
    };
    let Some(mut io) = EngineIo::new(socket, engine, events, recorder) else {
        return;
    };
    warn_small_buffers(&io.socket);
    loop {
        let deadline = io.turn();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            cmd = commands.recv() => match cmd {
                Some(MediaCommand::Shutdown) | None => break,
                Some(cmd) => {
                    io.engine.handle_command(Instant::now(), cmd);
                    Stats::set(&io.stats.engine_thread_participants[0], io.engine.peer_count() as u64);
                }
            },
            Some(event) = links_in.recv() => {
                io.link_event(event);
                // What else is waiting, in one go (bounded: timers next).
                for _ in 0..64 {
                    match links_in.try_recv() {
                        Ok(event) => io.link_event(event),
                        Err(_) => break,
                    }
                }
            }
            ready = io.socket.readable() => {
                if ready.is_ok() {
                    let EngineIo { socket, engine, .. } = &mut io;
                    socket.read(READ_ROUNDS, |source, data| engine.handle_datagram(Instant::now(), source, data));
                }
            }
            _ = tokio::time::sleep_until(deadline) => io.engine.handle_timeout(Instant::now()),
        }
    }
    io.finish().await;
}

/// Warns when the kernel granted the media socket small buffers.
fn warn_small_buffers(socket: &udp::MediaSocket) {
    let granted = socket.buffers();
    if granted.receive < udp::BUFFER_BYTES / 2 || granted.send < udp::BUFFER_BYTES / 2 {
        tracing::warn!(
            "the media socket's buffers are {} KiB (receive) and {} KiB (send); under load datagrams \
             will be dropped. Raise net.core.rmem_max and net.core.wmem_max to {} (see docs/performance.md)",
            granted.receive / 1024,
            granted.send / 1024,
            udp::BUFFER_BYTES
        );
    }
}

/// An engine with what it sends through: the media socket (for a shard, a
/// duplicate of the dispatcher's), its links, the room actor's channel and
/// the recorder's.
struct EngineIo {
    engine: Engine,
    socket: udp::MediaSocket,
    links: Links,
    events: mpsc::Sender<MediaEvent>,
    backlog: VecDeque<MediaEvent>,
    recorder: Option<SyncSender<RecordMsg>>,
    stats: Arc<Stats>,
}

impl EngineIo {
    /// `None` (after an error line) when the socket cannot be set up.
    fn new(
        socket: UdpSocket,
        engine: Engine,
        events: mpsc::Sender<MediaEvent>,
        recorder: Option<SyncSender<RecordMsg>>,
    ) -> Option<EngineIo> {
        let socket = match udp::MediaSocket::new(socket) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot set up the media socket: {e}");
                return None;
            }
        };
        let stats = engine.stats();
        Some(EngineIo { engine, socket, links: Links::default(), events, backlog: VecDeque::new(), recorder, stats })
    }

    /// Timers first — under load input never stops, and waiting for it
    /// first would starve them (pacing, RTCP, keyframe requests) — then
    /// everything the engine has to send and report. Returns when the
    /// engine wants its next timer.
    fn turn(&mut self) -> tokio::time::Instant {
        let now = Instant::now();
        if self.engine.next_deadline() <= now {
            self.engine.handle_timeout(now);
        }
        self.flush();
        tokio::time::Instant::from_std(self.engine.next_deadline())
    }

    fn flush(&mut self) {
        self.links.send(&mut self.socket, &self.stats, self.engine.take_transmits());
        pass_recorded(self.recorder.as_ref(), &mut self.engine);
        pass_events(&self.events, &mut self.engine, &mut self.backlog);
    }

    fn link_event(&mut self, event: LinkEvent) {
        self.links.event(&mut self.engine, event);
    }

    /// Ends every connection politely and lets the last datagrams leave;
    /// nothing is waited for from the browsers.
    async fn finish(mut self) {
        self.engine.handle_command(Instant::now(), MediaCommand::Shutdown);
        self.flush();
        tokio::time::sleep(CLOSE_DRAIN).await;
        self.flush();
    }
}

/// Hands the recorder its packets and commands without ever waiting for
/// it: a packet it has no room for is dropped (its jitter buffer skips the
/// gap), a command it has no room for ends that recording.
fn pass_recorded(recorder: Option<&SyncSender<RecordMsg>>, engine: &mut Engine) {
    let msgs = engine.take_recorded();
    let Some(recorder) = recorder else {
        return;
    };
    let mut failed = Vec::new();
    for msg in msgs {
        let id = match &msg {
            RecordMsg::Packet { .. } => None,
            RecordMsg::Start { id, .. }
            | RecordMsg::Participant { id, .. }
            | RecordMsg::ParticipantEnd { id, .. }
            | RecordMsg::Stop { id, .. } => Some(*id),
        };
        if failed.contains(&id) {
            continue;
        }
        match recorder.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) if id.is_none() => {}
            Err(_) => failed.push(id),
        }
    }
    for id in failed.into_iter().flatten() {
        engine.recording_failed(id);
    }
}

/// Hands events to the room actor without ever waiting for it.
fn pass_events(events: &mpsc::Sender<MediaEvent>, engine: &mut Engine, backlog: &mut VecDeque<MediaEvent>) {
    backlog.extend(engine.take_events());
    while let Some(event) = backlog.pop_front() {
        match events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                backlog.push_front(event);
                break;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                backlog.clear();
                return;
            }
        }
    }
    if backlog.len() > EVENT_BACKLOG {
        let excess = backlog.len() - EVENT_BACKLOG;
        backlog.drain(..excess);
        tracing::warn!(dropped = excess, "the room actor is not keeping up; media events dropped");
    }
}

/// Keeps the compiler honest about the engine staying `Send` (it moves
/// into a task).
#[allow(dead_code)]
fn assert_send() {
    fn send<T: Send>() {}
    send::<Engine>();
    send::<Arc<Stats>>();
}

#[cfg(test)]
mod candidate_tests {
    use super::*;

    #[test]
    fn outside_the_demo_no_loopback_or_lan_address_is_announced() {
        let config = MediaConfig::default();
        let bound: SocketAddr = "0.0.0.0:10000".parse().expect("literal");
        let production = host_candidates(&config, bound, false);
        assert!(production.iter().all(|c| is_public(c.ip())), "{production:?}");
        let demo = host_candidates(&config, bound, true);
        assert!(demo.iter().any(|c| c.ip().is_loopback()), "{demo:?}");
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(!is_public(private.parse().expect("literal")), "{private}");
        }
        for public in ["192.0.2.1", "203.0.113.5", "2001:db8::1"] {
            assert!(is_public(public.parse().expect("literal")), "{public}");
        }
    }
}
