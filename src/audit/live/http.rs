//! The audit's own HTTPS and WebSocket client.
//!
//! The certificate is not checked here: the audit must be able to look at a
//! demo server with a self-signed certificate, and it judges the
//! certificate separately (`live.tls.certificate-trust`). Handshake
//! signatures are verified as usual, and nothing fetched is trusted for
//! anything but being analysed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Target;

/// Time for connecting, the TLS handshake and one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest body read.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// `User-Agent` of every request the audit makes.
pub fn user_agent() -> String {
    format!("kabine-audit/{}", env!("CARGO_PKG_VERSION"))
}

pub(super) fn client_config(alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    crate::tls::client_accepting_any_chain(provider, alpn).map_err(|e| e.to_string())
}

/// A TLS connection to the target (HTTP/1.1 offered by ALPN).
pub async fn connect(target: &Target) -> Result<TlsStream<TcpStream>, String> {
    let config = client_config(&[b"http/1.1"])?;
    let addr = target.addr().await?;
    let name = ServerName::try_from(target.host.clone()).map_err(|e| format!("{}: {e}", target.host))?;
    let attempt = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to port {}: {e}", target.port))?;
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, attempt).await.map_err(|_| "no TLS handshake within 15 s".to_string())?
}

/// The certificate chain the server presents, leaf first.
pub async fn peer_chain(target: &Target) -> Result<Vec<CertificateDer<'static>>, String> {
    let tls = connect(target).await?;
    let chain = tls.get_ref().1.peer_certificates().map(|c| c.iter().map(|d| d.clone().into_owned()).collect());
    chain.filter(|c: &Vec<_>| !c.is_empty()).ok_or_else(|| "the server presented no certificate".to_string())
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// Every value of a header, as text.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    }

    pub fn first(&self, name: &str) -> Option<String> {
        self.all(name).into_iter().next()
    }

    pub fn content_type(&self) -> String {
        self.first("content-type").unwrap_or_default().to_ascii_lowercase()
    }
}

/// `GET path` on a new connection, without following redirects.
pub async fn get(target: &Target, path: &str) -> Result<Response, String> {
    let attempt = async {
        let tls = connect(target).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = Request::get(path)
            .header(header::HOST, target.authority.as_str())
            .header(header::USER_AGENT, user_agent())
            .header(header::ACCEPT, "*/*")
            .body(Body::empty())
            .map_err(|e| format!("bad request for {path}: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("GET {path} failed: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(Body::new(response.into_body()), BODY_LIMIT)
            .await
            .map_err(|e| format!("GET {path}: reading the body failed: {e}"))?
            .to_vec();
        driver.abort();
        Ok(Response { status, headers, body })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, attempt).await.map_err(|_| format!("GET {path}: no answer within 15 s"))?
}

/// A WebSocket connection to `/ws`, as a browser on `origin` would open it.
pub type Socket = tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>;

/// Why a WebSocket handshake did not succeed.
#[derive(Debug)]
pub enum WsError {
    /// The server answered the upgrade with this HTTP status.
    Refused(u16),
    /// Anything else: connection, TLS, protocol.
    Other(String),
}

/// Opens `wss://target/ws` sending `Origin: origin` (no Origin header if `None`).
pub async fn ws_connect(target: &Target, origin: Option<&str>) -> Result<Socket, WsError> {
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
    let mut request =
        format!("wss://{}/ws", target.authority).into_client_request().map_err(|e| WsError::Other(e.to_string()))?;
    if let Some(o) = origin {
        request
            .headers_mut()
            .insert(header::ORIGIN, HeaderValue::from_str(o).map_err(|e| WsError::Other(e.to_string()))?);
    }
    if let Ok(ua) = HeaderValue::from_str(&user_agent()) {
        request.headers_mut().insert(header::USER_AGENT, ua);
    }
    let attempt = async {
        let tls = connect(target).await.map_err(WsError::Other)?;
        match tokio_tungstenite::client_async(request, tls).await {
            Ok((socket, _)) => Ok(socket),
            Err(tungstenite::Error::Http(response)) => Err(WsError::Refused(response.status().as_u16())),
            Err(e) => Err(WsError::Other(e.to_string())),
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, attempt)
        .await
        .map_err(|_| WsError::Other("no WebSocket handshake within 15 s".into()))?
}
