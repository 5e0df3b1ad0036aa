//! The synthetic participant of the integration tests: it joins rooms the
//! way a browser does (signalling over WebSocket, two str0m peer
//! connections), publishes synthetic media and reports what it received.
//!
//! - [`peer`]: one synthetic WebRTC participant.
//! - [`payload`]: whether forwarded video is real VP8 or ciphertext.
//! - [`frame_crypto`]: the browser client's frame encryption, for peers
//!   that are not browsers.
//!
//! `kabine audit`'s live E2EE probe uses the same peer, payload check and
//! frame encryption, so the audit proves what the tests prove.
//!
//! The benchmark load generator (`src/bin/kabine-loadgen`) is a second
//! synthetic client, on purpose; they share the wire types
//! ([`crate::protocol`]) and the answer compaction ([`crate::sfu::sdp`]),
//! not their drivers:
//!
//! - A test needs one participant as an object to steer and inspect: a
//!   task of its own per participant, a detailed [`PeerReport`] (every
//!   message, slot map, sequence gap, keyframe request) and controls
//!   (send any message, request a keyframe, change the audio level,
//!   vanish). A benchmark needs 200 participants on one core of the
//!   machine with its own CPU below 90 %: one media loop owns every `Rtc`
//!   and socket, nothing is reported per message, and it also speaks
//!   Janus's VideoRoom API to measure Janus under the same load.
//! - The generator's media (packet sizes, keyframe ratio, latency stamps)
//!   define the figures in docs/performance.md; sharing a media module with
//!   the tests would let a test's need change what every earlier benchmark
//!   measured.

pub mod frame_crypto;
pub mod payload;
pub mod peer;

pub use peer::{PeerConfig, PeerReport, SlotStats, SyntheticPeer, TrackStats, audio_publisher};
