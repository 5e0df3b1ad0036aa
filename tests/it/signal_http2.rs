//! Browsers that talk HTTP/2 to the server open the WebSocket with an
//! extended CONNECT (RFC 8441), as Chromium does; that must work like the
//! HTTP/1.1 upgrade, Origin check included.

use std::sync::Arc;

use axum::body::Body;
use hyper::Method;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kabine::protocol::ServerMsg;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::support;

async fn h2_connect(server: &kabine::server::RunningServer, origin: &str) -> hyper::Response<hyper::body::Incoming> {
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
    send.send_request(request).await.expect("response")
}

#[tokio::test]
async fn websockets_over_http2_work_and_check_the_origin() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;

    let refused = h2_connect(&server, "https://evil.example").await;
    assert_eq!(refused.status(), 403);

    let mut response = h2_connect(&server, &support::own_origin(&server)).await;
    assert_eq!(response.status(), 200);
    let upgraded = hyper::upgrade::on(&mut response).await.expect("upgraded");
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    use futures_util::{SinkExt, StreamExt};
    ws.send(r#"{"type":"hello","version":1,"room":"h2","display_name":"Ada"}"#.into()).await.expect("sent");
    let reply = ws.next().await.expect("a frame").expect("readable");
    let msg: ServerMsg = serde_json::from_str(reply.to_text().expect("text")).expect("message");
    assert!(matches!(msg, ServerMsg::Welcome { .. }), "{msg:?}");
    assert!(server.stop().await);
}
