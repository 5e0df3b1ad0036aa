//! The TLS checks of `kabine audit` can fail: OpenSSL's test server with
//! TLS 1.1 or a CBC suite enabled (rustls cannot be weakened that way), and
//! Kabine's own TLS listener with an untrusted, misnamed or expiring
//! certificate from a test CA.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::{self, audit};

/// An `openssl s_server` on loopback, killed when dropped.
struct OpenSsl {
    child: Child,
    url: String,
}

impl Drop for OpenSsl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `openssl s_server` with `flags` and an RSA certificate made by openssl.
async fn openssl_server(dir: &Path, flags: &[&str]) -> OpenSsl {
    let openssl = support::require_tool("openssl", "openssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new(&openssl)
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl req runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let child = Command::new(&openssl)
        .args(["s_server", "-quiet", "-www", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let server = OpenSsl { child, url: format!("https://127.0.0.1:{port}") };
    support::wait_for_tcp(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_accepting_tls_1_1_fails_the_version_check() {
    let _t = support::test();
    let dir = support::output_dir("audit-tls/tls11");
    let server = openssl_server(&dir, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]).await;
    let config = audit::write_config(&dir, "");
    let run = audit::audit(&dir, &audit::args(&config, &server.url, &["--only", "live.tls.versions"])).await;
    assert_eq!(run.status("live.tls.versions"), "fail", "{}", run.explain("live.tls.versions"));
    let why = run.explain("live.tls.versions");
    assert!(why.contains("TLS 1.1: accepted"), "{why}");
    assert!(why.contains("SSL 3.0: refused") && why.contains("TLS 1.3: refused"), "{why}");
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cbc_suite_fails_only_the_cipher_suite_check() {
    let _t = support::test();
    let dir = support::output_dir("audit-tls/cbc");
    let server = openssl_server(&dir, &["-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA"]).await;
    let config = audit::write_config(&dir, "");
    let run = audit::audit(
        &dir,
        &audit::args(&config, &server.url, &["--only", "live.tls.versions", "--only", "live.tls.cipher-suites"]),
    )
    .await;
    assert_eq!(run.status("live.tls.versions"), "pass", "{}", run.explain("live.tls.versions"));
    assert_eq!(run.status("live.tls.cipher-suites"), "fail", "{}", run.explain("live.tls.cipher-suites"));
    let why = run.explain("live.tls.cipher-suites");
    assert!(why.contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA` — forward-secret, NOT AEAD"), "{why}");
    assert!(why.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` — forward-secret, AEAD"), "{why}");
    assert_eq!(run.code, 1);
}

/// A test CA and a leaf signed by it, written as PEM files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &Path, names: &[&str], valid_days: i64) -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Kabine test CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let mut leaf =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("leaf");
    leaf.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() as i64;
    let ymd = |secs: i64| {
        let t = time_from(secs);
        rcgen::date_time_ymd(t.0, t.1, t.2)
    };
    leaf.not_before = ymd(now - 86_400 * 2);
    leaf.not_after = ymd(now + 86_400 * valid_days);
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf cert");
    let p = Pki { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    std::fs::write(&p.ca, ca_cert.pem()).expect("write");
    std::fs::write(&p.cert, leaf_cert.pem()).expect("write");
    std::fs::write(&p.key, leaf_key.serialize_pem()).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p.key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    p
}

/// (year, month, day) of Unix seconds.
fn time_from(secs: i64) -> (i32, u8, u8) {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((yoe + era * 400 + i64::from(m <= 2)) as i32, m, d)
}

/// Runs the certificate checks against Kabine's TLS listener serving `pki`.
async fn certificate_checks(dir: &Path, pki: &Pki, extra: &[&str]) -> audit::Run {
    let store = kabine::tls::CertStore::from_files(&pki.cert, &pki.key).expect("certificate loads");
    let served = audit::serve_with(audit::kabine_router(), store).await;
    let config = audit::write_config(
        dir,
        &format!("[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n", pki.cert.display(), pki.key.display()),
    );
    let mut args =
        vec!["--only", "live.tls.certificate-trust", "--only", "live.tls.certificate-expiry", "--only", "static.tls"];
    args.extend_from_slice(extra);
    let run = audit::audit(dir, &audit::args(&config, &served.url(), &args)).await;
    served.stop().await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_a_trusted_ca_passes_and_an_unknown_ca_fails() {
    let _t = support::test();
    let dir = support::output_dir("audit-tls/trust");
    let p = pki(&dir, &["localhost", "127.0.0.1"], 60);
    let ca = p.ca.display().to_string();
    let trusted = certificate_checks(&dir, &p, &["--ca", &ca]).await;
    assert_eq!(trusted.with_status("fail").len(), 0, "{}", trusted.stderr);
    assert_eq!(
        trusted.status("live.tls.certificate-trust"),
        "pass",
        "{}",
        trusted.explain("live.tls.certificate-trust")
    );
    assert_eq!(trusted.status("live.tls.certificate-expiry"), "pass");
    assert_eq!(
        trusted.status("static.tls.certificate-files"),
        "pass",
        "{}",
        trusted.explain("static.tls.certificate-files")
    );
    assert_eq!(trusted.code, 0);

    let untrusted = certificate_checks(&dir, &p, &[]).await;
    assert_eq!(
        untrusted.status("live.tls.certificate-trust"),
        "fail",
        "{}",
        untrusted.explain("live.tls.certificate-trust")
    );
    assert_eq!(untrusted.with_status("fail").len(), 1, "{}", untrusted.stderr);
    assert_eq!(untrusted.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_fails_the_trust_check() {
    let _t = support::test();
    let dir = support::output_dir("audit-tls/name");
    let p = pki(&dir, &["meet.example.org"], 60);
    let ca = p.ca.display().to_string();
    let run = certificate_checks(&dir, &p, &["--ca", &ca]).await;
    assert_eq!(run.status("live.tls.certificate-trust"), "fail", "{}", run.explain("live.tls.certificate-trust"));
    assert_eq!(run.with_status("fail").len(), 1, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_about_to_expire_fails_the_expiry_checks() {
    let _t = support::test();
    let dir = support::output_dir("audit-tls/expiry");
    let p = pki(&dir, &["localhost", "127.0.0.1"], 3);
    let ca = p.ca.display().to_string();
    let run = certificate_checks(&dir, &p, &["--ca", &ca]).await;
    assert_eq!(run.status("live.tls.certificate-expiry"), "fail", "{}", run.explain("live.tls.certificate-expiry"));
    // The configured files say the same without asking the server.
    assert_eq!(run.status("static.tls.certificate-files"), "fail", "{}", run.explain("static.tls.certificate-files"));
    assert_eq!(run.status("live.tls.certificate-trust"), "pass", "{}", run.explain("live.tls.certificate-trust"));
    assert_eq!(run.code, 1);

    let soon = pki(&dir, &["localhost", "127.0.0.1"], 14);
    let run = certificate_checks(&dir, &soon, &["--ca", &soon.ca.display().to_string()]).await;
    assert_eq!(run.status("live.tls.certificate-expiry"), "warn", "{}", run.explain("live.tls.certificate-expiry"));
    assert_eq!(run.code, 0, "a warning does not fail the audit");
}
