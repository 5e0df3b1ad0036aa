//! ICE over TCP (RFC 6544 passive candidates) on the HTTPS port: each
//! connection carries RFC 4571 frames (a 16-bit length, then one STUN,
//! DTLS, RTP or RTCP packet), which the SFU task takes exactly as it takes
//! datagrams from the media port.
//!
//! The HTTPS listener hands a connection here when its first bytes are a
//! frame carrying a STUN Binding request ([`looks_like_ice_tcp`]); this
//! module reads the frames and writes what the SFU sends back. The SFU task
//! owns every `Rtc` as before: a connection only passes frames to it
//! ([`LinkEvent`]) and takes frames from it through a bounded queue that the
//! SFU fills with `try_send` (media never waits for one slow connection).
//! A connection whose frames no peer connection claims is closed by the SFU
//! dropping its queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use str0m::net::Protocol;

use crate::link::{Link, LinkEvent, Outgoing, WRITE_QUEUE};
use crate::stats::Stats;

/// A connection that carries nothing for this long is closed: ICE consent
/// checks (every ~5 s) keep a live one busy.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes gathered into one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Whether `first` (the first bytes a client sent) is an RFC 4571 frame
/// carrying a STUN Binding request: a length, the message type 0x0001, a
/// message length and the magic cookie. `None`: too few bytes to tell.
pub fn looks_like_ice_tcp(first: &[u8]) -> Option<bool> {
    if first.len() < 10 {
        // Anything else than a frame header can be told at once.
        return match first {
            [] => None,
            [a, ..] if *a > 0x05 => Some(false),
            [_, _, t, ..] if *t != 0x00 => Some(false),
            [_, _, _, t, ..] if *t != 0x01 => Some(false),
            _ => None,
        };
    }
    let frame = u16::from_be_bytes([first[0], first[1]]) as usize;
    let stun = u16::from_be_bytes([first[4], first[5]]) as usize;
    Some(first[2..4] == [0x00, 0x01] && first[6..10] == [0x21, 0x12, 0xA4, 0x42] && frame == stun + 20)
}

/// The handle the HTTPS listener uses to pass ICE-TCP connections on.
#[derive(Clone)]
pub struct TcpMedia {
    events: mpsc::Sender<LinkEvent>,
    stats: Arc<Stats>,
}

impl TcpMedia {
    /// A handle that sends to the SFU task's `events` channel.
    pub fn new(events: mpsc::Sender<LinkEvent>, stats: Arc<Stats>) -> TcpMedia {
        TcpMedia { events, stats }
    }

    /// Serves one connection until either side ends it, the SFU refuses
    /// it, it stays idle, or `shutdown`.
    pub async fn serve<S>(&self, stream: S, peer: SocketAddr, shutdown: CancellationToken)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let link = Link { proto: Protocol::Tcp, remote: super::udp::plain(peer) };
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        if self.events.send(LinkEvent::Opened { link, queue: tx }).await.is_err() {
            return;
        }
        Stats::add(&self.stats.tcp_connections, 1);
        Stats::add(&self.stats.tcp_connections_total, 1);
        let (read, write) = tokio::io::split(stream);
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = read_frames(read, link, &self.events, &self.stats) => {}
            _ = write_frames(write, rx) => {}
        }
        self.stats.tcp_connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let _ = self.events.send(LinkEvent::Closed { link }).await;
    }
}

/// Reads frames and passes them on, until the end, an error or idleness.
async fn read_frames(
    mut read: tokio::io::ReadHalf<impl AsyncRead>,
    link: Link,
    events: &mpsc::Sender<LinkEvent>,
    stats: &Stats,
) {
    loop {
        let mut header = [0u8; 2];
        match tokio::time::timeout(IDLE_TIMEOUT, read.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = u16::from_be_bytes(header) as usize;
        let mut data = vec![0u8; len];
        match tokio::time::timeout(IDLE_TIMEOUT, read.read_exact(&mut data)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        if len == 0 {
            continue;
        }
        Stats::add(&stats.tcp_frames_in, 1);
        Stats::add(&stats.tcp_bytes_in, len as u64);
        // Waits when the SFU is busy: TCP pushes back on the sender.
        if events.send(LinkEvent::Packet { link, to: None, data }).await.is_err() {
            return;
        }
    }
}

/// Writes what the SFU sends, several frames per write when they queue up.
/// Ends when the SFU drops the queue (it refused the connection, or the
/// peer connection is gone) or the write fails.
async fn write_frames(mut write: tokio::io::WriteHalf<impl AsyncWrite>, mut frames: mpsc::Receiver<Outgoing>) {
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = frames.recv().await {
        buf.clear();
        push_frame(&mut buf, &first.data);
        while buf.len() < WRITE_BATCH {
            match frames.try_recv() {
                Ok(f) => push_frame(&mut buf, &f.data),
                Err(_) => break,
            }
        }
        if write.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

/// Appends one RFC 4571 frame. Packets over 65535 bytes cannot be framed;
/// the SFU never makes one (its packets fit a datagram).
fn push_frame(buf: &mut Vec<u8>, data: &[u8]) {
    let Ok(len) = u16::try_from(data.len()) else {
        return;
    };
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_binding_request_is_told_from_tls_and_garbage() {
        let msg = str0m::ice::StunMessage::binding_request("a:b", str0m::ice::TransId::new(), true, 0, 1, false);
        let mut stun = vec![0u8; 1500];
        let n = msg.to_bytes(Some(b"password"), &mut stun, |_, _| [0u8; 20]).expect("serialize");
        let mut framed = (n as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&stun[..n]);
        assert_eq!(looks_like_ice_tcp(&framed), Some(true));
        assert_eq!(looks_like_ice_tcp(&framed[..4]), None, "too short to tell");
        assert_eq!(looks_like_ice_tcp(&[0x16, 0x03, 0x01, 0x02, 0x00]), Some(false), "a TLS record");
        assert_eq!(looks_like_ice_tcp(b"GET / HTTP/1.1\r\n"), Some(false));
        assert_eq!(looks_like_ice_tcp(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Some(false));
        // The frame length must agree with the STUN length.
        let mut wrong = framed.clone();
        wrong[1] ^= 1;
        assert_eq!(looks_like_ice_tcp(&wrong), Some(false));
        // Only binding requests open an ICE-TCP connection.
        let mut response = framed.clone();
        response[2..4].copy_from_slice(&[0x01, 0x01]);
        assert_eq!(looks_like_ice_tcp(&response), Some(false));
    }

    #[test]
    fn frames_carry_their_length() {
        let mut buf = Vec::new();
        push_frame(&mut buf, &[1, 2, 3]);
        push_frame(&mut buf, &[]);
        assert_eq!(buf, [0, 3, 1, 2, 3, 0, 0]);
        push_frame(&mut buf, &vec![0u8; 70_000]);
        assert_eq!(buf.len(), 7, "an unframable packet is dropped");
    }
}
