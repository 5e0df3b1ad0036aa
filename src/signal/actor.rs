//! The room actor: one task that owns [`Rooms`] and is the only one to
//! touch it. Connection tasks send it [`Command`]s, the SFU sends it
//! [`MediaEvent`]s; it applies the room logic's effects: messages to
//! connections (never waiting: a connection whose queue is full is dropped
//! as too slow), commands to the SFU, and the counters in [`Stats`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::{ClientMsg, ServerMsg};
use crate::room::{Account, Clock, Effect, Input, MediaCommand, MediaEvent, Rooms, SessionId};
use crate::stats::Stats;

/// From a connection task to the actor.
#[derive(Debug)]
pub enum Command {
    /// A connection opened; `outbound` is its queue. `account`: the login
    /// session it came with; `source`: the client's address (throttling only).
    Connected {
        session: SessionId,
        outbound: mpsc::Sender<Outbound>,
        account: Option<Account>,
        source: Option<std::net::IpAddr>,
    },
    /// A well-formed message.
    Message { session: SessionId, msg: ClientMsg },
    /// The login session the connection came with ended.
    AccountEnded { session: SessionId },
    /// The connection ended.
    Disconnected { session: SessionId },
    /// A request about appointments from the HTTP side; the answer goes
    /// back on `reply`.
    Appointments {
        request: crate::teletherapy::Request,
        reply: tokio::sync::oneshot::Sender<crate::teletherapy::Reply>,
    },
}

/// From the actor to a connection task.
#[derive(Debug)]
pub enum Outbound {
    /// A server message as JSON: a broadcast is serialised once, and every
    /// recipient's queue holds the same bytes. `bye`: it is a `bye`, after
    /// which the connection closes.
    Text { text: Utf8Bytes, bye: bool },
    /// Close after what was queued before.
    Close,
}

/// Channels the actor is wired with.
pub struct Wiring {
    pub commands: mpsc::Receiver<Command>,
    pub media_events: mpsc::Receiver<MediaEvent>,
    pub media: mpsc::Sender<MediaCommand>,
}

/// Runs the room actor until the server shuts down.
pub async fn run(mut rooms: Rooms, mut wiring: Wiring, stats: Arc<Stats>, shutdown: CancellationToken) {
    let mut conns: HashMap<SessionId, mpsc::Sender<Outbound>> = HashMap::new();
    let mut effects = Vec::new();
    // Time for the room logic (meetings kept for reconnects expire).
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Commands and media events take turns when both are waiting, so
    // neither a stream of client messages nor of media reports starves
    // the other (a renegotiation waits behind at most one command).
    let mut media_first = false;
    loop {
        let deadline = rooms.next_deadline();
        let input = tokio::select! {
            biased;
            _ = shutdown.cancelled() => Input::Shutdown,
            // Before commands, so that a busy server still keeps its timers.
            _ = sleep_until(deadline) => Input::Tick,
            _ = tick.tick() => Input::Tick,
            next = next_input(&mut wiring, media_first) => {
                media_first = !media_first;
                match next {
                    Next::Command(Some(Command::Connected { session, outbound, account, source })) => {
                        conns.insert(session, outbound);
                        Input::Connected { session, participant: new_participant_id(), account, source }
                    }
                    Next::Command(Some(Command::Message { session, msg })) => Input::Message { session, msg },
                    Next::Command(Some(Command::AccountEnded { session })) => Input::AccountEnded { session },
                    Next::Command(Some(Command::Disconnected { session })) => {
                        conns.remove(&session);
                        Input::Disconnected { session }
                    }
                    Next::Command(Some(Command::Appointments { request, reply })) => {
                        let _ = reply.send(rooms.appointment_request(clock(), request, &mut effects));
                        // Its effects (patients sent away) go out with those of a tick.
                        Input::Tick
                    }
                    Next::Media(Some(event)) => Input::Media(event),
                    Next::Command(None) | Next::Media(None) => Input::Shutdown,
                }
            }
        };
        let stopping = input == Input::Shutdown;
        let mut pending = vec![input];
        while let Some(input) = pending.pop() {
            rooms.handle(clock(), input, &mut effects);
            for effect in effects.drain(..) {
                match effect {
                    Effect::Send { to, msg } => deliver(&mut conns, &mut pending, &[to], &msg),
                    Effect::Broadcast { to, msg } => deliver(&mut conns, &mut pending, &to, &msg),
                    Effect::Close { session } => {
                        if let Some(tx) = conns.remove(&session) {
                            let _ = tx.try_send(Outbound::Close);
                        }
                    }
                    Effect::Media(cmd) => {
                        if wiring.media.send(cmd).await.is_err() && !stopping {
                            tracing::error!("the media server stopped");
                        }
                    }
                }
            }
        }
        Stats::set(&stats.rooms_open, rooms.room_count() as u64);
        Stats::set(&stats.participants, rooms.participant_count() as u64);
        Stats::set(&stats.sessions, rooms.session_count() as u64);
        let (direct, attempts, failures) = rooms.p2p_counts();
        Stats::set(&stats.p2p_direct_rooms, direct as u64);
        Stats::set(&stats.p2p_attempts, attempts);
        Stats::set(&stats.p2p_failures, failures);
        if stopping {
            return;
        }
    }
}

/// Serialises `msg` once and queues the text for each of `to`, never
/// waiting: a connection whose queue is full is too slow, and dropping its
/// sender closes it (its disconnection goes to the room logic next).
fn deliver(
    conns: &mut HashMap<SessionId, mpsc::Sender<Outbound>>,
    pending: &mut Vec<Input>,
    to: &[SessionId],
    msg: &ServerMsg,
) {
    if !to.iter().any(|s| conns.contains_key(s)) {
        return;
    }
    let text = match serde_json::to_string(msg) {
        Ok(text) => Utf8Bytes::from(text),
        Err(e) => {
            // Cannot happen: every server message serialises.
            tracing::error!(error = %e, "a server message could not be serialised");
            return;
        }
    };
    let bye = matches!(msg, ServerMsg::Bye { .. });
    for session in to {
        let Some(tx) = conns.get(session) else {
            continue;
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(Outbound::Text { text: text.clone(), bye }) {
            conns.remove(session);
            pending.push(Input::Disconnected { session: *session });
        }
    }
}

/// The next command or media event.
enum Next {
    Command(Option<Command>),
    Media(Option<MediaEvent>),
}

/// Waits for a command or a media event; when both are ready, the media
/// event wins if `media_first`, else the command.
async fn next_input(wiring: &mut Wiring, media_first: bool) -> Next {
    std::future::poll_fn(|cx| {
        use std::task::Poll;
        let (commands, media) = (&mut wiring.commands, &mut wiring.media_events);
        if media_first && let Poll::Ready(e) = media.poll_recv(cx) {
            return Poll::Ready(Next::Media(e));
        }
        if let Poll::Ready(c) = commands.poll_recv(cx) {
            return Poll::Ready(Next::Command(c));
        }
        if !media_first && let Poll::Ready(e) = media.poll_recv(cx) {
            return Poll::Ready(Next::Media(e));
        }
        Poll::Pending
    })
    .await
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

fn clock() -> Clock {
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Clock { now: Instant::now(), unix_ms }
}

/// A random public participant id: 16 hex digits, meaningless outside
/// this server run.
fn new_participant_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerMsg;

    #[tokio::test]
    async fn commands_and_media_events_take_turns() {
        let (ctx, commands) = mpsc::channel(16);
        let (etx, media_events) = mpsc::channel(16);
        let (media, _mrx) = mpsc::channel(1);
        let mut wiring = Wiring { commands, media_events, media };
        for i in 0..5 {
            ctx.send(Command::Disconnected { session: SessionId(i) }).await.expect("queued");
            etx.send(MediaEvent::Failed { session: SessionId(100 + i) }).await.expect("queued");
        }
        let mut media_first = false;
        let mut order = String::new();
        for _ in 0..6 {
            match next_input(&mut wiring, media_first).await {
                Next::Command(_) => order.push('c'),
                Next::Media(_) => order.push('m'),
            }
            media_first = !media_first;
        }
        assert_eq!(order, "cmcmcm", "neither starves the other");
        // With only one kind waiting, it is taken whatever the turn.
        while wiring.commands.try_recv().is_ok() {}
        assert!(matches!(next_input(&mut wiring, false).await, Next::Media(_)));
    }

    #[test]
    fn a_broadcast_is_serialised_once_and_a_full_queue_drops_only_its_connection() {
        let mut conns = HashMap::new();
        let mut receivers = Vec::new();
        for (s, capacity) in [(1, 4), (2, 4), (3, 1)] {
            let (tx, rx) = mpsc::channel(capacity);
            conns.insert(SessionId(s), tx);
            receivers.push(rx);
        }
        let mut pending = Vec::new();
        let all = [SessionId(1), SessionId(2), SessionId(3), SessionId(9)];
        let msg = ServerMsg::ActiveSpeaker { id: Some("p1".into()) };
        deliver(&mut conns, &mut pending, &all, &msg);
        let texts: Vec<Utf8Bytes> = receivers
            .iter_mut()
            .map(|rx| match rx.try_recv() {
                Ok(Outbound::Text { text, bye: false }) => text,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts[0].as_str(), r#"{"type":"active_speaker","id":"p1"}"#);
        assert!(texts.iter().all(|t| t.as_str().as_ptr() == texts[0].as_str().as_ptr()), "one buffer for everyone");
        assert!(pending.is_empty());
        // Session 3's queue holds one message: the second one finds it full,
        // and only that connection is dropped.
        deliver(&mut conns, &mut pending, &all, &msg);
        assert!(pending.is_empty());
        deliver(&mut conns, &mut pending, &all, &ServerMsg::Bye { reason: crate::protocol::ByeReason::Left });
        assert_eq!(pending, [Input::Disconnected { session: SessionId(3) }]);
        assert!(conns.contains_key(&SessionId(1)) && !conns.contains_key(&SessionId(3)));
        assert!(matches!(receivers[0].try_recv(), Ok(Outbound::Text { bye: false, .. })));
        assert!(matches!(receivers[0].try_recv(), Ok(Outbound::Text { bye: true, .. })));
    }
}
