#!/usr/bin/env bash
# Checks the files shipped for running modeld as a service: the systemd unit passes
# `systemd-analyze verify` (with ExecStart pointed at the modeld built here), and the default
# config file is one modeld accepts (it starts with it, told to use a temp root and data dir).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
modeld=${1:-$root/build/runtime/modeld}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sed "s|/usr/bin/modeld|$modeld|" "$root/packaging/modeld.service" > "$work/modeld.service"
# --man=no: Documentation= names man:modeld(1), which exists only once the Debian package is
# installed (scripts/package-deb.sh checks the installed unit).
if ! out=$(systemd-analyze verify --man=no "$work/modeld.service" 2>&1) || [ -n "$out" ]; then
  echo "verify-packaging: systemd-analyze verify reported:" >&2
  echo "$out" >&2
  exit 1
fi

mkdir -p "$work/models" "$work/data"
"$modeld" --config "$root/packaging/modeld.toml" --model-root "$work/models" --data-dir "$work/data" \
  --listen 127.0.0.1:0 --devices cpu:0=64MiB > "$work/out" 2> "$work/err" &
pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on' "$work/out" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^listening on' "$work/out"; then
  echo "verify-packaging: modeld did not start with packaging/modeld.toml:" >&2
  cat "$work/err" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
fi
kill -TERM "$pid"
wait "$pid"
echo "verify-packaging: unit and default config OK"
