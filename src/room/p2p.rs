//! Direct calls for two: when a room has exactly two participants, the
//! server brokers a direct `RTCPeerConnection` between their browsers and
//! the SFU stops forwarding for that room; a third participant ends it.
//!
//! Per room (a forwarding room: breakout rooms are rooms of their own),
//! one small state machine:
//!
//! ```text
//!            two members                 timer                both ready
//!   (none) ─────────────▶ Waiting ───────────────▶ Connecting ──────────▶ Direct
//!                           │                          │ timeout/failed     │ failed
//!                           │                          ▼                    ▼
//!                           │                        Failed ◀───────────────┘
//!   not exactly these two: back to (none), telling both browsers `p2p_stop`
//! ```
//!
//! - A room that reaches two members by a join starts after
//!   [`ARRIVAL_DELAY`], so that people arriving together (a meeting
//!   starting, everyone rejoining after a network change) do not start a
//!   direct call that the next arrival ends at once; one that drops to two
//!   from more waits `p2p.back_to_p2p_delay_ms`, so a short visit does not
//!   bounce everyone. A new pair starts its wait afresh.
//! - `p2p_start` tells both browsers to connect; the offerer (the member
//!   who came first) offers. Offer, answer and candidates are relayed only
//!   between the two members of the call, with the sender's identity taken
//!   from its session, within size limits, once per attempt (`epoch`).
//! - Each browser keeps playing the server's streams until the direct ones
//!   play, then says `p2p_ready`. When both are ready, the call is `Direct`:
//!   both are told `p2p_direct` (stop sending to the server) and the SFU
//!   forwards nothing in the room.
//! - If both are not ready within the connect timeout, or a browser says
//!   `p2p_failed`, the pair stays on the SFU (`Failed`) until the room's
//!   membership changes. Nobody notices: the SFU streams never stopped.
//!
//! Sans-IO: `now` comes with every input; timers are kept in order and
//! fired by [`P2p::tick`].

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::{Effect, MediaCommand, RoomKey, SessionId, broadcast, error};
use crate::protocol::{
    ClientMsg, ErrorCode, IceServerInfo, MAX_P2P_CANDIDATE_BYTES, MAX_P2P_CANDIDATES, MAX_P2P_MID_BYTES,
    MAX_P2P_SDP_BYTES, P2pStopReason, ParticipantId, ServerMsg,
};

/// How long two browsers get to play each other's media directly before
/// the call stays on the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(6);

/// How long a room that a join brought to two members waits before the
/// direct call starts: people who arrive together join within a fraction
/// of a second of each other, and a third one would end a direct call that
/// has just begun (`p2p_stop` right after `p2p_start`). Nothing waits on
/// it: media flows through the server from the first moment.
pub const ARRIVAL_DELAY: Duration = Duration::from_millis(500);

/// What the direct-call logic needs from the configuration and policy.
#[derive(Debug, Clone, PartialEq)]
pub struct P2pSettings {
    /// Direct calls are enabled (`p2p.enabled`) and the policy allows them.
    pub enabled: bool,
    /// `p2p.back_to_p2p_delay_ms`: wait before a room that dropped from
    /// more than two to two goes direct again.
    pub back_delay: Duration,
    /// Wait before a room that a join brought to two goes direct
    /// ([`ARRIVAL_DELAY`]).
    pub arrival_delay: Duration,
    /// How long a direct connection may take to play media both ways.
    pub connect_timeout: Duration,
    /// ICE servers for the direct connection: this server's own STUN port
    /// first, then `media.ice_servers` (checked against the policy's list).
    pub ice_servers: Vec<IceServerInfo>,
}

impl P2pSettings {
    /// Settings from the configuration; `config.p2p.enabled` must already
    /// be the effective value ([`crate::policy::p2p_in_use`]). The server's
    /// own STUN URLs are added when the media port is bound.
    pub fn from_config(config: &crate::config::Config) -> P2pSettings {
        P2pSettings {
            enabled: config.p2p.enabled,
            back_delay: Duration::from_millis(config.p2p.back_to_p2p_delay_ms),
            arrival_delay: ARRIVAL_DELAY,
            connect_timeout: CONNECT_TIMEOUT,
            ice_servers: config.media.ice_servers.iter().map(IceServerInfo::from).collect(),
        }
    }

    /// Puts `stun:ADDRESS:PORT` for each of the server's own media
    /// addresses first in the list.
    pub fn add_own_stun(&mut self, addresses: &[std::net::SocketAddr]) {
        if addresses.is_empty() {
            return;
        }
        let urls = addresses
            .iter()
            .map(|a| match a {
                std::net::SocketAddr::V4(v4) => format!("stun:{}:{}", v4.ip(), v4.port()),
                std::net::SocketAddr::V6(v6) => format!("stun:[{}]:{}", v6.ip(), v6.port()),
            })
            .collect();
        self.ice_servers.insert(0, IceServerInfo { urls, username: None, credential: None });
    }
}

/// Where a room stands, as tests and counters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No direct call: not exactly two members, or direct calls are off.
    None,
    /// Two members; the direct call starts when the timer fires.
    Waiting,
    /// The browsers are connecting directly; media still goes via the SFU.
    Connecting,
    /// Media goes directly between the two; the SFU forwards nothing.
    Direct,
    /// The direct connection failed; this pair stays on the SFU.
    Failed,
}

/// One of the two members of a call.
#[derive(Debug)]
struct End {
    session: SessionId,
    id: ParticipantId,
    /// Plays the other's media from the direct connection.
    ready: bool,
    /// Sent its offer (offerer) or answer (answerer) in this attempt.
    described: bool,
    candidates: u32,
}

impl End {
    fn new(session: SessionId, id: ParticipantId) -> End {
        End { session, id, ready: false, described: false, candidates: 0 }
    }

    fn reset(&mut self) {
        self.ready = false;
        self.described = false;
        self.candidates = 0;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting { at: Instant },
    Connecting { epoch: u64, deadline: Instant },
    Direct { epoch: u64 },
    Failed,
}

/// A pair and how far it got. `ends[0]` makes the offer.
#[derive(Debug)]
struct Call {
    ends: [End; 2],
    state: State,
}

impl Call {
    fn is_pair(&self, a: SessionId, b: SessionId) -> bool {
        let mine = [self.ends[0].session, self.ends[1].session];
        mine == [a, b] || mine == [b, a]
    }

    /// The two members' sessions, the offerer first.
    fn sessions(&self) -> [SessionId; 2] {
        [self.ends[0].session, self.ends[1].session]
    }

    fn index_of(&self, session: SessionId) -> Option<usize> {
        self.ends.iter().position(|e| e.session == session)
    }

    fn timer(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { at } => Some(at),
            State::Connecting { deadline, .. } => Some(deadline),
            State::Direct { .. } | State::Failed => None,
        }
    }

    /// The attempt in progress, if the browsers are (or may be) connected.
    fn live_epoch(&self) -> Option<u64> {
        match self.state {
            State::Connecting { epoch, .. } | State::Direct { epoch } => Some(epoch),
            State::Waiting { .. } | State::Failed => None,
        }
    }
}

#[derive(Debug, Default)]
struct RoomP2p {
    /// Members when last looked at.
    count: usize,
    call: Option<Call>,
}

/// The direct-call state of every room.
#[derive(Debug)]
pub struct P2p {
    settings: P2pSettings,
    rooms: HashMap<RoomKey, RoomP2p>,
    /// Rooms whose membership may have changed since the last look.
    dirty: BTreeSet<RoomKey>,
    /// One timer per call at most, in order.
    timers: BTreeSet<(Instant, RoomKey)>,
    next_epoch: u64,
    attempts: u64,
    failures: u64,
}

impl P2p {
    pub fn new(settings: P2pSettings) -> P2p {
        P2p {
            settings,
            rooms: HashMap::new(),
            dirty: BTreeSet::new(),
            timers: BTreeSet::new(),
            next_epoch: 1,
            attempts: 0,
            failures: 0,
        }
    }

    /// The membership of `room` may have changed; looked at in
    /// [`P2p::take_dirty`] / [`P2p::membership`] at the end of the input.
    pub fn touch(&mut self, room: RoomKey) {
        self.dirty.insert(room);
    }

    /// Rooms touched since the last call, in order.
    pub fn take_dirty(&mut self) -> Vec<RoomKey> {
        std::mem::take(&mut self.dirty).into_iter().collect()
    }

    /// When [`P2p::tick`] should run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Where `room` stands.
    pub fn phase(&self, room: RoomKey) -> Phase {
        match self.rooms.get(&room).and_then(|r| r.call.as_ref()).map(|c| c.state) {
            None => Phase::None,
            Some(State::Waiting { .. }) => Phase::Waiting,
            Some(State::Connecting { .. }) => Phase::Connecting,
            Some(State::Direct { .. }) => Phase::Direct,
            Some(State::Failed) => Phase::Failed,
        }
    }

    /// Rooms whose media goes directly between their two members now.
    pub fn direct_count(&self) -> usize {
        self.rooms.values().filter(|r| matches!(r.call.as_ref().map(|c| c.state), Some(State::Direct { .. }))).count()
    }

    /// Direct calls started so far (`p2p_start` sent).
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// Attempts that failed or timed out so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// `room` now has `members` (in the order they came in): starts,
    /// keeps or ends its direct call.
    pub fn membership(
        &mut self,
        now: Instant,
        room: RoomKey,
        members: &[(SessionId, ParticipantId)],
        allowed: bool,
        out: &mut Vec<Effect>,
    ) {
        let entry = self.rooms.entry(room).or_default();
        let before = std::mem::replace(&mut entry.count, members.len());
        let pair = match members {
            [a, b] if self.settings.enabled && allowed => Some((a, b)),
            _ => None,
        };
        if let (Some(call), Some((a, b))) = (&entry.call, pair)
            && call.is_pair(a.0, b.0)
        {
            return;
        }
        if let Some(call) = entry.call.take() {
            self.end(room, call, P2pStopReason::Participants, out);
        }
        match pair {
            Some((a, b)) => {
                let delay = if before > 2 { self.settings.back_delay } else { self.settings.arrival_delay };
                let at = now + delay;
                let call = Call {
                    ends: [End::new(a.0, a.1.clone()), End::new(b.0, b.1.clone())],
                    state: State::Waiting { at },
                };
                self.timers.insert((at, room));
                self.rooms.entry(room).or_default().call = Some(call);
            }
            None if members.is_empty() => {
                self.rooms.remove(&room);
            }
            None => {}
        }
    }

    /// Time passed: starts waiting calls and gives up on slow ones.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Effect>) {
        while let Some(&(t, room)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            let Some(call) = self.rooms.get_mut(&room).and_then(|r| r.call.as_mut()) else {
                continue;
            };
            if call.timer() != Some(t) {
                continue;
            }
            match call.state {
                State::Waiting { .. } => {
                    let epoch = self.next_epoch;
                    self.next_epoch += 1;
                    self.attempts += 1;
                    let deadline = now + self.settings.connect_timeout;
                    call.state = State::Connecting { epoch, deadline };
                    for e in &mut call.ends {
                        e.reset();
                    }
                    for (i, end) in call.ends.iter().enumerate() {
                        let peer = call.ends[1 - i].id.clone();
                        out.push(Effect::Send {
                            to: end.session,
                            msg: ServerMsg::P2pStart {
                                epoch,
                                peer,
                                offerer: i == 0,
                                ice_servers: self.settings.ice_servers.clone(),
                            },
                        });
                    }
                    self.timers.insert((deadline, room));
                }
                State::Connecting { .. } => self.fail(room, out),
                State::Direct { .. } | State::Failed => {}
            }
        }
    }

    /// A direct-call message from `session`, a member of `room`. Messages
    /// of an attempt that is over are ignored (they cross `p2p_stop`);
    /// messages that break the rules are refused with `bad_message`.
    pub fn on_message(&mut self, room: RoomKey, session: SessionId, msg: ClientMsg, out: &mut Vec<Effect>) {
        let epoch = match &msg {
            ClientMsg::P2pOffer { epoch, .. }
            | ClientMsg::P2pAnswer { epoch, .. }
            | ClientMsg::P2pCandidate { epoch, .. }
            | ClientMsg::P2pReady { epoch }
            | ClientMsg::P2pFailed { epoch } => *epoch,
            _ => return,
        };
        let Some(call) = self.rooms.get_mut(&room).and_then(|r| r.call.as_mut()) else {
            return;
        };
        let (Some(me), Some(live)) = (call.index_of(session), call.live_epoch()) else {
            return;
        };
        if epoch != live {
            return;
        }
        let other = call.ends[1 - me].session;
        let from = call.ends[me].id.clone();
        match msg {
            ClientMsg::P2pOffer { sdp, .. } | ClientMsg::P2pAnswer { sdp, .. } if sdp.len() > MAX_P2P_SDP_BYTES => {
                error(out, session, ErrorCode::BadMessage, "the direct connection's SDP is too large")
            }
            ClientMsg::P2pOffer { sdp, .. } => {
                if me != 0 || call.ends[0].described {
                    return error(out, session, ErrorCode::BadMessage, "unexpected p2p_offer");
                }
                call.ends[0].described = true;
                out.push(Effect::Send { to: other, msg: ServerMsg::P2pOffer { epoch, from, sdp } });
            }
            ClientMsg::P2pAnswer { sdp, .. } => {
                if me != 1 || call.ends[1].described || !call.ends[0].described {
                    return error(out, session, ErrorCode::BadMessage, "unexpected p2p_answer");
                }
                call.ends[1].described = true;
                out.push(Effect::Send { to: other, msg: ServerMsg::P2pAnswer { epoch, from, sdp } });
            }
            ClientMsg::P2pCandidate { candidate, sdp_mid, sdp_m_line_index, .. } => {
                if candidate.len() > MAX_P2P_CANDIDATE_BYTES
                    || sdp_mid.as_ref().is_some_and(|m| m.len() > MAX_P2P_MID_BYTES)
                    || candidate.chars().any(char::is_control)
                {
                    return error(out, session, ErrorCode::BadMessage, "the candidate is too long or not printable");
                }
                let end = &mut call.ends[me];
                if end.candidates >= MAX_P2P_CANDIDATES {
                    return error(out, session, ErrorCode::BadMessage, "too many candidates for one direct call");
                }
                end.candidates += 1;
                out.push(Effect::Send {
                    to: other,
                    msg: ServerMsg::P2pCandidate { epoch, from, candidate, sdp_mid, sdp_m_line_index },
                });
            }
            ClientMsg::P2pReady { .. } => {
                if !matches!(call.state, State::Connecting { .. }) {
                    return;
                }
                call.ends[me].ready = true;
                if call.ends.iter().all(|e| e.ready) {
                    if let Some(t) = call.timer() {
                        self.timers.remove(&(t, room));
                    }
                    call.state = State::Direct { epoch };
                    broadcast(out, call.sessions(), ServerMsg::P2pDirect { epoch });
                    out.push(Effect::Media(MediaCommand::Direct { room, direct: true }));
                }
            }
            ClientMsg::P2pFailed { .. } => self.fail(room, out),
            _ => {}
        }
    }

    /// The attempt in `room` failed: both back to (or staying on) the SFU,
    /// and no new attempt for this pair.
    fn fail(&mut self, room: RoomKey, out: &mut Vec<Effect>) {
        let Some(call) = self.rooms.get_mut(&room).and_then(|r| r.call.as_mut()) else {
            return;
        };
        let Some(epoch) = call.live_epoch() else {
            return;
        };
        if let Some(t) = call.timer() {
            self.timers.remove(&(t, room));
        }
        if matches!(call.state, State::Direct { .. }) {
            out.push(Effect::Media(MediaCommand::Direct { room, direct: false }));
        }
        call.state = State::Failed;
        self.failures += 1;
        broadcast(out, call.sessions(), ServerMsg::P2pStop { epoch, reason: P2pStopReason::Failed });
    }

    /// Ends `call` (taken out of `room`) because the membership changed.
    /// Both browsers are told; one that left is no longer connected, and
    /// what is sent to it is dropped.
    fn end(&mut self, room: RoomKey, call: Call, reason: P2pStopReason, out: &mut Vec<Effect>) {
        if let Some(t) = call.timer() {
            self.timers.remove(&(t, room));
        }
        let Some(epoch) = call.live_epoch() else {
            return;
        };
        if matches!(call.state, State::Direct { .. }) {
            out.push(Effect::Media(MediaCommand::Direct { room, direct: false }));
        }
        broadcast(out, call.sessions(), ServerMsg::P2pStop { epoch, reason });
    }

    /// `room` closes while its members go on elsewhere (breakout rooms
    /// close): its call ends, both browsers are told (they send to the
    /// server again), and the room is forgotten.
    pub fn close_room(&mut self, room: RoomKey, out: &mut Vec<Effect>) {
        if let Some(call) = self.rooms.get_mut(&room).and_then(|r| r.call.take()) {
            self.end(room, call, P2pStopReason::Participants, out);
        }
        self.forget(room);
    }

    /// `room` is gone (its meeting ended; everyone in it was told):
    /// forget its call and timers without a word to anyone.
    pub fn forget(&mut self, room: RoomKey) {
        self.rooms.remove(&room);
        self.dirty.remove(&room);
        self.timers.retain(|(_, r)| *r != room);
    }

    /// The server is stopping: forget everything.
    pub fn clear(&mut self) {
        self.rooms.clear();
        self.dirty.clear();
        self.timers.clear();
    }
}

#[cfg(test)]
mod tests;
