//! The HTTPS listener offers TLS 1.2 and 1.3 only, with forward-secret AEAD
//! suites only, as seen by two independent scanners: Debian's testssl.sh and
//! openssl s_client.

use std::process::{Command, Stdio};

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testssl_finds_only_tls12_and_tls13_with_forward_secret_aead_suites() {
    let _t = support::test();
    let testssl = support::require_tool("testssl", "testssl.sh");
    let server = support::start(support::test_config()).await;
    let addr = kabine::http::reachable(server.https_addr());
    let out = support::output_dir("testssl");
    let json = out.join("testssl.json");
    let status = tokio::task::spawn_blocking({
        let json = json.clone();
        move || {
            Command::new(testssl)
                .args([
                    "--quiet",
                    "--color",
                    "0",
                    "--warnings",
                    "batch",
                    "--nodns",
                    "min",
                    "--ip",
                    "one",
                    "-p",
                    "-S",
                    "-E",
                ])
                .arg("--jsonfile")
                .arg(&json)
                .arg(addr.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        }
    })
    .await
    .expect("join")
    .expect("testssl runs");
    assert!(json.exists(), "testssl wrote no report (exit {status})");
    let findings: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report readable")).expect("report is JSON");
    let finding = |id: &str| -> String {
        findings
            .iter()
            .find(|f| f["id"] == id)
            .and_then(|f| f["finding"].as_str())
            .unwrap_or_else(|| panic!("testssl reported nothing for {id}: {findings:#?}"))
            .to_string()
    };
    assert!(!findings.iter().any(|f| f["id"] == "scanProblem"), "scan failed: {findings:#?}");
    for id in ["SSLv2", "SSLv3", "TLS1", "TLS1_1"] {
        assert_eq!(finding(id), "not offered", "{id}");
    }
    assert_eq!(finding("TLS1_2"), "offered");
    assert!(finding("TLS1_3").starts_with("offered"), "{}", finding("TLS1_3"));

    let suites: Vec<String> = findings
        .iter()
        .filter(|f| f["id"].as_str().is_some_and(|id| id.starts_with("cipher-tls") || id.starts_with("cipher_x")))
        .filter_map(|f| f["finding"].as_str().map(str::to_string))
        .collect();
    assert!(suites.len() >= 4, "too few suites reported: {suites:#?}");
    for s in &suites {
        let tls13 = s.starts_with("TLS 1.3");
        let forward_secret = tls13 || s.contains("ECDHE-");
        let aead = s.contains("GCM") || s.contains("CHACHA20");
        assert!(forward_secret && aead, "suite is not forward-secret AEAD: {s}");
        assert!(!s.contains("CBC") && !s.contains("SHA1 ") && !s.contains("RSA-AES"), "{s}");
    }
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_handshakes_below_tls12_fail_and_12_13_succeed() {
    let _t = support::test();
    let openssl = support::require_tool("openssl", "openssl");
    let server = support::start(support::test_config()).await;
    let addr = kabine::http::reachable(server.https_addr()).to_string();
    for (flag, ok) in [("-tls1", false), ("-tls1_1", false), ("-tls1_2", true), ("-tls1_3", true)] {
        let openssl = openssl.clone();
        let addr = addr.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(openssl)
                .args(["s_client", flag, "-connect", &addr, "-servername", "localhost"])
                .stdin(Stdio::null())
                .output()
        })
        .await
        .expect("join")
        .expect("openssl runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let negotiated = text.contains("Cipher is ") && !text.contains("Cipher is (NONE)");
        assert_eq!(negotiated, ok, "openssl s_client {flag}: {text}");
    }
    assert!(server.stop().await);
}
