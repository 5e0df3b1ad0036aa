//! One connection to the TURN/TLS relay: at most one allocation, whose
//! peers can only be the SFU's own media addresses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::net::Protocol;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::message::{self as m, Builder, Class, Message, Next};
use super::{Issuer, REALM, Refusal, RelayAddresses, long_term_key, unix_now};
use crate::link::{Link, LinkEvent, Outgoing, WRITE_QUEUE};
use crate::stats::Stats;

/// Allocation lifetime when the client asks for none (RFC 8656: 10 min).
const DEFAULT_LIFETIME: u32 = 600;
/// The longest allocation lifetime granted.
const MAX_LIFETIME: u32 = 3600;
/// Permissions and channel bindings last this long unless refreshed.
const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// A connection without an allocation after this long is closed.
const ALLOCATE_WITHIN: Duration = Duration::from_secs(30);
/// Receive buffer: one whole message at most (65535 + 20) and some.
const BUFFER: usize = 80 * 1024;

/// What every relay connection shares.
pub struct Relay {
    pub issuer: Issuer,
    /// The SFU's media addresses: the only peers allowed.
    pub peers: Vec<SocketAddr>,
    pub links: mpsc::Sender<LinkEvent>,
    pub addresses: RelayAddresses,
    pub stats: Arc<Stats>,
}

struct Allocation {
    link: Link,
    username: String,
    key: [u8; 16],
    expires: Instant,
    permissions: HashMap<SocketAddr, Instant>,
    channels: HashMap<u16, SocketAddr>,
    channel_of: HashMap<SocketAddr, u16>,
}

/// One connection's state.
struct Conn<'a> {
    relay: &'a Relay,
    client: SocketAddr,
    nonce: String,
    alloc: Option<Allocation>,
    out: Vec<u8>,
}

impl Relay {
    /// Whether the relay may send to `peer`: exactly one of the SFU's media
    /// addresses. Nothing else — not loopback, not a private or
    /// IPv4-mapped address, not 0.0.0.0, not another port of this server.
    pub fn allowed(&self, peer: &SocketAddr) -> bool {
        self.peers.contains(peer)
    }

    /// Serves one connection (TLS already accepted) until it ends.
    pub async fn serve<S>(&self, stream: S, client: SocketAddr, shutdown: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        use rand::Rng;
        let nonce: String = (0..16).map(|_| format!("{:x}", rand::rng().random_range(0..16u8))).collect();
        let mut conn = Conn { relay: self, client, nonce, alloc: None, out: Vec::new() };
        let (mut read, mut write) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::channel::<Outgoing>(WRITE_QUEUE);
        let mut tx = Some(tx);
        let mut buf = vec![0u8; BUFFER];
        let mut filled = 0;
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                n = read.read(&mut buf[filled..]) => {
                    match n {
                        Ok(0) | Err(_) => break,
                        Ok(n) => filled += n,
                    }
                    let mut at = 0;
                    let mut bad = false;
                    loop {
                        let size = match m::next(&buf[at..filled]) {
                            Next::Stun(n) | Next::ChannelData(n) => n,
                            Next::More => break,
                            Next::Bad => { bad = true; break; }
                        };
                        if filled - at < size {
                            break;
                        }
                        conn.input(&buf[at..at + size], &mut tx).await;
                        at += size;
                    }
                    if bad {
                        break;
                    }
                    buf.copy_within(at..filled, 0);
                    filled -= at;
                }
                out = rx.recv() => match out {
                    Some(out) => conn.relay_from_sfu(out),
                    // The SFU ended the allocation's link (nothing it sent
                    // was for a peer connection): so does the relay.
                    None => break,
                },
                _ = tick.tick() => {
                    let now = Instant::now();
                    if conn.alloc.is_none() && now - started > ALLOCATE_WITHIN {
                        break;
                    }
                    if conn.alloc.as_ref().is_some_and(|a| a.expires <= now) {
                        conn.deallocate().await;
                        break;
                    }
                    if let Some(a) = conn.alloc.as_mut() {
                        a.permissions.retain(|_, t| *t > now);
                    }
                }
            }
            if !conn.out.is_empty() {
                if write.write_all(&conn.out).await.is_err() {
                    break;
                }
                conn.out.clear();
            }
        }
        conn.deallocate().await;
        let _ = write.shutdown().await;
    }
}

impl Conn<'_> {
    async fn input(&mut self, data: &[u8], queue: &mut Option<mpsc::Sender<Outgoing>>) {
        if data[0] >> 6 == 1 {
            return self.channel_data(data).await;
        }
        let Some(msg) = Message::parse(data) else {
            return;
        };
        match (msg.method, msg.class) {
            (m::SEND, Class::Indication) => self.send_indication(&msg).await,
            (_, Class::Request) => {
                let reply = self.request(&msg, queue).await;
                self.out.extend_from_slice(&reply);
            }
            _ => {}
        }
    }

    fn reply(&self, msg: &Message<'_>) -> Builder {
        Builder::new(msg.method, Class::Success, msg.transaction)
    }

    fn refuse(&self, msg: &Message<'_>, code: u16, reason: &str, key: Option<&[u8]>) -> Vec<u8> {
        let mut b = Builder::new(msg.method, Class::Error, msg.transaction).error(code, reason);
        if code == 401 || code == 438 {
            b = b.attr(m::REALM, REALM.as_bytes()).attr(m::NONCE, self.nonce.as_bytes());
        }
        b.finish(key)
    }

    /// Checks the long-term credential; the key, or the error reply.
    fn authenticate(&self, msg: &Message<'_>) -> Result<[u8; 16], Vec<u8>> {
        let (Some(username), Some(_)) = (msg.text(m::USERNAME), msg.attr(m::MESSAGE_INTEGRITY)) else {
            return Err(self.refuse(msg, 401, "Unauthorized", None));
        };
        if msg.text(m::NONCE) != Some(self.nonce.as_str()) {
            return Err(self.refuse(msg, 438, "Stale Nonce", None));
        }
        if let Some(a) = &self.alloc {
            // An allocation keeps the key it was made with: its requests
            // need no fresh credentials, only the same ones.
            if a.username != username || !msg.integrity_ok(&a.key) {
                Stats::add(&self.relay.stats.relay_auth_failures, 1);
                return Err(self.refuse(msg, 441, "Wrong Credentials", None));
            }
            return Ok(a.key);
        }
        let password = match self.relay.issuer.check(username, unix_now()) {
            Ok(p) => p,
            Err(Refusal::Expired) | Err(Refusal::UnknownUser) => {
                Stats::add(&self.relay.stats.relay_auth_failures, 1);
                return Err(self.refuse(msg, 401, "Unauthorized", None));
            }
        };
        let key = long_term_key(username, &password);
        if !msg.integrity_ok(&key) {
            Stats::add(&self.relay.stats.relay_auth_failures, 1);
            return Err(self.refuse(msg, 401, "Unauthorized", None));
        }
        Ok(key)
    }

    async fn request(&mut self, msg: &Message<'_>, queue: &mut Option<mpsc::Sender<Outgoing>>) -> Vec<u8> {
        let key = match self.authenticate(msg) {
            Ok(k) => k,
            Err(reply) => return reply,
        };
        let now = Instant::now();
        match msg.method {
            m::ALLOCATE => {
                if self.alloc.is_some() {
                    return self.refuse(msg, 437, "Allocation Mismatch", Some(&key));
                }
                if msg.attr(m::REQUESTED_TRANSPORT).and_then(|v| v.first()) != Some(&17) {
                    return self.refuse(msg, 442, "Unsupported Transport Protocol", Some(&key));
                }
                let Some(queue) = queue.take() else {
                    return self.refuse(msg, 437, "Allocation Mismatch", Some(&key));
                };
                let link = Link { proto: Protocol::Udp, remote: self.relay.addresses.next() };
                if self.relay.links.send(LinkEvent::Opened { link, queue }).await.is_err() {
                    return self.refuse(msg, 508, "Insufficient Capacity", Some(&key));
                }
                let lifetime = lifetime(msg).max(60);
                let username = msg.text(m::USERNAME).unwrap_or_default().to_string();
                self.alloc = Some(Allocation {
                    link,
                    username,
                    key,
                    expires: now + Duration::from_secs(lifetime.into()),
                    permissions: HashMap::new(),
                    channels: HashMap::new(),
                    channel_of: HashMap::new(),
                });
                Stats::add(&self.relay.stats.relay_allocations, 1);
                self.reply(msg)
                    .address(m::XOR_RELAYED_ADDRESS, link.remote)
                    .attr(m::LIFETIME, &lifetime.to_be_bytes())
                    .address(m::XOR_MAPPED_ADDRESS, self.client)
                    .finish(Some(&key))
            }
            m::REFRESH => {
                let lifetime = lifetime(msg);
                if self.alloc.is_none() {
                    return self.refuse(msg, 437, "Allocation Mismatch", Some(&key));
                }
                if lifetime == 0 || msg.attr(m::LIFETIME) == Some(&[0, 0, 0, 0]) {
                    self.deallocate().await;
                    return self.reply(msg).attr(m::LIFETIME, &0u32.to_be_bytes()).finish(Some(&key));
                }
                if let Some(a) = self.alloc.as_mut() {
                    a.expires = now + Duration::from_secs(lifetime.into());
                }
                self.reply(msg).attr(m::LIFETIME, &lifetime.to_be_bytes()).finish(Some(&key))
            }
            m::CREATE_PERMISSION | m::CHANNEL_BIND => self.permit(msg, &key, now),
            _ => self.refuse(msg, 400, "Bad Request", Some(&key)),
        }
    }

    /// CreatePermission and ChannelBind: only for the SFU's own addresses.
    fn permit(&mut self, msg: &Message<'_>, key: &[u8; 16], now: Instant) -> Vec<u8> {
        let peers: Vec<Option<SocketAddr>> = msg
            .attrs
            .iter()
            .filter(|(k, _)| *k == m::XOR_PEER_ADDRESS)
            .map(|(_, v)| m::xor_address(v, &msg.transaction))
            .collect();
        if peers.is_empty() || peers.contains(&None) {
            return self.refuse(msg, 400, "Bad Request", Some(key));
        }
        let peers: Vec<SocketAddr> = peers.into_iter().flatten().collect();
        if !peers.iter().all(|p| self.relay.allowed(p)) {
            Stats::add(&self.relay.stats.relay_peers_refused, 1);
            return self.refuse(msg, 403, "Forbidden", Some(key));
        }
        let channel = match msg.method {
            m::CHANNEL_BIND => match msg.attr(m::CHANNEL_NUMBER) {
                Some([a, b, ..]) if (0x4000..=0x4FFF).contains(&u16::from_be_bytes([*a, *b])) && peers.len() == 1 => {
                    Some(u16::from_be_bytes([*a, *b]))
                }
                _ => return self.refuse(msg, 400, "Bad Request", Some(key)),
            },
            _ => None,
        };
        let Some(a) = self.alloc.as_mut() else {
            return self.refuse(msg, 437, "Allocation Mismatch", Some(key));
        };
        if let Some(ch) = channel {
            let peer = peers[0];
            let clash =
                a.channels.get(&ch).is_some_and(|p| *p != peer) || a.channel_of.get(&peer).is_some_and(|c| *c != ch);
            if clash {
                return self.refuse(msg, 400, "Bad Request", Some(key));
            }
            a.channels.insert(ch, peer);
            a.channel_of.insert(peer, ch);
        }
        for p in peers {
            a.permissions.insert(p, now + PERMISSION_LIFETIME);
        }
        self.reply(msg).finish(Some(key))
    }

    async fn send_indication(&mut self, msg: &Message<'_>) {
        let (Some(peer), Some(data)) = (msg.address(m::XOR_PEER_ADDRESS), msg.attr(m::DATA_ATTR)) else {
            return;
        };
        self.relay_to_sfu(peer, data).await;
    }

    async fn channel_data(&mut self, data: &[u8]) {
        let channel = u16::from_be_bytes([data[0], data[1]]);
        let len = u16::from_be_bytes([data[2], data[3]]) as usize;
        let Some(peer) = self.alloc.as_ref().and_then(|a| a.channels.get(&channel)).copied() else {
            return;
        };
        if let Some(payload) = data.get(4..4 + len) {
            self.relay_to_sfu(peer, payload).await;
        }
    }

    /// A packet for the SFU, if the allocation may send to `peer`.
    async fn relay_to_sfu(&mut self, peer: SocketAddr, data: &[u8]) {
        let Some(a) = &self.alloc else {
            return;
        };
        if !self.relay.allowed(&peer) || !a.permissions.contains_key(&peer) {
            Stats::add(&self.relay.stats.relay_peers_refused, 1);
            return;
        }
        Stats::add(&self.relay.stats.relay_bytes_in, data.len() as u64);
        let event = LinkEvent::Packet { link: a.link, to: Some(peer), data: data.to_vec() };
        let _ = self.relay.links.send(event).await;
    }

    /// A packet from the SFU to the client: ChannelData if bound, else a
    /// Data indication.
    fn relay_from_sfu(&mut self, out: Outgoing) {
        let Some(a) = &self.alloc else {
            return;
        };
        if let Some(ch) = a.channel_of.get(&out.from) {
            self.out.extend_from_slice(&m::channel_data(*ch, &out.data));
        } else if a.permissions.contains_key(&out.from) {
            let mut transaction = [0u8; 12];
            use rand::RngCore;
            rand::rng().fill_bytes(&mut transaction);
            let msg = Builder::new(m::DATA, Class::Indication, transaction)
                .address(m::XOR_PEER_ADDRESS, out.from)
                .attr(m::DATA_ATTR, &out.data)
                .finish(None);
            self.out.extend_from_slice(&msg);
        }
    }

    async fn deallocate(&mut self) {
        if let Some(a) = self.alloc.take() {
            let _ = self.relay.links.send(LinkEvent::Closed { link: a.link }).await;
        }
    }
}

/// The lifetime asked for, within bounds (0 stays 0: a deallocation).
fn lifetime(msg: &Message<'_>) -> u32 {
    match msg.attr(m::LIFETIME) {
        Some([a, b, c, d]) => u32::from_be_bytes([*a, *b, *c, *d]).min(MAX_LIFETIME),
        _ => DEFAULT_LIFETIME,
    }
}
