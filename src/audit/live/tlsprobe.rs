//! A raw TLS prober: sends one ClientHello that offers exactly one protocol
//! version (or one cipher suite) and reads whether the server answers with a
//! ServerHello or refuses with an alert or by closing.
//!
//! rustls cannot speak SSL 3.0, TLS 1.0 or 1.1 as a client, and would not
//! offer weak suites even if asked, so the audit writes its own ClientHello
//! (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) and stops after the server's first
//! answer: no key is ever derived, nothing else is sent.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Time the server gets to answer one ClientHello.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A protocol version as offered on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Version {
    pub const ALL: [Version; 5] = [Version::Ssl3, Version::Tls10, Version::Tls11, Version::Tls12, Version::Tls13];

    pub fn wire(self) -> u16 {
        match self {
            Version::Ssl3 => 0x0300,
            Version::Tls10 => 0x0301,
            Version::Tls11 => 0x0302,
            Version::Tls12 => 0x0303,
            Version::Tls13 => 0x0304,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Version::Ssl3 => "SSL 3.0",
            Version::Tls10 => "TLS 1.0",
            Version::Tls11 => "TLS 1.1",
            Version::Tls12 => "TLS 1.2",
            Version::Tls13 => "TLS 1.3",
        }
    }

    fn from_wire(v: u16) -> Option<Version> {
        Version::ALL.into_iter().find(|x| x.wire() == v)
    }
}

/// What the server did with one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A ServerHello (or a HelloRetryRequest, which also accepts version and suite).
    Accepted { version: u16, suite: u16 },
    /// An alert: the handshake was refused.
    Alert(u8),
    /// The connection was closed or reset without an answer.
    Closed,
    /// Something that is neither: a plaintext HTTP answer, garbage, a timeout.
    Unexpected(String),
}

impl Answer {
    /// Did the server accept exactly what was offered?
    pub fn accepted(&self, version: Version) -> bool {
        match self {
            Answer::Accepted { version: v, .. } => *v == version.wire(),
            _ => false,
        }
    }

    /// Human-readable, for evidence.
    pub fn describe(&self) -> String {
        match self {
            Answer::Accepted { version, suite } => {
                let v = Version::from_wire(*version).map_or_else(|| format!("{version:#06x}"), |v| v.name().into());
                format!("ServerHello {v}, {}", suite_name(*suite))
            }
            Answer::Alert(d) => format!("alert {}", alert_name(*d)),
            Answer::Closed => "connection closed".into(),
            Answer::Unexpected(s) => s.clone(),
        }
    }
}

/// One cipher suite the prober knows.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    pub code: u16,
    pub name: &'static str,
    /// A TLS 1.3 suite (key exchange is always ephemeral there).
    pub tls13: bool,
}

impl Suite {
    /// Ephemeral (EC)DHE key exchange with an authenticated server.
    pub fn forward_secret(&self) -> bool {
        self.tls13 || ((self.name.contains("_ECDHE_") || self.name.contains("_DHE_")) && !self.name.contains("anon"))
    }

    /// Authenticated encryption (GCM, ChaCha20-Poly1305, CCM).
    pub fn aead(&self) -> bool {
        self.name.contains("_GCM_") || self.name.contains("CHACHA20_POLY1305") || self.name.contains("_CCM")
    }

    /// In Mozilla's "intermediate" server-side TLS configuration (version 5.x).
    pub fn mozilla_intermediate(&self) -> bool {
        MOZILLA_INTERMEDIATE.contains(&self.code)
    }
}

const MOZILLA_INTERMEDIATE: &[u16] =
    &[0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009e, 0x009f, 0xccaa];

macro_rules! suites {
    ($( $code:literal $name:literal ),* $(,)?) => { &[ $( Suite { code: $code, name: $name, tls13: ($code & 0xff00) == 0x1300 } ),* ] };
}

/// Every suite the prober offers, strongest first: the TLS 1.3 suites, then
/// TLS 1.2 and older suites from AEAD with ephemeral keys down to export,
/// anonymous and NULL suites.
pub static SUITES: &[Suite] = suites![
    0x1301 "TLS_AES_128_GCM_SHA256",
    0x1302 "TLS_AES_256_GCM_SHA384",
    0x1303 "TLS_CHACHA20_POLY1305_SHA256",
    0x1304 "TLS_AES_128_CCM_SHA256",
    0x1305 "TLS_AES_128_CCM_8_SHA256",
    0xc02b "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xc02f "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xc02c "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xc030 "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xcca9 "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xcca8 "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xc0ac "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0xc0ad "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
    0xc0ae "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
    0xc0af "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
    0x009e "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009f "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0xccaa "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xc09e "TLS_DHE_RSA_WITH_AES_128_CCM",
    0xc09f "TLS_DHE_RSA_WITH_AES_256_CCM",
    0x00a2 "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
    0xc023 "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xc027 "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xc024 "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xc028 "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xc009 "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xc013 "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xc00a "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xc014 "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0x0067 "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006b "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x0033 "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0039 "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x0032 "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
    0x0045 "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0088 "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x009c "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009d "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0xc09c "TLS_RSA_WITH_AES_128_CCM",
    0xc09d "TLS_RSA_WITH_AES_256_CCM",
    0x003c "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003d "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x002f "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035 "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0041 "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0084 "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0096 "TLS_RSA_WITH_SEED_CBC_SHA",
    0xc02d "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
    0xc031 "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
    0xc004 "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
    0xc00e "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
    0xc008 "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xc012 "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0016 "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0x000a "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0xc007 "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    0xc011 "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0x0005 "TLS_RSA_WITH_RC4_128_SHA",
    0x0004 "TLS_RSA_WITH_RC4_128_MD5",
    0x0009 "TLS_RSA_WITH_DES_CBC_SHA",
    0x0015 "TLS_DHE_RSA_WITH_DES_CBC_SHA",
    0x0003 "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
    0x0008 "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x0014 "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x0034 "TLS_DH_anon_WITH_AES_128_CBC_SHA",
    0x00a6 "TLS_DH_anon_WITH_AES_128_GCM_SHA256",
    0xc018 "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
    0x0018 "TLS_DH_anon_WITH_RC4_128_MD5",
    0xc010 "TLS_ECDHE_RSA_WITH_NULL_SHA",
    0xc006 "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
    0x003b "TLS_RSA_WITH_NULL_SHA256",
    0x0002 "TLS_RSA_WITH_NULL_SHA",
    0x0001 "TLS_RSA_WITH_NULL_MD5",
];

/// The suite with this code, if the prober knows it.
pub fn suite(code: u16) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.code == code)
}

/// The IANA name of a suite, or its code.
pub fn suite_name(code: u16) -> String {
    suite(code).map_or_else(|| format!("suite {code:#06x}"), |s| s.name.to_string())
}

/// The suites worth offering at `version`.
pub fn suites_for(version: Version) -> Vec<u16> {
    SUITES
        .iter()
        .filter(|s| match version {
            Version::Tls13 => s.tls13,
            Version::Tls12 => !s.tls13,
            // GCM, CCM, ChaCha20 and SHA-2 suites exist only from TLS 1.2 on.
            _ => !s.tls13 && !s.aead() && !s.name.ends_with("_SHA256") && !s.name.ends_with("_SHA384"),
        })
        .map(|s| s.code)
        .collect()
}

fn alert_name(d: u8) -> String {
    let name = match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        40 => "handshake_failure",
        47 => "illegal_parameter",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        _ => return format!("{d}"),
    };
    format!("{name} ({d})")
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `body` with a length prefix of `width` bytes.
fn put_vec(out: &mut Vec<u8>, width: usize, body: &[u8]) {
    let len = body.len().to_be_bytes();
    out.extend_from_slice(&len[len.len() - width..]);
    out.extend_from_slice(body);
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    put_u16(out, kind);
    put_vec(out, 2, body);
}

/// A ClientHello record offering exactly `version` and `suites`.
/// `server_name` goes into SNI (not for IP addresses); `x25519_share` is
/// the client's key share for TLS 1.3.
pub fn client_hello(server_name: Option<&str>, version: Version, suites: &[u16], x25519_share: &[u8]) -> Vec<u8> {
    let mut hello = Vec::with_capacity(512);
    // TLS 1.3 is negotiated through supported_versions; its legacy field says 1.2.
    put_u16(&mut hello, if version == Version::Tls13 { 0x0303 } else { version.wire() });
    let random: [u8; 32] = rand::random();
    hello.extend_from_slice(&random);
    let session: [u8; 32] = rand::random();
    put_vec(&mut hello, 1, &session);
    let mut suite_bytes = Vec::new();
    for s in suites {
        put_u16(&mut suite_bytes, *s);
    }
    if version != Version::Tls13 {
        put_u16(&mut suite_bytes, 0x00ff); // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
    }
    put_vec(&mut hello, 2, &suite_bytes);
    put_vec(&mut hello, 1, &[0]); // compression: null only

    if version != Version::Ssl3 {
        let mut ext = Vec::new();
        if let Some(name) = server_name {
            let mut entry = vec![0u8]; // host_name
            put_vec(&mut entry, 2, name.as_bytes());
            let mut list = Vec::new();
            put_vec(&mut list, 2, &entry);
            extension(&mut ext, 0x0000, &list);
        }
        let mut groups = Vec::new();
        for g in [0x001d_u16, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101] {
            put_u16(&mut groups, g);
        }
        let mut body = Vec::new();
        put_vec(&mut body, 2, &groups);
        extension(&mut ext, 0x000a, &body); // supported_groups
        extension(&mut ext, 0x000b, &[1, 0]); // ec_point_formats: uncompressed
        let mut sigs = Vec::new();
        for s in [
            0x0403_u16, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201, 0x0203,
            0x0202,
        ] {
            put_u16(&mut sigs, s);
        }
        let mut body = Vec::new();
        put_vec(&mut body, 2, &sigs);
        extension(&mut ext, 0x000d, &body); // signature_algorithms
        extension(&mut ext, 0x0017, &[]); // extended_master_secret
        if version == Version::Tls13 {
            extension(&mut ext, 0x002b, &[2, 0x03, 0x04]); // supported_versions: TLS 1.3 only
            let mut share = Vec::new();
            put_u16(&mut share, 0x001d);
            put_vec(&mut share, 2, x25519_share);
            let mut body = Vec::new();
            put_vec(&mut body, 2, &share);
            extension(&mut ext, 0x0033, &body); // key_share
            extension(&mut ext, 0x002d, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
        }
        put_vec(&mut hello, 2, &ext);
    }

    let mut handshake = vec![1u8]; // client_hello
    put_vec(&mut handshake, 3, &hello);
    let mut record = vec![0x16];
    // Record-layer version: SSL 3.0 for the SSL probe, TLS 1.0 otherwise (as browsers do).
    put_u16(&mut record, if version == Version::Ssl3 { 0x0300 } else { 0x0301 });
    put_vec(&mut record, 2, &handshake);
    record
}

/// Reads the server's first answer to a ClientHello.
pub fn parse_answer(data: &[u8]) -> Option<Answer> {
    let mut handshake = Vec::new();
    let mut rest = data;
    while rest.len() >= 5 {
        let kind = rest[0];
        if !matches!(kind, 0x15 | 0x16) || rest[1] != 3 {
            return Some(Answer::Unexpected(format!(
                "no TLS record (first bytes {:02x?}; is this plain HTTP?)",
                &rest[..5]
            )));
        }
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if rest.len() < 5 + len {
            return None;
        }
        let body = &rest[5..5 + len];
        rest = &rest[5 + len..];
        match kind {
            0x15 if body.len() >= 2 => return Some(Answer::Alert(body[1])),
            0x16 => {
                handshake.extend_from_slice(body);
                if handshake.len() >= 4 {
                    if handshake[0] != 2 {
                        return Some(Answer::Unexpected(format!(
                            "handshake message {} instead of ServerHello",
                            handshake[0]
                        )));
                    }
                    let mlen =
                        usize::from(handshake[1]) << 16 | usize::from(handshake[2]) << 8 | usize::from(handshake[3]);
                    if handshake.len() >= 4 + mlen {
                        return Some(parse_server_hello(&handshake[4..4 + mlen]));
                    }
                }
            }
            _ => return Some(Answer::Unexpected("empty alert record".into())),
        }
    }
    None
}

fn parse_server_hello(m: &[u8]) -> Answer {
    let bad = || Answer::Unexpected("malformed ServerHello".into());
    if m.len() < 38 {
        return bad();
    }
    let mut version = u16::from_be_bytes([m[0], m[1]]);
    // A HelloRetryRequest (its random is the SHA-256 of "HelloRetryRequest", RFC 8446 §4.1.3) has the same layout and
    // also names the version and suite the server accepts.
    let sid_len = usize::from(m[34]);
    let mut i = 35 + sid_len;
    if m.len() < i + 3 {
        return bad();
    }
    let suite = u16::from_be_bytes([m[i], m[i + 1]]);
    i += 3; // suite and compression method
    if m.len() >= i + 2 {
        let ext_len = usize::from(u16::from_be_bytes([m[i], m[i + 1]]));
        let mut ext = &m[i + 2..m.len().min(i + 2 + ext_len)];
        while ext.len() >= 4 {
            let kind = u16::from_be_bytes([ext[0], ext[1]]);
            let len = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            if ext.len() < 4 + len {
                return bad();
            }
            if kind == 0x002b && len == 2 {
                version = u16::from_be_bytes([ext[4], ext[5]]);
            }
            ext = &ext[4 + len..];
        }
    }
    Answer::Accepted { version, suite }
}

/// Sends one ClientHello to `addr` and returns the server's answer.
pub async fn probe(addr: SocketAddr, server_name: Option<&str>, version: Version, suites: &[u16]) -> Answer {
    let share = match rustls::crypto::aws_lc_rs::kx_group::X25519.start() {
        Ok(kx) => kx.pub_key().to_vec(),
        Err(e) => return Answer::Unexpected(format!("no X25519 key share: {e}")),
    };
    let hello = client_hello(server_name, version, suites, &share);
    let attempt = async {
        let mut tcp = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect: {e}"))?;
        tcp.write_all(&hello).await.map_err(|e| format!("cannot send: {e}"))?;
        let mut buf = Vec::with_capacity(8192);
        loop {
            let mut chunk = [0u8; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) => return Ok(parse_answer(&buf).unwrap_or(Answer::Closed)),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(a) = parse_answer(&buf) {
                        return Ok(a);
                    }
                    if buf.len() > 64 * 1024 {
                        return Ok(Answer::Unexpected("no ServerHello in the first 64 KiB".into()));
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    return Ok(Answer::Closed);
                }
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, attempt).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => Answer::Unexpected(e),
        Err(_) => Answer::Unexpected(format!("no answer within {} s", ANSWER_TIMEOUT.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kabines_own_suites_are_known_forward_secret_aead_and_mozilla_intermediate() {
        for s in crate::tls::provider().cipher_suites {
            let code = u16::from(s.suite());
            let known = suite(code).unwrap_or_else(|| panic!("{code:#06x} unknown to the prober"));
            assert!(known.forward_secret() && known.aead() && known.mozilla_intermediate(), "{}", known.name);
        }
    }

    #[test]
    fn suite_classes() {
        let s = |c| *suite(c).expect("known");
        assert!(!s(0x002f).forward_secret() && !s(0x002f).aead());
        assert!(s(0xc013).forward_secret() && !s(0xc013).aead());
        assert!(!s(0x00a6).forward_secret(), "anonymous DH is not authenticated");
        assert!(s(0x1301).forward_secret() && s(0x1301).aead());
        assert!(suites_for(Version::Tls11).iter().all(|c| !s(*c).aead()));
        assert!(suites_for(Version::Tls11).contains(&0xc013));
        assert!(!suites_for(Version::Tls11).contains(&0xc027));
        let codes: std::collections::HashSet<_> = SUITES.iter().map(|s| s.code).collect();
        assert_eq!(codes.len(), SUITES.len(), "a suite is listed twice");
    }

    #[test]
    fn hello_is_well_formed() {
        let h = client_hello(Some("meet.example.org"), Version::Tls13, &[0x1301], &[7; 32]);
        assert_eq!(h[0], 0x16);
        assert_eq!(usize::from(u16::from_be_bytes([h[3], h[4]])), h.len() - 5);
        assert_eq!(h[5], 1);
        let hs_len = usize::from(h[6]) << 16 | usize::from(h[7]) << 8 | usize::from(h[8]);
        assert_eq!(hs_len, h.len() - 9);
        assert!(h.windows(16).any(|w| w == b"meet.example.org"));
        let ssl3 = client_hello(None, Version::Ssl3, &[0x002f], &[]);
        assert_eq!(&ssl3[1..3], &[3, 0]);
        assert_eq!(&ssl3[9..11], &[3, 0]);
    }

    #[test]
    fn answers_are_read() {
        assert_eq!(parse_answer(&[0x15, 3, 3, 0, 2, 2, 70]), Some(Answer::Alert(70)));
        assert_eq!(parse_answer(&[0x15, 3, 3]), None);
        assert!(matches!(parse_answer(b"HTTP/1.1 400 Bad Request\r\n"), Some(Answer::Unexpected(_))));
        // A TLS 1.3 ServerHello: legacy version 1.2, supported_versions says 1.3.
        let mut sh = vec![3, 3];
        sh.extend([0u8; 32]);
        sh.push(0);
        sh.extend([0x13, 0x01, 0]);
        sh.extend([0, 6, 0, 0x2b, 0, 2, 3, 4]);
        let mut hs = vec![2, 0, 0, sh.len() as u8];
        hs.extend(&sh);
        let mut rec = vec![0x16, 3, 3, 0, hs.len() as u8];
        rec.extend(&hs);
        let a = parse_answer(&rec).expect("complete");
        assert_eq!(a, Answer::Accepted { version: 0x0304, suite: 0x1301 });
        assert!(a.accepted(Version::Tls13) && !a.accepted(Version::Tls12));
        // Split across two records.
        let (one, two) = hs.split_at(10);
        let mut split = vec![0x16, 3, 3, 0, one.len() as u8];
        split.extend(one);
        assert_eq!(parse_answer(&split), None);
        split.extend([0x16, 3, 3, 0, two.len() as u8]);
        split.extend(two);
        assert_eq!(parse_answer(&split), Some(a));
        for garbage in [&[0x16, 3, 3, 0, 4, 2, 0, 0, 1, 0][..], &[0x16, 3, 3, 0, 1, 9]] {
            let _ = parse_answer(garbage);
        }
    }
}
