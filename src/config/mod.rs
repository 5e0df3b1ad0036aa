//! Kabine's configuration file (TOML).
//!
//! Every key is documented here, once, where it is defined, and mirrored in
//! the commented example `config/kabine.example.toml`. Every struct refuses
//! unknown keys; [`load`] reports every problem in a file with its line and
//! key, not only the first.

mod load;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use load::{ConfigError, KeyIndex, LoadedConfig, Problem, load, load_str};

/// The whole configuration. With no file, [`Config::default`] is the demo.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The privacy policy this server runs under: the name of a built-in
    /// preset (`strict`, the default and strictest; `strict-no-p2p`;
    /// `relaxed`) or the path of a preset file in the format of `policy/`.
    pub policy: PolicyChoice,
    /// HTTPS listener, public address and connection limits.
    pub server: ServerConfig,
    /// Certificate and protocol versions.
    pub tls: TlsConfig,
    /// The media (WebRTC) port and the ICE servers handed to browsers.
    pub media: MediaConfig,
    /// Log level, destination and retention.
    pub log: LogConfig,
    /// Room limits and where room state lives.
    pub rooms: RoomsConfig,
    /// Recording (off unless enabled, and then only with everyone's consent).
    pub recording: RecordingConfig,
    /// Direct (peer-to-peer) calls between two participants.
    pub p2p: P2pConfig,
    /// End-to-end encryption of group calls (docs/e2ee.md).
    pub e2ee: E2eeConfig,
    /// What the browser client shows: name, logo, language, legal links.
    pub client: ClientConfig,
    /// Who may open and join rooms, the local user store, login sessions.
    pub access: AccessConfig,
    /// An LDAP directory for logins (off unless `url` is set).
    pub ldap: LdapConfig,
    /// Prometheus metrics on a separate listener (off unless enabled).
    pub metrics: MetricsConfig,
    /// Appointments for therapy practices: links per patient, waiting room,
    /// consent, attendance record (docs/teletherapy.md). Off unless enabled.
    pub teletherapy: TeletherapyConfig,
}

/// Which policy preset is active.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PolicyChoice(pub String);

impl Default for PolicyChoice {
    fn default() -> Self {
        PolicyChoice("strict".into())
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port of the HTTPS listener (browser pages, API, WebSocket).
    /// Default `0.0.0.0:8443`.
    pub listen: SocketAddr,
    /// The address people type, e.g. `https://meet.praxis-beispiel.de`. Used
    /// for redirects and to check the Origin of WebSocket handshakes. Default:
    /// none (the demo accepts the Host the browser used).
    pub public_url: Option<String>,
    /// Optional plain-HTTP listener (e.g. `0.0.0.0:80`) that only redirects to
    /// `public_url`. Needs `public_url`. Default: none.
    pub http_redirect_listen: Option<SocketAddr>,
    /// Most simultaneous HTTPS connections; more wait for a free slot.
    /// Default 4096, at most 1,000,000. Each takes a file descriptor: the
    /// service's `LimitNOFILE` must exceed this plus the media sockets
    /// (docs/security.md).
    pub max_connections: usize,
    /// Most simultaneous connections from one address (an IPv4 address or
    /// an IPv6 /64), on the HTTPS and the redirect listener each; more are
    /// closed at once. Addresses are counted in memory only and never
    /// logged. Default 256: a school behind one NAT address, every pupil
    /// with a signalling connection and a page connection, still fits.
    pub max_connections_per_address: usize,
    /// Seconds a TLS handshake may take before the connection is closed.
    /// Default 10.
    pub tls_handshake_timeout_secs: u64,
    /// Seconds a client may take to send a request's header (from the
    /// connection's start or the end of the previous request) before the
    /// connection is closed. Default 10.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay without any byte in either direction
    /// before it is closed (signalling connections are pinged every 20 s,
    /// so a live call never goes idle). Default 120.
    pub idle_timeout_secs: u64,
    /// Most requests in flight on one HTTP/2 connection. Default 100.
    pub http2_max_concurrent_streams: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8443),
            public_url: None,
            http_redirect_listen: None,
            max_connections: 4096,
            max_connections_per_address: 256,
            tls_handshake_timeout_secs: 10,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 120,
            http2_max_concurrent_streams: 100,
        }
    }
}

/// `[tls]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain (leaf first). Reloaded when the file changes.
    /// Without `cert_file` and `key_file` Kabine makes a self-signed
    /// certificate in memory at every start (demo only: browsers warn).
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Lowest TLS version accepted: `"1.2"` (default) or `"1.3"`. The policy
    /// refuses anything below 1.2.
    pub min_version: TlsVersion,
    /// Certificates by ACME (RFC 8555), obtained and renewed by Kabine
    /// itself. Instead of `cert_file` and `key_file`, not together with
    /// them. Unset (default): no ACME.
    pub acme: Option<AcmeConfig>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig { cert_file: None, key_file: None, min_version: TlsVersion::V1_2, acme: None }
    }
}

/// Let's Encrypt's production directory, the default `tls.acme.directory`.
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `[tls.acme]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// The DNS names the certificate is for, e.g. `["meet.praxis-beispiel.de"]`.
    /// Each must resolve to this server. No wildcards and no IP addresses.
    pub domains: Vec<String>,
    /// Where the CA may write about the account, e.g.
    /// `"mailto:it@praxis-beispiel.de"`. Optional; it is sent to the CA.
    pub contact: Option<String>,
    /// The ACME directory URL of the CA. Default: Let's Encrypt production
    /// (`https://acme-v02.api.letsencrypt.org/directory`). `kabine policy
    /// check` and `kabine audit` name the CA and whether it is in the EU.
    pub directory: String,
    /// PEM file with CA certificate(s) to trust for the directory's HTTPS,
    /// besides the system's, for a CA inside your own network. Default: none.
    pub directory_ca_file: Option<PathBuf>,
    /// How the CA checks that this server answers for the domains:
    /// `"tls-alpn-01"` (default: on the HTTPS listener, which must be
    /// reachable on port 443), `"http-01"` (on `server.http_redirect_listen`,
    /// reachable on port 80) or `"auto"` (TLS-ALPN-01, and HTTP-01 on every
    /// other attempt when the redirect listener is there).
    pub challenge: AcmeChallenge,
    /// Directory for the ACME account key, the certificate, its key and the
    /// renewal status (files mode 0600, written atomically). Default
    /// `/var/lib/kabine/acme` (the systemd unit's state directory). A
    /// relative path is taken from the config file's directory.
    pub state_directory: PathBuf,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            domains: Vec::new(),
            contact: None,
            directory: LETS_ENCRYPT_DIRECTORY.into(),
            directory_ca_file: None,
            challenge: AcmeChallenge::TlsAlpn01,
            state_directory: PathBuf::from("/var/lib/kabine/acme"),
        }
    }
}

/// Which ACME challenge Kabine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum AcmeChallenge {
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    #[serde(rename = "http-01")]
    Http01,
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` in the Prometheus text format: rooms, participants,
    /// media packets and bytes, CPU time per packet, connections, login
    /// failures, queue lengths. Counts only: no room names, user names or
    /// addresses. Default `false`.
    pub enabled: bool,
    /// Address of the metrics listener (plain HTTP, nothing else on it).
    /// Default `127.0.0.1:9464`, reachable from this machine only; open it
    /// wider only towards your monitoring.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: false, listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464) }
    }
}

/// A TLS protocol version as written in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum TlsVersion {
    /// SSL 3.0, named only so the policy can refuse it by name.
    #[serde(rename = "ssl3")]
    Ssl3,
    #[serde(rename = "1.0")]
    V1_0,
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

impl TlsVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Ssl3 => "ssl3",
            TlsVersion::V1_0 => "1.0",
            TlsVersion::V1_1 => "1.1",
            TlsVersion::V1_2 => "1.2",
            TlsVersion::V1_3 => "1.3",
        }
    }
}

/// Default `media.audio_slots`.
pub const DEFAULT_AUDIO_SLOTS: u32 = 3;
/// Largest `media.audio_slots` accepted.
pub const MAX_AUDIO_SLOTS: u32 = 16;

/// `[media]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Local address the media socket binds to. Default `0.0.0.0`.
    pub bind_address: IpAddr,
    /// The one UDP port all media uses (ICE, DTLS, SRTP). Default 10000.
    pub udp_port: u16,
    /// The address announced to browsers when the server sits behind NAT
    /// (like a videobridge's public-address setting). Default: the server's
    /// own interface addresses.
    pub public_address: Option<IpAddr>,
    /// STUN/TURN servers handed to browsers. Every one must be on the
    /// policy's EU allow-list (or be this server itself). Default: none, the
    /// server is reachable directly.
    pub ice_servers: Vec<IceServer>,
    /// Forward video of at most this many most recent speakers to each
    /// participant; 0 means unlimited (default).
    pub last_n: u32,
    /// Audio slots per participant (1 to 16; default 3): everyone receives
    /// audio on at most this many streams. In a room of up to
    /// `audio_slots + 1` people each other participant has a slot of their
    /// own; in larger rooms the slots carry the loudest and most recent
    /// speakers, switched only between talkspurts (docs/protocol.md, *Audio
    /// slots*). Three covers a conversation with interruptions; more slots
    /// cost CPU per packet for every participant of a big room.
    pub audio_slots: u32,
    /// Media over TCP on the HTTPS port (ICE-TCP, RFC 6544), for
    /// participants whose network drops UDP: browsers are offered a TCP
    /// candidate besides the UDP one, with a lower priority, so UDP wins
    /// whenever it works. Default `true`.
    pub ice_tcp: bool,
    /// The port browsers reach the HTTPS listener on, announced in the TCP
    /// candidate, when it differs from the port it listens on (a port
    /// forward from 443). Default: the port of `server.public_url` (443 if
    /// it names none), else the port of `server.listen`.
    pub ice_tcp_port: Option<u16>,
    /// The TLS server name of Kabine's own TURN relay on the HTTPS port, e.g.
    /// `turn.meet.praxis-beispiel.de`, for networks that let only TLS out.
    /// Needs a DNS name pointing at this server, and the certificate must
    /// name it (with ACME: list it in `tls.acme.domains`). Browsers get it
    /// as a `turns:` server with credentials made for their session. The
    /// relay forwards only to this server's own media port. Default: none
    /// (no relay).
    pub turn_tls_name: Option<String>,
    /// Seconds the relay credentials handed to a participant may be used to
    /// start relaying (an allocation made in time lives on). Default 600.
    pub turn_credential_lifetime: u64,
    /// Threads (engine shards) forwarding media, each owning whole meetings
    /// (a room and its breakout rooms); one media port either way. 1
    /// (default) keeps all media on one thread; 0: one per CPU core the
    /// process may use, at most [`MAX_ENGINE_THREADS`].
    pub engine_threads: u32,
}

/// Largest `media.engine_threads` accepted.
pub const MAX_ENGINE_THREADS: u32 = 16;

impl MediaConfig {
    /// How many engine shards run: `engine_threads`, or with 0 the CPU
    /// cores available (at most [`MAX_ENGINE_THREADS`]).
    pub fn engine_shards(&self) -> usize {
        let n = match self.engine_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            n => n,
        };
        n.clamp(1, MAX_ENGINE_THREADS) as usize
    }

    /// The port announced in ICE-TCP candidates ([`MediaConfig::ice_tcp_port`]).
    pub fn ice_tcp_port(&self, server: &ServerConfig, bound: u16) -> u16 {
        if let Some(port) = self.ice_tcp_port {
            return port;
        }
        match &server.public_url {
            Some(url) => {
                let host = url.trim_start_matches("https://").trim_end_matches('/');
                // `[v6]:port` or `name:port`; none: HTTPS's 443.
                match host.rsplit_once(':') {
                    Some((h, port)) if !port.contains(']') && !h.is_empty() => port.parse().unwrap_or(443),
                    _ => 443,
                }
            }
            None => bound,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            udp_port: 10000,
            public_address: None,
            ice_servers: Vec::new(),
            last_n: 0,
            audio_slots: DEFAULT_AUDIO_SLOTS,
            engine_threads: 1,
            ice_tcp: true,
            ice_tcp_port: None,
            turn_tls_name: None,
            turn_credential_lifetime: 600,
        }
    }
}

/// One `[[media.ice_servers]]` entry, as in the browser's RTCIceServer.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    /// `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]` or `turns:…`.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default)]
    pub username: Option<String>,
    /// TURN password.
    #[serde(default)]
    pub credential: Option<String>,
}

/// The host of a `stun:`, `turn:` or `turns:` URL (RFC 7064/7065), lowercased.
pub fn ice_url_host(url: &str) -> Result<String, String> {
    let rest = ["stun:", "stuns:", "turn:", "turns:"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .ok_or_else(|| "must start with stun:, stuns:, turn: or turns:".to_string())?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.starts_with("//") {
        return Err("write stun:host:port, without //".into());
    }
    let host = strip_port(rest);
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err("needs a host name or address".into());
    }
    Ok(host.to_ascii_lowercase())
}

/// The host of `host[:port]` or `[v6-address][:port]`.
pub fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Log verbosity, ordered from quietest to loudest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Off,
    Error,
    #[serde(alias = "warning")]
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// Parses a bare level name (`warn`, `WARNING`, …), as in `RUST_LOG=warn`.
    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(LogLevel::Off),
            "error" => Some(LogLevel::Error),
            "warn" | "warning" => Some(LogLevel::Warn),
            "info" => Some(LogLevel::Info),
            "debug" => Some(LogLevel::Debug),
            "trace" => Some(LogLevel::Trace),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    Stderr,
    File,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `off`, `error` or `warn` (default). The policy caps the level; a
    /// louder level is refused at start, and `RUST_LOG` can only lower it.
    pub level: LogLevel,
    /// `stderr` (default; journald picks it up) or `file`.
    pub target: LogTarget,
    /// Directory for `target = "file"`: one file per day, `kabine.YYYY-MM-DD.log`.
    /// Default `/var/log/kabine`.
    pub directory: PathBuf,
    /// Days a log file is kept before Kabine deletes it. Default 7; the
    /// policy caps it.
    pub retention_days: u32,
    /// IP addresses are removed from every log line. `false` is refused by
    /// every policy; the key exists so a config copied from a guide that
    /// asks for addresses in logs is refused clearly instead of ignored.
    pub redact_addresses: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LogLevel::Warn,
            target: LogTarget::Stderr,
            directory: PathBuf::from("/var/log/kabine"),
            retention_days: 7,
            redact_addresses: true,
        }
    }
}

/// Where room state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomStorage {
    /// In memory only, wiped when the room ends (the only storage Kabine has).
    Memory,
    /// On disk. Named only so that the policy can refuse it by name.
    Disk,
}

/// `[rooms]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomsConfig {
    /// `memory` (default): rooms, chat, lobby and passwords live in memory
    /// and are wiped when the last participant leaves.
    pub storage: RoomStorage,
    /// Most participants in one room. Default 100, at most 300: a browser's
    /// subscribe answer, compacted, takes ~170 bytes per other participant
    /// with microphone and camera (~250 with a screen share too) and must
    /// fit the 64 KiB signalling limit (docs/protocol.md).
    pub max_participants: u32,
    /// Most rooms open at once on this server (breakout rooms count too).
    /// Default 1000.
    pub max_rooms: u32,
    /// Participants may send chat messages to one other participant of
    /// their room. Default `true`. Like room chat, private messages are
    /// relayed and never stored; `false` leaves only messages to the whole
    /// room, which every participant sees.
    pub private_chat: bool,
    /// Most sessions from one address (an IPv4 address or an IPv6 /64)
    /// that wait at once — for a host, at the password or in a lobby, in
    /// all rooms together; more are refused with `server_full`. Default
    /// 50: a class behind one NAT address waiting for its teacher fits,
    /// and one address can never fill a room's queue (each room lets at
    /// most `max_participants` wait).
    pub max_waiting_per_address: u32,
    /// Minutes a session may wait (for a host, the password or the lobby)
    /// before it is sent away with `bye` `wait_expired`. Default 30.
    pub max_wait_minutes: u32,
    /// Every meeting starts with its lobby on, so that nobody — also not
    /// those who waited for the host — comes in before a moderator lets
    /// them in; the host can turn it off in the call. Default: on in
    /// `secure` and `closed` mode (guests who waited for the host knock
    /// when the host arrives, and the host admits them), off in `open` mode
    /// (there is no host to wait for). `true` or `false` sets it for every
    /// mode: `false` lets those who waited walk in when the host opens the
    /// room. Read it with [`RoomsConfig::lobby_on_open`].
    #[serde(rename = "lobby_on_open", skip_serializing_if = "Option::is_none")]
    pub lobby_on_open_setting: Option<bool>,
}

impl RoomsConfig {
    /// Whether meetings start with their lobby on under `mode`: the
    /// setting if there is one, else on outside `open` mode.
    pub fn lobby_on_open(&self, mode: AccessMode) -> bool {
        self.lobby_on_open_setting.unwrap_or(mode != AccessMode::Open)
    }
}

/// Largest `server.max_connections` accepted (far below what makes a
/// semaphore of that size impossible, and above any real file limit).
pub const MAX_CONNECTIONS: usize = 1_000_000;

/// Largest `rooms.max_participants` accepted.
pub const MAX_ROOM_PARTICIPANTS: u32 = 300;

impl Default for RoomsConfig {
    fn default() -> Self {
        RoomsConfig {
            storage: RoomStorage::Memory,
            max_participants: 100,
            max_rooms: 1000,
            private_chat: true,
            max_waiting_per_address: 50,
            max_wait_minutes: 30,
            lobby_on_open_setting: None,
        }
    }
}

/// `[recording]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Whether hosts may record at all. Default `false`; the `strict`
    /// policy refuses `true`, and a meeting with end-to-end encryption is
    /// never recorded (the server cannot see its media).
    pub enabled: bool,
    /// Every participant must consent before a recording starts. Default
    /// `true`; `false` is refused by every policy.
    pub require_consent: bool,
    /// Where recordings are written: one directory (mode 0700) per
    /// recording, every file mode 0600 and encrypted. Default
    /// `/var/lib/kabine/recordings`.
    pub directory: PathBuf,
    /// The operator's age public keys (`age1…`, from `age-keygen -y
    /// KEYFILE`): every file is encrypted to them as it is written, and
    /// only the matching private key (kept off the server) reads it.
    /// Required when `enabled`.
    pub recipients: Vec<String>,
    /// Days a recording is kept before Kabine deletes it (1 to the
    /// policy's `recording.max_retention_days`). Default 30.
    pub retention_days: u32,
    /// When someone declines: `"exclude"` (default: the recording goes on
    /// without them, and everyone sees who is not recorded) or `"cancel"`
    /// (the recording does not start, and the host is told).
    pub on_decline: OnDecline,
    /// The practice's own text in the consent dialog, German and English
    /// (e.g. what the recording is for and how long it is kept). Default:
    /// Kabine's general text.
    pub consent_text_de: Option<String>,
    pub consent_text_en: Option<String>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: false,
            require_consent: true,
            directory: PathBuf::from("/var/lib/kabine/recordings"),
            recipients: Vec::new(),
            retention_days: 30,
            on_decline: OnDecline::Exclude,
            consent_text_de: None,
            consent_text_en: None,
        }
    }
}

/// What a recording does when a participant declines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDecline {
    /// Record the others; those who declined are not recorded.
    Exclude,
    /// Do not record at all; the host is told.
    Cancel,
}

/// Longest consent text accepted, in characters.
pub const MAX_CONSENT_TEXT_CHARS: usize = 2000;

/// `[teletherapy]`: appointments with one link per patient
/// (docs/teletherapy.md). Appointments live in memory only: a restart
/// loses them and the practice makes new links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeletherapyConfig {
    /// Therapists (logged in, allowed to host) create appointments on
    /// `/sessions`; patients join with their link `/t/…` without an
    /// account, after accepting the consent text, through the waiting room.
    /// Default `false`. Refused with `access.mode = "open"`.
    pub enabled: bool,
    /// The practice's name shown to patients and in the session record.
    /// Default: `client.app_name`.
    pub practice_name: Option<String>,
    /// Minutes before the start from which a patient link works (0 to
    /// 1440). Default 30.
    pub link_opens_minutes_before: u32,
    /// Minutes after the planned end until which a patient link works,
    /// unless the therapist ended the session before (0 to 1440). Default 30.
    pub link_grace_minutes_after: u32,
    /// Most patient links of a group appointment (1 to 99, and less than
    /// `rooms.max_participants`, which must leave room for the therapist).
    /// Default 9.
    pub max_patients: u32,
    /// Hours after its end (or, if it never started, after its links
    /// closed) at which an appointment and its attendance record are
    /// deleted, unless the therapist deleted it before (1 to 2160, 90
    /// days). Default 24.
    pub record_retention_hours: u32,
    /// Most appointments one therapist may hold at once (1 to 10000).
    /// Default 200.
    pub max_appointments_per_therapist: u32,
    /// The practice's consent text that patients accept before their first
    /// entry, German and English (at most 4000 characters each). Default:
    /// Kabine's built-in text. Its version (shown in the record) is the
    /// first 16 hex digits of SHA-256 over both texts.
    pub consent_text_de: Option<String>,
    pub consent_text_en: Option<String>,
}

impl Default for TeletherapyConfig {
    fn default() -> Self {
        TeletherapyConfig {
            enabled: false,
            practice_name: None,
            link_opens_minutes_before: 30,
            link_grace_minutes_after: 30,
            max_patients: 9,
            record_retention_hours: 24,
            max_appointments_per_therapist: 200,
            consent_text_de: None,
            consent_text_en: None,
        }
    }
}

/// Longest teletherapy consent text accepted, in characters.
pub const MAX_TELETHERAPY_CONSENT_CHARS: usize = 4000;

/// `[p2p]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pConfig {
    /// Two participants talk directly, end-to-end encrypted, and the server
    /// carries no media; browsers learn their public address from the
    /// server's own STUN answers on the media port. Default `true`, as far
    /// as the policy allows: a policy may forbid it (each participant learns
    /// the other's IP address), and then calls of two go through the server
    /// too; setting `true` explicitly under such a policy is refused.
    pub enabled: bool,
    /// Milliseconds to wait before moving back to a direct call when a room
    /// drops to two participants. Default 5000.
    pub back_to_p2p_delay_ms: u64,
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig { enabled: true, back_to_p2p_delay_ms: 5000 }
    }
}

/// Whether meetings are end-to-end encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum E2eeMode {
    /// Never: media is decrypted in the server (encrypted in transit only).
    Off,
    /// A meeting's moderator may turn it on (it then stays on).
    Optional,
    /// Every meeting, from its first frame; browsers that cannot do it are
    /// told why and cannot join.
    Required,
}

impl E2eeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            E2eeMode::Off => "off",
            E2eeMode::Optional => "optional",
            E2eeMode::Required => "required",
        }
    }
}

/// The largest `e2ee.max_participants`: every participant sends its key to
/// every other one, and the key exchange grows with the square of the size.
pub const MAX_E2EE_PARTICIPANTS: u32 = 100;

/// `[e2ee]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct E2eeConfig {
    /// End-to-end encryption of group calls: the browsers encrypt every
    /// audio and video frame with keys the server never has, exchanged
    /// between them and authenticated by a key in the meeting link's
    /// fragment; the server forwards ciphertext (docs/e2ee.md). `"off"`,
    /// `"optional"` (a moderator turns it on for a meeting; default) or
    /// `"required"` (every meeting). A policy may require `"required"`.
    pub mode: E2eeMode,
    /// Most participants of an end-to-end encrypted meeting (2 to 100;
    /// default 20). Further joins are refused as `room_full`, and a
    /// moderator cannot turn it on for a larger meeting.
    pub max_participants: u32,
}

impl Default for E2eeConfig {
    fn default() -> Self {
        E2eeConfig { mode: E2eeMode::Optional, max_participants: 20 }
    }
}

/// Interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    De,
    En,
}

/// `[client]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// Name shown in the title and header. Default `Kabine`.
    pub app_name: String,
    /// PNG or SVG logo file served by Kabine itself. Default: Kabine's mark.
    pub logo_file: Option<PathBuf>,
    /// Language for browsers that prefer neither German nor English: `de`
    /// or `en` (default).
    pub default_language: Language,
    /// A display name is needed to join. Default `true`.
    pub require_display_name: bool,
    /// Link to the operator's imprint (Impressum), shown on every page.
    pub imprint_url: Option<String>,
    /// Link to the operator's privacy notice (Datenschutzerklärung).
    pub privacy_url: Option<String>,
    /// Other origins the browser may load from (fonts, scripts, analytics).
    /// Must stay empty: every policy forbids third-party requests.
    pub external_origins: Vec<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            app_name: "Kabine".into(),
            logo_file: None,
            default_language: Language::En,
            require_display_name: true,
            imprint_url: None,
            privacy_url: None,
            external_origins: Vec::new(),
        }
    }
}

/// Who may open a room and who may join it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    /// Anyone may open a room and join one; the first participant moderates.
    Open,
    /// Only logged-in users who may host open rooms; guests need no account
    /// and wait until a host has opened the room.
    Secure,
    /// Everyone logs in; only users who may host open rooms.
    Closed,
}

impl AccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::Open => "open",
            AccessMode::Secure => "secure",
            AccessMode::Closed => "closed",
        }
    }
}

/// `[access]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// `open` (default, the demo: anyone opens and joins rooms), `secure`
    /// (only logged-in hosts open rooms; guests join without an account once
    /// a host is in) or `closed` (everyone must log in).
    pub mode: AccessMode,
    /// The local user store: one line per user with an argon2id hash, kept
    /// with mode 0600 and edited with `kabine user`. Changes are picked up
    /// without a restart. A missing file means no local users. A relative
    /// path is taken from the config file's directory. Default
    /// `/var/lib/kabine/users`.
    pub users_file: PathBuf,
    /// Minutes without any request after which a login session ends.
    /// Default 30, which is also the most the policy allows.
    pub session_idle_timeout_minutes: u32,
    /// Hours after login at which a session ends however active it is.
    /// Default 12, which is also the most the policy allows.
    pub session_lifetime_hours: u32,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            mode: AccessMode::Open,
            users_file: PathBuf::from("/var/lib/kabine/users"),
            session_idle_timeout_minutes: 30,
            session_lifetime_hours: 12,
        }
    }
}

/// How an LDAP directory decides who may host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostGroupCheck {
    /// The user's entry lists the group in its `memberOf` attribute
    /// (Active Directory; OpenLDAP with the memberof overlay).
    MemberOf,
    /// A search of the group entry with `group_filter` finds it.
    GroupSearch,
}

/// `[ldap]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// The directory: `ldaps://HOST[:PORT]`, or `ldap://HOST[:PORT]` with
    /// `starttls = true`. Plain LDAP is refused by every policy: passwords
    /// would cross the network in clear. Unset (default): no LDAP.
    pub url: Option<String>,
    /// Upgrade an `ldap://` connection with StartTLS before anything else is
    /// sent. Default `false`.
    pub starttls: bool,
    /// PEM file with the CA certificate(s) that signed the directory's
    /// certificate. Default: the system's CA store. Certificates and host
    /// names are always verified.
    pub ca_file: Option<PathBuf>,
    /// DN Kabine binds as to search for users, e.g.
    /// `cn=kabine,ou=services,dc=praxis-beispiel,dc=de`. Unset: search
    /// anonymously.
    pub bind_dn: Option<String>,
    /// Password for `bind_dn`. Prefer `bind_password_file`.
    pub bind_password: Option<SecretString>,
    /// File holding the password for `bind_dn` (one line; e.g. a systemd
    /// credential). Read at start.
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched (subtree), e.g. `ou=people,dc=praxis-beispiel,dc=de`.
    pub user_base: String,
    /// Filter that finds exactly one user; `{username}` is replaced by the
    /// name typed at login, escaped (RFC 4515). Default
    /// `(&(objectClass=inetOrgPerson)(uid={username}))`; for Active
    /// Directory e.g. `(&(objectClass=user)(sAMAccountName={username}))`.
    /// To let only some users log in at all, add a condition here.
    pub user_filter: String,
    /// Attributes tried in order for the name others see. Default
    /// `["displayName", "cn"]`.
    pub display_name_attributes: Vec<String>,
    /// DN of the group whose members may host (open rooms, moderate), e.g.
    /// `cn=conf-users,ou=groups,dc=praxis-beispiel,dc=de`. Unset (default):
    /// every user found may host.
    pub host_group: Option<String>,
    /// How membership of `host_group` is checked: `member_of` (default: the
    /// user's `memberOf` attribute) or `group_search` (`group_filter` on the
    /// group entry).
    pub host_group_check: HostGroupCheck,
    /// For `group_search`: filter that matches the group entry when the user
    /// is a member. `{dn}` is the user's DN and `{username}` the login name,
    /// both escaped. Default `(member={dn})`; for posixGroup
    /// `(memberUid={username})`.
    pub group_filter: String,
    /// Milliseconds to reach the directory (TCP and TLS) before a login is
    /// answered "directory unavailable". Default 5000.
    pub connect_timeout_ms: u64,
    /// Milliseconds each LDAP operation (bind, search) may take. Default 5000.
    pub operation_timeout_ms: u64,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            url: None,
            starttls: false,
            ca_file: None,
            bind_dn: None,
            bind_password: None,
            bind_password_file: None,
            user_base: String::new(),
            user_filter: "(&(objectClass=inetOrgPerson)(uid={username}))".into(),
            display_name_attributes: vec!["displayName".into(), "cn".into()],
            host_group: None,
            host_group_check: HostGroupCheck::MemberOf,
            group_filter: "(member={dn})".into(),
            connect_timeout_ms: 5000,
            operation_timeout_ms: 5000,
        }
    }
}

/// A secret from the config file: wiped from memory when dropped, and never
/// shown by `Debug` or written back out.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct SecretString(zeroize::Zeroizing<String>);

impl SecretString {
    pub fn new(s: String) -> SecretString {
        SecretString(zeroize::Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_url_hosts() {
        assert_eq!(ice_url_host("stun:stun.sipgate.net:3478").as_deref(), Ok("stun.sipgate.net"));
        assert_eq!(ice_url_host("turns:Turn.Example.EU?transport=tcp").as_deref(), Ok("turn.example.eu"));
        assert_eq!(ice_url_host("turn:[2001:db8::1]:3478").as_deref(), Ok("2001:db8::1"));
        assert!(ice_url_host("https://x").is_err());
    }
}
