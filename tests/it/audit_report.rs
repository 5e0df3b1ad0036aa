//! `kabine audit` on the default configuration, against a Kabine server
//! running in this process: every applicable check passes (warnings only
//! where the demo set-up deserves one), the exit code is 0, the JSON report
//! validates against `audit/report.schema.json`, and the HTML report renders
//! in headless Chromium (the browser harness of `tests/browser`), with no
//! request anywhere, no axe-core violation, and a print layout.

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
    "static.recording.consent",
    "static.p2p",
    "static.e2ee",
    "static.config.permissions",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_configuration_passes_every_applicable_check() {
    let _t = support::test();
    // The end-to-end encryption probe sends media (every run below makes one).
    let _heavy = support::heavy().await;
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

    // The checked run and every format in both languages, at once: the runs
    // are independent and mostly wait on the live probes.
    let renders = [("md", "de"), ("md", "en"), ("html", "de"), ("html", "en"), ("json", "en")];
    let checked = audit::args(&config, &url, &["--lang", "de"]);
    let (run, codes) = tokio::join!(
        audit::audit(&dir, &checked),
        futures_util::future::join_all(renders.iter().map(|(format, lang)| {
            let out = dir.join(format!("report-{lang}.{format}"));
            let (config, url) = (config.clone(), url.clone());
            async move { audit::render(&config, &url, format, lang, &out).await }
        }))
    );
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
    for id in ["live.ws.foreign-origin", "live.rooms.lifecycle", "live.ice.eu-allow-list", "live.e2ee.media"] {
        assert_eq!(run.status(id), "pass", "{}", run.explain(id));
    }

    // The JSON validates against the schema kept in audit/.
    validate_against_schema(&dir.join("report.json"));

    // Every format in both languages; no placeholder left unfilled.
    let placeholder = regex::Regex::new(r"\{[a-z_]+\}").expect("regex");
    for ((format, lang), code) in renders.into_iter().zip(codes) {
        let out = dir.join(format!("report-{lang}.{format}"));
        assert_eq!(code, 0, "{format} {lang}");
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
    check_html(&dir.join("report-de.html"));
    futures_util::future::join_all(["report-de.html", "report-en.html"].map(|file| render_in_chromium(&dir, file)))
        .await;
    assert!(server.stop().await);
}

pub(crate) fn validate_against_schema(report: &std::path::Path) {
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
fn check_html(html: &std::path::Path) {
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
}

/// Renders the report with the browser harness of `tests/browser`:
/// screenshots (viewport and full page), axe-core, and a PDF for print.
async fn render_in_chromium(dir: &std::path::Path, file: &str) {
    let base = format!("file://{}", dir.display());
    // The test holds the media turn already (the E2EE probe).
    let result = support::browser::run_in_turn(&base, "audit_report", &[file]).await;
    support::browser::assert_clean("audit_report", &result);
    assert_eq!(result["violations"], serde_json::json!([]), "axe-core (WCAG 2.1 AA) violations in the report");
    assert_eq!(result["lang"], file.trim_start_matches("report-").trim_end_matches(".html"));
    assert!(result["headings"].as_array().is_some_and(|h| h.len() >= 7), "{}", result["headings"]);
    assert!(
        result["statuses"].as_u64().is_some_and(|n| n >= 60),
        "every check shows its status: {}",
        result["statuses"]
    );
    // Keep the screenshots and the PDF with the reports in target/test-output/audit.
    let shots =
        support::repo_root().join("target/test-output").join(format!("audit_report-{}", file.replace('.', "_")));
    for (from, to) in
        [(format!("{file}.png"), format!("{file}.png")), (format!("{file}-full.png"), format!("{file}-full.png"))]
    {
        std::fs::copy(shots.join(from), dir.join(to)).expect("screenshot written");
    }
    std::fs::copy(result["pdf"].as_str().expect("pdf path"), dir.join(format!("{file}.pdf"))).expect("pdf written");
    let pdf = std::fs::read(result["pdf"].as_str().expect("pdf path")).expect("pdf written");
    assert!(pdf.starts_with(b"%PDF"), "print produced a PDF");
    let pages = pdf
        .windows(b"/Type /Page".len() + 1)
        .filter(|w| w.starts_with(b"/Type /Page") && w[w.len() - 1] != b's')
        .count();
    assert!(pages >= 3, "the report prints on several A4 pages ({pages})");
}
