//! Every HTTPS response carries the security headers, and nothing names the
//! software; TRACE and directory listings do not exist.

use reqwest::StatusCode;

use crate::support;

const EXPECTED: &[(&str, &str)] = &[
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-opener-policy", "same-origin"),
];

fn assert_security_headers(path: &str, r: &reqwest::Response) {
    let h = r.headers();
    for (name, value) in EXPECTED {
        assert_eq!(h.get(*name).and_then(|v| v.to_str().ok()), Some(*value), "{path}: {name}");
    }
    let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).expect("CSP present");
    for part in ["default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{path}: CSP lacks {part}: {csp}");
    }
    assert!(
        !csp.contains("http:") && !csp.contains("https:") && !csp.contains('*'),
        "{path}: CSP names another origin: {csp}"
    );
    let pp = h.get("permissions-policy").and_then(|v| v.to_str().ok()).expect("Permissions-Policy present");
    for part in ["camera=(self)", "microphone=(self)", "display-capture=(self)"] {
        assert!(pp.contains(part), "{path}: {pp}");
    }
    assert!(h.get("server").is_none(), "{path}: Server header present");
    assert!(h.get("x-powered-by").is_none(), "{path}: X-Powered-By present");
}

#[tokio::test]
async fn every_response_has_the_security_headers() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let base = support::base_url(&server);
    let client = support::https_client();
    for (path, status) in [
        ("/", StatusCode::OK),
        ("/health", StatusCode::OK),
        ("/static/app.js", StatusCode::OK),
        ("/some-room", StatusCode::OK),
        ("/static/", StatusCode::NOT_FOUND),
        ("/static/..%2FCargo.toml", StatusCode::NOT_FOUND),
        ("/static/%2e%2e%2fCargo.toml", StatusCode::NOT_FOUND),
        ("/no/such/thing", StatusCode::NOT_FOUND),
        ("/api/client-config", StatusCode::OK),
    ] {
        let r = client.get(format!("{base}{path}")).send().await.expect("request");
        assert_eq!(r.status(), status, "{path}");
        assert_security_headers(path, &r);
    }
    for path in ["/health", "/api/client-config"] {
        let r = client.get(format!("{base}{path}")).send().await.expect("request");
        assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"), "{path}");
    }
    let health: serde_json::Value =
        client.get(format!("{base}/health")).send().await.expect("request").json().await.expect("json");
    assert_eq!(health, serde_json::json!({"status": "ok"}));
    assert!(server.stop().await);
}

#[tokio::test]
async fn trace_is_not_allowed() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let base = support::base_url(&server);
    let client = support::https_client();
    let r = client.request(reqwest::Method::TRACE, format!("{base}/")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers("TRACE /", &r);
    let r = client.request(reqwest::Method::TRACE, format!("{base}/health")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(server.stop().await);
}

#[tokio::test]
async fn plain_http_only_redirects_to_the_public_url() {
    let _t = support::test();
    let mut config = support::test_config();
    config.server.public_url = Some("https://meet.praxis-beispiel.de".into());
    config.server.http_redirect_listen = Some("127.0.0.1:0".parse().expect("literal"));
    let server = support::start(config).await;
    let addr = server.redirect_addr().expect("redirect listener");
    let r = support::https_client().get(format!("http://{addr}/raum-1?x=1")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("https://meet.praxis-beispiel.de/raum-1?x=1")
    );
    assert!(r.headers().get("server").is_none());
    assert!(server.stop().await);
}

#[tokio::test]
async fn certificate_files_are_reloaded_when_they_change() {
    let _t = support::test();
    let dir = support::output_dir("cert-reload");
    let write = |cn: &str| {
        let c = rcgen::generate_simple_self_signed(vec![cn.to_string()]).expect("cert");
        std::fs::write(dir.join("cert.pem"), c.cert.pem()).expect("write cert");
        std::fs::write(dir.join("key.pem"), c.signing_key.serialize_pem()).expect("write key");
        c.cert.der().to_vec()
    };
    let first = write("first.example.org");
    let mut config = support::test_config();
    config.tls.cert_file = Some(dir.join("cert.pem"));
    config.tls.key_file = Some(dir.join("key.pem"));
    let server = support::start(config).await;
    let addr = kabine::http::reachable(server.https_addr());
    assert_eq!(peer_cert(addr).await, first);
    // mtime has 1 s granularity on some file systems.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = write("second.example.org");
    let deadline = std::time::Instant::now() + kabine::tls::RELOAD_INTERVAL * 3;
    loop {
        if peer_cert(addr).await == second {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "new certificate not served after reload interval");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(server.stop().await);
}

async fn peer_cert(addr: std::net::SocketAddr) -> Vec<u8> {
    let connector = tokio_rustls::TlsConnector::from(support::insecure_tls());
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    tls.get_ref().1.peer_certificates().expect("certs")[0].to_vec()
}
