//! `browser-e2ee`: the browser's CPU cost of end-to-end encryption
//! (docs/performance.md, *End-to-end encryption*). Four Chromium pages in
//! one call (`tests/browser/scenarios/e2ee_cpu.mjs`) against a Kabine on
//! loopback, once with `e2ee.mode = "off"` and once with `"required"`,
//! alternating for `runs` rounds so that a change in the machine's load
//! hits both alike. Prints one row per run and ends with
//! `ratio chromium_cpu e2ee/off = R` (medians).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Options {
    pub seconds: u64,
    pub runs: usize,
    pub kabine: PathBuf,
    pub work_dir: PathBuf,
}

/// One scenario run.
struct Row {
    e2ee: bool,
    load_before: String,
    load_after: String,
    /// Cores the Chromium process tree used during the window.
    cores: f64,
    flowing_ms: f64,
    /// Per page: frames encrypted / decrypted per second, ms of WebCrypto per second.
    pages: Vec<(f64, f64, f64)>,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn free_port() -> Result<u16, String> {
    let tcp = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free TCP port: {e}"))?;
    let port = tcp.local_addr().map_err(|e| e.to_string())?.port();
    // The media port too must be free (UDP); same number keeps it simple.
    UdpSocket::bind(("127.0.0.1", port)).map_err(|e| format!("UDP port {port} taken: {e}"))?;
    Ok(port)
}

fn start_kabine(opts: &Options, dir: &Path, e2ee: bool) -> Result<(Child, u16), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = free_port()?;
    let config = dir.join("kabine.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Written by kabine-bench browser-e2ee: Kabine on loopback for four Chromium pages.
[server]
listen = "127.0.0.1:{port}"

[media]
bind_address = "127.0.0.1"
udp_port = {port}

[access]
mode = "open"

[e2ee]
mode = "{mode}"

[log]
level = "warn"
"#,
            mode = if e2ee { "required" } else { "off" },
        ),
    )
    .map_err(|e| format!("{}: {e}", config.display()))?;
    let log = std::fs::File::create(dir.join("kabine.log")).map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(&opts.kabine)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", opts.kabine.display()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let end = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > end || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("kabine did not start (log: {})", dir.join("kabine.log").display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((child, port))
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).stderr(Stdio::null()).status();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn run_once(opts: &Options, browser_dir: &Path, round: usize, e2ee: bool) -> Result<Row, String> {
    let dir = opts.work_dir.join(format!("browser-e2ee-{round}-{}", if e2ee { "on" } else { "off" }));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, port) = start_kabine(opts, &dir, e2ee)?;
    let load_before = loadavg();
    let out = Command::new("node")
        .arg("scenarios/e2ee_cpu.mjs")
        .arg(opts.seconds.to_string())
        .arg(if e2ee { "random" } else { "-" })
        .current_dir(browser_dir)
        .env("KABINE_URL", format!("https://127.0.0.1:{port}"))
        .env("KABINE_OUT", &dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    let load_after = loadavg();
    stop(server);
    let out = out.map_err(|e| format!("cannot run node (apt-get install nodejs): {e}"))?;
    let line = BufReader::new(out.stdout.as_slice())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("RESULT ").map(str::to_string))
        .last()
        .ok_or("the scenario reported nothing")?;
    let v: Value = serde_json::from_str(&line).map_err(|e| format!("bad RESULT line: {e}"))?;
    if v["ok"] != Value::Bool(true) {
        return Err(format!("the scenario failed: {}", v["error"]));
    }
    let on: Vec<bool> =
        v["e2ee"].as_array().map(|a| a.iter().map(|x| x == &Value::Bool(true)).collect()).unwrap_or_default();
    if on.len() != 4 || on.iter().any(|x| *x != e2ee) {
        return Err(format!("pages' E2EE state {on:?}, expected {e2ee} on all four"));
    }
    let num = |x: &Value| x.as_f64().unwrap_or(f64::NAN);
    let pages = v["pages"]
        .as_array()
        .map(|a| {
            a.iter().map(|p| (num(&p["encryptedPerS"]), num(&p["decryptedPerS"]), num(&p["cryptoMsPerS"]))).collect()
        })
        .unwrap_or_default();
    Ok(Row { e2ee, load_before, load_after, cores: num(&v["cores"]), flowing_ms: num(&v["flowingMs"]), pages })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn run(opts: &Options) -> Result<(), String> {
    crate::require("node", "nodejs")?;
    crate::require("chromium", "chromium")?;
    if !opts.kabine.exists() {
        return Err(format!("kabine not found at {} (cargo build --release --bins)", opts.kabine.display()));
    }
    let browser_dir = std::env::current_dir().map_err(|e| e.to_string())?.join("tests/browser");
    if !browser_dir.join("node_modules/puppeteer-core").is_dir() {
        return Err("tests/browser/node_modules is missing: run `npm ci` in tests/browser (scripts/test does)".into());
    }
    let mut rows = Vec::new();
    for round in 0..opts.runs {
        // Alternate which goes first, so neither always runs on a warmer machine.
        let order = if round % 2 == 0 { [false, true] } else { [true, false] };
        for e2ee in order {
            eprintln!("== round {} of {}: e2ee {}", round + 1, opts.runs, if e2ee { "required" } else { "off" });
            rows.push(run_once(opts, &browser_dir, round, e2ee)?);
        }
    }
    println!("four Chromium pages, one call, {} s window after everyone decodes everyone", opts.seconds);
    println!(
        "{:<9} {:>17} {:>17} {:>14} {:>11} {:>26}",
        "e2ee", "load before", "load after", "chromium cores", "flowing ms", "per page: enc/s dec/s ms/s"
    );
    for r in &rows {
        let pages: Vec<String> = r
            .pages
            .iter()
            .map(|(e, d, ms)| if e.is_nan() { "-".into() } else { format!("{e:.0}/{d:.0}/{ms:.1}") })
            .collect();
        println!(
            "{:<9} {:>17} {:>17} {:>14.3} {:>11.0} {:>26}",
            if r.e2ee { "required" } else { "off" },
            r.load_before,
            r.load_after,
            r.cores,
            r.flowing_ms,
            pages.join(" ")
        );
    }
    let off = median(rows.iter().filter(|r| !r.e2ee).map(|r| r.cores).collect());
    let on = median(rows.iter().filter(|r| r.e2ee).map(|r| r.cores).collect());
    let crypto = median(rows.iter().filter(|r| r.e2ee).flat_map(|r| r.pages.iter().map(|p| p.2)).collect());
    println!("median chromium cores: off {off:.3}, e2ee {on:.3}; median WebCrypto ms per s per page: {crypto:.1}");
    println!("ratio chromium_cpu e2ee/off = {:.3}", on / off);
    Ok(())
}
