//! Short versions of every `kabine-stress` attack (docs/reliability.md):
//! a live server on loopback, a call held by `kabine-loadgen`, seconds of
//! attack with small counts. Each fails if the property breaks: the held
//! call loses more than 5 % of its packets or a participant, the server
//! panics, grows its RSS by 10 % or more, keeps a room, a participant, a
//! connection, a media address or a file descriptor after everyone left,
//! or (churn) writes a file. The full-size runs are documented commands.

use serde_json::Value;

use crate::support;

/// Runs kabine-stress with `args` in the media turn; returns its RESULT.
async fn stress(name: &str, args: &[&str]) -> Value {
    let _heavy = support::heavy().await;
    let dir = support::output_dir(&format!("stress-{name}"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kabine-stress"))
        .arg("--kabine")
        .arg(env!("CARGO_BIN_EXE_kabine"))
        .arg("--loadgen")
        .arg(env!("CARGO_BIN_EXE_kabine-loadgen"))
        .arg("--dir")
        .arg(&dir)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("kabine-stress runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(dir.join("kabine.log")).unwrap_or_default();
    let shown = stdout.lines().filter(|l| !l.starts_with("RESULT ")).collect::<Vec<_>>().join("\n");
    assert!(
        out.status.success(),
        "kabine-stress {args:?} failed ({}):\n{shown}\n{stderr}\nserver log (tail):\n{}",
        out.status,
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    let result = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("a RESULT line");
    let v: Value = serde_json::from_str(result).expect("RESULT is JSON");
    assert_eq!(v["ok"], true, "{shown}");
    // The checks that every attack carries are there (a test that cannot fail is a defect).
    let names: Vec<&str> = v["checks"].as_array().expect("checks").iter().filter_map(|c| c["name"].as_str()).collect();
    for must in ["the server did not panic", "nothing is left once everyone left", "the held call lost at most"] {
        assert!(names.iter().any(|n| n.starts_with(must)), "{must}: {names:?}");
    }
    v
}

#[tokio::test]
async fn a_flood_of_malformed_datagrams_leaves_the_held_call_whole() {
    let _t = support::test();
    let v = stress("udp-flood", &["udp-flood", "--rate", "10000", "--seconds", "5"]).await;
    assert!(v["server"]["media_datagrams_unclaimed"].as_f64().unwrap_or(0.0) > 40_000.0, "{v}");
}

#[tokio::test]
async fn bogus_ice_binds_allocate_nothing() {
    let _t = support::test();
    let v = stress("bogus-binds", &["bogus-binds", "--rate", "2000", "--seconds", "4"]).await;
    assert!(v["server"]["stun_refused"].as_f64().unwrap_or(0.0) > 5_000.0, "{v}");
}

#[tokio::test]
async fn spoofed_client_hellos_do_not_stop_a_join() {
    let _t = support::test();
    stress("dtls-race", &["dtls-race", "--joins", "3", "--rate", "1000", "--seconds", "8"]).await;
}

#[tokio::test]
async fn tls_connect_close_cycles_leave_nothing_behind() {
    let _t = support::test();
    let v = stress("tls-churn", &["tls-churn", "--cycles", "500", "--concurrency", "8", "--seconds", "6"]).await;
    assert_eq!(v["attack_figures"]["cycles"], 500, "{v}");
}

#[tokio::test]
async fn websocket_frames_at_and_over_the_limit_are_handled() {
    let _t = support::test();
    stress("ws-frames", &["ws-frames", "--rounds", "2", "--seconds", "8"]).await;
}

#[tokio::test]
async fn a_participant_flooding_messages_does_not_break_the_call() {
    let _t = support::test();
    let v = stress("ws-flood", &["ws-flood", "--seconds", "3"]).await;
    assert!(v["attack_figures"]["messages_sent"].as_u64().unwrap_or(0) > 100, "{v}");
}

#[tokio::test]
async fn room_churn_leaves_no_room_no_participant_no_connection_and_no_file() {
    let _t = support::test();
    support::require_tool("strace", "strace");
    let v = stress("churn", &["churn", "--cycles", "12", "--concurrency", "3", "--seconds", "10"]).await;
    assert_eq!(v["attack_figures"]["cycles"], 12, "{v}");
    assert_eq!(v["files_written"], serde_json::json!([]), "{v}");
}

/// 300 slow connections fit `server.max_connections` (4096): the TLS
/// handshake timeout (10 s) closes them, and a join meanwhile gets a slot:
/// a synthetic participant's and a real browser's (Chromium), each with
/// its media connected. The full 5,000 exceed it (docs/reliability.md,
/// issue 14). The browser's limit is 5 s here, not the 2 s of the full
/// run, for a loaded 2-core CI machine: a join stuck behind the slow
/// connections waits for the 10 s timeout.
#[tokio::test]
async fn slow_tls_connections_are_closed_and_a_fresh_join_still_works() {
    let _t = support::test();
    support::browser::require_browser_tools(false);
    let script = support::browser::browser_dir().join("scenarios/fresh_join.mjs");
    let script = script.to_str().expect("a UTF-8 path");
    let v = stress(
        "slowloris",
        &["slowloris", "--connections", "300", "--seconds", "12", "--browser-join", script, "--max-join-ms", "5000"],
    )
    .await;
    let f = &v["attack_figures"];
    assert!(f["browser_join_connectedMs"].as_f64().is_some(), "the browser joined: {v}");
    assert!(
        f["open_when_the_fresh_join_started"].as_u64().unwrap_or(0) >= 250,
        "the joins met the slow connections: {v}"
    );
}
