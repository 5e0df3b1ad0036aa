//! ARI (RFC 9773) from end to end, short of a CA that has it: Debian's
//! pebble (2.4) offers no `renewalInfo`, so these tests serve a small ACME
//! directory here over HTTPS (a CA made with rcgen, trusted through
//! `directory_ca_file` like a private CA). Kabine's real path runs against
//! it: [`client::AcmeHttp`] (TLS, HTTP/1.1), instant-acme's account creation
//! and `renewal_info`, [`Manager::refresh_ari`] with the certificate
//! identifier of the certificate served, the schedule, and the status file
//! `kabine audit` reads. What the CA answers is scripted per test: a
//! window, a window in the past, no ARI, a failing or malformed answer.
//!
//! Not covered here: an order that names the certificate it `replaces`
//! (it needs a CA that issues and has ARI), and the timing of `run`'s loop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::PrivateKeyDer;
use tokio::net::TcpListener;

use super::*;

const DAY: i64 = 86_400;

/// What the test CA answers to a renewal-information request.
#[derive(Debug, Clone)]
enum Answer {
    /// No `renewalInfo` in the directory: the CA has no ARI.
    NoAri,
    /// A suggested window (Unix seconds) with `Retry-After` in seconds.
    Window { start: i64, end: i64, retry_after: u64 },
    /// 500 with an ACME problem document.
    Fails,
    /// A window, but no `Retry-After` (RFC 9773 requires it).
    NoRetryAfter { start: i64, end: i64 },
    /// 200 with a body that is not renewal information.
    Garbage,
}

/// A small ACME CA on 127.0.0.1: directory, nonces, accounts and renewal
/// information, nothing else.
struct TestCa {
    directory: String,
    ca_file: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// "METHOD path" of every request, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kabine-acme-ari-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `unix` as RFC 3339, e.g. `2026-12-24T13:05:00Z`.
fn rfc3339(unix: i64) -> String {
    let (y, m, d) = crate::tls::civil_from_days(unix.div_euclid(DAY));
    let s = unix.rem_euclid(DAY);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

async fn start_ca(dir: &Path, answer: Answer) -> TestCa {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Kabine ARI test CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).expect("ca written");

    let server_key = rcgen::KeyPair::generate().expect("server key");
    let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("server params")
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(crate::tls::provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivateKeyDer::try_from(server_key.serialize_der()).expect("server key der"),
        )
        .expect("server tls");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let addr: SocketAddr = listener.local_addr().expect("address");
    let base = format!("https://{addr}");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let (base, answer, log) = (base.clone(), answer.clone(), Arc::clone(&log));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let response = respond(&base, &answer, &log, req.method(), req.uri().path());
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    TestCa { directory: format!("https://{addr}/dir"), ca_file, issuer, requests }
}

fn respond(
    base: &str,
    answer: &Answer,
    log: &Mutex<Vec<String>>,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    log.lock().expect("log").push(format!("{method} {path}"));
    let json = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("replay-nonce", "bm9uY2U")
            .body(Full::new(Bytes::from(body)))
            .expect("response")
    };
    match (method.as_str(), path) {
        ("GET", "/dir") => {
            let ari = match answer {
                Answer::NoAri => String::new(),
                _ => format!(r#","renewalInfo":"{base}/renewal-info""#),
            };
            json(
                StatusCode::OK,
                format!(
                    r#"{{"newNonce":"{base}/nonce","newAccount":"{base}/account","newOrder":"{base}/order"{ari}}}"#
                ),
            )
        }
        ("HEAD", "/nonce") => json(StatusCode::OK, String::new()),
        ("POST", "/account") => {
            let mut r = json(StatusCode::CREATED, r#"{"status":"valid"}"#.into());
            r.headers_mut().insert("location", format!("{base}/account/1").parse().expect("header"));
            r
        }
        ("GET", p) if p.starts_with("/renewal-info/") => {
            let window = |start: i64, end: i64| {
                format!(r#"{{"suggestedWindow":{{"start":"{}","end":"{}"}}}}"#, rfc3339(start), rfc3339(end))
            };
            match answer {
                Answer::Window { start, end, retry_after } => {
                    let mut r = json(StatusCode::OK, window(*start, *end));
                    r.headers_mut().insert("retry-after", retry_after.to_string().parse().expect("header"));
                    r
                }
                Answer::NoRetryAfter { start, end } => json(StatusCode::OK, window(*start, *end)),
                Answer::Garbage => {
                    let mut r = json(StatusCode::OK, r#"{"suggestedWindow":"soon"}"#.into());
                    r.headers_mut().insert("retry-after", "3600".parse().expect("header"));
                    r
                }
                Answer::Fails | Answer::NoAri => json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"type":"urn:ietf:params:acme:error:serverInternal","detail":"down"}"#.into(),
                ),
            }
        }
        _ => json(StatusCode::NOT_FOUND, r#"{"type":"about:blank","detail":"not here"}"#.into()),
    }
}

/// A certificate from the test CA for `meet.example.org`, valid from
/// `not_before` to `not_after` (whole days), as the server would serve it.
fn served_certificate(ca: &TestCa, not_before: i64, not_after: i64) -> Arc<CertifiedKey> {
    let day = |unix: i64| {
        let (y, m, d) = crate::tls::civil_from_days(unix.div_euclid(DAY));
        rcgen::date_time_ymd(y, m, d)
    };
    let mut params = rcgen::CertificateParams::new(vec!["meet.example.org".to_string()]).expect("params");
    params.not_before = day(not_before);
    params.not_after = day(not_after);
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x0a, 0xbc, 0xde, 0xf1]));
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca.issuer).expect("cert");
    let key_der = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
    Arc::new(CertifiedKey::from_der(vec![cert.der().clone()], key_der, &crate::tls::provider()).expect("certified"))
}

/// A manager for `ca`, serving `served`, as `spawn` makes it.
fn manager(ca: &TestCa, dir: &Path, served: &CertifiedKey) -> Manager {
    let settings = Settings {
        domains: vec!["meet.example.org".into()],
        contact: None,
        directory: ca.directory.clone(),
        directory_ca_file: Some(ca.ca_file.clone()),
        state_directory: dir.join("acme"),
        challenge: AcmeChallenge::TlsAlpn01,
        http01_listener: false,
    };
    let state = StateDir::open(&settings.state_directory).expect("state dir");
    let certs = Arc::new(CertStore::self_signed(&settings.domains).expect("cert store"));
    Manager {
        http: client::AcmeHttp::new(Some(&ca.ca_file)).expect("client"),
        status: Status { directory: ca.directory.clone(), domains: settings.domains.clone(), ..Status::default() },
        settings,
        state,
        certs,
        tokens: Arc::default(),
        account: None,
        current: Some(Current::of(served).expect("the served certificate is readable")),
        ari: Ari { random: 0.5, ..Ari::default() },
        attempts: 0,
        counters: Arc::default(),
    }
}

/// The renewal-information requests the CA saw.
fn ari_requests(ca: &TestCa) -> Vec<String> {
    ca.requests.lock().expect("log").iter().filter(|r| r.contains("/renewal-info")).cloned().collect()
}

#[tokio::test]
async fn the_cas_window_sets_renewal_inside_it_and_the_status_says_ari() {
    let dir = scratch("window");
    let now = unix_now();
    // Two thirds of this lifetime is 50 days from now; the CA wants it sooner.
    let (start, end) = (now + 20 * DAY, now + 22 * DAY);
    let ca = start_ca(&dir, Answer::Window { start, end, retry_after: 6 * 3600 }).await;
    let served = served_certificate(&ca, now - 10 * DAY, now + 80 * DAY);
    let mut m = manager(&ca, &dir, &served);
    let two_thirds = m.current.as_ref().expect("current").validity.two_thirds();
    assert!(two_thirds > end, "the test's window must differ from the fallback");

    m.refresh_ari(now).await;

    let expected_id = CertificateIdentifier::try_from(&served.cert[0]).expect("ARI id").to_string();
    assert_eq!(ari_requests(&ca), vec![format!("GET /renewal-info/{expected_id}")], "asked about the served one");
    assert_eq!(m.ari.supported, Some(true));
    assert_eq!(m.status.renewal_basis.as_deref(), Some("ari"));
    let due = m.status.renewal_due.expect("a renewal time");
    assert!((start..=end).contains(&due), "renewal at {due} is outside the window {start}..{end}");
    assert_eq!(due, start + DAY, "the point chosen by `random` (0.5) in the window");
    assert_eq!(m.due(now), (due, Some(Basis::Ari)), "the task's schedule agrees with the status");
    // Asked again after the CA's Retry-After, 6 h (a second either way: the
    // hint is counted from the answer, rounded down; a loaded machine may take a while).
    let recheck = m.ari.recheck_at - now;
    assert!((6 * 3600 - 2..=6 * 3600 + 60).contains(&recheck), "asked again in {recheck} s");
    let stored = m.state.status().expect("the status file is written");
    assert_eq!(stored.renewal_basis.as_deref(), Some("ari"));
    assert_eq!(stored.renewal_due, Some(due));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_window_in_the_past_means_renew_now() {
    let dir = scratch("past");
    let now = unix_now();
    // The CA moved the window into the past (e.g. it will revoke the certificate).
    let ca = start_ca(&dir, Answer::Window { start: now - 2 * DAY, end: now - DAY, retry_after: 3600 }).await;
    let served = served_certificate(&ca, now - 10 * DAY, now + 80 * DAY);
    let mut m = manager(&ca, &dir, &served);

    m.refresh_ari(now).await;

    assert_eq!(m.status.renewal_basis.as_deref(), Some("ari"));
    let (due, basis) = m.due(unix_now());
    assert_eq!(basis, Some(Basis::Ari));
    assert!(due <= now, "a window in the past must mean at once, not {} s from now", due - now);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_ca_without_ari_means_two_thirds_and_is_not_asked_again() {
    let dir = scratch("none");
    let now = unix_now();
    let ca = start_ca(&dir, Answer::NoAri).await;
    let served = served_certificate(&ca, now - 10 * DAY, now + 80 * DAY);
    let mut m = manager(&ca, &dir, &served);
    let two_thirds = m.current.as_ref().expect("current").validity.two_thirds();

    m.refresh_ari(now).await;

    assert!(ari_requests(&ca).is_empty());
    assert_eq!(m.ari.supported, Some(false), "the task stops asking a CA without ARI");
    assert_eq!(m.status.renewal_basis.as_deref(), Some("two-thirds"));
    assert_eq!(m.status.renewal_due, Some(two_thirds));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_failed_or_malformed_answer_means_two_thirds_and_asking_again_in_an_hour() {
    let now = unix_now();
    for (name, answer) in [
        ("fails", Answer::Fails),
        ("no-retry-after", Answer::NoRetryAfter { start: now + 20 * DAY, end: now + 22 * DAY }),
        ("garbage", Answer::Garbage),
    ] {
        let dir = scratch(name);
        let ca = start_ca(&dir, answer).await;
        let served = served_certificate(&ca, now - 10 * DAY, now + 80 * DAY);
        let mut m = manager(&ca, &dir, &served);
        let two_thirds = m.current.as_ref().expect("current").validity.two_thirds();

        m.refresh_ari(now).await;

        assert_eq!(ari_requests(&ca).len(), 1, "{name}: asked once");
        assert_eq!(m.ari.supported, None, "{name}: one bad answer does not mean the CA has no ARI");
        assert_eq!(m.status.renewal_basis.as_deref(), Some("two-thirds"), "{name}");
        assert_eq!(m.status.renewal_due, Some(two_thirds), "{name}");
        assert_eq!(m.ari.recheck_at, now + 3600, "{name}: asked again in an hour");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
