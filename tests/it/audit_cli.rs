//! `kabine audit` as a command: without --url it checks the configuration
//! only and says so; a violating configuration fails with exit code 1;
//! unusable options and configurations exit with 2 and change nothing.

use std::process::{Command, Output};

use crate::support::{self, audit};

fn kabine(args: &[&str]) -> Output {
    Command::new(support::kabine_bin()).args(args).current_dir(support::repo_root()).output().expect("kabine runs")
}

#[tokio::test]
async fn without_url_only_the_configuration_is_checked_and_violations_fail() {
    let _t = support::test();
    let dir = support::output_dir("audit-cli/static");
    let config = support::repo_root().join("tests/data/policy-stun-google.toml");
    let run = audit::audit(&dir, &["--config".to_string(), config.display().to_string()]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.status("static.ice.eu-allow-list"), "fail", "{}", run.explain("static.ice.eu-allow-list"));
    assert!(run.explain("static.ice.eu-allow-list").contains("stun.l.google.com"));
    for (id, kind) in kabine::audit::implemented() {
        if kind == kabine::audit::Kind::Live {
            assert_eq!(run.status(id), "not_applicable", "{id} without --url");
        }
    }
    let notes = run.json["notes"].to_string();
    assert!(notes.contains("--url"), "the report says the live checks are missing: {notes}");
    // The records-of-processing entry no longer claims "no transfers".
    let ropa = run.json["records_of_processing"].to_string();
    assert!(ropa.contains("To be checked") || ropa.contains("Zu prüfen"), "{ropa}");
    assert!(run.stderr.contains("FAIL static.ice.eu-allow-list"), "{}", run.stderr);
}

#[test]
fn the_demo_configuration_has_no_failing_static_check() {
    let _t = support::test();
    let o = kabine(&["audit", "--format", "json", "--lang", "en"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(report["result"], "pass");
    assert_eq!(report["target"]["config"], "(built-in demo config)");
}

#[test]
fn unusable_options_exit_with_2_and_write_nothing() {
    let _t = support::test();
    let dir = support::output_dir("audit-cli/errors");
    let out = dir.join("never.md");
    let out_s = out.display().to_string();
    for (args, expect) in [
        (vec!["audit", "--url", "http://example.org", "--out", &out_s], "must start with https://"),
        (vec!["audit", "--url", "https://example.org/path", "--out", &out_s], "no path"),
        (vec!["audit", "--only", "live.nonsense", "--out", &out_s], "no check has this id"),
        (vec!["audit", "--config", "tests/data/does-not-exist.toml", "--out", &out_s], "cannot read the file"),
    ] {
        let o = kabine(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote a report");
    }
}

#[tokio::test]
async fn local_accounts_are_checked_and_described_without_naming_anyone() {
    let _t = support::test();
    let dir = support::output_dir("audit-cli/accounts");
    let config = audit::write_config(&dir, "[access]\nmode = \"secure\"\nusers_file = \"data/users\"\n");
    let added = support::add_user(&config, "dr.mueller", "korrekt pferd batterie");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let args = ["--config".to_string(), config.display().to_string(), "--lang".into(), "de".into()];
    let run = audit::audit(&dir, &args).await;
    assert_eq!(run.status("static.access.mode"), "pass", "{}", run.explain("static.access.mode"));
    assert_eq!(run.status("static.auth.password-hashes"), "pass", "{}", run.explain("static.auth.password-hashes"));
    assert!(run.explain("static.auth.password-hashes").contains("argon2id m=19456 KiB t=2 p=1"));
    assert_eq!(run.status("static.data.directory"), "pass", "{}", run.explain("static.data.directory"));
    let ropa = run.json["records_of_processing"].to_string();
    assert!(ropa.contains("Konten im lokalen Benutzerspeicher") && ropa.contains("Anmeldesitzungen"), "{ropa}");
    assert!(!run.json.to_string().contains("mueller"), "the report names a user");

    // A hash below the minimum, as an old tool might have written it.
    let store = dir.join("data/users");
    let text = std::fs::read_to_string(&store).expect("store");
    std::fs::write(&store, text.replace("m=19456,t=2", "m=4096,t=1")).expect("write");
    let run = audit::audit(&dir, &args).await;
    assert_eq!(run.status("static.auth.password-hashes"), "fail", "{}", run.explain("static.auth.password-hashes"));
    assert_eq!(run.code, 1);
}
