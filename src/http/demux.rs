//! One port for the web and for media over TCP: the first bytes of a
//! connection to the HTTPS listener say what it is. A TLS record (0x16)
//! goes on to rustls unchanged (the bytes are only peeked at, never read);
//! an RFC 4571 frame carrying a STUN Binding request is ICE-TCP and goes to
//! the media engine ([`crate::sfu::TcpMedia`]); anything else, or nothing
//! within the listener's handshake timeout (`server.tls_handshake_timeout_secs`,
//! [`super::serve_https`]), closes that connection and no other.
//! After the TLS handshake, the server name picks the TURN/TLS relay
//! ([`crate::turn`]) when it is `media.turn_tls_name`; every other name is
//! HTTPS ([`Fallbacks::after_tls`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::sfu::TcpMedia;
use crate::sfu::tcp::looks_like_ice_tcp;
use crate::stats::Stats;

/// Bytes needed to recognise an ICE-TCP frame.
const PEEK: usize = 10;
/// Pause between peeks while a frame header is incomplete.
const PEEK_AGAIN: Duration = Duration::from_millis(5);

/// What a connection on the HTTPS port turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tls,
    IceTcp,
    Other,
}

/// Classifies by the first bytes; `None`: too few to tell yet.
pub fn classify(first: &[u8]) -> Option<Kind> {
    match first.first()? {
        0x16 => Some(Kind::Tls),
        _ => match looks_like_ice_tcp(first)? {
            true => Some(Kind::IceTcp),
            false => Some(Kind::Other),
        },
    }
}

/// What shares the HTTPS port with the web.
#[derive(Default)]
pub struct Fallbacks {
    /// ICE-TCP (`media.ice_tcp`).
    pub ice_tcp: Option<TcpMedia>,
    /// The TURN/TLS relay and its server name (`media.turn_tls_name`).
    pub relay: Option<(String, Arc<crate::turn::server::Relay>)>,
}

impl Fallbacks {
    /// Before TLS, with the `kind` [`first_bytes`] found (`None`: none in
    /// time): `Some(stream)` for TLS (nothing consumed), `None` when the
    /// connection was served here (ICE-TCP, to its end) or closed (anything
    /// else; an ICE-TCP one too when ICE-TCP is off).
    pub async fn route<S>(
        &self,
        kind: Option<Kind>,
        stream: S,
        peer: SocketAddr,
        stats: &Arc<Stats>,
        shutdown: &CancellationToken,
    ) -> Option<S>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        match (kind, self.ice_tcp.as_ref()) {
            (Some(Kind::Tls), _) => Some(stream),
            (Some(Kind::IceTcp), Some(media)) => {
                media.serve(stream, peer, shutdown.clone()).await;
                None
            }
            _ => {
                Stats::add(&stats.https_port_garbage, 1);
                None
            }
        }
    }

    /// After the TLS handshake: `Some(stream)` for HTTPS, `None` when it
    /// was the relay's server name and the relay served it to its end.
    pub async fn after_tls<S>(
        &self,
        stream: S,
        server_name: Option<&str>,
        peer: SocketAddr,
        shutdown: &CancellationToken,
    ) -> Option<S>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match (&self.relay, server_name) {
            (Some((name, relay)), Some(sni)) if name.eq_ignore_ascii_case(sni) => {
                relay.serve(stream, crate::sfu::plain_address(peer), shutdown.clone()).await;
                None
            }
            _ => Some(stream),
        }
    }
}

/// Peeks until the first bytes tell what the connection is. `None`: the
/// client closed it first. The caller bounds the wait.
pub async fn first_bytes(stream: &TcpStream) -> Option<Kind> {
    let mut buf = [0u8; PEEK];
    loop {
        let n = stream.peek(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        if let Some(kind) = classify(&buf[..n]) {
            return Some(kind);
        }
        // Some bytes, not enough: `peek` would return them again at once.
        tokio::time::sleep(PEEK_AGAIN).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_ice_tcp_and_garbage_are_told_apart() {
        assert_eq!(classify(&[0x16, 0x03, 0x01]), Some(Kind::Tls));
        assert_eq!(classify(b"GET / HTTP/1.1"), Some(Kind::Other));
        assert_eq!(classify(b"SSH-2.0-x"), Some(Kind::Other));
        assert_eq!(classify(&[]), None);
        assert_eq!(classify(&[0x00, 0x54]), None, "could still be a frame header");
        let frame = [0x00, 0x54, 0x00, 0x01, 0x00, 0x40, 0x21, 0x12, 0xA4, 0x42];
        assert_eq!(classify(&frame), Some(Kind::IceTcp));
    }
}
