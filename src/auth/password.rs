//! Passwords: the rules a new password must meet, argon2id hashing, and the
//! parameters of a stored hash.
//!
//! The rules follow NIST SP 800-63B: at least 8 characters, long passwords
//! allowed (up to [`MAX_CHARS`]), no composition rules, and a refusal of
//! passwords that are common, trivial or the user's own name. Every copy of
//! a password lives in zeroizing memory.

use std::fmt;
use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use rand::RngCore;
use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// Fewest characters (Unicode scalar values) a new password may have.
pub const MIN_CHARS: usize = 8;
/// Length recommended in prompts.
pub const RECOMMENDED_CHARS: usize = 15;
/// Most characters a password may have (NIST asks for at least 64).
pub const MAX_CHARS: usize = 1024;

/// argon2id memory cost in KiB: 19 MiB (OWASP's minimum for argon2id).
pub const MIN_M_COST: u32 = 19 * 1024;
/// argon2id passes.
pub const MIN_T_COST: u32 = 2;
/// argon2id lanes.
pub const P_COST: u32 = 1;
/// Stored hashes with a larger memory cost are refused as malformed: a
/// hand-edited line must not make one login allocate gigabytes.
pub const MAX_M_COST: u32 = 1024 * 1024;
/// Likewise for passes.
pub const MAX_T_COST: u32 = 64;

/// The common-password list, bundled (one password a line, `#` comments).
const COMMON: &str = include_str!("common-passwords.txt");

/// A password held in memory that is wiped when dropped. `Debug` never
/// shows it.
#[derive(Clone, Default)]
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(s: String) -> Password {
        Password(Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Password {
        Password::new(s.to_string())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Password, D::Error> {
        // The String moves into the zeroizing wrapper without a copy.
        Ok(Password::new(String::deserialize(d)?))
    }
}

/// Why a new password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    TooShort,
    TooLong,
    /// On the bundled list of common passwords.
    Common,
    /// The user name, or one character repeated, or a plain sequence.
    Trivial,
}

impl Weakness {
    /// Stable code for the API.
    pub fn code(self) -> &'static str {
        match self {
            Weakness::TooShort => "too_short",
            Weakness::TooLong => "too_long",
            Weakness::Common => "common",
            Weakness::Trivial => "trivial",
        }
    }
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakness::TooShort => write!(
                f,
                "the password is too short: use at least {MIN_CHARS} characters ({RECOMMENDED_CHARS} or more recommended)"
            ),
            Weakness::TooLong => write!(f, "the password is too long: at most {MAX_CHARS} characters"),
            Weakness::Common => f.write_str("the password is on the list of commonly used passwords; choose another"),
            Weakness::Trivial => f.write_str(
                "the password is too easy to guess (the user name, a repeated character or a plain sequence)",
            ),
        }
    }
}

/// Checks a new password for `username`. No composition rules: any
/// characters, any mix.
pub fn check_new(password: &Password, username: &str) -> Result<(), Weakness> {
    let p = password.expose();
    let chars = p.chars().count();
    if chars < MIN_CHARS {
        return Err(Weakness::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weakness::TooLong);
    }
    let lower = Zeroizing::new(p.to_lowercase());
    if is_trivial(&lower, username) {
        return Err(Weakness::Trivial);
    }
    if is_common(&lower) {
        return Err(Weakness::Common);
    }
    Ok(())
}

/// Whether a password (any case) is on the bundled list.
pub fn is_common(password: &str) -> bool {
    let lower = Zeroizing::new(password.to_lowercase());
    common_list().binary_search(&lower.as_str()).is_ok()
}

/// How many passwords the bundled list holds.
pub fn common_list_len() -> usize {
    common_list().len()
}

fn common_list() -> &'static [&'static str] {
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut list: Vec<&'static str> =
            COMMON.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        list.sort_unstable();
        list.dedup();
        list
    })
}

/// The user name itself (maybe with digits after it), a short unit repeated
/// (`aaaaaaaa`, `abcabcabc`, `abcdabcd`), or a run of consecutive characters
/// (`12345678`, `hgfedcba`).
fn is_trivial(lower: &str, username: &str) -> bool {
    let username = username.to_lowercase();
    if !username.is_empty() && (lower == username || lower.trim_end_matches(|c: char| c.is_ascii_digit()) == username) {
        return true;
    }
    let chars: Vec<char> = lower.chars().collect();
    let repeats = (1..=(chars.len() / 2).min(4))
        .any(|unit| chars.len().is_multiple_of(unit) && chars.chunks(unit).all(|c| c == &chars[..unit]));
    let step = |a: char, b: char| (b as i64) - (a as i64);
    let sequence = chars.len() >= 2 && {
        let first = step(chars[0], chars[1]);
        first.abs() == 1 && chars.windows(2).all(|w| step(w[0], w[1]) == first)
    };
    repeats || sequence
}

/// The argon2id parameters Kabine hashes with.
pub fn params() -> Params {
    // The constants are within argon2's limits (checked by a unit test).
    Params::new(MIN_M_COST, MIN_T_COST, P_COST, None).expect("argon2 parameters are valid constants")
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`)
/// with a fresh 16-byte salt. Slow on purpose: call it off the async runtime.
pub fn hash(password: &Password) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    // Hashing only fails for parameters or salts outside argon2's limits;
    // ours are constants inside them.
    hasher()
        .hash_password_with_salt(password.expose().as_bytes(), &salt)
        .expect("argon2id with valid constant parameters and a 16-byte salt")
        .to_string()
}

/// Checks a password against a stored PHC string, with the parameters the
/// string names. Slow on purpose: call it off the async runtime.
pub fn verify(password: &Password, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    hasher().verify_password(password.expose().as_bytes(), &parsed).is_ok()
}

/// The parameters a stored hash names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashParams {
    /// `argon2id`, `argon2i`, …
    pub algorithm: String,
    pub version: Option<u32>,
    /// Memory in KiB.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl HashParams {
    /// Parses a PHC string of an argon2 hash.
    pub fn parse(phc: &str) -> Result<HashParams, String> {
        let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC hash string: {e}"))?;
        let algorithm = parsed.algorithm.as_str().to_string();
        if !algorithm.starts_with("argon2") {
            return Err(format!("`{algorithm}` is not an argon2 hash"));
        }
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err("the hash has no salt or no output".into());
        }
        let params = Params::try_from(&parsed).map_err(|e| format!("bad argon2 parameters: {e}"))?;
        Ok(HashParams {
            algorithm,
            version: parsed.version,
            m_cost: params.m_cost(),
            t_cost: params.t_cost(),
            p_cost: params.p_cost(),
        })
    }

    /// Whether these meet Kabine's minimum: argon2id, version 19,
    /// m >= 19 MiB, t >= 2, p = 1.
    pub fn meets_minimum(&self) -> bool {
        self.algorithm == "argon2id"
            && self.version == Some(0x13)
            && self.m_cost >= MIN_M_COST
            && self.t_cost >= MIN_T_COST
            && self.p_cost == P_COST
    }

    /// Whether verifying a password against this hash costs a sane amount.
    pub fn within_bounds(&self) -> bool {
        self.m_cost <= MAX_M_COST && self.t_cost <= MAX_T_COST && self.p_cost <= 16
    }
}

impl fmt::Display for HashParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} m={} KiB t={} p={}", self.algorithm, self.m_cost, self.t_cost, self.p_cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weak(p: &str) -> Option<Weakness> {
        check_new(&Password::from(p), "alice").err()
    }

    #[test]
    fn length_rules_count_characters_not_bytes() {
        assert_eq!(weak("kurz"), Some(Weakness::TooShort));
        assert_eq!(weak("7chars!"), Some(Weakness::TooShort));
        // 8 characters, 15 bytes.
        assert_eq!(weak("äöüßÄÖÜx"), None);
        let long: String = (0..MAX_CHARS).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
        assert_eq!(weak(&long), None, "{MAX_CHARS} characters are allowed");
        assert_eq!(weak(&"x9".repeat(MAX_CHARS / 2 + 1)), Some(Weakness::TooLong));
    }

    #[test]
    fn no_composition_rules() {
        for p in ["korrekt pferd batterie heftklammer", "zwetschgenkuchen mit sahne", "ÜBERALLHIN-nirgendwo"] {
            assert_eq!(weak(p), None, "{p}");
        }
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        assert!(common_list_len() >= 2000, "the bundled list has only {} entries", common_list_len());
        for p in ["password", "Passwort1", "qwertz123", "Schalke04", "iloveyou", "1q2w3e4r5t", "hallo1234", "P@ssw0rd"]
        {
            assert_eq!(weak(p), Some(Weakness::Common), "{p}");
        }
        assert!(is_common("ICHLIEBEDICH"));
        assert!(!is_common("zwetschgenkuchen mit sahne"));
    }

    #[test]
    fn trivial_passwords_are_refused() {
        assert_eq!(weak("aaaaaaaaaa"), Some(Weakness::Trivial));
        assert_eq!(weak("abcabcabcabc"), Some(Weakness::Trivial));
        assert_eq!(weak("98765432"), Some(Weakness::Trivial));
        assert_eq!(weak("lmnopqrstu"), Some(Weakness::Trivial));
        assert_eq!(check_new(&Password::from("Bernadette"), "bernadette"), Err(Weakness::Trivial));
        assert_eq!(check_new(&Password::from("bernadette2024"), "bernadette"), Err(Weakness::Trivial));
        assert_eq!(weak("abcdefgX"), None);
    }

    #[test]
    fn hashes_meet_the_minimum_and_verify() {
        let phc = hash(&Password::from("korrekt pferd batterie"));
        let p = HashParams::parse(&phc).expect("own hash parses");
        assert!(p.meets_minimum(), "{p}");
        assert_eq!((p.m_cost, p.t_cost, p.p_cost), (19456, 2, 1));
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&Password::from("korrekt pferd batterie"), &phc));
        assert!(!verify(&Password::from("korrekt pferd batteri"), &phc));
        assert!(!verify(&Password::from("x"), "not a hash"));
        // A fresh salt every time.
        assert_ne!(phc, hash(&Password::from("korrekt pferd batterie")));
    }

    #[test]
    fn weak_parameters_are_recognised() {
        let weak = "$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHRzYWx0$\
                    2qJ0FJJ1nSQUmClaRrfyjEG7uO4H8wRK8s1ptbRu8pE";
        let p = HashParams::parse(weak).expect("parses");
        assert!(!p.meets_minimum());
        let argon2i = "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$\
                       2qJ0FJJ1nSQUmClaRrfyjEG7uO4H8wRK8s1ptbRu8pE";
        assert!(!HashParams::parse(argon2i).expect("parses").meets_minimum());
        assert!(HashParams::parse("$2y$10$abcdefghijklmnopqrstuv").is_err());
    }

    #[test]
    fn debug_never_shows_a_password() {
        assert_eq!(format!("{:?}", Password::from("geheim123")), "Password([redacted])");
    }
}
