//! `GET /ws` (HTTP/1.1 upgrade) and `CONNECT /ws` (WebSockets over HTTP/2,
//! RFC 8441): the same-origin check, the login session and the client's
//! address taken from the request, then the connection is handed to
//! signalling ([`crate::signal::Signalling::run`]).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Extension, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, PeerIp};
use crate::protocol;
use crate::room::Account;
use crate::signal::Hello;

/// The read buffer a signalling connection allocates up front. tungstenite's
/// default, 128 KiB per connection, was ~0.1 MB of the ~1.3 MB per
/// participant in the benchmarks (docs/performance.md, change 6). Client
/// messages are small (a compacted subscribe answer: ~10–15 KB; at most
/// [`protocol::MAX_MESSAGE_BYTES`]), and a larger frame grows the buffer to
/// its length: this only sets how much is read per call.
const READ_BUFFER_BYTES: usize = 4 * 1024;

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
    held: Option<Extension<super::ConnSlot>>,
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
    let login = super::api::session_token(&headers)
        .and_then(|token| state.auth.session(&token).map(|identity| (token, identity)));
    let account = login.as_ref().map(|(_, identity)| Account {
        username: zeroize::Zeroizing::new(identity.username.clone()),
        display_name: zeroize::Zeroizing::new(identity.display_name.clone()),
        may_host: identity.may_host,
    });
    let hello = Hello {
        account,
        source: peer.map(|Extension(PeerIp(ip))| ip),
        login: login.map(|(token, _)| (std::sync::Arc::clone(&state.auth), token)),
    };
    let signalling = state.signal.clone();
    let token = signalling.track();
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(protocol::MAX_MESSAGE_BYTES)
        .max_frame_size(protocol::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            // The connection's places in the listener's limits live on.
            let _tracked = (token, held);
            signalling.run(socket, hello).await;
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
