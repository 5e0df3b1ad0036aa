//! The benchmark scenarios (issue 4).
//!
//! - `seed-60`: one room of 60; 5 participants speak in turn with camera
//!   and microphone, the others listen (camera off, microphone muted: DTX);
//!   the server forwards with last-N 9. About the seeds' 16 Mbit/s in and
//!   43 Mbit/s out.
//! - `small-rooms`: 25 rooms of 4, everyone with camera and open
//!   microphone, one speaker at a time per room (the therapy group).
//! - `lecture`: one publisher (camera and microphone), 150 viewers who
//!   publish nothing and watch the speaker large (speaker view).
//! - `audio-100`: one room of 100, audio only; 5 speak in turn, 95 muted.
//! - `ramp`: rooms of 4, everyone with camera and microphone; one more
//!   participant per second until loss > 1 % or p99 latency > 150 ms.

use std::time::Duration;

/// What a participant's microphone does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mic {
    /// No microphone published.
    None,
    /// Published but muted: DTX.
    Muted,
    /// Open; speaks during turn `slot` of `of` (4 s turns), silent otherwise.
    Open { slot: usize, of: usize },
}

/// How the participant's page lays out remote videos (as the browser
/// client does: a grid of tiles, or one large speaker and a strip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Tiles,
    Speaker,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub room: usize,
    pub video: bool,
    pub mic: Mic,
    pub view: View,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    /// In join order.
    pub participants: Vec<Spec>,
    /// Time between two joins.
    pub join_interval: Duration,
    /// Keep adding participants until the thresholds are crossed.
    pub ramp: bool,
    /// Server setting the scenario assumes (Kabine's `media.last_n`).
    pub last_n: u32,
}

pub const NAMES: [&str; 5] = ["seed-60", "small-rooms", "lecture", "audio-100", "ramp"];

/// Ramp stops at this loss...
pub const RAMP_MAX_LOSS: f64 = 0.01;
/// ...or this p99 latency.
pub const RAMP_MAX_P99_MS: f64 = 150.0;

impl Scenario {
    /// The scenario `name`, optionally scaled to `participants` (small test
    /// runs); `None` for an unknown name.
    pub fn named(name: &str, participants: Option<usize>) -> Option<Scenario> {
        let fast = Duration::from_millis(50);
        let s = match name {
            "seed-60" => {
                let n = participants.unwrap_or(60).max(1);
                let speakers = n.min(5);
                let participants = (0..n)
                    .map(|i| Spec {
                        room: 0,
                        video: i < speakers,
                        mic: if i < speakers { Mic::Open { slot: i, of: speakers } } else { Mic::Muted },
                        view: View::Tiles,
                    })
                    .collect();
                Scenario { name: "seed-60", participants, join_interval: fast, ramp: false, last_n: 9 }
            }
            "small-rooms" => {
                let n = participants.unwrap_or(100).max(1);
                let rooms = n.div_ceil(4);
                // Rooms fill side by side, as groups arrive around the hour.
                let participants = (0..n)
                    .map(|i| Spec {
                        room: i % rooms,
                        video: true,
                        mic: Mic::Open { slot: i / rooms, of: 4 },
                        view: View::Tiles,
                    })
                    .collect();
                Scenario { name: "small-rooms", participants, join_interval: fast, ramp: false, last_n: 9 }
            }
            "lecture" => {
                let n = participants.unwrap_or(151).max(2);
                let participants = (0..n)
                    .map(|i| {
                        if i == 0 {
                            Spec { room: 0, video: true, mic: Mic::Open { slot: 0, of: 1 }, view: View::Speaker }
                        } else {
                            Spec { room: 0, video: false, mic: Mic::None, view: View::Speaker }
                        }
                    })
                    .collect();
                Scenario { name: "lecture", participants, join_interval: fast, ramp: false, last_n: 9 }
            }
            "audio-100" => {
                let n = participants.unwrap_or(100).max(1);
                let speakers = n.min(5);
                let participants = (0..n)
                    .map(|i| Spec {
                        room: 0,
                        video: false,
                        mic: if i < speakers { Mic::Open { slot: i, of: speakers } } else { Mic::Muted },
                        view: View::Tiles,
                    })
                    .collect();
                Scenario { name: "audio-100", participants, join_interval: fast, ramp: false, last_n: 9 }
            }
            "ramp" => {
                let n = participants.unwrap_or(400).max(1);
                let participants = (0..n)
                    .map(|i| Spec {
                        room: i / 4,
                        video: true,
                        mic: Mic::Open { slot: i % 4, of: 4 },
                        view: View::Tiles,
                    })
                    .collect();
                Scenario { name: "ramp", participants, join_interval: Duration::from_secs(1), ramp: true, last_n: 9 }
            }
            _ => return None,
        };
        Some(s)
    }

    pub fn rooms(&self) -> usize {
        self.participants.iter().map(|p| p.room + 1).max().unwrap_or(0)
    }
}

/// The browser client's stage: a 1280×720 area (device pixels) in a
/// laptop window, 8 px padding and gaps (see `call.js` `layout()`).
const STAGE: (f64, f64) = (1264.0, 704.0);
const GAP: f64 = 8.0;

/// Rendered size of every remote camera tile in a tiles view with `tiles`
/// tiles (the own tile included), as `call.js` computes it.
pub fn tile_size(tiles: usize) -> (u32, u32) {
    let n = tiles.max(1);
    let mut best = 0.0f64;
    for cols in 1..=n {
        let rows = n.div_ceil(cols) as f64;
        let c = cols as f64;
        let w = ((STAGE.0 - GAP * (c - 1.0)) / c).min((STAGE.1 - GAP * (rows - 1.0)) / rows * (16.0 / 9.0));
        best = best.max(w);
    }
    let w = best.floor().max(96.0);
    (w as u32, (w * 9.0 / 16.0).round() as u32)
}

/// Speaker view: the main tile and the strip's small tiles.
pub const SPEAKER_MAIN: (u32, u32) = (1104, 621);
pub const SPEAKER_STRIP: (u32, u32) = (160, 90);

/// The simulcast layer the server picks for a rendered size (the smaller
/// side: up to 200 px `l`, up to 400 px `m`, larger `h`; docs/protocol.md).
/// The Janus adapter asks for the same layer with `configure`.
pub fn layer_for_size(w: u32, h: u32) -> Option<usize> {
    let side = w.min(h);
    if side == 0 {
        None
    } else if side <= 200 {
        Some(0)
    } else if side <= 400 {
        Some(1)
    } else {
        Some(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_have_the_issue_shapes() {
        let s = Scenario::named("small-rooms", None).expect("known");
        assert_eq!((s.participants.len(), s.rooms()), (100, 25));
        let s = Scenario::named("seed-60", None).expect("known");
        assert_eq!(s.participants.iter().filter(|p| p.video).count(), 5);
        let s = Scenario::named("lecture", None).expect("known");
        assert_eq!(s.participants.iter().filter(|p| p.video).count(), 1);
        assert_eq!(s.participants.len(), 151);
        assert!(Scenario::named("nope", None).is_none());
    }

    #[test]
    fn tile_sizes_follow_the_client_layout() {
        // Four people: a 2×2 grid, tiles about 628×353: the middle layer.
        let (w, h) = tile_size(4);
        assert!((600..=640).contains(&w), "{w}");
        assert_eq!(layer_for_size(w, h), Some(1));
        // Sixty people: small tiles, the low layer.
        let (w, h) = tile_size(60);
        assert_eq!(layer_for_size(w, h), Some(0));
        assert_eq!(layer_for_size(SPEAKER_MAIN.0, SPEAKER_MAIN.1), Some(2));
    }
}
