//! The Kabine under attack: started here on loopback with a config written
//! here, watched from outside (/proc, its `/metrics` listener, its log),
//! optionally under strace to see every file it opens for writing.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct Server {
    child: Child,
    /// The server's own pid (under strace, not the child's).
    pub pid: u32,
    pub https: SocketAddr,
    pub media: SocketAddr,
    pub metrics: SocketAddr,
    pub log: PathBuf,
    /// strace's output, when traced.
    pub trace: Option<PathBuf>,
}

fn free_tcp_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn free_udp_port() -> io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What the config says about limits the attacks run into.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
}

impl Server {
    /// Starts `binary` with a fresh config in `dir` (created). With
    /// `trace`, under `strace -f` recording every call that creates,
    /// writes, renames or removes a file.
    pub fn start(binary: &Path, dir: &Path, limits: Limits, trace: bool) -> io::Result<Server> {
        std::fs::create_dir_all(dir)?;
        let dir = std::fs::canonicalize(dir)?;
        let https = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()?));
        let media = SocketAddr::from(([127, 0, 0, 1], free_udp_port()?));
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()?));
        let config = dir.join("kabine.toml");
        std::fs::write(
            &config,
            format!(
                r#"# Written by kabine-stress: Kabine under attack on loopback.
[server]
listen = "{https}"
max_connections = {max_connections}

[media]
bind_address = "127.0.0.1"
udp_port = {media_port}

[rooms]
max_rooms = 1000

[access]
mode = "open"
users_file = "{users}"

[p2p]
# The held call's media must cross the server.
enabled = false

[metrics]
enabled = true
listen = "{metrics}"

[log]
level = "warn"
"#,
                max_connections = limits.max_connections,
                media_port = media.port(),
                users = dir.join("users").display(),
            ),
        )?;
        let log = dir.join("kabine.log");
        let out = std::fs::File::create(&log)?;
        let trace_file = trace.then(|| dir.join("strace.txt"));
        let mut cmd = match &trace_file {
            Some(t) => {
                let mut c = Command::new("strace");
                c.args(["-f", "-qq", "--seccomp-bpf", "-e", "trace=openat,open,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,truncate,ftruncate,link,linkat,symlink,symlinkat", "-o"])
                    .arg(t)
                    .arg(binary);
                c
            }
            None => Command::new(binary),
        };
        cmd.arg("serve").arg("--config").arg(&config).stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let mut child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start {}{}: {e}", binary.display(), if trace { " under strace" } else { "" }),
            )
        })?;
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&https, Duration::from_millis(200)).is_ok()
                && TcpStream::connect_timeout(&metrics, Duration::from_millis(200)).is_ok()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(io::Error::other(format!("kabine exited at start ({status}):\n{text}")));
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other("kabine does not listen after 30 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let pid = if trace { find_child(child.id()).unwrap_or(child.id()) } else { child.id() };
        Ok(Server { child, pid, https, media, metrics, log, trace: trace_file })
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server's `/metrics`, as name → value (samples without labels).
    pub fn metrics(&self) -> io::Result<BTreeMap<String, f64>> {
        let mut s = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: metrics\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body
            .lines()
            .filter(|l| l.starts_with("kabine_"))
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect())
    }

    /// Lines of the log (stdout and stderr) that tell of a panic.
    pub fn panics(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("panicked") || l.contains("RUST_BACKTRACE"))
            .map(str::to_string)
            .collect()
    }

    /// Open file descriptors of the server.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }

    /// SIGTERM, then SIGKILL after 10 s. Returns whether it ended by itself.
    pub fn stop(&mut self) -> bool {
        if !self.alive() {
            return true;
        }
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).stderr(Stdio::null()).status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Server {
    /// A run that ends early (an error) leaves no server behind.
    fn drop(&mut self) {
        self.stop();
    }
}

/// The first child process of `pid` (the server strace started).
fn find_child(pid: u32) -> Option<u32> {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            && let Some(first) = text.split_whitespace().next().and_then(|s| s.parse().ok())
        {
            return Some(first);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Files the traced server created, wrote, renamed or removed, from
/// strace's output: every call of the trace set that succeeded and is not a
/// read-only open. Paths under /proc, /sys and /dev are not files on disk.
pub fn files_written(trace: &Path) -> io::Result<Vec<String>> {
    let text = std::fs::read_to_string(trace)?;
    let mut out = Vec::new();
    for line in text.lines() {
        // "<pid> openat(AT_FDCWD, "/path", O_RDONLY|O_CLOEXEC) = 7"
        let Some((call, result)) = line.rsplit_once(" = ") else {
            continue;
        };
        if result.trim_start().starts_with('-') {
            continue; // failed: nothing was written
        }
        let is_open = call.contains("open(") || call.contains("openat(");
        if is_open
            && !(call.contains("O_WRONLY")
                || call.contains("O_RDWR")
                || call.contains("O_CREAT")
                || call.contains("O_TRUNC"))
        {
            continue;
        }
        let path = call.split('"').nth(1).unwrap_or("");
        if ["/proc/", "/sys/", "/dev/"].iter().any(|p| path.starts_with(p)) {
            continue;
        }
        out.push(call.split_once(' ').map_or(call, |(_, c)| c).to_string());
    }
    Ok(out)
}
