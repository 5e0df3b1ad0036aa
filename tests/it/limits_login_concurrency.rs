//! The login throttle holds for concurrent requests (issue 14, item 1): an
//! attempt is counted before the password is verified, so hundreds of wrong
//! passwords sent at once from one address get at most the burst of
//! verdicts (401) and the rest are refused at once (429) — they never queue
//! for the password hash, so a real login from elsewhere is not starved.
//! The same holds for the current password of a password change.

use std::time::Duration;

use futures_util::future::join_all;
use kabine::config::AccessMode;

use crate::support;

/// `auth::throttle::Limits::LOGIN.per_source_burst`.
const BURST: usize = 30;

/// One HTTP/2 connection for all requests (the server's per-address
/// connection cap is `limits_idle_connections`' business, not this test's).
fn h2_client() -> reqwest::Client {
    reqwest::Client::builder().tls_danger_accept_invalid_certs(true).http2_prior_knowledge().build().expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_hundred_concurrent_wrong_logins_get_at_most_the_burst_of_401s_and_the_rest_429() {
    let _t = support::test();
    let server = support::start(support::with_local_host("limits-login-race", AccessMode::Secure)).await;
    let base = support::base_url(&server);
    let attacker = h2_client();
    let attempts = (0..400).map(|i| {
        let (client, base) = (attacker.clone(), base.clone());
        async move { support::login(&client, &base, "dr.mueller", &format!("falsch {i}")).await.status().as_u16() }
    });
    let statuses = join_all(attempts).await;
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    assert!(count(401) <= BURST, "{} wrong passwords were verified: {statuses:?}", count(401));
    assert_eq!(count(429), 400 - count(401), "the rest are refused, none busy: {statuses:?}");

    // The hash slots are free: the host logs in from another address at once.
    let other = support::https_client_from("127.0.0.2".parse().expect("literal"));
    let started = std::time::Instant::now();
    let r = support::login(&other, &base, "dr.mueller", "correct horse battery").await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_current_passwords_of_a_password_change_are_limited_too() {
    let _t = support::test();
    let server = support::start(support::with_local_host("limits-passwd-race", AccessMode::Secure)).await;
    let base = support::base_url(&server);
    let client = h2_client();
    let r = support::login(&client, &base, "dr.mueller", "correct horse battery").await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let cookie = support::session_cookie(&r).expect("cookie");
    let attempts = (0..200).map(|i| {
        let (client, base, cookie) = (client.clone(), base.clone(), cookie.clone());
        async move {
            let body =
                serde_json::json!({ "current": format!("geraten {i}"), "new": "ein ganz neues langes passwort" });
            support::post_json(&client, &base, "/api/password", body, Some(&cookie)).await.status().as_u16()
        }
    });
    let statuses = join_all(attempts).await;
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    assert!(count(403) <= BURST, "{} wrong current passwords were verified: {statuses:?}", count(403));
    assert_eq!(count(429), 200 - count(403), "{statuses:?}");
    assert!(server.stop().await);
}
