//! Recording with everyone's consent, in three real Chromium participants
//! (tests/browser/scenarios/recording.mjs), under the `relaxed` policy with
//! recording enabled and the operator's age key:
//!
//! - until all three agreed, nothing is written to the recording directory;
//!   the consent dialog stays open on Escape; every screen shows the
//!   indicator while asking and recording;
//! - after ~10 s of recording, the three files decrypt with the private key
//!   (`kabine recording decrypt`, and Debian's `age -d` too), and `ffprobe`
//!   reads each as WebM with VP8 and Opus, a duration within 1 s of the
//!   recorded time, and decodable frames in both streams;
//! - on disk every file is mode 0600 in a 0700 directory, starts with the
//!   age header and shows no WebM (EBML) magic;
//! - in a second recording Ben declines: he is told he is not recorded,
//!   and he is in no file of it (the manifest names Anna and Cleo only).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{self, browser};

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An operator key pair made with Debian's age-keygen: (identity file, public key).
fn operator_key(dir: &Path) -> (PathBuf, String) {
    let keygen = support::require_tool("age-keygen", "age");
    let key = dir.join("operator.key");
    run(Command::new(&keygen).arg("-o").arg(&key));
    let public = run(Command::new(&keygen).arg("-y").arg(&key));
    (key, String::from_utf8_lossy(&public.stdout).trim().to_string())
}

/// `ffprobe` of one file: (codec names, duration in s, frames read per stream).
fn probe(file: &Path) -> (Vec<String>, f64, Vec<u64>) {
    let ffprobe = support::require_tool("ffprobe", "ffmpeg");
    let out = run(Command::new(ffprobe)
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .arg("stream=codec_name,nb_read_frames:format=duration,format_name")
        .args(["-of", "json"])
        .arg(file));
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    assert!(v["format"]["format_name"].as_str().unwrap_or_default().contains("webm"), "{v}");
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let codecs = streams.iter().map(|s| s["codec_name"].as_str().unwrap_or_default().to_string()).collect();
    let frames =
        streams.iter().map(|s| s["nb_read_frames"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0)).collect();
    let duration = v["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0);
    (codecs, duration, frames)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// Checks the encrypted files of one recording on disk; returns its directory.
fn check_sealed(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).expect("recording dir").flatten() {
        let p = entry.path();
        let bytes = std::fs::read(&p).expect("read");
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        assert!(bytes.starts_with(kabine::record::store::AGE_MAGIC), "{} has no age header", p.display());
        assert!(
            !bytes.windows(4).any(|w| w == kabine::record::store::EBML_MAGIC),
            "{} shows WebM magic in clear",
            p.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_chromium_participants_are_recorded_only_after_all_consent_and_a_decliner_is_in_no_file() {
    let _t = support::test();
    let out = support::output_dir("recording");
    let (identity, public) = operator_key(&out);
    let recordings = out.join("recordings");
    let mut config = support::test_config();
    config.recording.enabled = true;
    config.recording.directory = recordings.clone();
    config.recording.recipients = vec![public.clone()];
    let relaxed = kabine::policy::Policy::from_preset("relaxed").expect("preset");
    let server = support::start_with_policy(config, relaxed).await;
    let rec_arg = recordings.display().to_string();
    let v = browser::run_long(&server, "recording", &[&rec_arg], std::time::Duration::from_secs(180)).await;
    browser::assert_clean("recording", &v);
    assert!(server.stop().await);

    // Asking: everyone sees it, nothing is written.
    for (name, s) in v["asking"].as_object().expect("asking") {
        assert_eq!(s["recording"], "asking", "{name}: {s}");
        assert_eq!(s["indicatorShown"], true, "{name} sees the indicator while asking");
    }
    assert_eq!(v["asking"]["Ben Decliner"]["dialogOpen"], true);
    assert_eq!(v["asking"]["Anna Host"]["dialogOpen"], false, "the host consented by asking");
    assert_eq!(v["escapeKeptDialog"], true, "Escape must not dismiss the consent dialog");
    assert_eq!(v["dialogAxe"], Value::Array(vec![]), "axe-core on the consent dialog");
    assert_eq!(v["filesBeforeAllAgreed"], Value::Array(vec![]), "nothing written before everyone agreed");
    assert_eq!(v["stateBeforeAllAgreed"]["recording"], "asking");
    for (name, s) in v["recordingUi"].as_object().expect("ui") {
        assert_eq!(s["indicatorOn"], true, "{name} sees the recording indicator: {s}");
    }
    for (name, s) in v["afterStop"].as_object().expect("stop") {
        assert_eq!(s["indicatorShown"], false, "{name}: the indicator goes when the recording stops");
    }
    let ben_ui = v["declinedUi"]["Ben Decliner"]["text"].as_str().unwrap_or_default();
    assert!(ben_ui.contains("You are not recorded"), "Ben is told he is not recorded: {ben_ui}");
    let cleo_ui = v["declinedUi"]["Cleo Late"]["text"].as_str().unwrap_or_default();
    assert!(cleo_ui.contains("Not recorded: Ben Decliner"), "everyone sees who is not recorded: {cleo_ui}");

    // Two recordings on disk, sealed.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&recordings)
        .expect("recordings exist")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert_eq!(mode(&recordings), 0o700);
    for d in &dirs {
        check_sealed(d);
    }

    // Decrypt with the operator's key, as the operator would.
    let config_file = out.join("kabine.toml");
    std::fs::write(
        &config_file,
        format!(
            "policy = \"relaxed\"\n[recording]\nenabled = true\ndirectory = \"{}\"\nrecipients = [\"{public}\"]\n",
            recordings.display()
        ),
    )
    .expect("config");
    let recorded_s = v["recordedMs"].as_f64().expect("recorded ms") / 1000.0;
    let ids = &v["ids"];
    let mut in_files: Vec<Vec<String>> = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let id = d.file_name().expect("name").to_string_lossy().to_string();
        let plain = out.join(format!("plain-{i}"));
        let listed = run(Command::new(support::kabine_bin()).args(["recording", "list", "--config"]).arg(&config_file));
        assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));
        run(Command::new(support::kabine_bin())
            .args(["recording", "decrypt", &id, "--identity"])
            .arg(&identity)
            .arg("--out")
            .arg(&plain)
            .arg("--config")
            .arg(&config_file));
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(plain.join("manifest.json")).expect("manifest")).expect("json");
        let files = manifest["files"].as_array().cloned().unwrap_or_default();
        in_files.push(files.iter().map(|f| f["participant"].as_str().unwrap_or_default().to_string()).collect());
        for f in &files {
            let name = f["file"].as_str().expect("file");
            let (codecs, duration, frames) = probe(&plain.join(name));
            assert!(codecs.contains(&"vp8".to_string()) && codecs.contains(&"opus".to_string()), "{name}: {codecs:?}");
            assert!(frames.iter().all(|n| *n > 0), "{name}: frames decoded per stream {frames:?}");
            if i == 0 {
                assert!(
                    (duration - recorded_s).abs() <= 1.0,
                    "{name}: {duration:.2} s in the file, {recorded_s:.2} s recorded"
                );
            }
            println!(
                "recording {i}: {name}: {codecs:?}, {duration:.2} s (recorded {recorded_s:.2} s), frames {frames:?}"
            );
        }
    }
    let id = |n: &str| ids[n].as_str().expect("id").to_string();
    let mut first = in_files[0].clone();
    first.sort();
    let mut all = vec![id("Anna Host"), id("Ben Decliner"), id("Cleo Late")];
    all.sort();
    assert_eq!(first, all, "everyone who agreed is in the first recording");
    assert!(!in_files[1].contains(&id("Ben Decliner")), "Ben declined and is in no file: {:?}", in_files[1]);
    assert_eq!(in_files[1].len(), 2, "Anna and Cleo: {:?}", in_files[1]);

    // Debian's age reads what the age crate wrote.
    let age = support::require_tool("age", "age");
    let some = std::fs::read_dir(&dirs[0])
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".webm.age"))
        .expect("a webm file");
    let plain = run(Command::new(age).arg("-d").arg("-i").arg(&identity).arg(&some));
    assert!(plain.stdout.starts_with(kabine::record::store::EBML_MAGIC), "age -d gives a WebM file");
}
