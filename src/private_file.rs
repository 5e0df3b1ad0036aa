//! Files only the server's own user may read: mode 0600, in directories of
//! mode 0700, replaced atomically (a temporary file in the same directory,
//! fsync, rename, fsync of the directory), so that a crash leaves the old
//! file or the new one, never half of one. The account store, the ACME
//! state and anything else holding secrets write through here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rand::RngCore as _;

/// Writes `bytes` to `path` atomically with mode 0600, creating the parent
/// directory (mode 0700) when it is missing. The file keeps its owner (or,
/// when new, gets the directory's owner), so that a command run as root
/// leaves a file the server's own user can still read.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    create_dir(&dir)?;
    let owner = owner_of(path).or_else(|| owner_of(&dir));
    let tmp = dir.join(temporary_name(path));
    let result = (|| {
        let mut f = options().write(true).create_new(true).open(&tmp)?;
        give_to(&f, owner)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // The rename reaches the disk only with the directory.
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Whether `name` is one of [`write_atomic`]'s temporary files (one a
/// crash left behind is no stranger in a state directory).
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// `.NAME.tmp-RANDOM`: hidden, and unique even for two writers in one process.
fn temporary_name(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let mut tag = [0u8; 8];
    rand::rng().fill_bytes(&mut tag);
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!(".{name}.tmp-{tag}")
}

/// Creates `dir` and its missing parents with mode 0700; an existing
/// directory is left as it is.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Open options that create files with mode 0600 (the caller picks read,
/// write, create and the rest).
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// The directory `path` lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn owner_of(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.uid(), m.gid()))
}

#[cfg(not(unix))]
fn owner_of(_path: &Path) -> Option<(u32, u32)> {
    None
}

/// Hands a file just created to `owner` unless it already belongs there
/// (only root can, and only root needs to).
#[cfg(unix)]
fn give_to(f: &File, owner: Option<(u32, u32)>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some((uid, gid)) = owner else { return Ok(()) };
    let meta = f.metadata()?;
    if (meta.uid(), meta.gid()) == (uid, gid) {
        return Ok(());
    }
    match std::os::unix::fs::fchown(f, Some(uid), Some(gid)) {
        // Not root: the file stays ours, which is what a non-root writer
        // of its own file wants anyway.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        r => r,
    }
}

#[cfg(not(unix))]
fn give_to(_f: &File, _owner: Option<(u32, u32)>) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kabine-private-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
    }

    #[cfg(unix)]
    #[test]
    fn a_written_file_is_0600_in_a_0700_directory_and_replaces_the_old_one() {
        let dir = scratch("modes").join("state");
        let file = dir.join("secret");
        write_atomic(&file, b"one").expect("first write");
        write_atomic(&file, b"two").expect("second write");
        assert_eq!(fs::read(&file).expect("read"), b"two");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir), 0o700);
        let left: Vec<_> = fs::read_dir(&dir).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, ["secret"], "no temporary file stays behind");
        let _ = fs::remove_dir_all(dir.parent().expect("parent"));
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_one() {
        let dir = scratch("fail");
        let file = dir.join("secret");
        write_atomic(&file, b"old").expect("write");
        // Renaming onto a directory fails after the temporary file exists.
        let target = dir.join("taken");
        fs::create_dir_all(target.join("inside")).expect("dir");
        assert!(write_atomic(&target, b"new").is_err());
        assert_eq!(fs::read(&file).expect("read"), b"old");
        assert!(fs::read_dir(&dir).expect("dir").flatten().all(|e| !is_temporary(&e.file_name().to_string_lossy())));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn temporary_names_are_told_apart_from_real_ones() {
        let name = temporary_name(Path::new("/x/certificate.pem"));
        assert!(is_temporary(&name), "{name}");
        assert!(!is_temporary("certificate.pem"));
        assert_ne!(name, temporary_name(Path::new("/x/certificate.pem")));
    }
}
