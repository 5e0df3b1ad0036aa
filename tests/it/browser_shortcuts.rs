//! Keyboard shortcuts in the call (M, V, D, C, R, T, Space, ?) change what
//! they name, are announced to screen readers, and stay quiet while the user
//! types in a text field or a dialog is open.

use serde_json::Value;

use crate::support::{self, browser};

#[tokio::test]
async fn keyboard_shortcuts_work_in_the_call_and_not_while_typing() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "shortcuts", &[]).await;
    browser::assert_clean("shortcuts", &v);
    let s = &v["steps"];
    let check = |step: &str, key: &str, want: Value| {
        assert_eq!(s[step][key], want, "after {step}: {key} (state: {})", s[step]);
    };
    check("start", "mic", "true".into());
    check("afterM", "mic", "false".into());
    check("afterM", "micTrackEnabled", false.into());
    check("spaceHeld", "mic", "true".into());
    check("spaceHeld", "micTrackEnabled", true.into());
    check("spaceReleased", "micTrackEnabled", false.into());
    check("afterV", "camera", "false".into());
    check("afterV", "cameraTrack", false.into());
    check("afterVV", "camera", "true".into());
    check("afterVV", "cameraTrack", true.into());
    check("afterR", "hand", "true".into());
    check("afterT", "speaker", true.into());
    check("afterD", "screen", "true".into());
    check("afterD", "screenTrack", true.into());
    check("afterD", "camera", "true".into());
    check("afterDD", "screenTrack", false.into());
    check("afterC", "chatOpen", true.into());
    check("afterC", "focus", "chat-input".into());
    assert_eq!(v["steps"]["typed"], "mvrt d?", "letters typed in the chat stay text");
    for key in ["mic", "camera", "hand", "screen", "speaker", "help"] {
        assert_eq!(s["typing"][key], s["afterC"][key], "typing changed {key}");
    }
    check("afterCC", "chatOpen", false.into());
    check("afterCC", "focus", "ctl-chat".into());
    check("afterHelp", "help", true.into());
    check("mInDialog", "mic", s["afterHelp"]["mic"].clone());
    check("afterEscape", "help", false.into());
    check("afterEscape", "focus", "ctl-help".into());
    let announced = s["afterR"]["announced"].to_string();
    assert!(announced.contains("Microphone off") && announced.contains("hand"), "announcements: {announced}");
    assert!(server.stop().await);
}
