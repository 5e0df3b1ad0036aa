//! Appointments of a therapy practice (`[teletherapy]`, docs/teletherapy.md):
//! a therapist's session with one single-person link per patient, the
//! consent each patient gave, and who attended when.
//!
//! Sans-IO and memory-only: [`Store`] takes the time (unix seconds) as an
//! input and is owned by the room logic (`crate::room`), which asks it who
//! may enter an appointment room and tells it who came and went; the HTTP
//! side reaches it only through the room actor. Nothing of it is written to
//! disk or logged: ids, tokens, names and titles never reach a log line, and
//! they are zeroized when an appointment is deleted (by its therapist, or
//! `record_retention_hours` after its end, see [`Store::sweep`]).
//!
//! Ids and tokens are 128 bits from the operating system's CSPRNG (through
//! `rand`'s thread RNG, as the login session tokens): ids and tokens as 22
//! characters of base64url, room names as `t-` and 26 characters of
//! lowercase base32.

mod store;
#[cfg(test)]
mod tests;

pub use store::{Deleted, LinkRef, Store};

use serde::{Deserialize, Serialize};

/// Longest appointment title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// Shortest and longest appointment, in minutes.
pub const DURATION_MINUTES: std::ops::RangeInclusive<u32> = 5..=480;
/// How far in the past a new appointment may start (a session created
/// late, or in another time zone by mistake), in seconds.
pub const MAX_START_PAST_SECS: i64 = 24 * 3600;
/// How far ahead a new appointment may start, in seconds.
pub const MAX_START_AHEAD_SECS: i64 = 400 * 86_400;

/// Kabine's consent text when the practice sets none (German).
pub const DEFAULT_CONSENT_DE: &str = "Ich willige ein, dass meine Videosprechstunde mit der Praxis über diesen \
Dienst geführt wird. Bild und Ton werden Ende-zu-Ende-verschlüsselt übertragen; nichts davon wird aufgezeichnet \
oder gespeichert. Für die Abrechnung hält die Praxis fest, wann ich teilgenommen habe, unter welchem Namen und \
wann ich diese Einwilligung gegeben habe (Art. 9 Abs. 2 lit. a DSGVO). Ich kann die Einwilligung jederzeit \
gegenüber der Praxis widerrufen.";

/// Kabine's consent text when the practice sets none (English).
pub const DEFAULT_CONSENT_EN: &str = "I consent to holding my video session with the practice over this \
service. Picture and sound are end-to-end encrypted; nothing of them is recorded or stored. For billing, the \
practice notes when I took part, under which name, and when I gave this consent (Art. 9(2)(a) GDPR). I can \
withdraw my consent at any time by telling the practice.";

/// What appointments need from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `teletherapy.enabled`
    pub enabled: bool,
    /// `teletherapy.practice_name`, else `client.app_name`.
    pub practice: String,
    /// `teletherapy.link_opens_minutes_before`, in seconds.
    pub opens_before_secs: i64,
    /// `teletherapy.link_grace_minutes_after`, in seconds.
    pub grace_after_secs: i64,
    /// `teletherapy.max_patients`
    pub max_patients: u32,
    /// `teletherapy.record_retention_hours`, in seconds.
    pub retention_secs: i64,
    /// `teletherapy.max_appointments_per_therapist`
    pub max_per_therapist: usize,
    /// The consent text, German and English.
    pub consent_de: String,
    pub consent_en: String,
    /// [`consent_version`] of the two texts.
    pub consent_version: String,
    /// `client.privacy_url`
    pub privacy_url: Option<String>,
}

impl Settings {
    pub fn from_config(c: &crate::config::Config) -> Settings {
        let t = &c.teletherapy;
        let consent_de = t.consent_text_de.clone().unwrap_or_else(|| DEFAULT_CONSENT_DE.into());
        let consent_en = t.consent_text_en.clone().unwrap_or_else(|| DEFAULT_CONSENT_EN.into());
        Settings {
            enabled: t.enabled,
            practice: t.practice_name.clone().unwrap_or_else(|| c.client.app_name.clone()),
            opens_before_secs: i64::from(t.link_opens_minutes_before) * 60,
            grace_after_secs: i64::from(t.link_grace_minutes_after) * 60,
            max_patients: t.max_patients,
            retention_secs: i64::from(t.record_retention_hours) * 3600,
            max_per_therapist: t.max_appointments_per_therapist as usize,
            consent_version: consent_version(&consent_de, &consent_en),
            consent_de,
            consent_en,
            privacy_url: c.client.privacy_url.clone(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_config(&crate::config::Config::default())
    }
}

/// The version of a consent text: the first 16 hex digits of SHA-256 over
/// `de`, a NUL byte and `en`.
pub fn consent_version(de: &str, en: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(de.as_bytes());
    ctx.update(&[0]);
    ctx.update(en.as_bytes());
    ctx.finish().as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The therapist behind a request: the login session's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Login name (lowercased): appointments belong to it.
    pub username: String,
    /// The name patients see.
    pub display_name: String,
}

/// `POST /api/appointments`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAppointment {
    #[serde(default)]
    pub title: Option<String>,
    pub start: i64,
    pub duration_minutes: u32,
    pub group: bool,
    pub patients: u32,
}

/// What the HTTP side asks of the store (through the room actor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    List {
        owner: Owner,
    },
    Create {
        owner: Owner,
        new: NewAppointment,
    },
    AddLink {
        owner: Owner,
        id: String,
    },
    Revoke {
        owner: Owner,
        id: String,
        n: u32,
    },
    Delete {
        owner: Owner,
        id: String,
    },
    Attendance {
        owner: Owner,
        id: String,
    },
    /// What a patient's link shows (`/t/<token>`).
    Patient {
        token: String,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Appointments(Vec<AppointmentView>),
    Appointment(AppointmentView),
    Deleted,
    Attendance(Attendance),
    Patient(PatientView),
    Refused(Refusal),
    Link(LinkRefusal),
}

/// Why a therapist's request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such appointment of this therapist (another's looks the same).
    NotFound,
    BadTitle,
    BadStart,
    BadDuration,
    /// More patients than allowed: `limit` for this kind of appointment.
    TooManyPatients {
        limit: u32,
    },
    TooManyAppointments {
        limit: usize,
    },
    /// The record exists only once the session ended.
    NotEnded,
}

impl Refusal {
    /// HTTP status, `error` code and English message.
    pub fn describe(&self) -> (u16, &'static str, String) {
        match *self {
            Refusal::NotFound => (404, "not_found", "No such appointment.".into()),
            Refusal::BadTitle => {
                (400, "bad_title", format!("A title has at most {MAX_TITLE_CHARS} characters, no control characters."))
            }
            Refusal::BadStart => {
                (400, "bad_start", "The start must be at most a day in the past and at most 400 days ahead.".into())
            }
            Refusal::BadDuration => (
                400,
                "bad_duration",
                format!("A session lasts {} to {} minutes.", DURATION_MINUTES.start(), DURATION_MINUTES.end()),
            ),
            Refusal::TooManyPatients { limit } => (
                400,
                "too_many_patients",
                format!("This session may have at most {limit} patient link(s) (a single session has exactly 1)."),
            ),
            Refusal::TooManyAppointments { limit } => (
                400,
                "too_many_appointments",
                format!("You have {limit} appointments, the most allowed. Delete old ones first."),
            ),
            Refusal::NotEnded => (409, "not_ended", "The record is ready once the session has ended.".into()),
        }
    }
}

/// Why a patient link does not work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Unknown,
    Revoked,
    /// The session ended, or the link's window closed.
    Expired,
    /// Opens at this time (unix seconds); the appointment starts at `start`.
    NotYet {
        opens_at: i64,
        start: i64,
    },
}

impl LinkRefusal {
    /// HTTP status and `error` code of the API.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            LinkRefusal::Unknown => (404, "unknown_link"),
            LinkRefusal::Revoked => (410, "revoked"),
            LinkRefusal::Expired => (410, "expired"),
            LinkRefusal::NotYet { .. } => (403, "not_yet"),
        }
    }

    /// English explanation, with what to do.
    pub fn message(&self) -> &'static str {
        match self {
            LinkRefusal::Unknown => "This appointment link is not valid. Please contact your practice.",
            LinkRefusal::Revoked => {
                "This appointment link was withdrawn by the practice. Please contact your practice."
            }
            LinkRefusal::Expired => {
                "This appointment has ended; the link no longer works. Please contact your practice for a new one."
            }
            LinkRefusal::NotYet { .. } => {
                "Your appointment has not started yet; the link opens shortly before it. Please come back then."
            }
        }
    }

    /// When the link opens, for `not_yet`.
    pub fn opens_at(&self) -> Option<i64> {
        match self {
            LinkRefusal::NotYet { opens_at, .. } => Some(*opens_at),
            _ => None,
        }
    }
}

/// Where a patient link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Unused,
    Waiting,
    In,
    Left,
    Revoked,
}

/// Where an appointment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentState {
    Scheduled,
    /// The therapist opened the meeting.
    Open,
    Ended,
}

/// How the media of a session travelled (the record's "connection").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// A direct call between the two browsers (never more than two).
    Direct,
    /// Through the server, end-to-end encrypted throughout.
    E2ee,
    /// Through the server, encrypted in transit only (at some time).
    Transit,
}

/// One patient link, as its therapist sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkView {
    pub n: u32,
    pub label: String,
    pub token: String,
    pub path: String,
    pub state: LinkState,
    pub name: Option<String>,
    pub consented_at: Option<i64>,
}

/// An appointment, as its therapist sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppointmentView {
    pub id: String,
    pub title: Option<String>,
    pub start: i64,
    pub duration_minutes: u32,
    pub group: bool,
    pub room: String,
    pub opens_at: i64,
    pub closes_at: i64,
    pub state: AppointmentState,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub links: Vec<LinkView>,
}

/// The consent a patient is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentView {
    pub version: String,
    pub text_de: String,
    pub text_en: String,
    pub privacy_url: Option<String>,
}

/// What a patient's link shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientView {
    pub practice: String,
    pub therapist: String,
    pub title: Option<String>,
    pub start: i64,
    pub duration_minutes: u32,
    pub group: bool,
    pub room: String,
    pub link: String,
    pub consent: ConsentView,
}

/// One patient in the attendance record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttendanceEntry {
    pub label: String,
    pub name: String,
    pub consented_at: i64,
    pub consent_version: String,
    pub joined_at: Option<i64>,
    pub left_at: Option<i64>,
}

/// The attendance record of an ended session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attendance {
    pub practice: String,
    pub therapist: String,
    pub title: Option<String>,
    pub start: i64,
    pub duration_minutes: u32,
    pub group: bool,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub connection: Connection,
    pub consent_version: String,
    pub participants: Vec<AttendanceEntry>,
}

/// `Patient 2`: how a link is named to the therapist.
pub fn label(n: u32) -> String {
    format!("Patient {n}")
}

/// 128 random bits as 22 characters of base64url (no padding).
pub fn random_token() -> String {
    let bytes = random_bytes();
    base64url(bytes.as_slice())
}

/// A fresh appointment room name: `t-` and 128 random bits as 26
/// characters of lowercase base32.
pub fn random_room() -> String {
    format!("t-{}", base32(random_bytes().as_slice()))
}

/// Whether `name` (lower case) has the form of an appointment room.
pub fn is_appointment_room(name: &str) -> bool {
    name.strip_prefix("t-").is_some_and(|rest| {
        rest.len() == 26 && rest.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

fn random_bytes() -> zeroize::Zeroizing<[u8; 16]> {
    use rand::RngCore;
    let mut bytes = zeroize::Zeroizing::new([0u8; 16]);
    rand::rng().fill_bytes(bytes.as_mut());
    bytes
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    encode_bits(bytes, 6, ALPHABET)
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    encode_bits(bytes, 5, ALPHABET)
}

/// `bytes` in groups of `bits` bits (the last one padded with zeros),
/// each written as its character of `alphabet`.
fn encode_bits(bytes: &[u8], bits: u32, alphabet: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(bits as usize));
    let (mut acc, mut have) = (0u32, 0u32);
    let mask = (1u32 << bits) - 1;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        have += 8;
        while have >= bits {
            have -= bits;
            out.push(char::from(alphabet[((acc >> have) & mask) as usize]));
        }
        acc &= (1 << have) - 1;
    }
    if have > 0 {
        out.push(char::from(alphabet[((acc << (bits - have)) & mask) as usize]));
    }
    out
}
