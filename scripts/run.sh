#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, generates the demo model
# root, and starts modeld on 127.0.0.1:7311 (Ctrl-C drains and stops it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
python3 "$root/scripts/make_demo_models.py" "$root/demo/models"
exec "$root/build/runtime/modeld" \
  --listen "${MODELD_LISTEN:-127.0.0.1:7311}" \
  --model-root "$root/demo/models" \
  --data-dir "$root/.data" \
  --devices "${MODELD_DEVICES:-auto}" \
  "$@"
