//! Appointments over the real HTTPS server (issue 19): a therapist creates,
//! lists, extends, revokes and deletes them; another therapist sees none of
//! them; patient links open the client while they work and a clear page
//! (German and English, no script) when they do not; unknown tokens and the
//! bandwidth probe are limited per address; no token or id reaches the log.

use std::time::{SystemTime, UNIX_EPOCH};

use kabine::config::{AccessMode, Config};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support;

pub const PASSWORD: &str = "correct horse battery";

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

/// A practice: secure access, appointments on, `dr.mueller` and `dr.schmidt`.
pub fn practice(name: &str) -> Config {
    let mut c = support::with_local_host(name, AccessMode::Secure);
    let config_file = support::repo_root().join("target/test-output").join(name).join("kabine.toml");
    let added = support::add_user(&config_file, "dr.schmidt", PASSWORD);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    c.teletherapy.enabled = true;
    c.teletherapy.practice_name = Some("Praxis <Beispiel>".into());
    c
}

pub async fn cookie(base: &str, user: &str) -> String {
    let r = support::login(&support::https_client(), base, user, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    support::session_cookie(&r).expect("session cookie")
}

pub async fn create(base: &str, cookie: &str, body: Value) -> (StatusCode, Value) {
    let r = support::post_json(&support::https_client(), base, "/api/appointments", body, Some(cookie)).await;
    (r.status(), r.json().await.expect("JSON"))
}

async fn get(base: &str, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = support::https_client().get(format!("{base}{path}"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.expect("request")
}

async fn post(base: &str, path: &str, cookie: &str) -> reqwest::Response {
    support::https_client()
        .post(format!("{base}{path}"))
        .header("origin", base)
        .header("cookie", cookie)
        .send()
        .await
        .expect("request")
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_therapist_manages_own_appointments_and_another_sees_none_of_them() {
    let _t = support::test();
    let server = support::start(practice("tele-api-manage")).await;
    let base = support::base_url(&server);
    let anna = cookie(&base, "dr.mueller").await;
    let bernd = cookie(&base, "dr.schmidt").await;

    let r = get(&base, "/api/appointments", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&r.json().await.expect("JSON")), "not_logged_in");
    // Without this site's Origin a change is refused.
    let r = support::https_client()
        .post(format!("{base}/api/appointments"))
        .header("cookie", &anna)
        .json(&json!({"title": null, "start": now(), "duration_minutes": 50, "group": false, "patients": 1}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let start = now() + 600;
    let (status, a) = create(
        &base,
        &anna,
        json!({"title": "Gruppe", "start": start, "duration_minutes": 50, "group": true, "patients": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 22);
    let room = a["room"].as_str().expect("room");
    assert!(room.starts_with("t-") && room.len() == 28, "{room}");
    assert_eq!(a["state"], "scheduled");
    assert_eq!(a["opens_at"], json!(start - 1800));
    assert_eq!(a["closes_at"], json!(start + 50 * 60 + 1800));
    let links = a["links"].as_array().expect("links");
    assert_eq!(links.len(), 3);
    assert_eq!(links[1]["label"], "Patient 2");
    assert_eq!(links[1]["state"], "unused");
    assert_eq!(links[1]["path"], json!(format!("/t/{}", links[1]["token"].as_str().expect("token"))));

    for (body, code) in [
        (
            json!({"title": "x".repeat(101), "start": start, "duration_minutes": 50, "group": false, "patients": 1}),
            "bad_title",
        ),
        (
            json!({"title": null, "start": now() - 90_000, "duration_minutes": 50, "group": false, "patients": 1}),
            "bad_start",
        ),
        (
            json!({"title": null, "start": start, "duration_minutes": 481, "group": false, "patients": 1}),
            "bad_duration",
        ),
        (
            json!({"title": null, "start": start, "duration_minutes": 50, "group": true, "patients": 10}),
            "too_many_patients",
        ),
        (
            json!({"title": null, "start": start, "duration_minutes": 50, "group": false, "patients": 2}),
            "too_many_patients",
        ),
    ] {
        let (status, v) = create(&base, &anna, body).await;
        assert_eq!((status, error_of(&v)), (StatusCode::BAD_REQUEST, code), "{v}");
    }
    let (status, v) =
        create(&base, &anna, json!({"start": start, "duration_minutes": 50, "group": true, "patients": 10})).await;
    assert!(v["message"].as_str().expect("message").contains('9'), "the limit is named: {v} {status}");
    let (status, _) =
        create(&base, &anna, json!({"start": start, "duration_minutes": 50, "group": true, "patients": 3, "x": 1}))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused");

    // Another therapist: nothing to see, and 404 for everything of Anna's.
    let r = get(&base, "/api/appointments", Some(&bernd)).await;
    assert_eq!(r.json::<Value>().await.expect("JSON")["appointments"], json!([]));
    for path in [format!("/api/appointments/{id}/links"), format!("/api/appointments/{id}/links/1/revoke")] {
        assert_eq!(post(&base, &path, &bernd).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        get(&base, &format!("/api/appointments/{id}/attendance"), Some(&bernd)).await.status(),
        StatusCode::NOT_FOUND
    );
    let del = |c: String| {
        let (base, id) = (base.clone(), id.clone());
        async move {
            support::https_client()
                .delete(format!("{base}/api/appointments/{id}"))
                .header("origin", &base)
                .header("cookie", c)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(del(bernd.clone()).await, StatusCode::NOT_FOUND);

    // Anna's own: list, more links up to 9, revoke, record not before the end, delete.
    let r = get(&base, "/api/appointments", Some(&anna)).await;
    assert_eq!(r.json::<Value>().await.expect("JSON")["appointments"][0]["id"], json!(id));
    for n in 4..=9 {
        let r = post(&base, &format!("/api/appointments/{id}/links"), &anna).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.expect("JSON")["links"].as_array().map(Vec::len), Some(n));
    }
    let r = post(&base, &format!("/api/appointments/{id}/links"), &anna).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a 10th patient of a 9-patient group");
    assert_eq!(error_of(&r.json().await.expect("JSON")), "too_many_patients");
    let r = post(&base, &format!("/api/appointments/{id}/links/2/revoke"), &anna).await;
    assert_eq!(r.json::<Value>().await.expect("JSON")["links"][1]["state"], "revoked");
    let r = get(&base, &format!("/api/appointments/{id}/attendance"), Some(&anna)).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_of(&r.json().await.expect("JSON")), "not_ended");
    assert_eq!(del(anna.clone()).await, StatusCode::NO_CONTENT);
    let r = get(&base, "/api/appointments", Some(&anna)).await;
    assert_eq!(r.json::<Value>().await.expect("JSON")["appointments"], json!([]));
    assert_eq!(del(anna.clone()).await, StatusCode::NOT_FOUND);
    assert!(server.stop().await);
}

/// `/t/<token>`: the refusal page, with its reason.
async fn page(base: &str, token: &str) -> (StatusCode, String) {
    let r = get(base, &format!("/t/{token}"), None).await;
    (r.status(), r.text().await.expect("text"))
}

fn reason(html: &str) -> Option<&str> {
    let at = html.find("data-reason=\"")? + "data-reason=\"".len();
    html[at..].split('"').next()
}

#[tokio::test]
async fn patient_links_open_the_client_while_they_work_and_a_clear_page_otherwise() {
    let _t = support::test();
    let server = support::start(practice("tele-api-links")).await;
    let base = support::base_url(&server);
    let anna = cookie(&base, "dr.mueller").await;
    let (_, now_a) =
        create(&base, &anna, json!({"start": now(), "duration_minutes": 30, "group": true, "patients": 2})).await;
    let (_, later) =
        create(&base, &anna, json!({"start": now() + 86_400, "duration_minutes": 30, "group": false, "patients": 1}))
            .await;
    // Over: started 23 h ago for 5 minutes, its 30 minutes of grace long gone.
    let (_, over) =
        create(&base, &anna, json!({"start": now() - 23 * 3600, "duration_minutes": 5, "group": false, "patients": 1}))
            .await;
    let token = |a: &Value, n: usize| a["links"][n]["token"].as_str().expect("token").to_string();
    let id = now_a["id"].as_str().expect("id");
    post(&base, &format!("/api/appointments/{id}/links/2/revoke"), &anna).await;

    let r = get(&base, &format!("/t/{}", token(&now_a, 0)), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("text").contains("<script"), "the client app");
    let r = get(&base, &format!("/api/appointment/{}", token(&now_a, 0)), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("JSON");
    assert_eq!(v["practice"], "Praxis <Beispiel>");
    assert_eq!(v["therapist"], "Dr. Anna Müller");
    assert_eq!(v["link"], "Patient 1");
    assert_eq!(v["room"], now_a["room"]);
    assert_eq!(v["consent"]["version"].as_str().map(str::len), Some(16));
    assert!(v["consent"]["text_de"].as_str().expect("de").contains("Einwilligung"));

    for (tok, status, why, code) in [
        ("AAAAAAAAAAAAAAAAAAAAAA".to_string(), StatusCode::NOT_FOUND, "unknown", "unknown_link"),
        (token(&now_a, 1), StatusCode::GONE, "revoked", "revoked"),
        (token(&over, 0), StatusCode::GONE, "expired", "expired"),
        (token(&later, 0), StatusCode::FORBIDDEN, "not_yet", "not_yet"),
    ] {
        let (s, html) = page(&base, &tok).await;
        assert_eq!((s, reason(&html)), (status, Some(why)), "{html}");
        assert!(!html.contains("<script"), "no script on the refusal page");
        assert!(html.contains("/static/style.css") && html.contains("lang=\"de\"") && html.contains("lang=\"en\""));
        assert!(html.contains("Praxis &lt;Beispiel&gt;"), "the practice, escaped: {html}");
        assert!(html.contains("Praxis") && (html.contains("practice")), "says whom to contact: {html}");
        let r = get(&base, &format!("/api/appointment/{tok}"), None).await;
        assert_eq!(r.status(), status);
        let v: Value = r.json().await.expect("JSON");
        assert_eq!(error_of(&v), code, "{v}");
        if why == "not_yet" {
            assert_eq!(v["opens_at"], json!(later["opens_at"]));
            assert!(html.contains("UTC"), "names the date: {html}");
        } else {
            assert_eq!(v["opens_at"], Value::Null);
        }
    }
    assert!(html_of_revoked_mentions_withdrawn(&base, &token(&now_a, 1)).await);
    // Nothing of tokens, ids or room names in the log.
    let log = support::captured();
    for secret in [token(&now_a, 0), token(&now_a, 1), id.to_string(), now_a["room"].as_str().expect("room").into()] {
        assert!(!log.contains(&secret), "a token, id or room name reached the log");
    }
    assert!(server.stop().await);
}

async fn html_of_revoked_mentions_withdrawn(base: &str, token: &str) -> bool {
    let (_, html) = page(base, token).await;
    html.contains("withdrawn by the practice") && html.contains("zurückgezogen")
}

#[tokio::test]
async fn unknown_tokens_and_probes_are_limited_per_address() {
    let _t = support::test();
    let server = support::start(practice("tele-api-limits")).await;
    let base = support::base_url(&server);
    let anna = cookie(&base, "dr.mueller").await;
    let (_, a) =
        create(&base, &anna, json!({"start": now(), "duration_minutes": 30, "group": false, "patients": 1})).await;
    let good = a["links"][0]["token"].as_str().expect("token").to_string();

    let r = get(&base, "/api/probe", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    assert_eq!(r.bytes().await.expect("body").len(), 256 * 1024);
    let mut refused = 0;
    for _ in 0..12 {
        if get(&base, "/api/probe", None).await.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused >= 2, "the probe is limited ({refused} refused)");

    // A known token never counts; 20 unknown ones from one address do.
    for i in 0..20 {
        assert_eq!(get(&base, &format!("/api/appointment/{good}"), None).await.status(), StatusCode::OK);
        let r = get(&base, &format!("/api/appointment/{i:0>22}"), None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "guess {i}");
    }
    let r = get(&base, &format!("/api/appointment/{good}"), None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "throttled, whatever the token");
    assert_eq!(error_of(&r.json().await.expect("JSON")), "too_many_attempts");
    let (s, html) = page(&base, &good).await;
    assert_eq!((s, reason(&html)), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")));
    // Another address is not affected.
    let other = support::https_client_from("127.0.0.2".parse().expect("literal"));
    let r = other.get(format!("{base}/api/appointment/{good}")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(server.stop().await);
}

#[tokio::test]
async fn without_teletherapy_the_routes_are_not_there() {
    let _t = support::test();
    let server = support::start(support::with_local_host("tele-api-off", AccessMode::Secure)).await;
    let base = support::base_url(&server);
    let anna = cookie(&base, "dr.mueller").await;
    let r = get(&base, "/api/appointments", Some(&anna)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(&r.json().await.expect("JSON")), "teletherapy_off");
    let (status, v) =
        create(&base, &anna, json!({"start": now(), "duration_minutes": 30, "group": false, "patients": 1})).await;
    assert_eq!((status, error_of(&v)), (StatusCode::NOT_FOUND, "teletherapy_off"));
    assert_eq!(get(&base, "/sessions", None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&base, "/api/probe", None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(page(&base, "AAAAAAAAAAAAAAAAAAAAAA").await.0, StatusCode::NOT_FOUND);
    assert!(server.stop().await);
}

#[test]
fn open_access_with_appointments_refuses_to_start_with_one_line() {
    let _t = support::test();
    let dir = support::output_dir("tele-api-open");
    let path = dir.join("kabine.toml");
    std::fs::write(&path, "[teletherapy]\nenabled = true\nmax_patients = 0\n").expect("write");
    let out = std::process::Command::new(support::kabine_bin())
        .args(["serve", "--config", path.to_str().expect("utf-8")])
        .output()
        .expect("kabine runs");
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("teletherapy.")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines.iter().any(|l| l.contains("teletherapy.enabled: needs access.mode")), "{text}");
    assert!(lines.iter().any(|l| l.contains("teletherapy.max_patients: must be 1 to 99")), "{text}");
}

#[tokio::test]
async fn a_directory_user_who_may_not_host_holds_no_appointments_and_enters_no_appointment_room() {
    use crate::support::slapd::{self, Slapd};
    let _t = support::test();
    let dir = Slapd::start("tele-api-ldap");
    let mut c = practice("tele-api-ldap-config");
    c.ldap.url = Some(dir.ldaps_url());
    c.ldap.ca_file = Some(dir.ca_file());
    c.ldap.bind_dn = Some(slapd::ADMIN_DN.into());
    c.ldap.bind_password = Some(kabine::config::SecretString::new(slapd::ADMIN_PW.into()));
    c.ldap.user_base = slapd::PEOPLE.into();
    c.ldap.host_group = Some(slapd::HOSTS_GROUP.into());
    let server = support::start(c).await;
    let base = support::base_url(&server);
    let client = support::https_client();
    let r = support::login(&client, &base, "bob", "bobpw").await;
    assert_eq!(r.status(), StatusCode::OK);
    let bob = support::session_cookie(&r).expect("cookie");
    let r = get(&base, "/api/appointments", Some(&bob)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(&r.json().await.expect("JSON")), "not_a_therapist");
    let (status, v) =
        create(&base, &bob, json!({"start": now(), "duration_minutes": 30, "group": false, "patients": 1})).await;
    assert_eq!((status, error_of(&v)), (StatusCode::FORBIDDEN, "not_a_therapist"));
    // Alice (in the hosts group) holds one; bob cannot enter its room.
    let r = support::login(&client, &base, "alice", "alicepw").await;
    let alice = support::session_cookie(&r).expect("cookie");
    let (status, a) =
        create(&base, &alice, json!({"start": now(), "duration_minutes": 30, "group": false, "patients": 1})).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut ws = support::ws_connect_as(&server, Some(&bob)).await;
    let hello = json!({"type": "hello", "version": 1, "room": a["room"], "display_name": "Bob"});
    support::ws_send(&mut ws, &hello.to_string()).await;
    assert!(matches!(
        support::ws_next(&mut ws).await,
        Some(kabine::protocol::ServerMsg::Error { code: kabine::protocol::ErrorCode::NotYourSession, .. })
    ));
    assert!(server.stop().await);
}
