//! Logins of local users through `/api/login` on a running server: the
//! session cookie and its attributes, logout ending the session on the
//! server, the password change, a store changed by `kabine user` picked up
//! without a restart, the same answer for an unknown user and a wrong
//! password, and cross-origin requests refused.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kabine::config::{AccessMode, Config};
use reqwest::StatusCode;

use crate::support;

/// A config file (for `kabine user`) and the matching in-memory config.
fn setup(name: &str) -> (PathBuf, Config) {
    let dir = support::output_dir(name);
    let config_file = dir.join("kabine.toml");
    let store = dir.join("users");
    std::fs::write(
        &config_file,
        format!("[access]\nmode = \"secure\"\nusers_file = {:?}\n", store.display().to_string()),
    )
    .expect("write config");
    let mut config = support::test_config();
    config.access.mode = AccessMode::Secure;
    config.access.users_file = store;
    (config_file, config)
}

fn add(config_file: &std::path::Path, name: &str, password: &str) {
    let o = support::add_user(config_file, name, password);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test]
async fn login_sets_a_strict_session_cookie_and_logout_ends_the_session_on_the_server() {
    let _t = support::test();
    let (config_file, config) = setup("login-cookie");
    add(&config_file, "alice", "korrekt pferd batterie");
    let server = support::start(config).await;
    let base = support::base_url(&server);
    let client = support::https_client();

    // The account page (password change) is served, and is not a room.
    let r = client.get(format!("{base}/account")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html")));
    assert!(!kabine::protocol::room_name_is_valid("account") && !kabine::protocol::room_name_is_valid("Account"));

    let before = support::session(&client, &base, None).await;
    assert_eq!(before["access_mode"], "secure");
    assert!(before["user"].is_null(), "{before}");

    let r = support::login(&client, &base, "alice", "korrekt pferd batterie").await;
    assert_eq!(r.status(), StatusCode::OK);
    let set_cookie: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii").to_string()).collect();
    assert_eq!(set_cookie.len(), 1, "{set_cookie:?}");
    let attrs: Vec<&str> = set_cookie[0].split("; ").collect();
    let (name, value) = attrs[0].split_once('=').expect("NAME=VALUE");
    assert_eq!(name, "__Host-kabine_session");
    assert_eq!(value.len(), 64, "256 bits in hex: {value}");
    assert!(value.bytes().all(|b| b.is_ascii_hexdigit()));
    for required in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&required), "{required} missing: {set_cookie:?}");
    }
    assert!(!set_cookie[0].to_ascii_lowercase().contains("domain="), "{set_cookie:?}");
    assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["may_host"], true);
    assert_eq!(body["user"]["account"], "local");
    assert!(!body.to_string().contains("korrekt"), "no password in any answer");
    let cookie = format!("{name}={value}");

    let s = support::session(&client, &base, Some(&cookie)).await;
    assert_eq!(s["user"]["username"], "alice", "{s}");
    assert_eq!(s["user"]["can_change_password"], true);

    // A new login gives a new token and ends the session it replaces.
    let r = support::post_json(
        &client,
        &base,
        "/api/login",
        serde_json::json!({"username": "ALICE", "password": "korrekt pferd batterie"}),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "user names are case-insensitive");
    let second = support::session_cookie(&r).expect("cookie");
    assert_ne!(second, cookie);
    assert!(support::session(&client, &base, Some(&cookie)).await["user"].is_null(), "the old one ended");

    // Logout: the cookie is cleared, and the token no longer works even if
    // a client kept it.
    let r = support::post_json(&client, &base, "/api/logout", serde_json::json!({}), Some(&second)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cleared").to_string();
    assert!(cleared.starts_with("__Host-kabine_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert!(support::session(&client, &base, Some(&second)).await["user"].is_null());
    let r = support::post_json(
        &client,
        &base,
        "/api/password",
        serde_json::json!({"current": "korrekt pferd batterie", "new": "ein anderes passwort"}),
        Some(&second),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(server.stop().await);
}

#[tokio::test]
async fn password_change_works_and_the_old_password_stops_working() {
    let _t = support::test();
    let (config_file, config) = setup("login-passwd");
    let store = config.access.users_file.clone();
    add(&config_file, "alice", "korrekt pferd batterie");
    let server = support::start(config).await;
    let base = support::base_url(&server);
    let client = support::https_client();
    let r = support::login(&client, &base, "alice", "korrekt pferd batterie").await;
    let cookie = support::session_cookie(&r).expect("cookie");
    let other_device =
        support::session_cookie(&support::login(&client, &base, "alice", "korrekt pferd batterie").await)
            .expect("cookie");

    let change = |current: &str, new: &str| serde_json::json!({"current": current, "new": new});
    let r = support::post_json(
        &client,
        &base,
        "/api/password",
        change("falsch falsch", "neues langes passwort"),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<serde_json::Value>().await.expect("JSON")["error"], "wrong_password");
    for (new, reason) in [("kurz", "too_short"), ("Passwort123!", "common"), ("alice1234", "trivial")] {
        let r =
            support::post_json(&client, &base, "/api/password", change("korrekt pferd batterie", new), Some(&cookie))
                .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{new}");
        let body: serde_json::Value = r.json().await.expect("JSON");
        assert_eq!(body["error"], "weak_password");
        assert_eq!(body["reason"], reason, "{new}: {body}");
    }

    let r = support::post_json(
        &client,
        &base,
        "/api/password",
        change("korrekt pferd batterie", "neues langes passwort"),
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let new_cookie = support::session_cookie(&r).expect("a fresh session cookie");
    assert_ne!(new_cookie, cookie);
    assert_eq!(support::session(&client, &base, Some(&new_cookie)).await["user"]["username"], "alice");
    assert!(support::session(&client, &base, Some(&cookie)).await["user"].is_null(), "old session ended");
    assert!(
        support::session(&client, &base, Some(&other_device)).await["user"].is_null(),
        "sessions on other devices ended"
    );

    let r = support::login(&client, &base, "alice", "korrekt pferd batterie").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old password stops working");
    let r = support::login(&client, &base, "alice", "neues langes passwort").await;
    assert_eq!(r.status(), StatusCode::OK, "the new one works");

    // On disk: a new argon2id hash at the minimum parameters, still 0600.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&store).expect("store").permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&store).expect("store");
    assert!(text.contains("alice:$argon2id$v=19$m=19456,t=2,p=1$"), "{text}");
    assert!(!text.contains("neues langes"));
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_store_changed_by_kabine_user_is_picked_up_without_restart() {
    let _t = support::test();
    let (config_file, config) = setup("login-reload");
    let server = support::start(config).await;
    let base = support::base_url(&server);
    let client = support::https_client();
    assert_eq!(
        support::login(&client, &base, "carol", "carols passwort hier").await.status(),
        StatusCode::UNAUTHORIZED
    );

    add(&config_file, "carol", "carols passwort hier");
    let deadline = Instant::now() + Duration::from_secs(10);
    let cookie = loop {
        let r = support::login(&client, &base, "carol", "carols passwort hier").await;
        if r.status() == StatusCode::OK {
            break support::session_cookie(&r).expect("cookie");
        }
        assert!(Instant::now() < deadline, "the new user was not picked up within 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Removing the user ends their session too.
    let o = std::process::Command::new(support::kabine_bin())
        .args(["user", "remove", "carol", "--config", config_file.to_str().expect("utf-8")])
        .output()
        .expect("kabine runs");
    assert!(o.status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !support::session(&client, &base, Some(&cookie)).await["user"].is_null() {
        assert!(Instant::now() < deadline, "the removed user's session is still live after 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        support::login(&client, &base, "carol", "carols passwort hier").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(server.stop().await);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer_in_similar_time() {
    let _t = support::test();
    let (config_file, config) = setup("login-same-answer");
    add(&config_file, "alice", "korrekt pferd batterie");
    let server = support::start(config).await;
    let base = support::base_url(&server);
    let client = support::https_client();

    let answer = |r: reqwest::Response| async move {
        let status = r.status();
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let cookie = r.headers().get("set-cookie").is_some();
        (status, ct, cookie, r.bytes().await.expect("body"))
    };
    let unknown = answer(support::login(&client, &base, "mallory", "korrekt pferd batterie").await).await;
    let wrong = answer(support::login(&client, &base, "alice", "falsches passwort").await).await;
    let empty = answer(support::login(&client, &base, "alice", "").await).await;
    assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
    assert!(!unknown.2, "no cookie on failure");
    assert_eq!(unknown, wrong, "identical status, type and body");
    assert_eq!(unknown, empty);

    // Timing, as a sanity check: medians of interleaved attempts. Without
    // the dummy hash an unknown name answers ~20x faster than a wrong
    // password; the bound is loose so a loaded machine does not fail it.
    let mut t_unknown = Vec::new();
    let mut t_wrong = Vec::new();
    for i in 0..9 {
        let start = Instant::now();
        let r = support::login(&client, &base, &format!("nobody{i}"), "korrekt pferd batterie").await;
        t_unknown.push(start.elapsed());
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let start = Instant::now();
        let r = support::login(&client, &base, "alice", &format!("falsch {i}")).await;
        t_wrong.push(start.elapsed());
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    t_unknown.sort();
    t_wrong.sort();
    let (mu, mw) = (t_unknown[4], t_wrong[4]);
    eprintln!("median login answer: unknown user {mu:?}, wrong password {mw:?}");
    assert!(mu * 2 > mw && mw * 2 > mu, "unknown {mu:?} vs wrong {mw:?}: timing reveals which names exist");
    assert!(server.stop().await);
}

#[tokio::test]
async fn posts_from_another_origin_or_without_json_are_refused() {
    let _t = support::test();
    let (config_file, config) = setup("login-origin");
    add(&config_file, "alice", "korrekt pferd batterie");
    let server = support::start(config).await;
    let base = support::base_url(&server);
    let client = support::https_client();
    let body = serde_json::json!({"username": "alice", "password": "korrekt pferd batterie"});
    for origin in [Some("https://evil.example"), Some("null"), Some("http://127.0.0.1"), None] {
        let mut req = client.post(format!("{base}/api/login")).json(&body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.expect("request");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin:?}");
        assert!(r.headers().get("set-cookie").is_none());
        assert_eq!(r.json::<serde_json::Value>().await.expect("JSON")["error"], "forbidden_origin");
    }
    // A form post (text/plain, what a cross-site form can send) is refused.
    let r = client
        .post(format!("{base}/api/login"))
        .header("origin", &base)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for bad in ["{", "[]", "{\"username\":\"alice\"}", "{\"username\":1,\"password\":\"x\"}"] {
        let r = client
            .post(format!("{base}/api/login"))
            .header("origin", &base)
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let huge = serde_json::json!({"username": "alice", "password": "x".repeat(100_000)});
    let r = support::post_json(&client, &base, "/api/login", huge, None).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The same origin works.
    assert_eq!(support::login(&client, &base, "alice", "korrekt pferd batterie").await.status(), StatusCode::OK);
    assert!(server.stop().await);
}
