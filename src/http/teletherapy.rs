//! The appointment routes (`[teletherapy]`, docs/teletherapy.md).
//!
//! | route | who | answer |
//! |---|---|---|
//! | `GET /sessions` | anyone | the client app (it asks for a login) |
//! | `GET /api/appointments` | therapist | the own appointments, by start |
//! | `POST /api/appointments` | therapist | a new appointment (201) |
//! | `POST /api/appointments/{id}/links` | owner | one more patient link |
//! | `POST /api/appointments/{id}/links/{n}/revoke` | owner | the link is refused from now on |
//! | `DELETE /api/appointments/{id}` | owner | 204; its meeting ends |
//! | `GET /api/appointments/{id}/attendance` | owner | the record, once ended |
//! | `GET /t/{token}` | anyone | the client app, or a page saying why the link does not work |
//! | `GET /api/appointment/{token}` | anyone | what the patient's link shows |
//! | `GET /api/probe` | anyone | 256 KiB for the waiting page's bandwidth estimate |
//!
//! A therapist is logged in with an account that may host. Someone else's
//! appointment answers 404, like one that does not exist. The store lives
//! with the rooms: every request goes to the room actor
//! ([`crate::signal::Signalling::appointments`]). Lookups of unknown tokens
//! and the probe are limited per address ([`Guards`]). Ids, tokens and
//! addresses are never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppState, PeerIp, headers};
use crate::teletherapy::{LinkRefusal, NewAppointment, Owner, Refusal, Reply, Request};

/// Bytes the probe answers with.
pub const PROBE_BYTES: usize = 256 * 1024;

/// A token bucket per address (its anonymous key), bounded.
struct Buckets {
    burst: f64,
    refill: Duration,
    map: Mutex<HashMap<u64, (f64, Instant)>>,
}

/// Most addresses tracked per limit; when full, those back at a full
/// bucket are forgotten (and, if that is not enough, all).
const MAX_TRACKED: usize = 10_000;

impl Buckets {
    fn new(burst: u32, refill: Duration) -> Buckets {
        Buckets { burst: f64::from(burst), refill, map: Mutex::new(HashMap::new()) }
    }

    fn level(&self, tokens: f64, since: Instant, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(since).as_secs_f64() / self.refill.as_secs_f64();
        (tokens + refilled).min(self.burst)
    }

    /// Whether `key` has a token left (without taking it).
    fn allows(&self, key: u64, now: Instant) -> bool {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key).is_none_or(|&(tokens, since)| self.level(tokens, since, now) >= 1.0)
    }

    /// Takes a token of `key`; false if none was left.
    fn take(&self, key: u64, now: Instant) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            map.retain(|_, (tokens, since)| self.level(*tokens, *since, now) < self.burst);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let entry = map.entry(key).or_insert((self.burst, now));
        let level = self.level(entry.0, entry.1, now);
        if level < 1.0 {
            *entry = (level, now);
            return false;
        }
        *entry = (level - 1.0, now);
        true
    }
}

/// The per-address limits of the anonymous appointment routes: guesses at
/// tokens (only unknown ones count) and bandwidth probes. Addresses are
/// kept as keyed hashes only ([`crate::net::address_key`]).
pub struct Guards {
    keys: std::hash::RandomState,
    guesses: Buckets,
    probes: Buckets,
}

impl Guards {
    pub fn new() -> Guards {
        Guards {
            keys: std::hash::RandomState::new(),
            // 20 wrong tokens at once, then one per 30 s (120 an hour).
            guesses: Buckets::new(20, Duration::from_secs(30)),
            // A waiting page probes a few times; 10 at once, then one per 10 s.
            probes: Buckets::new(10, Duration::from_secs(10)),
        }
    }

    fn key(&self, peer: &Option<Extension<PeerIp>>) -> u64 {
        match peer {
            Some(Extension(PeerIp(ip))) => crate::net::address_key(&self.keys, *ip),
            None => 0,
        }
    }
}

impl Default for Guards {
    fn default() -> Self {
        Guards::new()
    }
}

/// `{"error": code, "message": …}` with `status`, never cached.
fn json_error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    headers::dynamic((status, axum::Json(json!({ "error": code, "message": message }))).into_response())
}

fn off() -> Response {
    json_error(404, "teletherapy_off", "Appointments are not enabled on this server.")
}

fn busy() -> Response {
    json_error(503, "busy", "The server is closing or busy. Try again in a moment.")
}

fn too_many() -> Response {
    let mut r = json_error(429, "too_many_attempts", "Too many attempts. Try again in a minute.");
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

fn ok_json(status: StatusCode, body: impl serde::Serialize) -> Response {
    headers::dynamic((status, axum::Json(body)).into_response())
}

/// The therapist behind the request, or the answer why not.
#[allow(clippy::result_large_err)]
fn therapist(state: &AppState, request_headers: &HeaderMap) -> Result<Owner, Response> {
    if !state.config.teletherapy.enabled {
        return Err(off());
    }
    let Some(identity) = super::api::current_identity(state, request_headers) else {
        return Err(json_error(401, "not_logged_in", "Log in first."));
    };
    if !identity.may_host {
        return Err(json_error(403, "not_a_therapist", "Only accounts that may host sessions hold appointments."));
    }
    Ok(Owner { username: identity.username.clone(), display_name: identity.display_name.clone() })
}

/// A POST or DELETE: same origin, and a therapist.
#[allow(clippy::result_large_err)]
fn therapist_changing(state: &AppState, request_headers: &HeaderMap, uri: &Uri) -> Result<Owner, Response> {
    super::api::check_origin(state, request_headers, uri).map_err(IntoResponse::into_response)?;
    therapist(state, request_headers)
}

/// Asks the store (through the room actor) and answers.
async fn ask(state: &AppState, request: Request, created: bool) -> Response {
    let Some(reply) = state.signal.appointments(request).await else {
        return busy();
    };
    match reply {
        Reply::Appointments(list) => ok_json(StatusCode::OK, json!({ "appointments": list })),
        Reply::Appointment(a) => ok_json(if created { StatusCode::CREATED } else { StatusCode::OK }, a),
        Reply::Deleted => headers::dynamic(StatusCode::NO_CONTENT.into_response()),
        Reply::Attendance(a) => ok_json(StatusCode::OK, a),
        Reply::Patient(p) => ok_json(StatusCode::OK, p),
        Reply::Refused(r) => refused(r),
        Reply::Link(l) => link_refused_json(l),
    }
}

fn refused(r: Refusal) -> Response {
    let (status, code, message) = r.describe();
    json_error(status, code, &message)
}

fn link_refused_json(l: LinkRefusal) -> Response {
    let (status, code) = l.status_and_code();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
    let body = json!({ "error": code, "message": l.message(), "opens_at": l.opens_at() });
    headers::dynamic((status, axum::Json(body)).into_response())
}

/// `GET /sessions`: the client app.
pub async fn sessions_page(State(state): State<AppState>, request_headers: HeaderMap) -> Response {
    if !state.config.teletherapy.enabled {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    super::serve_asset("index.html", &request_headers)
}

/// `GET /api/appointments`
pub async fn list(State(state): State<AppState>, request_headers: HeaderMap) -> Response {
    match therapist(&state, &request_headers) {
        Ok(owner) => ask(&state, Request::List { owner }, false).await,
        Err(r) => r,
    }
}

/// `POST /api/appointments`
pub async fn create(State(state): State<AppState>, uri: Uri, request_headers: HeaderMap, body: Bytes) -> Response {
    let owner = match therapist_changing(&state, &request_headers, &uri) {
        Ok(owner) => owner,
        Err(r) => return r,
    };
    let new: NewAppointment = match super::api::parse_json(&request_headers, &body) {
        Ok(new) => new,
        Err(e) => return e.into_response(),
    };
    ask(&state, Request::Create { owner, new }, true).await
}

/// `POST /api/appointments/{id}/links`
pub async fn add_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    request_headers: HeaderMap,
) -> Response {
    match therapist_changing(&state, &request_headers, &uri) {
        Ok(owner) => ask(&state, Request::AddLink { owner, id }, false).await,
        Err(r) => r,
    }
}

/// `POST /api/appointments/{id}/links/{n}/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
    uri: Uri,
    request_headers: HeaderMap,
) -> Response {
    let owner = match therapist_changing(&state, &request_headers, &uri) {
        Ok(owner) => owner,
        Err(r) => return r,
    };
    let Ok(n) = n.parse::<u32>() else {
        return refused(Refusal::NotFound);
    };
    ask(&state, Request::Revoke { owner, id, n }, false).await
}

/// `DELETE /api/appointments/{id}`
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    request_headers: HeaderMap,
) -> Response {
    match therapist_changing(&state, &request_headers, &uri) {
        Ok(owner) => ask(&state, Request::Delete { owner, id }, false).await,
        Err(r) => r,
    }
}

/// `GET /api/appointments/{id}/attendance`
pub async fn attendance(State(state): State<AppState>, Path(id): Path<String>, request_headers: HeaderMap) -> Response {
    match therapist(&state, &request_headers) {
        Ok(owner) => ask(&state, Request::Attendance { owner, id }, false).await,
        Err(r) => r,
    }
}

/// Whether `token` has the form of a link token (22 characters of base64url).
fn token_shaped(token: &str) -> bool {
    token.len() == 22 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Looks a patient's token up, counting unknown ones against the address.
/// `Err(None)`: throttled.
async fn patient_lookup(
    state: &AppState,
    peer: &Option<Extension<PeerIp>>,
    token: String,
) -> Result<crate::teletherapy::PatientView, Option<LinkRefusal>> {
    let guards = &state.teletherapy;
    let key = guards.key(peer);
    let now = Instant::now();
    if !guards.guesses.allows(key, now) {
        return Err(None);
    }
    let reply = if state.config.teletherapy.enabled && token_shaped(&token) {
        state.signal.appointments(Request::Patient { token }).await
    } else {
        Some(Reply::Link(LinkRefusal::Unknown))
    };
    match reply {
        Some(Reply::Patient(view)) => Ok(view),
        Some(Reply::Link(LinkRefusal::Unknown)) => {
            guards.guesses.take(key, now);
            Err(Some(LinkRefusal::Unknown))
        }
        Some(Reply::Link(refusal)) => Err(Some(refusal)),
        // The actor is gone (closing): like an unknown link, not counted.
        _ => Err(Some(LinkRefusal::Unknown)),
    }
}

/// `GET /api/appointment/{token}`
pub async fn patient(
    State(state): State<AppState>,
    peer: Option<Extension<PeerIp>>,
    Path(token): Path<String>,
) -> Response {
    match patient_lookup(&state, &peer, token).await {
        Ok(view) => ok_json(StatusCode::OK, view),
        Err(Some(refusal)) => link_refused_json(refusal),
        Err(None) => too_many(),
    }
}

/// `GET /t/{token}`: the client app while the link works, else a page
/// (German and English, no script) that says why and what to do.
pub async fn link_page(
    State(state): State<AppState>,
    peer: Option<Extension<PeerIp>>,
    Path(token): Path<String>,
    request_headers: HeaderMap,
) -> Response {
    let practice =
        state.config.teletherapy.practice_name.clone().unwrap_or_else(|| state.config.client.app_name.clone());
    match patient_lookup(&state, &peer, token).await {
        Ok(_) => super::serve_asset("index.html", &request_headers),
        Err(Some(refusal)) => refusal_page(&practice, refusal),
        Err(None) => {
            let mut r = page(StatusCode::TOO_MANY_REQUESTS, &practice, "too_many_attempts", &too_many_text());
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            r
        }
    }
}

/// `GET /api/probe`: 256 KiB of bytes, never cached.
pub async fn probe(State(state): State<AppState>, peer: Option<Extension<PeerIp>>) -> Response {
    if !state.config.teletherapy.enabled {
        return off();
    }
    if !state.teletherapy.probes.take(state.teletherapy.key(&peer), Instant::now()) {
        return too_many();
    }
    static BYTES: [u8; PROBE_BYTES] = [0x5a; PROBE_BYTES];
    let mut r = ([(header::CONTENT_TYPE, "application/octet-stream")], &BYTES[..]).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Headline and text of a refusal page, German then English.
struct Text {
    de: (String, String),
    en: (String, String),
}

fn too_many_text() -> Text {
    Text {
        de: ("Zu viele Versuche".into(), "Bitte warten Sie eine Minute und versuchen Sie es dann erneut.".into()),
        en: ("Too many attempts".into(), "Please wait a minute, then try again.".into()),
    }
}

/// `2026-12-07 09:30 UTC`
fn utc(unix: i64) -> String {
    let (y, m, d) = crate::tls::civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", s / 3600, s % 3600 / 60)
}

fn refusal_page(practice: &str, refusal: LinkRefusal) -> Response {
    let contact_de = "Bitte wenden Sie sich an Ihre Praxis.";
    let contact_en = "Please contact your practice.";
    let text = match refusal {
        LinkRefusal::Unknown => Text {
            de: (
                "Dieser Termin-Link ist ungültig".into(),
                format!("Bitte prüfen Sie, ob Sie den ganzen Link geöffnet haben. {contact_de}"),
            ),
            en: (
                "This appointment link is not valid".into(),
                format!("Please check that you opened the complete link. {contact_en}"),
            ),
        },
        LinkRefusal::Revoked => Text {
            de: ("Dieser Termin-Link wurde von der Praxis zurückgezogen".into(), contact_de.into()),
            en: ("This appointment link was withdrawn by the practice".into(), contact_en.into()),
        },
        LinkRefusal::Expired => Text {
            de: (
                "Dieser Termin ist vorbei".into(),
                format!("Der Link funktioniert nicht mehr. Für einen neuen Termin: {contact_de}"),
            ),
            en: (
                "This appointment has ended".into(),
                format!("The link no longer works. For a new appointment: {contact_en}"),
            ),
        },
        LinkRefusal::NotYet { opens_at, start } => Text {
            de: (
                "Ihr Termin hat noch nicht begonnen".into(),
                format!(
                    "Ihr Termin ist am {}; der Link öffnet sich am {}. Bitte öffnen Sie ihn dann erneut. \
                     Bei Fragen: {contact_de}",
                    utc(start),
                    utc(opens_at)
                ),
            ),
            en: (
                "Your appointment has not started yet".into(),
                format!(
                    "Your appointment is on {}; the link opens at {}. Please open it again then. \
                     Questions: {contact_en}",
                    utc(start),
                    utc(opens_at)
                ),
            ),
        },
    };
    let (status, code) = refusal.status_and_code();
    let code = if code == "unknown_link" { "unknown" } else { code };
    page(StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND), practice, code, &text)
}

/// A small page in German and English with the site's own stylesheet.
fn page(status: StatusCode, practice: &str, reason: &str, text: &Text) -> Response {
    let practice = escape(practice);
    let body = format!(
        "<!doctype html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{practice}</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n</head>\n\
         <body>\n<main class=\"page appointment-refused\" id=\"appointment-refused\" data-reason=\"{reason}\">\n\
         <p class=\"practice\">{practice}</p>\n\
         <section lang=\"de\">\n<h1>{}</h1>\n<p>{}</p>\n</section>\n\
         <section lang=\"en\">\n<h2>{}</h2>\n<p>{}</p>\n</section>\n</main>\n</body>\n</html>\n",
        escape(&text.de.0),
        escape(&text.de.1),
        escape(&text.en.0),
        escape(&text.en.1),
    );
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills() {
        let b = Buckets::new(2, Duration::from_secs(10));
        let t = Instant::now();
        assert!(b.take(1, t) && b.take(1, t));
        assert!(!b.allows(1, t) && !b.take(1, t), "burst used up");
        assert!(b.allows(2, t), "another address is not affected");
        assert!(b.take(1, t + Duration::from_secs(10)), "one more after the refill time");
    }

    #[test]
    fn dates_are_written_in_utc() {
        assert_eq!(utc(1_796_630_400 + 5 * 60), "2026-12-07 08:05 UTC");
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
