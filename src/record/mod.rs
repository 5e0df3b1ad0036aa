//! The recorder: writes what the SFU forwards for a recording into one
//! WebM file per participant and source, encrypted as it is written.
//!
//! The recorder is a member of the meeting as far as the rooms are
//! concerned (`crate::room::recording`: a host asks, everyone consents,
//! only consenting participants are recorded, moderation applies). The
//! media engine hands this module the RTP of exactly those participants
//! (`crate::sfu::engine::record`), already one continuous stream per
//! source whatever the simulcast layer, as [`RecordMsg`]s; nothing is
//! transcoded.
//!
//! - [`frames`]: jitter buffer, VP8 frames from packets, times;
//! - [`webm`]: the WebM writer;
//! - [`store`]: directories, age encryption, the manifest, retention,
//!   `kabine recording list|delete|decrypt`.
//!
//! [`spawn`] runs the recorder on a thread of its own: disk writes and
//! encryption never hold up the media task, which hands over with
//! `try_send`.

pub mod frames;
pub mod store;
pub mod webm;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::mpsc::{RecvTimeoutError, SyncSender};

use crate::protocol::Source;
use frames::{Codec, Depacketizer, MediaFrame, Packet};
use store::{Manifest, ManifestFile, Recipients, Sealed};
use webm::{Frame, Muxer, Track};

/// Packets and commands waiting for the recorder; beyond this the media
/// task drops packets (counted in `/metrics`) rather than wait.
pub const QUEUE: usize = 8192;
/// How long a file waits for its first video keyframe (for the picture
/// size in the header) before it is started with a default size.
const HEADER_WAIT: Duration = Duration::from_secs(3);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// A recording's number, unique for the life of the server.
pub type RecordingId = u64;

/// What the media engine hands the recorder, in order.
#[derive(Debug, Clone)]
pub enum RecordMsg {
    /// A recording starts (its first participant consented).
    Start { id: RecordingId, room: String, unix_ms: u64, at: Instant },
    /// From now on this participant's media goes into the recording.
    Participant { id: RecordingId, session: u64, participant: String, display_name: String, at: Instant },
    /// The participant is no longer recorded (left, withdrew consent).
    ParticipantEnd { id: RecordingId, session: u64 },
    /// A packet of a recorded participant.
    Packet { id: RecordingId, session: u64, source: Source, packet: Packet },
    /// The recording stops.
    Stop { id: RecordingId, unix_ms: u64 },
}

/// Where and how recordings are written.
#[derive(Clone)]
pub struct RecorderConfig {
    pub directory: PathBuf,
    pub recipients: Recipients,
    pub retention_days: u32,
}

/// Starts the recorder thread; it ends when every sender is dropped, after
/// closing every file. Retention runs at start and every hour.
pub fn spawn(config: RecorderConfig) -> (SyncSender<RecordMsg>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    let handle = std::thread::spawn(move || {
        let mut r = Recorder::new(config);
        let mut next_retention = Instant::now();
        loop {
            if Instant::now() >= next_retention {
                store::expire(&r.config.directory, r.config.retention_days, store::unix_now());
                next_retention = Instant::now() + RETENTION_EVERY;
            }
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(m) => r.handle(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        r.close_all();
    });
    (tx, handle)
}

/// The recorder's state, without its thread: what [`spawn`] runs, and
/// what `kabine-bench record` measures.
pub struct Recorder {
    config: RecorderConfig,
    recordings: HashMap<RecordingId, Recording>,
}

struct Recording {
    dir: PathBuf,
    start: Instant,
    manifest: Manifest,
    files: HashMap<(u64, FileKind), OpenFile>,
    /// Per session: participant id, display name, since when recorded.
    people: HashMap<u64, (String, String)>,
    next_file: u32,
    failed: bool,
    recipients: Recipients,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FileKind {
    Camera,
    Screen,
}

struct OpenFile {
    index: usize,
    out: Option<Sealed>,
    muxer: Muxer,
    /// Tracks (Opus first for camera files) and their depacketizers.
    audio: Option<Depacketizer>,
    video: Depacketizer,
    /// Frames before the header is written: (track number, frame).
    early: Vec<(u8, MediaFrame)>,
    size: Option<(u16, u16)>,
}

impl OpenFile {
    fn new(kind: FileKind, origin: Instant, index: usize) -> OpenFile {
        let video_track = if kind == FileKind::Camera { 2 } else { 1 };
        OpenFile {
            index,
            out: None,
            muxer: Muxer::new(vec![video_track]),
            audio: (kind == FileKind::Camera).then(|| Depacketizer::new(Codec::Opus, origin)),
            video: Depacketizer::new(Codec::Vp8, origin),
            early: Vec::new(),
            size: None,
        }
    }

    fn video_track(&self) -> u8 {
        if self.audio.is_some() { 2 } else { 1 }
    }

    fn tracks(&self) -> Vec<Track> {
        let (width, height) = self.size.unwrap_or((640, 480));
        let mut t = Vec::new();
        if self.audio.is_some() {
            t.push(Track::Opus);
        }
        t.push(Track::Vp8 { width, height });
        t
    }
}

impl Recorder {
    pub fn new(config: RecorderConfig) -> Recorder {
        Recorder { config, recordings: HashMap::new() }
    }

    /// One message from the media engine.
    pub fn handle(&mut self, msg: RecordMsg) {
        match msg {
            RecordMsg::Start { id, room, unix_ms, at } => self.start(id, room, unix_ms, at),
            RecordMsg::Participant { id, session, participant, display_name, at } => {
                if let Some(rec) = self.recordings.get_mut(&id) {
                    rec.people.insert(session, (participant, display_name));
                    // The camera file's clock starts now (the screen file's
                    // when the first screen packet comes).
                    let _ = at;
                }
            }
            RecordMsg::ParticipantEnd { id, session } => {
                if let Some(rec) = self.recordings.get_mut(&id) {
                    for kind in [FileKind::Camera, FileKind::Screen] {
                        if let Some(f) = rec.files.remove(&(session, kind)) {
                            close_file(rec, f);
                        }
                    }
                    rec.people.remove(&session);
                    write_manifest(rec, &self.config.recipients);
                }
            }
            RecordMsg::Packet { id, session, source, packet } => {
                if let Some(rec) = self.recordings.get_mut(&id) {
                    on_packet(rec, &self.config.recipients, session, source, packet);
                }
            }
            RecordMsg::Stop { id, unix_ms } => {
                if let Some(mut rec) = self.recordings.remove(&id) {
                    rec.manifest.stopped_unix_ms = Some(unix_ms);
                    for (_, f) in std::mem::take(&mut rec.files) {
                        close_file(&mut rec, f);
                    }
                    write_manifest(&mut rec, &self.config.recipients);
                }
            }
        }
    }

    fn start(&mut self, id: RecordingId, room: String, unix_ms: u64, at: Instant) {
        let name = store::recording_dir_name(unix_ms);
        let dir = self.config.directory.join(&name);
        let ok = store::private_dir(&self.config.directory).and_then(|_| store::private_dir(&dir));
        if let Err(e) = &ok {
            tracing::error!("recording: cannot create its directory: {e}");
        }
        let manifest = Manifest { id: name, room, started_unix_ms: unix_ms, ..Manifest::default() };
        let mut rec = Recording {
            dir,
            start: at,
            manifest,
            files: HashMap::new(),
            people: HashMap::new(),
            next_file: 1,
            failed: ok.is_err(),
            recipients: self.config.recipients.clone(),
        };
        write_manifest(&mut rec, &self.config.recipients);
        self.recordings.insert(id, rec);
    }

    /// Closes every file of every recording (at shutdown).
    pub fn close_all(&mut self) {
        for (_, mut rec) in std::mem::take(&mut self.recordings) {
            for (_, f) in std::mem::take(&mut rec.files) {
                close_file(&mut rec, f);
            }
            write_manifest(&mut rec, &self.config.recipients);
        }
    }
}

fn on_packet(rec: &mut Recording, to: &Recipients, session: u64, source: Source, packet: Packet) {
    if rec.failed {
        return;
    }
    let kind = if source == Source::Screen { FileKind::Screen } else { FileKind::Camera };
    let Some((participant, display_name)) = rec.people.get(&session).cloned() else {
        return; // not (or no longer) recorded
    };
    if !rec.files.contains_key(&(session, kind)) {
        let file = format!("{:02}-{}.webm", rec.next_file, if kind == FileKind::Camera { "camera" } else { "screen" });
        rec.next_file += 1;
        let origin = packet.arrival;
        let offset_ms = u64::try_from(origin.saturating_duration_since(rec.start).as_millis()).unwrap_or(0);
        rec.manifest.files.push(ManifestFile {
            file,
            participant,
            display_name,
            source: if kind == FileKind::Camera { "camera" } else { "screen" }.into(),
            offset_ms,
            duration_ms: None,
        });
        let index = rec.manifest.files.len() - 1;
        rec.files.insert((session, kind), OpenFile::new(kind, origin, index));
        write_manifest(rec, to);
    }
    let Some(f) = rec.files.get_mut(&(session, kind)) else {
        return;
    };
    let (track, frames) = match (source, f.audio.as_mut()) {
        (Source::Mic, Some(a)) => (1, a.push(packet)),
        (Source::Mic, None) => return,
        _ => (f.video_track(), f.video.push(packet)),
    };
    let mut failed = false;
    for frame in frames {
        if let Err(e) = write_frame(rec.dir.as_path(), &rec.manifest, to, f, track, frame) {
            tracing::error!("recording: writing a file failed: {e}");
            failed = true;
            break;
        }
    }
    if failed {
        rec.failed = true;
    }
}

fn write_frame(
    dir: &std::path::Path,
    manifest: &Manifest,
    to: &Recipients,
    f: &mut OpenFile,
    track: u8,
    frame: MediaFrame,
) -> std::io::Result<()> {
    if f.out.is_none() {
        if f.size.is_none() && frame.size.is_some() {
            f.size = frame.size;
        }
        let waited = frame.ms >= u64::try_from(HEADER_WAIT.as_millis()).unwrap_or(3000);
        if f.size.is_none() && !waited {
            if f.early.len() < 4096 {
                f.early.push((track, frame));
            }
            return Ok(());
        }
        let name = &manifest.files[f.index].file;
        let mut out = Sealed::create(&dir.join(format!("{name}{}", store::SUFFIX)), to)?;
        out.write(&webm::header(&f.tracks()))?;
        f.out = Some(out);
        for (t, early) in std::mem::take(&mut f.early) {
            push_frame(f, t, early)?;
        }
    }
    push_frame(f, track, frame)
}

fn push_frame(f: &mut OpenFile, track: u8, frame: MediaFrame) -> std::io::Result<()> {
    let bytes = f.muxer.push(Frame { track, ms: frame.ms, keyframe: frame.keyframe, data: frame.data });
    match f.out.as_mut() {
        Some(out) if !bytes.is_empty() => out.write(&bytes),
        _ => Ok(()),
    }
}

fn close_file(rec: &mut Recording, mut f: OpenFile) {
    let mut frames: Vec<(u8, MediaFrame)> = Vec::new();
    if let Some(a) = f.audio.as_mut() {
        frames.extend(a.flush().into_iter().map(|fr| (1, fr)));
    }
    let vt = f.video_track();
    frames.extend(f.video.flush().into_iter().map(|fr| (vt, fr)));
    let to_write: Vec<(u8, MediaFrame)> = std::mem::take(&mut f.early).into_iter().chain(frames).collect();
    if f.out.is_none() && to_write.is_empty() {
        return; // nothing arrived: no file
    }
    let dir = rec.dir.clone();
    let result = (|| -> std::io::Result<()> {
        if f.out.is_none() {
            let name = &rec.manifest.files[f.index].file;
            let mut out = Sealed::create(&dir.join(format!("{name}{}", store::SUFFIX)), &rec.recipients)?;
            out.write(&webm::header(&f.tracks()))?;
            f.out = Some(out);
        }
        for (t, fr) in to_write {
            push_frame(&mut f, t, fr)?;
        }
        let tail = f.muxer.finish();
        if let Some(mut out) = f.out.take() {
            out.write(&tail)?;
            out.finish()?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        tracing::error!("recording: closing a file failed: {e}");
    }
    if let Some(m) = rec.manifest.files.get_mut(f.index) {
        m.duration_ms = Some(f.muxer.last_ms);
    }
}

/// Writes the manifest again (encrypted, replaced atomically).
fn write_manifest(rec: &mut Recording, to: &Recipients) {
    if rec.failed {
        return;
    }
    let tmp = rec.dir.join(store::MANIFEST_TMP);
    let _ = std::fs::remove_file(&tmp);
    let result = (|| -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(&rec.manifest).map_err(std::io::Error::other)?;
        let mut out = Sealed::create(&tmp, to)?;
        out.write(&json)?;
        out.finish()?;
        std::fs::rename(&tmp, rec.dir.join(format!("manifest.json{}", store::SUFFIX)))
    })();
    if let Err(e) = result {
        tracing::error!("recording: cannot write the manifest: {e}");
    }
}
