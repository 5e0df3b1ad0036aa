//! Connections that send half of something and then nothing cannot use up
//! the server (issue 14, item 2): one address holds at most
//! `server.max_connections_per_address` connections (more are closed at
//! once), a TLS handshake or a request header that does not complete in
//! time is closed, and the plain-HTTP redirect listener has the same caps.
//! Meanwhile another address is served at once.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support;

const ATTACKER: &str = "127.0.0.1";
const OTHER: &str = "127.0.0.2";

/// The start of a TLS ClientHello record that never completes.
const HALF_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];

/// Opens `n` connections from `from` to `to` and sends `first` on each;
/// returns those that could be opened.
async fn half_open(from: IpAddr, to: SocketAddr, n: usize, first: &[u8]) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(mut tcp) = support::tcp_from(from, to).await else { continue };
        if tcp.write_all(first).await.is_ok() {
            conns.push(tcp);
        }
    }
    conns
}

/// How many of `conns` the server has closed within `within`.
async fn closed(conns: &mut [TcpStream], within: Duration) -> usize {
    let end = tokio::time::Instant::now() + within;
    let mut n = 0;
    for c in conns.iter_mut() {
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout_at(end, c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    n += 1;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_half_open_connections_from_one_address_leave_health_answering_for_another() {
    let _t = support::test();
    let mut config = support::test_config();
    // As if the file-descriptor budget allowed 1,000 connections.
    config.server.max_connections = 1000;
    config.server.tls_handshake_timeout_secs = 3;
    config.server.header_read_timeout_secs = 3;
    config.server.public_url = Some("https://meet.example.org".into());
    config.server.http_redirect_listen = Some("127.0.0.1:0".parse().expect("literal"));
    let server = support::start(config).await;
    let https = kabine::http::reachable(server.https_addr());
    let redirect = kabine::http::reachable(server.redirect_addr().expect("redirect listener"));
    let attacker: IpAddr = ATTACKER.parse().expect("literal");

    let mut tls_half = half_open(attacker, https, 1500, HALF_CLIENT_HELLO).await;
    let mut http_half = half_open(attacker, redirect, 1500, b"GET / HTTP/1.1\r\nHost: meet").await;
    let cap = kabine::config::ServerConfig::default().max_connections_per_address;
    // Over the per-address cap, connections are closed at once.
    let refused = closed(&mut tls_half, Duration::from_millis(500)).await;
    assert!(refused >= 1500 - cap, "only {refused} of 1500 TLS connections over the cap of {cap} were closed");
    let refused = closed(&mut http_half, Duration::from_millis(500)).await;
    assert!(refused >= 1500 - cap, "only {refused} of 1500 redirect connections over the cap were closed");

    // Another address is served at once, on both listeners.
    let other = support::https_client_from(OTHER.parse().expect("literal"));
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(1), other.get(format!("https://{https}/health")).send()).await;
    assert!(matches!(&r, Ok(Ok(r)) if r.status() == reqwest::StatusCode::OK), "{r:?} after {:?}", started.elapsed());
    let r = tokio::time::timeout(Duration::from_secs(1), other.get(format!("http://{redirect}/room")).send()).await;
    assert!(matches!(&r, Ok(Ok(r)) if r.status() == reqwest::StatusCode::PERMANENT_REDIRECT), "{r:?}");

    // The half-open ones within the cap are closed after the timeouts.
    let n = tls_half.len();
    assert_eq!(closed(&mut tls_half, Duration::from_secs(8)).await, n, "unfinished TLS handshakes are closed");
    let n = http_half.len();
    assert_eq!(closed(&mut http_half, Duration::from_secs(8)).await, n, "unfinished request headers are closed");
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_header_that_never_ends_is_closed_after_the_header_timeout() {
    let _t = support::test();
    let mut config = support::test_config();
    config.server.header_read_timeout_secs = 2;
    let server = support::start(config).await;
    let addr = kabine::http::reachable(server.https_addr());
    let tcp = TcpStream::connect(addr).await.expect("connects");
    let connector = tokio_rustls::TlsConnector::from(support::insecure_tls());
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.expect("sent");
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection is still open after 8 s");
    assert!(started.elapsed() >= Duration::from_millis(1500), "closed too early: {:?}", started.elapsed());
    assert!(server.stop().await);
}

/// A TLS connection speaking HTTP/2, with the client preface and an empty
/// SETTINGS frame sent.
async fn h2_raw(addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut tls = (*support::insecure_tls()).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls)).connect(name, tcp).await.expect("tls");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "HTTP/2 negotiated");
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.expect("preface");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_limits_streams_and_closes_a_silent_connection_after_the_idle_timeout() {
    let _t = support::test();
    let mut config = support::test_config();
    config.server.idle_timeout_secs = 10;
    let server = support::start(config).await;
    let addr = kabine::http::reachable(server.https_addr());
    let mut h2 = h2_raw(addr).await;
    let mut header = [0u8; 9];
    h2.read_exact(&mut header).await.expect("the server's first frame");
    assert_eq!(header[3], 4, "SETTINGS");
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; len];
    h2.read_exact(&mut payload).await.expect("settings");
    let settings: Vec<(u16, u32)> = payload
        .chunks(6)
        .map(|c| (u16::from_be_bytes([c[0], c[1]]), u32::from_be_bytes([c[2], c[3], c[4], c[5]])))
        .collect();
    assert!(settings.contains(&(3, 100)), "SETTINGS_MAX_CONCURRENT_STREAMS = 100: {settings:?}");
    // Then silence from the client: the server closes within the idle
    // timeout (10 s) and a margin, and not long before it.
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match h2.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a silent HTTP/2 connection is still open after 20 s");
    assert!(started.elapsed() >= Duration::from_secs(8), "closed too early: {:?}", started.elapsed());
    assert!(server.stop().await);
}
