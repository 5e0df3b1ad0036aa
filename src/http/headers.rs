//! Security headers on every HTTPS response.

use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::policy;

/// HSTS: two years, subdomains included.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";
/// Camera, microphone and screen capture for this origin only; nothing else.
pub const PERMISSIONS_POLICY: &str = "camera=(self), microphone=(self), display-capture=(self), \
     fullscreen=(self), autoplay=(self), geolocation=(), payment=(), usb=()";

/// Adds the headers every response carries and removes any that name software.
pub async fn add_security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy::csp_header()));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static(PERMISSIONS_POLICY));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    strip_server_headers(response).await
}

/// No `Server` or `X-Powered-By` header on any response.
pub async fn strip_server_headers(mut response: Response) -> Response {
    response.headers_mut().remove(header::SERVER);
    response.headers_mut().remove("x-powered-by");
    response
}

/// Marks a response as dynamic: never stored by any cache.
pub fn dynamic(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
