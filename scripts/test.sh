#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs every test:
# the CMake build's ctest suite, the CUDA build (PyTorch's CUDA libtorch) with its tests that
# need no GPU, the chaos test, the packaging check, the Debian package (built, linted,
# installed into a clean root, run and upgraded there), the alternate Meson
# build with its tests, each fuzzer for a bounded time (and the protocol fuzzer's corpus
# replayed against a running server), the unit, integration and chaos tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the concurrent ones under ThreadSanitizer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
echo "== ctest (CMake build)"
ctest --test-dir "$root/build" --output-on-failure --timeout 600 | tee "$root/build/ctest.log"
ctest_total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$root/build/ctest.log" | tail -1)
echo "== CUDA build (PyTorch's CUDA libtorch, scripts/build-cuda.sh) and its tests that need no GPU"
# This machine has the CUDA toolkit but no GPU: every target is compiled and linked with
# MODELD_TORCH_HAS_CUDA, and the tests run against the CUDA libtorch on the CPU. The torch
# environment (~/.cache/modeld) and ccache are reused, so a repeated run pays only for changes.
"$root/scripts/build-cuda.sh"
echo "left out here, as they need a GPU (scripts/gpu-check.sh runs them):" \
  "$(ctest --test-dir "$root/build-cuda" -N -L needs_gpu | sed -n 's/^ *Test *#[0-9]*: //p' | paste -sd' ' -)"
ctest --test-dir "$root/build-cuda" --output-on-failure --timeout 600 -LE needs_gpu | tee "$root/build-cuda/ctest.log"
cuda_total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$root/build-cuda/ctest.log" | tail -1)
echo "== chaos test (${CHAOS_SECONDS:-60} s)"
python3 "$root/tests/chaos/chaos.py" --binary "$root/build/runtime/modeld" --seconds "${CHAOS_SECONDS:-60}"
echo "== packaging: systemd unit and default config"
"$root/scripts/verify-packaging.sh" "$root/build/runtime/modeld"
echo "== Debian package: lintian, clean-root install, service, upgrade"
"$root/scripts/package-deb.sh" "$root/build"
echo "== Meson build (meson_options_alt) and its tests"
if [ ! -f "$root/build-meson/build.ninja" ]; then
  meson setup "$root/build-meson" "$root/meson_options_alt" >/dev/null
fi
meson compile -C "$root/build-meson" >/dev/null
meson test -C "$root/build-meson" --print-errorlogs
echo "== fuzzers (${FUZZ_SECONDS:-20} s each)"
"$root/scripts/run-fuzzers.sh" "${FUZZ_SECONDS:-20}"
echo "== protocol corpus replayed against a running modeld"
python3 "$root/tests/fuzz_replay/replay.py" "$root/build/runtime/modeld"
echo "== sanitizers: AddressSanitizer + UndefinedBehaviorSanitizer"
"$root/scripts/test-sanitizers.sh" address,undefined
echo "== sanitizers: ThreadSanitizer"
"$root/scripts/test-sanitizers.sh" thread
echo "== all tests passed"
echo "ctest: ${ctest_total:-0} passed, 0 failed; CUDA build: ${cuda_total:-0} passed, 0 failed"
