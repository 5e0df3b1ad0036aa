//! The HTTPS client instant-acme talks to the CA with: Kabine's own rustls
//! provider, the system's CA roots plus `tls.acme.directory_ca_file`, one
//! HTTP/1.1 connection per request (a handful of requests per renewal), and
//! a time limit on each request so a CA that hangs cannot stall renewals.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http::header::HOST;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Time one request to the CA may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A cheap-to-clone HTTPS client for the CA.
#[derive(Clone)]
pub struct AcmeHttp {
    tls: TlsConnector,
}

impl AcmeHttp {
    /// Trusts the system's CA roots and those in `extra_ca` (PEM).
    pub fn new(extra_ca: Option<&Path>) -> Result<AcmeHttp, String> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = extra_ca {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("tls.acme.directory_ca_file: {}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("tls.acme.directory_ca_file: {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("tls.acme.directory_ca_file: {} holds no certificate", path.display()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| format!("tls.acme.directory_ca_file: {}: {e}", path.display()))?;
            }
        }
        if roots.is_empty() {
            return Err("no CA certificates in the system store to check the ACME CA with; \
                        install ca-certificates or set tls.acme.directory_ca_file"
                .into());
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(crate::tls::provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS settings for ACME: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(AcmeHttp { tls: TlsConnector::from(Arc::new(config)) })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let tls = self.tls.clone();
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, send(tls, req)).await {
                Ok(result) => result,
                Err(_) => Err(Error::Str("the ACME CA did not answer within 30 s")),
            }
        })
    }
}

fn other(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Other(Box::new(e))
}

async fn send(tls: TlsConnector, req: Request<BodyWrapper<Bytes>>) -> Result<BytesResponse, Error> {
    let (mut parts, body) = req.into_parts();
    if parts.uri.scheme_str() != Some("https") {
        return Err(Error::Str("the ACME CA gave a URL that is not https"));
    }
    let host = parts.uri.host().ok_or(Error::Str("an ACME URL without a host"))?.to_string();
    let port = parts.uri.port_u16().unwrap_or(443);
    let authority = parts.uri.authority().map(|a| a.as_str().to_string()).unwrap_or_else(|| host.clone());
    let bare_host = host.trim_start_matches('[').trim_end_matches(']').to_string();

    let tcp = TcpStream::connect((bare_host.as_str(), port)).await.map_err(other)?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(bare_host).map_err(other)?;
    let stream = tls.connect(name, tcp).await.map_err(other)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(other)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });

    // HTTP/1.1 wants the path in the request line and the host in a header.
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    parts.uri = path.parse().map_err(other)?;
    parts.headers.insert(HOST, authority.parse().map_err(other)?);
    let response = sender.send_request(Request::from_parts(parts, body)).await.map_err(other)?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(other)?.to_bytes();
    driver.abort();
    Ok(BytesResponse::from(http::Response::from_parts(parts, Full::new(bytes))))
}
