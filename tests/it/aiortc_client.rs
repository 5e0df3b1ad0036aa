//! A client in another WebRTC stack, written from docs/protocol.md alone:
//! three participants made with Python's aiortc (`tests/aiortc/peer.py`)
//! join one room and each decodes the others' video and audio through the
//! SFU. It proves that the documented protocol is enough for a client, and
//! that the server's SDP suits a stack other than the browsers': aiortc
//! reads a transport's candidates from the last m-section that uses it, so
//! the server's candidates must be in every bundled section.

use std::time::Duration;

use serde_json::Value;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_aiortc_participants_written_from_the_docs_decode_each_other() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let python = support::repo_root().join("tests/aiortc/.venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/test (it installs aiortc in that venv)", python.display());
    let server = support::start(support::test_config()).await;
    let address = kabine::http::reachable(server.https_addr()).to_string();
    let dir = support::output_dir("aiortc_client");
    let script = support::repo_root().join("tests/aiortc/peer.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .args([address.as_str(), "aio", "Ada", "Bob", "Cy", "--seconds", "40", "--frames", "20"])
        .arg("--sdp-dir")
        .arg(&dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run).await.expect("finishes").expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: Value = String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no RESULT line; stderr:\n{stderr}"));
    let peers = result["peers"].as_object().expect("peers");
    let ids: Vec<&str> = peers.values().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids.len(), 3, "all three were welcomed: {result}\n{stderr}");
    for (name, p) in peers {
        let me = p["id"].as_str().unwrap_or_default();
        assert_eq!(p["errors"], Value::Array(Vec::new()), "{name} got no error: {result}");
        for other in ids.iter().filter(|i| **i != me) {
            let video = p["video_frames"][*other].as_u64().unwrap_or(0);
            let audio = p["audio_frames"][*other].as_u64().unwrap_or(0);
            assert!(video >= 20, "{name} decoded {video} video frames of {other}: {result}\n{stderr}");
            assert!(audio >= 20, "{name} decoded {audio} audio frames of {other} on its slots: {result}\n{stderr}");
        }
    }
    assert_eq!(result["all_decoded"], Value::Bool(true));

    // What the server sent: its candidates in every bundled m-section,
    // end-of-candidates, and no trickle option.
    for entry in std::fs::read_dir(&dir).expect("the SDP files") {
        let path = entry.expect("entry").path();
        let sdp = std::fs::read_to_string(&path).expect("sdp");
        assert!(!sdp.contains("trickle"), "{}: {sdp}", path.display());
        let bundle: Vec<&str> =
            sdp.lines().find_map(|l| l.strip_prefix("a=group:BUNDLE ")).expect("a BUNDLE group").split(' ').collect();
        for section in sdp.split("\r\nm=").skip(1) {
            let mid = section.lines().find_map(|l| l.strip_prefix("a=mid:")).expect("mid");
            let candidates = section.lines().filter(|l| l.starts_with("a=candidate:")).count();
            if bundle.contains(&mid) {
                assert!(candidates > 0, "{}: section {mid} has no candidates", path.display());
                assert!(section.contains("a=end-of-candidates"), "{}: section {mid}", path.display());
            } else {
                assert_eq!(candidates, 0, "{}: section {mid} is not bundled", path.display());
            }
        }
    }
    assert!(server.stop().await, "stops in time");
}
