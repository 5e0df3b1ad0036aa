//! The SFU on several engine threads (`media.engine_threads`): each shard
//! is an [`Engine`] on a task of its own and owns whole meetings — a main
//! room, its breakout rooms, and both connections of everyone in them — so
//! forwarding never crosses shards. One port stays: a dispatcher owns the
//! media socket, reads every datagram and hands it to the shard of its
//! connection:
//!
//! - a STUN request by the tag its ufrag starts with (the shard made the
//!   ufrag, [`demux::tagged`]);
//! - everything else by the address the shard verified for it
//!   ([`demux::Routes`], written by the shards only after a request passed
//!   the credential check, so a forged datagram moves nobody's media);
//! - a plain STUN Binding request (direct calls) to the first shard, which
//!   answers it from the request alone.
//!
//! Commands of the room actor go to the shard of their session or room
//! ([`Placement`]): a new meeting to the shard with the fewest
//! participants. Shards send through duplicates of the socket and report to
//! the room actor and the recorder themselves. With one shard none of this
//! runs: `super::run` drives the engine on the socket itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::Instant;

use str0m::net::Protocol;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::demux::{self, Routes, ShardLink};
use super::{Engine, EngineIo, READ_ROUNDS, stun, udp};
use crate::link::{Link, LinkEvent, Outgoing};
use crate::record::RecordMsg;
use crate::room::media::RecordCommand;
use crate::room::{MediaCommand, MediaEvent, RoomKey, SessionId};
use crate::stats::Stats;

/// Messages waiting for one shard. Datagrams come in batches (one per
/// dispatcher read), so this is rarely more than a few dozen.
const SHARD_QUEUE: usize = 1024;
/// Inputs a shard takes in one go before its timers get a turn.
const INPUTS_PER_TURN: usize = 64;

/// The channels the media side is wired with (see `super::run`).
pub struct Wiring {
    pub commands: mpsc::Receiver<MediaCommand>,
    pub events: mpsc::Sender<MediaEvent>,
    pub links: mpsc::Receiver<LinkEvent>,
    pub recorder: Option<SyncSender<RecordMsg>>,
}

/// What the dispatcher hands a shard.
enum ShardInput {
    Datagrams(Batch),
    Link(LinkEvent),
    Command(MediaCommand),
}

/// Datagrams of one read for one shard, in one buffer.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    items: Vec<(SocketAddr, Range<usize>)>,
}

impl Batch {
    fn push(&mut self, source: SocketAddr, datagram: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(datagram);
        self.items.push((source, start..self.data.len()));
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Runs the dispatcher and one task per engine until `shutdown` or
/// [`MediaCommand::Shutdown`]; returns when every shard has said goodbye.
pub async fn run(socket: UdpSocket, engines: Vec<Engine>, wiring: Wiring, shutdown: CancellationToken) {
    let Wiring { mut commands, events, links: mut links_in, recorder } = wiring;
    let routes = Arc::new(Routes::default());
    let Some(stats) = engines.first().map(Engine::stats) else {
        return;
    };
    let std_socket = match socket.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot set up the media socket: {e}");
            return;
        }
    };
    let mut shards = Vec::new();
    let mut tasks = Vec::new();
    for (index, mut engine) in engines.into_iter().enumerate() {
        engine.set_shard(ShardLink { index, routes: Arc::clone(&routes) });
        let duplicate = std_socket.try_clone().and_then(UdpSocket::from_std);
        let Some(io) = duplicate.ok().and_then(|s| EngineIo::new(s, engine, events.clone(), recorder.clone())) else {
            tracing::error!("cannot set up the media socket for engine thread {index}");
            return;
        };
        let (tx, rx) = mpsc::channel(SHARD_QUEUE);
        shards.push(tx);
        tasks.push(tokio::spawn(shard_loop(io, rx, shutdown.clone())));
    }
    drop(recorder);
    let mut socket = match UdpSocket::from_std(std_socket).and_then(udp::MediaSocket::new) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot set up the media socket: {e}");
            return;
        }
    };
    super::warn_small_buffers(&socket);
    let mut dispatcher = Dispatcher {
        shards,
        routes,
        stats,
        placement: Placement::new(tasks.len()),
        links: HashMap::new(),
        batches: (0..tasks.len()).map(|_| Batch::default()).collect(),
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            cmd = commands.recv() => match cmd {
                Some(MediaCommand::Shutdown) | None => break,
                Some(cmd) => dispatcher.command(cmd).await,
            },
            Some(event) = links_in.recv() => dispatcher.link_event(event).await,
            ready = socket.readable() => {
                if ready.is_ok() {
                    dispatcher.read(&mut socket);
                }
            }
        }
    }
    for shard in &dispatcher.shards {
        let _ = shard.try_send(ShardInput::Command(MediaCommand::Shutdown));
    }
    drop(dispatcher);
    for task in tasks {
        let _ = task.await;
    }
}

/// One shard: the engine's timers and whatever the dispatcher hands it.
async fn shard_loop(mut io: EngineIo, mut input: mpsc::Receiver<ShardInput>, shutdown: CancellationToken) {
    'run: loop {
        let deadline = io.turn();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            next = input.recv() => {
                let mut next = next;
                for _ in 0..INPUTS_PER_TURN {
                    match next {
                        None | Some(ShardInput::Command(MediaCommand::Shutdown)) => break 'run,
                        Some(msg) => take(&mut io, msg),
                    }
                    next = match input.try_recv() {
                        Ok(msg) => Some(msg),
                        Err(_) => break,
                    };
                }
            }
            _ = tokio::time::sleep_until(deadline) => io.engine.handle_timeout(Instant::now()),
        }
    }
    io.finish().await;
}

fn take(io: &mut EngineIo, msg: ShardInput) {
    match msg {
        ShardInput::Datagrams(batch) => {
            let now = Instant::now();
            for (source, range) in &batch.items {
                if let Some(data) = batch.data.get(range.clone()) {
                    io.engine.handle_datagram(now, *source, data);
                }
            }
        }
        ShardInput::Link(event) => io.link_event(event),
        ShardInput::Command(cmd) => io.engine.handle_command(Instant::now(), cmd),
    }
}

/// A link (ICE-TCP connection, relay allocation) at the dispatcher: its
/// queue until its first packet names the shard, then that shard.
enum LinkPlace {
    Pending(mpsc::Sender<Outgoing>),
    Shard(usize),
}

struct Dispatcher {
    shards: Vec<mpsc::Sender<ShardInput>>,
    routes: Arc<Routes>,
    stats: Arc<Stats>,
    placement: Placement,
    links: HashMap<Link, LinkPlace>,
    batches: Vec<Batch>,
}

impl Dispatcher {
    async fn command(&mut self, cmd: MediaCommand) {
        let target = self.placement.target(&cmd);
        for (count, load) in self.stats.engine_thread_participants.iter().zip(&self.placement.load) {
            Stats::set(count, *load as u64);
        }
        if let Some(shard) = target.and_then(|s| self.shards.get(s)) {
            // Commands are never dropped; a shard takes them quickly.
            let _ = shard.send(ShardInput::Command(cmd)).await;
        }
    }

    /// Reads what waits on the socket and hands each shard its datagrams
    /// in one batch. A shard whose queue is full loses the batch, as a full
    /// socket buffer would.
    fn read(&mut self, socket: &mut udp::MediaSocket) {
        {
            let routes = self.routes.read();
            let (batches, stats) = (&mut self.batches, &self.stats);
            socket.read(READ_ROUNDS, |source, data| match route(&routes, batches.len(), source, data) {
                Some(shard) => batches[shard].push(source, data),
                None => Stats::add(&stats.datagrams_unclaimed, 1),
            });
        }
        for (shard, batch) in self.shards.iter().zip(self.batches.iter_mut()) {
            if !batch.is_empty() {
                let n = batch.items.len() as u64;
                if shard.try_send(ShardInput::Datagrams(std::mem::take(batch))).is_err() {
                    Stats::add(&self.stats.datagrams_dropped_busy, n);
                }
            }
        }
    }

    async fn link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Opened { link, queue } => {
                self.links.insert(link, LinkPlace::Pending(queue));
            }
            LinkEvent::Packet { link, to, data } => {
                let shard = match self.links.get(&link) {
                    Some(LinkPlace::Shard(s)) => Some(*s),
                    Some(LinkPlace::Pending(_)) => {
                        let routes = self.routes.read();
                        route_path(&routes, self.shards.len(), (link.proto, link.remote), &data)
                    }
                    None => return,
                };
                let Some(shard) = shard else {
                    // Nobody's: dropping the queue ends the link, as one
                    // engine alone does with a link nobody claims.
                    self.links.remove(&link);
                    Stats::add(&self.stats.tcp_unclaimed, 1);
                    return;
                };
                if let Some(LinkPlace::Pending(queue)) = self.links.insert(link, LinkPlace::Shard(shard)) {
                    self.to_shard(shard, ShardInput::Link(LinkEvent::Opened { link, queue })).await;
                }
                self.to_shard(shard, ShardInput::Link(LinkEvent::Packet { link, to, data })).await;
            }
            LinkEvent::Closed { link } => {
                if let Some(LinkPlace::Shard(shard)) = self.links.remove(&link) {
                    self.to_shard(shard, ShardInput::Link(LinkEvent::Closed { link })).await;
                }
            }
        }
    }

    async fn to_shard(&self, shard: usize, input: ShardInput) {
        if let Some(tx) = self.shards.get(shard) {
            let _ = tx.send(input).await;
        }
    }
}

/// The shard a datagram from `source` on the UDP port goes to.
fn route(routes: &HashMap<demux::Path, usize>, shards: usize, source: SocketAddr, data: &[u8]) -> Option<usize> {
    if demux::classify(data) == demux::Kind::Stun && stun::plain_binding_request(data).is_some() {
        // No USERNAME: a direct call's browser asking for its address.
        if demux::binding_request_ufrag(data).is_none() {
            return Some(0);
        }
    }
    route_path(routes, shards, (Protocol::Udp, source), data)
}

/// The shard a packet from `path` goes to: a STUN request's by its ufrag's
/// tag, anything else's by the verified address.
fn route_path(routes: &HashMap<demux::Path, usize>, shards: usize, path: demux::Path, data: &[u8]) -> Option<usize> {
    if demux::classify(data) == demux::Kind::Stun
        && let Some(ufrag) = demux::binding_request_ufrag(data)
    {
        return demux::shard_of(ufrag).filter(|s| *s < shards);
    }
    routes.get(&path).copied()
}

/// Which shard each session, room and recording is on. A meeting's rooms
/// share a shard: a main room is placed when its first participant joins
/// (on the shard with the fewest participants), a breakout room when the
/// first participant moves into it (on theirs).
pub struct Placement {
    /// Participants per shard.
    load: Vec<usize>,
    sessions: HashMap<SessionId, (usize, RoomKey)>,
    /// Shard and participants of each room with any.
    rooms: HashMap<RoomKey, (usize, usize)>,
    recordings: HashMap<u64, usize>,
}

impl Placement {
    pub fn new(shards: usize) -> Placement {
        Placement {
            load: vec![0; shards.max(1)],
            sessions: HashMap::new(),
            rooms: HashMap::new(),
            recordings: HashMap::new(),
        }
    }

    /// The shard `cmd` goes to; `None` for none, and for
    /// [`MediaCommand::Shutdown`], which the dispatcher gives every shard.
    pub fn target(&mut self, cmd: &MediaCommand) -> Option<usize> {
        match cmd {
            MediaCommand::Join { session, room, .. } => {
                if let Some((shard, _)) = self.sessions.get(session) {
                    return Some(*shard);
                }
                let shard = self.rooms.get(room).map_or_else(|| self.least_loaded(), |(s, _)| *s);
                self.enter(*session, *room, shard);
                Some(shard)
            }
            MediaCommand::Move { session, room } => {
                let (shard, from) = *self.sessions.get(session)?;
                if let Some((other, _)) = self.rooms.get(room)
                    && *other != shard
                {
                    // Rooms of one meeting share a shard by construction.
                    tracing::error!("a move between rooms of two engine threads: the participant stays on theirs");
                }
                self.exit(*session, from);
                self.enter(*session, *room, shard);
                Some(shard)
            }
            MediaCommand::Leave { session } => {
                let (shard, room) = *self.sessions.get(session)?;
                self.exit(*session, room);
                Some(shard)
            }
            MediaCommand::Mute { session, .. }
            | MediaCommand::PublishOffer { session, .. }
            | MediaCommand::SubscribeAnswer { session, .. }
            | MediaCommand::VideoSizes { session, .. }
            | MediaCommand::Sending { session, .. } => self.sessions.get(session).map(|(s, _)| *s),
            MediaCommand::Direct { room, .. } => self.rooms.get(room).map(|(s, _)| *s),
            MediaCommand::Recording(RecordCommand::Start { recording, main, .. }) => {
                let shard = self.rooms.get(main).map_or(0, |(s, _)| *s);
                self.recordings.insert(*recording, shard);
                Some(shard)
            }
            MediaCommand::Recording(
                RecordCommand::Record { recording, session, .. } | RecordCommand::Unrecord { recording, session },
            ) => self.sessions.get(session).map(|(s, _)| *s).or_else(|| self.recordings.get(recording).copied()),
            MediaCommand::Recording(RecordCommand::Stop { recording, .. }) => self.recordings.remove(recording),
            MediaCommand::Shutdown => None,
        }
    }

    fn least_loaded(&self) -> usize {
        (0..self.load.len()).min_by_key(|s| self.load[*s]).unwrap_or(0)
    }

    fn enter(&mut self, session: SessionId, room: RoomKey, shard: usize) {
        self.sessions.insert(session, (shard, room));
        self.rooms.entry(room).or_insert((shard, 0)).1 += 1;
        self.load[shard] += 1;
    }

    fn exit(&mut self, session: SessionId, room: RoomKey) {
        let Some((shard, _)) = self.sessions.remove(&session) else {
            return;
        };
        self.load[shard] = self.load[shard].saturating_sub(1);
        if let Some((_, members)) = self.rooms.get_mut(&room) {
            *members = members.saturating_sub(1);
            if *members == 0 {
                self.rooms.remove(&room);
            }
        }
    }

    /// Sessions, rooms and recordings placed (all zero once everyone left).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.sessions.len(), self.rooms.len(), self.recordings.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(p: &mut Placement, session: u64, room: u64) -> Option<usize> {
        p.target(&MediaCommand::Join { session: SessionId(session), room: RoomKey(room), participant: "p".into() })
    }

    #[test]
    fn meetings_spread_over_shards_and_a_breakout_room_stays_with_its_meeting() {
        let mut p = Placement::new(2);
        assert_eq!(join(&mut p, 1, 10), Some(0));
        assert_eq!(join(&mut p, 2, 20), Some(1), "a new meeting goes to the emptier shard");
        assert_eq!(join(&mut p, 3, 10), Some(0), "a room's participants share its shard");
        assert_eq!(join(&mut p, 4, 30), Some(1));
        // Participant 3 moves into a new breakout room of meeting 10, then
        // participant 1 follows: both stay on shard 0.
        assert_eq!(p.target(&MediaCommand::Move { session: SessionId(3), room: RoomKey(11) }), Some(0));
        assert_eq!(p.target(&MediaCommand::Move { session: SessionId(1), room: RoomKey(11) }), Some(0));
        assert_eq!(p.target(&MediaCommand::Direct { room: RoomKey(11), direct: true }), Some(0));
        assert_eq!(p.target(&MediaCommand::Direct { room: RoomKey(10), direct: true }), None, "empty now");
        let mute = MediaCommand::Mute { session: SessionId(2), source: crate::protocol::Source::Mic, muted: true };
        assert_eq!(p.target(&mute), Some(1));
        for s in 1..=4 {
            assert!(p.target(&MediaCommand::Leave { session: SessionId(s) }).is_some());
        }
        assert_eq!(p.counts(), (0, 0, 0), "nothing is kept once everyone left");
        assert_eq!(p.target(&MediaCommand::Leave { session: SessionId(1) }), None);
        assert_eq!(p.target(&MediaCommand::Shutdown), None);
    }

    #[test]
    fn a_recording_goes_to_its_meetings_shard() {
        let mut p = Placement::new(3);
        join(&mut p, 1, 10);
        join(&mut p, 2, 20);
        let start = RecordCommand::Start { recording: 7, main: RoomKey(20), room: "r".into(), unix_ms: 0 };
        assert_eq!(p.target(&MediaCommand::Recording(start)), Some(1));
        let record = RecordCommand::Record {
            recording: 7,
            session: SessionId(2),
            participant: "p".into(),
            display_name: "P".into(),
        };
        assert_eq!(p.target(&MediaCommand::Recording(record)), Some(1));
        let stop = RecordCommand::Stop { recording: 7, unix_ms: 1 };
        assert_eq!(p.target(&MediaCommand::Recording(stop.clone())), Some(1));
        assert_eq!(p.target(&MediaCommand::Recording(stop)), None, "stopped once");
    }

    #[test]
    fn stun_goes_by_ufrag_tag_and_media_only_by_a_verified_address() {
        use str0m::ice::{StunMessage, TransId};
        let mut routes = HashMap::new();
        let a: SocketAddr = "192.0.2.1:5000".parse().expect("literal");
        let b: SocketAddr = "192.0.2.2:5000".parse().expect("literal");
        routes.insert((Protocol::Udp, a), 1);
        let ufrag = demux::tagged("xxxxxxxxxxxxxxxx", 1);
        let username = format!("{ufrag}:theirs");
        let request = StunMessage::binding_request(&username, TransId::new(), true, 0, 1, false);
        let mut buf = vec![0u8; 1500];
        let n = request.to_bytes(Some(b"password"), &mut buf, |_, _| [0u8; 20]).expect("serialize");
        assert_eq!(route(&routes, 2, b, &buf[..n]), Some(1), "STUN by the ufrag's tag, from any address");
        assert_eq!(route(&routes, 1, b, &buf[..n]), None, "a tag beyond the shards is nobody's");
        let rtp = [0x80u8, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(route(&routes, 2, a, &rtp), Some(1), "media by the verified address");
        assert_eq!(route(&routes, 2, b, &rtp), None, "no address, no shard");
        // A plain Binding request (no USERNAME): type, length 0, cookie, transaction.
        let mut plain = vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        plain.extend_from_slice(&[7; 12]);
        assert_eq!(route(&routes, 2, b, &plain), Some(0));
    }
}
