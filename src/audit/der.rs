//! Just enough DER to read what the audit reports about an X.509
//! certificate: validity period, subject and issuer common names, the names
//! it is issued for, and its key type. Trust is decided by rustls' verifier
//! (webpki), never by this code.

use std::net::IpAddr;

use super::time::days_from_civil;

/// What the report says about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    pub subject_cn: Option<String>,
    pub issuer_cn: Option<String>,
    /// Issuer and subject are the same name (self-issued, e.g. the demo certificate).
    pub self_issued: bool,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    /// e.g. `ECDSA P-256`, `RSA 2048 bit`.
    pub key: String,
    /// Bits of an RSA modulus, if RSA.
    pub rsa_bits: Option<usize>,
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// One tag-length-value, and what follows it.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("truncated DER: no tag")?;
    if tag & 0x1f == 0x1f {
        return Err("multi-byte DER tags are not used in certificates".into());
    }
    let (&first, rest) = rest.split_first().ok_or("truncated DER: no length")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("unsupported DER length".into());
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err("truncated DER: value shorter than its length".into());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// Reads one element that must carry `tag`.
fn expect<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (t, value, rest) = tlv(input)?;
    if t != tag {
        return Err(format!("{what}: expected tag {tag:#04x}, found {t:#04x}"));
    }
    Ok((value, rest))
}

/// Parses the parts of a certificate the report shows.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, String> {
    let (cert, _) = expect(der, SEQUENCE, "certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    // version [0] EXPLICIT, optional
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    let (_, r) = expect(rest, INTEGER, "serialNumber")?;
    let (_, r) = expect(r, SEQUENCE, "signature")?;
    let (issuer, r) = expect(r, SEQUENCE, "issuer")?;
    let (validity, r) = expect(r, SEQUENCE, "validity")?;
    let (subject, r) = expect(r, SEQUENCE, "subject")?;
    let (spki, mut r) = expect(r, SEQUENCE, "subjectPublicKeyInfo")?;

    let (nb_tag, nb, v) = tlv(validity)?;
    let (na_tag, na, _) = tlv(v)?;
    let not_before = parse_time(nb_tag, nb)?;
    let not_after = parse_time(na_tag, na)?;
    let (key, rsa_bits) = key_description(spki)?;

    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    while !r.is_empty() {
        let (tag, value, next) = tlv(r)?;
        if tag == 0xa3 {
            read_san(value, &mut dns_names, &mut ip_addresses)?;
        }
        r = next;
    }
    Ok(CertInfo {
        not_before,
        not_after,
        subject_cn: common_name(subject)?,
        issuer_cn: common_name(issuer)?,
        self_issued: issuer == subject,
        dns_names,
        ip_addresses,
        key,
        rsa_bits,
    })
}

/// The first CN in a Name.
fn common_name(name: &[u8]) -> Result<Option<String>, String> {
    let mut rest = name;
    while !rest.is_empty() {
        let (set, next) = expect(rest, SET, "RelativeDistinguishedName")?;
        let mut attrs = set;
        while !attrs.is_empty() {
            let (atv, more) = expect(attrs, SEQUENCE, "AttributeTypeAndValue")?;
            let (oid, value) = expect(atv, OID, "attribute type")?;
            if oid == OID_CN {
                let (_, s, _) = tlv(value)?;
                return Ok(Some(String::from_utf8_lossy(s).into_owned()));
            }
            attrs = more;
        }
        rest = next;
    }
    Ok(None)
}

/// DNS names and addresses from the subjectAltName extension, if present.
fn read_san(extensions: &[u8], dns: &mut Vec<String>, ips: &mut Vec<IpAddr>) -> Result<(), String> {
    let (mut list, _) = expect(extensions, SEQUENCE, "extensions")?;
    while !list.is_empty() {
        let (ext, next) = expect(list, SEQUENCE, "extension")?;
        let (oid, mut rest) = expect(ext, OID, "extnID")?;
        if oid == OID_SAN {
            if rest.first() == Some(&0x01) {
                rest = tlv(rest)?.2; // critical flag
            }
            let (value, _) = expect(rest, OCTET_STRING, "extnValue")?;
            let (mut names, _) = expect(value, SEQUENCE, "GeneralNames")?;
            while !names.is_empty() {
                let (tag, v, more) = tlv(names)?;
                match tag {
                    0x82 => dns.push(String::from_utf8_lossy(v).into_owned()),
                    0x87 if v.len() == 4 => ips.push(IpAddr::from([v[0], v[1], v[2], v[3]])),
                    0x87 if v.len() == 16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(v);
                        ips.push(IpAddr::from(a));
                    }
                    _ => {}
                }
                names = more;
            }
        }
        list = next;
    }
    Ok(())
}

fn key_description(spki: &[u8]) -> Result<(String, Option<usize>), String> {
    let (alg, rest) = expect(spki, SEQUENCE, "algorithm")?;
    let (oid, params) = expect(alg, OID, "algorithm id")?;
    if oid == OID_RSA {
        let (bits, _) = expect(rest, BIT_STRING, "subjectPublicKey")?;
        let key = bits.get(1..).ok_or("empty RSA key")?;
        let (rsa, _) = expect(key, SEQUENCE, "RSAPublicKey")?;
        let (modulus, _) = expect(rsa, INTEGER, "modulus")?;
        let m: Vec<u8> = modulus.iter().copied().skip_while(|&b| b == 0).collect();
        let n = match m.first() {
            Some(&b) => m.len() * 8 - b.leading_zeros() as usize,
            None => 0,
        };
        return Ok((format!("RSA {n} bit"), Some(n)));
    }
    if oid == OID_EC {
        let curve = match tlv(params) {
            Ok((OID, c, _)) if c == OID_P256 => "P-256",
            Ok((OID, c, _)) if c == OID_P384 => "P-384",
            Ok((OID, c, _)) if c == OID_P521 => "P-521",
            _ => "other curve",
        };
        return Ok((format!("ECDSA {curve}"), None));
    }
    if oid == OID_ED25519 {
        return Ok(("Ed25519".into(), None));
    }
    Ok(("other key type".into(), None))
}

/// UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, as Unix seconds.
fn parse_time(tag: u8, value: &[u8]) -> Result<i64, String> {
    let s = std::str::from_utf8(value).map_err(|_| "time is not ASCII")?;
    let digits = s.strip_suffix('Z').ok_or("time is not in UTC (no Z)")?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("malformed time `{s}`"));
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        digits.get(r).and_then(|x| x.parse().ok()).ok_or_else(|| format!("malformed time `{s}`"))
    };
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = num(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (num(0..4)?, 4),
        _ => return Err(format!("unsupported time `{s}`")),
    };
    let month = num(rest..rest + 2)?;
    let day = num(rest + 2..rest + 4)?;
    let (h, m, sec) = (num(rest + 4..rest + 6)?, num(rest + 6..rest + 8)?, num(rest + 8..rest + 10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return Err(format!("malformed time `{s}`"));
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Ok(days * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_rcgen_wrote() {
        let mut params = rcgen::CertificateParams::new(vec!["meet.example.org".to_string(), "127.0.0.1".to_string()])
            .expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "Meet");
        params.not_before = rcgen::date_time_ymd(2025, 1, 2);
        params.not_after = rcgen::date_time_ymd(2051, 3, 4);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let info = parse_certificate(cert.der()).expect("parses");
        assert_eq!(info.not_before, days_from_civil(2025, 1, 2) * 86_400);
        assert_eq!(info.not_after, days_from_civil(2051, 3, 4) * 86_400);
        assert_eq!(info.subject_cn.as_deref(), Some("Meet"));
        assert!(info.self_issued);
        assert_eq!(info.dns_names, ["meet.example.org"]);
        assert_eq!(info.ip_addresses, [IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(info.key, "ECDSA P-256");
    }

    #[test]
    fn rsa_key_size_is_read() {
        // A hand-built SPKI (generating an RSA key in a unit test is slow):
        // SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { SEQUENCE { INTEGER (0x00 0x80 …), INTEGER 3 } } }
        let mut modulus = vec![0x00, 0x80];
        modulus.extend(std::iter::repeat_n(0x11, 255)); // 256 bytes with the top bit set: 2048 bits
        let mut rsa = vec![INTEGER, 0x82, 0x01, 0x01];
        rsa.extend(&modulus);
        rsa.extend([INTEGER, 0x01, 0x03]);
        let mut rsa_seq = vec![SEQUENCE, 0x82, (rsa.len() >> 8) as u8, rsa.len() as u8];
        rsa_seq.extend(&rsa);
        let mut bits = vec![BIT_STRING, 0x82, ((rsa_seq.len() + 1) >> 8) as u8, (rsa_seq.len() + 1) as u8, 0];
        bits.extend(&rsa_seq);
        let mut alg = vec![SEQUENCE, 13, OID, 9];
        alg.extend(OID_RSA);
        alg.extend([0x05, 0x00]);
        let mut body = alg;
        body.extend(&bits);
        let (desc, n) = key_description(&body).expect("parses");
        assert_eq!((desc.as_str(), n), ("RSA 2048 bit", Some(2048)));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [&[][..], &[0x30], &[0x30, 0x85, 1, 2, 3, 4, 5], &[0x30, 0x05, 0x02], &[0x1f, 0x01, 0x00]] {
            assert!(parse_certificate(bad).is_err(), "{bad:?}");
        }
        assert!(parse_time(UTC_TIME, b"991332000000Z").is_err());
        assert_eq!(parse_time(UTC_TIME, b"700101000000Z"), Ok(0));
        assert_eq!(parse_time(GENERALIZED_TIME, b"19700102000000Z"), Ok(86_400));
    }
}
