//! Recordings on disk: one directory per recording in
//! `recording.directory` (mode 0700), named by its start time and a random
//! id and nothing personal; in it one file per participant and source,
//! `NN-camera.webm.age` / `NN-screen.webm.age`, and `manifest.json.age`
//! (who, which file, start offsets), every file mode 0600 and encrypted to
//! the operator's age recipients as it is written. The server cannot read
//! any of it back.
//!
//! Also here: retention (whole recordings older than
//! `recording.retention_days` are deleted), and what `kabine recording
//! list|delete|decrypt` do.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The first bytes of every age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";
/// The first bytes of an EBML (WebM, Matroska) file.
pub const EBML_MAGIC: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3];

/// The temporary name under which a recording's manifest is rewritten
/// before it replaces `manifest.json.age`.
pub const MANIFEST_TMP: &str = ".manifest.json.age.tmp";
/// The suffix of every file Kabine writes into a recording.
pub const SUFFIX: &str = ".age";

/// The operator's public keys (`recording.recipients`), parsed.
///
/// X25519 (`age1…`) on purpose: age 0.13 marks them deprecated in favour
/// of its post-quantum hybrid keys, which the age 1.1 that Debian ships
/// cannot read; an operator must be able to decrypt with Debian's `age -d`.
#[allow(deprecated)]
#[derive(Clone)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl Recipients {
    /// Parses `age1…` X25519 recipients; one message per bad one.
    #[allow(deprecated)]
    pub fn parse(keys: &[String]) -> Result<Recipients, Vec<String>> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for k in keys {
            match k.trim().parse::<age::x25519::Recipient>() {
                Ok(r) => ok.push(r),
                Err(e) => bad.push(format!("`{}` is not an age X25519 public key (age1…): {e}", short(k))),
            }
        }
        if keys.is_empty() {
            bad.push("no public key: recordings are encrypted to the operator's age key (age-keygen -y)".into());
        }
        if bad.is_empty() { Ok(Recipients(ok)) } else { Err(bad) }
    }
}

fn short(k: &str) -> String {
    k.chars().take(16).collect()
}

/// A file being written: encrypted as it is written, mode 0600.
pub struct Sealed {
    inner: age::stream::StreamWriter<BufWriter<File>>,
    pub bytes: u64,
}

impl Sealed {
    /// Creates `path` (which must not exist) with mode 0600.
    #[allow(deprecated)]
    pub fn create(path: &Path, to: &Recipients) -> io::Result<Sealed> {
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        let enc = age::Encryptor::with_recipients(to.0.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let inner = enc.wrap_output(BufWriter::new(file))?;
        Ok(Sealed { inner, bytes: 0 })
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.bytes += data.len() as u64;
        self.inner.write_all(data)
    }

    /// Writes the last chunk (without it, the file reads as truncated).
    pub fn finish(self) -> io::Result<()> {
        let mut w = self.inner.finish()?;
        w.flush()?;
        w.get_ref().sync_all()
    }
}

/// Creates `dir` if needed with mode 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// The manifest of a recording (written encrypted, as JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The recording's directory name.
    pub id: String,
    /// The room's name.
    pub room: String,
    /// Start (first participant consented), ms since the Unix epoch (UTC).
    pub started_unix_ms: u64,
    /// End, if the recording was stopped (not cut off by a crash).
    pub stopped_unix_ms: Option<u64>,
    pub files: Vec<ManifestFile>,
}

/// One file of a recording.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// File name, without the `.age` suffix once decrypted.
    pub file: String,
    /// The participant's id in the meeting (random) and display name.
    pub participant: String,
    pub display_name: String,
    /// `camera` (camera and microphone) or `screen`.
    pub source: String,
    /// Where the file's time 0 is, in ms after the recording's start:
    /// `ffmpeg -itsoffset` (docs/recording.md).
    pub offset_ms: u64,
    /// Last frame's time in the file (ms), once it is closed.
    pub duration_ms: Option<u64>,
}

/// The directory name of a recording started at `unix_ms`: UTC time and
/// a random suffix, e.g. `20261207T023000Z-3f9a1c2e`.
pub fn recording_dir_name(unix_ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix_ms / 1000);
    let tag: u32 = rand::random();
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z-{tag:08x}")
}

/// A Unix time as `2026-12-07 02:30 UTC`.
pub fn utc(secs: u64) -> String {
    let (y, mo, d, h, mi, _) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// UTC date and time of a Unix time (Howard Hinnant's civil-from-days).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, (rem / 3600) as u32, (rem % 3600 / 60) as u32, (rem % 60) as u32)
}

/// The start of a recording from its directory name (UTC), as Unix seconds.
pub fn started_from_name(name: &str) -> Option<u64> {
    let t = name.get(..16)?;
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<u32>().ok();
    if t.get(8..9)? != "T" || t.get(15..16)? != "Z" {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // days from civil (inverse of `civil`)
    let y = i64::from(y) - i64::from(mo <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((mo + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)).ok()
}

/// What `kabine recording list` shows of one recording: nothing personal
/// (names and the room are inside the encrypted manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub started_unix: Option<u64>,
    pub files: usize,
    pub bytes: u64,
    /// Deleted by retention at this Unix time.
    pub expires_unix: Option<u64>,
}

/// The recordings in `dir`, oldest first.
pub fn list(dir: &Path, retention_days: u32) -> io::Result<Vec<Listed>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let id = entry.file_name().to_string_lossy().to_string();
        let (mut files, mut bytes) = (0, 0);
        for f in fs::read_dir(entry.path())?.flatten() {
            if let Ok(m) = f.metadata()
                && m.is_file()
            {
                files += 1;
                bytes += m.len();
            }
        }
        let started = started_from_name(&id);
        let expires = started.map(|s| s + u64::from(retention_days) * 86_400);
        out.push(Listed { id, started_unix: started, files, bytes, expires_unix: expires });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Deletes one recording. Refuses a name that is not a recording of `dir`.
pub fn delete(dir: &Path, id: &str) -> Result<(), String> {
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') || started_from_name(id).is_none() {
        return Err(format!("`{id}` is not the id of a recording (see `kabine recording list`)"));
    }
    let path = dir.join(id);
    if !path.is_dir() {
        return Err(format!("no recording `{id}` in {}", dir.display()));
    }
    fs::remove_dir_all(&path).map_err(|e| format!("cannot delete {}: {e}", path.display()))
}

/// Deletes every recording whose start is more than `retention_days` ago
/// (`now`: Unix seconds); returns how many. Directories whose names are
/// not recordings' are left alone.
pub fn expire(dir: &Path, retention_days: u32, now: u64) -> usize {
    let Ok(list) = list(dir, retention_days) else {
        return 0;
    };
    let mut n = 0;
    for r in list {
        if r.expires_unix.is_some_and(|e| e <= now) && fs::remove_dir_all(dir.join(&r.id)).is_ok() {
            n += 1;
        }
    }
    n
}

/// Now, as Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

/// What `kabine audit` finds in the recording directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    pub recordings: usize,
    pub files: usize,
    /// One line per problem: a file not encrypted (no age header, or WebM
    /// magic in clear), readable by others, or a recording kept longer than
    /// the retention allows. Paths only: names are inside the files.
    pub problems: Vec<String>,
}

/// Looks at every file below `dir` (`None` when there is no such
/// directory). `now`: Unix seconds.
pub fn inspect(dir: &Path, retention_days: u32, now: u64) -> Option<Inspection> {
    let entries = fs::read_dir(dir).ok()?;
    let mut out = Inspection::default();
    let check_file = |path: &Path, out: &mut Inspection| {
        out.files += 1;
        let mut head = [0u8; 32];
        let n = File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
        let head = &head[..n];
        // The manifest being replaced: created empty, then its age header.
        let in_progress = path.file_name().is_some_and(|f| f.to_string_lossy() == MANIFEST_TMP);
        if in_progress && AGE_MAGIC.starts_with(head) {
            return;
        }
        if head.starts_with(EBML_MAGIC) {
            out.problems.push(format!("{}: a WebM/Matroska file in clear (EBML header)", path.display()));
        } else if !head.starts_with(AGE_MAGIC) {
            out.problems.push(format!("{}: not an age-encrypted file (no age header)", path.display()));
        }
        if let Ok(m) = fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            out.problems.push(format!(
                "{}: mode {:o}, readable by others (0600 expected)",
                path.display(),
                m.permissions().mode() & 0o777
            ));
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.recordings += 1;
            let name = entry.file_name().to_string_lossy().to_string();
            match started_from_name(&name) {
                Some(start) if start + u64::from(retention_days) * 86_400 <= now => out.problems.push(format!(
                    "{}: started {}, older than the retention of {retention_days} days",
                    path.display(),
                    utc(start)
                )),
                Some(_) => {}
                None => out.problems.push(format!("{}: not a recording Kabine wrote", path.display())),
            }
            for f in fs::read_dir(&path).into_iter().flatten().flatten() {
                if f.path().is_file() {
                    check_file(&f.path(), &mut out);
                }
            }
        } else if path.is_file() {
            check_file(&path, &mut out);
        }
    }
    Some(out)
}

/// Reads the operator's identity file (`age-keygen` output).
pub fn read_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, String> {
    let file = age::IdentityFile::from_file(path.display().to_string())
        .map_err(|e| format!("cannot read the identity file {}: {e}", path.display()))?;
    let ids = file.into_identities().map_err(|e| format!("{}: {e}", path.display()))?;
    if ids.is_empty() {
        return Err(format!("{}: no identity (AGE-SECRET-KEY-1…) in the file", path.display()));
    }
    Ok(ids)
}

/// What decrypting one file gave.
#[derive(Debug)]
pub struct Decrypted {
    pub bytes: Vec<u8>,
    /// The file ended before its last chunk (the server stopped without
    /// closing it): everything up to there is in `bytes`.
    pub truncated: bool,
}

/// Decrypts one age file with `identities`.
pub fn decrypt_file(path: &Path, identities: &[Box<dyn age::Identity + Send + Sync>]) -> Result<Decrypted, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dec = age::Decryptor::new_buffered(io::BufReader::new(file))
        .map_err(|e| format!("{}: not an age file: {e}", path.display()))?;
    let mut reader = dec
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| format!("{}: cannot decrypt with this identity: {e}", path.display()))?;
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(Decrypted { bytes, truncated: false }),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Decrypted { bytes, truncated: true }),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
}

/// Decrypts every file of recording `id` into `out` (created, mode 0700),
/// fills in the WebM files' Duration; returns a line per file.
pub fn decrypt_recording(dir: &Path, id: &str, identity: &Path, out: &Path) -> Result<Vec<String>, String> {
    if id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(format!("`{id}` is not the id of a recording"));
    }
    let src = dir.join(id);
    let identities = read_identities(identity)?;
    let mut names: Vec<PathBuf> = fs::read_dir(&src)
        .map_err(|e| format!("no recording `{id}` in {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "age"))
        .collect();
    names.sort();
    private_dir(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut lines = Vec::new();
    for path in names {
        let d = decrypt_file(&path, &identities)?;
        let mut bytes = d.bytes;
        let name =
            path.file_name().map(|n| n.to_string_lossy().trim_end_matches(SUFFIX).to_string()).unwrap_or_default();
        let mut line = format!("{name}: {} bytes", bytes.len());
        if name.ends_with(".webm") {
            match super::webm::patch_duration(&mut bytes) {
                Some(ms) => line.push_str(&format!(", {:.1} s", ms as f64 / 1000.0)),
                None => line.push_str(", not a WebM file Kabine wrote"),
            }
        }
        if d.truncated {
            line.push_str(" (cut off: the server stopped before closing it; everything up to there is kept)");
        }
        let target = out.join(&name);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&target)
            .map_err(|e| format!("{}: {e}", target.display()))?;
        f.write_all(&bytes).map_err(|e| format!("{}: {e}", target.display()))?;
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_carry_the_utc_start_and_parse_back() {
        // 2026-12-07 02:30:00 UTC
        let t = 1_796_610_600u64;
        let name = recording_dir_name(t * 1000);
        assert!(name.starts_with("20261207T023000Z-"), "{name}");
        assert_eq!(started_from_name(&name), Some(t));
        assert_eq!(started_from_name("20260230T000000Z-x").map(|_| ()), Some(()), "lenient day check only");
        assert_eq!(started_from_name("../etc"), None);
        assert_eq!(started_from_name("2026120XT023000Z-1"), None);
    }

    #[test]
    fn inspection_finds_clear_files_loose_modes_and_old_recordings() {
        let base = std::env::temp_dir().join(format!("kabine-inspect-{}", rand::random::<u32>()));
        let now = 1_796_610_600u64;
        let fresh = base.join(recording_dir_name(now * 1000));
        private_dir(&fresh).expect("dir");
        let key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".to_string();
        let to = Recipients::parse(&[key]).expect("key");
        let mut sealed = Sealed::create(&fresh.join("01-camera.webm.age"), &to).expect("create");
        sealed.write(&super::super::webm::header(&[])).expect("write");
        sealed.finish().expect("finish");
        let good = inspect(&base, 30, now).expect("exists");
        assert_eq!((good.recordings, good.files, good.problems.len()), (1, 1, 0), "{good:?}");

        fs::write(fresh.join("02-camera.webm"), super::super::webm::header(&[])).expect("plain");
        let bad = inspect(&base, 30, now).expect("exists");
        assert_eq!(bad.problems.len(), 2, "in clear, and mode 0644: {bad:?}");
        assert!(bad.problems[0].contains("in clear"), "{bad:?}");
        fs::remove_file(fresh.join("02-camera.webm")).expect("rm");

        // A manifest caught while it is rewritten (empty, or part of its
        // age header) is no problem; anything else under that name is.
        for (head, problems) in [(&b""[..], 0), (&AGE_MAGIC[..5], 0), (&b"{\"files\""[..], 1)] {
            let tmp = fresh.join(MANIFEST_TMP);
            fs::write(&tmp, head).expect("tmp");
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).expect("mode");
            let seen = inspect(&base, 30, now).expect("exists");
            assert_eq!(seen.problems.len(), problems, "{head:?}: {seen:?}");
            fs::remove_file(&tmp).expect("rm");
        }

        let old = inspect(&base, 30, now + 31 * 86_400).expect("exists");
        assert!(old.problems.iter().any(|p| p.contains("older than the retention")), "{old:?}");
        assert_eq!(expire(&base, 30, now + 31 * 86_400), 1);
        assert_eq!(inspect(&base, 30, now).map(|i| i.recordings), Some(0));
        assert_eq!(inspect(&base.join("missing"), 30, now), None);
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn delete_takes_only_a_recording_of_the_directory() {
        let base = std::env::temp_dir().join(format!("kabine-delete-{}", rand::random::<u32>()));
        let name = recording_dir_name(1_796_610_600_000);
        private_dir(&base.join(&name)).expect("dir");
        for bad in ["", "..", "../etc", ".hidden", "notes", "20261207T023000Z-x/../../etc"] {
            assert!(delete(&base, bad).is_err(), "{bad:?} must be refused");
        }
        assert!(delete(&base, "20991231T000000Z-00000000").is_err(), "no such recording");
        assert_eq!(delete(&base, &name), Ok(()));
        assert!(!base.join(&name).exists());
        assert_eq!(list(&base, 30).map(|l| l.len()).ok(), Some(0));
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn bad_recipients_are_named_one_by_one() {
        let e = Recipients::parse(&["age1nope".into(), "ssh-ed25519 AAAA".into()]).err().unwrap_or_default();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(Recipients::parse(&[]).is_err());
    }
}
