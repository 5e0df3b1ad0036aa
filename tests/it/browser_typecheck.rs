//! The browser client's JSDoc types hold: `tsc --checkJs --noEmit` over
//! src/client (config: tests/browser/tsconfig.json) finds no error; and the
//! same check does fail on a file with a type error.

use std::process::Command;

use crate::support::{self, browser};

fn tsc(project: &std::path::Path) -> std::process::Output {
    Command::new("node")
        .arg(browser::browser_dir().join("node_modules/typescript/bin/tsc"))
        .arg("-p")
        .arg(project)
        .output()
        .expect("node runs tsc")
}

#[test]
fn the_client_type_checks_with_tsc_check_js() {
    let _t = support::test();
    browser::require_browser_tools(false);
    let out = tsc(&browser::browser_dir().join("tsconfig.json"));
    assert!(
        out.status.success(),
        "tsc found type errors in src/client:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tsc_check_js_catches_a_type_error() {
    let _t = support::test();
    browser::require_browser_tools(false);
    let dir = support::output_dir("typecheck-negative");
    std::fs::write(dir.join("bad.js"), "// @ts-check\n/** @type {number} */\nexport const n = 'not a number';\n")
        .expect("write bad.js");
    let config = std::fs::read_to_string(browser::browser_dir().join("tsconfig.json")).expect("tsconfig");
    let config = config.replace("\"../../src/client/*.js\"", "\"bad.js\"");
    std::fs::write(dir.join("tsconfig.json"), config).expect("write tsconfig");
    let out = tsc(&dir.join("tsconfig.json"));
    assert!(!out.status.success(), "tsc accepted a type error");
    assert!(String::from_utf8_lossy(&out.stdout).contains("TS2322"), "{}", String::from_utf8_lossy(&out.stdout));
}
