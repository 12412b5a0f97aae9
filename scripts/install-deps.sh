#!/usr/bin/env bash
# Installs what modeld needs to build, test and benchmark on Debian 12 (as root).
# Runs apt-get only when something is missing, so repeated runs cost nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config meson clang libclang-rt-14-dev
  libcaf-dev libasio-dev libmimalloc-dev libboost-json1.81-dev libcli11-dev libspdlog-dev catch2
  libtorch-dev python3 python3-torch python3-venv
  libsqlite3-dev libssl-dev zlib1g-dev openssl coreutils curl libncurses-dev tmux
  redis-server redis-tools
  # The Debian package (scripts/package-deb.sh): dpkg-shlibdeps, man pages from --help, its
  # checks, and a clean root to install it in, booted with systemd-nspawn.
  dpkg-dev file help2man lintian debootstrap zstd systemd systemd-container
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
