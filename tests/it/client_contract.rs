//! The browser client stays in step with the server's definitions: every
//! protocol error code has its own message in English and German, the
//! client refuses the same reserved room names as the server, and every
//! file of src/client is embedded.

use regex::Regex;

use crate::support;

fn read(path: &str) -> String {
    std::fs::read_to_string(support::repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn snake(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[test]
fn every_protocol_error_code_has_an_english_and_a_german_message() {
    let _t = support::test();
    let protocol = read("src/signal/protocol.rs");
    let block =
        protocol.split("pub enum ErrorCode {").nth(1).and_then(|b| b.split('}').next()).expect("ErrorCode enum");
    let variant = Regex::new(r"(?m)^\s*([A-Z][A-Za-z]+),").expect("regex");
    let codes: Vec<String> = variant.captures_iter(block).map(|c| snake(&c[1])).collect();
    assert!(codes.len() >= 10, "parsed the error codes: {codes:?}");
    let i18n = read("src/client/i18n.js");
    let (en, de) = i18n.split_once("const DE").expect("i18n.js has EN then DE");
    for code in &codes {
        let key = format!("  err_{code}: '");
        let en_text = en.split(&key).nth(1).and_then(|r| r.split("',\n").next());
        let de_text = de.split(&key).nth(1).and_then(|r| r.split("',\n").next());
        assert!(en_text.is_some_and(|t| t.len() > 20), "no English message for error code {code}");
        assert!(de_text.is_some_and(|t| t.len() > 20), "no German message for error code {code}");
        assert_ne!(en_text, de_text, "German message for {code} is not translated");
    }
}

#[test]
fn the_client_refuses_the_same_reserved_room_names_as_the_server() {
    let _t = support::test();
    let quoted = Regex::new(r#"['"]([a-z.]+)['"]"#).expect("regex");
    let lib = read("src/lib.rs");
    let server_line = lib.lines().find(|l| l.contains("const RESERVED_NAMES")).expect("RESERVED_NAMES");
    let mut server: Vec<String> = quoted.captures_iter(server_line).map(|c| c[1].to_string()).collect();
    let welcome = read("src/client/welcome.js");
    let client_line = welcome.lines().find(|l| l.starts_with("const RESERVED")).expect("RESERVED in welcome.js");
    let mut client: Vec<String> = quoted.captures_iter(client_line).map(|c| c[1].to_string()).collect();
    server.sort();
    client.sort();
    assert!(!server.is_empty());
    assert_eq!(client, server, "reserved room names differ between src/lib.rs and src/client/welcome.js");
}

#[test]
fn every_client_file_is_embedded() {
    let _t = support::test();
    let dir = support::repo_root().join("src/client");
    for entry in std::fs::read_dir(&dir).expect("src/client") {
        let name = entry.expect("entry").file_name().to_string_lossy().to_string();
        assert!(kabine::http::assets::find(&name).is_some(), "src/client/{name} is not in the ASSETS table");
    }
}
