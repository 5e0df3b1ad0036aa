//! The welcome, pre-join and call pages in a real headless Chromium: no
//! axe-core violations at WCAG 2.1 AA, every tab stop visibly focused and no
//! keyboard trap, focus moved to the new page's heading, clear messages for
//! bad input, preview with device choice, and name and devices remembered in
//! the browser only. Screenshots: target/test-output/pages/.

use serde_json::Value;

use crate::support::{self, browser};

fn assert_accessible(page: &str, v: &Value) {
    assert_eq!(v["axe"], Value::Array(vec![]), "{page}: axe-core WCAG 2.1 AA violations");
    let tab = &v["tab"];
    assert_eq!(tab["stuck"], 0, "{page}: keyboard focus got stuck: {tab}");
    assert!(tab["distinct"].as_u64().unwrap_or(0) >= 4, "{page}: too few tab stops: {tab}");
    assert_eq!(tab["invisible"], Value::Array(vec![]), "{page}: tab stops without a visible focus indicator");
}

#[tokio::test]
async fn welcome_prejoin_and_call_pages_are_accessible_and_work_by_keyboard() {
    let _t = support::test();
    let mut config = support::test_config();
    config.client.imprint_url = Some("https://praxis.example/impressum".into());
    config.client.privacy_url = Some("https://praxis.example/datenschutz".into());
    let server = support::start(config).await;
    let v = browser::run(&server, "pages", &[]).await;
    browser::assert_clean("pages", &v);
    let selftest = v["axeSelfTest"].to_string();
    assert!(
        selftest.contains("image-alt") && selftest.contains("button-name"),
        "axe-core finds violations on a broken page: {selftest}"
    );

    let w = &v["welcome"];
    assert_accessible("welcome", w);
    assert_eq!(w["lang"], "en");
    assert_eq!(w["imprint"][0][1], "https://praxis.example/impressum", "operator's imprint link shown");
    assert_eq!(w["imprint"][1][1], "https://praxis.example/datenschutz", "operator's privacy link shown");
    assert_eq!(w["invalid"]["ariaInvalid"], "true", "invalid room name marked");
    assert!(w["invalid"]["error"].as_str().is_some_and(|e| e.contains("64")), "invalid room name explained");
    assert_eq!(w["invalid"]["path"], "/", "an invalid name does not navigate");
    let generated = w["generated"].as_str().expect("generated name");
    assert!(
        generated.len() == 19 && generated.split('-').all(|g| g.len() == 4),
        "generated name has four groups of four: {generated}"
    );

    let p = &v["prejoin"];
    assert_accessible("pre-join", p);
    assert_eq!(p["path"], format!("/{generated}"));
    assert_eq!(p["focused"], "H1", "focus moves to the new page's heading");
    assert_eq!(p["preview"], true, "camera preview runs");
    assert!(!p["cameras"].as_array().expect("cameras").is_empty(), "cameras listed");
    assert!(!p["mics"].as_array().expect("mics").is_empty(), "microphones listed");
    assert_eq!(p["cameraOff"]["pressed"], "false");
    assert_eq!(p["cameraOff"]["previewHidden"], true);
    assert_eq!(p["nameError"]["focused"], "display-name", "missing name: focus goes to the field");
    assert!(p["nameError"]["text"].as_str().is_some_and(|t| !t.is_empty()), "missing name explained");

    let c = &v["call"];
    assert_accessible("call", c);
    assert_eq!(c["helpAxe"], Value::Array(vec![]), "help dialog: axe violations");
    assert_eq!(c["smallTargets"], Value::Array(vec![]), "touch targets under 44×44 px");
    assert_eq!(c["smallTargetsTablet"], Value::Array(vec![]), "touch targets under 44×44 px on a tablet");
    assert_eq!(c["axeTablet"], Value::Array(vec![]), "call on a tablet: axe violations");
    assert_eq!(c["help"]["open"], true, "? opens the help");
    assert_eq!(c["help"]["focusInside"], true, "focus moves into the dialog");
    assert_eq!(c["helpClosed"], true, "Escape closes the help");
    for control in c["controls"].as_array().expect("controls") {
        assert!(control["name"].as_str().is_some_and(|n| !n.is_empty()), "control without a name: {control}");
    }
    let pressed = |id: &str| {
        c["controls"].as_array().and_then(|a| a.iter().find(|x| x["id"] == id)).map(|x| x["pressed"].clone())
    };
    assert_eq!(pressed("ctl-mic"), Some(Value::from("true")), "mic state exposed as pressed");
    assert_eq!(pressed("ctl-camera"), Some(Value::from("true")), "camera state exposed as pressed");
    let stored: Value = serde_json::from_str(c["stored"].as_str().expect("prefs stored")).expect("prefs are JSON");
    assert_eq!(stored["name"], "Ada Lovelace");

    assert_eq!(v["left"]["axe"], Value::Array(vec![]), "left page: axe violations");
    assert_eq!(v["remembered"], "Ada Lovelace", "the name is remembered for the next join");
    assert!(server.stop().await, "server stops");
}
