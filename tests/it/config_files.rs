//! Every shipped config and policy file parses, every key of the
//! configuration is documented in the example, and an unknown key is
//! refused in every table of every file.

use std::path::{Path, PathBuf};

use kabine::config::{self, Config};
use kabine::policy::Policy;

use crate::support;

fn files_in(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(support::repo_root().join(dir))
        .expect("directory exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .toml files in {dir}/");
    files
}

/// Every table path in a document, with arrays of tables by index.
fn table_paths(value: &toml::Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        toml::Value::Table(t) => {
            out.push(prefix.clone());
            for (k, v) in t {
                let mut p = prefix.clone();
                p.push(k.clone());
                table_paths(v, p, out);
            }
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut p = prefix.clone();
                p.push(format!("#{i}"));
                table_paths(item, p, out);
            }
        }
        _ => {}
    }
}

fn table_at<'a>(value: &'a mut toml::Value, path: &[String]) -> &'a mut toml::value::Table {
    let mut v = value;
    for part in path {
        v = match part.strip_prefix('#') {
            Some(i) => &mut v.as_array_mut().expect("array")[i.parse::<usize>().expect("index")],
            None => v.as_table_mut().expect("table").get_mut(part).expect("key"),
        };
    }
    v.as_table_mut().expect("table")
}

/// For every table of `text`, adds an unknown key and runs `parse` on it.
fn assert_unknown_keys_refused(file: &Path, text: &str, parse: impl Fn(&str) -> Result<(), String>) {
    let doc: toml::Value = toml::from_str(text).expect("file parses as TOML");
    let mut paths = Vec::new();
    table_paths(&doc, Vec::new(), &mut paths);
    assert!(!paths.is_empty());
    for path in &paths {
        let mut changed = doc.clone();
        table_at(&mut changed, path).insert("kabine_test_unknown".into(), toml::Value::Integer(1));
        let text = toml::to_string(&changed).expect("serializes");
        let err = parse(&text).expect_err(&format!("{}: unknown key in table {path:?} was accepted", file.display()));
        assert!(err.contains("kabine_test_unknown"), "{}: error does not name the key: {err}", file.display());
    }
}

#[test]
fn every_config_file_loads_and_passes_its_policy() {
    let _t = support::test();
    for file in files_in("config") {
        let loaded = config::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let policy = Policy::for_config(&loaded).expect("policy resolves");
        let violations = kabine::policy::violation_lines(&loaded, &kabine::policy::check(&loaded, &policy));
        assert!(violations.is_empty(), "{}: {violations:#?}", file.display());
    }
}

#[test]
fn unknown_keys_are_refused_in_every_table_of_every_config_file() {
    let _t = support::test();
    for file in files_in("config") {
        let text = std::fs::read_to_string(&file).expect("readable");
        assert_unknown_keys_refused(&file, &text, |t| {
            config::load_str(t, "x.toml").map(|_| ()).map_err(|e| e.to_string())
        });
    }
}

#[test]
fn unknown_keys_are_refused_in_every_table_of_every_policy_file() {
    let _t = support::test();
    for file in files_in("policy") {
        let text = std::fs::read_to_string(&file).expect("readable");
        Policy::from_toml(&text, "p.toml").unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_unknown_keys_refused(&file, &text, |t| Policy::from_toml(t, "p.toml").map(|_| ()));
    }
}

#[test]
fn every_policy_file_is_a_built_in_preset() {
    let _t = support::test();
    for file in files_in("policy") {
        let name = file.file_stem().expect("stem").to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).expect("readable");
        let builtin = Policy::from_preset(&name).expect("preset is built in");
        assert_eq!(builtin, Policy::from_toml(&text, "p.toml").expect("parses"));
    }
}

/// The example documents every key Kabine knows (commented out or set).
#[test]
fn the_example_config_mentions_every_key() {
    let _t = support::test();
    let example = std::fs::read_to_string(support::repo_root().join("config/kabine.example.toml")).expect("readable");
    let mut defaults = toml::Value::try_from(Config::default()).expect("serializes");
    // Optional keys are absent from the default; give them a value to list them.
    let t = defaults.as_table_mut().expect("table");
    let mut keys = Vec::new();
    collect_keys(t, "", &mut keys);
    for key in [
        "server.public_url",
        "server.http_redirect_listen",
        "tls.cert_file",
        "tls.key_file",
        "tls.acme.domains",
        "tls.acme.contact",
        "tls.acme.directory",
        "tls.acme.directory_ca_file",
        "tls.acme.challenge",
        "tls.acme.state_directory",
        "media.public_address",
        "media.ice_servers.urls",
        "media.ice_servers.username",
        "media.ice_servers.credential",
        "client.logo_file",
        "client.imprint_url",
        "client.privacy_url",
        "ldap.url",
        "ldap.ca_file",
        "ldap.bind_dn",
        "ldap.bind_password",
        "ldap.bind_password_file",
        "ldap.host_group",
        "ldap.display_name_attributes",
        "teletherapy.practice_name",
        "teletherapy.consent_text_de",
        "teletherapy.consent_text_en",
        "rooms.lobby_on_open",
    ] {
        keys.push(key.to_string());
    }
    for key in keys {
        let leaf = key.rsplit('.').next().expect("non-empty");
        let mentioned = example.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{leaf} =")) || l.starts_with(&format!("{leaf}="))
        });
        assert!(mentioned, "config/kabine.example.toml does not document `{key}`");
    }
}

fn collect_keys(t: &toml::value::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in t {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(inner) => collect_keys(inner, &path, out),
            // Arrays of tables are documented by their keys, listed above.
            toml::Value::Array(_) => {}
            _ => out.push(path),
        }
    }
}
