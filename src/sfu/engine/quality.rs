//! Connection quality of a participant (`good`, `fair`, `poor`), from the
//! loss and round-trip time str0m measures on both of their connections;
//! announced to the room only once a new quality holds.

use std::time::Duration;

use str0m::stats::PeerStats;

use super::{Engine, RtcKey, Side};
use crate::protocol::Quality;
use crate::room::MediaEvent;

impl Engine {
    pub(super) fn on_peer_stats(&mut self, key: RtcKey, stats: &PeerStats) {
        let Some(peer) = self.peers.get_mut(&key.session) else {
            return;
        };
        let Some(pc) = peer.pc(key.side) else {
            return;
        };
        let loss = if key.side == Side::Publish { stats.ingress_loss_fraction } else { stats.egress_loss_fraction };
        pc.loss = loss.or(pc.loss);
        pc.rtt = stats.rtt.or(pc.rtt);
        let measured = [peer.publish.as_ref(), Some(&peer.subscribe)]
            .into_iter()
            .flatten()
            .filter(|pc| pc.loss.is_some() || pc.rtt.is_some())
            .map(|pc| quality_of(pc.loss, pc.rtt))
            .max_by_key(|q| quality_rank(*q));
        let Some(q) = measured else {
            return;
        };
        if let Some(q) = settle_quality(peer.quality, &mut peer.quality_candidate, q) {
            peer.quality = q;
            self.events.push(MediaEvent::Quality { session: key.session, quality: q });
        }
    }
}

/// How many stats intervals in a row a new connection quality must be
/// measured before it is announced.
const QUALITY_CONFIRMATIONS: u8 = 2;

/// The quality to announce after measuring `measured`, if it changes.
/// Everyone in the room is told, so only a quality that holds counts, not
/// every flap of a borderline connection (a room of 100 got hundreds of
/// updates in a burst); the first measurement is announced at once.
fn settle_quality(current: Quality, candidate: &mut (Quality, u8), measured: Quality) -> Option<Quality> {
    if measured == current {
        *candidate = (measured, 0);
        return None;
    }
    if candidate.0 == measured {
        candidate.1 += 1;
    } else {
        *candidate = (measured, 1);
    }
    if candidate.1 >= QUALITY_CONFIRMATIONS || current == Quality::Unknown {
        *candidate = (measured, 0);
        return Some(measured);
    }
    None
}

/// Connection quality from loss and round-trip time.
fn quality_of(loss: Option<f32>, rtt: Option<Duration>) -> Quality {
    let loss = loss.unwrap_or(0.0);
    let rtt = rtt.unwrap_or(Duration::ZERO);
    if loss < 0.02 && rtt < Duration::from_millis(250) {
        Quality::Good
    } else if loss < 0.08 && rtt < Duration::from_millis(500) {
        Quality::Fair
    } else {
        Quality::Poor
    }
}

fn quality_rank(q: Quality) -> u8 {
    match q {
        Quality::Unknown => 0,
        Quality::Good => 1,
        Quality::Fair => 2,
        Quality::Poor => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flapping_quality_is_not_announced_and_one_that_holds_is() {
        let mut c = (Quality::Unknown, 0);
        assert_eq!(settle_quality(Quality::Unknown, &mut c, Quality::Good), Some(Quality::Good));
        for _ in 0..10 {
            assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Poor), None);
            assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Good), None);
        }
        assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Fair), None);
        assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Poor), None);
        assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Poor), Some(Quality::Poor));
    }

    #[test]
    fn quality_follows_loss_and_round_trip_time() {
        assert_eq!(quality_of(Some(0.0), Some(Duration::from_millis(30))), Quality::Good);
        assert_eq!(quality_of(Some(0.05), Some(Duration::from_millis(30))), Quality::Fair);
        assert_eq!(quality_of(Some(0.01), Some(Duration::from_millis(300))), Quality::Fair);
        assert_eq!(quality_of(Some(0.2), None), Quality::Poor);
        assert_eq!(quality_of(None, Some(Duration::from_secs(1))), Quality::Poor);
    }
}
