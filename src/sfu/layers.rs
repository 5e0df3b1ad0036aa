//! Which simulcast layer each subscriber gets of each video.
//!
//! The browser publishes its camera in three layers: `l` (a quarter of the
//! resolution), `m` (half) and `h` (full). A subscriber reports how large it
//! renders each remote video (`video_sizes`); the layer that fits that size
//! is what it wants. The bandwidth estimate for the subscriber then caps the
//! sum: every visible video gets at least its lowest available layer, and
//! the remaining budget upgrades videos one step at a time, the most
//! important first (the active speaker, then the largest on screen).
//!
//! Sans-IO and pure: inputs in, choices out.

use std::time::{Duration, Instant};

/// Layer indices: 0 = `l`, 1 = `m`, 2 = `h`.
pub const LAYERS: usize = 3;

/// The rid of each layer, as the browser names them.
pub const RIDS: [&str; LAYERS] = ["l", "m", "h"];

/// Bitrates assumed for a layer before it has been measured, in bit/s.
pub const NOMINAL_BPS: [u64; LAYERS] = [150_000, 500_000, 1_500_000];

/// Bits per second reserved for each audio track the subscriber receives.
pub const AUDIO_BPS: u64 = 50_000;

/// Layer index of a rid, if it is one of ours.
pub fn layer_of_rid(rid: &str) -> Option<usize> {
    RIDS.iter().position(|r| *r == rid)
}

/// The layer that fits a video rendered `width`×`height` device pixels;
/// `None` when it is not shown at all (0×0). The smaller side decides, so
/// portrait and landscape tiles are treated alike: up to 200 px gets `l`,
/// up to 400 px `m`, anything larger `h`.
pub fn layer_for_size(width: u32, height: u32) -> Option<usize> {
    let side = width.min(height);
    match side {
        0 => None,
        1..=200 => Some(0),
        201..=400 => Some(1),
        _ => Some(2),
    }
}

/// What one visible video of a subscriber needs for the allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    /// The layer its rendered size asks for; `None`: not shown.
    pub wanted: Option<usize>,
    /// Layers the publisher is sending now (recently seen).
    pub available: [bool; LAYERS],
    /// Measured bitrate of each layer (nominal when unmeasured).
    pub bps: [u64; LAYERS],
    /// Higher goes first when upgrading.
    pub priority: u64,
}

/// The best layer for `want` ignoring bandwidth: the highest available
/// layer not above the wanted one, else the lowest available one above it.
/// When nothing has been seen yet, the wanted layer itself.
pub fn best_fit(want: &Want) -> Option<usize> {
    let wanted = want.wanted?;
    let below = (0..=wanted).rev().find(|l| want.available[*l]);
    let above = (wanted + 1..LAYERS).find(|l| want.available[*l]);
    below.or(above).or(Some(wanted))
}

/// Chooses a layer for every video. `budget_bps` is the subscriber's
/// bandwidth estimate minus what audio needs; `None` means unknown, and then
/// everyone gets their best fit.
pub fn allocate(budget_bps: Option<u64>, wants: &[Want]) -> Vec<Option<usize>> {
    let fits: Vec<Option<usize>> = wants.iter().map(best_fit).collect();
    let Some(budget) = budget_bps else {
        return fits;
    };
    // Start every shown video at its lowest available layer.
    let mut chosen: Vec<Option<usize>> =
        wants.iter().zip(&fits).map(|(w, fit)| fit.map(|f| (0..=f).find(|l| w.available[*l]).unwrap_or(f))).collect();
    let cost = |chosen: &[Option<usize>]| cost(chosen, wants);
    let mut order: Vec<usize> = (0..wants.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(wants[*i].priority));
    // Upgrade one step at a time, most important first, while it fits.
    loop {
        let mut upgraded = false;
        for &i in &order {
            let (Some(current), Some(fit)) = (chosen[i], fits[i]) else {
                continue;
            };
            let Some(next) = (current + 1..=fit).find(|l| wants[i].available[*l] || *l == fit) else {
                continue;
            };
            let mut trial = chosen.clone();
            trial[i] = Some(next);
            if cost(&trial) <= budget {
                chosen = trial;
                upgraded = true;
                break;
            }
        }
        if !upgraded {
            return chosen;
        }
    }
}

/// What the layers `chosen` for `wants` cost together, bits per second.
pub fn cost(chosen: &[Option<usize>], wants: &[Want]) -> u64 {
    chosen.iter().zip(wants).filter_map(|(c, w)| c.map(|l| w.bps[l])).sum()
}

/// A bitrate meter over a sliding window, fed with packet sizes.
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    last_bps: Option<u64>,
    last_seen: Option<Instant>,
}

/// The window a [`RateMeter`] averages over.
pub const RATE_WINDOW: Duration = Duration::from_millis(1000);

/// A layer not seen for this long counts as not sent.
pub const LAYER_GONE_AFTER: Duration = Duration::from_millis(1500);

impl RateMeter {
    /// Counts a packet of `bytes` arriving at `now`.
    pub fn add(&mut self, now: Instant, bytes: usize) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= RATE_WINDOW {
            self.last_bps = Some(self.bytes * 8 * 1000 / elapsed.as_millis().max(1) as u64);
            self.window_start = Some(now);
            self.bytes = 0;
        }
        self.bytes += bytes as u64;
        self.last_seen = Some(now);
    }

    /// The last measured bitrate, if a window has completed.
    pub fn bps(&self) -> Option<u64> {
        self.last_bps
    }

    /// When the latest packet arrived.
    pub fn last_seen(&self) -> Option<Instant> {
        self.last_seen
    }

    /// Whether packets arrived recently.
    pub fn active(&self, now: Instant) -> bool {
        self.last_seen.is_some_and(|t| now.saturating_duration_since(t) < LAYER_GONE_AFTER)
    }
}

/// A layer nobody needs is stopped only after it was unneeded this long:
/// a layout that changes back and forth does not switch the publisher's
/// encoder on and off.
pub const LOWER_AFTER: Duration = Duration::from_secs(3);

/// What a publisher was told to send of one simulcast track: its lowest
/// `told` layers (docs/protocol.md, *Layers nobody receives*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendCap {
    /// Layers the publisher sends (1–3); a new publish connection sends all.
    pub told: u8,
    /// Since when fewer layers were needed than told.
    lower_since: Option<Instant>,
    /// Tell `told` again (after a publish answer) even if it did not change.
    repeat: bool,
}

impl Default for SendCap {
    fn default() -> SendCap {
        SendCap { told: LAYERS as u8, lower_since: None, repeat: false }
    }
}

impl SendCap {
    /// The cap of a track negotiated again on the same publish connection:
    /// what was told still holds, and is told again.
    pub fn renegotiated(self) -> SendCap {
        SendCap { repeat: self.told < LAYERS as u8, ..self }
    }

    /// `needed` layers (1–3) are received by someone now: the number to
    /// tell the publisher, if it is to be told. More is told at once, fewer
    /// once fewer were needed for [`LOWER_AFTER`].
    pub fn update(&mut self, now: Instant, needed: u8) -> Option<u8> {
        let needed = needed.clamp(1, LAYERS as u8);
        let repeat = std::mem::take(&mut self.repeat);
        if needed >= self.told {
            self.lower_since = None;
            let raise = needed > self.told;
            self.told = needed;
            return (raise || repeat).then_some(needed);
        }
        let since = *self.lower_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= LOWER_AFTER {
            self.lower_since = None;
            self.told = needed;
            return Some(needed);
        }
        repeat.then_some(self.told)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(wanted: Option<usize>, priority: u64) -> Want {
        Want { wanted, available: [true; LAYERS], bps: [100_000, 400_000, 1_200_000], priority }
    }

    #[test]
    fn rendered_size_picks_the_layer() {
        assert_eq!(layer_for_size(0, 0), None);
        assert_eq!(layer_for_size(320, 0), None);
        assert_eq!(layer_for_size(320, 180), Some(0));
        assert_eq!(layer_for_size(180, 320), Some(0), "portrait tiles alike");
        assert_eq!(layer_for_size(640, 360), Some(1));
        assert_eq!(layer_for_size(1280, 720), Some(2));
        assert_eq!(layer_for_size(3840, 2160), Some(2));
    }

    #[test]
    fn without_a_budget_everyone_gets_the_layer_that_fits() {
        let wants = [want(Some(0), 0), want(Some(2), 1), want(None, 2), want(Some(1), 0)];
        assert_eq!(allocate(None, &wants), [Some(0), Some(2), None, Some(1)]);
    }

    #[test]
    fn missing_layers_fall_back_to_the_nearest_one_sent() {
        let mut w = want(Some(2), 0);
        w.available = [true, true, false];
        assert_eq!(best_fit(&w), Some(1), "h not sent: m");
        w.available = [false, false, true];
        w.wanted = Some(0);
        assert_eq!(best_fit(&w), Some(2), "only h sent: h rather than nothing");
        w.available = [false; LAYERS];
        assert_eq!(best_fit(&w), Some(0), "nothing seen yet: what is wanted");
    }

    #[test]
    fn a_small_budget_keeps_everyone_on_the_low_layer() {
        let wants = [want(Some(2), 5), want(Some(2), 1)];
        assert_eq!(allocate(Some(250_000), &wants), [Some(0), Some(0)]);
    }

    #[test]
    fn the_budget_upgrades_the_most_important_video_first() {
        let wants = [want(Some(2), 1), want(Some(2), 9), want(Some(1), 5)];
        // 3 × low = 300k; speaker to m (+300k) = 600k; speaker to h (+800k) = 1.4M;
        // then the priority-5 video to m (+300k) = 1.7M; then the first to m = 2.0M.
        assert_eq!(allocate(Some(700_000), &wants), [Some(0), Some(1), Some(0)]);
        assert_eq!(allocate(Some(1_450_000), &wants), [Some(0), Some(2), Some(0)]);
        assert_eq!(allocate(Some(1_750_000), &wants), [Some(0), Some(2), Some(1)]);
        assert_eq!(allocate(Some(10_000_000), &wants), [Some(2), Some(2), Some(1)]);
    }

    #[test]
    fn an_upgrade_that_does_not_fit_lets_a_cheaper_one_through() {
        let wants = [want(Some(2), 9), want(Some(1), 1)];
        // low+low = 200k, speaker m = 500k, speaker h would be 1.3M > 900k,
        // the other to m = 800k fits.
        assert_eq!(allocate(Some(900_000), &wants), [Some(1), Some(1)]);
    }

    #[test]
    fn the_rate_meter_measures_per_window_and_notices_silence() {
        let start = Instant::now();
        let mut m = RateMeter::default();
        for i in 0..=50u64 {
            m.add(start + Duration::from_millis(20 * i), 1250);
        }
        // 50 packets of 1250 bytes in one second: 500 kbit/s.
        assert_eq!(m.bps(), Some(500_000));
        assert!(m.active(start + Duration::from_millis(1500)));
        assert!(!m.active(start + Duration::from_millis(2600)));
    }
    #[test]
    fn more_layers_are_asked_for_at_once_and_fewer_only_after_a_while() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut cap = SendCap::default();
        assert_eq!(cap.update(at(0), 3), None, "a new connection sends all already");
        assert_eq!(cap.update(at(0), 2), None);
        assert_eq!(cap.update(at(2_900), 2), None, "not before LOWER_AFTER");
        assert_eq!(cap.update(at(3_000), 2), Some(2));
        assert_eq!(cap.update(at(3_100), 2), None, "told once");
        assert_eq!(cap.update(at(3_200), 3), Some(3), "raised at once");
        // A need that dips and comes back restarts the wait.
        assert_eq!(cap.update(at(4_000), 1), None);
        assert_eq!(cap.update(at(6_000), 3), None);
        assert_eq!(cap.update(at(7_500), 1), None);
        assert_eq!(cap.update(at(10_400), 1), None);
        assert_eq!(cap.update(at(10_500), 1), Some(1));
        assert_eq!(cap.update(at(10_600), 0), None, "the lowest layer is never stopped");
        assert_eq!(cap.told, 1);
    }

    #[test]
    fn a_renegotiated_track_is_told_its_cap_again() {
        let t0 = Instant::now();
        let mut cap = SendCap::default();
        cap.update(t0, 1);
        assert_eq!(cap.update(t0 + LOWER_AFTER, 1), Some(1));
        let mut again = cap.renegotiated();
        assert_eq!(again.update(t0 + LOWER_AFTER, 1), Some(1), "repeated after the answer");
        assert_eq!(again.update(t0 + LOWER_AFTER, 1), None);
        let mut all = SendCap::default().renegotiated();
        assert_eq!(all.update(t0, 3), None, "all layers need no message");
        let mut raised = cap.renegotiated();
        assert_eq!(raised.update(t0, 2), Some(2));
    }
}
