//! An address detector for tests, written independently of Kabine's own
//! redactor (regular expressions here, a hand scanner there), so that a blind
//! spot in one is not silently shared by the other.

use std::net::Ipv6Addr;
use std::sync::OnceLock;

use regex::Regex;

fn ipv4() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?:^|[^0-9.])((?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})(?:[^0-9]|$)")
            .expect("valid regex")
    })
}

fn ipv6_candidate() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Runs of hex groups and colons with at least two colons; checked by
    // std's parser below to weed out times and Rust paths.
    RE.get_or_init(|| Regex::new(r"(?i)[0-9a-f:]*:[0-9a-f:]*:[0-9a-f:.]*").expect("valid regex"))
}

/// Every address-looking substring of `text`.
pub fn find_addresses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        for c in ipv4().captures_iter(line) {
            found.push(c[1].to_string());
        }
        for m in ipv6_candidate().find_iter(line) {
            let s = m.as_str().trim_end_matches('.');
            // Rust paths (`kabine::http`) are glued to letters; skip those.
            let before = line[..m.start()].chars().last();
            let after = line[m.end()..].chars().next();
            let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if glued(before) || glued(after) {
                continue;
            }
            if s.len() > 2 && s.parse::<Ipv6Addr>().is_ok() {
                found.push(s.to_string());
            }
        }
    }
    found
}

#[test]
fn detector_finds_raw_addresses_and_ignores_the_rest() {
    assert_eq!(find_addresses("peer 192.0.2.7:4000 said hi"), ["192.0.2.7"]);
    assert_eq!(find_addresses("at [2001:db8::1]:443"), ["2001:db8::1"]);
    assert_eq!(find_addresses("mapped ::ffff:10.1.2.3"), ["10.1.2.3", "::ffff:10.1.2.3"]);
    assert_eq!(find_addresses("fe80::1%eth0"), ["fe80::1"]);
    assert!(find_addresses("kabine::http::serve took 1.5ms at 12:30:45 [addr]").is_empty());
}
