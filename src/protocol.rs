//! The signalling protocol between browser and server: JSON text frames on
//! the WebSocket `/ws`, one tagged enum per direction. Written down for
//! people in `docs/protocol.md`; keep both in step.
//!
//! Every message is an object with a `type` field. Unknown types, unknown
//! fields and duplicate keys are refused. The first message a client sends is
//! `hello`, carrying [`PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest message accepted, in bytes. Larger ones close the connection with 1009.
/// Subscribe answers of big rooms fit because they are compacted
/// (docs/protocol.md; `crate::sfu::sdp::compact_answer`).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2000;

/// Largest SDP of a direct (peer-to-peer) connection relayed, in bytes.
pub const MAX_P2P_SDP_BYTES: usize = 32 * 1024;

/// Longest ICE candidate line of a direct connection relayed, in bytes.
pub const MAX_P2P_CANDIDATE_BYTES: usize = 512;

/// Longest `sdp_mid` of a relayed candidate, in bytes.
pub const MAX_P2P_MID_BYTES: usize = 32;

/// Most candidates one browser may send per direct-call attempt.
pub const MAX_P2P_CANDIDATES: u32 = 100;

/// Longest `data` of an `e2ee` message relayed, in bytes (base64url).
pub const MAX_E2EE_DATA_BYTES: usize = 1024;

/// Paths of the server that are not rooms (a room's page is `/<room>`).
/// (On one line: tests/it/client_contract.rs compares it with the client's list.)
#[rustfmt::skip]
const RESERVED_NAMES: &[&str] = &["static", "api", "health", "ws", "account", "favicon.ico", "robots.txt", "t", "sessions"];

/// Longest `lobby_message` text, in characters.
pub const MAX_LOBBY_MESSAGE_CHARS: usize = 200;

/// Room names (`hello.room`, and the path of a room's page): 1 to 64
/// letters, digits, `-`, `_` or `.` (not starting with `.`), and none of
/// the server's own paths.
pub fn room_name_is_valid(name: &str) -> bool {
    let len = name.chars().count();
    (1..=64).contains(&len)
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// A participant's id: random, unique within the server, meaningless outside it.
pub type ParticipantId = String;

/// What a published track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Mic,
    Camera,
    Screen,
}

/// One track in a publish offer: which m-line carries which source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedTrack {
    pub mid: String,
    pub source: Source,
}

/// One track in a subscribe offer: whose source an m-line carries. A track
/// whose m-line is no longer listed has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribedTrack {
    pub mid: String,
    pub participant: ParticipantId,
    pub source: Source,
}

/// One audio slot of the subscribe connection: an audio m-line whose
/// stream carries the participant named (`None`: nobody now). In rooms
/// larger than the number of slots the participant changes with who speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioSlot {
    pub mid: String,
    pub participant: Option<ParticipantId>,
}

/// How large the client renders one remote video, in CSS pixels times
/// devicePixelRatio; 0×0 means not shown at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoSize {
    pub participant: ParticipantId,
    pub source: Source,
    pub width: u32,
    pub height: u32,
}

/// Messages from the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// First message: join `room` under `display_name`. `appointment`: a
    /// patient's appointment link and the consent version accepted
    /// (docs/protocol.md, "Appointments"); absent otherwise.
    Hello {
        version: u32,
        room: String,
        display_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        appointment: Option<AppointmentHello>,
    },
    /// SDP offer of the publishing connection (browser → server media) and
    /// which m-line carries what. Sent again whenever tracks change.
    PublishOffer { sdp: String, tracks: Vec<PublishedTrack> },
    /// SDP answer to a `subscribe_offer`.
    SubscribeAnswer { sdp: String },
    /// The state of the own microphone, camera and screen share, as shown to others.
    MediaState { mic: bool, camera: bool, screen: bool },
    /// Raise or lower the own hand.
    Hand { raised: bool },
    /// A chat message to the whole room.
    Chat { text: String },
    /// Rendered sizes of remote videos, for simulcast layer choice.
    VideoSizes { sizes: Vec<VideoSize> },
    /// Leave the room; the server closes the connection.
    Leave {},
    /// Direct call (see `p2p_start`): the SDP offer of the direct connection;
    /// only the offerer sends it, once per attempt.
    P2pOffer { epoch: u64, sdp: String },
    /// Direct call: the SDP answer; only the answerer sends it, once.
    P2pAnswer { epoch: u64, sdp: String },
    /// Direct call: one ICE candidate of the direct connection (trickled).
    P2pCandidate {
        epoch: u64,
        candidate: String,
        #[serde(default)]
        sdp_mid: Option<String>,
        #[serde(default)]
        sdp_m_line_index: Option<u16>,
    },
    /// Direct call: this browser now plays the other's media from the
    /// direct connection.
    P2pReady { epoch: u64 },
    /// Direct call: the direct connection failed (or this client cannot
    /// make one); the call stays on the server.
    P2pFailed { epoch: u64 },
    /// Instead of `hello` after a lost connection: join again with the
    /// `ticket` the server gave at the last join. A valid ticket skips the
    /// room password and the lobby of the meeting one was already let into.
    Rejoin { version: u32, room: String, display_name: String, ticket: String },
    /// Answer to `password_required`: the room password.
    Password { password: String },
    /// A chat message to one participant of the same room (unless the
    /// operator disabled private chat).
    PrivateChat { to: ParticipantId, text: String },
    /// The participant's own decision to use a source again that a
    /// moderator muted; `media_state` then shows it as on.
    Unmute { source: Source },
    // ---- moderators only (docs/protocol.md, "Moderation") ----
    /// Mute a participant's microphone or camera (or stop their screen share).
    Mute { id: ParticipantId, source: Source },
    /// Mute everyone else in the moderator's room.
    MuteAll { source: Source },
    /// Ask a participant to turn a source on again; they decide.
    AskUnmute { id: ParticipantId, source: Source },
    /// Remove a participant from the meeting.
    Remove { id: ParticipantId },
    /// Lower every raised hand in the moderator's room.
    LowerHands {},
    /// End the meeting for everyone.
    EndMeeting {},
    /// Make a participant a moderator too.
    GrantModerator { id: ParticipantId },
    /// Set the room password (`null` or empty: remove it).
    SetPassword { password: Option<String> },
    /// Turn the lobby on or off.
    SetLobby { enabled: bool },
    /// Let someone waiting in the lobby in.
    LobbyAdmit { id: ParticipantId },
    /// A short message to someone waiting in the lobby ("5 minutes").
    LobbyMessage { id: ParticipantId, text: String },
    /// Turn someone waiting in the lobby away.
    LobbyDeny { id: ParticipantId },
    /// Create breakout rooms with these names.
    BreakoutCreate { names: Vec<String> },
    /// Move a participant to a breakout room (`null`: the main room).
    BreakoutAssign { id: ParticipantId, room: Option<String> },
    /// Spread the main room's participants (moderators stay) over the
    /// breakout rooms at random.
    BreakoutRandom {},
    /// A message to everyone in the meeting, breakout rooms included.
    BreakoutBroadcast { text: String },
    /// Close every breakout room; everyone returns to the main room.
    BreakoutCloseAll {},
    /// Ask everyone in the meeting to consent to a recording; it starts
    /// once everyone has answered (docs/protocol.md, "Recording"). The
    /// asking moderator consents by asking.
    RecordStart {},
    /// Stop the recording (or the asking) at once.
    RecordStop {},
    /// Turn end-to-end encryption on for the meeting (`e2ee.mode =
    /// "optional"`); it stays on until the meeting ends.
    EnableE2ee {},
    // ---- everyone ----
    /// Appointment rooms: ask to share the screen (a patient asks the
    /// moderators, the therapist every patient).
    ScreenRequest {},
    /// Appointment rooms: the answer to someone's `screen_request`.
    ScreenAnswer { id: ParticipantId, allow: bool },
    /// Answer to `recording_consent_request`; `false` later withdraws a
    /// consent given: that participant's recording stops at once.
    RecordingConsent { agree: bool },
    // ---- end-to-end encryption (docs/e2ee.md) ----
    /// A key-exchange message for one participant of the room (`to`), or
    /// for everyone else in it (`to` null). `data` is opaque to the server:
    /// base64url, at most [`MAX_E2EE_DATA_BYTES`]. Relayed only within the
    /// room, only while the meeting is end-to-end encrypted, never stored
    /// or logged.
    E2ee {
        #[serde(default)]
        to: Option<ParticipantId>,
        data: String,
    },
}

/// The appointment part of a patient's `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentHello {
    /// The token of the patient's link (`/t/<token>`).
    pub token: String,
    /// The consent version the patient accepted.
    pub consent: String,
}

/// What `welcome` tells about the appointment of an appointment room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WelcomeAppointment {
    /// The appointment's id: for its therapist only (`null` for patients).
    pub id: Option<String>,
    pub title: Option<String>,
    /// Planned start, unix seconds.
    pub start: i64,
    pub duration_minutes: u32,
    /// When the therapist first opened the meeting, unix seconds.
    pub started_at: Option<i64>,
    pub practice: String,
    /// `therapist` or `patient`.
    pub role: AppointmentRole,
}

/// Who someone is in an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentRole {
    Therapist,
    Patient,
}

/// A participant as every other participant sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    pub id: ParticipantId,
    pub display_name: String,
    pub mic: bool,
    pub camera: bool,
    pub screen: bool,
    pub hand: bool,
    /// Connection quality as the server measures it: `good`, `fair`, `poor`
    /// or `unknown` until measured.
    pub quality: Quality,
    /// Moderates the meeting (absent in older messages: `false`).
    #[serde(default)]
    pub moderator: bool,
    /// Came with the login session of an account that may host (staff):
    /// the client shows a badge, so a guest who calls themselves like the
    /// therapist is told apart (absent in older messages: `false`).
    #[serde(default)]
    pub host: bool,
}

/// Connection quality of a participant's media connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Unknown,
    Good,
    Fair,
    Poor,
}

/// A STUN/TURN server for the browser's RTCPeerConnection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServerInfo {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
}

impl From<&crate::config::IceServer> for IceServerInfo {
    fn from(s: &crate::config::IceServer) -> Self {
        IceServerInfo { urls: s.urls.clone(), username: s.username.clone(), credential: s.credential.clone() }
    }
}

/// Error codes; the client shows a message per code in its language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not valid JSON, unknown type or field, duplicate key, wrong type.
    BadMessage,
    /// `hello.version` is not one this server speaks.
    UnsupportedVersion,
    /// A message that needs `hello` first, or a second `hello`.
    NotJoined,
    /// Room name not allowed (see `docs/protocol.md`).
    BadRoomName,
    /// Display name empty (when required) or too long.
    BadDisplayName,
    /// The room has `rooms.max_participants` participants.
    RoomFull,
    /// The server has `rooms.max_rooms` rooms, or too many people from the
    /// same network address wait to join (`rooms.max_waiting_per_address`).
    ServerFull,
    /// An SDP the server could not use.
    BadSdp,
    /// Chat text empty or too long, or sent too fast.
    ChatRejected,
    /// The server failed; the client may retry.
    Internal,
    /// The operator requires everyone to log in first (access mode `closed`).
    LoginRequired,
    /// A moderator message from someone who is not a moderator; nothing changed.
    NotModerator,
    /// No such participant (or lobby guest, or breakout room) in this meeting.
    UnknownParticipant,
    /// A room password that cannot be used (too long, control characters).
    BadPassword,
    /// Private chat is turned off on this server.
    PrivateChatDisabled,
    /// A breakout request that cannot be done (names, number of rooms).
    BadBreakout,
    /// Moderator rights for someone who is not a logged-in host, on a
    /// server in `secure` or `closed` mode; nothing changed.
    HostsOnly,
    /// Recording is off on this server, the meeting is end-to-end
    /// encrypted, or a recording is already running or being asked for.
    RecordingUnavailable,
    /// To the moderator who asked: someone declined, so the recording does
    /// not start (`recording.on_decline = "cancel"`).
    RecordingDeclined,
    /// End-to-end encryption cannot be turned on here (`e2ee.mode = "off"`,
    /// or the meeting has more than `e2ee.max_participants`), or an `e2ee`
    /// message in a meeting without it.
    E2eeUnavailable,
    /// An appointment link that does not open this room now: unknown,
    /// revoked, expired, not yet open, or for another room (the message
    /// says which); or an appointment room entered without a link and
    /// without its therapist's login. The connection closes.
    AppointmentInvalid,
    /// The patient has not accepted the current consent text.
    ConsentRequired,
    /// Another connection uses this appointment link now.
    LinkInUse,
    /// An appointment room of another therapist.
    NotYourSession,
    /// Not possible in an appointment room (the lobby stays on).
    NotAllowed,
    /// Screen sharing in an appointment room without the others' consent.
    ScreenNotAllowed,
}

/// Where a meeting's recording stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Nothing is recorded.
    Off,
    /// A moderator asked; waiting for everyone's answer. Nothing is recorded yet.
    Asking,
    /// Recording the participants in `agreed`.
    On,
}

/// Messages from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMsg {
    /// Answer to `hello`: who you are and who is here.
    Welcome {
        version: u32,
        you: Participant,
        participants: Vec<Participant>,
        ice_servers: Vec<IceServerInfo>,
        /// Video of at most this many recent speakers is forwarded (0: all).
        last_n: u32,
        /// The meeting is end-to-end encrypted: encrypt every frame before
        /// the first one is sent (docs/e2ee.md). Absent from servers before
        /// it existed: `false`.
        #[serde(default)]
        e2ee: bool,
        /// In an appointment room: the appointment (absent elsewhere).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        appointment: Option<WelcomeAppointment>,
    },
    ParticipantJoined {
        participant: Participant,
    },
    ParticipantUpdated {
        participant: Participant,
    },
    ParticipantLeft {
        id: ParticipantId,
    },
    /// SDP answer to `publish_offer`.
    PublishAnswer {
        sdp: String,
    },
    /// SDP offer of the subscribing connection (server media → browser) and
    /// whose video each m-line carries (audio m-lines are slots, see
    /// `AudioSlots`). Answer with `subscribe_answer`.
    SubscribeOffer {
        sdp: String,
        tracks: Vec<SubscribedTrack>,
    },
    /// Who is heard on which audio m-line of the subscribe connection: every
    /// audio slot, sent after each subscribe offer that adds slots and
    /// whenever an occupant changes. Replaces the previous map.
    AudioSlots {
        slots: Vec<AudioSlot>,
    },
    /// The participant speaking now (`None`: silence).
    ActiveSpeaker {
        id: Option<ParticipantId>,
    },
    /// A chat message; `from` is set by the server, never by the sender.
    Chat {
        from: ParticipantId,
        from_name: String,
        text: String,
        ts: u64,
    },
    /// Something went wrong with the last message; the connection stays open
    /// unless the server follows with `bye`.
    Error {
        code: ErrorCode,
        message: String,
    },
    /// Nothing arrives of `source`, although `media_state` says it is on:
    /// the browser repairs what it can (docs/protocol.md, *When media does
    /// not arrive*). Repeated every few seconds while it lasts.
    MediaStalled {
        source: Source,
    },
    /// Send only the lowest `layers` simulcast layers of `source` (1 = `l`,
    /// 2 = `l` and `m`, 3 = all): nobody receives the others now. Sent when
    /// it changes, and again after each `publish_answer`; a newer one
    /// replaces the last (docs/protocol.md, *Layers nobody receives*).
    SendLayers {
        source: Source,
        layers: u8,
    },
    /// The server ends the session (shutdown, removed, room ended); it closes
    /// the connection next.
    Bye {
        reason: ByeReason,
    },
    /// Not joined yet: waiting for a host, or in the lobby. `welcome` follows
    /// when the wait is over (or `bye`).
    Waiting {
        reason: WaitReason,
    },
    /// The room has a password: answer with `password`. `wrong`: the last
    /// one was wrong; `retry_after_secs` > 0: too many wrong guesses, wait.
    PasswordRequired {
        wrong: bool,
        retry_after_secs: u64,
    },
    /// After `welcome`: a secret for `rejoin` after a lost connection.
    Ticket {
        ticket: String,
    },
    /// The room's settings, after `welcome` and on every change. The
    /// password itself is never sent, only whether there is one.
    RoomState {
        locked: bool,
        lobby: bool,
        private_chat: bool,
        /// The meeting is end-to-end encrypted (once on, it stays on).
        #[serde(default)]
        e2ee: bool,
    },
    /// To moderators: who waits in the lobby (the whole list, on every change).
    Lobby {
        knocking: Vec<Person>,
    },
    /// To someone waiting in the lobby: a moderator's `lobby_message`.
    WaitingMessage {
        text: String,
        from_name: String,
    },
    /// Appointment rooms: someone asks to share their screen; answer with
    /// `screen_answer`.
    ScreenRequest {
        id: ParticipantId,
        name: String,
    },
    /// Appointment rooms: the answer to one's own `screen_request`.
    ScreenAnswer {
        allow: bool,
        by_name: String,
    },
    /// To the participant: a moderator muted this source.
    Muted {
        source: Source,
        by: ParticipantId,
        by_name: String,
    },
    /// To the participant: a moderator asks them to turn this source on.
    UnmuteRequest {
        source: Source,
        by: ParticipantId,
        by_name: String,
    },
    /// To the participant: they were moved to a breakout room (`null`: back
    /// to the main room). `participants` replaces the participant list.
    Moved {
        room: Option<BreakoutPlace>,
        participants: Vec<Participant>,
    },
    /// To moderators: the breakout rooms and who is where (empty `rooms`:
    /// none open). `main` lists the main room.
    Breakouts {
        rooms: Vec<BreakoutRoom>,
        main: Vec<Person>,
    },
    /// A moderator's message to the whole meeting.
    Broadcast {
        from: ParticipantId,
        from_name: String,
        text: String,
        ts: u64,
    },
    /// A private chat message; sent to the recipient and echoed to the sender.
    PrivateChat {
        from: ParticipantId,
        from_name: String,
        to: ParticipantId,
        text: String,
        ts: u64,
    },
    /// The room has exactly two participants: set up a direct connection
    /// with `peer`. The offerer makes the offer; ICE servers for it are
    /// this server's own STUN port (and the operator's allowed ones).
    P2pStart {
        epoch: u64,
        peer: ParticipantId,
        offerer: bool,
        ice_servers: Vec<IceServerInfo>,
    },
    /// The peer's offer for the direct connection (`from` set by the server).
    P2pOffer {
        epoch: u64,
        from: ParticipantId,
        sdp: String,
    },
    /// The peer's answer for the direct connection.
    P2pAnswer {
        epoch: u64,
        from: ParticipantId,
        sdp: String,
    },
    /// One ICE candidate of the peer's direct connection.
    P2pCandidate {
        epoch: u64,
        from: ParticipantId,
        candidate: String,
        sdp_mid: Option<String>,
        sdp_m_line_index: Option<u16>,
    },
    /// Both browsers play each other's media from the direct connection:
    /// the server forwards nothing for the room now; stop sending to it.
    P2pDirect {
        epoch: u64,
    },
    /// The direct call ends: send to the server again and switch back to
    /// its streams once they play; then close the direct connection.
    P2pStop {
        epoch: u64,
        reason: P2pStopReason,
    },
    /// A key-exchange message from `from` (set by the server), relayed
    /// unchanged (docs/e2ee.md).
    E2ee {
        from: ParticipantId,
        data: String,
    },
    /// The meeting's recording, to everyone in it, after `welcome` and on
    /// every change: who agreed (and, while `on`, is recorded), who
    /// declined (never recorded), who has not answered yet.
    Recording {
        state: RecordingState,
        agreed: Vec<ParticipantId>,
        declined: Vec<ParticipantId>,
        pending: Vec<ParticipantId>,
    },
    /// To one participant: a moderator wants to record; answer with
    /// `recording_consent`. Nothing of this participant is recorded before
    /// they agree.
    RecordingConsentRequest {
        by: ParticipantId,
        by_name: String,
    },
}

/// Why a direct call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum P2pStopReason {
    /// The room no longer has exactly these two participants.
    Participants,
    /// The direct connection failed or did not connect in time.
    Failed,
}

/// Why the server ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByeReason {
    /// The client sent `leave`.
    Left,
    /// The server is shutting down; reconnect later.
    ServerShutdown,
    /// The media connection failed and could not be recovered.
    MediaFailed,
    /// Joined again from another connection with the same session.
    Replaced,
    /// A moderator removed the participant.
    Removed,
    /// A moderator ended the meeting for everyone, or its last participant left.
    MeetingEnded,
    /// A moderator turned the guest away at the lobby.
    LobbyDenied,
    /// Waited (for a host, the password or the lobby) longer than the
    /// server allows (`rooms.max_wait_minutes`).
    WaitExpired,
    /// The practice withdrew the appointment link this session came with.
    LinkRevoked,
}

/// Why a session waits instead of joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// No host has opened the room yet (access mode `secure` or `closed`).
    Host,
    /// The lobby is on: a moderator lets the guest in or turns them away.
    Lobby,
}

/// Someone named, outside the participant list: a guest in the lobby, or a
/// participant in another room of the meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub id: ParticipantId,
    pub display_name: String,
    /// In the lobby of an appointment room: the link the person came with
    /// (`Patient 2`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A breakout room as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakoutPlace {
    pub id: String,
    pub name: String,
}

/// A breakout room as moderators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakoutRoom {
    pub id: String,
    pub name: String,
    pub participants: Vec<Person>,
}

/// Parses one client frame, refusing duplicate keys anywhere in it.
pub fn parse_client_msg(text: &str) -> Result<ClientMsg, String> {
    reject_duplicate_keys(text)?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// serde's derive refuses duplicate struct fields but internally tagged enums
/// buffer the object first, so duplicates are checked on the raw JSON.
fn reject_duplicate_keys(text: &str) -> Result<(), String> {
    use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use std::collections::HashSet;

    struct Check;
    impl<'de> DeserializeSeed<'de> for Check {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Check)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if !seen.insert(key.to_string()) {
                    return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
                }
                map.next_value_seed(Check)?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Check)?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    Check.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips() {
        let m = parse_client_msg(r#"{"type":"hello","version":1,"room":"r1","display_name":"Ada"}"#)
            .expect("valid hello parses");
        assert_eq!(
            m,
            ClientMsg::Hello { version: 1, room: "r1".into(), display_name: "Ada".into(), appointment: None }
        );
        let m = parse_client_msg(
            r#"{"type":"hello","version":1,"room":"t-x","display_name":"Ada","appointment":{"token":"tok","consent":"v"}}"#,
        )
        .expect("a patient's hello parses");
        assert!(matches!(m, ClientMsg::Hello { appointment: Some(AppointmentHello { .. }), .. }));
        assert!(
            parse_client_msg(
                r#"{"type":"hello","version":1,"room":"t-x","display_name":"Ada","appointment":{"token":"t","consent":"v","x":1}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(parse_client_msg(r#"{"type":"hand","raised":true,"raised":false}"#).is_err());
        assert!(parse_client_msg(r#"{"type":"hand","type":"hand","raised":true}"#).is_err());
        assert!(
            parse_client_msg(
                r#"{"type":"video_sizes","sizes":[{"participant":"a","participant":"b","source":"camera","width":1,"height":1}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        assert!(parse_client_msg(r#"{"type":"hand","raised":true,"extra":1}"#).is_err());
        assert!(parse_client_msg(r#"{"type":"fly"}"#).is_err());
        assert!(parse_client_msg(r#"{"type":"leave"}"#).is_ok());
        assert!(parse_client_msg("[]").is_err());
        assert!(parse_client_msg("{").is_err());
    }
}
