#!/usr/bin/env bash
# Builds Debian's own Abseil (the libabsl-dev source package, patches and
# options included) with ThreadSanitizer into PREFIX, for the TSan build.
#   deploy/build_tsan_abseil.sh build-tsan/abseil
# Then run the TSan tests with LD_LIBRARY_PATH=PREFIX/lib.
#
# Why: absl::Mutex tells TSan about its lock and unlock only when Abseil
# itself is compiled with -fsanitize=thread; with Debian's uninstrumented
# libraries every access guarded by an absl::Mutex looks like a race. The
# libraries keep Debian's sonames and inline namespace, so gRPC, linked
# against Debian's Abseil, loads these instead and shares the same locks.
# Idempotent: a PREFIX already holding the build is left as it is. Needs
# root the first time (it adds a deb-src entry for Debian's archive).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 PREFIX" >&2
  exit 2
fi
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
if [ -f "$prefix/.complete" ]; then
  echo "build_tsan_abseil: $prefix is built"
  exit 0
fi

version=$(dpkg-query -W -f='${Version}' libabsl-dev)
sources=/etc/apt/sources.list.d/engram-debian-src.sources
if ! apt-get source --print-uris -qq "abseil=$version" >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "build_tsan_abseil: no deb-src for abseil; run as root" >&2
    exit 1
  fi
  cat >"$sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get source -qq "abseil=$version" 2>&1 | grep -v "^W: " || true)
source_dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'abseil-*')
if [ -z "$source_dir" ]; then
  echo "build_tsan_abseil: apt-get source abseil=$version fetched nothing" >&2
  exit 1
fi

# Debian's flags (debian/rules: C++17, shared), plus TSan.
cmake -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DABSL_PROPAGATE_CXX_STD=ON \
  -DCMAKE_C_FLAGS="-fsanitize=thread" -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
cmake --build "$work/build" -j"$(nproc)"
cmake --install "$work/build" >/dev/null
touch "$prefix/.complete"
echo "build_tsan_abseil: Abseil $version with TSan in $prefix/lib"
