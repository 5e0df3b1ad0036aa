//! Media that reaches the SFU over a stream instead of the UDP media port:
//! ICE-TCP connections ([`crate::sfu::tcp`]) and allocations of the TURN/TLS
//! relay ([`crate::turn`]). Each is a [`Link`]; the SFU task takes their
//! packets as it takes datagrams, and answers into each link's bounded
//! queue with `try_send` (media never waits for one slow link).

use std::net::SocketAddr;

use str0m::net::Protocol;
use tokio::sync::mpsc;

/// Capacity of the channel from the links to the SFU task.
pub const EVENT_QUEUE: usize = 4096;
/// Packets waiting to be written to one link; beyond this they are dropped
/// (as a full socket buffer drops datagrams).
pub const WRITE_QUEUE: usize = 512;

/// One link, as the SFU sees its remote end: an ICE-TCP connection is
/// `(Tcp, the browser's address)`; a relay allocation `(Udp, its relayed
/// address)`, as if the browser sent from there over UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Link {
    pub proto: Protocol,
    pub remote: SocketAddr,
}

/// A packet the SFU sends on a link: `from` is the SFU's own address it
/// leaves (the relay names it to the browser as the peer).
#[derive(Debug)]
pub struct Outgoing {
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

/// What the links tell the SFU task.
#[derive(Debug)]
pub enum LinkEvent {
    /// A link opened: packets for it go to `queue`.
    Opened { link: Link, queue: mpsc::Sender<Outgoing> },
    /// One packet from the link, to the SFU's address `to` (relay: the
    /// permitted peer it was sent to; ICE-TCP: `None`, the TCP candidate).
    Packet { link: Link, to: Option<SocketAddr>, data: Vec<u8> },
    /// The link ended.
    Closed { link: Link },
}
