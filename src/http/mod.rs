//! The HTTPS front: the browser client, the JSON API and the WebSocket, all
//! on one origin, behind rustls. Every response carries the security headers
//! of [`headers`]; user mistakes are answered, not logged.

pub mod api;
pub mod assets;
pub mod headers;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodFilter, get, on, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::auth::Auth;
use crate::config::Config;

/// Time a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time open connections get to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The client's address, kept in request extensions for rate limiting only.
/// It is never logged and never stored beyond the request.
#[derive(Debug, Clone, Copy)]
pub struct PeerIp(pub IpAddr);

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// Accounts, login sessions, throttling.
    pub auth: Arc<Auth>,
    /// Hands WebSocket connections to the room actor.
    pub signal: crate::signal::Signalling,
}

/// Every route of the HTTPS origin, without a socket (tests call it directly).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/static/{file}", get(static_file))
        .route("/api/client-config", get(client_config))
        .route("/api/logo", get(logo))
        .route("/api/login", post(api::login).layer(DefaultBodyLimit::max(api::MAX_BODY)))
        .route("/api/logout", post(api::logout).layer(DefaultBodyLimit::max(api::MAX_BODY)))
        .route("/api/password", post(api::change_password).layer(DefaultBodyLimit::max(api::MAX_BODY)))
        .route("/api/session", get(api::session))
        .route("/account", get(account_page))
        // HTTP/1.1 upgrades only: see `serve_https` for why no WebSocket
        // runs over HTTP/2.
        .route("/ws", on(MethodFilter::GET, ws::ws_handler))
        .route("/{room}", get(room_page))
        .fallback(not_found)
        .layer(axum::middleware::map_response(headers::add_security_headers))
        .with_state(state)
}

async fn health() -> Response {
    headers::dynamic(axum::Json(serde_json::json!({ "status": "ok" })).into_response())
}

async fn index(request_headers: HeaderMap) -> Response {
    serve_asset("index.html", &request_headers)
}

/// Every room name gets the same page; the client reads the name from the
/// path. The server answers identically whether the room exists or not.
async fn room_page(Path(room): Path<String>, request_headers: HeaderMap) -> Response {
    if !crate::protocol::room_name_is_valid(&room) {
        return not_found().await;
    }
    serve_asset("index.html", &request_headers)
}

/// The account page (password change): the same client page, which reads
/// the path. Not a room: `account` is a reserved name.
async fn account_page(request_headers: HeaderMap) -> Response {
    serve_asset("index.html", &request_headers)
}

async fn static_file(Path(file): Path<String>, request_headers: HeaderMap) -> Response {
    serve_asset(&file, &request_headers)
}

fn serve_asset(name: &str, request_headers: &HeaderMap) -> Response {
    let Some(asset) = assets::find(name) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let tag = assets::etag(asset.body);
    let mut response = if request_headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag.as_str())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Settings the client needs before it connects: branding, languages, links.
async fn client_config(State(state): State<AppState>) -> Response {
    let c = &state.config.client;
    let body = serde_json::json!({
        "app_name": c.app_name,
        "default_language": c.default_language,
        "require_display_name": c.require_display_name,
        "imprint_url": c.imprint_url,
        "privacy_url": c.privacy_url,
        "has_logo": c.logo_file.is_some(),
        "direct_calls": state.config.p2p.enabled,
        "e2ee": state.config.e2ee.mode.as_str(),
    });
    headers::dynamic(axum::Json(body).into_response())
}

/// The operator's logo (`client.logo_file`, PNG or SVG), or Kabine's mark.
/// The file is read on each request, so a new logo shows without a restart;
/// one that cannot be read falls back to the built-in mark.
async fn logo(State(state): State<AppState>, request_headers: HeaderMap) -> Response {
    let custom = match &state.config.client.logo_file {
        Some(path) => {
            let content_type = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
                Some("png") => Some("image/png"),
                Some("svg") => Some("image/svg+xml"),
                _ => None,
            };
            match (content_type, tokio::fs::read(path).await) {
                (Some(ct), Ok(body)) => Some((ct, body)),
                _ => None,
            }
        }
        None => None,
    };
    let (content_type, body): (&str, std::borrow::Cow<'static, [u8]>) = match custom {
        Some((ct, body)) => (ct, body.into()),
        None => ("image/svg+xml", assets::DEFAULT_LOGO.into()),
    };
    let tag = assets::etag(&body);
    let mut response = if request_headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag.as_str())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body.into_owned()).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Accepts TLS connections on `listener` and serves `app` on them until
/// `shutdown`; then gives open requests [`SHUTDOWN_GRACE`] to finish.
pub async fn serve_https(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    max_connections: usize,
    stats: Arc<crate::stats::Stats>,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                // Failed handshakes (old TLS versions, scanners) are the client's business.
                _ => return,
            };
            // An ACME validator has seen the challenge certificate; it sends
            // nothing more (RFC 8737), and gets nothing more.
            if tls.get_ref().1.alpn_protocol() == Some(crate::tls::ACME_TLS_ALPN) {
                return;
            }
            let _open = OpenConnection::count(&stats);
            let service = TowerToHyperService::new(app.map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(PeerIp(peer.ip()));
                req.map(Body::new)
            }));
            // No extended CONNECT (RFC 8441): browsers then open the
            // signalling WebSocket on a connection of its own, over HTTP/1.1.
            // Chromium closes every HTTP/2 connection when the machine's
            // network changes (an interface or address comes or goes: a VPN,
            // a container), and a WebSocket carried over one died with it —
            // the whole call reconnected, twice per change
            // (browser_network_change).
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                // Mostly clients going away mid-request; an HTTP/2 protocol
                // error here ends every WebSocket on the connection.
                tracing::debug!(error = %e, "an HTTPS connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// Counts an HTTPS connection as open while it lives.
struct OpenConnection<'a>(&'a crate::stats::Stats);

impl<'a> OpenConnection<'a> {
    fn count(stats: &'a crate::stats::Stats) -> OpenConnection<'a> {
        crate::stats::Stats::add(&stats.https_connections, 1);
        crate::stats::Stats::add(&stats.https_connections_total, 1);
        OpenConnection(stats)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.https_connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Where ACME HTTP-01 challenges are fetched (RFC 8555, section 8.3).
const ACME_CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// Serves plain HTTP that only redirects to `public_url` (same path), and
/// answers the ACME HTTP-01 challenges pending in `http01`.
pub async fn serve_redirect(
    listener: TcpListener,
    public_url: String,
    http01: Arc<crate::acme::Http01Tokens>,
    shutdown: CancellationToken,
) {
    let base = public_url.trim_end_matches('/').to_string();
    let app = Router::new()
        .fallback(move |req: Request<Body>| {
            let base = base.clone();
            let http01 = Arc::clone(&http01);
            async move {
                if let Some(token) = req.uri().path().strip_prefix(ACME_CHALLENGE_PATH)
                    && let Some(answer) = http01.answer(token)
                {
                    let mut r = ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response();
                    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    return r;
                }
                let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let mut r = Redirect::permanent(&format!("{base}{path}")).into_response();
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
        })
        .layer(axum::middleware::map_response(headers::strip_server_headers));
    let _ = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
}

/// For tests and `kabine audit`: an address to reach a listener bound to
/// `0.0.0.0` or `::`.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}
