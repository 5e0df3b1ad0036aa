//! Server counters for tests, benchmarks and `/metrics`: cheap atomics,
//! reachable from [`crate::server::RunningServer::stats`] inside the
//! process, and as whole-server counts on the metrics listener (off by
//! default, loopback by default: even counts of rooms say something about
//! who meets when). Nothing here names a room, a person or an address,
//! except the per-subscription counters, which `/metrics` never shows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::protocol::Source;

/// Counters of a running server.
#[derive(Debug, Default)]
pub struct Stats {
    /// Rooms open now.
    pub rooms_open: AtomicU64,
    /// Participants in all rooms now.
    pub participants: AtomicU64,
    /// Signalling connections open now, joined or not.
    pub sessions: AtomicU64,
    /// HTTPS connections open now (after the TLS handshake).
    pub https_connections: AtomicU64,
    /// HTTPS connections accepted since the start.
    pub https_connections_total: AtomicU64,
    /// str0m `Rtc` instances (peer connections) alive now.
    pub peer_connections: AtomicU64,
    /// Remote addresses the media demultiplexer knows now.
    pub media_addresses: AtomicU64,
    /// RTP packets received from publishers.
    pub packets_in: AtomicU64,
    /// RTP payload bytes received from publishers.
    pub bytes_in: AtomicU64,
    /// RTP packets forwarded to subscribers.
    pub packets_out: AtomicU64,
    /// RTP payload bytes forwarded to subscribers.
    pub bytes_out: AtomicU64,
    /// Datagrams dropped because no peer connection claims them.
    pub datagrams_unclaimed: AtomicU64,
    /// Engine threads (shards) forwarding media (`media.engine_threads`).
    pub engine_threads: AtomicU64,
    /// Participants whose media each engine thread carries.
    pub engine_thread_participants: [AtomicU64; crate::config::MAX_ENGINE_THREADS as usize],
    /// Datagrams the dispatcher dropped because their engine thread's
    /// queue was full (`media.engine_threads` above 1).
    pub datagrams_dropped_busy: AtomicU64,
    /// STUN requests refused by the short-term credential check.
    pub stun_refused: AtomicU64,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: AtomicU64,
    /// Audio slots that changed occupant (including first fills and
    /// occupants leaving).
    pub audio_slot_switches: AtomicU64,
    /// Rooms whose two members talk directly now (the SFU forwards nothing
    /// for them).
    pub p2p_direct_rooms: AtomicU64,
    /// RTP datagrams (str0m's padding) the engine did not send to a member
    /// of a direct call: the server sends them no RTP at all.
    pub p2p_rtp_suppressed: AtomicU64,
    /// Direct calls started (`p2p_start` sent to a pair).
    pub p2p_attempts: AtomicU64,
    /// Direct calls that failed or did not connect in time (the pair
    /// stayed on, or went back to, the SFU).
    pub p2p_failures: AtomicU64,
    /// Plain STUN binding requests answered on the media port.
    pub stun_bindings_answered: AtomicU64,
    /// Plain STUN binding requests dropped by the rate limit.
    pub stun_bindings_limited: AtomicU64,
    /// ICE-TCP connections (media over TCP on the HTTPS port) open now.
    pub tcp_connections: AtomicU64,
    /// ICE-TCP connections accepted since the start.
    pub tcp_connections_total: AtomicU64,
    /// RFC 4571 frames received on ICE-TCP connections.
    pub tcp_frames_in: AtomicU64,
    /// Bytes of those frames (without the length prefix).
    pub tcp_bytes_in: AtomicU64,
    /// Frames the SFU sent on ICE-TCP connections.
    pub tcp_frames_out: AtomicU64,
    /// Bytes of those frames (without the length prefix).
    pub tcp_bytes_out: AtomicU64,
    /// Frames dropped because a connection's write queue was full.
    pub tcp_frames_dropped: AtomicU64,
    /// ICE-TCP connections closed because no peer connection claimed them.
    pub tcp_unclaimed: AtomicU64,
    /// Connections to the HTTPS port closed before TLS because their first
    /// bytes were neither TLS nor ICE-TCP (or never came).
    pub https_port_garbage: AtomicU64,
    /// Allocations made on the TURN/TLS relay since the start.
    pub relay_allocations: AtomicU64,
    /// Relay requests refused for their credentials (unknown, expired, wrong).
    pub relay_auth_failures: AtomicU64,
    /// Relay permissions or packets refused for a peer that is not the SFU.
    pub relay_peers_refused: AtomicU64,
    /// Bytes relayed from clients to the SFU.
    pub relay_bytes_in: AtomicU64,
    /// Bytes relayed from the SFU to clients.
    pub relay_bytes_out: AtomicU64,
    subscriptions: Mutex<HashMap<SubscriptionKey, Arc<SubscriptionStats>>>,
}

/// Who receives whose video.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionKey {
    /// Public id of the receiving participant.
    pub subscriber: String,
    /// Public id of the sending participant.
    pub publisher: String,
    pub source: Source,
}

/// Counters of one forwarded track for one subscriber.
#[derive(Debug, Default)]
pub struct SubscriptionStats {
    /// The simulcast layer forwarded now: 0 none, 1 `l`, 2 `m`, 3 `h`, 4 a
    /// stream without layers.
    selected: AtomicU64,
    /// Packets forwarded per layer (`l`, `m`, `h`, without layers).
    packets: [AtomicU64; 4],
}

/// The layer a subscriber receives of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarded {
    Nothing,
    Layer(usize),
    Single,
}

impl SubscriptionStats {
    /// Records a forwarded packet of `layer` (`None`: stream without layers).
    pub fn count(&self, layer: Option<usize>) {
        let i = layer.unwrap_or(3).min(3);
        self.packets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Records the layer being forwarded now.
    pub fn select(&self, forwarded: Forwarded) {
        let v = match forwarded {
            Forwarded::Nothing => 0,
            Forwarded::Layer(l) => 1 + l.min(2) as u64,
            Forwarded::Single => 4,
        };
        self.selected.store(v, Ordering::Relaxed);
    }

    /// The layer forwarded now.
    pub fn selected(&self) -> Forwarded {
        match self.selected.load(Ordering::Relaxed) {
            0 => Forwarded::Nothing,
            4 => Forwarded::Single,
            v => Forwarded::Layer(v as usize - 1),
        }
    }

    /// Packets forwarded so far per layer: `l`, `m`, `h`, without layers.
    pub fn packets(&self) -> [u64; 4] {
        [0, 1, 2, 3].map(|i| self.packets[i].load(Ordering::Relaxed))
    }
}

impl Stats {
    /// Counters for a new subscription (replacing older ones of that key).
    pub fn subscription(&self, key: SubscriptionKey) -> Arc<SubscriptionStats> {
        let s = Arc::new(SubscriptionStats::default());
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::clone(&s));
        s
    }

    /// Drops the counters of a subscription that ended.
    pub fn end_subscription(&self, key: &SubscriptionKey) {
        if let Some(s) = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).remove(key) {
            tracing::debug!(?key, packets = ?s.packets(), selected = ?s.selected(), "subscription ended");
        }
    }

    /// The counters of `subscriber` receiving `publisher`'s `source`.
    pub fn subscription_of(&self, subscriber: &str, publisher: &str, source: Source) -> Option<Arc<SubscriptionStats>> {
        let key = SubscriptionKey { subscriber: subscriber.into(), publisher: publisher.into(), source };
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned()
    }

    /// Number of live subscriptions (forwarded tracks) on the server.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }
}
