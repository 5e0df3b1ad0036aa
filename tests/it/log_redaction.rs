//! No IP address reaches a log line, at any level, in any form.

use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt;

use crate::support::{self, pii};

#[test]
fn addresses_logged_at_every_level_are_redacted_in_the_suite_capture() {
    let _t = support::test();
    let addresses = ["198.51.100.23", "198.51.100.23:5000", "[2001:db8::42]:443", "::ffff:192.0.2.1", "fe80::1%eth0"];
    for a in addresses {
        tracing::error!("canary error from {a}");
        tracing::warn!(peer = a, "canary warn");
        tracing::info!(peer = %a, "canary info");
        tracing::debug!(peer = ?a, "canary debug {a}");
        tracing::trace!("canary trace {}", a);
        let span = tracing::info_span!("canary_span", remote = a);
        span.in_scope(|| tracing::warn!("inside a span"));
    }
    let log = support::captured();
    assert!(log.contains("canary error from [addr]"), "redacted line missing:\n{log}");
    assert!(log.contains("canary trace [addr]"), "TRACE is captured:\n{log}");
    assert!(log.contains("canary_span{remote=\"[addr]\"}"), "span fields are redacted:\n{log}");
    // The guard returned by support::test() fails the test if any got through.
}

/// Proves the capture check can fail: the same detector, fed by a formatter
/// without Kabine's redaction, finds the address.
#[test]
fn the_capture_check_catches_an_unredacted_address() {
    let _t = support::test();
    let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let buf = Arc::clone(&buf);
        move || SharedBuf(Arc::clone(&buf))
    };
    let plain =
        tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(writer));
    tracing::subscriber::with_default(plain, || tracing::warn!(peer = "203.0.113.77:9", "not redacted"));
    let text = String::from_utf8_lossy(&buf.lock().expect("lock")).into_owned();
    assert_eq!(pii::find_addresses(&text), ["203.0.113.77"], "{text}");

    let buf2 = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer2 = {
        let buf = Arc::clone(&buf2);
        move || SharedBuf(Arc::clone(&buf))
    };
    let redacting = tracing_subscriber::registry().with(kabine::logging::format_layer(writer2));
    tracing::subscriber::with_default(redacting, || tracing::warn!(peer = "203.0.113.77:9", "redacted"));
    let text2 = String::from_utf8_lossy(&buf2.lock().expect("lock")).into_owned();
    assert!(pii::find_addresses(&text2).is_empty(), "{text2}");
    assert!(text2.contains("peer=\"[addr]\""), "{text2}");
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log files Kabine writes are redacted too, and old ones are deleted.
#[test]
fn old_log_files_are_deleted_and_others_kept() {
    let _t = support::test();
    let dir = support::output_dir("log-retention");
    let old = dir.join("kabine.2020-01-01.log");
    let fresh = dir.join("kabine.2099-01-01.log");
    let foreign = dir.join("notes.txt");
    for f in [&old, &fresh, &foreign] {
        std::fs::write(f, "x").expect("write test file");
    }
    let ten_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86400);
    std::fs::File::options().write(true).open(&old).and_then(|f| f.set_modified(ten_days_ago)).expect("backdate file");
    std::fs::File::options()
        .write(true)
        .open(&foreign)
        .and_then(|f| f.set_modified(ten_days_ago))
        .expect("backdate file");
    let deleted = kabine::logging::sweep_old_files(&dir, 7, std::time::SystemTime::now()).expect("sweep");
    assert_eq!(deleted, 1);
    assert!(!old.exists());
    assert!(fresh.exists());
    assert!(foreign.exists(), "files that are not Kabine's logs are never touched");
}
