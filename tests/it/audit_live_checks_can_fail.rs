//! Every live check of `kabine audit` can fail: a server with one
//! deliberately weakened setting makes exactly that check fail, and the exit
//! code non-zero. The weakening lives in this test (a layer around Kabine's
//! router, a test-only signalling endpoint, a log file), never in the product.
//!
//! Each case also runs the good variant first where it is not Kabine itself,
//! so a check that passes here is shown to be able to pass, too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::support::{self, audit};

/// Live checks that need the test-only signalling endpoint to apply.
const PROTOCOL_CHECKS: &[&str] = &[
    "live.ws.foreign-origin",
    "live.rooms.lifecycle",
    "live.rooms.no-disk-writes",
    "live.ice.eu-allow-list",
    "live.recording.consent",
];

/// A config for a test server on `addr`, logs in `dir/logs`.
fn config_for(dir: &Path, served: &audit::Served) -> PathBuf {
    let logs = audit::private_dir(dir.join("logs"));
    audit::write_config(
        dir,
        &format!(
            "[server]\nlisten = \"{}\"\n[media]\nbind_address = \"127.0.0.1\"\nudp_port = 10000\n[log]\ntarget = \"file\"\ndirectory = \"{}\"\n[access]\nusers_file = \"{}\"\n[e2ee]\nmode = \"{}\"\n",
            served.addr,
            logs.display(),
            dir.join("data/users").display(),
            e2ee_mode(dir),
        ),
    )
}

/// The test endpoint carries no media, so the end-to-end encryption probe
/// applies only where a case asks for it (the directory name ends in `e2ee`);
/// elsewhere `e2ee.mode = "off"` makes it not applicable.
fn e2ee_mode(dir: &Path) -> &'static str {
    if dir.to_string_lossy().ends_with("e2ee") { "required" } else { "off" }
}

/// Runs every live check against `router` (behind the test-only signalling
/// endpoint) and returns the failed ids.
async fn failed_live_checks(name: &str, router: Router) -> (BTreeSet<String>, audit::Run) {
    failed_live_checks_with(name, audit::Fake::default(), router).await
}

async fn failed_live_checks_with(name: &str, fake: audit::Fake, router: Router) -> (BTreeSet<String>, audit::Run) {
    let dir = support::output_dir(&format!("audit-fail/{name}"));
    let served = audit::serve(audit::with_fake(fake, router)).await;
    let config = config_for(&dir, &served);
    let run = audit::audit(&dir, &audit::args(&config, &served.url(), &["--only", "live"])).await;
    served.stop().await;
    (run.with_status("fail"), run)
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Changes every response of `router` with `f` after Kabine made it.
fn weaken(router: Router, f: fn(&str, &mut Response)) -> Router {
    router.layer(middleware::from_fn(move |req: Request<Body>, next: Next| async move {
        let path = req.uri().path().to_string();
        let mut r = next.run(req).await;
        f(&path, &mut r);
        r
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kabine_itself_fails_no_live_check() {
    let _t = support::test();
    // The end-to-end encryption probe sends media.
    let _heavy = support::heavy().await;
    let dir = support::output_dir("audit-fail/baseline");
    let server = support::start(support::test_config()).await;
    let config = audit::write_config(
        &dir,
        &format!(
            "[server]\nlisten = \"{}\"\n[media]\nbind_address = \"127.0.0.1\"\nudp_port = {}\n",
            kabine::http::reachable(server.https_addr()),
            server.media_addr().port()
        ),
    );
    let run = audit::audit(&dir, &audit::args(&config, &support::base_url(&server), &["--only", "live"])).await;
    assert!(server.stop().await);
    assert!(run.with_status("fail").is_empty(), "{:?}\n{}", run.with_status("fail"), run.stderr);
    // Kabine has signalling: the protocol checks apply and pass.
    for id in ["live.ws.foreign-origin", "live.rooms.lifecycle", "live.ice.eu-allow-list", "live.e2ee.media"] {
        assert_eq!(run.status(id), "pass", "{}", run.explain(id));
    }
    assert_eq!(run.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_mark_meetings_end_to_end_encrypted_fails_only_the_e2ee_probe() {
    let _t = support::test();
    // Under `e2ee.mode = "required"`, the test endpoint's `welcome` says
    // nothing of end-to-end encryption (browsers would send media in clear).
    let (failed, run) = failed_live_checks("e2ee", audit::kabine_router()).await;
    assert_eq!(failed, set(&["live.e2ee.media"]), "{}", run.stderr);
    assert!(run.explain("live.e2ee.media").contains("e2ee: false"), "{}", run.explain("live.e2ee.media"));
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_endpoint_with_kabines_router_fails_no_live_check() {
    let _t = support::test();
    let (failed, run) = failed_live_checks("baseline-fake", audit::kabine_router()).await;
    assert!(failed.is_empty(), "{failed:?}\n{}", run.stderr);
    assert_eq!(run.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_hsts_header_fails_only_the_hsts_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |_, r| {
        r.headers_mut().remove(header::STRICT_TRANSPORT_SECURITY);
    });
    let (failed, run) = failed_live_checks("hsts", router).await;
    assert_eq!(failed, set(&["live.http.hsts"]), "{}", run.stderr);
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_hsts_max_age_fails_the_hsts_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |_, r| {
        r.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=3600"));
    });
    let (failed, run) = failed_live_checks("hsts-short", router).await;
    assert_eq!(failed, set(&["live.http.hsts"]), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csp_naming_another_origin_fails_only_the_csp_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |_, r| {
        r.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self' https://cdn.example.com; frame-ancestors 'none'",
            ),
        );
    });
    let (failed, run) = failed_live_checks("csp", router).await;
    assert_eq!(failed, set(&["live.http.csp"]), "{}", run.stderr);
    assert!(run.explain("live.http.csp").contains("https://cdn.example.com"));
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_nosniff_header_fails_only_the_security_headers_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |_, r| {
        r.headers_mut().remove(header::X_CONTENT_TYPE_OPTIONS);
    });
    let (failed, run) = failed_live_checks("nosniff", router).await;
    assert_eq!(failed, set(&["live.http.security-headers"]), "{}", run.stderr);
    assert!(run.explain("live.http.security-headers").contains("x-content-type-options"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaky_referrer_policy_fails_only_the_security_headers_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |_, r| {
        r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("unsafe-url"));
    });
    let (failed, run) = failed_live_checks("referrer", router).await;
    assert_eq!(failed, set(&["live.http.security-headers"]), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_version_header_fails_only_the_version_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |_, r| {
        r.headers_mut().insert(header::SERVER, HeaderValue::from_static("nginx/1.22.1"));
    });
    let (failed, run) = failed_live_checks("version", router).await;
    assert_eq!(failed, set(&["live.http.no-version-header"]), "{}", run.stderr);
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_script_in_the_page_fails_only_the_client_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |path, r| {
        if path == "/" {
            let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Kabine</title>\
                        <link rel=\"stylesheet\" href=\"/static/style.css\">\
                        <script src=\"https://cdn.example.com/analytics.js\"></script>\
                        <script type=\"module\" src=\"/static/app.js\"></script></head><body></body></html>";
            *r.body_mut() = Body::from(page);
            r.headers_mut().remove(header::CONTENT_LENGTH);
            r.headers_mut().remove(header::ETAG);
        }
    });
    let (failed, run) = failed_live_checks("external-script", router).await;
    assert_eq!(failed, set(&["live.client.no-third-party"]), "{}", run.stderr);
    let why = run.explain("live.client.no-third-party");
    assert!(why.contains("https://cdn.example.com/analytics.js"), "{why}");
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracking_cookie_fails_only_the_cookie_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |path, r| {
        if path == "/" {
            r.headers_mut()
                .append(header::SET_COOKIE, HeaderValue::from_static("_visitor=a1b2c3; Path=/; Max-Age=31536000"));
        }
    });
    let (failed, run) = failed_live_checks("cookie", router).await;
    assert_eq!(failed, set(&["live.client.no-cookies"]), "{}", run.stderr);
    let why = run.explain("live.client.no-cookies");
    assert!(why.contains("_visitor") && !why.contains("a1b2c3"), "names the cookie, not its value: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_page_for_a_made_up_link_fails_only_the_appointments_check() {
    let _t = support::test();
    let with_appointments = || audit::kabine_router_with(|c| c.teletherapy.enabled = true);
    // Kabine with appointments on passes it (401 for the list, 404 for the link).
    let (failed, run) = failed_live_checks("appointments-good", with_appointments()).await;
    assert_eq!(failed, set(&[]), "{}", run.stderr);
    assert_eq!(run.status("live.teletherapy.links").as_str(), "pass", "{}", run.explain("live.teletherapy.links"));
    // A server that opens the patient's page for any link fails it.
    let router = weaken(with_appointments(), |path, r| {
        if path.starts_with("/t/") {
            *r.status_mut() = axum::http::StatusCode::OK;
        }
    });
    let (failed, run) = failed_live_checks("appointments", router).await;
    assert_eq!(failed, set(&["live.teletherapy.links"]), "{}", run.stderr);
    let why = run.explain("live.teletherapy.links");
    assert!(why.contains("HTTP 200"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_without_consent_fails_only_the_recording_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |path, r| {
        if path == "/api/client-config" {
            *r.body_mut() = Body::from(r#"{"app_name":"Kabine","recording":{"enabled":true,"require_consent":false}}"#);
            r.headers_mut().remove(header::CONTENT_LENGTH);
        }
    });
    let (failed, run) = failed_live_checks("recording", router).await;
    assert_eq!(failed, set(&["live.recording.consent"]), "{}", run.stderr);
}

// -------------------------------------------------------------- signalling

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_conforming_endpoint_passes_the_protocol_checks() {
    let _t = support::test();
    let (failed, run) = failed_live_checks("protocol-good", audit::kabine_router()).await;
    assert!(failed.is_empty(), "{failed:?}\n{}", run.stderr);
    for id in PROTOCOL_CHECKS {
        let status = run.status(id);
        // The write counter may be inconclusive in a shared test process.
        let ok = status == "pass" || (*id == "live.rooms.no-disk-writes" && status == "warn");
        assert!(ok, "{id}: {}", run.explain(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_foreign_origin_fails_only_the_origin_check() {
    let _t = support::test();
    let (failed, run) = failed_live_checks_with(
        "ws-origin",
        audit::Fake { any_origin: true, ..Default::default() },
        audit::kabine_router(),
    )
    .await;
    assert_eq!(failed, set(&["live.ws.foreign-origin"]), "{}", run.stderr);
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_outliving_the_room_fail_only_the_lifecycle_check() {
    let _t = support::test();
    let (failed, run) = failed_live_checks_with(
        "ghosts",
        audit::Fake { keep_ghosts: true, ..Default::default() },
        audit::kabine_router(),
    )
    .await;
    assert_eq!(failed, set(&["live.rooms.lifecycle"]), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_history_for_newcomers_fails_only_the_lifecycle_check() {
    let _t = support::test();
    let (failed, run) = failed_live_checks_with(
        "replay",
        audit::Fake { replay_chat: true, ..Default::default() },
        audit::kabine_router(),
    )
    .await;
    assert_eq!(failed, set(&["live.rooms.lifecycle"]), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_eu_stun_server_in_the_welcome_fails_only_the_live_ice_check() {
    let _t = support::test();
    let fake = audit::Fake { ice_urls: vec!["stun:stun.l.google.com:19302".into()], ..Default::default() };
    let (failed, run) = failed_live_checks_with("ice", fake, audit::kabine_router()).await;
    assert_eq!(failed, set(&["live.ice.eu-allow-list"]), "{}", run.stderr);
    assert!(run.explain("live.ice.eu-allow-list").contains("stun.l.google.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_room_data_to_disk_fails_only_the_disk_check() {
    let _t = support::test();
    let dir = support::output_dir("audit-fail/disk");
    let served_dir = dir.clone();
    // The endpoint writes one file per room into the configuration's
    // directory, which the audit watches.
    let fake = audit::Fake { write_dir: Some(served_dir), ..Default::default() };
    let served = audit::serve(audit::with_fake(fake, audit::kabine_router())).await;
    let config = config_for(&dir, &served);
    let run = audit::audit(&dir, &audit::args(&config, &served.url(), &["--only", "live"])).await;
    served.stop().await;
    assert_eq!(run.with_status("fail"), set(&["live.rooms.no-disk-writes"]), "{}", run.stderr);
    assert!(
        run.explain("live.rooms.no-disk-writes").contains("kabine-audit-"),
        "{}",
        run.explain("live.rooms.no-disk-writes")
    );
    assert_eq!(run.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_join_fails_under_open_access_and_is_not_applicable_under_secure_access() {
    let _t = support::test();
    let fake = audit::Fake { refuse_hello: Some("internal"), ..Default::default() };
    let (failed, run) = failed_live_checks_with("refused-open", fake.clone(), audit::kabine_router()).await;
    assert!(failed.contains("live.rooms.lifecycle"), "{}", run.stderr);

    let dir = support::output_dir("audit-fail/refused-secure");
    let served = audit::serve(audit::with_fake(fake, audit::kabine_router())).await;
    let config = audit::write_config(
        &dir,
        &format!("[server]\nlisten = \"{}\"\n[access]\nmode = \"secure\"\nusers_file = \"data/users\"\n", served.addr),
    );
    let run =
        audit::audit(&dir, &audit::args(&config, &served.url(), &["--only", "live.rooms", "--only", "live.ice"])).await;
    served.stop().await;
    for id in ["live.rooms.lifecycle", "live.rooms.no-disk-writes", "live.ice.eu-allow-list"] {
        assert_eq!(run.status(id), "not_applicable", "{}", run.explain(id));
    }
    assert_eq!(run.code, 0);
}

// ------------------------------------------------------------------- logs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_in_a_log_file_fails_only_the_log_check() {
    let _t = support::test();
    let dir = support::output_dir("audit-fail/logs");
    let served = audit::serve(audit::with_fake(audit::Fake::default(), audit::kabine_router())).await;
    let config = config_for(&dir, &served);
    let today = kabine_date_today();
    let log = dir.join("logs").join(format!("kabine.{today}.log"));
    std::fs::write(&log, "2026-01-01T00:00:00Z WARN kabine::http: accepting a connection failed from [addr]\n")
        .expect("write");
    let clean = audit::audit(&dir, &audit::args(&config, &served.url(), &["--only", "live.logs"])).await;
    assert_eq!(clean.status("live.logs.no-addresses"), "pass", "{}", clean.explain("live.logs.no-addresses"));

    // A documentation address (RFC 5737), written the way a leaky logger would.
    let leaked = ["peer", " 192.0.2.", "7:4000 closed"].concat();
    std::fs::write(&log, format!("2026-01-01T00:00:00Z WARN kabine::http: {leaked}\n")).expect("write");
    let run = audit::audit(&dir, &audit::args(&config, &served.url(), &["--only", "live"])).await;
    served.stop().await;
    assert_eq!(run.with_status("fail"), set(&["live.logs.no-addresses"]), "{}", run.stderr);
    let why = run.explain("live.logs.no-addresses");
    assert!(why.contains("line 1") || why.contains("Zeile 1"), "{why}");
    assert!(!why.contains("192.0.2"), "the report repeats the address it found: {why}");
    assert_eq!(run.code, 1);
}

fn kabine_date_today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() / 86_400;
    // Civil date from days since the epoch (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

// -------------------------------------------------------------- recording

/// A recording directory with one recording Kabine would write: a file
/// sealed to a throwaway key, mode 0600, in a 0700 directory.
fn sealed_recording(dir: &Path) -> PathBuf {
    use kabine::record::store;
    let base = dir.join("recordings");
    let one = base.join(store::recording_dir_name(store::unix_now() * 1000));
    store::private_dir(&base).expect("dir");
    store::private_dir(&one).expect("dir");
    let key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".to_string();
    let to = store::Recipients::parse(&[key]).expect("key");
    let mut f = store::Sealed::create(&one.join("01-camera.webm.age"), &to).expect("create");
    f.write(&kabine::record::webm::header(&[kabine::record::webm::Track::Opus])).expect("write");
    f.finish().expect("finish");
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kabine_with_recording_enabled_passes_the_recording_checks() {
    let _t = support::test();
    let dir = support::output_dir("audit-fail/recording-real");
    let recordings = sealed_recording(&dir);
    let mut config = support::test_config();
    config.recording.enabled = true;
    config.recording.directory = recordings.clone();
    config.recording.recipients = vec!["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".into()];
    let relaxed = kabine::policy::Policy::from_preset("relaxed").expect("preset");
    let server = support::start_with_policy(config, relaxed).await;
    let file = audit::write_config(
        &dir,
        &format!(
            "policy = \"relaxed\"\n[server]\nlisten = \"{}\"\n[media]\nbind_address = \"127.0.0.1\"\nudp_port = {}\n[recording]\ndirectory = \"{}\"\n",
            kabine::http::reachable(server.https_addr()),
            server.media_addr().port(),
            recordings.display()
        ),
    );
    let run = audit::audit(&dir, &audit::args(&file, &support::base_url(&server), &["--only", "live"])).await;
    assert!(server.stop().await);
    for id in ["live.recording.consent", "live.recording.files"] {
        assert_eq!(run.status(id), "pass", "{id}: {}", run.explain(id));
    }
    assert!(
        run.explain("live.recording.consent").contains("record_start"),
        "{}",
        run.explain("live.recording.consent")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_that_starts_without_asking_fails_only_the_recording_check() {
    let _t = support::test();
    let router = weaken(audit::kabine_router(), |path, r| {
        if path == "/api/client-config" {
            *r.body_mut() = Body::from(r#"{"app_name":"Kabine","recording":{"enabled":true,"require_consent":true}}"#);
            r.headers_mut().remove(header::CONTENT_LENGTH);
        }
    });
    let fake = audit::Fake { record_without_consent: true, ..Default::default() };
    let (failed, run) = failed_live_checks_with("recording-bypass", fake, router).await;
    assert_eq!(failed, set(&["live.recording.consent"]), "{}", run.stderr);
    assert!(
        run.explain("live.recording.consent").contains("before every participant"),
        "{}",
        run.explain("live.recording.consent")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unencrypted_file_among_the_recordings_fails_only_the_files_check() {
    let _t = support::test();
    let dir = support::output_dir("audit-fail/recording-files");
    let recordings = sealed_recording(&dir);
    let one = std::fs::read_dir(&recordings).expect("dir").flatten().next().expect("a recording").path();
    std::fs::write(one.join("02-camera.webm"), kabine::record::webm::header(&[kabine::record::webm::Track::Opus]))
        .expect("plain file");
    let served = audit::serve(audit::with_fake(audit::Fake::default(), audit::kabine_router())).await;
    // `e2ee.mode = "off"`: the end-to-end encryption probe (which needs
    // media) is not applicable here, as in `config_for`.
    let config = audit::write_config(
        &dir,
        &format!(
            "[server]\nlisten = \"{}\"\n[media]\nbind_address = \"127.0.0.1\"\nudp_port = 10000\n[recording]\ndirectory = \"{}\"\n[e2ee]\nmode = \"off\"\n",
            served.addr,
            recordings.display()
        ),
    );
    let run = audit::audit(&dir, &audit::args(&config, &served.url(), &["--only", "live"])).await;
    served.stop().await;
    assert_eq!(run.with_status("fail"), set(&["live.recording.files"]), "{}", run.stderr);
    let why = run.explain("live.recording.files");
    assert!(why.contains("02-camera.webm: a WebM/Matroska file in clear"), "{why}");
    assert!(!why.contains("01-camera.webm.age"), "the sealed file is fine: {why}");
}
