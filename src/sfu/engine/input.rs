//! The media port: every datagram goes to the one connection it belongs
//! to, by map lookups only — a STUN request by the ufrag in its USERNAME
//! (after its MESSAGE-INTEGRITY is checked), everything else by the
//! address verified STUN requests came from ([`crate::sfu::demux`]). With
//! direct calls on, plain STUN Binding requests are answered from the
//! request alone ([`crate::sfu::stun`]).

use std::net::SocketAddr;
use std::time::Instant;

use str0m::Input;
use str0m::net::{Protocol, Receive, Transmit};

use super::{Engine, demux};
use crate::sfu::stun;
use crate::stats::Stats;

impl Engine {
    /// The local candidate a datagram from `source` arrived on, as far as we
    /// can tell without the packet's destination address: loopback for
    /// loopback peers, else the first announced address of the family.
    fn local_for(&self, source: SocketAddr) -> SocketAddr {
        let c = &self.config.candidates;
        let same_family = |a: &&SocketAddr| a.is_ipv4() == source.is_ipv4();
        c.iter()
            .filter(same_family)
            .find(|a| a.ip().is_loopback() == source.ip().is_loopback())
            .or_else(|| c.iter().find(same_family))
            .or(c.first())
            .copied()
            .unwrap_or(source)
    }

    /// One datagram from the media port.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        self.last_now = self.last_now.max(now);
        let destination = self.local_for(source);
        if self.stun.is_some()
            && let Some(transaction) = stun::plain_binding_request(data)
        {
            return self.answer_stun(now, source, destination, &transaction);
        }
        let key = match demux::classify(data) {
            demux::Kind::Stun => match demux::binding_request_ufrag(data) {
                Some(ufrag) => {
                    let Some(key) = self.demux.by_ufrag(ufrag) else {
                        return self.unclaimed();
                    };
                    // Verify the short-term credential before learning anything.
                    let Ok(contents) = data.try_into() else {
                        return self.unclaimed();
                    };
                    let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents });
                    let Some(pc) = self.peers.get_mut(&key.session).and_then(|p| p.pc(key.side)) else {
                        return self.unclaimed();
                    };
                    if !pc.rtc.accepts(&input) {
                        Stats::add(&self.stats.stun_refused, 1);
                        return;
                    }
                    self.demux.learn(source, key);
                    Stats::set(&self.stats.media_addresses, self.demux.address_count() as u64);
                    self.input(now, key, input);
                    self.process_work(now);
                    return;
                }
                None => self.demux.by_addr(&source),
            },
            demux::Kind::Dtls | demux::Kind::Rtp => self.demux.by_addr(&source),
            demux::Kind::Other => None,
        };
        let Some(key) = key else {
            return self.unclaimed();
        };
        let Ok(contents) = data.try_into() else {
            return self.unclaimed();
        };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents });
        self.input(now, key, input);
        self.process_work(now);
    }

    /// A plain STUN Binding request: answered from the request alone,
    /// within the rate limit; nothing is kept about the sender.
    fn answer_stun(&mut self, now: Instant, source: SocketAddr, local: SocketAddr, transaction: &[u8; 12]) {
        let Some(limiter) = self.stun.as_mut() else {
            return;
        };
        if !limiter.allow(now, source.ip()) {
            Stats::add(&self.stats.stun_bindings_limited, 1);
            return;
        }
        self.transmits.push(Transmit {
            proto: Protocol::Udp,
            source: local,
            destination: source,
            contents: stun::binding_success(transaction, source).into(),
        });
        Stats::add(&self.stats.stun_bindings_answered, 1);
    }

    pub(super) fn unclaimed(&self) {
        Stats::add(&self.stats.datagrams_unclaimed, 1);
    }
}
