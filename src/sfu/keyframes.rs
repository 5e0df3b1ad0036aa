//! Keyframe requests towards publishers, at most one per second per track
//! layer.
//!
//! Subscribers ask for keyframes (PLI/FIR) when they lose a picture, and the
//! forwarder needs one whenever a subscriber switches layer. Many
//! subscribers asking at once must not make the publisher send keyframe
//! after keyframe (each one is many times the size of a normal frame), so
//! requests for the same publisher layer are merged: one goes out, the rest
//! within the next second are remembered and sent once the second is over.
//!
//! Sans-IO: the caller passes the time and sends what [`Throttle::due`]
//! returns.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The least time between two requests for the same layer.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Merges keyframe requests per key (publisher track and layer).
#[derive(Debug, Clone)]
pub struct Throttle<K> {
    last_sent: HashMap<K, Instant>,
    waiting: HashSet<K>,
}

impl<K: Copy + Eq + Hash> Default for Throttle<K> {
    fn default() -> Self {
        Throttle { last_sent: HashMap::new(), waiting: HashSet::new() }
    }
}

impl<K: Copy + Eq + Hash> Throttle<K> {
    /// A keyframe is wanted for `key`. Returns true if the request should be
    /// sent now; otherwise it is sent later by [`Throttle::due`].
    pub fn request(&mut self, key: K, now: Instant) -> bool {
        match self.last_sent.get(&key) {
            Some(t) if now.saturating_duration_since(*t) < MIN_INTERVAL => {
                self.waiting.insert(key);
                false
            }
            _ => {
                self.last_sent.insert(key, now);
                self.waiting.remove(&key);
                true
            }
        }
    }

    /// Requests that were held back and may go out now.
    pub fn due(&mut self, now: Instant) -> Vec<K> {
        let due: Vec<K> = self
            .waiting
            .iter()
            .filter(|k| self.last_sent.get(k).is_none_or(|t| now.saturating_duration_since(*t) >= MIN_INTERVAL))
            .copied()
            .collect();
        for k in &due {
            self.waiting.remove(k);
            self.last_sent.insert(*k, now);
        }
        due
    }

    /// Forgets every key for which `keep` is false (a publisher left).
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.last_sent.retain(|k, _| keep(k));
        self.waiting.retain(|k| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_per_second_per_key_and_the_rest_merged() {
        let start = Instant::now();
        let mut t = Throttle::default();
        assert!(t.request(("a", 0), start));
        // Ten subscribers ask within the same second: nothing more goes out now.
        for i in 1..=10 {
            assert!(!t.request(("a", 0), start + Duration::from_millis(50 * i)));
        }
        // Another layer and another publisher are independent.
        assert!(t.request(("a", 2), start));
        assert!(t.request(("b", 0), start));
        assert!(t.due(start + Duration::from_millis(999)).is_empty());
        // The merged request goes out once, when the second is over.
        assert_eq!(t.due(start + Duration::from_millis(1000)), [("a", 0)]);
        assert!(t.due(start + Duration::from_millis(1500)).is_empty());
        assert!(!t.request(("a", 0), start + Duration::from_millis(1999)));
        assert!(t.request(("a", 0), start + Duration::from_millis(3000)));
    }

    #[test]
    fn forgotten_keys_are_not_sent() {
        let start = Instant::now();
        let mut t = Throttle::default();
        t.request(1, start);
        t.request(1, start);
        t.retain(|k| *k != 1);
        assert!(t.due(start + Duration::from_secs(5)).is_empty());
    }
}
