#!/usr/bin/env bash
# Builds the libFuzzer targets (the formats/ parsers and the wire protocol) with clang (ASan +
# UBSan) and runs each for a bounded time on its corpus. Exits non-zero if any target finds a
# crash, leak, timeout or OOM.
#
# Every target keeps its corpus in the repository, fuzz/corpus/<target>/, grown by these runs:
# it is the fuzzer's first (writable) corpus folder, so each input that reaches new coverage is
# written there (named by its SHA-1) as it is found, inputs are at most max_len bytes (under
# 64 KiB), and none of the files already there is ever removed. Commit what a run added to keep
# it. All of it happens within the time per target (a separate -merge pass would not: it reruns
# the whole corpus, which for the protocol target alone takes longer than a fifth of 20 s).
#
# Usage: scripts/run-fuzzers.sh [seconds-per-target, default $FUZZ_SECONDS or 20]
set -euo pipefail

seconds="${1:-${FUZZ_SECONDS:-20}}"
max_len=65535
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
targets=(safetensors pickle zip gguf onnx identify json inflate protocol)

# "N files, K KiB" of a corpus folder (the files' own sizes).
corpus_size() {
  find "$1" -type f -printf '%s\n' 2>/dev/null |
    awk '{ n++; bytes += $1 } END { printf "%d files, %d KiB\n", n, (bytes + 1023) / 1024 }'
}

cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMODELD_FUZZ=ON -DMODELD_FORMATS_ONLY=ON -DMODELD_TESTS=OFF -DMODELD_BENCH=OFF >/dev/null
cmake --build "$build" -j"${MODELD_BUILD_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

failed=()
for name in "${targets[@]}"; do
  work="$build/fuzz-work/$name"
  corpus="$root/fuzz/corpus/$name"
  mkdir -p "$work/artifacts" "$corpus"
  before=$(corpus_size "$corpus")
  echo "== fuzz_$name for ${seconds}s"
  if ! "$build/fuzz/fuzz_$name" "$corpus" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
      -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log.txt" 2>&1; then
    failed+=("$name")
    echo "   FINDING: see $work/log.txt and $work/artifacts/"
    tail -n 30 "$work/log.txt"
  else
    grep -E "stat::number_of_executed_units|cov:" "$work/log.txt" | tail -n 2 || true
  fi
  echo "   corpus fuzz/corpus/$name: $before before, $(corpus_size "$corpus") after"
done

if ((${#failed[@]})); then
  echo "fuzzers with findings: ${failed[*]}"
  exit 1
fi
echo "all ${#targets[@]} fuzzers ran ${seconds}s each without findings"
