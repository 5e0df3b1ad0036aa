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
    let protocol = read("src/protocol.rs");
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
    let lib = read("src/protocol.rs");
    // The definition up to its `;` (rustfmt may wrap it over several lines).
    let server_def =
        lib.split("const RESERVED_NAMES").nth(1).and_then(|rest| rest.split(';').next()).expect("RESERVED_NAMES");
    let mut server: Vec<String> = quoted.captures_iter(server_def).map(|c| c[1].to_string()).collect();
    let welcome = read("src/client/welcome.js");
    let client_line = welcome.lines().find(|l| l.starts_with("const RESERVED")).expect("RESERVED in welcome.js");
    let mut client: Vec<String> = quoted.captures_iter(client_line).map(|c| c[1].to_string()).collect();
    server.sort();
    client.sort();
    assert!(!server.is_empty());
    assert_eq!(client, server, "reserved room names differ between src/protocol.rs and src/client/welcome.js");
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

/// A browser-like answer: candidates only in the first section, sections
/// whose lines come in another order, an inactive and a rejected section.
fn answer_fixture() -> String {
    let mut s = String::from("v=0\r\no=- 7 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2 3 4 5 6\r\n");
    let ice = "c=IN IP4 0.0.0.0\r\na=ice-ufrag:ab\r\na=ice-pwd:cdefghijklmnopqrstuvwxyz\r\na=setup:active\r\n";
    for mid in 0..4 {
        s.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
        s.push_str(ice);
        if mid == 0 {
            s.push_str("a=candidate:1 1 udp 1 192.0.2.1 5000 typ host\r\n");
        }
        if mid == 3 {
            s.push_str("a=recvonly\r\na=mid:3\r\n");
        } else {
            s.push_str(&format!("a=mid:{mid}\r\na=recvonly\r\n"));
        }
        s.push_str(&format!("a=msid:s{mid} t{mid}\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"));
    }
    for (mid, dir) in [(4, "recvonly"), (5, "inactive"), (6, "recvonly")] {
        s.push_str(&format!(
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n{ice}a=mid:{mid}\r\na={dir}\r\na=rtpmap:96 VP8/90000\r\n"
        ));
    }
    s.push_str(
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:7\r\na=inactive\r\na=rtpmap:96 VP8/90000\r\n",
    );
    s
}

#[test]
fn the_client_compacts_subscribe_answers_exactly_as_the_server_expects() {
    let _t = support::test();
    let node = support::require_tool("node", "nodejs");
    let module = support::repo_root().join("src/client/protocol.js");
    let script = format!(
        "import {{ compactAnswer }} from '{}';\n\
         let input = '';\n\
         process.stdin.on('data', (d) => {{ input += d; }});\n\
         process.stdin.on('end', () => process.stdout.write(compactAnswer(input)));",
        module.display()
    );
    let full = answer_fixture();
    let mut child = std::process::Command::new(node)
        .args(["--input-type=module", "-e", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(full.as_bytes()).expect("node reads the answer");
    }
    let output = child.wait_with_output().expect("node runs");
    assert!(output.status.success(), "node failed");
    let from_js = String::from_utf8(output.stdout).expect("UTF-8");
    let from_rust = kabine::sfu::sdp::compact_answer(&full);
    assert_eq!(from_js, from_rust, "src/client/protocol.js and src/sfu/sdp.rs compact differently");
    // Repeated: 2 (as 1; 0 has candidates), 5 and 6 (as 4, each with its own direction). Whole: 0, 1,
    // 3 (its lines in another order), 4, and the rejected 7.
    assert_eq!(from_js.matches(kabine::sfu::sdp::SAME_AS_PREVIOUS).count(), 3, "{from_js}");
    assert_eq!(kabine::sfu::sdp::expand_answer(&from_js).expect("expands"), full);
}
