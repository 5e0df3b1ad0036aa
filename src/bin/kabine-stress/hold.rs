//! The call held during an attack: `kabine-loadgen` (small rooms of four,
//! camera and microphone) as a child process. Its measuring window is the
//! attack: it prints `PHASE measure-start` when every participant is
//! connected, the attack starts then and lasts the window, and its
//! `REPORT` line gives the call's loss (after NACK) and latency p99.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A running load generator.
pub struct Held {
    child: Child,
    lines: mpsc::Receiver<String>,
}

/// What the held call measured over the attack.
#[derive(Debug, Clone, Default)]
pub struct CallFigures {
    pub participants: u64,
    pub connected: u64,
    pub loss_pct: f64,
    pub latency_p99_ms: Option<f64>,
    pub expected_packets: u64,
    pub failures: Vec<String>,
}

fn reader(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Held {
    /// Starts `participants` synthetic participants (rooms of four) that
    /// measure for `seconds` once connected.
    pub fn start(
        loadgen: &Path,
        server: SocketAddr,
        participants: usize,
        seconds: u64,
        log: &Path,
    ) -> io::Result<Held> {
        let mut child = Command::new(loadgen)
            .args(["--target", "kabine", "--scenario", "small-rooms", "--bind", "127.0.0.1", "--settle", "2"])
            .arg("--server")
            .arg(server.to_string())
            .arg("--participants")
            .arg(participants.to_string())
            .arg("--duration")
            .arg(seconds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", loadgen.display())))?;
        let Some(stdout) = child.stdout.take() else {
            return Err(io::Error::other("no stdout of kabine-loadgen"));
        };
        Ok(Held { child, lines: reader(stdout) })
    }

    /// Waits for the measuring window to open (every participant connected
    /// and settled); at most `timeout`.
    pub fn wait_measuring(&mut self, timeout: Duration) -> io::Result<()> {
        self.wait_for("PHASE measure-start", timeout).map(|_| ())
    }

    fn wait_for(&mut self, prefix: &str, timeout: Duration) -> io::Result<String> {
        let end = std::time::Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Ok(line),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(io::Error::other(format!("kabine-loadgen: no `{prefix}` within {timeout:?}")));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other(format!("kabine-loadgen ended before `{prefix}`")));
                }
            }
        }
    }

    /// Waits for the report after the window (at most `timeout`).
    pub fn finish(mut self, timeout: Duration) -> io::Result<CallFigures> {
        let line = self.wait_for("REPORT ", timeout);
        let _ = self.child.wait();
        let line = line?;
        let v: Value = serde_json::from_str(line.trim_start_matches("REPORT ")).map_err(io::Error::other)?;
        Ok(CallFigures {
            participants: v["participants"].as_u64().unwrap_or(0),
            connected: v["connected"].as_u64().unwrap_or(0),
            loss_pct: v["loss_pct"].as_f64().unwrap_or(100.0),
            latency_p99_ms: v["latency_p99_ms"].as_f64(),
            expected_packets: v["expected_packets"].as_u64().unwrap_or(0),
            failures: v["failures"]
                .as_array()
                .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
