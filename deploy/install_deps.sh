#!/usr/bin/env bash
# Installs everything engram builds and tests with, from Debian 12's archive.
# Idempotent; run as root (or through sudo) on a fresh machine.
#   sudo deploy/install_deps.sh
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  # Test vectors are generated and checked with numpy.
  python3 python3-numpy
  # Throwaway certificates for the TLS tests.
  openssl
  # Baselines of the benchmark comparison (bench/compare_baselines.sh).
  redis-server memcached
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install_deps: missing ${missing[*]}; run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian redis-server and memcached packages start system daemons; the
# benchmark starts its own on free ports, so leave the system ones alone.
echo "install_deps: installed ${missing[*]}"
