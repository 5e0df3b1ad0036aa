//! `kabine audit` on the default configuration, against a Kabine server
//! running in this process: every applicable check passes (warnings only
//! where the demo set-up deserves one), the exit code is 0, the JSON report
//! validates against `audit/report.schema.json`, and the HTML report renders
//! in headless Chromium, self-contained and printable.

use std::process::Command;

use crate::support::{self, audit};

/// Warnings the default (demo) configuration honestly deserves.
const EXPECTED_WARNINGS: &[&str] = &[
    // The demo's self-signed certificate: browsers do not trust it.
    "static.tls.certificate-files",
    "live.tls.certificate-trust",
    // No imprint or privacy-notice link is configured in the demo.
    "static.client.legal-links",
    // Open access: anyone with a room's address may enter.
    "static.access.mode",
    // In this test the server shares its process with the whole suite, so
    // the process's write counter may be inconclusive (never a failure:
    // the directory check decides that).
    "live.rooms.no-disk-writes",
];

/// Live checks that can always be measured against Kabine.
const MUST_PASS: &[&str] = &[
    "live.tls.versions",
    "live.tls.cipher-suites",
    "live.tls.certificate-expiry",
    "live.http.hsts",
    "live.http.csp",
    "live.http.security-headers",
    "live.http.no-version-header",
    "live.client.no-third-party",
    "live.client.no-cookies",
    "live.recording.consent",
    "static.policy.preset",
    "static.tls.min-version",
    "static.client.third-party",
    "static.ice.eu-allow-list",
    "static.log.level",
    "static.log.retention",
    "static.log.redaction",
    "static.rooms.memory-only",
    "static.recording.consent",
    "static.p2p",
    "static.config.permissions",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_configuration_passes_every_applicable_check() {
    let _t = support::test();
    let dir = support::output_dir("audit");
    let logs = audit::private_dir(dir.join("logs"));
    let server = support::start(support::test_config()).await;
    let url = support::base_url(&server);
    let config = audit::write_config(
        &dir,
        &format!(
            // The defaults, with the server's ports, and logs and the (absent)
            // user store inside this test's directory so nothing outside it counts.
            "[server]\nlisten = \"{}\"\n[media]\nbind_address = \"127.0.0.1\"\nudp_port = {}\n[log]\ntarget = \"file\"\ndirectory = \"{}\"\n[access]\nusers_file = \"{}\"\n",
            kabine::http::reachable(server.https_addr()),
            server.media_addr().port(),
            logs.display(),
            dir.join("data/users").display()
        ),
    );

    let run = audit::audit(&dir, &audit::args(&config, &url, &["--lang", "de"])).await;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(&run.json).expect("json")).expect("write");
    assert_eq!(run.code, 0, "exit code; stderr:\n{}", run.stderr);
    assert!(run.with_status("fail").is_empty(), "failed: {:?}\n{}", run.with_status("fail"), run.stderr);
    for id in run.with_status("warn") {
        assert!(EXPECTED_WARNINGS.contains(&id.as_str()), "unexpected warning {id}:\n{}", run.explain(&id));
    }
    for id in MUST_PASS {
        assert_eq!(run.status(id), "pass", "{}", run.explain(id));
    }
    assert_eq!(run.statuses().len(), kabine::audit::implemented().len(), "every check ran");
    assert_eq!(run.json["result"], "pass");
    assert_eq!(run.json["language"], "de");
    // The signalling checks apply to Kabine and pass.
    for id in ["live.ws.foreign-origin", "live.rooms.lifecycle", "live.ice.eu-allow-list"] {
        assert_eq!(run.status(id), "pass", "{}", run.explain(id));
    }

    // The JSON validates against the schema kept in audit/.
    validate_against_schema(&dir.join("report.json"));

    // Every format in both languages; no placeholder left unfilled.
    let placeholder = regex::Regex::new(r"\{[a-z_]+\}").expect("regex");
    for (format, lang) in [("md", "de"), ("md", "en"), ("html", "de"), ("html", "en"), ("json", "en")] {
        let out = dir.join(format!("report-{lang}.{format}"));
        assert_eq!(audit::render(&config, &url, format, lang, &out).await, 0, "{format} {lang}");
        let text = std::fs::read_to_string(&out).expect("report written");
        assert!(!placeholder.is_match(&text), "{format} {lang}: unfilled placeholder {:?}", placeholder.find(&text));
        let must = if lang == "de" {
            ["Verzeichnis von Verarbeitungstätigkeiten", "Datenflüsse", "Protokollierung", "Vertraulichkeit"]
        } else {
            ["records of processing activities", "Data flows", "Logging", "Confidentiality"]
        };
        for m in must.iter().filter(|_| format != "json") {
            assert!(text.contains(m), "{format} {lang}: `{m}` missing");
        }
    }
    validate_against_schema(&dir.join("report-en.json"));
    check_html(&dir.join("report-de.html"), &dir);
    assert!(server.stop().await);
}

fn validate_against_schema(report: &std::path::Path) {
    let python = std::path::Path::new("/usr/bin/python3");
    let probe = Command::new(python).args(["-c", "import jsonschema"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "the JSON Schema validator is needed: run scripts/test, or apt-get install python3-jsonschema"
    );
    let schema = support::repo_root().join("audit/report.schema.json");
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator.check_schema(schema)\n\
                  v = jsonschema.Draft202012Validator(schema)\n\
                  doc = json.load(open(sys.argv[2]))\n\
                  errors = sorted(v.iter_errors(doc), key=str)\n\
                  [print(list(e.absolute_path), e.message) for e in errors]\n\
                  broken = dict(doc); broken.pop('checks'); broken['extra'] = 1\n\
                  assert not v.is_valid(broken), 'the schema accepts a broken report'\n\
                  sys.exit(1 if errors else 0)\n";
    let out = Command::new(python).arg("-c").arg(script).arg(&schema).arg(report).output().expect("python runs");
    assert!(
        out.status.success(),
        "{} does not validate:\n{}{}",
        report.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The HTML report is self-contained and renders (screen and print) in headless Chromium.
fn check_html(html: &std::path::Path, dir: &std::path::Path) {
    let text = std::fs::read_to_string(html).expect("html");
    // Nothing that loads anything: no such elements, no URLs in attributes
    // other than in-page anchors, nothing but plain rules in the style sheet.
    let loading = regex::Regex::new(r#"(?i)<(script|link|img|iframe|object|embed|audio|video|source|base)\b|\s(src|srcset|href|action|poster|data)=\s*["']?[^"'#\s>]"#)
        .expect("regex");
    assert!(!loading.is_match(&text), "the HTML report loads something: {:?}", loading.find(&text));
    let style = text.split("<style>").nth(1).and_then(|s| s.split("</style>").next()).expect("one style element");
    for forbidden in ["@import", "url(", "@font-face"] {
        assert!(!style.contains(forbidden), "the report's style sheet loads something: {forbidden}");
    }
    assert!(text.starts_with("<!doctype html>\n<html lang=\"de\">"), "lang attribute");
    assert!(
        text.contains("<th scope=\"col\">") && text.contains("<th scope=\"row\">"),
        "table headers for screen readers"
    );
    assert!(text.contains("@media print"), "print styles");
    // Every status is written out, not shown by colour alone.
    assert!(text.contains(">bestanden</span>"));

    let chromium = support::require_tool("chromium", "chromium");
    let profile = dir.join("chromium-profile");
    let shot = dir.join("report-de.png");
    let pdf = dir.join("report-de.pdf");
    let url = format!("file://{}", html.display());
    for target in [format!("--screenshot={}", shot.display()), format!("--print-to-pdf={}", pdf.display())] {
        let out = Command::new("timeout")
            .arg("90")
            .arg(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1200,2400",
                "--no-pdf-header-footer",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(&target)
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "chromium {target}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 50_000, "screenshot is a real image ({} bytes)", png.len());
    let pdf = std::fs::read(&pdf).expect("pdf written");
    assert!(pdf.starts_with(b"%PDF"), "print-to-pdf produced a PDF");
    let pages = pdf
        .windows(b"/Type /Page\n".len())
        .filter(|w| w.starts_with(b"/Type /Page") && !w.starts_with(b"/Type /Pages"))
        .count();
    assert!(pages >= 3, "the report prints on several A4 pages ({pages})");
}
