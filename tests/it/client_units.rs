//! The browser client's logic without a browser: `node --test` runs the
//! unit tests in tests/browser/unit (devices.js: camera and microphone
//! whatever the order of opening, switching and leaving; layers.js: which
//! encodings a sender has on, changes never overlapping; health.js: when
//! media that does not reach the server is repaired and when the person is
//! told). A failing unit test fails this test, shown by running a file that
//! fails.

use std::process::Command;

use crate::support::{self, browser};

fn node_test(dir: &std::path::Path) -> std::process::Output {
    Command::new("node").arg("--test").arg(dir).output().expect("node runs")
}

#[test]
fn the_client_unit_tests_pass() {
    let _t = support::test();
    browser::require_browser_tools(false);
    let dir = browser::browser_dir().join("unit");
    let out = node_test(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client unit tests failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(passed >= 10, "too few client unit tests ran ({passed}):\n{stdout}");
}

#[test]
fn a_failing_client_unit_test_is_noticed() {
    let _t = support::test();
    browser::require_browser_tools(false);
    let dir = support::output_dir("client-units-negative");
    std::fs::write(
        dir.join("fails.test.mjs"),
        "import assert from 'node:assert/strict';\nimport { test } from 'node:test';\ntest('fails', () => assert.equal(1, 2));\n",
    )
    .expect("write a failing test");
    assert!(!node_test(&dir).status.success(), "node --test passed a failing test");
}
