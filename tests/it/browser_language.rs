//! The client speaks German to browsers that prefer German, English to those
//! that prefer English, and the operator's `client.default_language` to
//! everyone else; `<html lang>` follows. Screenshots of the German UI:
//! target/test-output/language/.

use serde_json::Value;

use crate::support::{self, browser};
use kabine::config::Language;

fn all_text(v: &Value) -> String {
    v.to_string()
}

#[tokio::test]
async fn german_browsers_get_the_german_ui() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "language", &["de-DE,de"]).await;
    browser::assert_clean("language", &v);
    for page in ["welcome", "prejoin", "call"] {
        assert_eq!(v[page]["lang"], "de", "{page}: <html lang>");
    }
    assert_eq!(v["welcome"]["h1"], "Besprechung starten oder beitreten");
    assert_eq!(v["prejoin"]["h1"], "Bereit zum Beitreten?");
    assert!(all_text(&v["prejoin"]["buttons"]).contains("Beitreten"), "German join button");
    assert!(all_text(&v["call"]["buttons"]).contains("Verlassen"), "German leave button");
    assert!(all_text(&v["call"]["buttons"]).contains("Bildschirm teilen"), "German screen share button");
    assert_eq!(v["call"]["axe"], Value::Array(vec![]), "German call page: axe violations");
    let english = ["Join", "Leave", "Share screen", "Meeting name", "Your name", "Continue"];
    for page in ["welcome", "prejoin", "call"] {
        let text = format!("{}{}", v[page]["buttons"], v[page]["labels"]);
        for word in english {
            assert!(!text.contains(&format!("\"{word}")), "{page}: English text {word:?} in the German UI: {text}");
        }
    }
    assert!(server.stop().await);
}

#[tokio::test]
async fn other_languages_get_the_operators_default_and_english_browsers_english() {
    let _t = support::test();
    let mut config = support::test_config();
    config.client.default_language = Language::De;
    let server = support::start(config).await;
    // Firefox: Chromium adds en-US to navigator.languages whatever it is told.
    let french = browser::run(&server, "language", &["fr-FR,fr", "firefox"]).await;
    browser::assert_clean("language", &french);
    assert_eq!(french["navigatorLanguages"], serde_json::json!(["fr-FR", "fr"]));
    assert_eq!(french["welcome"]["lang"], "de", "French browser gets the operator's default (German)");
    assert_eq!(french["welcome"]["h1"], "Besprechung starten oder beitreten");
    let english = browser::run(&server, "language", &["en-GB,en"]).await;
    browser::assert_clean("language", &english);
    assert_eq!(english["welcome"]["lang"], "en", "English browser gets English despite the German default");
    assert_eq!(english["welcome"]["h1"], "Start or join a meeting");
    assert!(server.stop().await);
}
