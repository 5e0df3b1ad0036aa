//! The accounts API: login, logout, password change, and who is logged in.
//!
//! JSON in and out. Every error is one [`ApiError`] with a stable `error`
//! code the client translates, and an English `message`. User mistakes are
//! answered, never logged. The session lives in a `__Host-` cookie
//! (HttpOnly, Secure, SameSite=Strict, Path=/, no Domain); POSTs must come
//! from this origin (the `Origin` header is checked), which together with
//! SameSite=Strict and the JSON content type rules out cross-site requests.
//!
//! | route                | body                       | answer |
//! |----------------------|----------------------------|--------|
//! | `POST /api/login`    | `{"username","password"}`  | 200 session, sets the cookie; 401 `login_failed`; 429 `too_many_attempts`; 503 |
//! | `POST /api/logout`   | none                       | 204, clears the cookie; the session ends on the server |
//! | `POST /api/password` | `{"current","new"}`        | 200 session with a new cookie; 401/403/409/422/429 |
//! | `GET /api/session`   |                            | 200 session (`user` is null when logged out) |

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{AppState, PeerIp, headers};
use crate::auth::password::{self, Password, Weakness};
use crate::auth::session::{AccountKind, Identity, SessionToken};
use crate::auth::throttle::RetryAfter;
use crate::auth::{LoginError, PasswordChangeError};
use crate::config::AccessMode;

/// The session cookie. The `__Host-` prefix makes browsers insist on
/// Secure, Path=/ and no Domain, so no other host can set or read it.
pub const SESSION_COOKIE: &str = "__Host-kabine_session";
/// Largest request body the API reads.
pub const MAX_BODY: usize = 16 * 1024;

/// Every way an API request can fail.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(&'static str),
    UnsupportedMediaType,
    ForbiddenOrigin,
    LoginFailed,
    TooManyAttempts(RetryAfter),
    DirectoryUnavailable,
    Busy,
    NotLoggedIn,
    WrongPassword,
    WeakPassword(Weakness),
    NotLocalAccount,
    Conflict,
    Storage,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use ApiError::*;
        let (status, code, message): (StatusCode, &str, String) = match &self {
            BadRequest(why) => (StatusCode::BAD_REQUEST, "bad_request", (*why).to_string()),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_request",
                "Send JSON (Content-Type: application/json).".into(),
            ),
            ForbiddenOrigin => {
                (StatusCode::FORBIDDEN, "forbidden_origin", "This request must come from this site's own pages.".into())
            }
            LoginFailed => (StatusCode::UNAUTHORIZED, "login_failed", "Wrong user name or password.".into()),
            TooManyAttempts(r) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("Too many failed attempts. Try again in {} minute(s).", r.secs().div_ceil(60)),
            ),
            DirectoryUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "directory_unavailable",
                "The user directory cannot be reached. Try again later.".into(),
            ),
            Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy", "The server is busy. Try again in a moment.".into()),
            NotLoggedIn => (StatusCode::UNAUTHORIZED, "not_logged_in", "Log in first.".into()),
            WrongPassword => (StatusCode::FORBIDDEN, "wrong_password", "The current password is wrong.".into()),
            WeakPassword(w) => (StatusCode::UNPROCESSABLE_ENTITY, "weak_password", capitalize(&w.to_string())),
            NotLocalAccount => (
                StatusCode::CONFLICT,
                "not_local_account",
                "This account belongs to the organisation's directory; change the password there.".into(),
            ),
            Conflict => (
                StatusCode::CONFLICT,
                "conflict",
                "The account was changed at the same time. Log in again and retry.".into(),
            ),
            Storage => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The password could not be saved. Please tell the administrator.".into(),
            ),
        };
        let mut body = json!({ "error": code, "message": message });
        if let TooManyAttempts(r) = &self {
            body["retry_after_secs"] = json!(r.secs());
        }
        if let WeakPassword(w) = &self {
            body["reason"] = json!(w.code());
            body["min_chars"] = json!(password::MIN_CHARS);
            body["recommended_chars"] = json!(password::RECOMMENDED_CHARS);
        }
        let mut response = headers::dynamic((status, axum::Json(body)).into_response());
        if let TooManyAttempts(r) = &self
            && let Ok(v) = HeaderValue::from_str(&r.secs().to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: Password,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    current: Password,
    new: Password,
}

/// The session answer: the access mode and who is logged in.
pub fn session_body(mode: AccessMode, identity: Option<&Identity>, idle_secs: u64) -> serde_json::Value {
    let user = identity.map(|i| {
        json!({
            "username": i.username,
            "display_name": i.display_name,
            "may_host": i.may_host,
            "account": match i.kind { AccountKind::Local { .. } => "local", AccountKind::Directory => "directory" },
            "can_change_password": matches!(i.kind, AccountKind::Local { .. }),
        })
    });
    json!({ "access_mode": mode.as_str(), "user": user, "idle_timeout_secs": idle_secs })
}

/// The session token in the request's cookies, if any.
pub fn session_token(request_headers: &HeaderMap) -> Option<SessionToken> {
    request_headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .and_then(|(_, value)| SessionToken::from_hex(value.trim()))
}

/// Who the request's session belongs to (counts as use of the session).
/// The room layer calls this on the WebSocket upgrade.
pub fn current_identity(state: &AppState, request_headers: &HeaderMap) -> Option<Identity> {
    session_token(request_headers).and_then(|t| state.auth.session(&t))
}

fn set_cookie(token: &SessionToken) -> HeaderValue {
    let v = format!("{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict", token.to_hex());
    // Hex digits and fixed ASCII only.
    HeaderValue::from_str(&v).expect("cookie of hex digits is a valid header value")
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-kabine_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// POSTs must carry this site's Origin (or, without one, a same-origin
/// `Sec-Fetch-Site`). The site is `server.public_url`, or in the demo the
/// host the browser used; the comparison is the WebSocket handshake's
/// ([`super::ws::origin_allowed`]).
pub(super) fn check_origin(state: &AppState, request_headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let Some(origin) = request_headers.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("")) else {
        let same = request_headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("same-origin");
        return if same { Ok(()) } else { Err(ApiError::ForbiddenOrigin) };
    };
    let host = request_headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()));
    if super::ws::origin_allowed(Some(origin), state.config.server.public_url.as_deref(), host.as_deref()) {
        Ok(())
    } else {
        Err(ApiError::ForbiddenOrigin)
    }
}

pub(super) fn parse_json<T: for<'de> Deserialize<'de>>(
    request_headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    let json = request_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    serde_json::from_slice(body).map_err(|_| ApiError::BadRequest("The request is not the JSON this API expects."))
}

fn source(peer: Option<Extension<PeerIp>>) -> Option<std::net::IpAddr> {
    peer.map(|Extension(PeerIp(ip))| ip)
}

fn session_response(state: &AppState, identity: &Identity, token: &SessionToken) -> Response {
    let idle = state.auth.session_timeouts().0.as_secs();
    let mut response =
        headers::dynamic(axum::Json(session_body(state.auth.mode(), Some(identity), idle)).into_response());
    response.headers_mut().insert(header::SET_COOKIE, set_cookie(token));
    response
}

/// `POST /api/login`
pub async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<PeerIp>>,
    uri: Uri,
    request_headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_origin(&state, &request_headers, &uri)?;
    let req: LoginRequest = parse_json(&request_headers, &body)?;
    let (token, identity) =
        state.auth.login(&req.username, &req.password, source(peer)).await.map_err(|e| match e {
            LoginError::Failed => ApiError::LoginFailed,
            LoginError::Throttled(r) => ApiError::TooManyAttempts(r),
            LoginError::DirectoryUnavailable => ApiError::DirectoryUnavailable,
            LoginError::Busy => ApiError::Busy,
        })?;
    // A new login replaces whatever session the browser had.
    if let Some(old) = session_token(&request_headers) {
        state.auth.logout(&old);
    }
    Ok(session_response(&state, &identity, &token))
}

/// `POST /api/logout`
pub async fn logout(State(state): State<AppState>, uri: Uri, request_headers: HeaderMap) -> Result<Response, ApiError> {
    check_origin(&state, &request_headers, &uri)?;
    if let Some(token) = session_token(&request_headers) {
        state.auth.logout(&token);
    }
    let mut response = headers::dynamic(StatusCode::NO_CONTENT.into_response());
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    Ok(response)
}

/// `POST /api/password`
pub async fn change_password(
    State(state): State<AppState>,
    peer: Option<Extension<PeerIp>>,
    uri: Uri,
    request_headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_origin(&state, &request_headers, &uri)?;
    let token = session_token(&request_headers).ok_or(ApiError::NotLoggedIn)?;
    let req: PasswordRequest = parse_json(&request_headers, &body)?;
    let (token, identity) =
        state.auth.change_password(&token, &req.current, &req.new, source(peer)).await.map_err(|e| match e {
            PasswordChangeError::NotLoggedIn => ApiError::NotLoggedIn,
            PasswordChangeError::NotLocal => ApiError::NotLocalAccount,
            PasswordChangeError::WrongPassword => ApiError::WrongPassword,
            PasswordChangeError::Weak(w) => ApiError::WeakPassword(w),
            PasswordChangeError::Throttled(r) => ApiError::TooManyAttempts(r),
            PasswordChangeError::Busy => ApiError::Busy,
            PasswordChangeError::Conflict => ApiError::Conflict,
            PasswordChangeError::Storage => ApiError::Storage,
        })?;
    Ok(session_response(&state, &identity, &token))
}

/// `GET /api/session`
pub async fn session(State(state): State<AppState>, request_headers: HeaderMap) -> Response {
    let identity = current_identity(&state, &request_headers);
    let idle = state.auth.session_timeouts().0.as_secs();
    headers::dynamic(axum::Json(session_body(state.auth.mode(), identity.as_ref(), idle)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let tok = SessionToken::random();
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=b; theme=dark"));
        h.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {SESSION_COOKIE}={}; y=2", tok.to_hex())).expect("ascii"),
        );
        assert_eq!(session_token(&h), Some(tok));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("__Host-kabine_session=nothex"));
        assert_eq!(session_token(&h), None);
    }

    #[test]
    fn the_cookie_has_every_attribute() {
        let v = set_cookie(&SessionToken::random());
        let s = v.to_str().expect("ascii");
        for part in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(s.split("; ").any(|p| p == part), "{s}");
        }
        assert!(!s.contains("Domain"), "{s}");
    }
}
