#!/usr/bin/env bash
# Builds the formats/ libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded
# time on its seed corpus. Exits non-zero if any target finds a crash, leak, timeout or OOM.
#
# Usage: scripts/run-fuzzers.sh [seconds-per-target, default 20]
set -euo pipefail

seconds="${1:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
targets=(safetensors pickle zip gguf onnx identify json inflate)

cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMODELD_FUZZ=ON -DMODELD_FORMATS_ONLY=ON -DMODELD_TESTS=OFF -DMODELD_BENCH=OFF >/dev/null
cmake --build "$build" -j"${MODELD_BUILD_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

failed=()
for name in "${targets[@]}"; do
  work="$build/fuzz-work/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  # Fuzz into a scratch corpus seeded from the committed one, so the repository stays small.
  cp -n "$root/fuzz/corpus/$name/"* "$work/corpus/" 2>/dev/null || true
  echo "== fuzz_$name for ${seconds}s"
  if ! "$build/fuzz/fuzz_$name" "$work/corpus" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
      -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log.txt" 2>&1; then
    failed+=("$name")
    echo "   FINDING: see $work/log.txt and $work/artifacts/"
    tail -n 30 "$work/log.txt"
  else
    grep -E "stat::number_of_executed_units|cov:" "$work/log.txt" | tail -n 2 || true
  fi
done

if ((${#failed[@]})); then
  echo "fuzzers with findings: ${failed[*]}"
  exit 1
fi
echo "all ${#targets[@]} fuzzers ran ${seconds}s each without findings"
