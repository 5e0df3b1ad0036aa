//! Looking at the server process when it runs on the audit's own host
//! (Linux `/proc`): which process owns the listening port, how many bytes it
//! has caused to be written to storage, and what changed in the directories
//! the configuration lets it write to.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// True if `ip` is an address of this host.
pub fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Inodes of listening TCP sockets on `addr`'s port bound to `addr`'s
/// address or to the unspecified one.
fn listening_inodes(addr: SocketAddr) -> Vec<u64> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some((ip, port)) = parse_proc_addr(f[1]) else { continue };
            let matches_ip = ip.is_unspecified() || ip == addr.ip() || ip.to_canonical() == addr.ip().to_canonical();
            if port == addr.port()
                && matches_ip
                && let Ok(inode) = f[9].parse()
            {
                out.push(inode);
            }
        }
    }
    out
}

/// `0100007F:1F90` → 127.0.0.1:8080 (addresses are in host byte order per 32-bit word).
fn parse_proc_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let ip = match a.len() {
        8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(a, 16).ok()?.to_le_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let word = u32::from_str_radix(&a[i * 8..i * 8 + 8], 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// The process that holds the listening socket for `addr`, if visible to us.
pub fn owner_pid(addr: SocketAddr) -> Option<u32> {
    let inodes = listening_inodes(addr);
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = proc_entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path())
                && wanted.iter().any(|w| link.as_os_str() == w.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

/// Whether anything listens on `addr` on this host.
pub fn is_listening(addr: SocketAddr) -> bool {
    !listening_inodes(addr).is_empty()
}

fn read_write_bytes(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

/// `write_bytes` of `/proc/PID/io`: bytes the process, and every child it
/// has reaped, caused to be sent to the storage layer.
#[cfg(test)]
pub fn write_bytes(pid: u32) -> Option<u64> {
    read_write_bytes(Path::new(&format!("/proc/{pid}/io")))
}

/// `write_bytes` of each thread of the process (`/proc/PID/task/TID/io`):
/// the process's own writes, without those of reaped children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadWrites(BTreeMap<u32, u64>);

impl ThreadWrites {
    pub fn read(pid: u32) -> Option<ThreadWrites> {
        let mut m = BTreeMap::new();
        for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|s| s.parse().ok()) else { continue };
            if let Some(w) = read_write_bytes(&t.path().join("io")) {
                m.insert(tid, w);
            }
        }
        (!m.is_empty()).then_some(ThreadWrites(m))
    }

    /// Bytes written between `self` and `later` by threads alive at the end
    /// (a thread that ended in between is not counted).
    pub fn delta(&self, later: &ThreadWrites) -> u64 {
        later.0.iter().map(|(tid, w)| w.saturating_sub(self.0.get(tid).copied().unwrap_or(0))).sum()
    }
}

/// Size and modification time of every file under some directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, (u64, Option<SystemTime>)>,
}

/// At most this many files are recorded per snapshot.
const SNAPSHOT_LIMIT: usize = 20_000;

impl Snapshot {
    pub fn take(dirs: &[PathBuf]) -> Snapshot {
        let mut s = Snapshot::default();
        for d in dirs {
            s.walk(d, 0);
        }
        s
    }

    fn walk(&mut self, dir: &Path, depth: usize) {
        if depth > 4 || self.files.len() >= SNAPSHOT_LIMIT {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                self.walk(&e.path(), depth + 1);
            } else if meta.is_file() {
                self.files.insert(e.path(), (meta.len(), meta.modified().ok()));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// What changed from `self` to `after`.
    pub fn changes(&self, after: &Snapshot) -> Vec<Change> {
        let mut out = Vec::new();
        for (path, (len, mtime)) in &after.files {
            match self.files.get(path) {
                None => out.push(Change { path: path.clone(), kind: ChangeKind::New, from: 0 }),
                Some((l0, m0)) if l0 != len || m0 != mtime => {
                    out.push(Change { path: path.clone(), kind: ChangeKind::Modified, from: *l0.min(len) })
                }
                _ => {}
            }
        }
        for path in self.files.keys() {
            if !after.files.contains_key(path) {
                out.push(Change { path: path.clone(), kind: ChangeKind::Removed, from: 0 });
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    New,
    Modified,
    Removed,
}

/// A file that changed between two snapshots.
#[derive(Debug, Clone)]
pub struct Change {
    pub path: PathBuf,
    pub kind: ChangeKind,
    /// For a modified file, the offset from which its content may be new.
    pub from: u64,
}

impl Change {
    /// Whether the new content of the file contains any of `needles`.
    pub fn contains_any(&self, needles: &[String]) -> bool {
        if self.kind == ChangeKind::Removed {
            return false;
        }
        let Ok(bytes) = std::fs::read(&self.path) else { return false };
        let from = usize::try_from(self.from).unwrap_or(0).min(bytes.len());
        let text = String::from_utf8_lossy(&bytes[from..]);
        needles.iter().any(|n| !n.is_empty() && text.contains(n.as_str()))
    }
}

/// Where a server process could write besides its configured directories:
/// its working directory and its temporary directories, seen through its
/// own mount namespace (`/proc/PID/root`, so a systemd `PrivateTmp=` is
/// looked into, not past).
pub fn scratch_dirs(pid: Option<u32>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    match pid {
        Some(pid) => {
            if let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd"))
                && cwd != Path::new("/")
            {
                out.push(PathBuf::from(format!("/proc/{pid}/cwd")));
            }
            for d in ["tmp", "var/tmp", "dev/shm"] {
                out.push(PathBuf::from(format!("/proc/{pid}/root/{d}")));
            }
        }
        None => out.extend(["/tmp", "/var/tmp", "/dev/shm"].map(PathBuf::from)),
    }
    out
}

/// The result of [`find_recent`].
#[derive(Debug, Default)]
pub struct Search {
    /// Directory entries looked at.
    pub visited: usize,
    /// The walk stopped at its limit.
    pub truncated: bool,
    /// Files changed since the start that contain a needle.
    pub hits: Vec<PathBuf>,
}

/// At most this many directory entries are looked at per search.
const SEARCH_LIMIT: usize = 50_000;
/// Larger files are not read.
const SEARCH_MAX_FILE: u64 = 16 * 1024 * 1024;

/// Files under `roots` (4 levels deep) modified at or after `since` that
/// contain one of `needles`.
pub fn find_recent(roots: &[PathBuf], since: SystemTime, needles: &[String]) -> Search {
    let mut s = Search::default();
    for r in roots {
        walk_recent(r, 0, since, needles, &mut s);
    }
    s
}

fn walk_recent(dir: &Path, depth: usize, since: SystemTime, needles: &[String], s: &mut Search) {
    if depth > 4 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if s.visited >= SEARCH_LIMIT {
            s.truncated = true;
            return;
        }
        s.visited += 1;
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            walk_recent(&e.path(), depth + 1, since, needles, s);
        } else if meta.is_file()
            && meta.len() <= SEARCH_MAX_FILE
            && meta.modified().is_ok_and(|m| m >= since)
            && (Change { path: e.path(), kind: ChangeKind::New, from: 0 }).contains_any(needles)
        {
            s.hits.push(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_addresses() {
        assert_eq!(parse_proc_addr("0100007F:1F90"), Some((IpAddr::from([127, 0, 0, 1]), 8080)));
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:20FB"),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 8443))
        );
        assert_eq!(parse_proc_addr("junk"), None);
    }

    #[test]
    fn finds_its_own_listener_and_write_counter() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        assert!(is_local(addr.ip()));
        assert!(is_listening(addr));
        assert_eq!(owner_pid(addr), Some(std::process::id()));
        assert!(write_bytes(std::process::id()).is_some());
        let before = ThreadWrites::read(std::process::id()).expect("threads");
        let file = std::env::temp_dir().join(format!("kabine-audit-wb-{}", std::process::id()));
        std::fs::write(&file, vec![7u8; 64 * 1024]).expect("write");
        let after = ThreadWrites::read(std::process::id()).expect("threads");
        let _ = std::fs::remove_file(&file);
        assert!(before.delta(&after) >= 64 * 1024, "{}", before.delta(&after));
        assert!(!is_local(IpAddr::from([192, 0, 2, 1])), "a documentation address is not this host");
    }

    #[test]
    fn snapshots_see_new_grown_and_removed_files() {
        let dir = std::env::temp_dir().join(format!("kabine-audit-snap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        std::fs::write(dir.join("a.log"), "one\n").expect("write");
        std::fs::write(dir.join("gone"), "x").expect("write");
        let before = Snapshot::take(std::slice::from_ref(&dir));
        std::fs::write(dir.join("a.log"), "one\nroom-canary\n").expect("write");
        std::fs::write(dir.join("sub/new"), "x").expect("write");
        std::fs::remove_file(dir.join("gone")).expect("rm");
        let changes = before.changes(&Snapshot::take(std::slice::from_ref(&dir)));
        let kinds: Vec<_> =
            changes.iter().map(|c| (c.path.file_name().map(|n| n.to_string_lossy().into_owned()), c.kind)).collect();
        assert_eq!(changes.len(), 3, "{kinds:?}");
        let grown = changes.iter().find(|c| c.kind == ChangeKind::Modified).expect("modified");
        assert!(grown.contains_any(&["room-canary".to_string()]));
        assert!(!grown.contains_any(&["one".to_string()]), "only the new part is searched");
        let since = SystemTime::now() - std::time::Duration::from_secs(5);
        let found = find_recent(std::slice::from_ref(&dir), since, &["room-canary".to_string()]);
        assert_eq!(found.hits, [dir.join("a.log")]);
        assert!(
            find_recent(
                std::slice::from_ref(&dir),
                SystemTime::now() + std::time::Duration::from_secs(60),
                &["room-canary".to_string()]
            )
            .hits
            .is_empty()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
