//! Starting and stopping a whole Kabine server: listeners, media socket,
//! certificate reloads, and an explicit graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::config::LoadedConfig;
use crate::http::{self, AppState};
use crate::policy::Policy;
use crate::room::{Rooms, Settings};
use crate::sfu::{self, Engine, EngineConfig};
use crate::signal::{Signalling, Timings, actor};
use crate::stats::Stats;
use crate::tls::{self, CertStore};

/// Everything stops within this time after a shutdown signal.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A started server. Dropping it does not stop it; call [`RunningServer::stop`].
pub struct RunningServer {
    https_addr: SocketAddr,
    redirect_addr: Option<SocketAddr>,
    media_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    acme: Option<crate::acme::AcmeHandle>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    parts: Parts,
    stats: Arc<Stats>,
}

/// The server's long-running parts, by name, while they run, so that a
/// shutdown that times out can say what it waited for.
#[derive(Clone, Default)]
struct Parts(Arc<std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>>);

/// One running part; counted out when dropped (its task ended or was cancelled).
struct PartRunning(Parts, &'static str);

impl Parts {
    /// Spawns `work` on `tasks` as the part `name`.
    fn spawn<F>(&self, tasks: &TaskTracker, name: &'static str, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Ok(mut running) = self.0.lock() {
            *running.entry(name).or_default() += 1;
        }
        let running = PartRunning(self.clone(), name);
        tasks.spawn(async move {
            let _running = running;
            work.await
        });
    }

    /// What is still running, e.g. `media engine, 2 other tasks`: the named
    /// parts, and the rest of the `total` tasks and tokens of the tracker
    /// (signalling connections, maintenance timers).
    fn describe(&self, total: usize) -> String {
        let running: Vec<(&'static str, usize)> = match self.0.lock() {
            Ok(running) => running.iter().filter(|(_, n)| **n > 0).map(|(k, n)| (*k, *n)).collect(),
            Err(_) => Vec::new(),
        };
        let named: usize = running.iter().map(|(_, n)| n).sum();
        let mut out: Vec<String> = running.into_iter().map(|(k, _)| k.to_string()).collect();
        match total.saturating_sub(named) {
            0 => {}
            1 => out.push("1 signalling connection or timer".into()),
            n => out.push(format!("{n} signalling connections or timers")),
        }
        if out.is_empty() { "nothing".into() } else { out.join(", ") }
    }
}

impl Drop for PartRunning {
    fn drop(&mut self) {
        if let Ok(mut running) = (self.0).0.lock()
            && let Some(n) = running.get_mut(self.1)
        {
            *n = n.saturating_sub(1);
        }
    }
}

/// Settings of a server start that are not in the configuration file.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Keep-alive timings of signalling connections.
    pub timings: Timings,
    /// A login session's idle timeout instead of
    /// `access.session_idle_timeout_minutes`, whose unit (a minute) is
    /// too coarse for a test.
    pub session_idle: Option<std::time::Duration>,
}

/// Capacity of the channel from connection tasks to the room actor.
const ACTOR_QUEUE: usize = 1024;
/// Capacity of the channel from the room actor to the SFU.
const MEDIA_COMMAND_QUEUE: usize = 1024;
/// Capacity of the channel from the SFU to the room actor.
const MEDIA_EVENT_QUEUE: usize = 4096;

impl RunningServer {
    /// Counters for tests and benchmarks (in-process only).
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// The bound HTTPS address (useful with port 0 in tests).
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The bound plain-HTTP redirect address, if configured.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_addr
    }

    /// The bound media (UDP) address.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// The bound metrics address, if `[metrics]` is enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The ACME task, if `[tls.acme]` is configured.
    pub fn acme(&self) -> Option<&crate::acme::AcmeHandle> {
        self.acme.as_ref()
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, tells sessions the server is closing, and waits for
    /// every task, at most [`SHUTDOWN_TIMEOUT`]. Returns false on timeout,
    /// after a warning that names what was still running.
    pub async fn stop(self) -> bool {
        self.shutdown.cancel();
        self.tasks.close();
        let stopped = tokio::time::timeout(SHUTDOWN_TIMEOUT, self.tasks.wait()).await.is_ok();
        if !stopped {
            let running = self.parts.describe(self.tasks.len());
            tracing::warn!("the server did not stop within {SHUTDOWN_TIMEOUT:?}; still running: {running}");
        }
        stopped
    }
}

/// Binds every listener and starts every task. Errors name what could not be
/// bound or read; they never carry a client's address.
pub async fn start(loaded: LoadedConfig, policy: Policy) -> io::Result<RunningServer> {
    start_with(loaded, policy, StartOptions::default()).await
}

/// [`start`] with settings that are not in the configuration file.
pub async fn start_with(loaded: LoadedConfig, policy: Policy, options: StartOptions) -> io::Result<RunningServer> {
    let mut config = loaded.config.clone();
    // What runs is what the policy allows: a config that leaves direct
    // calls on by default follows a policy that forbids them.
    config.p2p.enabled = crate::policy::p2p_in_use(&loaded, &policy);
    let config = Arc::new(config);
    let auth = Arc::new(Auth::new(&loaded).map_err(io::Error::other)?);
    if let Some(idle) = options.session_idle {
        auth.set_session_idle(idle);
    }
    if config.access.mode != crate::config::AccessMode::Open && !auth.has_accounts() {
        tracing::warn!(
            "access.mode is \"{}\" but there are no local users and no LDAP directory: nobody can open a \
             room until `kabine user add` adds one",
            config.access.mode.as_str()
        );
    }

    let acme = crate::acme::Settings::from_config(&loaded);
    let certs = match (&acme, &config.tls.cert_file, &config.tls.key_file) {
        (Some(acme), _, _) => crate::acme::initial_store(acme)?,
        (None, Some(cert), Some(key)) => CertStore::from_files(cert, key)?,
        _ => CertStore::self_signed(&config.media.turn_tls_name.iter().cloned().collect::<Vec<_>>())?,
    };
    let certs = Arc::new(certs);
    let tls = tls::server_config(Arc::clone(&certs), config.tls.min_version).map_err(io::Error::other)?;

    let https = TcpListener::bind(config.server.listen).await.map_err(|e| {
        io::Error::new(e.kind(), format!("cannot listen on the HTTPS port {}: {e}", config.server.listen.port()))
    })?;
    let https_addr = https.local_addr()?;

    let media_bind = SocketAddr::new(config.media.bind_address, config.media.udp_port);
    let media = UdpSocket::bind(media_bind).await.map_err(|e| {
        io::Error::new(e.kind(), format!("cannot bind the media port udp/{}: {e}", config.media.udp_port))
    })?;
    let media_addr = media.local_addr()?;

    let redirect = match config.server.http_redirect_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen on the HTTP redirect port {}: {e}", addr.port()))
        })?),
        None => None,
    };
    let redirect_addr = match &redirect {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let metrics = match config.metrics.enabled {
        true => Some(TcpListener::bind(config.metrics.listen).await.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen on the metrics port {}: {e}", config.metrics.listen.port()))
        })?),
        false => None,
    };
    let metrics_addr = match &metrics {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };

    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let parts = Parts::default();
    certs.spawn_reloader(shutdown.clone());

    let stats = Arc::new(Stats::default());

    // The SFU: the media socket and every peer connection, on one task or
    // sharded across several (sfu::shard).
    let (media_tx, media_rx) = mpsc::channel(MEDIA_COMMAND_QUEUE);
    let (event_tx, event_rx) = mpsc::channel(MEDIA_EVENT_QUEUE);
    let mut queues = vec![
        crate::metrics::Queue::of("media_commands", "Commands waiting for the SFU task.", media_tx.downgrade()),
        crate::metrics::Queue::of("media_events", "SFU events waiting for the room actor.", event_tx.downgrade()),
    ];
    let candidates = sfu::host_candidates(&config.media, media_addr, config.server.public_url.is_none());
    // ICE-TCP candidates: the same addresses (so the same rule for loopback
    // and LAN addresses outside the demo), on the HTTPS port.
    let public_https_port = config.media.ice_tcp_port(&config.server, https_addr.port());
    let tcp_candidates = match config.media.ice_tcp {
        true => sfu::tcp_candidates(&candidates, public_https_port),
        false => Vec::new(),
    };
    let mut settings = Settings::from_config(&config);
    settings.p2p.add_own_stun(&candidates);
    let relay_issuer = crate::turn::Issuer::new(Duration::from_secs(config.media.turn_credential_lifetime));
    if let Some(name) = &config.media.turn_tls_name {
        settings.relay = Some(crate::room::RelayOffer {
            urls: vec![format!("turns:{name}:{public_https_port}?transport=tcp")],
            issuer: relay_issuer.clone(),
        });
    }
    let relay_peers = candidates.clone();
    settings.meeting_grace = options.timings.meeting_grace;
    let engine_config = EngineConfig {
        candidates,
        tcp_candidates,
        last_n: config.media.last_n,
        audio_slots: config.media.audio_slots as usize,
    };
    // One engine per shard (`media.engine_threads`), all with one DTLS
    // certificate (the fingerprint browsers see does not depend on the shard).
    let cert = sfu::dtls_certificate()?;
    Stats::set(&stats.engine_threads, config.media.engine_shards() as u64);
    let engines: Vec<Engine> = (0..config.media.engine_shards())
        .map(|_| {
            let mut engine =
                Engine::new(engine_config.clone(), cert.clone(), Arc::clone(&stats), std::time::Instant::now());
            if config.p2p.enabled {
                // Browsers in a direct call ask this server for their public address.
                engine.enable_stun_responder();
            }
            engine
        })
        .collect();
    // The recorder, if the operator enabled recording (the policy allowed
    // it, or the config would have been refused): a thread of its own that
    // ends when the SFU task does, after closing every file.
    let recorder_tx = match config.recording.enabled {
        true => {
            let recipients = crate::record::store::Recipients::parse(&config.recording.recipients).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("recording.recipients: {}", e.join("; ")))
            })?;
            let (tx, thread) = crate::record::spawn(crate::record::RecorderConfig {
                directory: config.recording.directory.clone(),
                recipients,
                retention_days: config.recording.retention_days,
            });
            parts.spawn(&tasks, "recorder", async move {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            });
            Some(tx)
        }
        false => None,
    };
    // ICE-TCP connections and relay allocations from the HTTPS listener to the SFU.
    let (link_tx, link_rx) = mpsc::channel(crate::link::EVENT_QUEUE);
    let fallbacks = http::demux::Fallbacks {
        ice_tcp: config.media.ice_tcp.then(|| sfu::TcpMedia::new(link_tx.clone(), Arc::clone(&stats))),
        relay: config.media.turn_tls_name.clone().map(|name| {
            let relay = crate::turn::server::Relay {
                issuer: relay_issuer,
                peers: relay_peers,
                links: link_tx,
                addresses: Default::default(),
                stats: Arc::clone(&stats),
            };
            (name, Arc::new(relay))
        }),
    };
    parts.spawn(
        &tasks,
        "media engine",
        sfu::run(media, engines, media_rx, event_tx, link_rx, recorder_tx, shutdown.clone()),
    );

    // The room actor, and the connections that talk to it.
    let (actor_tx, actor_rx) = mpsc::channel(ACTOR_QUEUE);
    queues.push(crate::metrics::Queue::of(
        "room_actor",
        "Commands from connections waiting for the room actor.",
        actor_tx.downgrade(),
    ));
    let wiring = actor::Wiring { commands: actor_rx, media_events: event_rx, media: media_tx };
    // Room password guesses count against the same throttle as logins.
    let rooms = Rooms::new(settings).with_throttle(auth.throttle());
    parts.spawn(&tasks, "room actor", actor::run(rooms, wiring, Arc::clone(&stats), shutdown.clone()));
    let signal = Signalling::new(actor_tx, options.timings, tasks.clone(), shutdown.clone());

    auth.spawn_maintenance(shutdown.clone(), &tasks);
    let throttle = auth.throttle();
    let app = http::app(AppState {
        config: Arc::clone(&config),
        auth,
        signal,
        teletherapy: Arc::new(http::teletherapy::Guards::new()),
    });
    parts.spawn(
        &tasks,
        "HTTPS listener",
        http::serve_https(
            https,
            Arc::new(tls),
            app,
            http::ConnLimits::from_config(&config.server),
            Arc::clone(&stats),
            Arc::new(fallbacks),
            shutdown.clone(),
        ),
    );
    let http01 = Arc::new(crate::acme::Http01Tokens::default());
    if let (Some(listener), Some(url)) = (redirect, config.server.public_url.clone()) {
        let limits = http::ConnLimits::from_config(&config.server);
        parts.spawn(
            &tasks,
            "HTTP redirect listener",
            http::serve_redirect(listener, url, Arc::clone(&http01), limits, shutdown.clone()),
        );
    }
    let acme = match acme {
        Some(settings) => Some(crate::acme::spawn(settings, Arc::clone(&certs), http01, shutdown.clone(), &tasks)?),
        None => None,
    };
    if let Some(listener) = metrics {
        let sources = crate::metrics::Sources {
            stats: Arc::clone(&stats),
            throttle,
            acme: acme.as_ref().map(|a| Arc::clone(&a.counters)),
            queues,
        };
        parts.spawn(&tasks, "metrics listener", crate::metrics::serve(listener, Arc::new(sources), shutdown.clone()));
    }

    Ok(RunningServer { https_addr, redirect_addr, media_addr, metrics_addr, acme, shutdown, tasks, parts, stats })
}

/// SIGINT and SIGTERM handlers, installed before the server starts so that
/// a signal arriving while it starts is not fatal.
pub struct ShutdownSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Installs the handlers now (inside a tokio runtime).
    pub fn install() -> ShutdownSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            ShutdownSignals { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() }
        }
        #[cfg(not(unix))]
        {
            ShutdownSignals {}
        }
    }

    /// Resolves on SIGINT or SIGTERM.
    pub async fn wait(self) {
        #[cfg(unix)]
        {
            let (mut term, mut int) = (self.term, self.int);
            if term.is_none() && int.is_none() {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                _ = recv(&mut term) => {}
                _ = recv(&mut int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Waits for one signal; never resolves without a handler.
#[cfg(unix)]
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves on SIGINT or SIGTERM (handlers installed on the first call;
/// prefer [`ShutdownSignals::install`] before starting).
pub async fn shutdown_signal() {
    ShutdownSignals::install().wait().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shutdown_that_times_out_can_name_what_still_runs() {
        let (tasks, parts) = (TaskTracker::new(), Parts::default());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        parts.spawn(&tasks, "media engine", async move { stopped.cancelled().await });
        parts.spawn(&tasks, "room actor", std::future::pending());
        let _connection = tasks.token();
        tokio::task::yield_now().await;
        assert_eq!(parts.describe(tasks.len()), "media engine, room actor, 1 signalling connection or timer");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), async {
            while tasks.len() > 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the engine ends");
        assert_eq!(parts.describe(tasks.len()), "room actor, 1 signalling connection or timer");
    }
}
