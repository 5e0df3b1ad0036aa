//! One port, three kinds of client: the HTTPS listener tells TLS from
//! ICE-TCP (an RFC 4571 frame carrying a STUN Binding request) by the first
//! bytes, and closes anything else. Garbage, silence and forged ICE-TCP
//! checks close only their own connection: a request on another connection
//! is answered meanwhile, and the server counts what it closed.

use std::time::{Duration, Instant};

use kabine::stats::Stats;
use str0m::ice::{StunMessage, TransId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support;

/// A framed STUN Binding request with a made-up MESSAGE-INTEGRITY.
fn framed_request(username: &str) -> Vec<u8> {
    let msg = StunMessage::binding_request(username, TransId::new(), true, 7, 1_845_501_695, true);
    let mut buf = vec![0u8; 1500];
    let n = msg.to_bytes(Some(b"wrong"), &mut buf, |_, _| [0x42; 20]).expect("serializes");
    let mut framed = (n as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&buf[..n]);
    framed
}

/// Waits until the server closes `stream`; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
}

async fn https_works(server: &kabine::server::RunningServer) {
    let r = support::https_client()
        .get(format!("{}/health", support::base_url(server)))
        .send()
        .await
        .expect("HTTPS answers while bad connections are open");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_silence_and_forged_ice_tcp_on_the_https_port_close_only_their_connection() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let stats = server.stats();
    let addr = kabine::http::reachable(server.https_addr());

    // Plain HTTP, an SSH banner, random bytes: closed at once.
    for garbage in [&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], b"SSH-2.0-OpenSSH_9.2\r\n", &[0xff; 64][..]] {
        let mut c = TcpStream::connect(addr).await.expect("connects");
        c.write_all(garbage).await.expect("writes");
        let took = closed_within(&mut c, Duration::from_secs(3)).await;
        assert!(took < Duration::from_secs(2), "garbage closed in {took:?}");
    }
    assert_eq!(Stats::get(&stats.https_port_garbage), 3);

    // Silence: held open meanwhile, answered requests on other connections.
    let mut silent = TcpStream::connect(addr).await.expect("connects");
    // A frame header and nothing more: cannot be told yet, then silence.
    let mut half = TcpStream::connect(addr).await.expect("connects");
    half.write_all(&[0x00, 0x54, 0x00]).await.expect("writes");
    https_works(&server).await;

    // ICE-TCP checks for no peer connection (an unknown ufrag, or none):
    // the media engine claims none and the connection closes.
    for username in ["nobody:evil", "nocolon"] {
        let mut c = TcpStream::connect(addr).await.expect("connects");
        c.write_all(&framed_request(username)).await.expect("writes");
        let took = closed_within(&mut c, Duration::from_secs(5)).await;
        assert!(took < Duration::from_secs(3), "an unclaimed ICE-TCP connection closed in {took:?}");
    }
    assert_eq!(Stats::get(&stats.tcp_unclaimed), 2);
    // The client sees the close as the write half shuts; the connection's
    // task counts it closed a moment later.
    let drained = support::eventually(Duration::from_secs(2), || Stats::get(&stats.tcp_connections) == 0).await;
    assert!(drained, "no ICE-TCP connection is left open: {}", Stats::get(&stats.tcp_connections));
    https_works(&server).await;

    // The silent ones are closed after the handshake timeout (10 s), which
    // bounds the first bytes too.
    let limit = kabine::http::ConnLimits::default().handshake + Duration::from_secs(5);
    let took = closed_within(&mut silent, limit).await;
    assert!(took >= Duration::from_secs(8), "a silent connection closed after {took:?}: too early");
    closed_within(&mut half, Duration::from_secs(3)).await;
    assert_eq!(Stats::get(&stats.https_port_garbage), 5);
    https_works(&server).await;
    assert!(server.stop().await);
}

/// Media connections on the HTTPS port are connections of its listener
/// (issue 14's limits): one not yet told apart holds a place of its
/// address, and `server.tls_handshake_timeout_secs` bounds its first bytes
/// as it bounds a TLS handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecided_media_connections_count_against_the_address_and_the_handshake_timeout() {
    let _t = support::test();
    let mut config = support::test_config();
    config.server.max_connections_per_address = 2;
    config.server.tls_handshake_timeout_secs = 4;
    let server = support::start(config).await;
    let addr = kabine::http::reachable(server.https_addr());

    // Two frame headers that cannot be told apart yet: the address's share.
    let mut halves = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(addr).await.expect("connects");
        c.write_all(&[0x00, 0x54, 0x00]).await.expect("writes");
        halves.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    // A third connection from the same address is closed at once.
    let mut third = TcpStream::connect(addr).await.expect("connects");
    let took = closed_within(&mut third, Duration::from_secs(3)).await;
    assert!(took < Duration::from_secs(2), "over the address's share, closed in {took:?}");

    // The two close after the handshake timeout (4 s), not the 10 s default.
    for half in &mut halves {
        closed_within(half, Duration::from_secs(9)).await;
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(8), "closed after {took:?}");
    // Their places are free again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    https_works(&server).await;
    assert!(server.stop().await);
}
