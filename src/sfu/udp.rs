//! The media socket's system calls, batched: large kernel buffers, up to
//! 32 datagrams per `recvmmsg` (and GRO); consecutive datagrams of one
//! size to one destination in one `sendmsg` with UDP GSO, and every other
//! datagram of a batch — an SFU's fan-out, one packet to many
//! subscribers — in one `sendmmsg`. Receiving and GSO are quinn-udp's
//! (built without its logging: it would name addresses); `sendmmsg`,
//! which quinn-udp does not offer, is nix's safe wrapper.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
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
/// Datagrams per `sendmmsg` call (the kernel takes up to 1024).
const SEND_BATCH: usize = 64;

/// The SFU's UDP socket.
pub struct MediaSocket {
    socket: UdpSocket,
    state: UdpSocketState,
    v6: bool,
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
    gso: Vec<u8>,
    /// Indices of the datagrams of a batch that go out one by one.
    singles: Vec<usize>,
    /// Datagrams handed to the kernel by `sendmmsg`, and calls made.
    pub sent: SendCounts,
}

/// What the send path did, for the benchmark and its tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendCounts {
    /// `sendmmsg` calls and the datagrams they took.
    pub batch_calls: u64,
    pub batch_datagrams: u64,
    /// GSO `sendmsg` calls (a run of one size to one destination).
    pub gso_calls: u64,
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
            singles: Vec::with_capacity(SEND_BATCH),
            sent: SendCounts::default(),
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

    /// Sends datagrams: runs of one size to one destination go out in one
    /// GSO call, everything else in `sendmmsg` calls of up to
    /// [`SEND_BATCH`]. Datagrams to one destination keep their order. A
    /// full socket buffer drops them (UDP; str0m retransmits what matters).
    pub fn send(&mut self, transmits: &[str0m::net::Transmit]) {
        let max_segments = self.state.max_gso_segments().max(1);
        self.singles.clear();
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
            if j - i == 1 {
                self.singles.push(i);
                if self.singles.len() == SEND_BATCH {
                    self.send_singles(transmits);
                }
            } else {
                // What came before goes first: one destination's datagrams keep their order.
                self.send_singles(transmits);
                self.send_run(&transmits[i..j]);
            }
            i = j;
        }
        self.send_singles(transmits);
    }

    /// One `sendmsg` for datagrams of one size to one destination (GSO
    /// when there are several).
    fn send_run(&mut self, run: &[str0m::net::Transmit]) {
        let (contents, segment_size): (&[u8], Option<usize>) = if run.len() > 1 {
            self.gso.clear();
            for t in run {
                self.gso.extend_from_slice(&t.contents);
            }
            (&self.gso, Some(run[0].contents.len()))
        } else {
            (&run[0].contents, None)
        };
        let destination = if self.v6 { mapped(run[0].destination) } else { run[0].destination };
        let t = Transmit { destination, ecn: None, contents, segment_size, src_ip: None };
        // The socket is non-blocking and never waited on for writing:
        // a full buffer (WouldBlock) drops the datagrams.
        let _ = self.state.try_send((&self.socket).into(), &t);
        self.sent.gso_calls += 1;
    }

    /// The collected single datagrams in one `sendmmsg` (more when the
    /// kernel takes only part). A destination the kernel refuses (an ICMP
    /// report, a firewall) loses that datagram only; a full buffer drops
    /// the rest of the batch.
    fn send_singles(&mut self, transmits: &[str0m::net::Transmit]) {
        let fd = self.socket.as_raw_fd();
        let datagrams: Vec<(&[u8], SockaddrStorage)> = self
            .singles
            .iter()
            .map(|&k| (&transmits[k].contents[..], SockaddrStorage::from(self.destination(transmits[k].destination))))
            .collect();
        self.singles.clear();
        let mut start = 0;
        while start < datagrams.len() {
            self.sent.batch_calls += 1;
            match send_batch(fd, &datagrams[start..]) {
                Ok(0) | Err(Errno::EAGAIN) => break,
                Ok(n) => {
                    self.sent.batch_datagrams += n as u64;
                    start += n;
                }
                Err(Errno::EINTR) => {}
                Err(_) => start += 1,
            }
        }
    }

    fn destination(&self, to: SocketAddr) -> SocketAddr {
        if self.v6 { mapped(to) } else { to }
    }
}

/// One `sendmmsg` call; the number of datagrams the kernel took.
fn send_batch(fd: std::os::fd::RawFd, datagrams: &[(&[u8], SockaddrStorage)]) -> Result<usize, Errno> {
    let slices: Vec<[IoSlice<'_>; 1]> = datagrams.iter().map(|(d, _)| [IoSlice::new(d)]).collect();
    let addresses: Vec<Option<SockaddrStorage>> = datagrams.iter().map(|(_, a)| Some(*a)).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(datagrams.len(), None);
    let none: [ControlMessage<'_>; 0] = [];
    sendmmsg(fd, &mut headers, &slices, &addresses, none, MsgFlags::MSG_DONTWAIT).map(|sent| sent.count())
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

    #[tokio::test]
    async fn a_fan_out_leaves_in_one_sendmmsg_and_each_destination_keeps_its_order() {
        let mut a = MediaSocket::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind")).expect("socket state");
        let from = a.socket.local_addr().expect("addr");
        let mut peers = Vec::new();
        for _ in 0..5 {
            peers.push(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        }
        let to = |k: usize, n: u8, len: usize| str0m::net::Transmit {
            proto: str0m::net::Protocol::Udp,
            source: from,
            destination: peers[k].local_addr().expect("addr"),
            contents: vec![n; len].into(),
        };
        // One packet to each of five subscribers, twice, then a run of
        // three same-size datagrams to the first (GSO) between two singles
        // to it: 1..=5 and 11..=15 go out in sendmmsg calls, 20–22 in one
        // GSO call, 23 after them.
        let mut batch: Vec<_> = (0..5).map(|k| to(k, 1 + k as u8, 200)).collect();
        batch.extend((0..5).map(|k| to(k, 11 + k as u8, 300)));
        batch.extend([to(0, 20, 100), to(0, 21, 100), to(0, 22, 100), to(0, 23, 50)]);
        a.send(&batch);
        assert_eq!(a.sent, SendCounts { batch_calls: 2, batch_datagrams: 11, gso_calls: 1 });
        let mut buf = [0u8; 2048];
        for (k, peer) in peers.iter().enumerate() {
            let mut got = Vec::new();
            let want: Vec<u8> = if k == 0 { vec![1, 11, 20, 21, 22, 23] } else { vec![1 + k as u8, 11 + k as u8] };
            while got.len() < want.len() {
                let (n, source) = tokio::time::timeout(std::time::Duration::from_secs(2), peer.recv_from(&mut buf))
                    .await
                    .expect("datagrams arrive")
                    .expect("recv");
                assert_eq!(source, from);
                assert!(buf[..n].iter().all(|b| *b == buf[0]), "a datagram arrives whole");
                got.push(buf[0]);
            }
            assert_eq!(got, want, "subscriber {k} gets its datagrams in order");
        }
    }

    #[tokio::test]
    async fn a_refused_destination_costs_only_its_own_datagram() {
        // An IPv6 destination on an IPv4 socket: the kernel refuses that
        // message (EAFNOSUPPORT / EINVAL); the datagrams after it still go.
        let mut a = MediaSocket::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind")).expect("socket state");
        let from = a.socket.local_addr().expect("addr");
        let b = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let datagram = |destination: SocketAddr, n: u8| str0m::net::Transmit {
            proto: str0m::net::Protocol::Udp,
            source: from,
            destination,
            contents: vec![n; 80].into(),
        };
        let to_b = b.local_addr().expect("addr");
        let bad: SocketAddr = "[2001:db8::1]:9".parse().expect("address");
        a.send(&[datagram(to_b, 1), datagram(bad, 2), datagram(to_b, 3)]);
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while got.len() < 2 {
            let (n, _) = tokio::time::timeout(std::time::Duration::from_secs(2), b.recv_from(&mut buf))
                .await
                .expect("datagrams arrive")
                .expect("recv");
            got.push(buf[..n][0]);
        }
        assert_eq!(got, [1, 3]);
    }
}
