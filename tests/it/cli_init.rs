//! `kabine init`: with flags and no terminal it writes a complete config
//! that `kabine policy check` accepts, and it never replaces an existing
//! configuration — only the Debian package's untouched placeholder.

use std::path::Path;
use std::process::{Command, Output};

use crate::support;

fn kabine(args: &[&str]) -> Output {
    Command::new(support::kabine_bin()).args(args).stdin(std::process::Stdio::null()).output().expect("kabine runs")
}

fn init(config: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["init", "--config", config.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    kabine(&args)
}

const FLAGS: &[&str] = &[
    "--domain",
    "meet.praxis-test.de",
    "--contact",
    "it@praxis-test.de",
    "--access",
    "secure",
    "--language",
    "de",
    "--name",
    "Praxis Test – Videosprechstunde",
    "--imprint-url",
    "https://www.praxis-test.de/impressum",
    "--privacy-url",
    "https://www.praxis-test.de/datenschutz",
];

#[test]
fn init_with_flags_writes_a_config_that_policy_check_accepts() {
    let _t = support::test();
    let dir = support::output_dir("cli-init/flags");
    let config = dir.join("kabine.toml");
    let o = init(&config, FLAGS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("kabine policy check"));

    let check = kabine(&["policy", "check", "--config", config.to_str().expect("utf-8")]);
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{out}{}", String::from_utf8_lossy(&check.stderr));
    assert!(out.contains("rules hold"), "{out}");
    assert!(out.contains("acme-ca") && out.contains("Let's Encrypt"), "the CA is named: {out}");

    let text = std::fs::read_to_string(&config).expect("written");
    let loaded = kabine::config::load(&config).expect("loads");
    let c = &loaded.config;
    assert_eq!(c.server.public_url.as_deref(), Some("https://meet.praxis-test.de"));
    assert_eq!(c.server.listen.port(), 443);
    assert_eq!(c.tls.acme.as_ref().expect("ACME").domains, ["meet.praxis-test.de"]);
    assert_eq!(c.tls.acme.as_ref().expect("ACME").contact.as_deref(), Some("mailto:it@praxis-test.de"));
    assert_eq!(c.access.mode, kabine::config::AccessMode::Secure);
    assert_eq!(c.client.default_language, kabine::config::Language::De);
    assert_eq!(c.client.app_name, "Praxis Test – Videosprechstunde");
    assert_eq!(c.client.privacy_url.as_deref(), Some("https://www.praxis-test.de/datenschutz"));
    // Complete and commented: every section of the example, with its comments.
    for table in ["[server]", "[tls]", "[tls.acme]", "[media]", "[log]", "[rooms]", "[access]", "[ldap]", "[metrics]"] {
        assert!(text.contains(table), "{table} missing");
    }
    assert!(text.lines().filter(|l| l.starts_with('#')).count() > 100, "comments kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "readable by owner and group only");
    }

    // The audit names the CA as a recipient and the transfer to the USA.
    let audit = kabine(&["audit", "--config", config.to_str().expect("utf-8"), "--format", "json", "--lang", "en"]);
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("JSON report");
    let ropa = report["records_of_processing"].to_string();
    assert!(ropa.contains("Certificate authority Let's Encrypt"), "{ropa}");
    assert!(ropa.contains("operated outside the EU") && ropa.contains("mailto:it@praxis-test.de"), "{ropa}");
    let acme = report["checks"].as_array().and_then(|c| c.iter().find(|c| c["id"] == "static.tls.acme")).cloned();
    let acme = acme.expect("static.tls.acme in the report").to_string();
    assert!(acme.contains("USA, outside the EU"), "{acme}");
}

#[test]
fn init_refuses_to_overwrite_an_existing_config() {
    let _t = support::test();
    let dir = support::output_dir("cli-init/refuse");
    let config = dir.join("kabine.toml");
    std::fs::write(&config, "# my own\n[server]\nlisten = \"0.0.0.0:443\"\n").expect("write");
    let before = std::fs::read(&config).expect("read");
    let o = init(&config, FLAGS);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&config).expect("read"), before, "the file is untouched");

    // Its own output is not replaced either.
    let fresh = dir.join("fresh.toml");
    assert!(init(&fresh, FLAGS).status.success());
    let written = std::fs::read(&fresh).expect("read");
    let again = init(&fresh, &["--domain", "other.example.org"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read(&fresh).expect("read"), written);

    // Without a terminal and without --domain, nothing is asked and nothing written.
    let none = dir.join("none.toml");
    let o = init(&none, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--domain"));
    assert!(!none.exists());
}

#[test]
fn init_replaces_only_the_untouched_package_placeholder() {
    let _t = support::test();
    let dir = support::output_dir("cli-init/placeholder");
    let config = dir.join("kabine.toml");
    std::fs::write(&config, kabine::init::PACKAGE_PLACEHOLDER).expect("write");
    let o = init(&config, FLAGS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(kabine::config::load(&config).expect("loads").config.tls.acme.is_some());

    let edited = dir.join("edited.toml");
    std::fs::write(&edited, format!("{}\n[log]\nlevel = \"error\"\n", kabine::init::PACKAGE_PLACEHOLDER))
        .expect("write");
    let o = init(&edited, FLAGS);
    assert_eq!(o.status.code(), Some(1), "an edited placeholder is a configuration of its own");
}
