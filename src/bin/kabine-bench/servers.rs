//! The two servers under test, each started in the benchmark namespace,
//! pinned to one core, with a configuration written here (the project owns
//! it; nothing comes from outside the repository).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns::Netns;

/// Kabine's HTTPS port and media port in the namespace.
pub const KABINE_HTTPS_PORT: u16 = 8443;
pub const KABINE_MEDIA_PORT: u16 = 10000;
/// Janus's WebSocket port in the namespace.
pub const JANUS_WS_PORT: u16 = 8188;

/// A running server process.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    /// Where the load generator connects (signalling).
    pub signalling: SocketAddr,
    pub log: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then SIGKILL after 5 s.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).stderr(Stdio::null()).status();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_port(addr: SocketAddr, child: &mut Child, log: &Path, what: &str) -> io::Result<()> {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            return Err(io::Error::other(format!(
                "{what} exited at start ({status}); its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(io::Error::other(format!("{what} does not listen on port {} after 20 s", addr.port())))
}

/// Starts Kabine (`binary`) in the namespace on `cpu`.
pub fn start_kabine(ns: &Netns, binary: &Path, dir: &Path, cpu: usize, last_n: u32, e2ee: bool) -> io::Result<Server> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("kabine.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Written by kabine-bench: Kabine under benchmark load, in the namespace.
[server]
listen = "{ip}:{KABINE_HTTPS_PORT}"
max_connections = 4096
# Every simulated participant comes from the load generator's one address.
max_connections_per_address = 4096

[media]
bind_address = "{ip}"
udp_port = {KABINE_MEDIA_PORT}
last_n = {last_n}

[rooms]
max_participants = 300
max_rooms = 1000

[access]
mode = "open"

[p2p]
# Media of two-person rooms must cross the server too, as with Janus.
enabled = false

[e2ee]
mode = "{mode}"
# The largest room of a scenario (seed-60, audio-100) fits; lecture's 151 does not.
max_participants = 100

[log]
level = "warn"
"#,
            ip = ns.ns_ip,
            mode = if e2ee { "required" } else { "optional" },
        ),
    )?;
    let log = dir.join("kabine.log");
    let out = std::fs::File::create(&log)?;
    let mut cmd = ns.command(cpu, &binary.to_string_lossy());
    cmd.arg("serve").arg("--config").arg(&config).stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
    let mut child =
        cmd.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", binary.display())))?;
    crate::netns::raise(child.id());
    let signalling = SocketAddr::new(ns.ns_ip.parse().map_err(io::Error::other)?, KABINE_HTTPS_PORT);
    if let Err(e) = wait_for_port(signalling, &mut child, &log, "kabine") {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(Server { name: "kabine", child, signalling, log })
}

/// Where Debian's Janus keeps its modules.
const JANUS_LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// Starts Janus with only the VideoRoom plugin and the WebSocket transport
/// in the namespace on `cpu`. libnice never gathers loopback candidates:
/// ICE uses the namespace's veth address only.
pub fn start_janus(ns: &Netns, dir: &Path, cpu: usize) -> io::Result<Server> {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf)?;
    let dir_abs = std::fs::canonicalize(dir)?;
    let conf_abs = dir_abs.join("conf");
    let lib = Path::new(JANUS_LIB);
    if !lib.join("plugins/libjanus_videoroom.so").exists() {
        return Err(io::Error::other(format!(
            "Janus's VideoRoom plugin is missing under {JANUS_LIB}: apt-get install janus"
        )));
    }
    let disabled_plugins: Vec<String> = std::fs::read_dir(lib.join("plugins"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".so") && n != "libjanus_videoroom.so")
        .collect();
    let disabled_transports: Vec<String> = std::fs::read_dir(lib.join("transports"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".so") && n != "libjanus_websockets.so")
        .collect();
    std::fs::write(
        conf.join("janus.jcfg"),
        format!(
            r#"general: {{
	configs_folder = "{conf}"
	plugins_folder = "{JANUS_LIB}/plugins"
	transports_folder = "{JANUS_LIB}/transports"
	events_folder = "{JANUS_LIB}/events"
	loggers_folder = "{JANUS_LIB}/loggers"
	debug_level = 3
	server_name = "kabine-bench-janus"
	session_timeout = 120
}}
media: {{
	rtp_port_range = "20000-60000"
}}
nat: {{
	ice_enforce_list = "{iface}"
	ignore_mdns = true
}}
plugins: {{
	disable = "{plugins}"
}}
transports: {{
	disable = "{transports}"
}}
events: {{
	broadcast = false
}}
"#,
            conf = conf_abs.display(),
            iface = ns.ns_iface,
            plugins = disabled_plugins.join(","),
            transports = disabled_transports.join(","),
        ),
    )?;
    std::fs::write(
        conf.join("janus.transport.websockets.jcfg"),
        format!(
            "general: {{\n\tjson = \"compact\"\n\tws = true\n\tws_port = {JANUS_WS_PORT}\n\tws_ip = \"{}\"\n\twss = false\n}}\nadmin: {{\n\tadmin_ws = false\n}}\n",
            ns.ns_ip
        ),
    )?;
    std::fs::write(conf.join("janus.plugin.videoroom.jcfg"), "general: {\n}\n")?;
    let log = dir_abs.join("janus.log");
    let mut cmd = ns.command(cpu, "janus");
    cmd.arg("-F")
        .arg(&conf_abs)
        .arg("-C")
        .arg(conf_abs.join("janus.jcfg"))
        .arg("-L")
        .arg(&log)
        .arg("-N")
        .arg("-o")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot start janus: {e}")))?;
    crate::netns::raise(child.id());
    let signalling = SocketAddr::new(ns.ns_ip.parse().map_err(io::Error::other)?, JANUS_WS_PORT);
    if let Err(e) = wait_for_port(signalling, &mut child, &log, "janus") {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(Server { name: "janus", child, signalling, log })
}
