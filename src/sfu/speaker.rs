//! Who is speaking, from the audio level header extension (RFC 6464), and
//! which videos a subscriber gets under last-N.
//!
//! Every Opus packet from a browser carries the level of its audio in -dBov
//! (0 loudest, 127 silence). Per participant the level is smoothed; the
//! loudest participant above a threshold becomes the active speaker once
//! they have been loudest for a short while (so a cough does not steal the
//! floor), or at once when the current speaker has gone quiet. After a
//! stretch of silence nobody is speaking. The order in which people last
//! spoke drives last-N: a subscriber receives video from the N participants
//! who spoke most recently (those who never spoke follow in join order).
//!
//! Sans-IO: levels and ticks come with the time.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Smoothing time constant of the level.
const SMOOTHING: Duration = Duration::from_millis(300);
/// A smoothed level at or above this activity (127 - dBov) counts as speech:
/// louder than -55 dBov.
const SPEECH: f32 = 72.0;
/// How long a new voice must be the loudest before it takes the floor from
/// someone still speaking.
const TAKEOVER: Duration = Duration::from_millis(600);
/// How long a new voice must be the loudest to take a free floor.
const ONSET: Duration = Duration::from_millis(150);
/// Silence after which nobody is the speaker.
const SILENCE: Duration = Duration::from_millis(1500);
/// A participant from whom no audio came for this long is silent.
const STALE: Duration = Duration::from_millis(400);
/// A talkspurt lasts until this long after the last packet louder than
/// the speech threshold (pauses between words and sentences are shorter).
/// Audio slots are not taken from someone in a talkspurt.
const HANGOVER: Duration = Duration::from_millis(800);

#[derive(Debug, Clone, Copy)]
struct Level {
    activity: f32,
    updated: Instant,
    /// The last packet that by itself was loud enough for speech.
    loud_at: Option<Instant>,
}

/// One participant in the order audio slots are given out
/// ([`SpeakerDetector::ranking`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranked<K> {
    pub who: K,
    /// In a talkspurt now.
    pub speaking: bool,
}

/// Active-speaker detection for one room. `K` identifies a participant.
#[derive(Debug, Clone)]
pub struct SpeakerDetector<K> {
    levels: HashMap<K, Level>,
    current: Option<K>,
    candidate: Option<(K, Instant)>,
    last_speech: Option<Instant>,
    /// Participants in the order they last held the floor, most recent first.
    history: Vec<K>,
}

impl<K: Copy + Eq + Hash> Default for SpeakerDetector<K> {
    fn default() -> Self {
        SpeakerDetector {
            levels: HashMap::new(),
            current: None,
            candidate: None,
            last_speech: None,
            history: Vec::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> SpeakerDetector<K> {
    /// The current speaker.
    pub fn current(&self) -> Option<K> {
        self.current
    }

    /// Who spoke most recently first.
    pub fn history(&self) -> &[K] {
        &self.history
    }

    /// Records an audio packet's level, in -dBov (0 = loudest, 127 = silence).
    pub fn on_level(&mut self, who: K, dbov: u8, now: Instant) {
        let sample = f32::from(127 - dbov.min(127));
        let level = self.levels.entry(who).or_insert(Level { activity: 0.0, updated: now, loud_at: None });
        if sample >= SPEECH {
            level.loud_at = Some(now);
        }
        let dt = now.saturating_duration_since(level.updated).as_secs_f32();
        let alpha = 1.0 - (-dt / SMOOTHING.as_secs_f32()).exp();
        // The very first sample counts fully only after some time has passed.
        level.activity += (sample - level.activity) * alpha.max(0.05);
        level.updated = now;
    }

    /// Whether `who` is in a talkspurt at `now`.
    pub fn speaking(&self, who: K, now: Instant) -> bool {
        self.levels.get(&who).and_then(|l| l.loud_at).is_some_and(|t| now.saturating_duration_since(t) < HANGOVER)
    }

    /// `candidates` (in join order) in the order audio slots go to them:
    /// those in a talkspurt, loudest first; then everyone else, who spoke
    /// most recently first, then those who never spoke, in join order.
    pub fn ranking(&self, candidates: &[K], now: Instant) -> Vec<Ranked<K>> {
        let mut ranked: Vec<(Ranked<K>, f32, Option<Instant>)> = candidates
            .iter()
            .map(|k| {
                let level = self.levels.get(k);
                let speaking = self.speaking(*k, now);
                (Ranked { who: *k, speaking }, level.map_or(0.0, |l| l.activity), level.and_then(|l| l.loud_at))
            })
            .collect();
        // Stable: equal keys keep join order.
        ranked.sort_by(|a, b| {
            b.0.speaking.cmp(&a.0.speaking).then_with(|| if a.0.speaking { b.1.total_cmp(&a.1) } else { b.2.cmp(&a.2) })
        });
        ranked.into_iter().map(|r| r.0).collect()
    }

    /// Forgets a participant who left.
    pub fn remove(&mut self, who: K) {
        self.levels.remove(&who);
        self.history.retain(|k| *k != who);
        if self.candidate.is_some_and(|(c, _)| c == who) {
            self.candidate = None;
        }
        if self.current == Some(who) {
            self.current = None;
        }
    }

    /// Re-evaluates at `now`; returns the new speaker when it changed
    /// (`Some(None)`: nobody speaks any more).
    pub fn tick(&mut self, now: Instant) -> Option<Option<K>> {
        let speaking = |l: &Level| l.activity >= SPEECH && now.saturating_duration_since(l.updated) < STALE;
        let loudest = self
            .levels
            .iter()
            .filter(|(_, l)| speaking(l))
            .max_by(|a, b| a.1.activity.total_cmp(&b.1.activity))
            .map(|(k, _)| *k);
        if loudest.is_some() {
            self.last_speech = Some(now);
        }
        let current_speaking = self.current.and_then(|c| self.levels.get(&c)).is_some_and(speaking);
        match loudest {
            Some(k) if Some(k) == self.current => {
                self.candidate = None;
                None
            }
            Some(k) => {
                let since = match self.candidate {
                    Some((c, since)) if c == k => since,
                    _ => {
                        self.candidate = Some((k, now));
                        now
                    }
                };
                let hold = if current_speaking { TAKEOVER } else { ONSET };
                if now.saturating_duration_since(since) >= hold {
                    self.current = Some(k);
                    self.candidate = None;
                    self.history.retain(|h| *h != k);
                    self.history.insert(0, k);
                    Some(Some(k))
                } else {
                    None
                }
            }
            None => {
                self.candidate = None;
                let quiet_for = self.last_speech.map_or(Duration::MAX, |t| now.saturating_duration_since(t));
                if self.current.is_some() && quiet_for >= SILENCE {
                    self.current = None;
                    Some(None)
                } else {
                    None
                }
            }
        }
    }
}

/// The publishers whose video `subscriber` receives under last-N: the `n`
/// others who spoke most recently, then others in join order. `n == 0`
/// means everyone.
pub fn last_n<K: Copy + Eq>(history: &[K], members_in_join_order: &[K], subscriber: K, n: u32) -> Vec<K> {
    let others = history
        .iter()
        .chain(members_in_join_order.iter().filter(|m| !history.contains(m)))
        .filter(|k| **k != subscriber && members_in_join_order.contains(k))
        .copied();
    if n == 0 { others.collect() } else { others.take(n as usize).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds 20 ms Opus packets for `ms` milliseconds: `levels[i]` for
    /// participant i (`None`: no packet).
    fn talk(d: &mut SpeakerDetector<u8>, now: &mut Instant, ms: u64, levels: &[Option<u8>]) -> Vec<Option<u8>> {
        let mut changes = Vec::new();
        for _ in 0..ms / 20 {
            *now += Duration::from_millis(20);
            for (who, level) in levels.iter().enumerate() {
                if let Some(level) = level {
                    d.on_level(who as u8, *level, *now);
                }
            }
            if let Some(change) = d.tick(*now) {
                changes.push(change);
            }
        }
        changes
    }

    const LOUD: Option<u8> = Some(25);
    const QUIET: Option<u8> = Some(90);

    #[test]
    fn a_single_voice_becomes_the_speaker_quickly() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        let changes = talk(&mut d, &mut now, 600, &[LOUD, QUIET, QUIET]);
        assert_eq!(changes, [Some(0)]);
        assert_eq!(d.current(), Some(0));
    }

    #[test]
    fn a_short_interruption_does_not_take_the_floor() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        talk(&mut d, &mut now, 1000, &[LOUD, QUIET]);
        // 1 shouts louder for 300 ms while 0 keeps talking.
        let changes = talk(&mut d, &mut now, 300, &[Some(40), Some(5)]);
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(d.current(), Some(0));
        // When 1 keeps going, 1 gets the floor.
        let changes = talk(&mut d, &mut now, 1500, &[Some(60), Some(5)]);
        assert_eq!(changes, [Some(1)]);
        assert_eq!(d.history(), [1, 0]);
    }

    #[test]
    fn silence_ends_the_floor_and_history_remembers_the_order() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        talk(&mut d, &mut now, 800, &[QUIET, LOUD, QUIET]);
        talk(&mut d, &mut now, 800, &[QUIET, QUIET, LOUD]);
        assert_eq!(d.history(), [2, 1]);
        let changes = talk(&mut d, &mut now, 3000, &[QUIET, QUIET, QUIET]);
        assert_eq!(changes, [None]);
        assert_eq!(d.current(), None);
        assert_eq!(d.history(), [2, 1], "history outlives the silence");
    }

    #[test]
    fn a_participant_whose_audio_stops_stops_speaking() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        talk(&mut d, &mut now, 800, &[LOUD]);
        // No packets at all any more (muted): the floor is free after a while.
        let changes = talk(&mut d, &mut now, 3000, &[None]);
        assert_eq!(changes, [None]);
    }

    #[test]
    fn leaving_participants_are_forgotten() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        talk(&mut d, &mut now, 800, &[LOUD, QUIET]);
        d.remove(0);
        assert_eq!(d.current(), None);
        assert!(d.history().is_empty());
    }

    #[test]
    fn ranking_puts_talkspurts_first_loudest_first_then_recency_then_join_order() {
        let mut d = SpeakerDetector::default();
        let mut now = Instant::now();
        // 3 spoke long ago, 1 spoke a little later; 0, 2, 4 and 5 never spoke.
        talk(&mut d, &mut now, 400, &[QUIET, QUIET, QUIET, LOUD]);
        talk(&mut d, &mut now, 400, &[QUIET, LOUD, QUIET, QUIET]);
        talk(&mut d, &mut now, 2000, &[QUIET, QUIET, QUIET, QUIET]);
        let order = |d: &SpeakerDetector<u8>, now| d.ranking(&[0, 1, 2, 3, 4, 5], now);
        let who = |r: Vec<Ranked<u8>>| r.iter().map(|r| (r.who, r.speaking)).collect::<Vec<_>>();
        assert_eq!(who(order(&d, now)), [(1, false), (3, false), (0, false), (2, false), (4, false), (5, false)]);
        // 4 talks quietly, 5 loudly: both in a talkspurt, 5 first.
        talk(&mut d, &mut now, 400, &[QUIET, QUIET, QUIET, QUIET, Some(50), Some(10)]);
        assert_eq!(who(order(&d, now))[..3], [(5, true), (4, true), (1, false)]);
        // A pause between words keeps the talkspurt; a longer silence ends it.
        talk(&mut d, &mut now, 400, &[QUIET, QUIET, QUIET, QUIET, QUIET, QUIET]);
        assert!(d.speaking(5, now) && d.speaking(4, now));
        talk(&mut d, &mut now, 600, &[QUIET, QUIET, QUIET, QUIET, QUIET, QUIET]);
        assert!(!d.speaking(5, now) && !d.speaking(4, now));
        assert_eq!(who(order(&d, now))[..3], [(4, false), (5, false), (1, false)], "most recent, then join order");
        // No packets at all (a muted microphone) ends a talkspurt too.
        talk(&mut d, &mut now, 200, &[None, LOUD]);
        assert!(d.speaking(1, now));
        talk(&mut d, &mut now, 1000, &[None, None]);
        assert!(!d.speaking(1, now));
    }

    #[test]
    fn last_n_prefers_recent_speakers_then_join_order() {
        let members = [1, 2, 3, 4, 5];
        assert_eq!(last_n(&[4, 2], &members, 1, 2), [4, 2]);
        assert_eq!(last_n(&[4, 2], &members, 4, 2), [2, 1], "never oneself");
        assert_eq!(last_n(&[], &members, 1, 3), [2, 3, 4]);
        assert_eq!(last_n(&[4, 2], &members, 1, 0), [4, 2, 3, 5], "0 = everyone");
        assert_eq!(last_n(&[9, 4], &members, 1, 1), [4], "people who left do not count");
    }
}
