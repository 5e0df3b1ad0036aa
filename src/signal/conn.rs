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

/// Close codes (RFC 6455).
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
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
    let Hello { account, source, login } = hello;
    let every = sig.timings.session_touch;
    let mut touch = tokio::time::interval_at(Instant::now() + every, every);
    touch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if sig.actor.send(Command::Connected { session, outbound: tx, account, source }).await.is_err() {
        let _ = close(&mut socket, GOING_AWAY, "server closing", &sig).await;
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
                match msg {
                    Message::Text(text) => {
                        if text.len() > protocol::MAX_MESSAGE_BYTES {
                            let _ = close(&mut socket, MESSAGE_TOO_BIG, "message too big", &sig).await;
                            why = "message too big";
                            break;
                        }
                        match protocol::parse_client_msg(text.as_str()) {
                            Ok(msg) => {
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
                // Counts as use of the login session (see `SESSION_TOUCH`).
                if let Some((auth, token)) = &login {
                    let _ = auth.session(token);
                }
            }
            _ = sig.shutdown.cancelled() => {
                // The actor says goodbye to every session; give it a moment
                // before closing anyway.
                if tokio::time::timeout(std::time::Duration::from_secs(1), wait_for_bye(&mut rx, &mut socket, &sig)).await.is_err() {
                    let _ = close(&mut socket, GOING_AWAY, "server closing", &sig).await;
                }
                why = "server closing";
                break;
            }
        }
    }
    tracing::debug!(session = session.0, why, "signalling connection ended");
    let _ = sig.actor.send(Command::Disconnected { session }).await;
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
