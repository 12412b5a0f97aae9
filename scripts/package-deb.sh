#!/usr/bin/env bash
# Builds the Debian package from the CMake build (cmake/Packaging.cmake) and checks it as an
# operator would meet it:
#   1. cpack makes modeld_<version>_amd64.deb in the build dir, and a lower version
#      (<version>~upgradecheck) of the same build for the upgrade check; its files, conffile
#      and dependencies are checked, and lintian must report no error.
#   2. A clean Debian 12 root (debootstrap minbase, cached) gets the lower version with
#      `apt-get install`: apt resolves the dependencies dpkg-shlibdeps declared from the
#      mirror, so a missing one fails here. modeld and modelctl --version run in it.
#   3. The service is started the way systemd starts it: the root is booted with
#      systemd-nspawn and `systemctl enable`d modeld runs from the packaged unit, as the modeld
#      user, with /etc/modeld/modeld.toml and /var/lib/modeld. Where nspawn cannot boot it,
#      the unit's ExecStart line runs under `chroot --userspec` instead (the script says so).
#      modelctl pings it over TCP on loopback and writes metadata to its store.
#   4. The package is upgraded to <version> over it (--force-confold, so dpkg never asks):
#      the edited conffile and the store must be kept, and the restarted modeld must serve the
#      metadata written before. Then remove keeps both, and purge keeps the store.
# Usage: scripts/package-deb.sh [BUILD_DIR]   (default: build/, configured and built)
# Cache: ~/.cache/modeld (MODELD_CACHE_DIR): the bootstrapped root as a tarball and the .debs
# apt fetched for it, so a second run downloads nothing. MODELD_DEB_BOOT=chroot skips nspawn;
# KEEP_ROOT=1 keeps the work dir (the root) for a look afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-${BUILD_DIR:-$root/build}}" && pwd)
cache=${MODELD_CACHE_DIR:-$HOME/.cache/modeld}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=bookworm
root_tarball=$cache/debian-$suite-minbase-root.tar.zst
archives=$cache/debian-$suite-archives
started=$EPOCHREALTIME

say() { echo "package-deb: $*"; }
die() { echo "package-deb: $*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts); run it as root"
[ -f "$build/CMakeCache.txt" ] || die "$build is not a CMake build dir; run scripts/build.sh first"
for tool in cmake cpack dpkg-deb dpkg-shlibdeps lintian debootstrap help2man file zstd chroot python3; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/install-deps.sh"
done

# The binaries as they are now (a no-op after scripts/build.sh); the configure step this may
# run also defines MODELD_PACKAGE_VERSION in a build dir made before cmake/Packaging.cmake.
build_out=$(cmake --build "$build" --target modeld modelctl -j "${JOBS:-$(nproc)}" 2>&1) ||
  { echo "$build_out" >&2; die "building modeld and modelctl in $build failed"; }
version=$(sed -n 's/^MODELD_PACKAGE_VERSION:STRING=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || die "no MODELD_PACKAGE_VERSION in $build/CMakeCache.txt; reconfigure with cmake"
old_version="$version~upgradecheck"
work=$(mktemp -d "$build/package-deb.XXXXXX")
rootfs=$work/root
restore_version=""
nspawn_pid=""
chroot_modeld_pid=""

leader=""
in_container() { nsenter -t "$leader" -m -u -i -p -r -w env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
# Shuts the container down; if it does not go within 30 s, kills its init, which ends every
# process in its PID namespace (killing nspawn alone would leave the container running).
stop_container() {
  [ -n "$nspawn_pid" ] || return 0
  [ -n "$leader" ] || leader=$(pgrep -P "$nspawn_pid" -x systemd | head -1 || true)
  if [ -n "$leader" ]; then in_container systemctl poweroff >/dev/null 2>&1 || true; fi
  for _ in $(seq 1 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$nspawn_pid" 2>/dev/null; then
    say "the container did not power off in 30 s; killing it"
    if [ -n "$leader" ]; then kill -KILL "$leader" 2>/dev/null || true; fi
    sleep 1
    kill -KILL "$nspawn_pid" 2>/dev/null || true
  fi
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
  leader=""
}

# Everything this script mounted, started or reconfigured is undone, whatever failed.
cleanup() {
  set +e
  if [ -n "$chroot_modeld_pid" ]; then kill "$chroot_modeld_pid" 2>/dev/null; wait "$chroot_modeld_pid" 2>/dev/null; fi
  stop_container
  unmount_all
  if [ -n "$restore_version" ]; then
    cmake -S "$root" -B "$build" -DMODELD_PACKAGE_VERSION="$restore_version" >/dev/null
  fi
  if [ -n "${KEEP_ROOT:-}" ]; then say "kept $work"; else rm -rf "$work"; fi
}
# Every mount under the work dir (proc, dev, the apt cache; debootstrap's own if it was cut
# short), innermost first.
unmount_all() {
  local target
  awk -v under="$work/" 'index($2, under) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r target; do
    umount "$target" 2>/dev/null || umount -l "$target"
  done
}
trap cleanup EXIT

# --- 1. The packages -------------------------------------------------------------------------
# SOURCE_DATE_EPOCH: the man pages and the changelog carry the commit's date, not today's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
t=$EPOCHREALTIME
make_package() { # VERSION OUTPUT_DIR
  restore_version=$version
  cmake -S "$root" -B "$build" -DMODELD_PACKAGE_VERSION="$1" >/dev/null
  (cd "$build" && cpack -G DEB -B "$2" >"$work/cpack-$1.log" 2>&1) || { cat "$work/cpack-$1.log" >&2; die "cpack failed"; }
  [ -f "$2/modeld_$1_amd64.deb" ] || die "cpack wrote no $2/modeld_$1_amd64.deb"
}
make_package "$old_version" "$work/old"
make_package "$version" "$work/new"
cmake -S "$root" -B "$build" -DMODELD_PACKAGE_VERSION="$version" >/dev/null
restore_version=""
deb=$build/modeld_${version}_amd64.deb
old_deb=$work/old/modeld_${old_version}_amd64.deb
cp "$work/new/modeld_${version}_amd64.deb" "$deb"
say "built $deb and $(basename "$old_deb") in $(elapsed "$t") s"

# What an operator gets: the binaries, the unit, the conffile, man pages, docs; Depends read
# from the linked libraries (libtorch among them); the shipped config marked as a conffile.
contents=$(dpkg-deb --contents "$deb" | awk '{ print $NF }')
for path in ./usr/bin/modeld ./usr/bin/modelctl ./lib/systemd/system/modeld.service ./etc/modeld/modeld.toml \
            ./usr/share/man/man1/modeld.1.gz ./usr/share/man/man1/modelctl.1.gz \
            ./usr/share/doc/modeld/copyright ./usr/share/doc/modeld/changelog.gz; do
  grep -qx "$path" <<<"$contents" || die "the package lacks $path"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/modeld/modeld.toml ||
  die "/etc/modeld/modeld.toml is not a conffile"
depends=$(dpkg-deb --field "$deb" Depends)
for dep in libtorch1.13 libcaf-core0.17 libsqlite3-0 libssl3 zlib1g adduser; do
  grep -q "\b$dep\b" <<<"$depends" || die "Depends lacks $dep: $depends"
done
say "contents (files):"
dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { printf "  %10s  %s\n", $3, $NF }'
say "Depends: $depends"

t=$EPOCHREALTIME
# No error may be reported; warnings and notes are shown, none is overridden.
lintian_status=0
lintian_out=$(lintian --fail-on error --display-info "$deb" 2>&1) || lintian_status=$?
lintian_out=$(grep -v '^running with root privileges' <<<"$lintian_out" || true)
[ "$lintian_status" -eq 0 ] || { echo "$lintian_out" >&2; die "lintian reported errors (status $lintian_status)"; }
if [ -z "$lintian_out" ]; then
  say "lintian: no tags ($(elapsed "$t") s)"
else
  say "lintian: no errors; $(grep -c . <<<"$lintian_out") tags ($(elapsed "$t") s):"
  while IFS= read -r line; do echo "  $line"; done <<<"$lintian_out"
fi

# --- 2. A clean root with the package installed ----------------------------------------------
mkdir -p "$cache" "$archives/partial"
# Another checkout's run may share the cache: one at a time makes the tarball or uses apt's
# download dir (apt gives up at once on a locked one).
exec 9>"$cache/debian-$suite.lock"
flock 9
t=$EPOCHREALTIME
if [ ! -f "$root_tarball" ]; then
  # Bootstrapped once, with the package lists of the release, its updates and security
  # suites, then kept as a tarball without the .debs (those are kept in $archives).
  debootstrap --variant=minbase "$suite" "$work/bootstrap" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap of $suite from $mirror failed (is the mirror reachable?)"; }
  cat >"$work/bootstrap/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
  chroot "$work/bootstrap" apt-get update -q >"$work/apt-update.log" 2>&1 ||
    { cat "$work/apt-update.log" >&2; die "apt-get update in the new root failed"; }
  chroot "$work/bootstrap" apt-get clean
  tar -C "$work/bootstrap" --numeric-owner --zstd -cpf "$root_tarball.tmp" . && mv "$root_tarball.tmp" "$root_tarball"
  rm -rf "$work/bootstrap"
  say "bootstrapped a $suite minbase root in $(elapsed "$t") s, cached as $root_tarball ($(du -h "$root_tarball" | cut -f1))"
  t=$EPOCHREALTIME
fi
flock -u 9
mkdir "$rootfs"
tar -C "$rootfs" --numeric-owner --zstd -xpf "$root_tarball"
say "clean root from $root_tarball in $(elapsed "$t") s"

mount_for_chroot() {
  mountpoint -q "$rootfs/proc" || mount -t proc proc "$rootfs/proc"
  mountpoint -q "$rootfs/dev" || mount --bind /dev "$rootfs/dev"
}
in_chroot() { chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
apt_install() { # LOG ARGS...: apt-get install; lists older than the mirror's files get one update
  local log=$1
  shift
  # --force-unsafe-io: no fsync per file; the root is thrown away, and unpacking libtorch's
  # dependencies (850 MB) is this script's slowest step.
  local install=(apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-unsafe-io "$@")
  flock 9
  # apt's downloads land in the cache, so the next run finds them there.
  mount --bind "$archives" "$rootfs/var/cache/apt/archives"
  if ! in_chroot "${install[@]}" >"$log" 2>&1; then
    in_chroot apt-get update -q >>"$log" 2>&1 &&
      in_chroot "${install[@]}" >>"$log" 2>&1 ||
      { tail -30 "$log" >&2; die "apt-get install $* in the root failed (is $mirror reachable from the root?)"; }
  fi
  umount "$rootfs/var/cache/apt/archives"
  flock -u 9
}
mount_for_chroot
cp "$deb" "$old_deb" "$rootfs/var/tmp/"
t=$EPOCHREALTIME
apt_install "$work/apt-install.log" "/var/tmp/$(basename "$old_deb")"
say "apt-get install of the package in the clean root: $(elapsed "$t") s;" \
  "$(grep -E 'newly installed' "$work/apt-install.log")" \
  "$(grep -E '^(Need to get|After this operation)' "$work/apt-install.log" | tr '\n' ' ')"
say "cached .debs: $(du -sh "$archives" | cut -f1) in $archives; root tarball: $(du -h "$root_tarball" | cut -f1)"
modeld_version=$(in_chroot modeld --version) || die "modeld --version failed in the root"
modelctl_version=$(in_chroot modelctl --version) || die "modelctl --version failed in the root"
say "in the root: modeld --version: $modeld_version; modelctl --version: $modelctl_version"
in_chroot getent passwd modeld >/dev/null || die "postinst did not create the modeld user"
owner=$(in_chroot stat -c '%U:%G %a' /var/lib/modeld) || die "postinst did not create /var/lib/modeld"
[ "$owner" = "modeld:modeld 750" ] || die "/var/lib/modeld is $owner, not modeld:modeld 750"
say "postinst made the modeld user ($(in_chroot getent passwd modeld)) and /var/lib/modeld ($owner)"

# The operator's part: a model root with one model, and the conffile edited (a free port, so
# that a modeld of the host on 7311 does not matter, and a line of their own).
mkdir -p "$rootfs/srv/models"
python3 - "$rootfs/srv/models/tiny.safetensors" <<'EOF'
import json, struct, sys
header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
header += b" " * (-len(header) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(header)) + header + struct.pack("<4f", 1, 2, 3, 4))
EOF
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conffile=$rootfs/etc/modeld/modeld.toml
sed -i "s/^listen = .*/listen = \"127.0.0.1:$port\"/" "$conffile"
echo "# edited by the operator (scripts/package-deb.sh)" >>"$conffile"
edited_conffile=$(cat "$conffile")

# --- 3. The service, started as systemd starts it ---------------------------------------------
mode=${MODELD_DEB_BOOT:-nspawn}
if [ "$mode" = nspawn ] && ! command -v systemd-nspawn >/dev/null; then
  say "systemd-nspawn is missing (package systemd-container): starting modeld with chroot instead"
  mode=chroot
fi
if [ "$mode" = nspawn ]; then
  # systemd comes into the root only now, after the package's own install proved its
  # Depends: systemd brings libraries of its own.
  t=$EPOCHREALTIME
  apt_install "$work/apt-systemd.log" systemd
  # No apt timers in the container: they would hold dpkg's lock during the upgrade.
  in_chroot systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1
  verify=$(in_chroot systemd-analyze verify --man=no /lib/systemd/system/modeld.service 2>&1) &&
    [ -z "$verify" ] || die "systemd-analyze verify of the installed unit: $verify"
  say "systemd installed in the root in $(elapsed "$t") s; systemd-analyze verify of the installed unit: clean"
  in_chroot systemctl enable modeld.service 2>&1 | sed 's/^/  /'
fi
if [ "$mode" = chroot ]; then
  # The host's systemd-analyze on the installed unit, pointed at the root's binary.
  sed "s|/usr/bin/modeld|$rootfs/usr/bin/modeld|" "$rootfs/lib/systemd/system/modeld.service" >"$work/modeld.service"
  verify=$(systemd-analyze verify --man=no "$work/modeld.service" 2>&1) && [ -z "$verify" ] ||
    die "systemd-analyze verify of the installed unit: $verify"
  say "systemd-analyze verify of the installed unit: clean"
fi

# Boots the root; modeld.service starts as on any host. Returns 1 when nspawn cannot boot it
# here (the sandbox may forbid what it needs), after showing why.
boot() {
  unmount_all
  systemd-nspawn --quiet --directory="$rootfs" --boot --register=no --keep-unit \
    --machine="modeld-deb-$$" </dev/null >"$work/boot.log" 2>&1 &
  nspawn_pid=$!
  # The container's init: the child of nspawn that runs systemd (nspawn has helpers too).
  leader=""
  for _ in $(seq 1 300); do
    kill -0 "$nspawn_pid" 2>/dev/null || break
    leader=$(pgrep -P "$nspawn_pid" -x systemd | head -1 || true)
    [ -z "$leader" ] || break
    sleep 0.1
  done
  local state=""
  # Until the container's systemd listens, systemctl fails at once and prints nothing (or
  # offline); then --wait waits for the boot to finish. "degraded" (a unit failed, modeld
  # perhaps) is booted too: modeld's own state is checked next.
  for _ in $(seq 1 120); do
    [ -n "$leader" ] && kill -0 "$nspawn_pid" 2>/dev/null || break
    state=$(timeout 120 nsenter -t "$leader" -m -p -r -w systemctl is-system-running --wait 2>/dev/null || true)
    case "$state" in
      running|degraded) return 0 ;;
      ""|offline|unknown) sleep 0.5 ;;
      *) break ;;
    esac
  done
  say "systemd-nspawn did not boot the root (system state: ${state:-no systemd}); its output:"
  tail -20 "$work/boot.log" | sed 's/^/  /'
  stop_container
  return 1
}
# Runs the installed unit's ExecStart line as the modeld user, as systemd would (without its
# sandbox, which only systemd sets up).
chroot_start() {
  local exec_start uid gid
  exec_start=$(sed -n 's/^ExecStart=//p' "$rootfs/lib/systemd/system/modeld.service")
  uid=$(in_chroot id -u modeld)
  gid=$(in_chroot id -g modeld)
  # shellcheck disable=SC2086 # ExecStart is split into words, as systemd splits it
  chroot --userspec="$uid:$gid" "$rootfs" $exec_start >"$work/modeld.out" 2>"$work/modeld.err" &
  chroot_modeld_pid=$!
  for _ in $(seq 1 300); do
    grep -q '^listening on' "$work/modeld.out" && return 0
    kill -0 "$chroot_modeld_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/modeld.err" >&2
  die "modeld (ExecStart under chroot --userspec=modeld) did not start"
}
chroot_stop() {
  kill -TERM "$chroot_modeld_pid"
  local code=0
  wait "$chroot_modeld_pid" || code=$?
  chroot_modeld_pid=""
  [ "$code" -eq 0 ] || { cat "$work/modeld.err" >&2; die "modeld exited $code on SIGTERM, not 0"; }
}
modelctl() { chroot "$rootfs" modelctl --port "$port" --timeout-ms 5000 "$@"; }
wait_for_ping() {
  local answer
  for _ in $(seq 1 60); do
    answer=$(modelctl ping 2>&1) && { echo "$answer"; return 0; }
    sleep 0.5
  done
  echo "$answer" >&2
  return 1
}
# The rights of a process, from its /proc/PID/status on stdin.
describe_process() {
  awk '/^(Uid|CapEff|NoNewPrivs|Seccomp):/ { printf "%s%s %s", sep, $1, $2; sep = ", " }'
}

t=$EPOCHREALTIME
if [ "$mode" = nspawn ] && ! boot; then
  say "starting the unit's ExecStart with chroot --userspec instead"
  mode=chroot
fi
if [ "$mode" = nspawn ]; then
  in_container systemctl is-active --quiet modeld ||
    { in_container systemctl status modeld --no-pager >&2; die "modeld.service is not active after boot"; }
  pid=$(in_container systemctl show -p MainPID --value modeld)
  say "booted the root with systemd-nspawn in $(elapsed "$t") s; modeld.service (enabled before boot) is" \
    "active: MainPID $pid runs as $(in_container stat -c %U "/proc/$pid") ($(in_container cat "/proc/$pid/status" | describe_process))"
else
  mount_for_chroot
  chroot_start
  say "started the unit's ExecStart under chroot --userspec=modeld:modeld in $(elapsed "$t") s" \
    "($(describe_process <"/proc/$chroot_modeld_pid/status"))"
fi
answer=$(wait_for_ping) || die "modeld does not answer a ping on 127.0.0.1:$port"
say "ping over TCP on 127.0.0.1:$port: $answer"
modelctl models | sed 's/^/  /'
modelctl meta set tiny.safetensors --tag kept-across-upgrade --set author=package-deb >/dev/null
before=$(modelctl --json meta get tiny.safetensors)

# --- 4. Upgrade, remove, purge --------------------------------------------------------------------
t=$EPOCHREALTIME
upgrade_args=(apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "/var/tmp/$(basename "$deb")")
if [ "$mode" = nspawn ]; then
  # Upgraded inside the running system: postinst restarts the running service on the new binary.
  in_container "${upgrade_args[@]}" >"$work/apt-upgrade.log" 2>&1 || { cat "$work/apt-upgrade.log" >&2; die "the upgrade failed"; }
  new_pid=$(in_container systemctl show -p MainPID --value modeld)
  [ "$new_pid" != "$pid" ] && in_container systemctl is-active --quiet modeld ||
    die "postinst did not restart modeld.service on the upgrade (MainPID $pid, now $new_pid)"
  say "upgraded $old_version -> $version inside the booted root in $(elapsed "$t") s; postinst restarted modeld (MainPID $pid -> $new_pid)"
else
  chroot_stop
  in_chroot "${upgrade_args[@]}" >"$work/apt-upgrade.log" 2>&1 || { cat "$work/apt-upgrade.log" >&2; die "the upgrade failed"; }
  chroot_start
  say "upgraded $old_version -> $version with apt-get in the chroot in $(elapsed "$t") s, then started modeld again"
fi
if grep -qi "conffile" "$work/apt-upgrade.log"; then
  grep -i "conffile" "$work/apt-upgrade.log" | sed 's/^/  dpkg: /'
fi
installed=$(chroot "$rootfs" dpkg-query -W -f='${Version}' modeld)
[ "$installed" = "$version" ] || die "dpkg says modeld $installed is installed, not $version"
[ "$(cat "$conffile")" = "$edited_conffile" ] || die "the upgrade changed the edited /etc/modeld/modeld.toml"
ls "$rootfs"/etc/modeld/modeld.toml.dpkg-* >/dev/null 2>&1 && die "dpkg left $(ls "$rootfs"/etc/modeld/modeld.toml.dpkg-*)"
wait_for_ping >/dev/null || die "the upgraded modeld does not answer a ping"
after=$(modelctl --json meta get tiny.safetensors)
[ "$after" = "$before" ] || die "the store did not survive the upgrade: before $before, after $after"
say "after the upgrade: the edited conffile is kept (--force-confold, no prompt), the store is kept:" \
  "modelctl meta get answers as before ($(grep -o '"tags":\[[^]]*\]' <<<"$after"), revision $(grep -o '"revision":[0-9]*' <<<"$after" | cut -d: -f2))"

if [ "$mode" = nspawn ]; then
  in_container apt-get remove -y -q modeld >"$work/apt-remove.log" 2>&1 || { cat "$work/apt-remove.log" >&2; die "apt-get remove failed"; }
  in_container systemctl is-active --quiet modeld && die "prerm did not stop modeld.service on remove"
  # systemd's last word on the service: exit 0 after SIGTERM's drain, or why not.
  result=$(in_container journalctl -u modeld -o cat --no-pager | grep -E 'modeld.service: (Deactivated|Failed|Main process)' | tail -1)
  [ "$result" = "modeld.service: Deactivated successfully." ] || die "modeld did not stop cleanly on remove: $result"
else
  chroot_stop
  in_chroot apt-get remove -y -q modeld >"$work/apt-remove.log" 2>&1 || { cat "$work/apt-remove.log" >&2; die "apt-get remove failed"; }
  result="SIGTERM, exit 0"
fi
[ -f "$rootfs/var/lib/modeld/modeld.sqlite3" ] || die "remove deleted the store"
[ "$(cat "$conffile")" = "$edited_conffile" ] || die "remove changed /etc/modeld/modeld.toml"
runner() { if [ "$mode" = nspawn ]; then in_container "$@"; else in_chroot "$@"; fi; }
runner apt-get purge -y -q modeld >"$work/apt-purge.log" 2>&1 || { cat "$work/apt-purge.log" >&2; die "apt-get purge failed"; }
[ -f "$rootfs/var/lib/modeld/modeld.sqlite3" ] || die "purge deleted the store"
[ ! -e "$conffile" ] || die "purge left /etc/modeld/modeld.toml"
[ ! -e "$rootfs/etc/systemd/system/multi-user.target.wants/modeld.service" ] || die "purge left the enable link"
say "remove stopped modeld ($result) and kept the conffile and the store; purge removed the conffile" \
  "$([ "$mode" = nspawn ] && echo "and the enable link ")and kept /var/lib/modeld ($(du -sh "$rootfs/var/lib/modeld" | cut -f1))"
if [ "$mode" = nspawn ]; then stop_container; fi
say "OK ($mode) in $(elapsed "$started") s"
