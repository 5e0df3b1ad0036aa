//! `kabine user add|list|passwd|remove` manage the local user store with the
//! password on standard input (never on the command line): argon2id hashes
//! at m >= 19 MiB, t >= 2, p = 1 in a file of mode 0600, and weak passwords
//! refused without touching the file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support;

fn setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = support::output_dir(name);
    let config = dir.join("kabine.toml");
    // Relative: the store sits next to the config file.
    std::fs::write(&config, "[access]\nmode = \"secure\"\nusers_file = \"data/users\"\n").expect("write config");
    (config, dir.join("data/users"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn kabine(args: &[&str]) -> Output {
    std::process::Command::new(support::kabine_bin()).args(args).output().expect("kabine runs")
}

/// The `$argon2id$v=19$m=…,t=…,p=…$salt$hash` of a user, parsed here
/// independently of Kabine's own parser.
fn phc_of(store: &Path, user: &str) -> (String, u32, u32, u32, u32) {
    let text = std::fs::read_to_string(store).expect("store readable");
    let line = text.lines().find(|l| l.starts_with(&format!("{user}:"))).expect("user line");
    let phc = line.split(':').nth(1).expect("hash field");
    let parts: Vec<&str> = phc.split('$').collect();
    assert_eq!(parts.len(), 6, "{phc}");
    let version: u32 = parts[2].strip_prefix("v=").expect("version").parse().expect("number");
    let mut m = 0;
    let mut t = 0;
    let mut p = 0;
    for kv in parts[3].split(',') {
        let (k, v) = kv.split_once('=').expect("k=v");
        let v: u32 = v.parse().expect("number");
        match k {
            "m" => m = v,
            "t" => t = v,
            "p" => p = v,
            other => panic!("unexpected parameter {other}"),
        }
    }
    (parts[1].to_string(), version, m, t, p)
}

#[test]
fn add_list_passwd_remove_with_the_password_on_stdin() {
    let _t = support::test();
    let (config, store) = setup("cli-users");
    let c = config.to_str().expect("utf-8");

    let o = support::kabine_with_stdin(
        &["user", "add", "Dr.Mueller", "--display-name", "Dr. Anna Müller", "--config", c],
        "Mein Kaffee ist kalt geworden",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("Kaffee"), "the password is never echoed");
    let o = support::add_user(&config, "bob", "bobs lange passphrase");
    assert!(o.status.success(), "{}", text(&o));

    // Hash parameters and file mode.
    for user in ["dr.mueller", "bob"] {
        let (alg, version, m, t, p) = phc_of(&store, user);
        assert_eq!(alg, "argon2id");
        assert_eq!(version, 19);
        assert!(m >= 19 * 1024, "m = {m} KiB");
        assert!(t >= 2, "t = {t}");
        assert_eq!(p, 1);
    }
    let mode = std::fs::metadata(&store).expect("store exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "store mode {mode:o}");
    let content = std::fs::read_to_string(&store).expect("readable");
    assert!(!content.contains("Kaffee") && !content.contains("passphrase"), "no password in clear");

    let o = kabine(&["user", "list", "--config", c]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("dr.mueller") && out.contains("Dr. Anna Müller") && out.contains("bob"), "{out}");
    assert!(out.contains("argon2id m=19456 KiB t=2 p=1"), "{out}");

    // passwd replaces the hash (fresh salt), nothing else.
    let before = phc_of(&store, "bob");
    let line_before = content.lines().find(|l| l.starts_with("bob:")).expect("bob").to_string();
    let o = support::kabine_with_stdin(&["user", "passwd", "bob", "--config", c], "ein ganz neues passwort");
    assert!(o.status.success(), "{}", text(&o));
    let after_text = std::fs::read_to_string(&store).expect("readable");
    let line_after = after_text.lines().find(|l| l.starts_with("bob:")).expect("bob").to_string();
    assert_ne!(line_before, line_after);
    assert_eq!(before, phc_of(&store, "bob"), "same parameters");
    assert!(after_text.contains("Dr. Anna Müller"), "other users untouched");

    let o = kabine(&["user", "remove", "bob", "--config", c]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kabine(&["user", "list", "--config", c]);
    assert!(!text(&o).contains("bob"), "{}", text(&o));
    let o = kabine(&["user", "remove", "bob", "--config", c]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no user bob"), "{}", text(&o));
    let o = support::kabine_with_stdin(&["user", "passwd", "nobody", "--config", c], "irgendein passwort");
    assert_eq!(o.status.code(), Some(1));
    let o = support::add_user(&config, "dr.mueller", "noch ein passwort hier");
    assert_eq!(o.status.code(), Some(1), "adding an existing user is refused");
    assert!(text(&o).contains("exists already"), "{}", text(&o));
    assert_eq!(std::fs::metadata(&store).expect("exists").permissions().mode() & 0o777, 0o600);
}

#[test]
fn weak_common_and_empty_passwords_are_refused_and_change_nothing() {
    let _t = support::test();
    let (config, store) = setup("cli-weak");
    let c = config.to_str().expect("utf-8");
    let o = support::add_user(&config, "alice", "a fine long password");
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(&store).expect("store");
    for (password, expected) in [
        ("kurz", "too short"),
        ("1234567", "too short"),
        ("Passwort123", "commonly used"),
        ("qwertz1234", "commonly used"),
        ("iloveyou", "commonly used"),
        ("Schalke04", "commonly used"),
        ("aaaaaaaaaaaa", "too easy to guess"),
        ("carol2024", "too easy to guess"),
        ("", "no password"),
    ] {
        let o = support::add_user(&config, "carol", password);
        assert_eq!(o.status.code(), Some(1), "{password:?} accepted: {}", text(&o));
        assert!(text(&o).contains(expected), "{password:?}: {}", text(&o));
        let password = if password == "carol2024" { "alice2024" } else { password };
        let o = support::kabine_with_stdin(&["user", "passwd", "alice", "--config", c], password);
        assert_eq!(o.status.code(), Some(1), "passwd {password:?} accepted");
    }
    assert_eq!(std::fs::read(&store).expect("store"), before, "the store is untouched");
    // 8 characters are enough, 1024 are allowed.
    let o = support::add_user(&config, "dave", "Zebra!7q");
    assert!(o.status.success(), "{}", text(&o));
    let long: String = (0..1024).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
    let o = support::add_user(&config, "erin", &long);
    assert!(o.status.success(), "{}", text(&o));
    let o = support::add_user(&config, "frank", &format!("{long}x"));
    assert!(text(&o).contains("too long"), "{}", text(&o));
}

#[test]
fn the_password_is_never_taken_from_the_command_line() {
    let _t = support::test();
    let (config, store) = setup("cli-argv");
    let c = config.to_str().expect("utf-8");
    for args in [
        vec!["user", "add", "alice", "geheimes passwort", "--config", c],
        vec!["user", "add", "alice", "--password", "geheimes passwort", "--config", c],
    ] {
        let o = kabine(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?} was accepted: {}", text(&o));
    }
    assert!(!store.exists());
}

#[test]
fn bad_user_names_are_refused() {
    let _t = support::test();
    let (config, store) = setup("cli-names");
    for name in ["ali ce", "ali*", "a:b", ".x", "ü"] {
        let o = support::add_user(&config, name, "a fine long password");
        assert_eq!(o.status.code(), Some(1), "{name:?}: {}", text(&o));
    }
    assert!(!store.exists());
}
