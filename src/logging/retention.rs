//! Deletion of log files older than the retention period.
//!
//! tracing-appender keeps at most `retention_days` files when it rotates, but
//! a server that was down for a week would keep stale files until the next
//! rotations; Kabine also sweeps by age at start and every hour.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub(crate) const FILE_PREFIX: &str = "kabine";
pub(crate) const FILE_SUFFIX: &str = "log";

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// True for the names Kabine's appender writes: `kabine.YYYY-MM-DD.log`.
pub fn is_kabine_log_file(name: &str) -> bool {
    name.strip_prefix("kabine.").and_then(|rest| rest.strip_suffix(".log")).is_some_and(|date| {
        date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() })
    })
}

/// Deletes Kabine's log files in `dir` last written more than `retention_days` ago.
/// Returns how many files were deleted. Other files are never touched.
pub fn sweep_old_files(dir: &Path, retention_days: u32, now: SystemTime) -> io::Result<usize> {
    let max_age = DAY * retention_days.max(1);
    let mut deleted = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_kabine_log_file(name) {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        if now.duration_since(modified).unwrap_or_default() > max_age {
            std::fs::remove_file(entry.path())?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

pub(crate) fn spawn_sweeper(dir: PathBuf, retention_days: u32) {
    let spawned = std::thread::Builder::new().name("log-retention".into()).spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
            if let Err(e) = sweep_old_files(&dir, retention_days, SystemTime::now()) {
                tracing::error!(error = %e, "could not delete old log files");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the log retention sweeper");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_its_own_files() {
        assert!(is_kabine_log_file("kabine.2026-11-24.log"));
        assert!(!is_kabine_log_file("kabine.log"));
        assert!(!is_kabine_log_file("other.2026-11-24.log"));
        assert!(!is_kabine_log_file("kabine.2026-11-24.log.gz"));
    }
}
