//! A minimal look into a browser's publish offer: which m-lines it has, of
//! what kind, whether they send, and which simulcast rids they declare.
//! Used to check the offer against its `tracks` list before str0m sees it;
//! str0m does the real SDP work.

use crate::signal::protocol::{PublishedTrack, Source};

/// Most tracks one participant may publish: mic, camera, screen.
pub const MAX_TRACKS: usize = 3;

/// Largest SDP accepted, in bytes (just under the signalling frame limit).
pub const MAX_SDP_BYTES: usize = crate::signal::protocol::MAX_MESSAGE_BYTES - 4 * 1024;

/// Kind of an m-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
    Other,
}

/// One m-line of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub mid: String,
    pub kind: Kind,
    /// The browser sends on it (`sendonly`/`sendrecv`; port not 0 unless
    /// the m-line is `bundle-only`, as Firefox writes re-offered lines).
    pub sending: bool,
    /// `a=rid:<id> send` lines.
    pub rids: Vec<String>,
}

/// The m-lines of `sdp`, in order.
pub fn scan(sdp: &str) -> Vec<Offered> {
    let mut out: Vec<Offered> = Vec::new();
    let mut port_zero = Vec::new();
    let mut bundle_only = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(rest) = line.strip_prefix("m=") {
            let mut parts = rest.split(' ');
            let kind = match parts.next() {
                Some("audio") => Kind::Audio,
                Some("video") => Kind::Video,
                _ => Kind::Other,
            };
            port_zero.push(parts.next() == Some("0"));
            bundle_only.push(false);
            out.push(Offered { mid: String::new(), kind, sending: true, rids: Vec::new() });
            continue;
        }
        let Some(m) = out.last_mut() else {
            continue;
        };
        if let Some(mid) = line.strip_prefix("a=mid:") {
            m.mid = mid.trim().to_string();
        } else if line == "a=recvonly" || line == "a=inactive" {
            m.sending = false;
        } else if line == "a=bundle-only"
            && let Some(b) = bundle_only.last_mut()
        {
            *b = true;
        } else if let Some(rid) = line.strip_prefix("a=rid:") {
            let mut parts = rid.split(' ');
            if let (Some(id), Some("send")) = (parts.next(), parts.next()) {
                m.rids.push(id.to_string());
            }
        }
    }
    for ((m, zero), bundled) in out.iter_mut().zip(port_zero).zip(bundle_only) {
        if zero && !bundled {
            m.sending = false;
        }
    }
    out
}

/// Checks that `tracks` names sending m-lines of the right kind, each
/// source and mid at most once.
pub fn check_tracks<'a>(offered: &'a [Offered], tracks: &[PublishedTrack]) -> Result<Vec<&'a Offered>, String> {
    if tracks.len() > MAX_TRACKS {
        return Err(format!("at most {MAX_TRACKS} tracks"));
    }
    let mut found = Vec::new();
    for (i, t) in tracks.iter().enumerate() {
        if tracks[..i].iter().any(|o| o.mid == t.mid) {
            return Err("a mid is listed twice".into());
        }
        if tracks[..i].iter().any(|o| o.source == t.source) {
            return Err("a source is listed twice".into());
        }
        let Some(m) = offered.iter().find(|m| m.mid == t.mid) else {
            return Err("a listed mid is not in the offer".into());
        };
        let want = match t.source {
            Source::Mic => Kind::Audio,
            Source::Camera | Source::Screen => Kind::Video,
        };
        if m.kind != want {
            return Err("a track's kind does not match its source".into());
        }
        if !m.sending {
            return Err("a listed track does not send".into());
        }
        found.push(m);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=rid:l send\r\na=rid:m send\r\na=rid:h send\r\na=simulcast:send l;m;h\r\n\
        m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=inactive\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=recvonly\r\n\
        m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:4\r\na=sendonly\r\na=bundle-only\r\n";

    fn track(mid: &str, source: Source) -> PublishedTrack {
        PublishedTrack { mid: mid.into(), source }
    }

    #[test]
    fn scan_finds_mids_kinds_directions_and_rids() {
        let m = scan(OFFER);
        assert_eq!(m.len(), 5);
        assert!(m[4].sending, "a bundle-only line with port 0 sends");
        assert_eq!((m[0].mid.as_str(), m[0].kind, m[0].sending), ("0", Kind::Audio, true));
        assert_eq!(m[1].rids, ["l", "m", "h"]);
        assert!(!m[2].sending && !m[3].sending);
    }

    #[test]
    fn tracks_must_match_the_offer() {
        let m = scan(OFFER);
        assert!(check_tracks(&m, &[track("0", Source::Mic), track("1", Source::Camera)]).is_ok());
        assert!(check_tracks(&m, &[]).is_ok());
        for bad in [
            vec![track("1", Source::Mic)],
            vec![track("0", Source::Camera)],
            vec![track("9", Source::Mic)],
            vec![track("2", Source::Screen)],
            vec![track("3", Source::Screen)],
            vec![track("0", Source::Mic), track("0", Source::Mic)],
            vec![track("1", Source::Camera), track("0", Source::Camera)],
        ] {
            assert!(check_tracks(&m, &bad).is_err(), "{bad:?}");
        }
    }
}
