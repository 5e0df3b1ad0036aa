//! `/metrics` in the Prometheus text format (version 0.0.4), on a listener
//! of its own (`[metrics]`, loopback by default), never on the HTTPS port.
//!
//! Only counts and gauges of the whole server: no label carries a room
//! name, a user name, a participant id or an address, so nothing here is
//! personal data. A test scrapes it during a browser call and scans the
//! body for names and addresses.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::mpsc::WeakSender;
use tokio_util::sync::CancellationToken;

use crate::acme::AcmeCounters;
use crate::auth::throttle::Throttle;
use crate::stats::Stats;

/// A bounded channel whose fill level is reported.
pub struct Queue {
    /// Metric name suffix, e.g. `room_actor`.
    pub name: &'static str,
    pub help: &'static str,
    /// Reported as gone (no sample) once the channel has closed.
    pub len: Box<dyn Fn() -> Option<(usize, usize)> + Send + Sync>,
}

impl Queue {
    /// Watches a channel without keeping it open.
    pub fn of<T: Send + 'static>(name: &'static str, help: &'static str, sender: WeakSender<T>) -> Queue {
        Queue {
            name,
            help,
            len: Box::new(move || {
                let s = sender.upgrade()?;
                Some((s.max_capacity() - s.capacity(), s.max_capacity()))
            }),
        }
    }
}

/// What `/metrics` reads.
pub struct Sources {
    pub stats: Arc<Stats>,
    pub throttle: Arc<Throttle>,
    pub acme: Option<Arc<AcmeCounters>>,
    pub queues: Vec<Queue>,
}

/// Serves `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, sources: Arc<Sources>, shutdown: CancellationToken) {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let sources = Arc::clone(&sources);
                async move { metrics_response(&sources) }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found; try /metrics\n") });
    let serving = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    // Requests still open at shutdown get the HTTPS listener's grace, no
    // more: a scraper that sent half a request must not hold the server.
    tokio::select! {
        _ = serving => {}
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(crate::http::SHUTDOWN_GRACE).await;
        } => {}
    }
}

fn metrics_response(sources: &Sources) -> Response {
    let mut r = render(sources).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The metrics text of `sources`.
pub fn render(sources: &Sources) -> String {
    let s = &sources.stats;
    let mut out = String::with_capacity(4096);
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP kabine_{name} {help}\n# TYPE kabine_{name} {kind}\nkabine_{name} {value}");
    };
    let n = |c: &std::sync::atomic::AtomicU64| Stats::get(c).to_string();
    metric("rooms_open", "gauge", "Rooms open now (breakout rooms included).", n(&s.rooms_open));
    metric("participants", "gauge", "Participants in all rooms now.", n(&s.participants));
    metric("signalling_sessions", "gauge", "Signalling (WebSocket) connections open now.", n(&s.sessions));
    metric("https_connections", "gauge", "HTTPS connections open now.", n(&s.https_connections));
    metric("https_connections_total", "counter", "HTTPS connections accepted.", n(&s.https_connections_total));
    metric("peer_connections", "gauge", "WebRTC peer connections with the SFU now.", n(&s.peer_connections));
    metric(
        "media_addresses",
        "gauge",
        "Remote media addresses the SFU knows now (learned from checked ICE requests only).",
        n(&s.media_addresses),
    );
    metric(
        "stun_refused_total",
        "counter",
        "ICE requests for a known connection that failed the credential check.",
        n(&s.stun_refused),
    );
    let threads = (Stats::get(&s.engine_threads) as usize).min(s.engine_thread_participants.len());
    let _ = writeln!(
        out,
        "# HELP kabine_media_engine_thread_participants Participants whose media each engine thread carries.\n\
         # TYPE kabine_media_engine_thread_participants gauge"
    );
    for (thread, count) in s.engine_thread_participants.iter().take(threads).enumerate() {
        let _ = writeln!(out, "kabine_media_engine_thread_participants{{thread=\"{thread}\"}} {}", Stats::get(count));
    }
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP kabine_{name} {help}\n# TYPE kabine_{name} {kind}\nkabine_{name} {value}");
    };
    metric("p2p_direct_rooms", "gauge", "Rooms whose two participants talk directly now.", n(&s.p2p_direct_rooms));
    metric("p2p_attempts_total", "counter", "Direct calls started.", n(&s.p2p_attempts));
    metric("p2p_failures_total", "counter", "Direct calls that fell back to the SFU.", n(&s.p2p_failures));
    metric("media_packets_received_total", "counter", "RTP packets received from publishers.", n(&s.packets_in));
    metric("media_bytes_received_total", "counter", "RTP payload bytes received from publishers.", n(&s.bytes_in));
    metric("media_packets_forwarded_total", "counter", "RTP packets forwarded to subscribers.", n(&s.packets_out));
    metric("media_bytes_forwarded_total", "counter", "RTP payload bytes forwarded to subscribers.", n(&s.bytes_out));
    metric(
        "media_datagrams_unclaimed_total",
        "counter",
        "UDP datagrams no peer connection claimed.",
        n(&s.datagrams_unclaimed),
    );
    metric(
        "media_datagrams_dropped_busy_total",
        "counter",
        "UDP datagrams dropped because their engine thread was too busy to take them.",
        n(&s.datagrams_dropped_busy),
    );
    metric("media_tcp_connections", "gauge", "ICE-TCP connections (media over TCP) open now.", n(&s.tcp_connections));
    metric("media_tcp_connections_total", "counter", "ICE-TCP connections accepted.", n(&s.tcp_connections_total));
    metric("media_tcp_bytes_received_total", "counter", "Bytes received over ICE-TCP.", n(&s.tcp_bytes_in));
    metric("media_tcp_bytes_sent_total", "counter", "Bytes sent over ICE-TCP.", n(&s.tcp_bytes_out));
    metric(
        "media_tcp_frames_dropped_total",
        "counter",
        "Frames dropped because an ICE-TCP connection could not keep up.",
        n(&s.tcp_frames_dropped),
    );
    metric("relay_allocations_total", "counter", "Allocations on the TURN/TLS relay.", n(&s.relay_allocations));
    metric(
        "relay_auth_failures_total",
        "counter",
        "Relay requests refused for their credentials.",
        n(&s.relay_auth_failures),
    );
    metric(
        "relay_peers_refused_total",
        "counter",
        "Relay permissions or packets refused: the peer was not this server's media address.",
        n(&s.relay_peers_refused),
    );
    metric("relay_bytes_received_total", "counter", "Bytes relayed from clients to the SFU.", n(&s.relay_bytes_in));
    metric("relay_bytes_sent_total", "counter", "Bytes relayed from the SFU to clients.", n(&s.relay_bytes_out));
    metric(
        "https_port_garbage_total",
        "counter",
        "Connections to the HTTPS port closed because they were neither TLS nor ICE-TCP.",
        n(&s.https_port_garbage),
    );
    metric("keyframe_requests_total", "counter", "Keyframe requests sent to publishers.", n(&s.keyframe_requests));
    metric("stun_bindings_answered_total", "counter", "STUN binding requests answered.", n(&s.stun_bindings_answered));
    metric(
        "auth_failures_total",
        "counter",
        "Failed logins and room password guesses.",
        sources.throttle.failures_total().to_string(),
    );
    let cpu = process_cpu_seconds();
    if let Some(cpu) = cpu {
        metric("process_cpu_seconds_total", "counter", "CPU time of the server process.", format!("{cpu:.3}"));
        let packets = Stats::get(&s.packets_in) + Stats::get(&s.packets_out);
        if packets > 0 {
            metric(
                "cpu_microseconds_per_media_packet",
                "gauge",
                "Process CPU time since the start per RTP packet received or forwarded.",
                format!("{:.3}", cpu * 1e6 / packets as f64),
            );
        }
    }
    for q in &sources.queues {
        if let Some((len, cap)) = (q.len)() {
            metric(&format!("queue_{}_length", q.name), "gauge", q.help, len.to_string());
            metric(&format!("queue_{}_capacity", q.name), "gauge", "Capacity of the queue above.", cap.to_string());
        }
    }
    if let Some(a) = &sources.acme {
        metric(
            "acme_certificates_obtained_total",
            "counter",
            "Certificates obtained by ACME since the start.",
            a.certificates_obtained.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "acme_failures_total",
            "counter",
            "Failed ACME attempts since the start.",
            a.failures.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "acme_consecutive_failures",
            "gauge",
            "Failed ACME attempts since the last success.",
            a.consecutive_failures.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "tls_certificate_not_after_seconds",
            "gauge",
            "End of validity of the certificate served (Unix time; 0: none from the CA yet).",
            a.not_after.load(Ordering::Relaxed).to_string(),
        );
    }
    out
}

/// utime + stime of this process, from `/proc/self/stat` (Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux Kabine runs on.
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_has_help_type_and_a_sample_per_metric() {
        let stats = Arc::new(Stats::default());
        Stats::add(&stats.packets_in, 5);
        let (tx, _rx) = tokio::sync::mpsc::channel::<u8>(8);
        let _ = tx.try_send(1);
        let sources = Sources {
            stats,
            throttle: Arc::new(Throttle::new(crate::auth::throttle::Limits::LOGIN)),
            acme: None,
            queues: vec![Queue::of("room_actor", "Commands waiting for the room actor.", tx.downgrade())],
        };
        let text = render(&sources);
        assert!(
            text.contains(
                "# TYPE kabine_media_packets_received_total counter\nkabine_media_packets_received_total 5\n"
            )
        );
        assert!(text.contains("kabine_queue_room_actor_length 1\n"));
        assert!(text.contains("kabine_queue_room_actor_capacity 8\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.split_once(' ').expect("name value");
            assert!(name.starts_with("kabine_") && !name.contains('{'), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        drop(tx);
        assert!(!render(&sources).contains("queue_room_actor"), "a closed queue is not reported");
    }
}
