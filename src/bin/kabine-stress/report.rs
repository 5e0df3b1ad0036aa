//! Figures of the server process over the phases of a run, and the
//! properties checked.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One property and whether it held.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// CPU time and RSS of the server, sampled every 250 ms on a thread.
#[derive(Clone)]
pub struct Sampler {
    samples: Arc<Mutex<Vec<(Instant, u64, u64)>>>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&samples);
        std::thread::spawn(move || {
            // Until the server is gone or nobody reads the samples.
            while let (Ok(cpu), Ok(rss)) = (crate::procfs::cpu_us(pid), crate::procfs::rss_bytes(pid)) {
                s.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), cpu, rss));
                if Arc::strong_count(&s) == 1 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Sampler { samples }
    }

    /// The samples from `from` to `to`, with the last one before and the
    /// first one after, so a short phase still has two readings around it.
    fn in_window(&self, from: Instant, to: Instant) -> Vec<(Instant, u64, u64)> {
        let all = self.samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let start = all.iter().rposition(|s| s.0 <= from).unwrap_or(0);
        let end = all.iter().position(|s| s.0 >= to).map_or(all.len(), |i| i + 1);
        all.get(start..end).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Server CPU (percent of one core) and (last, highest) RSS in bytes
    /// between `from` and `to`.
    pub fn phase(&self, from: Instant, to: Instant) -> Phase {
        let w = self.in_window(from, to);
        let (Some(first), Some(last)) = (w.first(), w.last()) else {
            return Phase::default();
        };
        let secs = last.0.duration_since(first.0).as_secs_f64();
        Phase {
            cpu_pct: if secs > 0.0 { (last.1 - first.1) as f64 / (secs * 1e6) * 100.0 } else { 0.0 },
            rss_bytes: last.2,
            rss_max_bytes: w.iter().map(|s| s.2).max().unwrap_or(0),
        }
    }

    /// The latest RSS reading.
    pub fn rss_now(&self) -> u64 {
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).last().map_or(0, |s| s.2)
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Phase {
    pub cpu_pct: f64,
    pub rss_bytes: u64,
    pub rss_max_bytes: u64,
}

pub fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Resident memory split into anonymous (heap, stacks) and file-backed
/// (the binary's and libraries' pages), bytes.
pub fn rss_split(pid: u32) -> std::io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> std::io::Result<u64> {
        let line =
            status.lines().find_map(|l| l.strip_prefix(name)).ok_or_else(|| std::io::Error::other("no field"))?;
        let kb: u64 = line.trim().trim_end_matches("kB").trim().parse().map_err(std::io::Error::other)?;
        Ok(kb * 1024)
    };
    Ok((field("RssAnon:")?, field("RssFile:")? + field("RssShmem:").unwrap_or(0)))
}
