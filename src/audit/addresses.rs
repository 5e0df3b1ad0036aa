//! An IP address detector for scanning log files.
//!
//! Written independently of the log redactor (`crate::logging::redact`), so
//! that a blind spot of the redactor is not silently shared by the audit
//! that checks its output; the log check runs both and reports the union.
//! The detector reports where an address is and of which family, never the
//! address itself: the report must not spread what it finds.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An address found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

fn is_candidate_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Letters that cannot be part of an address: a run glued to them is part of a word.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Every address in `line`, by family, in order.
pub fn find(line: &str) -> Vec<Family> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_candidate_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let mut start = i;
        while i < bytes.len() && is_candidate_byte(bytes[i]) {
            i += 1;
        }
        let mut glued_before = start > 0 && is_word_byte(bytes[start - 1]);
        // "ip:2001:db8::1": a colon right after a word separates the word
        // from what follows; the address starts after it.
        if glued_before && bytes[start] == b':' {
            glued_before = false;
            start += 1;
        }
        let run = &line[start..i];
        let glued = glued_before || (i < bytes.len() && is_word_byte(bytes[i]));
        // IPv6 (possibly with an embedded IPv4 part) — whole run, trimmed of
        // sentence punctuation, with or without a trailing `:port`.
        if !glued && run.matches(':').count() >= 2 {
            let t = run.trim_end_matches('.');
            if t != "::" && (t.parse::<Ipv6Addr>().is_ok() || is_v6_with_bare_port(t)) {
                found.push(Family::V6);
                continue;
            }
        }
        // Dotted quads anywhere in the run (also `v=1.2.3.4:80`, `::ffff:1.2.3.4`),
        // unless the run is glued to letters (`v1.2.3.4` is a version).
        if !glued || run.contains(':') {
            found.extend(dotted_quads(run).into_iter().map(|_| Family::V4));
        }
    }
    found
}

/// "2001:db8::1:40000": an IPv6 address with a port but without the
/// brackets, as some software writes it. The part before the last colon must
/// be a whole IPv6 address (two colons at least, so `12:30:45` is a time) and
/// the part after it a port number.
fn is_v6_with_bare_port(run: &str) -> bool {
    run.rsplit_once(':').is_some_and(|(host, port)| {
        host.matches(':').count() >= 2
            && host != "::"
            && host.parse::<Ipv6Addr>().is_ok()
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok()
    })
}

/// Dotted quads in a run of digits, dots, hex letters and colons.
fn dotted_quads(run: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for piece in run.split(':') {
        // "1.2.3.4.5" is not an address (could be a version or an OID).
        if piece.split('.').count() == 4
            && let Ok(a) = piece.trim_end_matches('.').parse::<Ipv4Addr>()
        {
            out.push(a);
            continue;
        }
        let trimmed = piece.trim_end_matches('.');
        if trimmed.split('.').count() == 4
            && let Ok(a) = trimmed.parse::<Ipv4Addr>()
        {
            out.push(a);
        }
    }
    out
}

/// True if `text` contains an address by this detector or by the redactor.
pub fn any(text: &str) -> bool {
    !find(text).is_empty() || crate::logging::redact::contains_address(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_addresses_in_the_usual_forms() {
        assert_eq!(find("peer 192.0.2.7:4000 said hi"), [Family::V4]);
        assert_eq!(find("from 10.0.0.1."), [Family::V4]);
        assert_eq!(find("at [2001:db8::1]:443"), [Family::V6]);
        assert_eq!(find("fe80::1%eth0 up"), [Family::V6]);
        assert_eq!(find("mapped ::ffff:10.1.2.3"), [Family::V6]);
        assert_eq!(find("x=2001:0db8:0000:0000:0000:ff00:0042:8329"), [Family::V6]);
        assert_eq!(find("a 1.2.3.4 and 5.6.7.8"), [Family::V4, Family::V4]);
        // With a port but no brackets, and after a key with a colon.
        assert_eq!(find("peer 2001:db8::1:40000 closed"), [Family::V6]);
        assert_eq!(find("at 2001:db8::1:40000."), [Family::V6]);
        assert_eq!(find("ip:2001:db8::1 x"), [Family::V6]);
        assert_eq!(find("ip:2001:db8::1:40000"), [Family::V6]);
        assert_eq!(find("ip:192.0.2.1"), [Family::V4]);
    }

    #[test]
    fn ignores_what_only_looks_similar() {
        for line in [
            "2026-03-01T09:30:45.123Z WARN kabine::http: certificate reloaded",
            "version v1.2.3.4 build 1.2.3.4.5",
            "mac aa:bb:cc:dd:ee:ff at 12:30:45",
            "redacted [addr] and [addr]",
            "paths kabine::tls::provider and std::net::IpAddr",
            "ratio 0.5 of 255.255",
            "at 12:30:45 and time:12:30:45:678",
            "key:value hash:deadbeef sha:cafe:babe:f00d id:aa:bb:cc:dd:ee:ff",
            "build:1.2.3 v:10.2 ts:09:30:45.123",
            "paths x::dead::beef::cafe and crate::room::Rooms::handle at src/room/mod.rs:123:45",
        ] {
            assert!(find(line).is_empty(), "{line}: {:?}", find(line));
        }
    }

    #[test]
    fn the_redactors_output_is_clean_for_this_detector() {
        let line = "client 203.0.113.9:5000 and [2001:db8::7]:443 and fe80::1%eth0";
        let redacted = crate::logging::redact::redact(line);
        assert!(!any(&redacted), "{redacted}");
        assert!(any(line));
    }
}
