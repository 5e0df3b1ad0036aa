//! The Debian package: `scripts/package` builds it with cargo-deb; it holds
//! the binary, `/etc/kabine/kabine.toml` as a conffile and the hardened
//! systemd unit (rated by `systemd-analyze security --offline=true`,
//! exposure at most 2.0, and accepted by `systemd-analyze verify`). It
//! installs into a throwaway root (overlays of this machine's /usr, /etc
//! and /var; `support/throwaway-root.sh`) with its maintainer scripts, and
//! an upgrade keeps the configuration `kabine init` wrote there.
//!
//! The packages are built from the test build's binary (`--no-build
//! --profile dev`), so the suite compiles nothing twice.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support;

const UNIT: &str = "usr/lib/systemd/system/kabine.service";
const CONFFILE: &str = "/etc/kabine/kabine.toml";

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
        (build("0.1.0-1"), build("0.1.0-2"))
    })
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
    let script = support::repo_root().join("tests/it/support/throwaway-root.sh");
    let mut cmd = Command::new("unshare");
    cmd.arg("-m").arg("sh").arg(script).arg(root).args(args).stdin(std::process::Stdio::null());
    cmd.output().unwrap_or_else(|e| panic!("unshare does not run: {e}"))
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
    let edited = chroot("cat /etc/kabine/kabine.toml");
    assert!(edited.contains("meet.praxis-test.de") && edited.contains("# edited by the admin"));

    // Upgrade: the new version is installed, the edited config is kept.
    let upgrade = in_root_ok(&root, &["dpkg", &format!("--root={r}"), "-i", v2.to_str().expect("utf-8")]);
    assert!(upgrade.contains("Unpacking kabine (0.1.0-2) over (0.1.0-1)"), "{upgrade}");
    assert!(chroot("dpkg -s kabine").contains("Version: 0.1.0-2"));
    assert_eq!(chroot("cat /etc/kabine/kabine.toml"), edited, "the upgrade changed the edited configuration");
    chroot("test ! -e /etc/kabine/kabine.toml.dpkg-new && test ! -e /etc/kabine/kabine.toml.dpkg-dist");
    assert!(chroot("kabine policy check --config /etc/kabine/kabine.toml").contains("rules hold"));
    chroot("test -L /etc/systemd/system/multi-user.target.wants/kabine.service");

    // Purge removes the package, its config and its state.
    in_root_ok(&root, &["dpkg", &format!("--root={r}"), "--purge", "kabine"]);
    chroot("test ! -e /usr/bin/kabine && test ! -e /etc/kabine/kabine.toml && test ! -e /var/lib/kabine");
    chroot("test ! -e /etc/systemd/system/multi-user.target.wants/kabine.service");
}
