//! The Debian package: `scripts/package` builds it with cargo-deb; it holds
//! the binary, `/etc/kabine/kabine.toml` as a conffile and the hardened
//! systemd unit (rated by `systemd-analyze security --offline=true`,
//! exposure at most 2.0, and accepted by `systemd-analyze verify`). It
//! installs into a throwaway root (overlays of this machine's /usr, /etc
//! and /var; `support/throwaway-root.sh`) with its maintainer scripts.
//!
//! Upgrades go to a version whose default configuration changed (one more
//! comment line), as a real release's may: an edited configuration is kept
//! byte for byte, whether dpkg is told to keep it (`--force-confdef
//! --force-confold`, as unattended upgrades run) or asks and the admin
//! presses Enter; the new default lands beside it as `kabine.toml.dpkg-dist`.
//! An unedited configuration is replaced by the new default, silently.
//! The backup command of both deployment guides keeps accounts, ACME state
//! and configuration and leaves recordings out.
//!
//! The packages are built from the test build's binary (`--no-build
//! --profile dev`), so the suite compiles nothing twice.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support;

const UNIT: &str = "usr/lib/systemd/system/kabine.service";
const CONFFILE: &str = "/etc/kabine/kabine.toml";
/// The line version 2 adds to the default configuration.
const V2_DEFAULT_CHANGE: &str = "# A line new in 0.1.0-2: the default configuration changed.\n";

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    assert!(o.status.success(), "{cmd:?} failed:\n{}", text(&o));
    o
}

fn require_root() {
    let uid = run(Command::new("id").arg("-u"));
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "installing a package into a throwaway root needs root (mounts and chroot)"
    );
}

/// Version 1 and version 2 of the package, built once for the whole suite.
fn packages() -> &'static (PathBuf, PathBuf) {
    static DEBS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DEBS.get_or_init(|| {
        support::require_tool("dpkg-deb", "dpkg");
        support::require_tool("dpkg-shlibdeps", "dpkg-dev");
        let dir = support::output_dir("package");
        let build = |version: &str| -> PathBuf {
            let out = dir.join(format!("kabine_{version}_amd64.deb"));
            run(Command::new(support::repo_root().join("scripts/package"))
                .args(["--no-build", "--profile", "dev", "--fast", "--deb-version", version, "--output"])
                .arg(&out)
                .current_dir(support::repo_root()));
            assert!(out.is_file(), "scripts/package wrote no {}", out.display());
            out
        };
        let v1 = build("0.1.0-1");
        let v2 = with_changed_default(&build("0.1.0-2"), &dir.join("kabine_0.1.0-2-changed.deb"));
        (v1, v2)
    })
}

/// The default configuration version 2 ships.
fn v2_default() -> String {
    let v1 = std::fs::read_to_string(support::repo_root().join("config/debian/kabine.toml")).expect("placeholder");
    format!("{v1}{V2_DEFAULT_CHANGE}")
}

/// `deb` as `scripts/package` built it, repacked with [`v2_default`] as its
/// `/etc/kabine/kabine.toml` (cargo-deb takes the file from the source tree,
/// which a test must not edit); everything else, the conffile list included,
/// stays as built.
fn with_changed_default(deb: &Path, out: &Path) -> PathBuf {
    let tree = out.with_extension("tree");
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    assert!(!tree.join("DEBIAN/md5sums").exists(), "cargo-deb now writes md5sums: update them here");
    std::fs::write(tree.join("etc/kabine/kabine.toml"), v2_default()).expect("changed default written");
    run(Command::new("dpkg-deb").args(["--root-owner-group", "-b"]).arg(&tree).arg(out));
    out.to_path_buf()
}

#[test]
fn the_package_holds_the_binary_the_conffile_and_a_unit_systemd_rates_ok() {
    let _t = support::test();
    let analyze = support::require_tool("systemd-analyze", "systemd");
    let (deb, _) = packages();

    let listing = String::from_utf8_lossy(&run(Command::new("dpkg-deb").arg("-c").arg(deb)).stdout).into_owned();
    let entry = |path: &str| listing.lines().find(|l| l.ends_with(&format!(" ./{path}"))).map(str::to_string);
    let binary = entry("usr/bin/kabine").unwrap_or_else(|| panic!("no binary:\n{listing}"));
    assert!(binary.starts_with("-rwxr-xr-x root/root") || binary.starts_with("-rwxr-xr-x 0/0"), "{binary}");
    let config = entry("etc/kabine/kabine.toml").unwrap_or_else(|| panic!("no config:\n{listing}"));
    assert!(config.starts_with("-rw-r-----"), "the config is not world-readable: {config}");
    assert!(entry(UNIT).is_some(), "no unit:\n{listing}");
    assert!(
        entry("usr/share/doc/kabine/deployment.md").is_some()
            && entry("usr/share/doc/kabine/deployment.de.md").is_some()
    );

    let conffiles = run(Command::new("dpkg-deb").arg("-I").arg(deb).arg("conffiles"));
    assert_eq!(String::from_utf8_lossy(&conffiles.stdout).trim(), CONFFILE, "the config is a conffile");
    let depends = run(Command::new("dpkg-deb").args(["-f"]).arg(deb).arg("Depends"));
    assert!(String::from_utf8_lossy(&depends.stdout).contains("adduser"));

    let dir = support::output_dir("package-contents");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&dir));
    let unit_path = dir.join(UNIT);
    let unit = std::fs::read_to_string(&unit_path).expect("unit extracted");
    assert_eq!(
        unit,
        std::fs::read_to_string(support::repo_root().join("config/debian/kabine.service")).expect("source")
    );
    for directive in [
        "User=kabine",
        "StateDirectory=kabine",
        "LogsDirectory=kabine",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
        "LockPersonality=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "LimitNOFILE=",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(directive)), "the unit lacks {directive}");
    }

    let security = run(Command::new(&analyze).args(["security", "--offline=true", "--no-pager"]).arg(&unit_path));
    let report = text(&security);
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for kabine.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    println!("systemd-analyze security --offline=true kabine.service: exposure {score}");
    assert!(score <= 2.0, "exposure {score} is above 2.0:\n{report}");
}

/// Runs `args` with `root` set up as a throwaway Debian root.
fn in_root(root: &Path, args: &[&str]) -> Output {
    in_root_answering(root, args, None)
}

/// Runs `args` like [`in_root`] with `answer` on its standard input (the
/// keys an admin presses at a prompt); `None`: standard input is closed.
fn in_root_answering(root: &Path, args: &[&str], answer: Option<&str>) -> Output {
    use std::io::Write;
    let script = support::repo_root().join("tests/it/support/throwaway-root.sh");
    let mut cmd = Command::new("unshare");
    cmd.arg("-m").arg("sh").arg(script).arg(root).args(args);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("unshare does not run: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    if let Some(keys) = answer {
        // A command that ends before reading shows in its output, checked by the caller.
        let _ = stdin.write_all(keys.as_bytes());
    }
    drop(stdin);
    child.wait_with_output().unwrap_or_else(|e| panic!("unshare does not finish: {e}"))
}

fn in_root_ok(root: &Path, args: &[&str]) -> String {
    let o = in_root(root, args);
    assert!(o.status.success(), "{args:?} in the throwaway root failed:\n{}", text(&o));
    text(&o)
}

#[test]
fn the_package_installs_in_a_throwaway_root_and_an_upgrade_keeps_the_edited_config() {
    let _t = support::test();
    require_root();
    support::require_tool("unshare", "util-linux");
    support::require_tool("dpkg", "dpkg");
    support::require_tool("adduser", "adduser");
    support::require_tool("deb-systemd-helper", "init-system-helpers");
    support::require_tool("systemd-analyze", "systemd");
    let (v1, v2) = packages();
    let base = support::output_dir("package-root");
    let root = base.join("root");
    let r = root.to_str().expect("utf-8 path");
    let chroot = |cmd: &str| in_root_ok(&root, &["chroot", r, "sh", "-c", cmd]);

    // Install: the binary runs, the service user exists, the config is
    // readable by root and the service only, the unit is enabled and valid.
    let installed = in_root_ok(&root, &["dpkg", &format!("--root={r}"), "-i", v1.to_str().expect("utf-8")]);
    assert!(installed.contains("kabine init"), "postinst tells what to do next:\n{installed}");
    assert!(chroot("/usr/bin/kabine --version").contains("kabine"));
    assert!(chroot("getent passwd kabine").contains("/usr/sbin/nologin"));
    assert_eq!(
        chroot("stat -c '%a %U %G' /etc/kabine/kabine.toml /etc/kabine").trim(),
        "640 root kabine\n750 root kabine"
    );
    chroot("test -L /etc/systemd/system/multi-user.target.wants/kabine.service");
    let verify = in_root(&root, &["chroot", r, "systemd-analyze", "verify", "/usr/lib/systemd/system/kabine.service"]);
    assert!(verify.status.success() && text(&verify).trim().is_empty(), "systemd-analyze verify:\n{}", text(&verify));
    chroot("kabine policy check --config /etc/kabine/kabine.toml");

    // The admin writes the real configuration over the placeholder, and edits it.
    chroot(
        "kabine init --non-interactive --domain meet.praxis-test.de --contact it@praxis-test.de \
         --language de --config /etc/kabine/kabine.toml && \
         printf '\\n# edited by the admin\\n' >> /etc/kabine/kabine.toml",
    );
    let edited = read_in_root(&root, CONFFILE).expect("config");
    let edited_text = String::from_utf8_lossy(&edited);
    assert!(edited_text.contains("meet.praxis-test.de") && edited_text.ends_with("# edited by the admin\n"));

    // Upgrade, unattended (apt with Dpkg::Options --force-confdef
    // --force-confold, as unattended-upgrades runs): version 2 ships a
    // changed default; the edited config is kept byte for byte, the new
    // default lands beside it.
    let upgrade = in_root_ok(
        &root,
        &["dpkg", &format!("--root={r}"), "--force-confdef", "--force-confold", "-i", v2.to_str().expect("utf-8")],
    );
    assert!(upgrade.contains("Unpacking kabine (0.1.0-2) over (0.1.0-1)"), "{upgrade}");
    assert!(chroot("dpkg -s kabine").contains("Version: 0.1.0-2"));
    assert_edited_kept(&root, &edited);
    assert!(chroot("kabine policy check --config /etc/kabine/kabine.toml").contains("rules hold"));
    chroot("test -L /etc/systemd/system/multi-user.target.wants/kabine.service");

    // The backup command of both guides keeps the accounts, the ACME state
    // and the configuration, and leaves the recordings out.
    chroot(
        "install -d -o kabine -g kabine -m 0700 /var/lib/kabine/acme /var/lib/kabine/recordings/20261207T093000Z-3f9a1c2e && \
         cd /var/lib/kabine && for f in users acme/account.json acme/certificate.pem acme/certificate.key \
         acme/status.json recordings/20261207T093000Z-3f9a1c2e/01-camera.webm.age; do \
         echo x > $f && chown kabine:kabine $f && chmod 0600 $f; done",
    );
    for (guide, archive) in [("deployment.md", "kabine-backup.tar.gz"), ("deployment.de.md", "kabine-sicherung.tar.gz")]
    {
        let command = backup_command(guide);
        assert!(command.contains(archive), "{guide}: {command}");
        // One call: the root's /tmp lasts as long as one `throwaway-root.sh`.
        // Then the guide's restore: owners and modes come back.
        let listing = chroot(&format!(
            "cd /tmp && {command} && tar -tvzf /tmp/{archive} && rm -r /var/lib/kabine/users /var/lib/kabine/acme && \
             tar -C / -xzf /tmp/{archive} && stat -c '%a %U %G %n' /var/lib/kabine/users /var/lib/kabine/acme \
             /var/lib/kabine/acme/certificate.key"
        ));
        assert!(
            listing.contains(
                "600 kabine kabine /var/lib/kabine/users\n700 kabine kabine /var/lib/kabine/acme\n\
                              600 kabine kabine /var/lib/kabine/acme/certificate.key"
            ),
            "{guide}: the restore lost owners or modes:\n{listing}"
        );
        for kept in [
            "root/kabine etc/kabine/kabine.toml",
            "kabine/kabine var/lib/kabine/users",
            "kabine/kabine var/lib/kabine/acme/account.json",
            "kabine/kabine var/lib/kabine/acme/certificate.pem",
            "kabine/kabine var/lib/kabine/acme/certificate.key",
            "kabine/kabine var/lib/kabine/acme/status.json",
        ] {
            let (owner, path) = kept.split_once(' ').expect("owner and path");
            let line = listing.lines().find(|l| l.ends_with(&format!(" {path}")));
            assert!(
                line.is_some_and(|l| l.contains(&format!(" {owner} "))),
                "{guide}: the backup lacks {path} owned by {owner}:\n{listing}"
            );
        }
        assert!(!listing.contains("recordings"), "{guide}: the backup holds recordings:\n{listing}");
    }

    // Purge removes the package, its config and its state.
    in_root_ok(&root, &["dpkg", &format!("--root={r}"), "--purge", "kabine"]);
    chroot("test ! -e /usr/bin/kabine && test ! -e /etc/kabine/kabine.toml && test ! -e /var/lib/kabine");
    chroot("test ! -e /etc/systemd/system/multi-user.target.wants/kabine.service");
}

/// The bytes of `path` inside the throwaway root, `None` if it is not there
/// (the root's /etc exists only inside `throwaway-root.sh`'s mounts).
fn read_in_root(root: &Path, path: &str) -> Option<Vec<u8>> {
    let o = in_root(root, &["chroot", root.to_str().expect("utf-8"), "cat", path]);
    o.status.success().then_some(o.stdout)
}

/// The backup command in `docs/GUIDE` (the one `tar` line), without `sudo`.
fn backup_command(guide: &str) -> String {
    let text = std::fs::read_to_string(support::repo_root().join("docs").join(guide)).expect("guide");
    let lines: Vec<&str> =
        text.lines().map(str::trim).filter(|l| l.starts_with("sudo tar ") && l.contains(" -czf ")).collect();
    assert_eq!(lines.len(), 1, "{guide} has one backup command: {lines:?}");
    lines[0].trim_start_matches("sudo ").to_string()
}

/// The configuration is exactly `edited`, and version 2's default waits
/// beside it as `kabine.toml.dpkg-dist`, as readable as the config itself.
fn assert_edited_kept(root: &Path, edited: &[u8]) {
    let now = read_in_root(root, CONFFILE).expect("config");
    assert!(now == edited, "the upgrade changed the edited configuration:\n{}", String::from_utf8_lossy(&now));
    let dist = read_in_root(root, "/etc/kabine/kabine.toml.dpkg-dist")
        .unwrap_or_else(|| panic!("no kabine.toml.dpkg-dist beside the kept configuration: the new default is lost"));
    assert_eq!(String::from_utf8_lossy(&dist), v2_default(), "kabine.toml.dpkg-dist is not version 2's default");
    let stat = in_root_ok(
        root,
        &[
            "chroot",
            root.to_str().expect("utf-8"),
            "stat",
            "-c",
            "%a %U %G %n",
            "/etc/kabine/kabine.toml",
            "/etc/kabine/kabine.toml.dpkg-dist",
        ],
    );
    assert_eq!(
        stat.trim(),
        "640 root kabine /etc/kabine/kabine.toml\n640 root kabine /etc/kabine/kabine.toml.dpkg-dist"
    );
    assert_no_leftovers(root, &["kabine.toml.dpkg-new", "kabine.toml.dpkg-old"]);
}

fn assert_no_leftovers(root: &Path, names: &[&str]) {
    for name in names {
        assert!(read_in_root(root, &format!("/etc/kabine/{name}")).is_none(), "{name} left behind");
    }
}

/// A throwaway root named `name` with version 1 installed; its path.
fn root_with_v1(name: &str) -> PathBuf {
    require_root();
    support::require_tool("unshare", "util-linux");
    support::require_tool("dpkg", "dpkg");
    support::require_tool("adduser", "adduser");
    support::require_tool("deb-systemd-helper", "init-system-helpers");
    let (v1, _) = packages();
    let root = support::output_dir(name).join("root");
    let r = root.to_str().expect("utf-8 path");
    in_root_ok(&root, &["dpkg", &format!("--root={r}"), "-i", v1.to_str().expect("utf-8")]);
    root
}

#[test]
fn an_upgrade_asks_about_an_edited_config_and_enter_keeps_it() {
    let _t = support::test();
    let root = root_with_v1("package-root-asks");
    let r = root.to_str().expect("utf-8 path");
    let (_, v2) = packages();
    in_root_ok(&root, &["chroot", r, "sh", "-c", "printf '\\n# edited by the admin\\n' >> /etc/kabine/kabine.toml"]);
    let edited = read_in_root(&root, CONFFILE).expect("config");
    assert!(String::from_utf8_lossy(&edited).ends_with("# edited by the admin\n"));

    // Nobody at the prompt (dpkg run without a terminal and without
    // --force-conf*): dpkg stops before configuring; the config is untouched.
    let unanswered =
        in_root_answering(&root, &["dpkg", &format!("--root={r}"), "-i", v2.to_str().expect("utf-8")], None);
    let said = text(&unanswered);
    assert!(!unanswered.status.success(), "dpkg went on without an answer:\n{said}");
    assert!(said.contains("end of file on stdin at conffile prompt"), "{said}");
    assert!(read_in_root(&root, CONFFILE).expect("config") == edited, "changed without an answer");

    // The admin finishes it and presses Enter at the question: the default keeps theirs.
    let answered = in_root_answering(&root, &["dpkg", &format!("--root={r}"), "--configure", "-a"], Some("\n"));
    let said = text(&answered);
    assert!(answered.status.success(), "dpkg --configure -a failed:\n{said}");
    assert!(said.contains("Modified (by you or by a script) since installation"), "dpkg did not ask:\n{said}");
    assert!(said.contains("kabine.toml (Y/I/N/O/D/Z) [default=N]"), "the default is not to keep it:\n{said}");
    assert!(in_root_ok(&root, &["chroot", r, "dpkg", "-s", "kabine"]).contains("Status: install ok installed"));
    assert_edited_kept(&root, &edited);
}

#[test]
fn an_upgrade_replaces_an_unedited_config_with_the_new_default() {
    let _t = support::test();
    let root = root_with_v1("package-root-unedited");
    let r = root.to_str().expect("utf-8 path");
    let (_, v2) = packages();
    let upgrade = in_root_ok(&root, &["dpkg", &format!("--root={r}"), "-i", v2.to_str().expect("utf-8")]);
    assert!(upgrade.contains("Installing new version of config file /etc/kabine/kabine.toml"), "{upgrade}");
    assert_eq!(String::from_utf8_lossy(&read_in_root(&root, CONFFILE).expect("config")), v2_default());
    assert_no_leftovers(&root, &["kabine.toml.dpkg-dist", "kabine.toml.dpkg-new", "kabine.toml.dpkg-old"]);
    assert_eq!(
        in_root_ok(&root, &["chroot", r, "stat", "-c", "%a %U %G", "/etc/kabine/kabine.toml"]).trim(),
        "640 root kabine"
    );
}
