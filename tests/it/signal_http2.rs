//! The signalling WebSocket never runs over HTTP/2: the server does not
//! offer extended CONNECT (RFC 8441), so browsers open it on a connection
//! of its own, over HTTP/1.1. Chromium closes every HTTP/2 connection when
//! the machine's network changes, and a WebSocket carried over one died
//! with it (browser_network_change). Pages and the API still use HTTP/2.

use std::sync::Arc;

use axum::body::Body;
use hyper::Method;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::support;

async fn h2_connect(
    server: &kabine::server::RunningServer,
    origin: &str,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error> {
    let addr = kabine::http::reachable(server.https_addr());
    let mut tls = (*support::insecure_tls()).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.expect("tls");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "HTTP/2 negotiated");
    let (mut send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await
        .expect("h2");
    tokio::spawn(conn);
    let request = hyper::Request::builder()
        .method(Method::CONNECT)
        .uri(format!("https://{addr}/ws"))
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .header("sec-websocket-version", "13")
        .header("origin", origin)
        .body(Body::empty())
        .expect("request");
    send.send_request(request).await
}

/// The SETTINGS the server sends on a new HTTP/2 connection, raw.
async fn h2_settings(server: &kabine::server::RunningServer) -> Vec<(u16, u32)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = kabine::http::reachable(server.https_addr());
    let mut tls = (*support::insecure_tls()).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.expect("tls");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "HTTP/2 negotiated");
    // The client preface and an empty SETTINGS frame.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.expect("preface");
    let mut header = [0u8; 9];
    stream.read_exact(&mut header).await.expect("the server's first frame");
    assert_eq!(header[3], 4, "the server's first frame is SETTINGS");
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.expect("settings payload");
    payload
        .chunks_exact(6)
        .map(|c| (u16::from_be_bytes([c[0], c[1]]), u32::from_be_bytes([c[2], c[3], c[4], c[5]])))
        .collect()
}

/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441).
const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

#[tokio::test]
async fn http2_connections_offer_no_websockets_so_browsers_open_them_over_http1() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let settings = h2_settings(&server).await;
    assert!(!settings.is_empty(), "the server sent its settings");
    assert!(
        !settings.iter().any(|&(id, value)| id == ENABLE_CONNECT_PROTOCOL && value == 1),
        "extended CONNECT is offered: {settings:?}"
    );
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_websocket_over_http2_is_refused_and_changes_nothing() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    // The stream is reset (PROTOCOL_ERROR), or at least not upgraded.
    match h2_connect(&server, &support::own_origin(&server)).await {
        Ok(response) => assert_ne!(response.status(), 200, "an extended CONNECT was accepted"),
        Err(e) => assert!(format!("{e:?}").contains("PROTOCOL_ERROR"), "unexpected error: {e:?}"),
    }
    // The server is fine: a WebSocket over HTTP/1.1 joins as usual.
    let (_ws, _id) = support::ws_join(&server, "h2", "Ada").await;
    assert!(server.stop().await);
}
