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

mod demux;
pub mod engine;
pub mod health;
pub mod keyframes;
pub mod layers;
pub mod rewrite;
pub mod sdp;
pub mod slots;
pub mod speaker;
pub mod stun;
mod udp;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::MediaConfig;
use crate::room::{MediaCommand, MediaEvent};
use crate::stats::Stats;
pub use engine::{Engine, EngineConfig};

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
/// addresses (the one towards the default route, and loopback).
pub fn host_candidates(config: &MediaConfig, bound: SocketAddr) -> Vec<SocketAddr> {
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
    out.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    if v6 {
        out.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port));
    }
    out
}

/// A DTLS certificate for every connection of this server run (made once:
/// key generation per connection would cost more than the rest of a join).
pub fn dtls_certificate() -> std::io::Result<str0m::config::DtlsCert> {
    str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| std::io::Error::other("cannot make a DTLS certificate"))
}

/// Runs the SFU until `shutdown` or [`MediaCommand::Shutdown`].
pub async fn run(
    socket: UdpSocket,
    mut engine: Engine,
    mut commands: mpsc::Receiver<MediaCommand>,
    events: mpsc::Sender<MediaEvent>,
    shutdown: CancellationToken,
) {
    let mut socket = match udp::MediaSocket::new(socket) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot set up the media socket: {e}");
            return;
        }
    };
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
    let mut backlog: VecDeque<MediaEvent> = VecDeque::new();
    loop {
        // Timers first: under load the socket is always readable, and a
        // select would starve them (pacing, RTCP, keyframe requests).
        let now = Instant::now();
        if engine.next_deadline() <= now {
            engine.handle_timeout(now);
        }
        socket.send(&engine.take_transmits());
        pass_events(&events, &mut engine, &mut backlog);
        let deadline = tokio::time::Instant::from_std(engine.next_deadline());
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            cmd = commands.recv() => match cmd {
                Some(MediaCommand::Shutdown) | None => break,
                Some(cmd) => engine.handle_command(Instant::now(), cmd),
            },
            ready = socket.readable() => {
                if ready.is_ok() {
                    socket.read(READ_ROUNDS, |source, data| engine.handle_datagram(Instant::now(), source, data));
                }
            }
            _ = tokio::time::sleep_until(deadline) => engine.handle_timeout(Instant::now()),
        }
    }
    engine.handle_command(Instant::now(), MediaCommand::Shutdown);
    socket.send(&engine.take_transmits());
    // Let the last datagrams leave; nothing is waited for from the browsers.
    tokio::time::sleep(CLOSE_DRAIN.min(Duration::from_millis(200))).await;
    socket.send(&engine.take_transmits());
    pass_events(&events, &mut engine, &mut backlog);
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
