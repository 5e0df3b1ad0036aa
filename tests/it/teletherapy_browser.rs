//! Teletherapy in real browsers (issue 19, docs/teletherapy.md;
//! tests/browser/scenarios/teletherapy.mjs), access mode `secure`,
//! `e2ee.mode = "required"`, `[teletherapy] enabled`, two local therapists:
//!
//! - Dr. Anna Müller logs in on `/sessions` (German), creates a group
//!   session with 3 patient links; its key stays in her browser; links up
//!   to `max_patients` (9), the 10th is refused; the QR code decodes to the
//!   link with its key;
//! - three patients (a German tablet-sized Chromium page, a German desktop
//!   Chromium page, an English Firefox) see practice, therapist and time,
//!   accept the consent (declining first sends nothing), check their
//!   devices (bandwidth, speaker test on click) and wait; none sees another's
//!   name, before or while the others are called in;
//! - the therapist sees who waits (typed name and link label), leaves one a
//!   message (shown in a live region), calls them in one by one; all four
//!   decode each other with end-to-end encryption; everyone sees the
//!   "introduce everyone" prompt; the therapist's timer runs; a patient's
//!   screen share waits for the therapist's permission;
//! - "End session" ends it for all and brings the therapist back to
//!   `/sessions`; the downloaded record lists the typed names, link labels,
//!   consent times and version, start, end and "end-to-end encrypted"; the
//!   server then has forgotten the session;
//! - the ended session's link, the withdrawn link and a not-yet-open link of
//!   the other therapist get clear refusal pages; the therapist cannot
//!   enter the other's session; a valid patient link does not open the other
//!   therapist's room.
//!
//! axe-core (WCAG 2.1 AA) finds nothing on the sessions page, the QR dialog,
//! the consent page, the device check, the waiting room, the therapist's
//! call with the lobby, and the record.

use std::time::Duration;

use kabine::config::{AccessMode, E2eeMode};
use serde_json::Value;

use crate::support::{self, browser};

const OTHER_USER: &str = "dr.berg";
const OTHER_PASSWORD: &str = "another good passphrase";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_session_from_planning_to_record_with_three_patients_in_two_browsers() {
    let _t = support::test();
    let mut config = support::with_local_host("teletherapy", AccessMode::Secure);
    // The configuration file `with_local_host` wrote (output_dir would empty the directory).
    let config_file = support::repo_root().join("target/test-output/teletherapy/kabine.toml");
    let added = support::kabine_with_stdin(
        &[
            "user",
            "add",
            OTHER_USER,
            "--display-name",
            "Dr. Jonas Berg",
            "--config",
            config_file.to_str().expect("utf-8"),
        ],
        OTHER_PASSWORD,
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    config.e2ee.mode = E2eeMode::Required;
    config.teletherapy.enabled = true;
    config.teletherapy.max_patients = 9;
    config.teletherapy.practice_name = Some("Praxis am Park".into());
    let server = support::start(config).await;
    let v = browser::run_long(
        &server,
        "teletherapy",
        &["dr.mueller", "correct horse battery", OTHER_USER, OTHER_PASSWORD, "9", "firefox"],
        Duration::from_secs(300),
    )
    .await;
    let log = support::captured();
    assert!(server.stop().await);
    assert_clean_but_refusals(&v);

    // Planning.
    assert_eq!(v["created"]["group"], true);
    assert_eq!(v["created"]["links"], serde_json::json!(["Patient 1", "Patient 2", "Patient 3"]));
    assert!(
        v["keyStored"].as_str().is_some_and(|k| k.starts_with("#k=")),
        "the key is kept in the browser: {}",
        v["keyStored"]
    );
    assert_eq!(v["linksAtLimit"], 9);
    let too_many = v["tooMany"].as_str().unwrap_or_default();
    assert!(
        too_many.contains("Zu viele Patienten-Links") && too_many.contains('9'),
        "the 10th link is refused: {too_many}"
    );
    assert_eq!(v["linksHaveKey"], true, "every patient link carries the session's key");
    assert_eq!(v["qrDecodes"], true, "the QR code decodes to the link with its key");
    assert_eq!(v["copied"], true, "\"Copy link\" copies the link with its key");

    // The patient's side before the session.
    assert!(
        v["consentPage"]["with"]
            .as_str()
            .is_some_and(|t| t.contains("Praxis am Park") && t.contains("Dr. Anna Müller"))
    );
    assert!(
        v["consentPage"]["text"].as_str().is_some_and(|t| t.len() > 40),
        "the consent text is shown: {}",
        v["consentPage"]
    );
    assert!(v["declined"].as_str().is_some_and(|t| t.contains("nichts an die Praxis gesendet")), "{}", v["declined"]);
    assert_eq!(v["wsBeforeConsent"], false, "no connection before the consent");
    assert_eq!(v["consentByKeyboard"], "consent-accept", "the consent is reached with Tab");
    assert!(
        v["bandwidth"]["mbit"].as_str().is_some_and(|m| m.parse::<f64>().is_ok_and(|m| m > 0.0)),
        "{}",
        v["bandwidth"]
    );
    assert!(v["speaker"].as_str().is_some_and(|t| t.contains("leisen Ton")), "{}", v["speaker"]);
    assert!(
        v["waitingHost"]["heading"].as_str().is_some_and(|t| t.contains("holt Sie gleich herein")),
        "{}",
        v["waitingHost"]
    );
    assert!(v["waitingHost"]["when"].as_str().is_some_and(|t| t.starts_with("Ihr Termin:")), "{}", v["waitingHost"]);
    assert_eq!(v["startUrlHasKey"], true);

    // The lobby, the message, nobody's name seen by another patient.
    let lobby = v["lobby"].as_array().expect("lobby");
    assert_eq!(lobby.len(), 3, "{lobby:?}");
    for (name, link) in [("Jörg Tablet", "Patient 1"), ("Bea Desktop", "Patient 2"), ("Fox Firefox", "Patient 3")] {
        assert!(
            lobby.iter().any(|l| l["name"] == name && l["link"] == format!("({link})") && l["callIn"] == "Hereinholen"),
            "{name} with {link} and a call-in button: {lobby:?}"
        );
    }
    assert_eq!(v["message"], "Dr. Anna Müller: Ich bin in 5 Minuten bei Ihnen.");
    assert_eq!(v["messageRegion"], "status", "the message is read out, not rung");
    let names = ["Jörg Tablet", "Bea Desktop", "Fox Firefox"];
    for (who, seen) in v["waitingSees"].as_object().expect("waitingSees") {
        let text = seen["text"].as_str().unwrap_or_default();
        for other in names.iter().filter(|n| *n != who) {
            assert!(!text.contains(other), "{who} sees {other}'s name while waiting");
        }
        assert_eq!(seen["participants"], serde_json::json!([]), "{who} knows nobody while waiting");
        assert_eq!(seen["lobby"], serde_json::json!([]), "{who} gets no lobby list");
    }
    assert_eq!(v["leak"], Value::Null, "a waiting patient saw someone: {}", v["leak"]);
    assert_eq!(v["inOrder"], serde_json::json!(names));

    // In the session.
    for (who, s) in v["inCall"].as_object().expect("inCall") {
        assert_eq!(s["e2ee"], true, "{who} decodes everyone end-to-end encrypted");
        let intro = s["intro"].as_str().unwrap_or_default();
        assert!(
            intro.contains("Bitte stellen Sie alle vor") || intro.contains("Please introduce everyone"),
            "{who}: {s}"
        );
        let therapist = who == "Dr. Anna Müller";
        assert_eq!(s["role"], if therapist { "therapist" } else { "patient" }, "{who}");
        assert_eq!(s["endButton"], therapist, "{who}: only the therapist ends the session");
        assert_eq!(s["timer"].is_string(), therapist, "{who}: the timer is the therapist's: {s}");
    }
    assert_eq!(
        v["patientTitle"],
        serde_json::json!({"doc": "Gruppe Dienstag – Praxis am Park", "heading": "Gruppe Dienstag"}),
        "the session is called by its title, never by its room's random name"
    );
    assert!(v["timerAfter"].as_str().is_some_and(|t| t.ends_with("vergangen")), "{}", v["timerAfter"]);
    assert!(v["screenRequest"].as_str().is_some_and(|t| t.contains("Jörg Tablet")), "{}", v["screenRequest"]);
    assert_eq!(v["screenError"], Value::Null, "screen sharing with permission");
    assert_eq!(v["screenBefore"], false, "no screen share before the therapist allowed it");
    assert_eq!(v["screenShared"], true, "after the permission the patient shares the screen");
    let asked = v["therapistAsked"].as_array().expect("therapistAsked");
    assert_eq!(asked.len(), 3, "the therapist's screen share asks every patient");
    assert!(asked.iter().all(|t| t.as_str().is_some_and(|t| t.contains("Dr. Anna Müller"))), "{asked:?}");
    assert_eq!(v["therapistScreenBefore"], false, "the therapist shares nothing before all allowed");
    assert_eq!(v["therapistShared"], true, "after everyone allowed the therapist shares the screen");

    // The end and the record.
    for ended in v["patientsEnded"].as_array().expect("patientsEnded") {
        assert!(
            ended.as_str().is_some_and(|t| t == "Die Sitzung ist beendet" || t == "The session has ended"),
            "{ended}"
        );
    }
    let record = v["record"].as_str().expect("record");
    for text in [
        "Sitzungsprotokoll",
        "Praxis am Park",
        "Dr. Anna Müller",
        "Gruppe Dienstag",
        "Jörg Tablet",
        "Bea Desktop",
        "Fox Firefox",
        "Patient 1",
        "Patient 3",
        "Einwilligung erteilt",
        "Ende-zu-Ende-verschlüsselt",
        "Server seine Daten zu dieser Sitzung gelöscht",
    ] {
        assert!(record.contains(text), "the record lacks {text:?}");
    }
    // Consent version (16 hex digits) and clock times (start, end, per participant).
    assert!(regex::Regex::new(r"<code>[0-9a-f]{16}</code>").expect("regex").find_iter(record).count() >= 3);
    assert!(regex::Regex::new(r"\d\d:\d\d:\d\d").expect("regex").find_iter(record).count() >= 8, "times in the record");
    assert!(v["recordFileName"].as_str().is_some_and(|f| f.starts_with("sitzungsprotokoll-") && f.ends_with(".html")));
    assert_eq!(v["afterDownload"], serde_json::json!([]), "the server forgot the session after the download");

    // Refused links.
    let refusal = |key: &str, status: u64, needle: &str| {
        let r = &v["refused"][key];
        assert_eq!(r["status"], status, "{key}: {r}");
        assert!(r["text"].as_str().is_some_and(|t| t.contains(needle)), "{key}: {r}");
    };
    refusal("ended", 410, "ended");
    refusal("revoked", 410, "withdrawn");
    refusal("notYet", 403, "opens");
    assert!(
        v["notYours"].as_str().is_some_and(|t| t.contains("anderen Therapeutin")),
        "the therapist cannot enter another's session: {}",
        v["notYours"]
    );
    assert_eq!(v["otherRoom"], "appointment_invalid", "a patient link opens only its own session");

    for (page, violations) in v["axe"].as_object().expect("axe") {
        assert_eq!(violations, &serde_json::json!([]), "axe-core violations on {page}");
    }
    // Link tokens and the appointment's id never reach the log.
    let secrets: Vec<&str> = v["tokens"].as_array().expect("tokens").iter().filter_map(Value::as_str).collect();
    assert_eq!(secrets.len(), 3);
    for secret in secrets.iter().chain(v["appointmentId"].as_str().iter()) {
        assert!(!log.contains(secret), "a token or id is in the log");
    }
    let out_name: String =
        ["teletherapy", "dr.mueller", "correct horse battery", OTHER_USER, OTHER_PASSWORD, "9", "firefox"]
            .join("-")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
    let out = support::repo_root().join("target/test-output").join(out_name);
    for shot in ["waiting-room.png", "therapist-session.png", "session-record.png"] {
        assert!(out.join(shot).is_file(), "screenshot {shot} in {}", out.display());
    }
    println!("teletherapy: all four decoding {} ms after the last call-in", v["decodeMs"]);
}

/// As [`browser::assert_clean`], but the deliberately refused requests (the
/// 10th link, the refused links' pages) are expected in the console.
fn assert_clean_but_refusals(v: &Value) {
    let mut v = v.clone();
    if let Some(problems) = v["problems"].as_array_mut() {
        problems.retain(|p| {
            let text = p["text"].as_str().unwrap_or("");
            let page = p["page"].as_str().unwrap_or("");
            !((page == "therapist" && text.contains("status of 400"))
                || (page == "stranger"
                    && ["status of 403", "status of 404", "status of 410"].iter().any(|s| text.contains(s))))
        });
    }
    browser::assert_clean("teletherapy", &v);
}
