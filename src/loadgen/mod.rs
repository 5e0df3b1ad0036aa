//! Load generation: synthetic participants that join rooms the way a
//! browser does (signalling over WebSocket, two str0m peer connections)
//! and publish synthetic media. Used by the integration tests, and the base
//! of the benchmark load generator.
//!
//! - [`peer`]: one synthetic WebRTC participant.
//! - [`payload`]: whether forwarded video is real VP8 or ciphertext.
//! - [`frame_crypto`]: the browser client's frame encryption, for peers
//!   that are not browsers.

pub mod frame_crypto;
pub mod payload;
pub mod peer;

pub use peer::{PeerConfig, PeerReport, SlotStats, SyntheticPeer, TrackStats, audio_publisher};
