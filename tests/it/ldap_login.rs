//! LDAP logins against a real, throwaway OpenLDAP slapd: hosts-group members
//! log in and may host, others log in as guests, wrong and empty passwords
//! and injection attempts are refused, a stopped or hung directory gives a
//! clear error within the timeout, ldaps:// and StartTLS both work, a wrong
//! CA is refused, and plain ldap:// is refused by the policy.

use std::time::{Duration, Instant};

use kabine::auth::access::{self, Decision, Visitor};
use kabine::auth::ldap::{Directory, DirectoryError};
use kabine::auth::password::Password;
use kabine::config::{AccessMode, Config, HostGroupCheck, LoadedConfig, SecretString};
use reqwest::StatusCode;

use crate::support;
use crate::support::slapd::{self, Slapd};

#[derive(Clone, Copy)]
enum Transport {
    Ldaps,
    StartTls,
}

fn config(dir: &Slapd, transport: Transport) -> Config {
    let mut c = support::test_config();
    c.access.mode = AccessMode::Secure;
    c.access.users_file = dir.dir.join("no-local-users");
    let l = &mut c.ldap;
    match transport {
        Transport::Ldaps => l.url = Some(dir.ldaps_url()),
        Transport::StartTls => {
            l.url = Some(dir.ldap_url());
            l.starttls = true;
        }
    }
    l.ca_file = Some(dir.ca_file());
    l.bind_dn = Some(slapd::ADMIN_DN.into());
    l.bind_password = Some(SecretString::new(slapd::ADMIN_PW.into()));
    l.user_base = slapd::PEOPLE.into();
    l.host_group = Some(slapd::HOSTS_GROUP.into());
    l.connect_timeout_ms = 1000;
    l.operation_timeout_ms = 1000;
    c
}

fn directory(c: Config) -> Directory {
    let mut loaded = LoadedConfig::demo();
    loaded.config = c;
    Directory::from_config(&loaded).expect("valid LDAP config").expect("LDAP configured")
}

#[tokio::test]
async fn group_members_may_host_others_join_as_guests_over_ldaps_and_starttls() {
    let _t = support::test();
    let dir = Slapd::start("hosts");
    for transport in [Transport::Ldaps, Transport::StartTls] {
        let server = support::start(config(&dir, transport)).await;
        let base = support::base_url(&server);
        let client = support::https_client();

        let r = support::login(&client, &base, "alice", "alicepw").await;
        assert_eq!(r.status(), StatusCode::OK);
        let alice = support::session_cookie(&r).expect("cookie");
        let s = support::session(&client, &base, Some(&alice)).await;
        assert_eq!(s["user"]["username"], "alice");
        assert_eq!(s["user"]["display_name"], "Alice Beispiel", "displayName from the directory");
        assert_eq!(s["user"]["may_host"], true, "alice is in the hosts group");
        assert_eq!(s["user"]["account"], "directory");
        assert_eq!(s["user"]["can_change_password"], false);

        let r = support::login(&client, &base, "bob", "bobpw").await;
        assert_eq!(r.status(), StatusCode::OK);
        let bob = support::session_cookie(&r).expect("cookie");
        let s = support::session(&client, &base, Some(&bob)).await;
        assert_eq!(s["user"]["display_name"], "Bob Example", "cn when there is no displayName");
        assert_eq!(s["user"]["may_host"], false, "bob is not in the hosts group");

        // What the room layer will decide for them in secure mode.
        let visitor = |s: &serde_json::Value| Visitor::User { may_host: s["user"]["may_host"] == true };
        let alice_s = support::session(&client, &base, Some(&alice)).await;
        assert_eq!(access::decide(AccessMode::Secure, visitor(&alice_s), false), Decision::EnterAsHost);
        assert_eq!(access::decide(AccessMode::Secure, visitor(&s), false), Decision::WaitForHost);
        assert_eq!(access::decide(AccessMode::Secure, visitor(&s), true), Decision::EnterAsGuest);

        // Directory accounts change their password in the directory.
        let r = support::post_json(
            &client,
            &base,
            "/api/password",
            serde_json::json!({"current": "bobpw", "new": "ein neues passwort"}),
            Some(&bob),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(r.json::<serde_json::Value>().await.expect("JSON")["error"], "not_local_account");
        assert!(server.stop().await);
    }
}

#[tokio::test]
async fn wrong_and_empty_passwords_and_injection_attempts_are_refused() {
    let _t = support::test();
    let dir = Slapd::start("refused");
    let server = support::start(config(&dir, Transport::Ldaps)).await;
    let base = support::base_url(&server);
    let client = support::https_client();
    for (user, password) in [
        ("alice", "wrong"),
        ("alice", ""),
        ("alice", "bobpw"),
        ("nobody", "alicepw"),
        // Injection: each would find alice (or several users) if the name
        // went into the filter unescaped.
        ("*", "alicepw"),
        ("ali*", "alicepw"),
        (")(uid=*", "alicepw"),
        ("alice)(|(uid=*", "alicepw"),
        ("*)(uid=alice", "alicepw"),
        ("alice\u{0}", "alicepw"),
    ] {
        let r = support::login(&client, &base, user, password).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{user:?} / {password:?}");
        assert!(r.headers().get("set-cookie").is_none());
        let body: serde_json::Value = r.json().await.expect("JSON");
        assert_eq!(body["error"], "login_failed", "{user:?}");
    }
    // The real thing still works, so the refusals above are not a broken setup.
    assert_eq!(support::login(&client, &base, "alice", "alicepw").await.status(), StatusCode::OK);
    assert!(server.stop().await);

    // The empty password never reaches the directory: it is refused even
    // with the directory gone.
    let d = directory(config(&dir, Transport::Ldaps));
    assert!(d.authenticate("alice", &Password::from("alicepw")).await.is_ok());
    let mut dir = dir;
    dir.stop();
    assert_eq!(d.authenticate("alice", &Password::from("")).await, Err(DirectoryError::Rejected));
}

#[tokio::test]
async fn the_host_group_can_be_checked_by_a_group_search() {
    let _t = support::test();
    let dir = Slapd::start("group-search");
    let mut c = config(&dir, Transport::StartTls);
    c.ldap.host_group_check = HostGroupCheck::GroupSearch;
    let d = directory(c.clone());
    let alice = d.authenticate("alice", &Password::from("alicepw")).await.expect("alice");
    assert!(alice.may_host);
    let bob = d.authenticate("bob", &Password::from("bobpw")).await.expect("bob");
    assert!(!bob.may_host);
    // No host group: every directory user may host.
    c.ldap.host_group = None;
    let d = directory(c);
    assert!(d.authenticate("bob", &Password::from("bobpw")).await.expect("bob").may_host);
}

#[tokio::test]
async fn a_stopped_or_hung_directory_gives_a_clear_error_within_the_timeout() {
    let _t = support::test();
    let mut dir = Slapd::start("down");
    for transport in [Transport::Ldaps, Transport::StartTls] {
        let server = support::start(config(&dir, transport)).await;
        let base = support::base_url(&server);
        let client = support::https_client();
        assert_eq!(support::login(&client, &base, "alice", "alicepw").await.status(), StatusCode::OK);

        // Hung: TCP connections are accepted by the kernel, never answered.
        dir.pause();
        let start = Instant::now();
        let r = support::login(&client, &base, "alice", "alicepw").await;
        let took = start.elapsed();
        dir.resume();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = r.json().await.expect("JSON");
        assert_eq!(body["error"], "directory_unavailable");
        assert!(took < Duration::from_secs(4), "answered after {took:?}; connect timeout is 1 s");
        assert!(support::captured().contains("the directory is unavailable"), "the operator learns why");
        assert!(server.stop().await);
    }

    // Stopped: refused at once.
    let server = support::start(config(&dir, Transport::Ldaps)).await;
    let base = support::base_url(&server);
    let client = support::https_client();
    dir.stop();
    let start = Instant::now();
    let r = support::login(&client, &base, "alice", "alicepw").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_certificate_from_another_ca_and_a_refused_service_account_are_clear_errors() {
    let _t = support::test();
    let dir = Slapd::start("tls-trust");
    let other = Slapd::start("tls-other-ca");
    for transport in [Transport::Ldaps, Transport::StartTls] {
        let mut c = config(&dir, transport);
        c.ldap.ca_file = Some(other.ca_file());
        let err = directory(c).authenticate("alice", &Password::from("alicepw")).await.expect_err("untrusted");
        let DirectoryError::Unavailable(why) = err else { panic!("not unavailable: {err:?}") };
        assert!(why.contains("TLS") || why.contains("certificate"), "{why}");
    }
    let mut c = config(&dir, Transport::Ldaps);
    c.ldap.bind_password = Some(SecretString::new("not the admin password".into()));
    let err = directory(c).authenticate("alice", &Password::from("alicepw")).await.expect_err("service refused");
    assert_eq!(
        err,
        DirectoryError::Unavailable("the service account (ldap.bind_dn) was refused: invalidCredentials (49)".into())
    );
}

#[tokio::test]
async fn plain_ldap_is_refused_by_the_policy_and_by_the_server() {
    let _t = support::test();
    let dir = Slapd::start("plain");
    let out = support::output_dir("ldap-plain");
    let config_file = out.join("plain.toml");
    std::fs::write(
        &config_file,
        format!(
            "[access]\nmode = \"secure\"\n\n[ldap]\nurl = \"{}\"\nuser_base = \"{}\"\n",
            dir.ldap_url(),
            slapd::PEOPLE
        ),
    )
    .expect("write");
    let path = config_file.to_str().expect("utf-8");
    for (args, expected) in [
        (vec!["policy", "check", "--config", path], "FAIL ldap-requires-tls          ldap.url: plain ldap://"),
        (vec!["serve", "--config", path], "ldap.url: policy rule ldap-requires-tls violated"),
    ] {
        let o = std::process::Command::new(support::kabine_bin()).args(&args).output().expect("kabine runs");
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(3), "{args:?}: {text}");
        assert!(text.contains(expected), "{text}");
    }
    // Even a server started without the policy check never talks plain LDAP.
    let mut c = config(&dir, Transport::StartTls);
    c.ldap.starttls = false;
    let mut loaded = LoadedConfig::demo();
    loaded.config = c;
    let err = kabine::server::start(loaded, kabine::policy::Policy::strict()).await.err().expect("refused");
    assert!(err.to_string().contains("plain ldap:// is refused"), "{err}");
}
