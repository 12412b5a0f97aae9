#!/usr/bin/env bash
# CAF 0.17.6 (the version Debian's libcaf-dev ships) built with ThreadSanitizer, for the TSan test
# build. Debian's libcaf_core is not instrumented, so TSan cannot see the release/acquire inside
# CAF's mailboxes and scheduler queues and would report every message hand-over as a race.
# Prints the install prefix (headers, libcaf_core and libcaf_io, which nodes joined through
# caf::io need) on stdout; everything else goes to stderr.
#
# The source is Debian's own orig tarball, from the Debian mirror install-deps.sh uses, pinned by
# its SHA-256. The result is cached under $MODELD_CACHE_DIR (default ~/.cache/modeld) and reused
# while this script's settings are unchanged; ccache makes a rebuild cheap.
set -euo pipefail
version=0.17.6
sha256=e2bf5bd243f08bb7d8adde197cfe3e6d71314ed3378fe0692f8932f4c3b3928c
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
url=$mirror/pool/main/a/actor-framework/actor-framework_$version.orig.tar.gz
cache=${MODELD_CACHE_DIR:-$HOME/.cache/modeld}
prefix=$cache/caf-$version-tsan
settings="tsan-2 core+io $(c++ --version | head -1)"

if [ -f "$prefix/.built" ] && [ "$(cat "$prefix/.built")" = "$settings" ]; then
  echo "$prefix"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== CAF $version with ThreadSanitizer: $url" >&2
curl -fsS --retry 3 -o "$work/caf.tar.gz" "$url"
echo "$sha256  $work/caf.tar.gz" | sha256sum -c --quiet - >&2
tar -xzf "$work/caf.tar.gz" -C "$work"

# libcaf_core and libcaf_io (modeld links nothing else of CAF); the log level and memory
# management match Debian's build (caf/detail/build_config.hpp), and the installed headers come
# from this same build, so the TSan build of modeld compiles against exactly the libraries it
# links. CAF 0.17.6's receive_buffer.hpp uses std::numeric_limits without including <limits>, which
# GCC 12's headers no longer pull in: the same one-line fix as Debian's package, in the header
# that is also installed (modeld includes it through caf/io/middleman.hpp).
buffer_header="$work/actor-framework-$version/libcaf_io/caf/io/network/receive_buffer.hpp"
grep -q '#include <limits>' "$buffer_header" || sed -i '0,/^#include </s//#include <limits>\n#include </' "$buffer_header"

CCACHE_BASEDIR="$work" cmake -S "$work/actor-framework-$version" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_FLAGS=-fsanitize=thread \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread -DCAF_LOG_LEVEL=QUIET \
  -DCAF_NO_OPENSSL=yes -DCAF_NO_OPENCL=yes -DCAF_NO_PYTHON=yes -DCAF_NO_TOOLS=yes \
  -DCAF_NO_EXAMPLES=yes -DCAF_NO_UNIT_TESTS=yes -DCAF_NO_SUMMARY=yes \
  -DCMAKE_INSTALL_PREFIX="$prefix" >&2
CCACHE_BASEDIR="$work" CCACHE_NOHASHDIR=true cmake --build "$work/build" -j "${JOBS:-$(nproc)}" >&2
rm -rf "$prefix"
cmake --install "$work/build" >&2
echo "$settings" >"$prefix/.built"
echo "$prefix"
