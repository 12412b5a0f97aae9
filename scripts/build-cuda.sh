#!/usr/bin/env bash
# Builds modeld against a CUDA-enabled libtorch into BUILD_DIR (default: build-cuda): PyTorch's
# own CUDA wheel from PyPI, installed into a virtual environment cached in ~/.cache/modeld (made
# once, reused by every later run), with the machine's CUDA toolkit for the CUDA headers, and
# everything else from Debian as for scripts/build.sh (scripts/install-deps.sh installs it).
# The Debian build (scripts/build.sh, CPU-only libtorch 1.13) stays the default.
#
# MODELD_TORCH_PYTHON=PYTHON uses the torch of that Python instead of the cached environment
# (a GPU host with PyTorch installed, scripts/gpu-check.sh). JOBS and ccache as in build.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-cuda}
jobs=${JOBS:-$(nproc)}

# Pinned: 2.14.1 is the newest torch whose Linux wheels use CUDA 13.0 (they depend on
# cuda-toolkit 13.0.3, so libcudart.so.13), the major and minor release of the toolkit this
# project's machines have; 2.15.0 moved to CUDA 13.2, 2.11 and older are CUDA 12 builds.
torch_version=2.14.1
cache=${MODELD_CACHE_DIR:-$HOME/.cache/modeld}
venv=$cache/torch-$torch_version-venv

fail() { echo "build-cuda: $*" >&2; exit 1; }

# The CUDA toolkit: CUDACXX, nvcc on PATH, or the usual /usr/local/cuda.
nvcc=${CUDACXX:-$(command -v nvcc || true)}
[ -n "$nvcc" ] || nvcc=/usr/local/cuda/bin/nvcc
[ -x "$nvcc" ] || fail "no CUDA toolkit: no nvcc at '$nvcc' (looked at CUDACXX, PATH, /usr/local/cuda/bin; set CUDACXX=/path/to/nvcc)"
toolkit=$(cd "$(dirname "$(readlink -f "$nvcc")")/.." && pwd)
toolkit_version=$("$nvcc" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
[ -n "$toolkit_version" ] || fail "cannot read the CUDA release from '$nvcc --version'"

if [ -n "${MODELD_TORCH_PYTHON:-}" ]; then
  python=$MODELD_TORCH_PYTHON
else
  # The environment is complete only once its marker is written, so an interrupted install
  # is made again rather than used half-done. The Debian python3 makes it (python3-venv).
  python=$venv/bin/python
  if [ ! -f "$venv/.complete" ]; then
    echo "build-cuda: installing torch $torch_version (CUDA wheel, about 5.5 GB) into $venv"
    rm -rf "$venv"
    # Older pinned environments are of no use any more and take gigabytes each.
    find "$cache" -maxdepth 1 -name 'torch-*-venv' -exec rm -rf {} + 2>/dev/null || true
    mkdir -p "$cache"
    base_python=/usr/bin/python3
    [ -x "$base_python" ] || base_python=python3
    "$base_python" -m venv "$venv" || fail "cannot make a virtual environment with $base_python (Debian: apt-get install python3-venv)"
    # --no-cache-dir: the environment is the cache; pip's own would hold the same wheels again.
    "$venv/bin/pip" install --no-cache-dir --quiet --disable-pip-version-check "torch==$torch_version"
    touch "$venv/.complete"
  fi
fi

# What the build needs to know of this torch, asked of torch itself: where its CMake files are
# (the torch package is two levels above), its CUDA release, and its C++ ABI.
facts=$("$python" - <<'EOF'
import warnings
warnings.filterwarnings("ignore")  # torch warns on import when numpy is absent; it is not needed here
import torch, torch.utils
print(torch.utils.cmake_prefix_path, torch.__version__, torch.version.cuda or "none", int(torch._C._GLIBCXX_USE_CXX11_ABI))
EOF
) || fail "$python cannot import torch"
read -r cmake_prefix torch_found torch_cuda cxx11_abi <<<"$facts"
[ "$torch_cuda" != none ] || fail "torch $torch_found of $python has no CUDA (a CPU-only build)"
[ -d "$cmake_prefix" ] || fail "torch.utils.cmake_prefix_path of $python is '$cmake_prefix', no directory"
torch_dir=$(cd "$cmake_prefix/../.." && pwd)
# Every other library modeld links (CAF, Boost, spdlog from Debian) uses libstdc++'s C++11 ABI;
# a libtorch built with the old one could not share std::string with them.
[ "$cxx11_abi" = 1 ] || fail "torch $torch_found uses the pre-C++11 libstdc++ ABI (_GLIBCXX_USE_CXX11_ABI=0); modeld needs a CXX11-ABI build"
[ "${torch_cuda%%.*}" = "${toolkit_version%%.*}" ] ||
  fail "torch $torch_found uses CUDA $torch_cuda, but the CUDA toolkit at $toolkit is $toolkit_version: install a toolkit $torch_cuda, or set CUDACXX to its nvcc"
echo "build-cuda: torch $torch_found (CUDA $torch_cuda) from $torch_dir; CUDA toolkit $toolkit_version at $toolkit"

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMODELD_TORCH_PREFIX="$torch_dir" -DMODELD_TORCH_REQUIRE_CUDA=ON -DCUDAToolkit_ROOT="$toolkit" >/dev/null
cmake --build "$build" -j "$jobs"
