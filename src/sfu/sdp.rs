//! A minimal look into SDP around str0m, which does the real work:
//! - [`scan`] / [`check_tracks`]: which m-lines a publish offer has, of what
//!   kind, whether they send, and which simulcast rids they declare, checked
//!   against the offer's `tracks` list;
//! - [`compact_answer`] / [`expand_answer`]: the compacted subscribe answer
//!   of docs/protocol.md, so that a room of 100 fits the 64 KiB frame limit;
//! - [`outgoing`]: the server's own SDP with its candidates in every
//!   bundled m-section and no trickle option (docs/protocol.md, *SDP*).

use std::borrow::Cow;
use std::collections::HashMap;

use crate::protocol::{PublishedTrack, Source};

/// Most tracks one participant may publish: mic, camera, screen.
pub const MAX_TRACKS: usize = 3;

/// Largest SDP accepted, in bytes (just under the signalling frame limit).
pub const MAX_SDP_BYTES: usize = crate::protocol::MAX_MESSAGE_BYTES - 4 * 1024;

/// Marks a media section of a compacted answer that repeats the previous
/// complete section with the same `m=` line apart from `a=mid` and the
/// direction (docs/protocol.md, *Compacted subscribe answers*).
pub const SAME_AS_PREVIOUS: &str = "a=x-kabine-same";

/// Largest subscribe answer after [`expand_answer`], bytes: a room of 100
/// with microphone, camera and screen each is ~300 sections of ~1 KB.
pub const MAX_EXPANDED_SDP_BYTES: usize = 1024 * 1024;

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

/// One media section: its `m=` line and the lines after it.
#[derive(Debug)]
struct Section<'a> {
    m_line: &'a str,
    lines: Vec<&'a str>,
}

/// Splits SDP into its session lines and media sections (line ends are
/// `\r\n` or `\n`; empty lines are dropped).
fn sections(sdp: &str) -> (Vec<&str>, Vec<Section<'_>>) {
    let mut session = Vec::new();
    let mut out: Vec<Section<'_>> = Vec::new();
    for line in sdp.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.is_empty()) {
        if line.starts_with("m=") {
            out.push(Section { m_line: line, lines: Vec::new() });
        } else if let Some(section) = out.last_mut() {
            section.lines.push(line);
        } else {
            session.push(line);
        }
    }
    (session, out)
}

/// The lines in which otherwise equal sections differ, by kind: the mid,
/// the direction, and the `a=msid` that str0m also writes for a receiving
/// section. Index into [`PLACEHOLDERS`].
fn own_kind(line: &str) -> Option<usize> {
    if line.starts_with("a=mid:") {
        Some(0)
    } else if matches!(line, "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive") {
        Some(1)
    } else if line.starts_with("a=msid:") {
        Some(2)
    } else {
        None
    }
}

/// Stand-ins for a section's own lines (no SDP line holds a NUL).
const PLACEHOLDERS: [&str; 3] = ["\0mid", "\0direction", "\0msid"];

/// A section's lines with its own lines replaced by placeholders: sections
/// of one shape differ at most in their mid, direction and msid.
fn shape<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines.iter().map(|l| own_kind(l).map_or(*l, |k| PLACEHOLDERS[k])).collect()
}

/// How many own lines of each kind `lines` has.
fn own_counts(lines: &[&str]) -> [usize; 3] {
    let mut counts = [0; 3];
    for kind in lines.iter().filter_map(|l| own_kind(l)) {
        counts[kind] += 1;
    }
    counts
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push_str("\r\n");
}

/// The server's own SDP (a publish answer or subscribe offer from str0m)
/// as it is sent, in a form every WebRTC stack reads the same way:
///
/// - the ICE candidates, which str0m writes into the first m-section of the
///   BUNDLE group only (as RFC 8843 asks), are in every m-section of the
///   group, each section ending with `a=end-of-candidates`: the server is
///   ICE-lite and knows all its candidates from the start. Browsers take
///   them from the first bundled section, aiortc from the last section of
///   each transport; both find them.
/// - `a=ice-options:trickle` is left out: the server trickles nothing, and
///   takes no trickled candidates on its own connections.
///
/// m-sections outside the BUNDLE group (a stopped m-line, port 0) get no
/// candidates. Line ends are `\r\n`.
pub fn outgoing(sdp: &str) -> String {
    let (session, sections) = sections(sdp);
    let bundled: Option<Vec<&str>> =
        session.iter().find_map(|l| l.strip_prefix("a=group:BUNDLE")).map(|mids| mids.split_whitespace().collect());
    // Without a BUNDLE group (str0m always writes one), every section that
    // is not rejected (port 0) has a transport of its own.
    let in_bundle = |s: &Section<'_>| match &bundled {
        Some(group) => s.lines.iter().filter_map(|l| l.strip_prefix("a=mid:")).any(|m| group.contains(&m.trim())),
        None => s.m_line.split(' ').nth(1) != Some("0"),
    };
    let mut candidates: Vec<&str> = Vec::new();
    for line in sections.iter().filter(|s| in_bundle(s)).flat_map(|s| &s.lines) {
        if line.starts_with("a=candidate:") && !candidates.contains(line) {
            candidates.push(line);
        }
    }
    let mut out = String::with_capacity(sdp.len() + sections.len() * (candidates.len() + 1) * 64);
    for line in &session {
        push_without_trickle(&mut out, line);
    }
    for section in &sections {
        push_line(&mut out, section.m_line);
        let own = in_bundle(section);
        for line in &section.lines {
            let moved = own && (line.starts_with("a=candidate:") || *line == "a=end-of-candidates");
            if !moved {
                push_without_trickle(&mut out, line);
            }
        }
        if own && !candidates.is_empty() {
            for line in &candidates {
                push_line(&mut out, line);
            }
            push_line(&mut out, "a=end-of-candidates");
        }
    }
    out
}

/// Pushes `line`, without the `trickle` option if it is `a=ice-options:`
/// (and not at all if that was its only option).
fn push_without_trickle(out: &mut String, line: &str) {
    let Some(options) = line.strip_prefix("a=ice-options:") else {
        return push_line(out, line);
    };
    let rest: Vec<&str> = options.split_whitespace().filter(|o| *o != "trickle").collect();
    if !rest.is_empty() {
        push_line(out, &format!("a=ice-options:{}", rest.join(" ")));
    }
}

/// Compacts a subscribe answer: a media section with exactly one `a=mid`,
/// at most one direction and one `a=msid`, and otherwise the same lines in
/// the same order as the previous complete section with the same `m=` line
/// is written as its `m=` line, those own lines and [`SAME_AS_PREVIOUS`].
/// Lossless: [`expand_answer`] gives the answer back line for line (with
/// `\r\n` line ends). The browser client does the same in `compactAnswer`
/// (src/client/protocol.js).
pub fn compact_answer(sdp: &str) -> String {
    let (session, sections) = sections(sdp);
    let mut out = String::with_capacity(sdp.len());
    for line in session {
        push_line(&mut out, line);
    }
    let mut templates: HashMap<&str, Vec<&str>> = HashMap::new();
    for section in &sections {
        let shape = shape(&section.lines);
        let [mids, directions, msids] = own_counts(&section.lines);
        push_line(&mut out, section.m_line);
        if mids == 1 && directions <= 1 && msids <= 1 && templates.get(section.m_line) == Some(&shape) {
            for line in section.lines.iter().filter(|l| own_kind(l).is_some()) {
                push_line(&mut out, line);
            }
            push_line(&mut out, SAME_AS_PREVIOUS);
        } else {
            for line in &section.lines {
                push_line(&mut out, line);
            }
            templates.insert(section.m_line, shape);
        }
    }
    out
}

/// Expands a compacted subscribe answer (see [`compact_answer`]) into
/// plain SDP for str0m. An answer without [`SAME_AS_PREVIOUS`] is returned
/// as it is. Errors: a marked section with other lines than its own, or
/// not exactly one mid, or without an earlier complete section with the
/// same `m=` line and the same own lines; an expansion over
/// [`MAX_EXPANDED_SDP_BYTES`].
pub fn expand_answer(sdp: &str) -> Result<Cow<'_, str>, &'static str> {
    if !sdp.contains(SAME_AS_PREVIOUS) {
        return Ok(Cow::Borrowed(sdp));
    }
    let (session, sections) = sections(sdp);
    let mut out = String::with_capacity(sdp.len() * 4);
    for line in session {
        push_line(&mut out, line);
    }
    let mut templates: HashMap<&str, Vec<&str>> = HashMap::new();
    for section in &sections {
        push_line(&mut out, section.m_line);
        if section.lines.contains(&SAME_AS_PREVIOUS) {
            let mut own: [Option<&str>; 3] = [None; 3];
            for line in section.lines.iter().copied().filter(|l| *l != SAME_AS_PREVIOUS) {
                let Some(kind) = own_kind(line) else {
                    return Err("a repeated media section has lines of its own");
                };
                if own[kind].replace(line).is_some() {
                    return Err("a repeated media section has a line twice");
                }
            }
            if own[0].is_none() {
                return Err("a repeated media section has no mid");
            }
            let Some(template) = templates.get(section.m_line) else {
                return Err("a repeated media section has no earlier complete section");
            };
            if template_counts(template) != own.map(|l| usize::from(l.is_some())) {
                return Err("a repeated media section does not match its earlier complete section");
            }
            for line in template {
                match PLACEHOLDERS.iter().position(|p| p == line) {
                    Some(kind) => push_line(&mut out, own[kind].unwrap_or_default()),
                    None => push_line(&mut out, line),
                }
            }
        } else {
            for line in &section.lines {
                push_line(&mut out, line);
            }
            templates.insert(section.m_line, shape(&section.lines));
        }
        if out.len() > MAX_EXPANDED_SDP_BYTES {
            return Err("the answer expands beyond the limit");
        }
    }
    Ok(Cow::Owned(out))
}

/// How many placeholders of each kind a template (a [`shape`]) has.
fn template_counts(template: &[&str]) -> [usize; 3] {
    let mut counts = [0; 3];
    for line in template {
        if let Some(kind) = PLACEHOLDERS.iter().position(|p| p == line) {
            counts[kind] += 1;
        }
    }
    counts
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

    /// A Chromium-like answer: ICE and DTLS attributes in every section,
    /// candidates only in the first.
    fn answer(audio: usize) -> String {
        let mut s = String::from("v=0\r\no=- 42 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE");
        for i in 0..audio + 1 {
            s.push_str(&format!(" {i}"));
        }
        s.push_str("\r\na=msid-semantic: WMS\r\n");
        let common = "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Xy12\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
            a=ice-options:trickle\r\na=fingerprint:sha-256 AA:BB:CC\r\na=setup:active\r\n";
        for i in 0..audio {
            s.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
            s.push_str(common);
            if i == 0 {
                s.push_str("a=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host\r\n");
            }
            s.push_str(&format!("a=mid:{i}\r\n"));
            s.push_str("a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=recvonly\r\n");
            // str0m writes the offer's msid back, one per section.
            s.push_str(&format!("a=msid:p{i} p{i}-mic\r\na=rtcp-mux\r\n"));
            s.push_str("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n");
        }
        s.push_str("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n");
        s.push_str(common);
        s.push_str(&format!("a=mid:{audio}\r\na=inactive\r\na=rtpmap:96 VP8/90000\r\n"));
        s
    }

    #[test]
    fn compaction_is_lossless_and_keeps_differing_sections_whole() {
        let full = answer(50);
        let compact = compact_answer(&full);
        assert!(compact.len() * 3 < full.len(), "{} -> {} bytes", full.len(), compact.len());
        // The first audio section (candidates) and the second (none) differ:
        // both stay whole, the rest repeat the second.
        assert_eq!(compact.matches(SAME_AS_PREVIOUS).count(), 48);
        assert_eq!(compact.matches("a=rtpmap:111").count(), 2);
        assert!(expand_answer(&compact).expect("expands") == full, "expansion restores the answer exactly");
        // Compacting twice changes nothing; plain SDP passes unchanged.
        assert_eq!(compact_answer(&compact), compact);
        assert!(matches!(expand_answer(&full), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn str0m_parses_the_expanded_answer() {
        let full = answer(30);
        let expanded = expand_answer(&compact_answer(&full)).expect("expands").into_owned();
        str0m::change::SdpAnswer::from_sdp_string(&full).expect("the test's answer is valid SDP");
        str0m::change::SdpAnswer::from_sdp_string(&expanded).expect("str0m parses the expanded answer");
    }

    #[test]
    fn bad_compacted_sections_are_refused() {
        let head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
        let whole = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n";
        let same = |mid: &str| {
            format!("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:{mid}\r\na=recvonly\r\n{SAME_AS_PREVIOUS}\r\n")
        };
        assert!(expand_answer(&format!("{head}{whole}{}", same("1"))).is_ok());
        // No earlier section with that m= line.
        assert!(expand_answer(&format!("{head}{}", same("1"))).is_err());
        let other = format!("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\na=recvonly\r\n{SAME_AS_PREVIOUS}\r\n");
        assert!(expand_answer(&format!("{head}{whole}{other}")).is_err());
        // Lines of its own, no mid, two mids.
        let extra =
            format!("{head}{whole}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=rtcp-mux\r\n{SAME_AS_PREVIOUS}\r\n");
        assert!(expand_answer(&extra).is_err());
        let no_mid = format!("{head}{whole}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\n{SAME_AS_PREVIOUS}\r\n");
        assert!(expand_answer(&no_mid).is_err());
        let two =
            format!("{head}{whole}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=mid:2\r\n{SAME_AS_PREVIOUS}\r\n");
        assert!(expand_answer(&two).is_err());
        // A small answer that would expand beyond the limit.
        let big_line = format!("a=x-big:{}\r\n", "x".repeat(20_000));
        let mut bomb = format!("{head}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n{big_line}");
        for i in 1..60 {
            bomb.push_str(&same(&i.to_string()));
        }
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(expand_answer(&bomb), Err("the answer expands beyond the limit"));
    }

    /// A str0m offer like the server's subscribe offers: ICE-lite, two host
    /// candidates, three sections in one BUNDLE group.
    fn str0m_offer() -> String {
        use str0m::media::{Direction, MediaKind};
        use str0m::{Candidate, Rtc, net::Protocol};
        let now = std::time::Instant::now();
        let mut rtc = Rtc::builder().set_rtp_mode(true).set_ice_lite(true).build(now);
        for addr in ["192.0.2.7:10000", "127.0.0.1:10000"] {
            rtc.add_local_candidate(Candidate::host(addr.parse().expect("addr"), Protocol::Udp).expect("candidate"));
        }
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, _) = change.apply().expect("an offer");
        offer.to_sdp_string()
    }

    #[test]
    fn the_servers_candidates_are_in_every_bundled_section_and_it_claims_no_trickle() {
        let plain = str0m_offer();
        let (_, before) = sections(&plain);
        let with_candidates = |s: &Section<'_>| s.lines.iter().filter(|l| l.starts_with("a=candidate:")).count();
        assert_eq!(before.iter().map(with_candidates).collect::<Vec<_>>(), [2, 0, 0], "str0m: the first section only");
        assert!(plain.contains("a=ice-options:trickle"));

        let sent = outgoing(&plain);
        let (session, after) = sections(&sent);
        assert!(session.contains(&"a=ice-lite"));
        for section in &after {
            assert_eq!(with_candidates(section), 2, "{section:?}");
            assert_eq!(section.lines.last(), Some(&"a=end-of-candidates"));
        }
        assert!(!sent.contains("trickle"));
        assert_eq!(sent.matches("\r\n").count(), sent.lines().count(), "CRLF line ends");
        // Everything else is as str0m wrote it, and str0m reads it back.
        let others = |sdp: &str| -> Vec<String> {
            sdp.lines()
                .filter(|l| !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates"))
                .filter(|l| !l.starts_with("a=ice-options:"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(others(&sent), others(&plain));
        assert!(str0m::change::SdpOffer::from_sdp_string(&sent).is_ok());
        assert_eq!(outgoing(&sent), sent, "idempotent");
    }

    #[test]
    fn a_section_outside_the_bundle_gets_no_candidates_and_other_ice_options_stay() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 2\r\n\
            a=ice-options:trickle renomination\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 192.0.2.7 10000 typ host\r\n\
            m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=inactive\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=ice-options:trickle\r\n";
        let sent = outgoing(sdp);
        let (session, after) = sections(&sent);
        assert!(session.contains(&"a=ice-options:renomination"));
        assert_eq!(after[1].lines, ["a=mid:1", "a=inactive"], "the stopped m-line");
        assert_eq!(
            after[2].lines,
            ["a=mid:2", "a=candidate:1 1 udp 2130706431 192.0.2.7 10000 typ host", "a=end-of-candidates"]
        );
        // An answer that rejects every m-line has an empty group: nothing
        // is added anywhere.
        let rejected = outgoing(&sdp.replace("a=group:BUNDLE 0 2", "a=group:BUNDLE"));
        assert_eq!(rejected.matches("a=candidate:").count(), 1);
        assert!(!rejected.contains("a=end-of-candidates"));
    }
}
