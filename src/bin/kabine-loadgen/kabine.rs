//! Kabine's signalling as the browser client speaks it (docs/protocol.md):
//! `hello`, a publish offer with audio and three simulcast layers, answers
//! to the server's subscribe offers, and `video_sizes` computed from the
//! client's tile layout (debounced 250 ms, sent on change); the layers
//! the server says nobody receives (`send_layers`) are not sent.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::kabine::protocol::{ClientMsg, PROTOCOL_VERSION, PublishedTrack, ServerMsg, Source, VideoSize};
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;

use crate::rtc::Cmd;
use crate::scenario::{self, Spec, View};

/// Where the Kabine under test is.
pub struct Target {
    pub server: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Runs participant `p` until the connection ends; reports failures to the
/// media loop.
pub async fn participant(
    p: usize,
    spec: Spec,
    target: Arc<Target>,
    media: mpsc::UnboundedSender<Cmd>,
    leave: CancellationToken,
) {
    let _ = media.send(Cmd::Add { p, spec: spec.clone() });
    if let Err(e) = run(p, &spec, &target, &media, &leave).await {
        let _ = media.send(Cmd::Failed { p, why: format!("signalling: {e}") });
    }
}

async fn connect(target: &Target) -> io::Result<Ws> {
    let tcp = TcpStream::connect(target.server).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::from(target.server.ip());
    let tls = TlsConnector::from(Arc::clone(&target.tls)).connect(name, tcp).await?;
    let host = target.server.to_string();
    let mut request = format!("wss://{host}/ws").into_client_request().map_err(io::Error::other)?;
    let origin = HeaderValue::from_str(&format!("https://{host}")).map_err(io::Error::other)?;
    request.headers_mut().insert("origin", origin);
    let (ws, _) = tokio_tungstenite::client_async(request, tls).await.map_err(io::Error::other)?;
    Ok(ws)
}

async fn send(ws: &mut Ws, msg: &ClientMsg) -> io::Result<()> {
    let text = serde_json::to_string(msg).map_err(io::Error::other)?;
    ws.send(Message::text(text)).await.map_err(io::Error::other)
}

async fn ask<T>(media: &mpsc::UnboundedSender<Cmd>, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> io::Result<T> {
    let (tx, rx) = oneshot::channel();
    media.send(make(tx)).map_err(|_| io::Error::other("media loop gone"))?;
    rx.await.map_err(|_| io::Error::other("media loop dropped the request"))
}

async fn run(
    p: usize,
    spec: &Spec,
    target: &Target,
    media: &mpsc::UnboundedSender<Cmd>,
    leave: &CancellationToken,
) -> io::Result<()> {
    let mut ws = connect(target).await?;
    let hello = ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        room: format!("bench-{}", spec.room),
        display_name: format!("Load {p}"),
        appointment: None,
    };
    send(&mut ws, &hello).await?;
    let mut layout =
        Layout { view: spec.view, me: String::new(), others: BTreeSet::new(), cameras: BTreeSet::new(), speaker: None };
    let mut sizes_due: Option<tokio::time::Instant> = None;
    let mut last_sent: Option<Vec<VideoSize>> = None;
    loop {
        let sleep = async {
            match sizes_due {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // The run is over: leave as the browser client does when its
            // page closes, so the server closes the meeting at once.
            _ = leave.cancelled() => {
                send(&mut ws, &ClientMsg::Leave {}).await?;
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(m)) = ws.next().await {
                        if matches!(m, Message::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
                return Ok(());
            }
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => return Err(io::Error::other("the server closed the connection")),
                    Some(Err(e)) => return Err(io::Error::other(e)),
                    Some(Ok(_)) => continue,
                };
                let Ok(msg) = serde_json::from_str::<ServerMsg>(text.as_str()) else {
                    continue;
                };
                match msg {
                    ServerMsg::Welcome { you, participants, .. } => {
                        layout.me = you.id;
                        layout.others = participants.into_iter().map(|p| p.id).filter(|id| *id != layout.me).collect();
                        let publishes = spec.video || spec.mic != scenario::Mic::None;
                        if publishes {
                            let offer = ask(media, |reply| Cmd::PublishOffer { p, hml: false, reply })
                                .await?
                                .ok_or_else(|| io::Error::other("no publish offer"))?;
                            let mut tracks = Vec::new();
                            if let Some(mid) = offer.audio_mid {
                                tracks.push(PublishedTrack { mid, source: Source::Mic });
                            }
                            if let Some(mid) = offer.video_mid {
                                tracks.push(PublishedTrack { mid, source: Source::Camera });
                            }
                            send(&mut ws, &ClientMsg::PublishOffer { sdp: offer.sdp, tracks }).await?;
                        }
                        sizes_due = Some(tokio::time::Instant::now() + SIZE_DEBOUNCE);
                    }
                    ServerMsg::PublishAnswer { sdp } => {
                        let _ = media.send(Cmd::PublishAnswer { p, sdp });
                    }
                    // Like the browser: layers nobody receives are not sent
                    // (docs/protocol.md, "Layers nobody receives").
                    ServerMsg::SendLayers { source: Source::Camera, layers } => {
                        let _ = media.send(Cmd::SendLayers { p, layers: usize::from(layers) });
                    }
                    ServerMsg::SubscribeOffer { sdp, tracks } => {
                        let answer = ask(media, |reply| Cmd::SubscribeOffer { p, sdp, reply })
                            .await?
                            .ok_or_else(|| io::Error::other("subscribe offer not accepted"))?;
                        // Compacted like the browser client's (docs/protocol.md).
                        let sdp = ::kabine::sfu::sdp::compact_answer(&answer);
                        send(&mut ws, &ClientMsg::SubscribeAnswer { sdp }).await?;
                        layout.cameras = tracks
                            .iter()
                            .filter(|t| t.source == Source::Camera)
                            .map(|t| t.participant.clone())
                            .collect();
                        sizes_due = Some(tokio::time::Instant::now() + SIZE_DEBOUNCE);
                    }
                    ServerMsg::ParticipantJoined { participant } if participant.id != layout.me => {
                        layout.others.insert(participant.id);
                        sizes_due = Some(tokio::time::Instant::now() + SIZE_DEBOUNCE);
                    }
                    ServerMsg::ParticipantLeft { id } => {
                        layout.others.remove(&id);
                        sizes_due = Some(tokio::time::Instant::now() + SIZE_DEBOUNCE);
                    }
                    ServerMsg::ActiveSpeaker { id }
                        if layout.view == View::Speaker && id.as_ref().is_some_and(|s| *s != layout.me) =>
                    {
                        layout.speaker = id;
                        sizes_due = Some(tokio::time::Instant::now() + SIZE_DEBOUNCE);
                    }
                    // Audio comes on the slots the server fills, as in the
                    // browser; the figures count every stream, whoever is heard.
                    ServerMsg::AudioSlots { .. } => {}
                    ServerMsg::Bye { reason } => return Err(io::Error::other(format!("bye: {reason:?}"))),
                    ServerMsg::Error { code, .. } => {
                        let _ = media.send(Cmd::Failed { p, why: format!("server error {code:?}") });
                    }
                    _ => {}
                }
            }
            _ = sleep => {
                sizes_due = None;
                let sizes = layout.sizes();
                if last_sent.as_ref() != Some(&sizes) {
                    send(&mut ws, &ClientMsg::VideoSizes { sizes: sizes.clone() }).await?;
                    last_sent = Some(sizes);
                }
            }
        }
    }
}

/// The browser client waits this long after a layout change before it
/// reports sizes.
const SIZE_DEBOUNCE: Duration = Duration::from_millis(250);

/// What the participant's page shows.
struct Layout {
    view: View,
    me: String,
    others: BTreeSet<String>,
    /// Participants whose camera the subscribe connection carries.
    cameras: BTreeSet<String>,
    speaker: Option<String>,
}

impl Layout {
    /// One entry per other participant's camera tile, sorted like the
    /// client sorts them.
    fn sizes(&self) -> Vec<VideoSize> {
        let mut out: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        match self.view {
            View::Tiles => {
                let size = scenario::tile_size(self.others.len() + 1);
                for id in &self.others {
                    out.insert(id.clone(), size);
                }
            }
            View::Speaker => {
                let main = self.speaker.clone().filter(|s| self.others.contains(s)).or_else(|| {
                    self.others.iter().find(|id| self.cameras.contains(*id)).or(self.others.first()).cloned()
                });
                for id in &self.others {
                    let size = if Some(id) == main.as_ref() { scenario::SPEAKER_MAIN } else { scenario::SPEAKER_STRIP };
                    out.insert(id.clone(), size);
                }
            }
        }
        out.into_iter()
            .map(|(participant, (width, height))| VideoSize { participant, source: Source::Camera, width, height })
            .collect()
    }
}
