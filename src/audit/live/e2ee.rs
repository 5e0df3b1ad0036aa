//! The live probe of end-to-end encryption (docs/e2ee.md): three synthetic
//! participants join a fresh room with a random name.
//!
//! - The meeting is end-to-end encrypted from its `welcome` on (under
//!   `e2ee.mode = "required"`), or once the first participant, its
//!   moderator, turns it on (`"optional"`).
//! - The key exchange relay: an `e2ee` message for one participant reaches
//!   that one only, one for everyone reaches both others, unchanged, with
//!   the sender set by the server.
//! - Media: the first participant publishes video encrypted the way the
//!   browser client does it, with a sender key that exists only in this
//!   process; what the second receives, after the clear header bytes, is
//!   ciphertext by the same check as the integration test
//!   ([`crate::loadgen::payload`]), and every frame still decrypts with the
//!   key: the server forwards the frames unchanged, without a key.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Target;
use crate::audit::text::{Msg, msg};
use crate::config::E2eeMode;
use crate::loadgen::frame_crypto::{Kind, SenderKey};
use crate::loadgen::payload::{PayloadReport, examine};
use crate::loadgen::{PeerConfig, PeerReport, SyntheticPeer};
use crate::protocol::{ClientMsg, ServerMsg, Source};

/// Time to join, and for each step to show its effect.
const STEP: Duration = Duration::from_secs(10);
/// Video frames looked at.
pub const FRAMES: usize = 60;

/// What the probe found.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// What happened, step by step.
    pub steps: Vec<Msg>,
    /// Where the server did not behave as documented.
    pub problems: Vec<Msg>,
    /// The first join was refused or left waiting (access control).
    pub not_admitted: bool,
    /// The forwarded video, when it arrived.
    pub payload: Option<PayloadReport>,
    /// Frames that decrypted with the probe's key, of those received.
    pub decrypted: (usize, usize),
}

fn random_hex(n: usize) -> String {
    (0..n).map(|_| char::from(b"0123456789abcdef"[usize::from(rand::random::<u8>() % 16)])).collect()
}

/// The local address media to `server` leaves from (no packet is sent).
fn local_ip_towards(server: IpAddr) -> Result<IpAddr, String> {
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| "address")?;
    let socket = std::net::UdpSocket::bind(bind).map_err(|e| format!("no UDP socket: {e}"))?;
    socket.connect(SocketAddr::new(server, 9)).map_err(|e| format!("no route to the server: {e}"))?;
    socket.local_addr().map(|a| a.ip()).map_err(|e| e.to_string())
}

async fn join(config: PeerConfig) -> Result<SyntheticPeer, String> {
    match tokio::time::timeout(STEP, SyntheticPeer::join(config)).await {
        Ok(Ok(peer)) => Ok(peer),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no `welcome` within 10 s".into()),
    }
}

/// `e2ee` messages a participant received: (from, data).
fn relayed(r: &PeerReport) -> Vec<(String, String)> {
    r.other
        .iter()
        .filter_map(|m| match m {
            ServerMsg::E2ee { from, data } => Some((from.clone(), data.clone())),
            _ => None,
        })
        .collect()
}

/// Runs the probe against `target` for a server in `mode`.
pub async fn run(target: &Target, mode: E2eeMode) -> Result<Probe, String> {
    let server = target.addr().await?;
    let tls = super::http::client_config(&[b"http/1.1"])?;
    let media_bind = local_ip_towards(server.ip())?;
    let room = format!("kabine-audit-e2ee-{}", random_hex(16));
    let config = |name: &str| PeerConfig {
        host: target.authority.clone(),
        origin: Some(target.origin.clone()),
        media_bind,
        audio: false,
        video: false,
        ..PeerConfig::new(server, Arc::clone(&tls), &room, name)
    };
    let mut probe = Probe::default();
    // The sender key exists in this process only: no message carries it.
    let key = Arc::new(Mutex::new(SenderKey::random()));
    let publisher = match join(PeerConfig {
        video: true,
        video_key: Some(Arc::clone(&key)),
        ..config(&format!("audit-{}", random_hex(8)))
    })
    .await
    {
        Ok(p) => p,
        Err(e) => {
            probe.not_admitted = true;
            probe
                .problems
                .push(msg(format!("Person A kam nicht in den Raum: {e}"), format!("Person A was not let in: {e}")));
            return Ok(probe);
        }
    };
    let mut cleanup = vec![];
    async {
        if mode == E2eeMode::Optional {
            publisher.send(ClientMsg::EnableE2ee {}).await;
            probe.steps.push(msg(
                "Person A (erste im Raum, Moderation) schaltet die Ende-zu-Ende-Verschlüsselung ein (`enable_e2ee`).",
                "Person A (first in the room, moderator) turns end-to-end encryption on (`enable_e2ee`).",
            ));
        }
        if !publisher.wait_for(STEP, |r| r.e2ee).await {
            probe.problems.push(msg(
                "Der Server kennzeichnet die Besprechung nicht als Ende-zu-Ende-verschlüsselt (`welcome`/`room_state`: `e2ee: false`).",
                "The server does not mark the meeting as end-to-end encrypted (`welcome`/`room_state`: `e2ee: false`).",
            ));
            return;
        }
        probe.steps.push(msg(
            "Die Besprechung ist als Ende-zu-Ende-verschlüsselt gekennzeichnet (`e2ee: true`): Browser verschlüsseln ab dem ersten Bild.",
            "The meeting is marked end-to-end encrypted (`e2ee: true`): browsers encrypt from the first frame.",
        ));
        let observer = match join(PeerConfig { keep_frames: FRAMES, ..config(&format!("audit-{}", random_hex(8))) }).await {
            Ok(p) => p,
            Err(e) => {
                probe.problems.push(msg(format!("Person B kam nicht in den Raum: {e}"), format!("Person B was not let in: {e}")));
                return;
            }
        };
        let third = match join(config(&format!("audit-{}", random_hex(8)))).await {
            Ok(p) => p,
            Err(e) => {
                probe.problems.push(msg(format!("Person C kam nicht in den Raum: {e}"), format!("Person C was not let in: {e}")));
                cleanup.push(observer);
                return;
            }
        };
        // The relay of the key exchange.
        let (a, b) = (publisher.id(), observer.id());
        let (to_b, to_all) = (random_hex(40), random_hex(40));
        publisher.send(ClientMsg::E2ee { to: Some(b.clone()), data: to_b.clone() }).await;
        publisher.send(ClientMsg::E2ee { to: None, data: to_all.clone() }).await;
        let want_b = vec![(a.clone(), to_b.clone()), (a.clone(), to_all.clone())];
        let b_ok = observer.wait_for(STEP, |r| relayed(r) == want_b).await;
        let c_ok = third.wait_for(STEP, |r| relayed(r) == vec![(a.clone(), to_all.clone())]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (got_b, got_c) = (relayed(&observer.report()), relayed(&third.report()));
        if b_ok && c_ok && got_b == want_b && got_c.len() == 1 {
            probe.steps.push(msg(
                "Schlüsselaustausch: Eine Nachricht für Person B erreichte nur B, eine für alle erreichte B und C; unverändert, mit dem vom Server gesetzten Absender A.",
                "Key exchange: a message for person B reached B only, one for everyone reached B and C; unchanged, with the sender A set by the server.",
            ));
        } else {
            probe.problems.push(msg(
                format!("Schlüsselaustausch nicht wie dokumentiert weitergeleitet: B erhielt {} Nachricht(en), C {}.", got_b.len(), got_c.len()),
                format!("Key exchange not relayed as documented: B got {} message(s), C {}.", got_b.len(), got_c.len()),
            ));
        }
        // The media.
        let got_frames = observer
            .wait_for(STEP, |r| r.frames.get(&(a.clone(), Source::Camera)).is_some_and(|f| f.len() >= FRAMES))
            .await;
        let frames = observer.report().frames.remove(&(a.clone(), Source::Camera)).unwrap_or_default();
        if !got_frames {
            probe.problems.push(msg(
                format!("Person B empfing in 10 s nur {} von {FRAMES} Videobildern von A.", frames.len()),
                format!("Person B received only {} of {FRAMES} video frames from A within 10 s.", frames.len()),
            ));
        }
        if !frames.is_empty() {
            // Every frame decrypts with the probe's own key: unchanged on the way.
            let ok = decrypting(&key.lock().unwrap_or_else(|p| p.into_inner()), &frames);
            probe.decrypted = (ok, frames.len());
            probe.payload = Some(examine(&frames));
        }
        cleanup.push(observer);
        cleanup.push(third);
    }
    .await;
    for p in cleanup {
        p.leave().await;
    }
    publisher.leave().await;
    Ok(probe)
}

/// How many of `frames` decrypt with `key`.
pub fn decrypting(key: &SenderKey, frames: &[Vec<u8>]) -> usize {
    frames.iter().filter(|f| key.decrypt(Kind::Video, f).is_some()).count()
}
