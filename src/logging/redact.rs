//! Removal of IP addresses from text before it reaches any log sink.
//!
//! Every IPv4 and IPv6 address in a string is replaced by [`MARK`], in every
//! textual form we know of: dotted quads, full and compressed IPv6, IPv6 with
//! an embedded or IPv4-mapped IPv4 part, with a zone (`fe80::1%eth0`), in
//! brackets, and with or without a port. A port that follows an address is
//! removed with it (it identifies a client's NAT binding as well as the
//! address does).
//!
//! The scanner looks at maximal runs of hex digits, dots and colons. A run
//! glued to other word characters (`kabine::http`, `v1.2.3.4`) is not an
//! address; a run that is one, or that contains a dotted quad, is replaced.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What an address is replaced with.
pub const MARK: &str = "[addr]";

/// Returns `text` with every IP address replaced by [`MARK`].
///
/// Borrows when there is nothing to redact, so the common case costs one scan.
/// The result never holds what [`contains_address`] calls an address:
/// replacing one can leave its neighbour standing on its own (a run that was
/// glued to the replaced text is no longer glued to anything: `::dff` before
/// `100.1.100.23`), so the replacement is repeated until nothing is left.
/// Each round replaces address characters by the mark, whose own letters
/// are never an address, so the rounds end; the cap is a second guard.
pub fn redact(text: &str) -> Cow<'_, str> {
    let Some(mut out) = replace_addresses(text) else {
        return Cow::Borrowed(text);
    };
    for _ in 0..16 {
        match replace_addresses(&out) {
            Some(next) => out = next,
            None => break,
        }
    }
    Cow::Owned(out)
}

/// One round of [`redact`]: `None` if there is nothing to replace.
fn replace_addresses(text: &str) -> Option<String> {
    let spans = address_spans(text);
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in spans {
        out.push_str(&text[last..start]);
        out.push_str(MARK);
        last = end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// True if `text` holds anything [`redact`] would replace.
pub fn contains_address(text: &str) -> bool {
    !address_spans(text).is_empty()
}

fn is_run_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b'.' || b == b':'
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Byte ranges of the addresses in `text`, in order and not overlapping.
fn address_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_run_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_run_byte(bytes[i]) {
            i += 1;
        }
        let end = i;
        // A run glued to letters is part of a word, not an address. Not when
        // those letters end an address already found (a zone id, a port):
        // once that is replaced by the mark, the run stands on its own.
        let after_address = spans.last().is_some_and(|&(_, end)| end == start);
        let mut glued_before = start > 0 && is_word_byte(bytes[start - 1]) && !after_address;
        // "ip:2001:db8::1": a colon after a word is the word's separator,
        // not the start of an address.
        let start = if glued_before && bytes[start] == b':' {
            glued_before = false;
            start + 1
        } else {
            start
        };
        let glued_after = end < bytes.len() && is_word_byte(bytes[end]) && bytes[end] != b'%';
        let run = &text[start..end];
        if !glued_before
            && !glued_after
            && let Some(len) = address_prefix(run)
        {
            let mut stop = start + len;
            // A zone id belongs to the address: fe80::1%eth0
            if stop < bytes.len() && bytes[stop] == b'%' && run[..len].contains(':') {
                stop += 1;
                while stop < bytes.len() && is_word_byte(bytes[stop]) {
                    stop += 1;
                }
            }
            let (start, stop) = swallow_brackets(bytes, start, stop);
            spans.push((start, stop));
            i = stop;
            continue;
        }
        // Not an address as a whole: a dotted quad may still sit inside,
        // e.g. "1.2.3.4:5:6" or "x=::1.2.3.4.5".
        find_dotted_quads(text, start, end, !glued_before, &mut spans);
    }
    spans.sort_unstable();
    spans
}

/// For `[v6]` and `[v6]:port` the brackets and port are removed with the address.
fn swallow_brackets(bytes: &[u8], start: usize, stop: usize) -> (usize, usize) {
    if start == 0 || bytes[start - 1] != b'[' || stop >= bytes.len() || bytes[stop] != b']' {
        return (start, stop);
    }
    let after = stop + 1;
    if after < bytes.len() && bytes[after] == b':' {
        let port_end = digits_end(bytes, after + 1);
        if port_end > after + 1 {
            return (start - 1, port_end);
        }
    }
    (start - 1, after)
}

fn digits_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// If `run` is an address, optionally followed by `:port` for IPv4, returns
/// how many bytes of it are the address (and port).
fn address_prefix(run: &str) -> Option<usize> {
    // Sentence punctuation after an address: "from 10.0.0.1." and
    // "from 2001:db8::." (whose own colons stay), or a port separator
    // without a port: "10.0.0.1:".
    let candidates = [run, run.trim_end_matches('.'), run.trim_end_matches(['.', ':'])];
    for cand in candidates {
        if cand.is_empty() {
            continue;
        }
        if cand.parse::<Ipv4Addr>().is_ok() && is_strict_quad(cand) {
            return Some(cand.len());
        }
        if let Some((host, port)) = cand.rsplit_once(':')
            && !host.contains(':')
            && host.parse::<Ipv4Addr>().is_ok()
            && is_strict_quad(host)
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
        {
            return Some(cand.len());
        }
        if cand.matches(':').count() >= 2 && cand.parse::<Ipv6Addr>().is_ok() && cand != "::" {
            return Some(cand.len());
        }
        // An IPv6 address with a port but without brackets, as some
        // software writes it: "2001:db8::1:40000" (40000 is no hextet).
        if let Some((host, port)) = cand.rsplit_once(':')
            && host.matches(':').count() >= 2
            && host != "::"
            && host.parse::<Ipv6Addr>().is_ok()
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
        {
            return Some(cand.len());
        }
    }
    // "::" alone is the unspecified address; only with a word boundary and a
    // neighbour that makes it one ("[::]:80", "addr=::").
    if run == "::" {
        return Some(2);
    }
    None
}

/// A dotted quad of four decimal numbers, each at most 255, any leading zeros allowed.
fn is_strict_quad(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split('.') {
        parts += 1;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

/// Finds `d.d.d.d` (each 0..=255) inside `text[start..end]` and records each.
/// A quad that ends IPv6 mixed notation (`::ffff:192.0.02.1`: Rust's parser
/// refuses the leading zero that other software reads) takes the IPv6 part
/// before it along, from the start of the run when `from_run_start` allows.
fn find_dotted_quads(text: &str, start: usize, end: usize, from_run_start: bool, spans: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = start;
    while i < end {
        if !bytes[i].is_ascii_digit() || (i > start && bytes[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        if let Some(len) = quad_at(&bytes[i..end]) {
            let before_ok = i == 0 || !(bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.');
            if before_ok {
                let mut stop = i + len;
                if stop + 1 < end && bytes[stop] == b':' {
                    let port_end = digits_end(bytes, stop + 1);
                    if port_end > stop + 1 && port_end <= end {
                        stop = port_end;
                    }
                }
                let v6_part = &text[start..i];
                let from = if from_run_start
                    && v6_part.ends_with(':')
                    && format!("{v6_part}0.0.0.0").parse::<Ipv6Addr>().is_ok()
                {
                    start
                } else {
                    i
                };
                spans.push((from, stop));
                i = stop;
                continue;
            }
        }
        i += 1;
    }
}

/// Length of a dotted quad at the start of `b`, if one is there.
fn quad_at(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    for part in 0..4 {
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() && i - s < 3 {
            i += 1;
        }
        if i == s {
            return None;
        }
        let value: u32 = std::str::from_utf8(&b[s..i]).ok()?.parse().ok()?;
        if value > 255 {
            return None;
        }
        if part < 3 {
            if i >= b.len() || b[i] != b'.' {
                return None;
            }
            i += 1;
        }
    }
    if i < b.len() && b[i].is_ascii_digit() {
        return None;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        redact(s).into_owned()
    }

    #[test]
    fn ipv4_forms() {
        assert_eq!(r("from 192.168.1.20"), "from [addr]");
        assert_eq!(r("from 192.168.1.20:5000 ok"), "from [addr] ok");
        assert_eq!(r("peer=10.0.0.1."), "peer=[addr].");
        assert_eq!(r("(127.0.0.1)"), "([addr])");
        assert_eq!(r("a 1.2.3.4/24"), "a [addr]/24");
        assert_eq!(r("x=\"8.8.8.8\""), "x=\"[addr]\"");
        assert_eq!(
            r("candidate:1 1 udp 2130706431 203.0.113.9 40000 typ host"),
            "candidate:1 1 udp 2130706431 [addr] 40000 typ host"
        );
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(r("::1"), "[addr]");
        assert_eq!(r("at [::1]:8443 now"), "at [addr] now");
        assert_eq!(r("2001:db8::8a2e:370:7334"), "[addr]");
        assert_eq!(r("2001:0db8:0000:0000:0000:ff00:0042:8329"), "[addr]");
        assert_eq!(r("::ffff:192.0.2.128"), "[addr]");
        assert_eq!(r("[::ffff:192.0.2.128]:443"), "[addr]");
        assert_eq!(r("64:ff9b::192.0.2.33"), "[addr]");
        assert_eq!(r("fe80::1%eth0 up"), "[addr] up");
        assert_eq!(r("[fe80::1%eth0]:80"), "[addr]");
        assert_eq!(r("bound [::]:10000"), "bound [addr]");
        assert_eq!(r("list [::1, ::2]"), "list [[addr], [addr]]");
        assert_eq!(r("FE80::ABCD"), "[addr]");
    }

    #[test]
    fn not_addresses() {
        for s in [
            "kabine::http::serve",
            "str0m::rtp",
            "version 1.2.3",
            "12:30:45",
            "aa:bb:cc:dd:ee:ff",
            "deadbeef",
            "took 1.5ms",
        ] {
            assert_eq!(r(s), s, "{s}");
        }
    }

    #[test]
    fn over_redaction_is_preferred_to_a_leak() {
        // A version string that looks like an address goes too; harmless.
        assert_eq!(r("v1.2.3.4"), "v[addr]");
        assert_eq!(r("oid 1.2.3.4.5.6"), "oid [addr].5.6");
    }

    /// Found by the `log_addresses` fuzz target: the IPv4 part of a mapped
    /// address with a leading zero was redacted and `::ffff:` left behind,
    /// itself an address.
    #[test]
    fn redact_mapped_ipv4_with_leading_zero_takes_the_ipv6_part() {
        assert_eq!(r("mapped ::ffff:192.0.02.1 sd ::ffff:een"), "mapped [addr] sd ::ffff:een");
        assert_eq!(r("nat 64:ff9b::10.0.00.1:99 ok"), "nat [addr] ok");
        assert!(!contains_address(&r("mapped ::ffff:192.0.02.1 sd ::ffff:een")));
    }

    /// Found by the `log_addresses` fuzz target: an IPv6 address ending in
    /// `::` followed by a full stop lost its colons with the full stop and
    /// was not recognised.
    #[test]
    fn redact_ipv6_ending_in_double_colon_before_a_full_stop() {
        assert_eq!(r("from 2001:db8::."), "from [addr].");
        assert_eq!(r("x 1:\u{f}db8::.\u{1c}"), "x 1:\u{f}[addr].\u{1c}");
    }

    /// Found by the `log_addresses` fuzz target: an address glued to the
    /// zone id of the one before it was taken for part of a word, and
    /// stood alone once the first was replaced.
    #[test]
    fn redact_address_right_after_a_zone_id() {
        assert_eq!(r("deazone fe80::1%e0::1%eth0 up"), "deazone [addr][addr] up");
        assert!(!contains_address(&r("deazone fe80::1%e0::1%eth0 up/164 a\u{7f}\0\0\0")));
    }

    /// Found by the `log_addresses` fuzz target: a dotted quad glued to hex
    /// letters inside a longer run was replaced, and the rest of the run
    /// (`::dff`) was an address of its own once it stood alone.
    #[test]
    fn redact_ipv6_with_an_unbracketed_port_and_after_a_key_with_a_colon() {
        assert_eq!(r("peer 2001:db8::1:40000 closed"), "peer [addr] closed");
        assert_eq!(r("ip:2001:db8::1 x"), "ip:[addr] x");
        assert_eq!(r("ip:192.0.2.1"), "ip:[addr]");
        assert_eq!(r("key:value"), "key:value");
        assert_eq!(r("at 12:30:45"), "at 12:30:45");
    }

    #[test]
    fn redact_leaves_no_address_where_one_was_replaced() {
        let once = r("canary error from 198.5errmap::fped ::dff100.1.100.23");
        assert_eq!(once, "canary error from 198.5errmap::fped [addr][addr]");
        assert!(!contains_address(&once));
        assert_eq!(r(&once), once, "redacting twice changes nothing");
    }

    #[test]
    fn dotted_quad_inside_a_longer_run() {
        assert_eq!(r("x 1.2.3.4:5:6"), "x [addr]:6");
        assert!(contains_address("a=::1.2.3.4.5"));
    }

    #[test]
    fn borrowed_when_clean() {
        assert!(matches!(redact("nothing to see"), Cow::Borrowed(_)));
    }
}
