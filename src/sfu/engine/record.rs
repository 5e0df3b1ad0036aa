//! The recorder's seat in the media engine: the RTP of participants who
//! consented to a recording (and only theirs) goes to the recorder
//! (`crate::record`) as well as to the subscribers.
//!
//! The recorder is fed like a subscriber: per recorded source a
//! [`Rewriter`] makes one continuous stream out of the simulcast layers,
//! taking the best layer the publisher sends now, switching only on a
//! keyframe of it (asked for, throttled like any subscriber's). A source a
//! moderator muted reaches nobody, the recorder included
//! (`forward::receive`). What goes out is collected in
//! [`Recording::out`] and taken by the media task
//! ([`Engine::take_recorded`]), which hands it over without waiting.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::rtp::RtpPacket;

use super::Engine;
use super::forward::Incoming;
use crate::protocol::Source;
use crate::record::RecordMsg;
use crate::record::frames::Packet;
use crate::room::SessionId;
use crate::room::media::{MediaEvent, RecordCommand};
use crate::sfu::layers::LAYERS;
use crate::sfu::rewrite::{Decision, Rewriter};

/// Who is being recorded, and what is waiting for the recorder.
#[derive(Default)]
pub(super) struct Recording {
    sessions: HashMap<SessionId, Recorded>,
    out: Vec<RecordMsg>,
}

impl Recording {
    /// Whether `session`'s media goes to the recorder.
    pub(super) fn includes(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }
}

/// One recorded participant: their recording and a rewriter per source
/// (mic, camera, screen).
struct Recorded {
    recording: u64,
    rewriters: [Rewriter; 3],
}

fn index(source: Source) -> usize {
    match source {
        Source::Mic => 0,
        Source::Camera => 1,
        Source::Screen => 2,
    }
}

impl Engine {
    /// A recording command from the rooms.
    pub(super) fn record_command(&mut self, now: Instant, cmd: RecordCommand) {
        match cmd {
            RecordCommand::Start { recording, room, unix_ms, .. } => {
                self.recording.out.push(RecordMsg::Start { id: recording, room, unix_ms, at: now });
            }
            RecordCommand::Record { recording, session, participant, display_name } => {
                if !self.peers.contains_key(&session) {
                    return;
                }
                let rewriters = [Rewriter::new(48_000), Rewriter::new(90_000), Rewriter::new(90_000)];
                self.recording.sessions.insert(session, Recorded { recording, rewriters });
                self.recording.out.push(RecordMsg::Participant {
                    id: recording,
                    session: session.0,
                    participant,
                    display_name,
                    at: now,
                });
            }
            RecordCommand::Unrecord { recording, session } => self.unrecord(recording, session),
            RecordCommand::Stop { recording, unix_ms } => {
                self.recording.sessions.retain(|_, r| r.recording != recording);
                self.recording.out.push(RecordMsg::Stop { id: recording, unix_ms });
            }
        }
    }

    /// The participant is no longer recorded (also when they leave).
    pub(super) fn unrecord(&mut self, recording: u64, session: SessionId) {
        if self.recording.sessions.get(&session).is_some_and(|r| r.recording == recording) {
            self.recording.sessions.remove(&session);
            self.recording.out.push(RecordMsg::ParticipantEnd { id: recording, session: session.0 });
        }
    }

    /// The participant's media session ended.
    pub(super) fn unrecord_peer(&mut self, session: SessionId) {
        if let Some(r) = self.recording.sessions.get(&session) {
            let recording = r.recording;
            self.unrecord(recording, session);
        }
    }

    /// A publisher's packet: to the recorder too, if they are recorded.
    pub(super) fn record_packet(&mut self, now: Instant, session: SessionId, packet: &RtpPacket, p: &Incoming) {
        let Some(rec) = self.recording.sessions.get_mut(&session) else {
            return;
        };
        let target = if p.simulcast {
            // The best layer the publisher sends now.
            let track = self.peers.get(&session).and_then(|peer| peer.tracks.iter().find(|t| t.source == p.source));
            track.and_then(|t| (0..LAYERS).rev().find(|l| t.meters[*l].active(now))).map(|l| l as u8)
        } else {
            Some(0)
        };
        let rewriter = &mut rec.rewriters[index(p.source)];
        let recording = rec.recording;
        match rewriter.forward(target, &p.input) {
            Decision::Forward { out, .. } => {
                self.recording.out.push(RecordMsg::Packet {
                    id: recording,
                    session: session.0,
                    source: p.source,
                    packet: Packet {
                        seq: out.seq,
                        ts: out.ts,
                        marker: packet.header.marker,
                        payload: Arc::clone(&packet.payload),
                        arrival: now,
                    },
                });
            }
            Decision::Drop => {
                if let Some(layer) = target
                    && rewriter.current() != target
                    && p.kind == MediaKind::Video
                {
                    self.request_keyframe(now, session, p.source, layer, KeyframeRequestKind::Pli);
                }
            }
        }
    }

    /// What the recorder gets next, in order.
    pub fn take_recorded(&mut self) -> Vec<RecordMsg> {
        std::mem::take(&mut self.recording.out)
    }

    /// The recorder could not take a command: the recording stops here, and
    /// the rooms are told.
    pub fn recording_failed(&mut self, recording: u64) {
        self.recording.sessions.retain(|_, r| r.recording != recording);
        self.events.push(MediaEvent::RecordingFailed { recording });
    }
}
