//! The vocabulary between rooms and the media server: what a room asks of
//! the SFU ([`MediaCommand`]) and what the SFU reports back ([`MediaEvent`]).
//!
//! These types live with the rooms so that imports point one way: the SFU
//! knows rooms' identifiers, rooms know nothing about WebRTC.

use crate::protocol::{AudioSlot, ParticipantId, PublishedTrack, Quality, Source, SubscribedTrack, VideoSize};

use super::{RoomKey, SessionId};

/// What the room logic asks of the media server.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// A participant joined `room`: prepare their media session. `participant`
    /// is the public id used in the `tracks` lists of subscribe offers.
    Join { session: SessionId, room: RoomKey, participant: ParticipantId },
    /// The participant moves to another room (breakout rooms): their
    /// tracks are forwarded to the members of `room` from now on.
    Move { session: SessionId, room: RoomKey },
    /// A moderator muted (`muted`) one of the participant's sources, or the
    /// participant turned it on again: while muted, the SFU forwards none
    /// of its packets (and the audio does not count for the active speaker).
    Mute { session: SessionId, source: Source, muted: bool },
    /// The participant left: drop their media session.
    Leave { session: SessionId },
    /// SDP offer of the participant's publish connection.
    PublishOffer { session: SessionId, sdp: String, tracks: Vec<PublishedTrack> },
    /// SDP answer to the last subscribe offer the SFU made.
    SubscribeAnswer { session: SessionId, sdp: String },
    /// Rendered sizes of remote videos, by public participant id.
    VideoSizes { session: SessionId, sizes: Vec<VideoSize> },
    /// The server is stopping: close every media session and finish.
    Shutdown,
    /// The two members of `room` talk directly (`true`): forward nothing
    /// in the room; or no longer (`false`): forward again, from keyframes.
    Direct { room: RoomKey, direct: bool },
    /// What the participant says it sends (`media_state`, a moderator's
    /// mute applied): the SFU reports a source that is on and delivers
    /// nothing ([`MediaEvent::Stalled`]).
    Sending { session: SessionId, mic: bool, camera: bool, screen: bool },
    /// A recording of a meeting starts, changes or stops (`crate::record`).
    Recording(RecordCommand),
}

/// What the rooms ask of the recorder, through the media server: only the
/// media of participants named in [`RecordCommand::Record`] (those who
/// consented) is handed to the recorder.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordCommand {
    /// A recording starts; `room` names it in its (encrypted) manifest,
    /// `main` is the meeting's main room (whose engine shard records it).
    Start { recording: u64, main: RoomKey, room: String, unix_ms: u64 },
    /// Record this participant's media from now on.
    Record { recording: u64, session: SessionId, participant: ParticipantId, display_name: String },
    /// Stop recording this participant (left, withdrew consent).
    Unrecord { recording: u64, session: SessionId },
    /// The recording stops; its files are closed.
    Stop { recording: u64, unix_ms: u64 },
}

/// What the media server reports to the room logic. Sent with `try_send`:
/// media never waits for signalling.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// Answer to a publish offer.
    PublishAnswer { session: SessionId, sdp: String },
    /// A new offer for the participant's subscribe connection.
    SubscribeOffer { session: SessionId, sdp: String, tracks: Vec<SubscribedTrack> },
    /// Who is heard on which audio slot of the participant's subscribe
    /// connection (the whole map).
    AudioSlots { session: SessionId, slots: Vec<AudioSlot> },
    /// An SDP (offer or answer) the SFU could not use; nothing changed.
    SdpRefused { session: SessionId, reason: String },
    /// The active speaker of a room changed (`None`: silence).
    ActiveSpeaker { room: RoomKey, session: Option<SessionId> },
    /// Measured connection quality of a participant's media changed.
    Quality { session: SessionId, quality: Quality },
    /// A source the participant says it sends delivers nothing (see
    /// [`crate::sfu::health`]); repeated while it lasts.
    Stalled { session: SessionId, source: Source },
    /// Of the participant's simulcast `source`, only the lowest `layers`
    /// are received by anyone: it may stop encoding and sending the others.
    SendLayers { session: SessionId, source: Source, layers: u8 },
    /// The participant's media failed beyond repair; the session ends.
    Failed { session: SessionId },
    /// The recorder could not keep up or write: the recording has stopped.
    RecordingFailed { recording: u64 },
}
