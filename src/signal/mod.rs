//! Signalling: the WebSocket `/ws` between browsers and the server.
//!
//! - [`protocol`]: the messages (the contract with the browser client,
//!   written down in `docs/protocol.md`).
//! - [`ws_handler`] and `conn`: the handshake (same-origin only) and one
//!   task per connection: framing limits, keep-alive, bounded queues.
//! - [`actor`]: the room actor, one task that owns the room logic
//!   ([`crate::room::Rooms`]) and talks to connections and the SFU.

pub mod actor;
mod conn;
pub mod protocol;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Extension, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{AppState, PeerIp};
use crate::room::{Account, SessionId};

/// How often an open signalling connection counts as use of its login
/// session, so a host whose call outlasts the idle timeout is still logged
/// in (and still host) after a reconnect.
pub const SESSION_TOUCH: Duration = Duration::from_secs(60);

/// The read buffer a signalling connection allocates up front. tungstenite's
/// default, 128 KiB per connection, was ~0.1 MB of the ~1.3 MB per
/// participant in the benchmarks (docs/performance.md, change 6). Client
/// messages are small (a compacted subscribe answer: ~10–15 KB; at most
/// [`protocol::MAX_MESSAGE_BYTES`]), and a larger frame grows the buffer to
/// its length: this only sets how much is read per call.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Keep-alive timings of a connection (shortened in tests).
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Ping the client after this long without any frame from it.
    pub ping_after: Duration,
    /// Close the connection after this long without any frame from it.
    pub drop_after: Duration,
    /// Give up on a client that does not take a frame for this long.
    pub send_timeout: Duration,
    /// Count an open connection as use of its login session this often.
    pub session_touch: Duration,
    /// How long an empty meeting waits for participants who lost the
    /// connection ([`crate::room::MEETING_GRACE`]).
    pub meeting_grace: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            ping_after: Duration::from_secs(20),
            drop_after: Duration::from_secs(45),
            send_timeout: Duration::from_secs(10),
            session_touch: SESSION_TOUCH,
            meeting_grace: crate::room::MEETING_GRACE,
        }
    }
}

/// What the HTTP side needs to hand connections to the room actor.
#[derive(Clone)]
pub struct Signalling {
    actor: mpsc::Sender<actor::Command>,
    timings: Timings,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    next_session: Arc<AtomicU64>,
}

impl Signalling {
    /// `actor` is the room actor's command channel; connection tasks are
    /// tracked by `tasks` and end at `shutdown`.
    pub fn new(
        actor: mpsc::Sender<actor::Command>,
        timings: Timings,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> Signalling {
        Signalling { actor, timings, tasks, shutdown, next_session: Arc::new(AtomicU64::new(1)) }
    }

    fn next_session(&self) -> SessionId {
        SessionId(self.next_session.fetch_add(1, Ordering::Relaxed))
    }
}

/// The `Host` (HTTP/1.1) or `:authority` (HTTP/2) a request came to.
pub struct RequestHost(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestHost {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()));
        Ok(RequestHost(host))
    }
}

/// `GET /ws`: upgrades same-origin requests to a signalling connection.
/// The login session (the cookie comes with the upgrade request) and the
/// client's address go to the room logic with the connection: identity is
/// taken from here, never from a message.
pub async fn ws_handler(
    State(state): State<AppState>,
    RequestHost(host): RequestHost,
    peer: Option<Extension<PeerIp>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if !origin_allowed(origin, state.config.server.public_url.as_deref(), host.as_deref()) {
        return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let login = crate::http::api::session_token(&headers)
        .and_then(|token| state.auth.session(&token).map(|identity| (token, identity)));
    let account = login.as_ref().map(|(_, identity)| Account {
        display_name: zeroize::Zeroizing::new(identity.display_name.clone()),
        may_host: identity.may_host,
    });
    let hello = conn::Hello {
        account,
        source: peer.map(|Extension(PeerIp(ip))| ip),
        login: login.map(|(token, _)| (std::sync::Arc::clone(&state.auth), token)),
    };
    let signalling = state.signal.clone();
    let token = signalling.tasks.token();
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(protocol::MAX_MESSAGE_BYTES)
        .max_frame_size(protocol::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _tracked = token;
            conn::run(socket, signalling, hello).await;
        })
}

/// Whether a handshake's `Origin` is this server's own origin: the origin of
/// `server.public_url` if configured, else `https://` and the `Host` the
/// request came to. Browsers always send `Origin` on WebSocket handshakes,
/// so a missing one is refused too.
pub fn origin_allowed(origin: Option<&str>, public_url: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin.and_then(normalize_origin) else {
        return false;
    };
    let own = match public_url {
        Some(url) => normalize_origin(url),
        None => host.and_then(|h| normalize_origin(&format!("https://{h}"))),
    };
    own.is_some_and(|own| own == origin)
}

/// `scheme://host[:port]`, lower-cased, without a default port or path;
/// `None` for anything that is not an https origin.
fn normalize_origin(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("https://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.strip_suffix(":443").unwrap_or(authority);
    Some(format!("https://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_origin_may_connect() {
        let host = Some("127.0.0.1:8443");
        assert!(origin_allowed(Some("https://127.0.0.1:8443"), None, host));
        assert!(!origin_allowed(Some("https://evil.example:8443"), None, host));
        assert!(!origin_allowed(Some("http://127.0.0.1:8443"), None, host), "plain http is another origin");
        assert!(!origin_allowed(Some("https://127.0.0.1:8444"), None, host), "another port");
        assert!(!origin_allowed(None, None, host), "no Origin");
        assert!(!origin_allowed(Some("null"), None, host));
        assert!(!origin_allowed(Some("https://127.0.0.1:8443"), None, None), "no Host");

        let public = Some("https://Meet.Praxis-Beispiel.de/");
        assert!(origin_allowed(Some("https://meet.praxis-beispiel.de"), public, Some("10.0.0.5:8443")));
        assert!(origin_allowed(Some("https://meet.praxis-beispiel.de:443"), public, None));
        assert!(!origin_allowed(Some("https://10.0.0.5:8443"), public, Some("10.0.0.5:8443")), "public_url wins");
        assert!(!origin_allowed(Some("https://meet.praxis-beispiel.de.evil.example"), public, None));
        assert!(!origin_allowed(Some("https://user@meet.praxis-beispiel.de"), public, None));
    }
}
