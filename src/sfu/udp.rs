//! The media socket's system calls, batched: large kernel buffers, up to
//! 32 datagrams per `recvmmsg` (and GRO), and consecutive datagrams of one
//! size to one destination in one `sendmsg` with UDP GSO. The batching is
//! quinn-udp's (a well-kept crate that wraps these calls safely), built
//! without its logging: it would name addresses.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Kernel buffer wanted for each direction: at 40 000 datagrams/s a
/// 4 MiB receive buffer rides out about 80 ms without the SFU task (the
/// default, ~200 KiB, is 4 ms). The kernel caps it at
/// `net.core.rmem_max` / `wmem_max`; docs/performance.md says how to raise them.
pub const BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Datagrams per receive call.
const BATCH: usize = quinn_udp::BATCH_SIZE;
/// Room per datagram (and GRO segment) in the receive buffers.
const DATAGRAM: usize = 1500;

/// The SFU's UDP socket.
pub struct MediaSocket {
    socket: UdpSocket,
    state: UdpSocketState,
    v6: bool,
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
    gso: Vec<u8>,
}

/// Buffer sizes the kernel granted, bytes.
#[derive(Debug, Clone, Copy)]
pub struct Buffers {
    pub receive: usize,
    pub send: usize,
}

impl MediaSocket {
    pub fn new(socket: UdpSocket) -> io::Result<MediaSocket> {
        let state = UdpSocketState::new((&socket).into())?;
        // Best effort: the kernel caps these at its maximum.
        let _ = state.set_recv_buffer_size((&socket).into(), BUFFER_BYTES);
        let _ = state.set_send_buffer_size((&socket).into(), BUFFER_BYTES);
        let v6 = socket.local_addr()?.is_ipv6();
        let per_buf = DATAGRAM * state.gro_segments().max(1);
        Ok(MediaSocket {
            socket,
            bufs: (0..BATCH).map(|_| vec![0u8; per_buf]).collect(),
            meta: vec![RecvMeta::default(); BATCH],
            gso: Vec::with_capacity(64 * 1024),
            state,
            v6,
        })
    }

    pub fn buffers(&self) -> Buffers {
        Buffers {
            receive: self.state.recv_buffer_size((&self.socket).into()).unwrap_or(0),
            send: self.state.send_buffer_size((&self.socket).into()).unwrap_or(0),
        }
    }

    /// Waits until a datagram may be waiting.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads what is waiting, at most `rounds` batches, and hands each
    /// datagram (source, contents) to `f`. Returns the number read.
    pub fn read(&mut self, rounds: usize, mut f: impl FnMut(SocketAddr, &[u8])) -> usize {
        let mut total = 0;
        for _ in 0..rounds {
            let MediaSocket { socket, state, bufs, meta, .. } = self;
            let socket: &UdpSocket = socket;
            let mut iovs: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let n = match socket.try_io(Interest::READABLE, || state.recv(socket.into(), &mut iovs, meta)) {
                Ok(n) => n,
                // WouldBlock: drained (tokio re-arms readiness). Other
                // errors (ICMP reports) concern one peer; go on next time.
                Err(_) => return total,
            };
            for (m, buf) in meta.iter().zip(bufs.iter()).take(n) {
                let source = plain(m.addr);
                let stride = if m.stride == 0 { m.len } else { m.stride };
                for datagram in buf[..m.len.min(buf.len())].chunks(stride.max(1)) {
                    f(source, datagram);
                    total += 1;
                }
            }
        }
        total
    }

    /// Sends datagrams; runs of one size to one destination go out in one
    /// GSO call. A full socket buffer drops them (UDP; str0m retransmits
    /// what matters).
    pub fn send(&mut self, transmits: &[str0m::net::Transmit]) {
        let max_segments = self.state.max_gso_segments().max(1);
        let mut i = 0;
        while i < transmits.len() {
            let first = &transmits[i];
            let size = first.contents.len();
            let mut j = i + 1;
            while j < transmits.len()
                && j - i < max_segments
                && transmits[j].destination == first.destination
                && transmits[j].contents.len() == size
                && (j - i + 1) * size <= 64_000
            {
                j += 1;
            }
            let destination = if self.v6 { mapped(first.destination) } else { first.destination };
            let (contents, segment_size): (&[u8], Option<usize>) = if j - i > 1 {
                self.gso.clear();
                for t in &transmits[i..j] {
                    self.gso.extend_from_slice(&t.contents);
                }
                (&self.gso, Some(size))
            } else {
                (&first.contents, None)
            };
            let t = Transmit { destination, ecn: None, contents, segment_size, src_ip: None };
            // The socket is non-blocking and never waited on for writing:
            // a full buffer (WouldBlock) drops the datagram.
            let _ = self.state.try_send((&self.socket).into(), &t);
            i = j;
        }
    }
}

/// IPv4-mapped IPv6 source addresses as plain IPv4.
pub fn plain(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

/// IPv4 destinations as IPv4-mapped IPv6, for a dual-stack socket.
pub fn mapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn datagrams_round_trip_batched_and_gso() {
        let a = MediaSocket::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        let mut a = a.expect("socket state");
        let b = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let to_b = b.local_addr().expect("addr");
        let from = a.socket.local_addr().expect("addr");
        let same = |n: u8| str0m::net::Transmit {
            proto: str0m::net::Protocol::Udp,
            source: from,
            destination: to_b,
            contents: vec![n; 100].into(),
        };
        // Three of one size (one GSO call), then a different size.
        let odd = str0m::net::Transmit {
            proto: str0m::net::Protocol::Udp,
            source: from,
            destination: to_b,
            contents: vec![9; 40].into(),
        };
        a.send(&[same(1), same(2), same(3), odd]);
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < 4 {
            let (n, _) = tokio::time::timeout(std::time::Duration::from_secs(2), b.recv_from(&mut buf))
                .await
                .expect("datagrams arrive")
                .expect("recv");
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got.iter().map(|d| (d.len(), d[0])).collect::<Vec<_>>(), [(100, 1), (100, 2), (100, 3), (40, 9)]);

        // And back: several datagrams read in one call.
        for n in 0..5u8 {
            b.send_to(&[n; 60], from).await.expect("send");
        }
        a.readable().await.expect("readable");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut seen = Vec::new();
        a.read(4, |source, d| {
            assert_eq!(source, to_b);
            seen.push(d[0]);
        });
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert!(a.buffers().receive > 0);
    }
}
