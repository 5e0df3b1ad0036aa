//! The local user store: one text file, one user a line,
//! `NAME:ARGON2ID-PHC-HASH[:DISPLAY NAME]`, mode 0600.
//!
//! Every change is written atomically (a temporary file in the same
//! directory, fsync, rename over the old file, fsync of the directory), so a
//! crash leaves either the old or the new file, never half of one. Writers
//! (`kabine user`, the password-change API) take a lock file first so that
//! two changes at the same time cannot lose one another. A running server
//! notices a changed file and reloads it without a restart.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rand::RngCore;

use super::password::{self, HashParams};
use crate::policy::UserStoreFacts;
use crate::private_file;

/// Longest local user name.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;
/// A lock file older than this is left over from a crashed writer.
const STALE_LOCK: Duration = Duration::from_secs(30);
/// How long a writer waits for another writer's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// One local account.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// Lowercase login name.
    pub name: String,
    /// argon2id PHC string.
    pub hash: String,
    /// The name others see; the login name when unset.
    pub display_name: Option<String>,
}

impl fmt::Debug for LocalUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalUser").field("hash", &"[redacted]").finish_non_exhaustive()
    }
}

/// What went wrong with the store file.
#[derive(Debug)]
pub enum StoreError {
    Io {
        path: PathBuf,
        error: io::Error,
    },
    /// A line that is not `NAME:HASH[:DISPLAY NAME]`; messages never hold a
    /// user name (they may reach the log).
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    Locked {
        lock: PathBuf,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, error } => write!(f, "user store {}: {error}", path.display()),
            StoreError::Malformed { path, line, message } => {
                write!(f, "user store {}:{line}: {message}", path.display())
            }
            StoreError::Locked { lock } => write!(
                f,
                "the user store is being changed by another kabine process (lock file {}); \
                 try again, or remove the lock file if no kabine user command is running",
                lock.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// Checks a local login name: 1 to 64 of `a-z 0-9 . _ @ -`, starting with a
/// letter or digit. Names are lowercased before they get here.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_chars =
        name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '@' | '-'));
    let starts_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || !ok_chars || !starts_ok {
        return Err(format!(
            "a user name is 1 to {MAX_NAME_CHARS} characters of a-z, 0-9, '.', '_', '@' and '-', \
             starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a display name: 1 to 80 characters, no control characters.
pub fn check_display_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > MAX_DISPLAY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(format!("a display name is 1 to {MAX_DISPLAY_NAME_CHARS} characters, without control characters"));
    }
    Ok(())
}

/// The contents of a store file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    users: BTreeMap<String, LocalUser>,
    /// Line of each user in the file it was read from (for policy messages).
    lines: BTreeMap<String, usize>,
}

impl Users {
    /// Parses store text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Users, StoreError> {
        let mut users = Users::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |message: &str| StoreError::Malformed { path: path.to_path_buf(), line, message: message.into() };
            let l = raw.trim_end_matches('\r');
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            let mut parts = l.splitn(3, ':');
            let (Some(name), Some(hash)) = (parts.next(), parts.next()) else {
                return Err(bad("expected NAME:HASH[:DISPLAY NAME]"));
            };
            let display_name = parts.next().map(str::to_string);
            check_name(name).map_err(|e| bad(&e))?;
            let params = HashParams::parse(hash).map_err(|e| bad(&e))?;
            if !params.within_bounds() {
                return Err(bad(&format!("the hash parameters ({params}) are out of any sane range")));
            }
            if let Some(d) = &display_name {
                check_display_name(d).map_err(|e| bad(&e))?;
            }
            if users.users.contains_key(name) {
                return Err(bad("a user name appears twice"));
            }
            users.lines.insert(name.to_string(), line);
            users
                .users
                .insert(name.to_string(), LocalUser { name: name.to_string(), hash: hash.to_string(), display_name });
        }
        Ok(users)
    }

    /// The file text, with a header explaining the format.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Kabine local users, one a line: NAME:ARGON2ID-HASH[:DISPLAY NAME]\n\
             # Change with `kabine user add|remove|passwd|list`; a running server picks up changes.\n",
        );
        for u in self.users.values() {
            out.push_str(&u.name);
            out.push(':');
            out.push_str(&u.hash);
            if let Some(d) = &u.display_name {
                out.push(':');
                out.push_str(d);
            }
            out.push('\n');
        }
        out
    }

    pub fn get(&self, name: &str) -> Option<&LocalUser> {
        self.users.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &LocalUser> {
        self.users.values()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Adds or replaces a user.
    pub fn put(&mut self, user: LocalUser) {
        self.users.insert(user.name.clone(), user);
    }

    pub fn remove(&mut self, name: &str) -> Option<LocalUser> {
        self.lines.remove(name);
        self.users.remove(name)
    }

    /// Line of a user in the file this was read from.
    pub fn line_of(&self, name: &str) -> Option<usize> {
        self.lines.get(name).copied()
    }
}

/// Reads a store file; a missing file is an empty store.
pub fn read(path: &Path) -> Result<Users, StoreError> {
    match fs::read_to_string(path) {
        Ok(text) => Users::parse(&text, path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Users::default()),
        Err(error) => Err(StoreError::Io { path: path.to_path_buf(), error }),
    }
}

/// Writes `users` to `path` atomically with mode 0600. Creates the parent
/// directory (mode 0700) when it is missing. The file keeps its owner (or,
/// when new, gets the directory's owner), so that `kabine user` run as root
/// leaves a store the server's own user can still read.
pub fn write_atomic(path: &Path, users: &Users) -> Result<(), StoreError> {
    private_file::write_atomic(path, users.render().as_bytes())
        .map_err(|error| StoreError::Io { path: path.to_path_buf(), error })
}

/// Reads, changes and writes the store under its lock. `change` returns
/// `Err` to leave the file untouched.
pub fn edit<T, E>(path: &Path, change: impl FnOnce(&mut Users) -> Result<T, E>) -> Result<Result<T, E>, StoreError> {
    let _lock = StoreLock::acquire(path)?;
    let mut users = read(path)?;
    match change(&mut users) {
        Ok(value) => {
            write_atomic(path, &users)?;
            Ok(Ok(value))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// What the privacy policy needs to know about a store file (I/O here; the
/// decision is [`crate::policy::check_user_store`]).
pub fn inspect(path: &Path) -> UserStoreFacts {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return UserStoreFacts::Missing,
        Err(e) => return UserStoreFacts::Unreadable(e.to_string()),
    };
    let mode = file_mode(&meta);
    let users = match read(path) {
        Ok(u) => u,
        Err(StoreError::Malformed { line, message, .. }) => {
            return UserStoreFacts::Malformed { line, message };
        }
        Err(e) => return UserStoreFacts::Unreadable(e.to_string()),
    };
    let mut weak_lines = Vec::new();
    let mut weakest = None;
    for u in users.iter() {
        if let Ok(p) = HashParams::parse(&u.hash)
            && !p.meets_minimum()
        {
            weak_lines.push(users.line_of(&u.name).unwrap_or(0));
            weakest.get_or_insert_with(|| p.to_string());
        }
    }
    weak_lines.sort_unstable();
    UserStoreFacts::Present { mode, users: users.len(), weak_lines, weakest }
}

/// (uid, gid) of a file.
#[cfg(unix)]
fn file_mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn file_mode(_meta: &fs::Metadata) -> u32 {
    0o600
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `FILE.lock`, held while a writer reads, changes and writes the store.
struct StoreLock {
    path: PathBuf,
}

impl StoreLock {
    fn acquire(store: &Path) -> Result<StoreLock, StoreError> {
        let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "users".into());
        name.push(".lock");
        let path = private_file::parent_dir(store).join(name);
        private_file::create_dir(&private_file::parent_dir(store))
            .map_err(|error| StoreError::Io { path: store.to_path_buf(), error })?;
        let started = std::time::Instant::now();
        loop {
            match private_file::options().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(StoreLock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|a| a > STALE_LOCK) {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() > LOCK_WAIT {
                        return Err(StoreError::Locked { lock: path });
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(error) => return Err(StoreError::Io { path, error }),
            }
        }
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Identifies one version of the file on disk (a rename makes a new inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp { len: meta.len(), modified: meta.modified().ok(), inode })
}

/// The store as a running server holds it: the file's last good contents,
/// reloaded when the file changes.
pub struct LocalStore {
    path: PathBuf,
    users: RwLock<Arc<Users>>,
    seen: Mutex<Option<Stamp>>,
}

impl LocalStore {
    /// Reads the file (a missing file is an empty store).
    pub fn open(path: &Path) -> Result<LocalStore, StoreError> {
        let seen = stamp(path);
        let users = read(path)?;
        Ok(LocalStore { path: path.to_path_buf(), users: RwLock::new(Arc::new(users)), seen: Mutex::new(seen) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The users right now.
    pub fn current(&self) -> Arc<Users> {
        match self.users.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads when the file changed since the last look. `Ok(true)` when
    /// new contents were taken; on a malformed file the old contents stay.
    pub fn reload_if_changed(&self) -> Result<bool, StoreError> {
        let now = stamp(&self.path);
        {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == now {
                return Ok(false);
            }
        }
        let users = read(&self.path);
        // Remember the version even when it is malformed: one error per change.
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
        let users = users?;
        let changed = *self.current() != users;
        self.replace(users);
        Ok(changed)
    }

    /// Takes contents this process has just written.
    pub fn replace(&self, users: Users) {
        match self.users.write() {
            Ok(mut g) => *g = Arc::new(users),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(users),
        }
    }
}

/// A hash to verify against when the user does not exist, so that an
/// unknown name costs as much time as a wrong password.
pub fn dummy_hash() -> String {
    let mut random = [0u8; 24];
    rand::rng().fill_bytes(&mut random);
    password::hash(&password::Password::new(hex(&random)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2qJ0FJJ1nSQUmClaRrfyjEG7uO4H8wRK8s1ptbRu8pE";

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kabine-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn parse_and_render_round_trip() {
        let text = format!("# comment\n\nalice:{HASH}:Alice Beispiel: Praxis\nbob:{HASH}\n");
        let users = Users::parse(&text, Path::new("u")).expect("parses");
        assert_eq!(users.len(), 2);
        assert_eq!(users.get("alice").and_then(|u| u.display_name.as_deref()), Some("Alice Beispiel: Praxis"));
        assert_eq!(users.line_of("bob"), Some(4));
        let again = Users::parse(&users.render(), Path::new("u")).expect("rendered text parses");
        assert_eq!(again.get("alice"), users.get("alice"));
        assert_eq!(again.get("bob"), users.get("bob"));
    }

    #[test]
    fn malformed_lines_are_named_without_user_names() {
        for (text, expect) in [
            ("secretname\n".to_string(), "expected NAME:HASH"),
            (format!("Alice:{HASH}\n"), "a user name is"),
            ("alice:$2y$10$abcdefghijklmnopqrstuu\n".to_string(), "hash"),
            (format!("alice:{HASH}\nalice:{HASH}\n"), "appears twice"),
            (format!("alice:{HASH}:bad\tname\n"), "display name"),
            (
                "alice:$argon2id$v=19$m=4000000,t=2,p=1$c2FsdHNhbHRzYWx0$2qJ0FJJ1nSQUmClaRrfyjEG7uO4H8wRK8s1ptbRu8pE\n"
                    .into(),
                "out of any sane range",
            ),
        ] {
            let err = Users::parse(&text, Path::new("u")).expect_err(&text).to_string();
            assert!(err.contains(expect), "{text}: {err}");
            assert!(!err.contains("alice") && !err.contains("secretname"), "{err}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("dr.mueller@praxis").is_ok());
        for bad in ["", "Alice", "-x", "a b", "ali*", "a:b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn atomic_write_is_private_and_edits_take_the_lock() {
        let d = dir("write");
        let path = d.join("sub/users");
        let r: Result<(), ()> = edit(&path, |u| {
            u.put(LocalUser { name: "alice".into(), hash: HASH.into(), display_name: None });
            Ok(())
        })
        .expect("edit");
        assert_eq!(r, Ok(()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("written").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(d.join("sub")).expect("dir").permissions().mode() & 0o777;
            assert_eq!(dir_mode, 0o700);
        }
        assert!(!d.join("sub/users.lock").exists(), "the lock is released");
        let left: Vec<_> = fs::read_dir(d.join("sub")).expect("dir").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("users")], "no temporary file is left");
        // A refused change leaves the file alone.
        let before = fs::read(&path).expect("read");
        let r: Result<(), &str> = edit(&path, |u| {
            u.remove("alice");
            Err("no")
        })
        .expect("edit");
        assert_eq!(r, Err("no"));
        assert_eq!(fs::read(&path).expect("read"), before);
        let _ = fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_store_belongs_to_the_directory_owner_and_keeps_its_owner() {
        use std::os::unix::fs::MetadataExt;
        let d = dir("owner");
        let mut u = Users::default();
        u.put(LocalUser { name: "alice".into(), hash: HASH.into(), display_name: None });
        // As root (as in CI and in production for `kabine user`), hand the
        // directory to "nobody" like systemd's StateDirectory hands it to
        // the service user; otherwise only check that writing works.
        let as_root = std::os::unix::fs::chown(&d, Some(65534), Some(65534)).is_ok();
        let path = d.join("users");
        write_atomic(&path, &u).expect("write");
        let meta = fs::metadata(&path).expect("written");
        if as_root {
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "new store owned like its directory");
            write_atomic(&path, &u).expect("rewrite");
            let meta = fs::metadata(&path).expect("written");
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "a rewrite keeps the owner");
        }
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_held_lock_makes_a_second_writer_wait_then_give_up_clearly() {
        let d = dir("lock");
        let path = d.join("users");
        let held = StoreLock::acquire(&path).expect("first lock");
        let t = std::thread::spawn({
            let path = path.clone();
            move || {
                let r: Result<Result<(), ()>, StoreError> = edit(&path, |_| Ok(()));
                r.is_ok()
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        drop(held);
        assert!(t.join().expect("thread"), "the waiting writer proceeds once the lock is free");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn reload_notices_a_replaced_file() {
        let d = dir("reload");
        let path = d.join("users");
        let store = LocalStore::open(&path).expect("missing file is empty");
        assert!(store.current().is_empty());
        assert!(!store.reload_if_changed().expect("no change"));
        let mut u = Users::default();
        u.put(LocalUser { name: "bob".into(), hash: HASH.into(), display_name: None });
        write_atomic(&path, &u).expect("write");
        assert!(store.reload_if_changed().expect("reload"));
        assert!(store.current().get("bob").is_some());
        fs::write(&path, "garbage\n").expect("write");
        assert!(store.reload_if_changed().is_err());
        assert!(store.current().get("bob").is_some(), "a malformed file keeps the old contents");
        let _ = fs::remove_dir_all(&d);
    }
}
