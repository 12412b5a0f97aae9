#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs every test:
# the CMake build's ctest suite, the CUDA build (PyTorch's CUDA libtorch) with the tests of
# the code that calls torch that need no GPU, the chaos test, the packaging check, the Debian
# package (built, linted, installed into a clean root, run and upgraded there), the alternate
# Meson build with its unit tests and one integration test, each fuzzer for a bounded time
# (and the protocol fuzzer's corpus replayed against a running server), the unit, integration
# and chaos tests again under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# concurrent ones under ThreadSanitizer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Each stage says how long the one before it took: CI has a time budget.
stage_started=$SECONDS
stage() {
  [ -z "${stage_name:-}" ] || echo "-- $stage_name: $((SECONDS - stage_started)) s"
  stage_name=$1 stage_started=$SECONDS
  echo "== $1"
}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
stage "install and build"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
stage "ctest (CMake build)"
ctest --test-dir "$root/build" --output-on-failure --timeout 600 | tee "$root/build/ctest.log"
ctest_total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$root/build/ctest.log" | tail -1)
stage "CUDA build (PyTorch's CUDA libtorch, scripts/build-cuda.sh) and its tests that need no GPU"
# This machine has the CUDA toolkit but no GPU: every target is compiled and linked with
# MODELD_TORCH_HAS_CUDA, and the tests run against the CUDA libtorch on the CPU. The torch
# environment (~/.cache/modeld) and ccache are reused, so a repeated run pays only for changes.
"$root/scripts/build-cuda.sh"
echo "left out here, as they need a GPU (scripts/gpu-check.sh runs them):" \
  "$(ctest --test-dir "$root/build-cuda" -N -L needs_gpu | sed -n 's/^ *Test *#[0-9]*: //p' | paste -sd' ' -)"
# Only the tests of code that calls torch: the rest is the same code as in the Debian build,
# whose ctest above ran all of it.
ctest --test-dir "$root/build-cuda" --output-on-failure --timeout 600 -LE needs_gpu \
  -R '^(gpu_tests|load_plan_tests|integration/(load|device|device_fault|honest_numbers)_integration_test)$' |
  tee "$root/build-cuda/ctest.log"
cuda_total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$root/build-cuda/ctest.log" | tail -1)
stage "chaos test (${CHAOS_SECONDS:-60} s)"
python3 "$root/tests/chaos/chaos.py" --binary "$root/build/runtime/modeld" --seconds "${CHAOS_SECONDS:-60}"
stage "packaging: systemd unit and default config"
"$root/scripts/verify-packaging.sh" "$root/build/runtime/modeld"
stage "Debian package: lintian, clean-root install, service, upgrade"
"$root/scripts/package-deb.sh" "$root/build"
stage "Meson build (meson_options_alt) and its tests"
if [ ! -f "$root/build-meson/build.ninja" ]; then
  meson setup "$root/build-meson" "$root/meson_options_alt" >/dev/null
fi
meson compile -C "$root/build-meson" >/dev/null
# The unit tests, and one integration test of the Meson-built modeld over TCP: the other
# integration and modelctl tests are the same sources as the CMake build's, run above.
meson test -C "$root/build-meson" --print-errorlogs formats_tests discovery_tests case_fold_tests report_json_tests \
  protocol_tests metrics_tests actors_tests load_plan_tests store_tests gpu_tests
# -# makes Catch match the file tag; -w NoTests fails a run that matched nothing.
meson test -C "$root/build-meson" --print-errorlogs integration_tests --test-args '-w NoTests -# [#protocol_integration_test]'
stage "fuzzers (${FUZZ_SECONDS:-20} s each)"
"$root/scripts/run-fuzzers.sh" "${FUZZ_SECONDS:-20}"
stage "protocol corpus replayed against a running modeld"
python3 "$root/tests/fuzz_replay/replay.py" "$root/build/runtime/modeld"
stage "sanitizers: AddressSanitizer + UndefinedBehaviorSanitizer"
"$root/scripts/test-sanitizers.sh" address,undefined
stage "sanitizers: ThreadSanitizer"
"$root/scripts/test-sanitizers.sh" thread
stage "all tests passed"
echo "-- total: $SECONDS s"
echo "ctest: ${ctest_total:-0} passed, 0 failed; CUDA build: ${cuda_total:-0} passed, 0 failed"
