#!/usr/bin/env bash
# The unit, integration and chaos tests again, built with sanitizers (no benchmarks):
#   address,undefined (default)  AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer
#   thread                       ThreadSanitizer, over the concurrent code only: the actor,
#                                protocol, integration and chaos tests (the formats/, catalog/
#                                and gpu/ unit tests are single-threaded parsers and loaders,
#                                covered by the ASan + UBSan run)
# Every sanitizer report, in a test binary or in any modeld the tests start, is written to a
# file under the report dir; one such file fails the run. Known reports of the libraries modeld
# links (never of modeld's own code) are suppressed in tests/sanitizers/*.supp, each with why.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sanitizers=${1:-address,undefined}
name=$([ "$sanitizers" = thread ] && echo tsan || echo asan)
build=${BUILD_DIR:-$root/build-$name}
reports=$build/sanitizer-reports
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}

caf=()
if [ "$sanitizers" = thread ]; then
  # CAF itself built with TSan, so its hand-overs between threads are seen (see the script).
  caf_prefix=$("$root/scripts/build-caf-tsan.sh")
  caf=(-Dcaf_core_INCLUDE_DIR="$caf_prefix/include" -Dcaf_core_LIBRARY="$caf_prefix/lib/libcaf_core.so"
       -Dcaf_io_INCLUDE_DIR="$caf_prefix/include" -Dcaf_io_LIBRARY="$caf_prefix/lib/libcaf_io.so")
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELD_SANITIZE="$sanitizers" \
  -DMODELD_BENCH=OFF "${caf[@]}" >/dev/null
if [ "$sanitizers" = thread ]; then
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target modeld actors_tests protocol_tests integration_tests cluster_netns_test
  only=(-R '^(actors_tests|protocol_tests|integration/.*)$')
else
  cmake --build "$build" -j "${JOBS:-$(nproc)}"
  only=()
fi

rm -rf "$reports"
mkdir -p "$reports"
supp=$root/tests/sanitizers
# container-overflow needs every library instrumented (libtorch, CAF are not); leaks, use after
# free, overflows and undefined behaviour are all still reported.
export ASAN_OPTIONS="log_path=$reports/asan:halt_on_error=1:abort_on_error=1:detect_container_overflow=0:detect_leaks=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="log_path=$reports/ubsan:halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=0:second_deadlock_stack=1:suppressions=$supp/tsan.supp"

status=0
ctest --test-dir "$build" --output-on-failure --timeout 1800 "${only[@]}" || status=1
python3 "$root/tests/chaos/chaos.py" --binary "$build/runtime/modeld" --seconds "${SANITIZER_CHAOS_SECONDS:-30}" \
  --connections "${CHAOS_CONNECTIONS:-8}" --no-rss-check || status=1

if compgen -G "$reports/*" >/dev/null; then
  echo "== sanitizer reports ($sanitizers):"
  for report in "$reports"/*; do
    echo "-- $report"
    head -60 "$report"
  done
  status=1
fi
[ $status -eq 0 ] && echo "== sanitizers ($sanitizers): no reports"
exit $status
