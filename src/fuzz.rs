//! Entry points of the coverage-guided fuzz targets (`fuzz/`, run with
//! `scripts/fuzz TARGET SECONDS`, see docs/reliability.md).
//!
//! Each function takes the fuzzer's bytes, feeds them to one of Kabine's
//! own parsers and checks what must hold for every input: no panic (a
//! panic is a bug, never bad input), and where the parser promises more,
//! that promise (a parsed message serializes and parses back to itself,
//! redacted text holds no address, an escaped LDAP value stays one value).
//! A broken promise panics, which the fuzzer reports as a crash.
//!
//! The same functions replay the committed seed corpora and every input
//! that once crashed (`fuzz/corpus/`, `fuzz/regressions/`) in the test
//! suite (`tests/it/fuzz_corpus.rs`), so a fixed crash stays fixed on a
//! machine without a fuzzer.

use std::time::{Duration, Instant};

use crate::sfu::rewrite::{Decision, InPacket, Rewriter};

/// A fuzz target: its name and its function.
pub type Target = (&'static str, fn(&[u8]));

/// The fuzz targets, by name: the name of the target in `fuzz/`, of its
/// corpus folder, and of its function here.
pub const TARGETS: &[Target] = &[
    ("signal_message", signal_message),
    ("stun", stun),
    ("sdp_compact", sdp_compact),
    ("rtp_rewrite", rtp_rewrite),
    ("config", config),
    ("users_file", users_file),
    ("ldap_filter", ldap_filter),
    ("audit_der", audit_der),
    ("log_addresses", log_addresses),
];

/// A client's signalling frame (JSON → the protocol enum): duplicate keys,
/// deep nesting, unknown fields. What parses serializes and parses back to
/// the same message.
pub fn signal_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    use crate::protocol::parse_client_msg;
    if let Ok(msg) = parse_client_msg(text) {
        let again = serde_json::to_string(&msg).unwrap_or_else(|e| panic!("a parsed message serializes: {e}"));
        let back = parse_client_msg(&again).unwrap_or_else(|e| panic!("a serialized message parses: {e}: {again}"));
        assert_eq!(back, msg, "round trip");
    }
}

/// A datagram at the media port as the engine looks at it before str0m:
/// its class, the plain Binding request check (answered without any state),
/// the ufrag of an ICE check. An answered request's response is a Binding
/// success for the same transaction whose XOR-MAPPED-ADDRESS decodes to the
/// sender's address and whose FINGERPRINT is right (checked here by an
/// implementation of RFC 8489 of its own; str0m's parser wants the
/// MESSAGE-INTEGRITY of an ICE check in every reply, which a plain Binding
/// response has no key for).
pub fn stun(data: &[u8]) {
    use crate::sfu::demux;
    use crate::sfu::stun;
    let _ = demux::classify(data);
    let _ = demux::binding_request_ufrag(data);
    if let Some(id) = stun::plain_binding_request(data) {
        assert_eq!(&data[8..20], &id[..], "the transaction id is the request's");
        for mapped in ["192.0.2.1:5000", "[2001:db8::1]:6000"] {
            let Ok(mapped) = mapped.parse() else { unreachable!("a valid address literal") };
            let answer = stun::binding_success(&id, mapped);
            assert_eq!(decode_binding_success(&answer, &id), Some(mapped), "the answer names the sender");
        }
    }
}

/// The mapped address of a Binding success for transaction `id`, if the
/// message is one, with a valid FINGERPRINT as its last attribute.
fn decode_binding_success(m: &[u8], id: &[u8; 12]) -> Option<std::net::SocketAddr> {
    let be16 = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    if m.len() < 20
        || be16(m) != 0x0101
        || usize::from(be16(&m[2..])) + 20 != m.len()
        || m[4..8] != [0x21, 0x12, 0xa4, 0x42]
    {
        return None;
    }
    if &m[8..20] != id {
        return None;
    }
    let (mut at, mut mapped, mut fingerprint_ok) = (20, None, false);
    while at + 4 <= m.len() {
        let (kind, len) = (be16(&m[at..]), usize::from(be16(&m[at + 2..])));
        let value = m.get(at + 4..at + 4 + len)?;
        match kind {
            0x0020 if len >= 8 => {
                let port = be16(&value[2..]) ^ 0x2112;
                let key: Vec<u8> = [0x21, 0x12, 0xa4, 0x42].into_iter().chain(id.iter().copied()).collect();
                let ip: std::net::IpAddr = match (value[1], len) {
                    (1, 8) => {
                        std::net::Ipv4Addr::from(std::array::from_fn::<u8, 4, _>(|i| value[4 + i] ^ key[i])).into()
                    }
                    (2, 20) => {
                        std::net::Ipv6Addr::from(std::array::from_fn::<u8, 16, _>(|i| value[4 + i] ^ key[i])).into()
                    }
                    _ => return None,
                };
                mapped = Some(std::net::SocketAddr::new(ip, port));
            }
            0x8028 => {
                let mut crc = 0xffff_ffffu32;
                for &byte in &m[..at] {
                    crc ^= u32::from(byte);
                    for _ in 0..8 {
                        crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
                    }
                }
                fingerprint_ok = at + 8 == m.len() && value == (!crc ^ 0x5354_554e).to_be_bytes();
            }
            _ => return None,
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    mapped.filter(|_| fingerprint_ok && at == m.len())
}

/// The compacted subscribe answer (`a=x-kabine-same`): what a client sends
/// is expanded within its bound, and compacting any SDP expands back to the
/// same lines.
pub fn sdp_compact(data: &[u8]) {
    use crate::sfu::sdp;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let offered = sdp::scan(text);
    let _ = sdp::check_tracks(&offered, &[]);
    if let Ok(expanded) = sdp::expand_answer(text) {
        // One section may cross the bound before the check stops it.
        assert!(expanded.len() <= sdp::MAX_EXPANDED_SDP_BYTES + 2 * text.len() + 2, "expansion is bounded");
    }
    // Compacting is lossless for SDP that is not compacted already (a NUL
    // is in no SDP line; a client can send one, but never has it compacted).
    if !text.contains(sdp::SAME_AS_PREVIOUS) && !text.contains('\0') {
        let compact = sdp::compact_answer(text);
        let expanded = sdp::expand_answer(&compact).unwrap_or_else(|e| panic!("compacted SDP expands: {e}"));
        let plain: String = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| !l.is_empty())
            .map(|l| format!("{l}\r\n"))
            .collect();
        if plain.len() <= sdp::MAX_EXPANDED_SDP_BYTES {
            assert_eq!(expanded, plain, "compact then expand gives the lines back");
        }
    }
}

/// The forwarder's view of a stream of video packets: the VP8 payload
/// descriptor of each (what the engine reads from it), the rewriter's
/// sequence number, timestamp, PictureID and TL0PICIDX mapping across
/// layer switches, and the VP8 patch built from the mapped numbers.
///
/// Input: records of a 9-byte header (layer, target, seq step, timestamp,
/// arrival step) and a payload of up to 31 bytes.
pub fn rtp_rewrite(data: &[u8]) {
    use crate::sfu::rewrite;
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let mut rewriter = Rewriter::new(if first & 1 == 0 { 90_000 } else { 48_000 });
    let start = Instant::now();
    let (mut seq, mut at) = (u64::from(first) << 8, Duration::ZERO);
    let mut last_out: Option<u64> = None;
    while rest.len() >= 9 {
        let (head, tail) = rest.split_at(9);
        let len = usize::from(head[8] & 31).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        // Mostly forward, sometimes back (reordering, retransmission).
        let step = i64::from(i16::from_be_bytes([head[2], head[3]]));
        seq = seq.saturating_add_signed(step);
        at += Duration::from_millis(u64::from(head[8] >> 5) * 20);
        let target = match head[1] % 4 {
            3 => None,
            t => Some(t),
        };
        let fields = rewrite::Vp8Fields::of(payload);
        let p = InPacket {
            layer: head[0] % 3,
            seq,
            ts: u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
            keyframe: fields.keyframe,
            picture_id: fields.picture_id,
            tl0: fields.tl0,
            arrival: start + at,
        };
        let Decision::Forward { out, switched } = rewriter.forward(target, &p) else {
            continue;
        };
        if switched && let Some(last) = last_out {
            assert_eq!(out.seq, last + 1, "a switch continues the numbering");
        }
        last_out = Some(last_out.map_or(out.seq, |l| l.max(out.seq)));
        if let (Some((_, wide)), Some(pic)) = (p.picture_id, out.picture_id) {
            assert!(pic < if wide { 0x8000 } else { 0x80 }, "the PictureID keeps its width");
        }
        if let Some(d) = fields.descriptor {
            let mut patch = d.patch();
            if let Some(pic) = out.picture_id {
                patch = patch.picture_id(pic);
            }
            if let Some(t) = out.tl0 {
                patch = patch.tl0_pic_idx(t);
            }
            if let Err(e) = patch.build() {
                panic!("the mapped numbers fit the packet's descriptor: {e}");
            }
        }
    }
}

/// The config loader (TOML → checked configuration) and the policy check
/// of what it loaded.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(loaded) = crate::config::load_str(text, "fuzz.toml") {
        if let Ok(policy) = crate::policy::Policy::for_config(&loaded) {
            let _ = crate::policy::check(&loaded, &policy);
        }
        let _ = crate::policy::own_hosts(&loaded);
    }
}

/// The local users file: what parses renders and parses back to the same
/// accounts.
pub fn users_file(data: &[u8]) {
    use crate::auth::store::Users;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("users");
    if let Ok(users) = Users::parse(text, path) {
        let rendered = users.render();
        let back = Users::parse(&rendered, path).unwrap_or_else(|e| panic!("a rendered file parses: {e}"));
        assert!(back.iter().eq(users.iter()), "render then parse gives the same accounts");
    }
}

/// LDAP filter filling: whatever the user name and the DN, the filled
/// filter parses and carries them as exactly the assertion values the
/// template puts them in, never as filter syntax.
///
/// Input: a template choice, then the user name and the DN separated by
/// the byte 0xff (which is in no UTF-8 text).
pub fn ldap_filter(data: &[u8]) {
    use crate::auth::ldap::fill_filter;
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(2, |b| *b == 0xff);
    let (Ok(username), Ok(dn)) =
        (std::str::from_utf8(parts.next().unwrap_or_default()), std::str::from_utf8(parts.next().unwrap_or_default()))
    else {
        return;
    };
    // (template, the values the filter must carry, in order)
    let templates: [(&str, Vec<&str>); 4] = [
        ("(&(objectClass=inetOrgPerson)(uid={username}))", vec!["objectClass", "inetOrgPerson", "uid", username]),
        ("(member={dn})", vec!["member", dn]),
        ("(|(member={dn})(memberUid={username}))", vec!["member", dn, "memberUid", username]),
        ("(&(memberUid={username})(member={dn}))", vec!["memberUid", username, "member", dn]),
    ];
    let (template, want) = &templates[usize::from(choice) % templates.len()];
    let filled = fill_filter(template, &[("{dn}", dn), ("{username}", username)]);
    let tag = ldap3::parse_filter(&filled).unwrap_or_else(|()| panic!("a filled filter parses"));
    let mut values = Vec::new();
    leaves(&ldap3::asn1::ASNTag::into_structure(tag), &mut values);
    let want: Vec<&[u8]> = want.iter().map(|s| s.as_bytes()).collect();
    assert_eq!(values, want, "each value is one assertion value");
}

/// The primitive values of an ASN.1 structure, depth first.
fn leaves(tag: &ldap3::asn1::StructureTag, out: &mut Vec<Vec<u8>>) {
    match &tag.payload {
        ldap3::asn1::PL::P(bytes) => out.push(bytes.clone()),
        ldap3::asn1::PL::C(inner) => inner.iter().for_each(|t| leaves(t, out)),
    }
}

/// The audit's DER reader (certificates of the server it checks).
pub fn audit_der(data: &[u8]) {
    if let Ok(info) = crate::audit::der::parse_certificate(data) {
        let _ = (info.not_before, info.not_after);
    }
}

/// The address scanners: the audit's log detector and the log redactor.
/// Redacted text holds no address for either of them.
pub fn log_addresses(data: &[u8]) {
    use crate::logging::redact;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::audit::addresses::find(text);
    let redacted = redact::redact(text);
    assert!(!redact::contains_address(&redacted), "the redactor leaves no address it knows: {redacted:?}");
    assert!(
        crate::audit::addresses::find(&redacted).is_empty(),
        "the redactor leaves no address the audit finds: {redacted:?}"
    );
}
