#!/usr/bin/env bash
# One command for a host with an NVIDIA GPU: builds modeld against a CUDA libtorch
# (scripts/build-cuda.sh), runs on the GPU what CI, without one, can only compile, and prints
# one table:
#   - the gpu tests, the [cuda] ones included (ctest label needs_gpu), on DEVICE;
#   - the integration tests with MODELD_TEST_DEVICE=DEVICE: device_integration_test loads,
#     unloads, reloads from the RAM cache and benchmarks on the GPU through a real modeld and
#     checks `--devices auto` finds it (the others use virtual CPU devices, as in CI);
#   - bench/load/load_bench on DEVICE: a cache-hit load beside a bare cudaMemcpy from pinned
#     memory, a cold load beside `cat` and that copy, an unload and the device memory returned,
#     each with its target.
# Exits 0 only when every test passed and every target was met. Logs: BUILD_DIR/gpu-check/.
#
# What the host needs, and what the script does about it:
#   - an NVIDIA driver (nvidia-smi) and a GPU: checked first;
#   - a CUDA toolkit of the same major release as torch's CUDA (nvcc on PATH, in
#     /usr/local/cuda, or CUDACXX): build-cuda.sh checks it and names what it found;
#   - PyTorch with CUDA: the torch of MODELD_TORCH_PYTHON, else of python3 when it has CUDA,
#     else the wheel build-cuda.sh pins, installed from PyPI into ~/.cache/modeld (needs PyPI);
#   - the Debian 12 packages of scripts/install-deps.sh (CAF 0.17, Asio, Boost.JSON, spdlog,
#     CLI11, Catch2, SQLite, OpenSSL, zlib, ncurses, mimalloc, cmake, ninja, g++ and Debian's
#     python3-torch, which writes the test fixtures): installed when apt-get is there; on a host
#     without apt they must be present already, and CMake names the first one missing.
# DEVICE (default cuda:0) picks the GPU; LOAD_BENCH_MIB (default 2048) the bench file's size.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-cuda}
device=${DEVICE:-cuda:0}
bench_mib=${LOAD_BENCH_MIB:-2048}

fail() { echo "gpu-check: $*" >&2; exit 1; }

[[ $device =~ ^cuda:[0-9]+$ ]] || fail "DEVICE=$device is no CUDA device (cuda:N)"
command -v nvidia-smi >/dev/null || fail "no NVIDIA driver here (nvidia-smi not found): this check needs a GPU host"
gpus=$(nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader) ||
  fail "nvidia-smi found no usable GPU"
echo "gpu-check: GPUs (index, name, driver, memory):"
sed 's/^/  /' <<<"$gpus"

if command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; then
  "$root/scripts/install-deps.sh"
else
  echo "gpu-check: no apt-get: the packages of scripts/install-deps.sh must be installed already"
  for tool in cmake ninja c++ python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing (and the rest of scripts/install-deps.sh's list may be too)"
  done
fi

# An installed PyTorch with CUDA is used as it is; otherwise build-cuda.sh's pinned wheel.
if [ -z "${MODELD_TORCH_PYTHON:-}" ] && python3 - 2>/dev/null <<'EOF'
import sys, warnings
warnings.filterwarnings("ignore")
import torch
sys.exit(0 if torch.version.cuda else 1)
EOF
then
  export MODELD_TORCH_PYTHON=$(command -v python3)
fi
echo "gpu-check: torch from ${MODELD_TORCH_PYTHON:-the pinned wheel of scripts/build-cuda.sh}"
BUILD_DIR=$build "$root/scripts/build-cuda.sh"

logs=$build/gpu-check
mkdir -p "$logs"
rows=$logs/table.tsv
printf 'CHECK\tMEASURED\tBASELINE\tRATIO\tTARGET\tVERDICT\n' >"$rows"

# One row for a group of ctest tests: how many passed, and the names of those that did not.
run_tests() { # name, log file, ctest arguments...
  local name=$1 log=$logs/$2 verdict
  shift 2
  MODELD_TEST_DEVICE=$device ctest --test-dir "$build" --output-on-failure --timeout 900 "$@" >"$log" 2>&1 || true
  local total passed failed
  total=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#' "$log" || true)
  passed=$(grep -E '^ *[0-9]+/[0-9]+ Test +#' "$log" | grep -c ' Passed ' || true)
  failed=$(grep -E '^ *[0-9]+/[0-9]+ Test +#' "$log" | grep -v ' Passed ' | sed -E 's/.*Test +#[0-9]+: ([^ ]+).*/\1/' | paste -sd, - || true)
  verdict=met
  if [ "$total" -eq 0 ] || [ "$passed" -ne "$total" ]; then verdict="FAILED ${failed:-no test ran} (see $log)"; fi
  printf '%s\t%s of %s passed\t-\t-\tall pass\t%s\n' "$name" "$passed" "$total" "$verdict" >>"$rows"
}
echo "gpu-check: gpu tests on $device"
run_tests "gpu tests on $device" gpu-tests.log -R '^(gpu_|load_plan)'
echo "gpu-check: integration tests (MODELD_TEST_DEVICE=$device)"
run_tests "integration tests, device tests on $device" integration-tests.log -R '^integration/'

echo "gpu-check: load_bench ($bench_mib MiB) on $device"
if ! "$build/bench/load/load_bench" "$bench_mib" "$device" --tsv >"$logs/load-bench.tsv" 2>"$logs/load-bench.err"; then
  printf 'load_bench on %s\t-\t-\t-\truns\tFAILED: %s\n' "$device" "$(tr '\n' ' ' <"$logs/load-bench.err")" >>"$rows"
fi
cat "$logs/load-bench.tsv" >>"$rows"

echo
# The table, columns aligned (awk rather than column(1), which Debian keeps in bsdextrautils).
awk -F'\t' '{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > width[i]) width[i] = length($i) }
              if (NF > fields) fields = NF }
            END { for (r = 1; r <= NR; r++) { line = ""
                    for (i = 1; i < fields; i++) line = line sprintf("%-" width[i] "s  ", cell[r, i])
                    print line cell[r, fields] } }' "$rows"
if cut -f6 "$rows" | grep -qE '^(FAILED|MISSED)'; then
  echo "gpu-check: not everything passed (logs in $logs)"
  exit 1
fi
echo "gpu-check: every test passed and every target was met"
