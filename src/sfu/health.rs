//! Whether what a participant says it sends arrives: a source the room
//! says is on (`media_state`), whose m-line the publish connection
//! negotiated, over a connection that is up, must deliver packets. When it
//! delivers none for [`STALL_AFTER`], the participant is told
//! (`media_stalled`), and told again every [`STALL_AFTER`] while it lasts,
//! so that the browser can repair it step by step (docs/protocol.md, *When
//! media does not arrive*).
//!
//! Sans-IO: the engine passes the time, when the publish connection came
//! up and when the source's last packet arrived.

use std::time::{Duration, Instant};

/// How long a source that should send may deliver nothing. A little longer
/// than the browser's own check (4 s), which repairs most stalls first.
pub const STALL_AFTER: Duration = Duration::from_secs(5);

/// One source of one publisher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceHealth {
    /// Said to be on since (`None`: off).
    on_since: Option<Instant>,
    /// When a stall was last reported.
    reported: Option<Instant>,
}

impl SourceHealth {
    /// The room says the source is on (or off).
    pub fn set_on(&mut self, on: bool, now: Instant) {
        if !on {
            *self = SourceHealth::default();
        } else if self.on_since.is_none() {
            self.on_since = Some(now);
        }
    }

    /// Sending starts over (a direct call ended: the browser resumes
    /// sending to the server): the wait begins again.
    pub fn restart(&mut self, now: Instant) {
        if self.on_since.is_some() {
            *self = SourceHealth { on_since: Some(now), reported: None };
        }
    }

    /// Whether to report the source as stalled now. `connected`: when the
    /// publish connection came up (`None`: not yet); `last_packet`: the
    /// source's latest packet.
    pub fn check(&mut self, now: Instant, connected: Option<Instant>, last_packet: Option<Instant>) -> bool {
        let (Some(on), Some(connected)) = (self.on_since, connected) else {
            return false;
        };
        let last_sign = [Some(on), Some(connected), last_packet, self.reported].into_iter().flatten().max();
        let Some(last_sign) = last_sign else {
            return false;
        };
        if now.saturating_duration_since(last_sign) < STALL_AFTER {
            return false;
        }
        self.reported = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_source_that_delivers_is_never_reported() {
        let t0 = Instant::now();
        let mut h = SourceHealth::default();
        h.set_on(true, t0);
        for i in 0..30 {
            let now = t0 + S * i;
            assert!(!h.check(now, Some(t0), Some(now)), "reported at {i} s");
        }
    }

    #[test]
    fn a_source_that_stops_is_reported_after_the_wait_and_again_while_it_lasts() {
        let t0 = Instant::now();
        let mut h = SourceHealth::default();
        h.set_on(true, t0);
        let last = t0 + 2 * S;
        let reports: Vec<u32> = (0..20).filter(|i| h.check(t0 + S * *i, Some(t0), Some(last))).collect();
        assert_eq!(reports, vec![7, 12, 17]);
    }

    #[test]
    fn nothing_is_reported_for_a_source_that_is_off_or_a_connection_that_is_not_up() {
        let t0 = Instant::now();
        let mut off = SourceHealth::default();
        assert!(!off.check(t0 + 60 * S, Some(t0), None));
        let mut on = SourceHealth::default();
        on.set_on(true, t0);
        assert!(!on.check(t0 + 60 * S, None, None));
        on.set_on(false, t0 + 61 * S);
        assert!(!on.check(t0 + 120 * S, Some(t0), None));
    }

    #[test]
    fn the_wait_counts_from_the_latest_of_on_connected_and_the_last_packet() {
        let t0 = Instant::now();
        let mut h = SourceHealth::default();
        h.set_on(true, t0);
        // Connected late: the wait starts then.
        assert!(!h.check(t0 + 8 * S, Some(t0 + 4 * S), None));
        assert!(h.check(t0 + 9 * S, Some(t0 + 4 * S), None));
    }

    #[test]
    fn a_restart_begins_the_wait_again() {
        let t0 = Instant::now();
        let mut h = SourceHealth::default();
        h.set_on(true, t0);
        h.restart(t0 + 10 * S);
        assert!(!h.check(t0 + 14 * S, Some(t0), None));
        assert!(h.check(t0 + 15 * S, Some(t0), None));
    }

    #[test]
    fn turning_on_again_keeps_the_first_time() {
        let t0 = Instant::now();
        let mut h = SourceHealth::default();
        h.set_on(true, t0);
        h.set_on(true, t0 + 3 * S);
        assert!(h.check(t0 + 5 * S, Some(t0), None));
    }
}
