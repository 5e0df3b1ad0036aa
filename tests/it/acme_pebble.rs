//! Certificates from a real ACME CA (Debian's pebble, validating for real
//! through its own DNS on loopback): TLS-ALPN-01 on the HTTPS listener,
//! HTTP-01 on the redirect listener, the chain served as pebble issued it,
//! kept across a restart, and renewed without dropping an open WebSocket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kabine::config::{AcmeChallenge, AcmeConfig, Config};
use kabine::protocol::ServerMsg;
use kabine::server::RunningServer;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::support::{self, pebble::Pebble};

/// pebble's DNS answers 127.0.0.1 for every name.
const DOMAIN: &str = "meet.kabine.test";

fn acme_config(pebble: &Pebble, state: &Path, challenge: AcmeChallenge) -> Config {
    let mut c = support::test_config();
    c.tls.acme = Some(AcmeConfig {
        domains: vec![DOMAIN.into()],
        contact: Some("mailto:it@kabine.test".into()),
        directory: pebble.directory_url(),
        directory_ca_file: Some(pebble.api_ca_file()),
        challenge,
        state_directory: state.to_path_buf(),
    });
    c
}

/// Waits until the server has obtained `n` certificates; the time it took.
async fn obtained(server: &RunningServer, n: u64, timeout: Duration, pebble: &Pebble) -> Duration {
    let started = Instant::now();
    let counters = Arc::clone(&server.acme().expect("ACME runs").counters);
    let done = support::eventually(timeout, || counters.certificates_obtained.load(Ordering::Relaxed) >= n).await;
    assert!(
        done,
        "no certificate number {n} within {timeout:?}; failures: {}; Kabine: {}\npebble: {}",
        counters.failures.load(Ordering::Relaxed),
        support::captured_lines(&["ACME"]),
        pebble.log()
    );
    started.elapsed()
}

/// The chain the server presents for `name`, verified against `client`'s roots.
async fn served_chain(
    addr: SocketAddr,
    client: Arc<rustls::ClientConfig>,
    name: &str,
) -> std::io::Result<Vec<CertificateDer<'static>>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string()).map_err(std::io::Error::other)?;
    let tls = tokio_rustls::TlsConnector::from(client).connect(name, tcp).await?;
    Ok(tls.get_ref().1.peer_certificates().unwrap_or_default().iter().map(|c| c.clone().into_owned()).collect())
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn status(state: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(state.join("status.json")).expect("status written");
    serde_json::from_str(&text).expect("status is JSON")
}

#[tokio::test]
async fn tls_alpn_01_certificate_from_pebble_is_served_kept_and_never_shown_to_a_validator() {
    let _t = support::test();
    let pebble = Pebble::start("tls-alpn", Duration::from_secs(90 * 86_400));
    let state: PathBuf = support::output_dir("acme-tls-alpn").join("acme");
    let mut config = acme_config(&pebble, &state, AcmeChallenge::TlsAlpn01);
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], pebble.tls_alpn_port));

    let server = support::start(config.clone()).await;
    let took = obtained(&server, 1, Duration::from_secs(30), &pebble).await;
    eprintln!("ACME TLS-ALPN-01: certificate from pebble after {} ms", took.as_millis());

    // The handshake shows pebble's chain: leaf and intermediate, trusted
    // through pebble's issuing root and valid for the domain.
    let chain = served_chain(server.https_addr(), pebble.client_trusting_issued(), DOMAIN)
        .await
        .expect("the served chain verifies against pebble's root");
    assert!(chain.len() >= 2, "leaf and pebble's intermediate, got {} certificate(s)", chain.len());

    // State on disk: private directory, private files, a clean status.
    assert_eq!(mode(&state), 0o700);
    for f in ["account.json", "certificate.pem", "certificate.key", "status.json"] {
        assert_eq!(mode(&state.join(f)), 0o600, "{f}");
    }
    let s = status(&state);
    assert!(s["last_error"].is_null(), "{s}");
    assert_eq!(s["renewal_basis"], "two-thirds", "pebble 2.4 offers no ARI: {s}");
    assert_eq!(s["consecutive_failures"], 0);

    // A validator asking for acme-tls/1 with no challenge pending gets no certificate at all.
    let mut validator = (*pebble.client_trusting_issued()).clone();
    validator.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    assert!(served_chain(server.https_addr(), Arc::new(validator), DOMAIN).await.is_err());
    assert!(server.stop().await);

    // A restart serves the stored certificate at once and asks the CA for nothing.
    let again = support::start(config).await;
    let chain_again =
        served_chain(again.https_addr(), pebble.client_trusting_issued(), DOMAIN).await.expect("stored chain served");
    assert_eq!(chain_again[0], chain[0]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counters = &again.acme().expect("ACME runs").counters;
    assert_eq!(counters.certificates_obtained.load(Ordering::Relaxed), 0, "no new order after a restart");
    assert_eq!(counters.failures.load(Ordering::Relaxed), 0);
    assert!(again.stop().await);
}

#[tokio::test]
async fn http_01_certificate_from_pebble_through_the_redirect_listener() {
    let _t = support::test();
    let pebble = Pebble::start("http01", Duration::from_secs(90 * 86_400));
    let state = support::output_dir("acme-http01").join("acme");
    let mut config = acme_config(&pebble, &state, AcmeChallenge::Http01);
    config.server.listen = "127.0.0.1:0".parse().expect("literal");
    config.server.http_redirect_listen = Some(SocketAddr::from(([127, 0, 0, 1], pebble.http01_port)));
    config.server.public_url = Some(format!("https://{DOMAIN}"));

    let server = support::start(config).await;
    let took = obtained(&server, 1, Duration::from_secs(30), &pebble).await;
    eprintln!("ACME HTTP-01: certificate from pebble after {} ms", took.as_millis());
    let chain = served_chain(server.https_addr(), pebble.client_trusting_issued(), DOMAIN)
        .await
        .expect("the served chain verifies against pebble's root");
    assert!(chain.len() >= 2);

    // The redirect listener still redirects, and answers no stale token.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let base = format!("http://127.0.0.1:{}", pebble.http01_port);
    let r = client.get(format!("{base}/room")).send().await.expect("request");
    assert_eq!(r.status(), reqwest::StatusCode::PERMANENT_REDIRECT);
    let r = client.get(format!("{base}/.well-known/acme-challenge/x")).send().await.expect("request");
    assert_eq!(r.status(), reqwest::StatusCode::PERMANENT_REDIRECT, "no challenge pending");
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_short_lived_certificate_is_renewed_and_swapped_without_dropping_an_open_websocket() {
    let _t = support::test();
    // 24 s certificates: renewal is due two thirds in, after 16 s.
    let pebble = Pebble::start("renewal", Duration::from_secs(24));
    let state = support::output_dir("acme-renewal").join("acme");
    let mut config = acme_config(&pebble, &state, AcmeChallenge::TlsAlpn01);
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], pebble.tls_alpn_port));

    let server = support::start(config).await;
    obtained(&server, 1, Duration::from_secs(30), &pebble).await;
    let first = served_chain(server.https_addr(), pebble.client_trusting_issued(), DOMAIN).await.expect("first chain");

    // A participant connected over the first certificate's TLS session.
    let (mut ws, _) = support::ws_join(&server, "renewal-room", "Erste").await;
    let renewal_started = Instant::now();
    let counters = Arc::clone(&server.acme().expect("ACME runs").counters);
    while counters.certificates_obtained.load(Ordering::Relaxed) < 2 {
        assert!(
            renewal_started.elapsed() < Duration::from_secs(40),
            "no renewal within 40 s: {}\npebble: {}",
            support::captured_lines(&["ACME"]),
            pebble.log()
        );
        // Keep reading, as a browser does (answers the server's pings).
        support::ws_drain(&mut ws, 250).await;
    }
    eprintln!("ACME renewal of a 24 s certificate: {} ms after the first", renewal_started.elapsed().as_millis());

    // New handshakes get the new certificate, still pebble's chain...
    let second = served_chain(server.https_addr(), pebble.client_trusting_issued(), DOMAIN).await.expect("new chain");
    assert_ne!(first[0], second[0], "the renewed certificate is served without a restart");
    // ...and the connection opened before the swap still carries signalling.
    let (_ws2, id2) = support::ws_join(&server, "renewal-room", "Zweite").await;
    let joined = support::ws_until(&mut ws, |m| matches!(m, ServerMsg::ParticipantJoined { .. })).await;
    assert!(joined.is_some(), "the WebSocket opened before the renewal no longer works (second participant {id2})");
    let s = status(&state);
    assert!(s["last_error"].is_null(), "{s}");
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_failed_renewal_is_a_warning_and_fails_the_audit_long_before_expiry() {
    let _t = support::test();
    let pebble = Pebble::start("failing", Duration::from_secs(90 * 86_400));
    let dir = support::output_dir("acme-failing");
    let state = dir.join("acme");
    let mut config = acme_config(&pebble, &state, AcmeChallenge::TlsAlpn01);
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], pebble.tls_alpn_port));
    let config_file = support::audit::write_config(
        &dir,
        &format!(
            "[tls.acme]\ndomains = [\"{DOMAIN}\"]\ndirectory = \"{}\"\nstate_directory = \"{}\"\n",
            pebble.directory_url(),
            state.display()
        ),
    );
    let audit_args: Vec<String> =
        vec!["--config".into(), config_file.display().to_string(), "--only".into(), "static.tls".into()];
    let audit_acme = || support::audit::audit(&dir, &audit_args);

    let server = support::start(config).await;
    obtained(&server, 1, Duration::from_secs(30), &pebble).await;
    let ok = audit_acme().await;
    assert_eq!(ok.status("static.tls.acme"), "pass", "{}", ok.explain("static.tls.acme"));
    assert_eq!(ok.status("static.tls.certificate-files"), "pass", "{}", ok.explain("static.tls.certificate-files"));
    let ca = ok.explain("static.tls.acme");
    assert!(ca.contains("127.0.0.1") || ca.contains("unknown to Kabine"), "the CA is named: {ca}");

    // The CA goes away; a renewal now fails, 90 days before the certificate ends.
    drop(pebble);
    let acme = server.acme().expect("ACME runs").clone();
    acme.renew_now();
    let failed =
        support::eventually(Duration::from_secs(20), || acme.counters.failures.load(Ordering::Relaxed) >= 1).await;
    assert!(failed, "the renewal did not fail: {}", support::captured_lines(&["ACME"]));
    let warning = support::captured_lines(&["ACME: obtaining a certificate"]);
    assert!(warning.contains("WARN") && warning.contains(DOMAIN), "a WARNING line names the failure: {warning}");
    let s = status(&state);
    assert_eq!(s["consecutive_failures"], 1, "{s}");
    assert!(s["last_error"].is_string(), "{s}");

    let failing = audit_acme().await;
    assert_eq!(failing.code, 1, "{}", failing.stderr);
    assert_eq!(failing.status("static.tls.acme"), "fail", "{}", failing.explain("static.tls.acme"));
    assert!(failing.stderr.contains("FAIL static.tls.acme"), "{}", failing.stderr);
    // The certificate itself is still fine: only the renewal check fails.
    assert_eq!(failing.status("static.tls.certificate-files"), "pass");
    assert!(server.stop().await);
}
