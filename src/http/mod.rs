//! The HTTPS front: the browser client, the JSON API and the WebSocket, all
//! on one origin, behind rustls. Every response carries the security headers
//! of [`headers`]; user mistakes are answered, not logged.

pub mod api;
pub mod assets;
pub mod demux;
pub mod headers;
pub mod teletherapy;
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
    /// Per-address limits of the anonymous appointment routes.
    pub teletherapy: Arc<teletherapy::Guards>,
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
        .route("/sessions", get(teletherapy::sessions_page))
        .route(
            "/api/appointments",
            get(teletherapy::list).post(teletherapy::create).layer(DefaultBodyLimit::max(api::MAX_BODY)),
        )
        .route("/api/appointments/{id}", axum::routing::delete(teletherapy::delete))
        .route("/api/appointments/{id}/links", post(teletherapy::add_link))
        .route("/api/appointments/{id}/links/{n}/revoke", post(teletherapy::revoke))
        .route("/api/appointments/{id}/attendance", get(teletherapy::attendance))
        .route("/api/appointment/{token}", get(teletherapy::patient))
        .route("/api/probe", get(teletherapy::probe))
        .route("/t/{token}", get(teletherapy::link_page))
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
        // Whether hosts may ask for a recording, and the practice's text
        // for the consent dialog (null: the client's own).
        "recording": {
            "enabled": state.config.recording.enabled,
            "require_consent": state.config.recording.require_consent,
            "on_decline": state.config.recording.on_decline,
            "consent_text_de": state.config.recording.consent_text_de,
            "consent_text_en": state.config.recording.consent_text_en,
        },
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

/// Limits on the connections of a listener (`[server]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Open connections at once; more wait for a free slot.
    pub max_connections: usize,
    /// Open connections from one address (IPv4, or IPv6 /64); more are
    /// closed at once.
    pub per_address: usize,
    /// A TLS handshake that takes longer is dropped.
    pub handshake: Duration,
    /// A request header that takes longer (from the connection's start or
    /// the previous response) is dropped.
    pub header_read: Duration,
    /// A connection without a byte in either direction for this long is
    /// dropped.
    pub idle: Duration,
    /// Requests in flight on one HTTP/2 connection.
    pub http2_streams: u32,
}

impl ConnLimits {
    pub fn from_config(c: &crate::config::ServerConfig) -> ConnLimits {
        ConnLimits {
            max_connections: c.max_connections,
            per_address: c.max_connections_per_address,
            handshake: Duration::from_secs(c.tls_handshake_timeout_secs),
            header_read: Duration::from_secs(c.header_read_timeout_secs),
            idle: Duration::from_secs(c.idle_timeout_secs),
            http2_streams: c.http2_max_concurrent_streams,
        }
    }
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits::from_config(&crate::config::ServerConfig::default())
    }
}

/// Largest request header block on HTTP/2 (HTTP/1.1: hyper's default, ~400 KB
/// buffer with at most 100 headers).
const H2_MAX_HEADER_LIST: u32 = 32 * 1024;

/// The accept loop both listeners share: a slot of the global limit, then
/// one of the connection's address (refused at once when its address holds
/// too many), then `serve` on a task that `graceful` can stop.
async fn accept_loop<F, Fut>(listener: TcpListener, limits: ConnLimits, shutdown: CancellationToken, serve: F)
where
    F: Fn(tokio::net::TcpStream, SocketAddr, IdleClock, ConnSlot) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let addresses = crate::net::AddressSlots::new(limits.per_address);
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
        // Over its address's share: closed at once, nothing logged.
        let Some(address_slot) = addresses.take(peer.ip()) else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let clock = IdleClock::new();
        // Held by the connection, and by a WebSocket upgraded from it.
        let held = ConnSlot(Arc::new((permit, address_slot)));
        let work = serve(tcp, peer, clock.clone(), held);
        let idle = limits.idle;
        tokio::spawn(async move {
            tokio::select! {
                _ = work => {}
                _ = clock.expired(idle) => {}
            }
        });
    }
}

/// A connection's place in the global and its address's limit. Requests
/// carry a clone (an extension), so a WebSocket upgraded from the
/// connection keeps the place while it lives.
#[derive(Clone)]
pub struct ConnSlot(#[allow(dead_code)] Arc<(tokio::sync::OwnedSemaphorePermit, crate::net::Slot)>);

/// When a connection last moved a byte, shared between its I/O and the
/// watchdog of [`accept_loop`].
#[derive(Clone)]
struct IdleClock {
    start: tokio::time::Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last: Arc<std::sync::atomic::AtomicU64>,
}

impl IdleClock {
    fn new() -> IdleClock {
        IdleClock { start: tokio::time::Instant::now(), last: Arc::new(std::sync::atomic::AtomicU64::new(0)) }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Resolves once nothing moved for `idle`.
    async fn expired(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last.load(std::sync::atomic::Ordering::Relaxed));
            let due = last + idle;
            if tokio::time::Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }
}

/// A stream whose reads and writes count as life for its [`IdleClock`].
struct Watched<T> {
    inner: T,
    clock: IdleClock,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.touch();
        }
        r
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.clock.touch();
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.clock.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A hyper server builder with the limits: header timeout on HTTP/1.1;
/// concurrent streams, header size and reset-flood guard on HTTP/2. No
/// keep-alive pings: a ping answered would make an unused connection look
/// alive forever; the idle timeout closes it instead.
fn http_builder(limits: &ConnLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_read);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(limits.http2_streams)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .max_pending_accept_reset_streams(20);
    builder
}

/// Accepts TLS connections on `listener` and serves `app` on them until
/// `shutdown`; then gives open requests [`SHUTDOWN_GRACE`] to finish.
/// ICE-TCP connections and the TURN/TLS relay on the same port go to
/// `fallbacks` ([`demux`]). They are connections of this listener like any
/// other: they hold a place in the global and the per-address limit, their
/// first bytes and (the relay's) TLS handshake must come within
/// `limits.handshake`, and they close when idle for `limits.idle`.
pub async fn serve_https(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnLimits,
    stats: Arc<crate::stats::Stats>,
    fallbacks: Arc<demux::Fallbacks>,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = Arc::new(GracefulShutdown::new());
    let builder = Arc::new(http_builder(&limits));
    let serving = {
        let shutdown = shutdown.clone();
        let graceful = Arc::clone(&graceful);
        move |tcp: tokio::net::TcpStream, peer: SocketAddr, clock: IdleClock, held: ConnSlot| {
            let (acceptor, app, stats, builder, fallbacks) =
                (acceptor.clone(), app.clone(), Arc::clone(&stats), Arc::clone(&builder), Arc::clone(&fallbacks));
            let watcher = graceful.watcher();
            let shutdown = shutdown.clone();
            async move {
                // The handshake's deadline covers the first bytes (which
                // tell TLS from ICE-TCP) and the TLS handshake together.
                let deadline = tokio::time::Instant::now() + limits.handshake;
                let kind = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    kind = tokio::time::timeout_at(deadline, demux::first_bytes(&tcp)) => kind.ok().flatten(),
                };
                let tcp = Watched { inner: tcp, clock };
                let Some(tcp) = fallbacks.route(kind, tcp, peer, &stats, &shutdown).await else {
                    return;
                };
                let tls = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    tls = tokio::time::timeout_at(deadline, acceptor.accept(tcp)) => match tls {
                        Ok(Ok(tls)) => tls,
                        // Failed or slow handshakes (old TLS versions,
                        // scanners, slowloris) are the client's business.
                        _ => return,
                    },
                };
                // An ACME validator has seen the challenge certificate; it sends
                // nothing more (RFC 8737), and gets nothing more.
                if tls.get_ref().1.alpn_protocol() == Some(crate::tls::ACME_TLS_ALPN) {
                    return;
                }
                let name = tls.get_ref().1.server_name().map(str::to_string);
                let Some(tls) = fallbacks.after_tls(tls, name.as_deref(), peer, &shutdown).await else {
                    return;
                };
                let _open = OpenConnection::count(&stats);
                let service =
                    TowerToHyperService::new(app.map_request(move |mut req: Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(PeerIp(peer.ip()));
                        req.extensions_mut().insert(held.clone());
                        req.map(Body::new)
                    }));
                // No extended CONNECT (RFC 8441): browsers then open the
                // signalling WebSocket on a connection of its own, over HTTP/1.1
                // (so one WebSocket per connection, by construction).
                // Chromium closes every HTTP/2 connection when the machine's
                // network changes (an interface or address comes or goes: a VPN,
                // a container), and a WebSocket carried over one died with it —
                // the whole call reconnected, twice per change
                // (browser_network_change).
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                if let Err(e) = watcher.watch(conn.into_owned()).await {
                    // Mostly clients going away mid-request; an HTTP/2 protocol
                    // error here ends every WebSocket on the connection.
                    tracing::debug!(error = %e, "an HTTPS connection ended with an error");
                }
            }
        }
    };
    let accepting = accept_loop(listener, limits, shutdown.clone(), serving);
    accepting.await;
    if let Ok(graceful) = Arc::try_unwrap(graceful) {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    }
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
/// answers the ACME HTTP-01 challenges pending in `http01`. The same
/// connection limits as the HTTPS listener (HTTP/1.1 only).
pub async fn serve_redirect(
    listener: TcpListener,
    public_url: String,
    http01: Arc<crate::acme::Http01Tokens>,
    limits: ConnLimits,
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
    let graceful = Arc::new(GracefulShutdown::new());
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_read);
    let builder = Arc::new(builder);
    let serving = {
        let graceful = Arc::clone(&graceful);
        move |tcp: tokio::net::TcpStream, _peer: SocketAddr, clock: IdleClock, held: ConnSlot| {
            let (app, builder) = (app.clone(), Arc::clone(&builder));
            let watcher = graceful.watcher();
            async move {
                let _held = held;
                let service =
                    TowerToHyperService::new(app.map_request(|req: Request<hyper::body::Incoming>| req.map(Body::new)));
                let conn = builder.serve_connection(TokioIo::new(Watched { inner: tcp, clock }), service);
                let _ = watcher.watch(conn.into_owned()).await;
            }
        }
    };
    accept_loop(listener, limits, shutdown, serving).await;
    if let Ok(graceful) = Arc::try_unwrap(graceful) {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    }
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
