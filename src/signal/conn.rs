//! One task per signalling connection: reads frames, parses them, hands
//! well-formed messages to the room actor, writes what the actor sends, and
//! keeps the connection alive (or ends it).
//!
//! Bad input ends at most this connection: a malformed message gets an
//! `error` reply and nothing else changes; a frame over 64 KiB closes with
//! 1009, a binary frame with 1003. Both directions are bounded: the actor
//! never waits for this task (it drops a connection whose queue is full),
//! and this task gives up on a client that does not take a frame within the
//! send timeout.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use std::net::IpAddr;
use std::sync::Arc;

use super::Signalling;
use super::actor::{Command, Outbound};
use crate::auth::Auth;
use crate::auth::session::SessionToken;
use crate::protocol::{self, ErrorCode, ServerMsg};
use crate::room::Account;

/// Messages the actor may queue for one connection before it is dropped as
/// too slow. A room of 300 (the most `rooms.max_participants` allows) can
/// produce a burst of one message per participant, e.g. when a meeting
/// starts; a browser on a busy tablet must survive that.
pub const OUTBOUND_QUEUE: usize = 1024;

/// Messages of any type a connection may send at once, and per second
/// sustained; past that the connection is closed with 1008 "rate limit". A
/// browser sends a few a second at most (a direct call's ICE candidates come
/// in a burst of at most `protocol::MAX_P2P_CANDIDATES`).
pub const MESSAGE_BURST: u32 = 200;
pub const MESSAGES_PER_SECOND: u32 = 50;
/// The same for messages that make the server work (`hello`, `rejoin`,
/// `password`, SDP for the media server or a direct call, breakout rooms).
pub const HEAVY_BURST: u32 = 60;
pub const HEAVY_PER_SECOND: u32 = 5;

/// A token bucket over the connection's clock.
struct Budget {
    tokens: f64,
    last: Instant,
    burst: f64,
    per_second: f64,
}

impl Budget {
    fn new(burst: u32, per_second: u32) -> Budget {
        Budget {
            tokens: f64::from(burst),
            last: Instant::now(),
            burst: f64::from(burst),
            per_second: f64::from(per_second),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Messages that cost the server more than a relay.
fn heavy(msg: &protocol::ClientMsg) -> bool {
    use protocol::ClientMsg::*;
    matches!(
        msg,
        Hello { .. }
            | Rejoin { .. }
            | Password { .. }
            | PublishOffer { .. }
            | SubscribeAnswer { .. }
            | P2pOffer { .. }
            | P2pAnswer { .. }
            | BreakoutCreate { .. }
            | BreakoutRandom {}
    )
}

/// Close codes (RFC 6455).
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
/// At shutdown, how long a connection passes on the room actor's goodbye,
/// and then how long its close frame may take: together well inside
/// `server::SHUTDOWN_TIMEOUT`.
const SHUTDOWN_BYE: std::time::Duration = std::time::Duration::from_secs(1);
const SHUTDOWN_CLOSE: std::time::Duration = std::time::Duration::from_millis(500);
/// How long a connection closed for the client's fault waits for the
/// client's close (see [`linger`]).
const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);
const PROTOCOL_ERROR: u16 = 1002;
const UNSUPPORTED_DATA: u16 = 1003;
const POLICY_VIOLATION: u16 = 1008;
const MESSAGE_TOO_BIG: u16 = 1009;

/// What the handshake learnt about the connection.
pub struct Hello {
    /// The login session's account, if the upgrade request carried one.
    pub account: Option<Account>,
    /// The client's address (for throttling room password guesses only).
    pub source: Option<IpAddr>,
    /// The login session, touched while the connection is open.
    pub login: Option<(Arc<Auth>, SessionToken)>,
}

pub(super) async fn run(mut socket: WebSocket, sig: Signalling, hello: Hello) {
    let session = sig.next_session();
    let (tx, mut rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
    let Hello { account, source, mut login } = hello;
    let mut endings = login.as_ref().map(|(auth, _)| auth.session_endings());
    let (mut budget, mut heavy_budget) =
        (Budget::new(MESSAGE_BURST, MESSAGES_PER_SECOND), Budget::new(HEAVY_BURST, HEAVY_PER_SECOND));
    let every = sig.timings.session_touch;
    let mut touch = tokio::time::interval_at(Instant::now() + every, every);
    touch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if sig.actor.send(Command::Connected { session, outbound: tx, account, source }).await.is_err() {
        let frame = CloseFrame { code: GOING_AWAY, reason: "server closing".into() };
        let _ = tokio::time::timeout(SHUTDOWN_CLOSE, socket.send(Message::Close(Some(frame)))).await;
        return;
    }
    let timings = sig.timings;
    let mut heard = Instant::now();
    let mut pinged = false;
    // Why the connection ended, for the debug log (no content, no address).
    let why;
    loop {
        let wake = if pinged { heard + timings.drop_after } else { heard + timings.ping_after };
        tokio::select! {
            incoming = socket.recv() => {
                let msg = match incoming {
                    None => {
                        why = "stream ended";
                        break;
                    }
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        tracing::debug!(session = session.0, error = %e, "reading a signalling message failed");
                        // The reader refuses frames over the limit before
                        // buffering them; tell the client why.
                        let too_big = format!("{e}").contains("too long");
                        let code = if too_big { MESSAGE_TOO_BIG } else { PROTOCOL_ERROR };
                        let _ = close(&mut socket, code, if too_big { "message too big" } else { "protocol error" }, &sig).await;
                        why = if too_big { "message too big" } else { "read error" };
                        break;
                    }
                };
                heard = Instant::now();
                pinged = false;
                if matches!(msg, Message::Text(_) | Message::Binary(_)) && !budget.take(heard) {
                    let _ = close(&mut socket, POLICY_VIOLATION, "rate limit", &sig).await;
                    why = "rate limit";
                    break;
                }
                match msg {
                    Message::Text(text) => {
                        if text.len() > protocol::MAX_MESSAGE_BYTES {
                            let _ = close(&mut socket, MESSAGE_TOO_BIG, "message too big", &sig).await;
                            why = "message too big";
                            break;
                        }
                        match protocol::parse_client_msg(text.as_str()) {
                            Ok(msg) => {
                                if heavy(&msg) && !heavy_budget.take(heard) {
                                    let _ = close(&mut socket, POLICY_VIOLATION, "rate limit", &sig).await;
                                    why = "rate limit";
                                    break;
                                }
                                if sig.actor.send(Command::Message { session, msg }).await.is_err() {
                                    why = "server closing";
                                    break;
                                }
                            }
                            Err(reason) => {
                                let reply = ServerMsg::Error { code: ErrorCode::BadMessage, message: reason };
                                let Ok(reply) = serde_json::to_string(&reply) else {
                                    why = "send failed";
                                    break;
                                };
                                if send(&mut socket, reply.into(), &sig).await.is_err() {
                                    why = "send failed";
                                    break;
                                }
                            }
                        }
                    }
                    Message::Binary(_) => {
                        let _ = close(&mut socket, UNSUPPORTED_DATA, "text frames only", &sig).await;
                        why = "binary frame";
                        break;
                    }
                    Message::Close(_) => {
                        why = "client closed";
                        break;
                    }
                    // Pongs count as life; pings are answered by the library.
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            out = rx.recv() => match out {
                Some(Outbound::Text { text, bye }) => {
                    if send(&mut socket, text, &sig).await.is_err() {
                        why = "send failed";
                        break;
                    }
                    if bye {
                        let _ = close(&mut socket, NORMAL, "bye", &sig).await;
                        why = "bye";
                        break;
                    }
                }
                Some(Outbound::Close) => {
                    let _ = close(&mut socket, NORMAL, "", &sig).await;
                    why = "closed by the room";
                    break;
                }
                None => {
                    // The actor dropped this connection: it could not keep up,
                    // or the server is stopping.
                    let _ = close(&mut socket, POLICY_VIOLATION, "too slow", &sig).await;
                    why = "too slow";
                    break;
                }
            },
            _ = tokio::time::sleep_until(wake) => {
                if pinged {
                    let _ = close(&mut socket, GOING_AWAY, "idle", &sig).await;
                    why = "idle";
                    break;
                }
                if tokio::time::timeout(timings.send_timeout, socket.send(Message::Ping(Default::default()))).await.is_err() {
                    why = "ping not sent";
                    break;
                }
                pinged = true;
            }
            _ = touch.tick(), if login.is_some() => {
                // Counts as use of the login session (see `SESSION_TOUCH`);
                // one that expired takes its host rights with it.
                if !login_alive(&login) && end_login(&mut login, &mut endings, session, &sig).await.is_err() {
                    why = "server closing";
                    break;
                }
            }
            changed = wait_for_ending(&mut endings) => {
                // Some login sessions ended (logout, password change, user
                // removed): if this one did, its host rights end now.
                if (!changed || !login_alive(&login))
                    && end_login(&mut login, &mut endings, session, &sig).await.is_err()
                {
                    why = "server closing";
                    break;
                }
            }
            _ = sig.shutdown.cancelled() => {
                // The actor says goodbye to every session; give it a moment
                // before closing anyway.
                // Both bounded, so that a client that reads nothing cannot
                // hold the server's shutdown past its limit.
                if tokio::time::timeout(SHUTDOWN_BYE, wait_for_bye(&mut rx, &mut socket, &sig)).await.is_err() {
                    let frame = CloseFrame { code: GOING_AWAY, reason: "server closing".into() };
                    let _ = tokio::time::timeout(SHUTDOWN_CLOSE, socket.send(Message::Close(Some(frame)))).await;
                }
                why = "server closing";
                break;
            }
        }
    }
    tracing::debug!(session = session.0, why, "signalling connection ended");
    let _ = sig.actor.send(Command::Disconnected { session }).await;
    if matches!(why, "message too big" | "read error" | "rate limit" | "binary frame") {
        linger(&mut socket).await;
    }
}

/// After this side closed for the client's fault: reads and discards what
/// the client still sends until its close frame or the end of its stream,
/// at most [`CLOSE_LINGER`]. Dropping a socket with unread data (the rest
/// of an oversized message, a flood) resets the connection, and a browser
/// that gets the reset before our close frame reports 1006 instead of the
/// reason (1009, 1003, 1008).
async fn linger(socket: &mut WebSocket) {
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        loop {
            match socket.recv().await {
                None | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
                // No frame can be read any more (the reader refused one):
                // wait for the client to close instead.
                Some(Err(_)) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    })
    .await;
}

/// Whether the connection's login session is still live (counts as use).
fn login_alive(login: &Option<(Arc<Auth>, SessionToken)>) -> bool {
    login.as_ref().is_some_and(|(auth, token)| auth.session(token).is_some())
}

/// The login session ended: the connection goes on as a guest's.
async fn end_login(
    login: &mut Option<(Arc<Auth>, SessionToken)>,
    endings: &mut Option<tokio::sync::watch::Receiver<u64>>,
    session: crate::room::SessionId,
    sig: &Signalling,
) -> Result<(), ()> {
    *login = None;
    *endings = None;
    sig.actor.send(Command::AccountEnded { session }).await.map_err(|_| ())
}

/// Resolves when login sessions were ended somewhere (true), or the
/// notifier is gone (false); never without a login.
async fn wait_for_ending(endings: &mut Option<tokio::sync::watch::Receiver<u64>>) -> bool {
    match endings {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Passes on what the actor still has for this connection until it ends.
async fn wait_for_bye(rx: &mut mpsc::Receiver<Outbound>, socket: &mut WebSocket, sig: &Signalling) {
    while let Some(out) = rx.recv().await {
        match out {
            Outbound::Text { text, bye } => {
                if send(socket, text, sig).await.is_err() {
                    return;
                }
                if bye {
                    break;
                }
            }
            Outbound::Close => break,
        }
    }
    let _ = close(socket, GOING_AWAY, "server closing", sig).await;
}

async fn send(socket: &mut WebSocket, text: Utf8Bytes, sig: &Signalling) -> Result<(), ()> {
    match tokio::time::timeout(sig.timings.send_timeout, socket.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str, sig: &Signalling) -> Result<(), ()> {
    let frame = CloseFrame { code, reason: reason.into() };
    match tokio::time::timeout(sig.timings.send_timeout, socket.send(Message::Close(Some(frame)))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
