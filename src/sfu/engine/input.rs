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
use crate::link::Link;
use crate::sfu::stun;
use crate::stats::Stats;

/// What became of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Claimed,
    /// A STUN request for a connection, with the wrong credentials.
    Refused,
    Unclaimed,
}

impl Engine {
    /// The local candidate a packet from `source` arrived on, as far as we
    /// can tell without the packet's destination address: loopback for
    /// loopback peers, else the first announced address of the family.
    fn local_for(&self, proto: Protocol, source: SocketAddr) -> SocketAddr {
        let c = match proto {
            Protocol::Tcp => &self.config.tcp_candidates,
            _ => &self.config.candidates,
        };
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
        if self.stun.is_some()
            && let Some(transaction) = stun::plain_binding_request(data)
        {
            let destination = self.local_for(Protocol::Udp, source);
            return self.answer_stun(now, source, destination, &transaction);
        }
        if self.handle_packet(now, Protocol::Udp, source, data) == Claim::Unclaimed {
            self.unclaimed();
        }
    }

    /// One packet from a link: an RFC 4571 frame of an ICE-TCP connection,
    /// or a packet a relay allocation sent to the SFU's address `to`.
    /// Returns false when no peer connection claims it: the caller ends the
    /// link (its address cannot change, so nothing more from it will be
    /// claimed either).
    pub fn handle_link_packet(&mut self, now: Instant, link: Link, to: Option<SocketAddr>, data: &[u8]) -> bool {
        self.last_now = self.last_now.max(now);
        let to = to.filter(|a| self.config.candidates.contains(a));
        // A check refused for its credentials only is dropped, as over UDP:
        // a browser may check before the server has its answer (the remote
        // ufrag), and ending the link then would lose the path for good.
        let claim = self.handle_packet_to(now, link.proto, link.remote, to, data);
        if claim == Claim::Unclaimed {
            Stats::add(&self.stats.tcp_unclaimed, 1);
        }
        claim != Claim::Unclaimed
    }

    /// A packet to the connection it belongs to; false if none claims it.
    fn handle_packet(&mut self, now: Instant, proto: Protocol, source: SocketAddr, data: &[u8]) -> Claim {
        self.handle_packet_to(now, proto, source, None, data)
    }

    /// [`Engine::handle_packet`], to the local address `to` if known.
    fn handle_packet_to(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        to: Option<SocketAddr>,
        data: &[u8],
    ) -> Claim {
        let destination = to.unwrap_or_else(|| self.local_for(proto, source));
        let path = (proto, source);
        let key = match demux::classify(data) {
            demux::Kind::Stun => match demux::binding_request_ufrag(data) {
                Some(ufrag) => {
                    let Some(key) = self.demux.by_ufrag(ufrag) else {
                        return Claim::Unclaimed;
                    };
                    // Verify the short-term credential before learning anything.
                    let Ok(contents) = data.try_into() else {
                        return Claim::Unclaimed;
                    };
                    let input = Input::Receive(now, Receive { proto, source, destination, contents });
                    let Some(pc) = self.peers.get_mut(&key.session).and_then(|p| p.pc(key.side)) else {
                        return Claim::Unclaimed;
                    };
                    if !pc.rtc.accepts(&input) {
                        Stats::add(&self.stats.stun_refused, 1);
                        return Claim::Refused;
                    }
                    self.learn_address(path, key);
                    self.input(now, key, input);
                    self.process_work(now);
                    return Claim::Claimed;
                }
                None => self.demux.by_addr(&path),
            },
            demux::Kind::Dtls | demux::Kind::Rtp => self.demux.by_addr(&path),
            demux::Kind::Other => None,
        };
        let Some(key) = key else {
            return Claim::Unclaimed;
        };
        let Ok(contents) = data.try_into() else {
            return Claim::Unclaimed;
        };
        let input = Input::Receive(now, Receive { proto, source, destination, contents });
        self.input(now, key, input);
        self.process_work(now);
        Claim::Claimed
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

    /// Remembers a verified remote address of a connection, and when the
    /// engine is a shard, tells the dispatcher that it routes here.
    fn learn_address(&mut self, path: (Protocol, SocketAddr), key: super::RtcKey) {
        if self.demux.by_addr(&path) == Some(key) {
            return;
        }
        let evicted = self.demux.learn(path, key);
        if let Some(shard) = &self.shard {
            shard.routes.learn(path, shard.index);
            if let Some(old) = evicted {
                shard.routes.forget(old, shard.index);
            }
        }
        self.count_addresses();
    }

    /// Forgets a connection's ufrag and addresses (here and at the dispatcher).
    pub(super) fn forget_connection(&mut self, key: super::RtcKey) {
        let addresses = self.demux.forget(key);
        if let Some(shard) = &self.shard {
            for path in addresses {
                shard.routes.forget(path, shard.index);
            }
        }
        self.count_addresses();
    }

    fn count_addresses(&self) {
        let n = match &self.shard {
            Some(shard) => shard.routes.len(),
            None => self.demux.address_count(),
        };
        Stats::set(&self.stats.media_addresses, n as u64);
    }

    pub(super) fn unclaimed(&self) {
        Stats::add(&self.stats.datagrams_unclaimed, 1);
    }
}
