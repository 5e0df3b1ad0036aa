//! Runs the browser scenarios of `tests/browser/scenarios/` (node +
//! puppeteer-core driving Debian's Chromium and Firefox ESR) against a
//! running server and returns what they report.
//!
//! A scenario prints one line `RESULT {json}`: `ok`, `error`, its own
//! figures, and every request its pages made (`requests`), those to another
//! origin (`foreign`), and console errors and CSP violations (`problems`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kabine::server::RunningServer;
use serde_json::Value;

use super::{base_url, output_dir, repo_root, require_tool};

/// A scenario gets this long; the script's own guard stops it after 120 s.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(180);

/// `tests/browser`.
pub fn browser_dir() -> PathBuf {
    repo_root().join("tests/browser")
}

/// Fails unless node, the browsers and the npm packages are installed.
pub fn require_browser_tools(firefox: bool) {
    require_tool("node", "nodejs");
    require_tool("chromium", "chromium");
    if firefox {
        require_tool("firefox-esr", "firefox-esr");
    }
    let modules = browser_dir().join("node_modules/puppeteer-core");
    assert!(
        modules.is_dir(),
        "tests/browser/node_modules is missing: run scripts/test (it runs `npm ci` in tests/browser)"
    );
}

/// Runs `tests/browser/scenarios/{name}.mjs` against `server` with `args`;
/// screenshots go to `target/test-output/{name}-{args…}`. Returns the scenario's
/// result object; panics (with the script's output) when it did not report.
pub async fn run(server: &RunningServer, name: &str, args: &[&str]) -> Value {
    run_at(&base_url(server), name, args).await
}

/// As [`run`], for any base URL.
pub async fn run_at(base: &str, name: &str, args: &[&str]) -> Value {
    // One media scenario at a time (see support::heavy).
    let _turn = super::heavy().await;
    run_in_turn(base, name, args).await
}

/// As [`run_at`], for a caller that already holds [`super::heavy`] (its
/// own media load and the browser's are one scenario).
pub async fn run_in_turn(base: &str, name: &str, args: &[&str]) -> Value {
    run_for(base, name, args, SCENARIO_TIMEOUT).await
}

/// As [`run`], for a scenario that runs longer than the usual 120 s (it
/// sets its own guard) and may take `timeout` in all.
pub async fn run_long(server: &RunningServer, name: &str, args: &[&str], timeout: Duration) -> Value {
    let _turn = super::heavy().await;
    run_for(&base_url(server), name, args, timeout).await
}

async fn run_for(base: &str, name: &str, args: &[&str], timeout: Duration) -> Value {
    require_browser_tools(args.contains(&"firefox"));
    let out_name: String = std::iter::once(name)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    let out = output_dir(&out_name);
    let child = tokio::process::Command::new("node")
        .arg(format!("scenarios/{name}.mjs"))
        .args(args)
        .current_dir(browser_dir())
        .env("KABINE_URL", base)
        .env("KABINE_OUT", &out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("scenario {name} did not finish within {timeout:?}"))
        .expect("waiting for node works");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let Some(line) = stdout.lines().rev().find_map(|l| l.strip_prefix("RESULT ")) else {
        panic!("scenario {name} reported nothing\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    };
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("scenario {name}: bad RESULT: {e}"));
    std::fs::write(out.join("result.json"), serde_json::to_string_pretty(&value).unwrap_or_default())
        .expect("result can be saved");
    value
}

/// Panics with the scenario's error and problems unless it succeeded, made
/// requests only to Kabine's own origin, and logged no error or CSP violation.
pub fn assert_clean(name: &str, v: &Value) {
    assert_eq!(v["ok"], Value::Bool(true), "scenario {name} failed: {}\nproblems: {}", v["error"], v["problems"]);
    let requests = v["requests"].as_array().map(Vec::len).unwrap_or(0);
    assert!(requests > 0, "scenario {name}: no requests were recorded, so the origin check proves nothing");
    assert_eq!(v["foreign"], Value::Array(vec![]), "scenario {name}: requests to another origin");
    let problems: Vec<&Value> =
        v["problems"].as_array().map(|a| a.iter().filter(|p| !is_expected_problem(p)).collect()).unwrap_or_default();
    assert!(problems.is_empty(), "scenario {name}: console errors or CSP violations: {problems:?}");
}

/// Console noise that is not a defect of the page: the deliberate bad
/// signalling of the bad-input scenario, and a request cut off because
/// another job on a shared test machine changed the network interfaces
/// (the scenario's own checks still have to pass).
fn is_expected_problem(p: &Value) -> bool {
    p["page"].as_str().is_some_and(|page| page.starts_with("attacker"))
        || p["text"].as_str().is_some_and(|t| t.contains("net::ERR_NETWORK_CHANGED"))
}

/// A room name unique to this test run.
pub fn unique_room(prefix: &str) -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{prefix}-{n:016x}")
}
