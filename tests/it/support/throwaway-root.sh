#!/bin/sh
# Runs a command beside a throwaway Debian root ROOT, for installing a
# package with `dpkg --root=ROOT` as on a real machine: /usr, /etc and /var
# are overlays of this machine's own (so adduser, deb-systemd-helper and
# dpkg's database are there), and every write lands in ROOT.state/, never
# in this machine's files. The maintainer scripts run chrooted in ROOT.
# /run stays empty, so they see no running systemd and start nothing.
#
# Must run as root, inside its own mount namespace so that the mounts end
# with it:   unshare -m sh throwaway-root.sh ROOT COMMAND [ARGS...]
# Calling it again with the same ROOT continues where the last call ended.
set -eu
ROOT=${1:?usage: throwaway-root.sh ROOT COMMAND [ARGS...]}
shift
STATE="$ROOT.state"
mkdir -p "$ROOT" "$STATE"
for d in usr etc var; do
  mkdir -p "$ROOT/$d" "$STATE/$d-upper" "$STATE/$d-work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$STATE/$d-upper,workdir=$STATE/$d-work" "$ROOT/$d"
done
for l in bin sbin lib lib64; do
  [ -e "$ROOT/$l" ] || [ -L "$ROOT/$l" ] || ln -s "usr/$l" "$ROOT/$l"
done
mkdir -p "$ROOT/dev" "$ROOT/proc" "$ROOT/tmp" "$ROOT/run"
mount --rbind /dev "$ROOT/dev"
mount -t proc proc "$ROOT/proc"
mount -t tmpfs tmpfs "$ROOT/tmp"
exec "$@"
