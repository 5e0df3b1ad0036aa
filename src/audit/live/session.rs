//! A short conference through the signalling protocol (`docs/protocol.md`):
//! two participants join a fresh room, one sends a chat message, both leave,
//! and a third joins the same room name and must find it empty and silent.
//!
//! Room name, display names and chat text are random and unique (canaries):
//! afterwards the audit looks for them on disk and in the logs.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::Target;
use super::http::{self, Socket, WsError};
use crate::audit::text::{Msg, msg};
use crate::protocol::{ClientMsg, PROTOCOL_VERSION};

/// Time the server gets to answer a message.
const ANSWER: Duration = Duration::from_secs(5);
/// Time a newcomer listens for anything left over from an earlier session.
const LISTEN: Duration = Duration::from_millis(800);

/// Whether `/ws` speaks WebSocket for the server's own origin.
#[derive(Debug, Clone)]
pub enum Availability {
    Available,
    /// The upgrade was answered with this status (404: no signalling endpoint).
    Refused(u16),
    Error(String),
}

/// What one session showed.
#[derive(Debug, Clone)]
pub struct Session {
    pub availability: Availability,
    /// What happened, step by step.
    pub steps: Vec<Msg>,
    /// Where the room did not behave as documented.
    pub problems: Vec<Msg>,
    /// `welcome.ice_servers` URLs handed to the first participant.
    pub ice_servers: Option<Vec<String>>,
    /// The random room name, display names and chat text used.
    pub canaries: Vec<String>,
    /// The first join was refused or left waiting (no `welcome`): the
    /// server's access control may keep a visitor without an account out.
    pub not_admitted: bool,
}

fn random_hex(n: usize) -> String {
    (0..n).map(|_| char::from(b"0123456789abcdef"[usize::from(rand::random::<u8>() % 16)])).collect()
}

struct Peer {
    socket: Socket,
    id: String,
    welcome: Value,
}

async fn send(socket: &mut Socket, m: &ClientMsg) -> Result<(), String> {
    let text = serde_json::to_string(m).map_err(|e| e.to_string())?;
    socket.send(Message::Text(text.into())).await.map_err(|e| format!("sending failed: {e}"))
}

/// The next JSON message before `deadline`; `Ok(None)` on timeout or close.
async fn next(socket: &mut Socket, deadline: Instant) -> Result<Option<Value>, String> {
    loop {
        let frame = match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(format!("connection failed: {e}")),
            Ok(Some(Ok(f))) => f,
        };
        match frame {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str()).map(Some).map_err(|e| format!("not JSON: {e}"));
            }
            Message::Close(_) => return Ok(None),
            _ => continue,
        }
    }
}

/// Reads until a message of type `kind` arrives (others are kept in `seen`).
async fn wait_for(
    socket: &mut Socket,
    kind: &str,
    within: Duration,
    seen: &mut Vec<Value>,
) -> Result<Option<Value>, String> {
    let deadline = Instant::now() + within;
    while let Some(v) = next(socket, deadline).await? {
        if v["type"] == kind {
            return Ok(Some(v));
        }
        seen.push(v);
    }
    Ok(None)
}

async fn join(target: &Target, room: &str, name: &str) -> Result<Peer, Msg> {
    let mut socket = http::ws_connect(target, Some(&target.origin)).await.map_err(|e| match e {
        WsError::Refused(s) => msg(
            format!("WebSocket-Verbindung abgelehnt (HTTP {s})"),
            format!("WebSocket connection refused (HTTP {s})"),
        ),
        WsError::Other(e) => {
            msg(format!("WebSocket-Verbindung fehlgeschlagen: {e}"), format!("WebSocket connection failed: {e}"))
        }
    })?;
    let hello =
        ClientMsg::Hello { version: PROTOCOL_VERSION, room: room.into(), display_name: name.into(), appointment: None };
    send(&mut socket, &hello).await.map_err(|e| msg(e.clone(), e))?;
    let deadline = Instant::now() + ANSWER;
    loop {
        match next(&mut socket, deadline).await {
            Ok(Some(v)) if v["type"] == "welcome" => {
                let id = v["you"]["id"].as_str().unwrap_or_default().to_string();
                return Ok(Peer { socket, id, welcome: v });
            }
            Ok(Some(v)) if v["type"] == "error" => {
                let code = v["code"].as_str().unwrap_or("?").to_string();
                return Err(msg(
                    format!("Der Server lehnte den Beitritt ab (Fehlercode `{code}`)."),
                    format!("The server refused the join (error code `{code}`)."),
                ));
            }
            Ok(Some(_)) => continue,
            Ok(None) => {
                return Err(msg(
                    "Der Server beantwortete `hello` nicht innerhalb von 5 s mit `welcome`.",
                    "The server did not answer `hello` with `welcome` within 5 s.",
                ));
            }
            Err(e) => return Err(msg(e.clone(), e)),
        }
    }
}

async fn leave(peer: &mut Peer) -> Result<bool, String> {
    send(&mut peer.socket, &ClientMsg::Leave {}).await?;
    let mut seen = Vec::new();
    let bye = wait_for(&mut peer.socket, "bye", ANSWER, &mut seen).await?;
    let _ = peer.socket.close(None).await;
    Ok(bye.is_some_and(|b| b["reason"] == "left"))
}

fn participant_ids(welcome: &Value) -> Vec<String> {
    welcome["participants"]
        .as_array()
        .map_or_else(Vec::new, |a| a.iter().filter_map(|p| p["id"].as_str().map(str::to_string)).collect())
}

/// Whether `/ws` accepts a WebSocket from the server's own origin.
pub async fn availability(target: &Target) -> Availability {
    match http::ws_connect(target, Some(&target.origin)).await {
        Ok(mut s) => {
            let _ = s.close(None).await;
            Availability::Available
        }
        Err(WsError::Refused(status)) => Availability::Refused(status),
        Err(WsError::Other(e)) => Availability::Error(e),
    }
}

/// Runs the session described in the module documentation.
pub async fn run(target: &Target) -> Session {
    let room = format!("kabine-audit-{}", random_hex(16));
    let name_a = format!("Audit {}", random_hex(8));
    let name_b = format!("Audit {}", random_hex(8));
    let name_c = format!("Audit {}", random_hex(8));
    let chat = format!("kabine-audit-chat-{}", random_hex(12));
    let mut s = Session {
        availability: availability(target).await,
        steps: Vec::new(),
        problems: Vec::new(),
        ice_servers: None,
        canaries: vec![room.clone(), name_a.clone(), name_b.clone(), name_c.clone(), chat.clone()],
        not_admitted: false,
    };
    if !matches!(s.availability, Availability::Available) {
        return s;
    }
    if let Err(e) = steps(target, &room, [&name_a, &name_b, &name_c], &chat, &mut s).await {
        s.problems.push(e);
    }
    s
}

async fn steps(target: &Target, room: &str, names: [&str; 3], chat: &str, s: &mut Session) -> Result<(), Msg> {
    let io = |e: String| msg(e.clone(), e);
    let mut a = match join(target, room, names[0]).await {
        Ok(a) => a,
        Err(e) => {
            s.not_admitted = true;
            return Err(e);
        }
    };
    s.ice_servers = Some(
        a.welcome["ice_servers"]
            .as_array()
            .map(|list| {
                list.iter()
                    .flat_map(|srv| srv["urls"].as_array().cloned().unwrap_or_default())
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    );
    let first = participant_ids(&a.welcome);
    s.steps.push(msg(
        format!("Person A trat dem neuen Raum bei; der Raum war leer ({} andere Teilnehmende).", first.len()),
        format!("Person A joined the new room; it was empty ({} other participants).", first.len()),
    ));
    if !first.is_empty() {
        s.problems.push(msg(
            "Ein neu erzeugter Raum enthielt bereits Teilnehmende.",
            "A newly made room already had participants.",
        ));
    }

    let mut b = join(target, room, names[1]).await?;
    let sees_a = participant_ids(&b.welcome).contains(&a.id);
    s.steps.push(msg(
        format!("Person B trat bei und sah A in der Teilnehmerliste: {}.", if sees_a { "ja" } else { "nein" }),
        format!("Person B joined and saw A in the participant list: {}.", if sees_a { "yes" } else { "no" }),
    ));
    if !sees_a {
        s.problems.push(msg(
            "B sah A nicht: Beitritte über das Signalisierungsprotokoll bilden keinen gemeinsamen Raum.",
            "B did not see A: joins through the protocol do not form a shared room.",
        ));
    }
    let mut seen = Vec::new();
    let _ = wait_for(&mut a.socket, "participant_joined", ANSWER, &mut seen).await.map_err(io)?;

    send(&mut a.socket, &ClientMsg::Chat { text: chat.to_string() }).await.map_err(io)?;
    let got = wait_for(&mut b.socket, "chat", ANSWER, &mut seen).await.map_err(io)?;
    let delivered = got.is_some_and(|m| m["text"] == chat);
    s.steps.push(msg(
        format!("A sandte eine Chatnachricht; B erhielt sie: {}.", if delivered { "ja" } else { "nein" }),
        format!("A sent a chat message; B received it: {}.", if delivered { "yes" } else { "no" }),
    ));

    let a_left = leave(&mut a).await.map_err(io)?;
    let b_saw_leave = wait_for(&mut b.socket, "participant_left", ANSWER, &mut seen).await.map_err(io)?.is_some();
    let b_left = leave(&mut b).await.map_err(io)?;
    s.steps.push(msg(
        format!(
            "A und B verließen den Raum (Abmeldung bestätigt: {}; B sah A gehen: {}).",
            if a_left && b_left { "ja" } else { "nein" },
            if b_saw_leave { "ja" } else { "nein" }
        ),
        format!(
            "A and B left the room (leave confirmed: {}; B saw A leave: {}).",
            if a_left && b_left { "yes" } else { "no" },
            if b_saw_leave { "yes" } else { "no" }
        ),
    ));
    if !(a_left && b_left) {
        s.problems.push(msg(
            "Der Server bestätigte `leave` nicht mit `bye`.",
            "The server did not confirm `leave` with `bye`.",
        ));
    }
    // Give the server a moment to end the room.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut c = join(target, room, names[2]).await?;
    let left_over = participant_ids(&c.welcome);
    let mut later = Vec::new();
    let deadline = Instant::now() + LISTEN;
    while let Some(v) = next(&mut c.socket, deadline).await.map_err(io)? {
        later.push(v);
    }
    let old_chat = later.iter().any(|m| m["type"] == "chat");
    s.steps.push(msg(
        format!(
            "Person C trat demselben Raumnamen bei: {} Teilnehmende vorgefunden, frühere Chatnachrichten erhalten: {}.",
            left_over.len(),
            if old_chat { "ja" } else { "nein" }
        ),
        format!(
            "Person C joined the same room name: found {} participants, received earlier chat messages: {}.",
            left_over.len(),
            if old_chat { "yes" } else { "no" }
        ),
    ));
    if !left_over.is_empty() {
        s.problems.push(msg(
            "Nach dem Verlassen aller Teilnehmenden bestand der Raum mit Teilnehmenden fort.",
            "After everyone had left, the room lived on with participants in it.",
        ));
    }
    if old_chat {
        s.problems.push(msg(
            "Eine Chatnachricht aus der früheren Sitzung wurde an die neu hinzugekommene Person ausgeliefert.",
            "A chat message from the earlier session was delivered to the newcomer.",
        ));
    }
    let _ = leave(&mut c).await;
    Ok(())
}

/// Whether a WebSocket from `origin` is refused; `Ok(status)` when refused.
pub async fn foreign_origin_refused(target: &Target, origin: Option<&str>) -> Result<Result<u16, ()>, String> {
    match http::ws_connect(target, origin).await {
        Ok(mut s) => {
            let _ = s.close(None).await;
            Ok(Err(()))
        }
        Err(WsError::Refused(status)) => Ok(Ok(status)),
        Err(WsError::Other(e)) => Err(e),
    }
}

/// What a moderator's `record_start` did in a fresh room of two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentProbe {
    /// The server refused it with this error code.
    Refused(String),
    /// The server took it: whether the other participant was asked, and
    /// whether anyone was told the recording runs before they answered.
    Taken { other_asked: bool, on_without_answer: bool },
    /// The first participant could not join (access control).
    NotAdmitted,
}

/// Two participants join a fresh room; the first (its moderator in an
/// open server) asks to record, the second never answers. For ~2 s both
/// listen: is the second asked, and does anyone hear `recording` with state
/// `on`? Then the first stops the recording, and both leave.
pub async fn recording_consent(target: &Target) -> Result<ConsentProbe, Msg> {
    let io = |e: String| msg(e.clone(), e);
    let room = format!("kabine-audit-{}", random_hex(16));
    let Ok(mut a) = join(target, &room, &format!("Audit {}", random_hex(8))).await else {
        return Ok(ConsentProbe::NotAdmitted);
    };
    let mut b = join(target, &room, &format!("Audit {}", random_hex(8))).await?;
    let mut seen = Vec::new();
    let _ = wait_for(&mut a.socket, "participant_joined", ANSWER, &mut seen).await.map_err(io)?;
    send(&mut a.socket, &ClientMsg::RecordStart {}).await.map_err(io)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let (from_a, from_b) = tokio::join!(collect(&mut a.socket, deadline), collect(&mut b.socket, deadline));
    let (from_a, from_b) = (from_a.map_err(io)?, from_b.map_err(io)?);
    let refused = from_a.iter().find(|v| v["type"] == "error").and_then(|v| v["code"].as_str().map(str::to_string));
    let on = from_a.iter().chain(from_b.iter()).any(|v| v["type"] == "recording" && v["state"] == "on");
    let other_asked = from_b.iter().any(|v| v["type"] == "recording_consent_request");
    send(&mut a.socket, &ClientMsg::RecordStop {}).await.map_err(io)?;
    let _ = leave(&mut b).await;
    let _ = leave(&mut a).await;
    Ok(match refused {
        Some(code) if !on => ConsentProbe::Refused(code),
        _ => ConsentProbe::Taken { other_asked, on_without_answer: on },
    })
}

/// Every message until `deadline`.
async fn collect(socket: &mut Socket, deadline: Instant) -> Result<Vec<Value>, String> {
    let mut all = Vec::new();
    while let Some(v) = next(socket, deadline).await? {
        all.push(v);
    }
    Ok(all)
}
