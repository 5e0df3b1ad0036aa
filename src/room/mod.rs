//! Rooms: who is in which room, what each participant shows, chat, and the
//! rules for joining and leaving.
//!
//! Sans-IO: [`Rooms::handle`] takes the time and one [`Input`] and returns
//! [`Effect`]s (messages to send, sessions to close, commands for the media
//! server). It never reads a clock, touches a socket or spawns a task; the
//! room actor in `crate::signal::actor` does that around it.
//!
//! Privacy: rooms exist only here, in memory. A room is created by its first
//! join and destroyed when its last participant leaves; its name and every
//! participant's display name are zeroized then. Chat is relayed, never
//! stored. Nothing here lists rooms, and joining a room that exists looks
//! exactly like creating one.
//!
//! Where to look:
//!
//! - this file: sessions, the messages of a participant in a call (media
//!   state, hand, chat, SDP for the media server), reports of the media
//!   server, shutdown;
//! - `meeting`: a meeting's life — a main room (found by name) and its
//!   breakout rooms (found only through it): opening, the one way in
//!   ([`Rooms::join`]), [`Rooms::admit`] and [`Rooms::remove_member`] (the
//!   extension points lobby, roles and breakout rooms build on instead of
//!   `hello`/`leave`), moderator handover after a departure, the grace for
//!   reconnects, and the end;
//! - `lobby`: who may enter (the access decision of [`crate::auth::access`],
//!   waiting for a host, the door: rejoin tickets, room password, lobby);
//! - `moderation`: every moderator action, private chat;
//! - `breakout`: breakout rooms of a meeting;
//! - `p2p`: direct calls for two; `media`: the commands and events
//!   exchanged with the media server.

mod appointments;
mod breakout;
mod e2ee;
mod lobby;
pub mod media;
mod meeting;
mod moderation;
pub mod p2p;
mod recording;
mod screen;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zeroize::{Zeroize, Zeroizing};

use crate::protocol::{
    ByeReason, ClientMsg, ErrorCode, IceServerInfo, MAX_CHAT_CHARS, MAX_NAME_CHARS, PROTOCOL_VERSION, Participant,
    ParticipantId, Quality, ServerMsg,
};

use crate::auth::throttle::{Limits, Throttle};
use crate::config::AccessMode;
pub use media::{MediaCommand, MediaEvent};
pub use meeting::MEETING_GRACE;
pub use p2p::{P2pSettings, Phase as P2pPhase};
pub use recording::RecordingSettings;

/// One signalling connection. Assigned by the actor, unique for the life of
/// the server, never shown to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// A room's internal handle. Rooms are found by name only on join; everything
/// else (the media server included) knows a room by this key, never by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomKey(pub u64);

/// Limits and settings the room logic needs, taken from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `rooms.max_participants`
    pub max_participants: u32,
    /// `rooms.max_rooms`
    pub max_rooms: u32,
    /// `client.require_display_name`
    pub require_display_name: bool,
    /// `media.last_n`, passed on to clients in `welcome`.
    pub last_n: u32,
    /// `media.ice_servers`, passed on to clients in `welcome`.
    pub ice_servers: Vec<IceServerInfo>,
    /// Chat messages a participant may send in a burst.
    pub chat_burst: u32,
    /// Chat messages a participant may send per second, sustained.
    pub chat_per_second: f64,
    /// Direct calls for two (`[p2p]`, as the policy allows).
    pub p2p: P2pSettings,
    /// `access.mode`: who opens rooms, who waits for a host.
    pub access_mode: AccessMode,
    /// `rooms.private_chat`
    pub private_chat: bool,
    /// `e2ee.mode`: whether meetings are end-to-end encrypted.
    pub e2ee: crate::config::E2eeMode,
    /// `e2ee.max_participants`
    pub e2ee_max_participants: u32,
    /// How long an empty meeting waits for reconnecting participants
    /// ([`MEETING_GRACE`]; shorter in tests).
    pub meeting_grace: Duration,
    /// `rooms.max_waiting_per_address`
    pub max_waiting_per_address: u32,
    /// `rooms.max_wait_minutes`: a session waiting longer is sent away.
    pub max_wait: Duration,
    /// `rooms.lobby_on_open`, as it applies under `access.mode`
    /// ([`crate::config::RoomsConfig::lobby_on_open`]).
    pub lobby_on_open: bool,
    /// State toggles (`hand`, `media_state`) of a participant shown to the
    /// others at once in a burst; more within a second are coalesced into
    /// one update a second.
    pub toggle_burst: u32,
    /// `[recording]`
    pub recording: RecordingSettings,
    /// The server's own TURN/TLS relay (`media.turn_tls_name`), offered in
    /// `welcome` with credentials made for each session.
    pub relay: Option<RelayOffer>,
    /// `[teletherapy]`: appointments.
    pub teletherapy: crate::teletherapy::Settings,
}

/// The relay as participants are told of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayOffer {
    /// `turns:NAME:PORT?transport=tcp`
    pub urls: Vec<String>,
    pub issuer: crate::turn::Issuer,
}

impl RelayOffer {
    /// The relay with credentials for `session`, issued now.
    pub fn for_session(&self, session: SessionId, unix_ms: u64) -> IceServerInfo {
        let (username, credential) = self.issuer.issue(session.0, unix_ms / 1000);
        IceServerInfo { urls: self.urls.clone(), username: Some(username), credential: Some(credential) }
    }
}

impl Settings {
    /// Settings from a whole configuration.
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            max_participants: config.rooms.max_participants,
            max_rooms: config.rooms.max_rooms,
            require_display_name: config.client.require_display_name,
            last_n: config.media.last_n,
            ice_servers: config.media.ice_servers.iter().map(IceServerInfo::from).collect(),
            chat_burst: 5,
            chat_per_second: 1.0,
            p2p: P2pSettings::from_config(config),
            access_mode: config.access.mode,
            private_chat: config.rooms.private_chat,
            e2ee: config.e2ee.mode,
            e2ee_max_participants: config.e2ee.max_participants,
            meeting_grace: meeting::MEETING_GRACE,
            max_waiting_per_address: config.rooms.max_waiting_per_address,
            max_wait: Duration::from_secs(u64::from(config.rooms.max_wait_minutes) * 60),
            lobby_on_open: config.rooms.lobby_on_open(config.access.mode),
            toggle_burst: 10,
            recording: RecordingSettings { enabled: config.recording.enabled, on_decline: config.recording.on_decline },
            relay: None,
            teletherapy: crate::teletherapy::Settings::from_config(config),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_config(&crate::config::Config::default())
    }
}

/// The time, as the room logic sees it: a monotonic instant for rate limits
/// and the wall clock (ms since the Unix epoch) for chat timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
    pub unix_ms: u64,
}

/// The login session behind a connection, as the server's session store
/// shows it when the WebSocket opened (never what a message claims).
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The login name (lowercased): appointments belong to it.
    pub username: Zeroizing<String>,
    /// The name from the account (local store or directory).
    pub display_name: Zeroizing<String>,
    /// May open rooms and host them.
    pub may_host: bool,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A connection opened. `participant` is the random public id it will
    /// have if it joins; `account` the login session it came with; `source`
    /// the client's address, used only to throttle room password guesses.
    Connected { session: SessionId, participant: ParticipantId, account: Option<Account>, source: Option<IpAddr> },
    /// A well-formed message from a connection.
    Message { session: SessionId, msg: ClientMsg },
    /// The connection closed or failed.
    Disconnected { session: SessionId },
    /// A report from the media server.
    Media(MediaEvent),
    /// The login session a connection came with ended (logout, password
    /// change, account removed, expired): its host rights end too.
    AccountEnded { session: SessionId },
    /// The server is shutting down.
    Shutdown,
    /// Time passed (the actor sends one a second): meetings kept for
    /// reconnecting participants expire.
    Tick,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send `msg` on the session's connection.
    Send { to: SessionId, msg: ServerMsg },
    /// Send the same `msg` on the connection of each of `to`, in this
    /// order: serialised once, the same bytes for everyone.
    Broadcast { to: Vec<SessionId>, msg: ServerMsg },
    /// Close the session's connection once what was sent before is out.
    Close { session: SessionId },
    /// A command for the media server.
    Media(MediaCommand),
}

/// A participant of a room.
#[derive(Debug)]
pub struct Member {
    pub session: SessionId,
    pub id: ParticipantId,
    pub display_name: Zeroizing<String>,
    pub mic: bool,
    pub camera: bool,
    pub screen: bool,
    pub hand: bool,
    pub quality: Quality,
    chat: TokenBucket,
    /// `e2ee` messages (key exchange) this participant may still send.
    e2ee: TokenBucket,
    /// Moderates the meeting.
    pub moderator: bool,
    /// Came with a login session.
    pub authenticated: bool,
    /// Came with the login session of an account that may host: in
    /// `secure` and `closed` mode only such a participant ever moderates.
    pub host: bool,
    /// Recent state toggles shown to the others (see `Settings::toggle_burst`).
    toggles: TokenBucket,
    /// A state change not shown to the others yet (coalesced).
    dirty: bool,
    /// Order of arrival in the meeting (for the moderator handover).
    seq: u64,
    /// Sources a moderator muted that the participant has not turned on again.
    forced: moderation::Forced,
}

impl Member {
    fn public(&self) -> Participant {
        Participant {
            id: self.id.clone(),
            display_name: self.display_name.to_string(),
            mic: self.mic,
            camera: self.camera,
            screen: self.screen,
            hand: self.hand,
            quality: self.quality,
            moderator: self.moderator,
            host: self.host,
        }
    }
}

/// A room: its name and its members, in the order they came in.
struct Room {
    name: Zeroizing<String>,
    members: BTreeMap<SessionId, Member>,
    speaker: Option<SessionId>,
    /// Password, lobby, breakout rooms, tickets (see `moderation`).
    controls: meeting::Controls,
}

/// Where a connection stands.
#[derive(Debug)]
struct Session {
    participant: ParticipantId,
    room: Option<RoomKey>,
    /// The login session it came with.
    account: Option<Account>,
    source: Option<IpAddr>,
    /// The anonymous key of `source` (`crate::net::address_key`), for
    /// per-address limits.
    source_key: Option<u64>,
    /// Not in a room yet: waiting for a host, for the password, in the lobby.
    pending: Option<lobby::Pending>,
    /// Since when it waits (for a host, the password, the lobby).
    waiting_since: Option<Instant>,
    /// The appointment link it came with (a patient).
    link: Option<crate::teletherapy::LinkRef>,
}

/// Every room and session of the server.
pub struct Rooms {
    settings: Settings,
    sessions: HashMap<SessionId, Session>,
    rooms: HashMap<RoomKey, Room>,
    by_name: HashMap<String, RoomKey>,
    next_room: u64,
    closing: bool,
    p2p: p2p::P2p,
    /// Sessions waiting for a host to open a room, by lower-case room name.
    waiting: HashMap<String, Vec<SessionId>>,
    /// Room password guesses (shared with logins when the server sets it).
    throttle: Arc<Throttle>,
    /// Tickets and random breakout assignment.
    rng: rand::rngs::StdRng,
    /// The time of the input being handled (`None` before the first).
    now: Option<Instant>,
    /// The wall clock of the latest input (ms since the Unix epoch).
    unix_ms: u64,
    /// Empty meetings kept for reconnecting participants, by when they end.
    graces: std::collections::BTreeSet<(Instant, RoomKey)>,
    /// Keys the anonymous per-address keys of sessions.
    address_keys: std::hash::RandomState,
    /// Rooms with participants whose state changes were coalesced.
    dirty: std::collections::BTreeSet<(RoomKey, SessionId)>,
    /// Meetings with a recording asked for or running (the recording's
    /// number once it runs), by main room.
    recording_meetings: BTreeMap<RoomKey, Option<u64>>,
    /// The next recording's number.
    next_recording: u64,
    /// Appointments (`[teletherapy]`), in memory only.
    appointments: crate::teletherapy::Store,
    /// Sessions that hold an appointment link, and which.
    held: BTreeMap<SessionId, crate::teletherapy::LinkRef>,
    /// When the appointment store is swept next (unix seconds).
    next_sweep: i64,
    /// Open appointment meetings (main rooms), so that the work after each
    /// input does not look at every room.
    appointment_rooms: std::collections::BTreeSet<RoomKey>,
}

impl Rooms {
    pub fn new(settings: Settings) -> Rooms {
        use rand::SeedableRng;
        let settings_teletherapy = settings.teletherapy.clone();
        Rooms {
            p2p: p2p::P2p::new(settings.p2p.clone()),
            settings,
            sessions: HashMap::new(),
            rooms: HashMap::new(),
            by_name: HashMap::new(),
            next_room: 1,
            closing: false,
            waiting: HashMap::new(),
            throttle: Arc::new(Throttle::new(Limits::LOGIN)),
            rng: rand::rngs::StdRng::from_os_rng(),
            now: None,
            unix_ms: 0,
            graces: std::collections::BTreeSet::new(),
            address_keys: std::hash::RandomState::new(),
            dirty: std::collections::BTreeSet::new(),
            recording_meetings: BTreeMap::new(),
            next_recording: 1,
            appointments: crate::teletherapy::Store::new(settings_teletherapy),
            held: BTreeMap::new(),
            next_sweep: 0,
            appointment_rooms: std::collections::BTreeSet::new(),
        }
    }

    /// Uses `throttle` for room password guesses: the server passes the
    /// login throttle, so one budget of guesses covers both.
    pub fn with_throttle(mut self, throttle: Arc<Throttle>) -> Rooms {
        self.throttle = throttle;
        self
    }

    /// Rooms open now.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Participants in all rooms.
    pub fn participant_count(&self) -> usize {
        self.rooms.values().map(|r| r.members.len()).sum()
    }

    /// Open connections, joined or not.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// When [`Input::Tick`] is due next, if anything waits for time.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.p2p.next_deadline()
    }

    /// Where the direct call of `room` stands.
    pub fn p2p_phase(&self, room: RoomKey) -> P2pPhase {
        self.p2p.phase(room)
    }

    /// Direct calls: (rooms direct now, attempts so far, failed attempts so far).
    pub fn p2p_counts(&self) -> (usize, u64, u64) {
        (self.p2p.direct_count(), self.p2p.attempts(), self.p2p.failures())
    }

    /// Handles one input and appends what to do to `out`.
    pub fn handle(&mut self, clock: Clock, input: Input, out: &mut Vec<Effect>) {
        self.now = Some(clock.now);
        self.unix_ms = clock.unix_ms;
        self.expire_graces(out);
        self.handle_input(clock, input, out);
        self.settle_recordings(clock, out);
        self.settle_p2p(clock, out);
        self.settle_links(out);
    }

    /// Direct calls follow the membership of every room touched by the input.
    fn settle_p2p(&mut self, clock: Clock, out: &mut Vec<Effect>) {
        for key in self.p2p.take_dirty() {
            let members: Vec<(SessionId, ParticipantId)> = self
                .rooms
                .get(&key)
                .map(|r| r.members.values().map(|m| (m.session, m.id.clone())).collect())
                .unwrap_or_default();
            // A recording sees media only through the server.
            let direct_allowed = !self.recording_active(key);
            self.p2p.membership(clock.now, key, &members, direct_allowed, out);
        }
    }

    fn handle_input(&mut self, clock: Clock, input: Input, out: &mut Vec<Effect>) {
        match input {
            Input::Connected { session, participant, account, source } => {
                if self.closing {
                    out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason: ByeReason::ServerShutdown } });
                    out.push(Effect::Close { session });
                    return;
                }
                let source_key = source.map(|ip| crate::net::address_key(&self.address_keys, ip));
                let s = Session {
                    participant,
                    room: None,
                    account,
                    source,
                    source_key,
                    pending: None,
                    waiting_since: None,
                    link: None,
                };
                self.sessions.insert(session, s);
            }
            Input::Message { session, msg } => self.on_message(clock, session, msg, out),
            Input::Disconnected { session } => {
                self.drop_pending(session, out);
                if let Some(Session { room: Some(room), .. }) = self.sessions.remove(&session) {
                    self.remove_member(room, session, out);
                    out.push(Effect::Media(MediaCommand::Leave { session }));
                }
            }
            Input::Media(event) => self.on_media(event, out),
            Input::AccountEnded { session } => self.account_ended(session, out),
            Input::Shutdown => self.shutdown(out),
            Input::Tick => {
                self.p2p.tick(clock.now, out);
                self.expire_waiting(clock.now, out);
                self.flush_toggles(clock.now, out);
            }
        }
    }

    fn on_message(&mut self, clock: Clock, session: SessionId, msg: ClientMsg, out: &mut Vec<Effect>) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let room = s.room;
        if s.pending.is_some() {
            return self.on_pending_message(clock, session, msg, out);
        }
        match (msg, room) {
            (ClientMsg::Hello { version, room: name, display_name, appointment }, None) => {
                let entry = match appointment {
                    Some(a) => Entry::Appointment(a),
                    None => Entry::Plain,
                };
                self.hello(clock, session, version, name, display_name, entry, out)
            }
            (ClientMsg::Rejoin { version, room: name, display_name, ticket }, None) => {
                let entry = Entry::Ticket(Zeroizing::new(ticket));
                self.hello(clock, session, version, name, display_name, entry, out)
            }
            (ClientMsg::Rejoin { .. }, Some(_)) => error(out, session, ErrorCode::NotJoined, "already joined"),
            (ClientMsg::Hello { .. }, Some(_)) => error(out, session, ErrorCode::NotJoined, "already joined"),
            (_, None) => error(out, session, ErrorCode::NotJoined, "send hello first"),
            (ClientMsg::Leave {}, Some(room)) => {
                let main = self.meeting_of(room);
                self.remove_member(room, session, out);
                // The last one out by `leave` ends the meeting at once.
                self.close_if_empty(main, out);
                self.sessions.remove(&session);
                out.push(Effect::Media(MediaCommand::Leave { session }));
                out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason: ByeReason::Left } });
                out.push(Effect::Close { session });
            }
            (ClientMsg::PublishOffer { sdp, tracks }, Some(room)) => {
                // The screen track stays muted at the media server without a permission.
                if tracks.iter().any(|t| t.source == crate::protocol::Source::Screen)
                    && !self.screen_allowed(self.meeting_of(room), session)
                {
                    self.screen_refused(session, out);
                }
                out.push(Effect::Media(MediaCommand::PublishOffer { session, sdp, tracks }))
            }
            (ClientMsg::ScreenRequest {}, Some(room)) => self.screen_request(room, session, out),
            (ClientMsg::ScreenAnswer { id, allow }, Some(room)) => self.screen_answer(room, session, &id, allow, out),
            (ClientMsg::SubscribeAnswer { sdp }, Some(_)) => {
                out.push(Effect::Media(MediaCommand::SubscribeAnswer { session, sdp }))
            }
            (ClientMsg::VideoSizes { sizes }, Some(_)) => {
                out.push(Effect::Media(MediaCommand::VideoSizes { session, sizes }))
            }
            (ClientMsg::MediaState { mic, camera, screen }, Some(room)) => {
                let main = self.meeting_of(room);
                let was_sharing = self.rooms.get(&room).and_then(|r| r.members.get(&session)).is_some_and(|m| m.screen);
                if screen && !self.screen_allowed(main, session) {
                    self.screen_refused(session, out);
                }
                if was_sharing && !screen {
                    self.screen_stopped(main, session, out);
                }
                // A source a moderator muted stays off until the participant unmutes it.
                let mut sending = None;
                self.toggle_member(clock, room, session, out, |m| {
                    let (mic, camera, screen) = m.forced.apply(mic, camera, screen);
                    let changed = (m.mic, m.camera, m.screen) != (mic, camera, screen);
                    (m.mic, m.camera, m.screen) = (mic, camera, screen);
                    sending = changed.then_some((mic, camera, screen));
                    changed
                });
                if let Some((mic, camera, screen)) = sending {
                    out.push(Effect::Media(MediaCommand::Sending { session, mic, camera, screen }));
                }
            }
            (ClientMsg::Hand { raised }, Some(room)) => {
                self.toggle_member(clock, room, session, out, |m| std::mem::replace(&mut m.hand, raised) != raised);
            }
            (ClientMsg::Chat { mut text }, Some(room)) => {
                self.chat(clock, room, session, &text, out);
                text.zeroize();
            }
            (
                msg @ (ClientMsg::P2pOffer { .. }
                | ClientMsg::P2pAnswer { .. }
                | ClientMsg::P2pCandidate { .. }
                | ClientMsg::P2pReady { .. }
                | ClientMsg::P2pFailed { .. }),
                Some(room),
            ) => self.p2p.on_message(room, session, msg, out),
            (
                msg @ (ClientMsg::RecordStart {} | ClientMsg::RecordStop {} | ClientMsg::RecordingConsent { .. }),
                Some(room),
            ) => self.on_recording(clock, session, room, msg, out),
            (ClientMsg::E2ee { to, data }, Some(room)) => self.e2ee_relay(clock, room, session, to, data, out),
            (msg, Some(room)) => self.on_control(clock, session, room, msg, out),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn hello(
        &mut self,
        clock: Clock,
        session: SessionId,
        version: u32,
        name: String,
        display_name: String,
        entry: Entry,
        out: &mut Vec<Effect>,
    ) {
        let name = Zeroizing::new(name);
        let display_name = Zeroizing::new(display_name);
        if version != PROTOCOL_VERSION {
            return error(out, session, ErrorCode::UnsupportedVersion, "this server speaks protocol version 1");
        }
        if !crate::protocol::room_name_is_valid(&name) {
            return error(out, session, ErrorCode::BadRoomName, "room names are 1-64 letters, digits, '-', '_', '.'");
        }
        let Some(display_name) = self.check_display_name(&display_name) else {
            return error(out, session, ErrorCode::BadDisplayName, "display name missing, too long or not printable");
        };
        // Room names are compared case-insensitively: /Team and /team are one room.
        let key_name = Zeroizing::new(name.to_lowercase());
        let ticket = match entry {
            Entry::Appointment(a) => return self.patient_hello(clock, session, key_name, display_name, a, out),
            Entry::Ticket(t) => Some(t),
            Entry::Plain => None,
        };
        // An appointment room: its therapist only (patients come with their link).
        if let Some(id) = self.appointments.by_room(&key_name).map(str::to_string) {
            if !self.owner_may_enter(session, &id, out) {
                return;
            }
        } else if crate::teletherapy::is_appointment_room(&key_name) {
            error(out, session, ErrorCode::AppointmentInvalid, "no such appointment");
            return out.push(Effect::Close { session });
        }
        self.enter(clock, session, key_name, display_name, ticket, out);
    }

    /// Trimmed display name without invisible formatting characters
    /// ([`invisible_format`]: bidi controls that could make a name read as
    /// another), or `None` if it is not acceptable (control characters,
    /// too long, empty when a name is required).
    fn check_display_name(&self, raw: &str) -> Option<Zeroizing<String>> {
        let stripped: Zeroizing<String> = Zeroizing::new(raw.chars().filter(|c| !invisible_format(*c)).collect());
        let name = stripped.trim();
        let len = name.chars().count();
        let ok = len <= MAX_NAME_CHARS
            && (len > 0 || !self.settings.require_display_name)
            && !name.chars().any(char::is_control);
        ok.then(|| Zeroizing::new(name.to_string()))
    }

    fn update_member(
        &mut self,
        room: RoomKey,
        session: SessionId,
        out: &mut Vec<Effect>,
        change: impl FnOnce(&mut Member) -> bool,
    ) {
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let Some(member) = r.members.get_mut(&session) else {
            return;
        };
        if change(member) {
            let participant = member.public();
            broadcast(out, r.members.keys().copied(), ServerMsg::ParticipantUpdated { participant });
        }
    }

    /// A state toggle of the participant itself (`hand`, `media_state`):
    /// shown to the others at once within `Settings::toggle_burst`, else
    /// coalesced into one update on the next tick.
    fn toggle_member(
        &mut self,
        clock: Clock,
        room: RoomKey,
        session: SessionId,
        out: &mut Vec<Effect>,
        change: impl FnOnce(&mut Member) -> bool,
    ) {
        let burst = self.settings.toggle_burst;
        let Some(member) = self.rooms.get_mut(&room).and_then(|r| r.members.get_mut(&session)) else {
            return;
        };
        if !change(member) {
            return;
        }
        if !member.dirty && member.toggles.take(clock.now, burst, f64::from(burst) / 10.0) {
            self.update_member(room, session, out, |_| true);
        } else {
            member.dirty = true;
            self.dirty.insert((room, session));
        }
    }

    /// Shows the others the coalesced state changes (once a second).
    fn flush_toggles(&mut self, now: Instant, out: &mut Vec<Effect>) {
        for (room, session) in std::mem::take(&mut self.dirty) {
            let Some(member) = self.rooms.get_mut(&room).and_then(|r| r.members.get_mut(&session)) else {
                continue;
            };
            member.dirty = false;
            member.toggles.last = now;
            self.update_member(room, session, out, |_| true);
        }
    }

    fn chat(&mut self, clock: Clock, room: RoomKey, session: SessionId, text: &str, out: &mut Vec<Effect>) {
        let len = text.chars().count();
        if text.trim().is_empty() || len > MAX_CHAT_CHARS {
            return error(out, session, ErrorCode::ChatRejected, "chat text must be 1-2000 characters");
        }
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let Some(member) = r.members.get_mut(&session) else {
            return;
        };
        if !member.chat.take(clock.now, self.settings.chat_burst, self.settings.chat_per_second) {
            return error(out, session, ErrorCode::ChatRejected, "chat messages sent too fast");
        }
        let (from, from_name) = (member.id.clone(), member.display_name.to_string());
        let msg = ServerMsg::Chat { from, from_name, text: text.to_string(), ts: clock.unix_ms };
        broadcast(out, r.members.keys().copied(), msg);
    }

    fn on_media(&mut self, event: MediaEvent, out: &mut Vec<Effect>) {
        match event {
            MediaEvent::PublishAnswer { session, sdp } => {
                if self.joined(session) {
                    out.push(Effect::Send { to: session, msg: ServerMsg::PublishAnswer { sdp } });
                }
            }
            MediaEvent::SubscribeOffer { session, sdp, tracks } => {
                if self.joined(session) {
                    out.push(Effect::Send { to: session, msg: ServerMsg::SubscribeOffer { sdp, tracks } });
                } else {
                    tracing::debug!(session = session.0, "subscribe offer for a session not in a room: dropped");
                }
            }
            MediaEvent::AudioSlots { session, slots } => {
                if self.joined(session) {
                    out.push(Effect::Send { to: session, msg: ServerMsg::AudioSlots { slots } });
                }
            }
            MediaEvent::SdpRefused { session, reason } => {
                if self.joined(session) {
                    error(out, session, ErrorCode::BadSdp, &reason);
                }
            }
            MediaEvent::ActiveSpeaker { room, session } => {
                let Some(r) = self.rooms.get_mut(&room) else {
                    return;
                };
                let speaker = session.filter(|s| r.members.contains_key(s));
                if r.speaker == speaker {
                    return;
                }
                r.speaker = speaker;
                let id = speaker.and_then(|s| r.members.get(&s)).map(|m| m.id.clone());
                broadcast(out, r.members.keys().copied(), ServerMsg::ActiveSpeaker { id });
            }
            MediaEvent::Quality { session, quality } => {
                if let Some(room) = self.sessions.get(&session).and_then(|s| s.room) {
                    self.update_member(room, session, out, |m| std::mem::replace(&mut m.quality, quality) != quality);
                }
            }
            MediaEvent::Stalled { session, source } => {
                if self.joined(session) {
                    tracing::debug!(session = session.0, ?source, "media of a participant does not arrive");
                    out.push(Effect::Send { to: session, msg: ServerMsg::MediaStalled { source } });
                }
            }
            MediaEvent::SendLayers { session, source, layers } => {
                if self.joined(session) {
                    out.push(Effect::Send { to: session, msg: ServerMsg::SendLayers { source, layers } });
                }
            }
            MediaEvent::RecordingFailed { recording } => {
                let main = self.recording_meetings.iter().find(|(_, id)| **id == Some(recording)).map(|(k, _)| *k);
                if let Some(main) = main {
                    self.recording_failed(main, out);
                }
            }
            MediaEvent::Failed { session } => {
                if let Some(room) = self.sessions.get(&session).and_then(|s| s.room) {
                    self.remove_member(room, session, out);
                    self.sessions.remove(&session);
                    out.push(Effect::Media(MediaCommand::Leave { session }));
                    out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason: ByeReason::MediaFailed } });
                    out.push(Effect::Close { session });
                }
            }
        }
    }

    fn joined(&self, session: SessionId) -> bool {
        self.sessions.get(&session).is_some_and(|s| s.room.is_some())
    }

    fn shutdown(&mut self, out: &mut Vec<Effect>) {
        self.closing = true;
        let mut sessions: Vec<SessionId> = self.sessions.keys().copied().collect();
        sessions.sort();
        for session in sessions {
            out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason: ByeReason::ServerShutdown } });
            out.push(Effect::Close { session });
        }
        self.sessions.clear();
        for (mut name, _) in self.waiting.drain() {
            name.zeroize();
        }
        self.graces.clear();
        let keys: Vec<RoomKey> = self.rooms.keys().copied().collect();
        for key in keys {
            self.destroy_room(key);
        }
        self.p2p.clear();
        out.push(Effect::Media(MediaCommand::Shutdown));
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        // Display names are `Zeroizing` and wipe themselves; the name too.
        self.name.zeroize();
    }
}

/// How a `hello` (or `rejoin`) comes to the door.
enum Entry {
    Plain,
    /// `rejoin` with its ticket.
    Ticket(Zeroizing<String>),
    /// A patient's appointment link.
    Appointment(crate::protocol::AppointmentHello),
}

/// Characters that change how text around them is shown without showing
/// themselves: bidi marks, embeddings, overrides and isolates, zero-width
/// characters, the byte-order mark. Removed from display names.
pub(crate) fn invisible_format(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Sends `msg` to each of `to` ([`Effect::Broadcast`]); nothing when `to` is empty.
fn broadcast(out: &mut Vec<Effect>, to: impl IntoIterator<Item = SessionId>, msg: ServerMsg) {
    let to: Vec<SessionId> = to.into_iter().collect();
    if !to.is_empty() {
        out.push(Effect::Broadcast { to, msg });
    }
}

fn error(out: &mut Vec<Effect>, session: SessionId, code: ErrorCode, message: &str) {
    out.push(Effect::Send { to: session, msg: ServerMsg::Error { code, message: message.to_string() } });
}

/// A token bucket: `burst` messages at once, refilled at a steady rate.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(burst: u32, now: Instant) -> TokenBucket {
        TokenBucket { tokens: f64::from(burst), last: now }
    }

    fn take(&mut self, now: Instant, burst: u32, per_second: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.last).min(Duration::from_secs(3600));
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * per_second).min(f64::from(burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests;
