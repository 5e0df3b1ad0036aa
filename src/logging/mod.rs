//! Logging that cannot leak an IP address.
//!
//! Every field of every event and span passes through [`redact`] before it is
//! written, so an address never reaches stderr or a file, whatever level a
//! line is logged at. The level is capped by the privacy policy: neither the
//! config file nor `RUST_LOG` can raise it above the cap. Files rotate daily
//! and are deleted by Kabine when older than the retention period.

pub mod redact;
mod retention;

use std::fmt::{self, Write as _};
use std::io;
use std::path::Path;

use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogLevel, LogTarget};
use crate::policy::Policy;

pub use retention::sweep_old_files;

/// Formats event and span fields with every IP address removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingFields;

impl<'writer> FormatFields<'writer> for RedactingFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = RedactingVisitor { out: String::new(), result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_str(&visitor.out)
    }
}

struct RedactingVisitor {
    out: String,
    result: fmt::Result,
}

impl RedactingVisitor {
    fn push(&mut self, field: &Field, value: &str) {
        let value = redact::redact(value);
        if !self.out.is_empty() {
            self.out.push(' ');
        }
        if field.name() == "message" {
            self.out.push_str(&value);
        } else {
            self.out.push_str(field.name());
            self.out.push('=');
            self.out.push_str(&value);
        }
    }
}

impl Visit for RedactingVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.push(field, value);
        } else {
            self.push(field, &format!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut s = String::new();
        if let Err(e) = write!(s, "{value:?}") {
            self.result = Err(e);
            return;
        }
        self.push(field, &s);
    }
}

/// The formatting layer Kabine uses everywhere: plain text, redacted fields,
/// writing to `make_writer`. Tests install the same layer over a capture.
pub fn format_layer<S, W>(make_writer: W) -> impl Layer<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(true)
        .fmt_fields(RedactingFields)
        .with_writer(make_writer)
}

/// The level actually used: the configured one, lowered to the policy cap,
/// and lowered further (never raised) by `RUST_LOG` if that names a level.
pub fn effective_level(configured: LogLevel, policy: &Policy, rust_log: Option<&str>) -> LogLevel {
    let mut level = configured.min(policy.log.max_level);
    if let Some(env) = rust_log.and_then(LogLevel::parse) {
        level = level.min(env);
    }
    level
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Off => LevelFilter::OFF,
        LogLevel::Error => LevelFilter::from_level(Level::ERROR),
        LogLevel::Warn => LevelFilter::from_level(Level::WARN),
        LogLevel::Info => LevelFilter::from_level(Level::INFO),
        LogLevel::Debug => LevelFilter::from_level(Level::DEBUG),
        LogLevel::Trace => LevelFilter::from_level(Level::TRACE),
    }
}

/// Replaces the default panic report (the message as is, on stderr) with
/// one that redacts addresses: a panic message may quote a peer's address
/// (a failed `expect` on a socket error). The report goes to the log (whose
/// formatter redacts too) when logging is set up, else to stderr.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let report = panic_report(info);
        if tracing::dispatcher::has_been_set() {
            tracing::error!("{report}");
        } else {
            eprintln!("{report}");
        }
    }));
}

/// The text of a panic report: where, and the message with every address
/// replaced by [`redact::MARK`].
pub fn panic_report(info: &std::panic::PanicHookInfo<'_>) -> String {
    let message = match (info.payload().downcast_ref::<&str>(), info.payload().downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (None, Some(s)) => s.clone(),
        (None, None) => "(no message)".to_string(),
    };
    let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
    let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
    format!("internal error (a bug, please report it): thread '{thread}' panicked{place}: {}", redact::redact(&message))
}

/// Keeps the file writer's background thread alive; drop it last.
pub struct LogGuard {
    _worker: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Installs the global subscriber for `kabine serve` and other commands.
pub fn init(config: &LogConfig, policy: &Policy) -> io::Result<LogGuard> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let level = effective_level(config.level, policy, rust_log.as_deref());
    let filter = level_filter(level);
    match config.target {
        LogTarget::Stderr => {
            let layer = format_layer(io::stderr).with_filter(filter);
            tracing_subscriber::registry().with(layer).try_init().map_err(io::Error::other)?;
            Ok(LogGuard { _worker: None })
        }
        LogTarget::File => {
            let dir = config.directory.as_path();
            std::fs::create_dir_all(dir)?;
            let retention = config.retention_days.min(policy.log.max_retention_days);
            sweep_old_files(dir, retention, std::time::SystemTime::now())?;
            let appender = file_appender(dir, retention)?;
            let (writer, worker) = tracing_appender::non_blocking(appender);
            let layer = format_layer(writer).with_filter(filter);
            tracing_subscriber::registry().with(layer).try_init().map_err(io::Error::other)?;
            retention::spawn_sweeper(dir.to_path_buf(), retention);
            Ok(LogGuard { _worker: Some(worker) })
        }
    }
}

fn file_appender(dir: &Path, retention_days: u32) -> io::Result<tracing_appender::rolling::RollingFileAppender> {
    tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(retention::FILE_PREFIX)
        .filename_suffix(retention::FILE_SUFFIX)
        .max_log_files(retention_days.max(1) as usize)
        .build(dir)
        .map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn a_panic_report_carries_no_address() {
        static REPORT: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|info| {
            *REPORT.lock().unwrap_or_else(|p| p.into_inner()) = panic_report(info);
        }));
        let peer = "192.0.2.77:40000";
        let _ = std::panic::catch_unwind(|| panic!("sending to {peer} failed: connection reset"));
        std::panic::set_hook(previous);
        let report = REPORT.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert!(report.contains("sending to [addr] failed: connection reset"), "{report}");
        assert!(!report.contains("192.0.2.77"), "{report}");
        assert!(report.contains("src/logging/mod.rs"), "{report}");
    }

    #[test]
    fn rust_log_can_lower_but_never_raise_the_level() {
        let policy = Policy::strict();
        assert_eq!(effective_level(LogLevel::Warn, &policy, Some("trace")), LogLevel::Warn);
        assert_eq!(effective_level(LogLevel::Warn, &policy, Some("error")), LogLevel::Error);
        assert_eq!(effective_level(LogLevel::Debug, &policy, None), LogLevel::Warn);
        assert_eq!(effective_level(LogLevel::Warn, &policy, Some("str0m=trace")), LogLevel::Warn);
    }
}
